"""pyHanko's reader, reading a PDF hex string in one piece instead of a byte at a time.

pyHanko 0.38 reads ``<...>`` strings one byte per Python call
(``generic.read_hex_string_from_stream``). A signature's ``/Contents`` is
such a string, about 10,000 hex digits for ours: 7-10 ms to read each
signature, paid by the seal (which checks the leader's signature first) and
by every verification (two signatures). :func:`install` puts
:func:`read_hex_string_from_stream` in its place: it takes the string up to
``>`` in one read and, when it holds nothing but hex digits and PDF
white space (always, for what PDF writers produce), decodes it at once;
anything else (a comment, a bad character, no ``>``) goes back to pyHanko's
own function from the same position, so errors and odd cases are pyHanko's.
"""

import binascii
import threading

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PDF_WHITESPACE

_original = generic.read_hex_string_from_stream
_CHUNK = 16 * 1024
_lock = threading.Lock()


def read_hex_string_from_stream(stream):
    """The hex string at ``stream``'s position (its ``<``), as pyHanko reads it."""
    start = stream.tell()
    pieces, seen = [], 0
    while True:
        chunk = stream.read(_CHUNK)
        end = chunk.find(b">")
        if end >= 0:
            pieces.append(chunk[:end])
            break
        if not chunk:
            stream.seek(start)
            return _original(stream)  # no closing '>': pyHanko says so
        pieces.append(chunk)
        seen += len(chunk)
    digits = b"".join(pieces)[1:].translate(None, PDF_WHITESPACE)
    if digits.translate(None, generic.HEX_DIGITS):
        stream.seek(start)
        return _original(stream)  # a comment or a bad character: pyHanko's reading
    stream.seek(start + seen + end + 1)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def install():
    """Put :func:`read_hex_string_from_stream` in pyHanko's reader (once)."""
    with _lock:
        generic.read_hex_string_from_stream = read_hex_string_from_stream
