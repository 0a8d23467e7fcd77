"""pyHanko's hex-string reading in one piece (services.signing.pdf_hex): what pyHanko
reads, from the same bytes, with the stream left at the same place."""

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

from services.signing import pdf_hex


def _both(data, at=0):
    results = []
    for read in (pdf_hex._original, pdf_hex.read_hex_string_from_stream):
        stream = io.BytesIO(data)
        stream.seek(at)
        try:
            value = read(stream)
            results.append((type(value), bytes(value.original_bytes), stream.tell()))
        except PdfStreamError as exc:
            results.append(("error", str(exc), None))
    return results


@pytest.mark.parametrize("data", [
    b"<>",
    b"<48656c6c6f>",                                 # Hello
    b"<48 65\n6C\r\n6c\t6F\x00\x0c> 0 R",             # white space, upper case, and after
    b"<4865 6>",                                     # odd: the last digit is padded
    b"<FEFF00480069>",                               # a UTF-16 text string
    b"<" + b"3082" * 20_000 + b">/Type/Sig",         # longer than one read
    b"<48 % a comment\n65>",                         # a comment: pyHanko's own reading
    b"<48zz65>",                                     # a bad character: pyHanko's error
    b"<4865",                                        # no end: pyHanko's error
])
def test_reads_what_pyhanko_reads(data):
    theirs, ours = _both(data)
    assert ours == theirs


def test_reads_from_the_middle_of_a_stream():
    data = b"<< /Contents <0a0b0c> /M (D:2026) >>"
    theirs, ours = _both(data, at=data.index(b"<0a"))
    assert ours == theirs == (generic.ByteStringObject, b"\n\x0b\x0c", data.index(b" /M"))


def test_installed_in_pyhankos_reader():  # by importing services.signing
    assert generic.read_hex_string_from_stream is pdf_hex.read_hex_string_from_stream
