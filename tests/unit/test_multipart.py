"""shared.multipart: the client encoder and the streaming server-side reader."""

import io
import json

import pytest

from shared.errors import LienThongError, ValidationFailed
from shared.multipart import CHUNK, MultipartStream, encode
from tests.support.pdf import make_pdf

METADATA = {"subject": "Quyết định về việc điều động cán bộ", "document_type": "QĐ",
            "recipients": ["000.00.00.H42"]}


def _body(pdf, fields=None, file_name="quyet-dinh.pdf"):
    fields = fields if fields is not None else {
        "metadata": json.dumps(METADATA, ensure_ascii=False)}
    headers, body = encode(fields, file_name, io.BytesIO(pdf), len(pdf))
    raw = b"".join(body)
    assert len(raw) == len(body)
    boundary = headers["Content-Type"].split("boundary=", 1)[1]
    return raw, boundary


def _read_file(stream, chunk=CHUNK):
    reader, parts = stream.file_stream(), []
    while data := reader.read(chunk):
        assert len(data) <= chunk
        parts.append(data)
    return b"".join(parts)


def _read_all(raw, boundary):
    stream = MultipartStream(io.BytesIO(raw), boundary)
    assert stream.next_part() == ("field", "metadata", None)
    metadata = json.loads(stream.read_field())
    assert stream.next_part() == ("file", "file", "quyet-dinh.pdf")
    data = _read_file(stream)
    assert stream.next_part() is None
    return metadata, data


def test_encode_declares_the_boundary_and_the_exact_length():
    pdf = make_pdf()
    headers, body = encode({"metadata": "{}"}, "a.pdf", io.BytesIO(pdf), len(pdf),
                           boundary="b0undary")
    assert headers == {"Content-Type": "multipart/form-data; boundary=b0undary"}
    raw = b"".join(body)
    assert len(body) == len(raw)
    assert raw.startswith(b"--b0undary\r\n")
    assert raw.endswith(b"\r\n--b0undary--\r\n")
    assert pdf in raw


def test_a_small_upload_reads_back_metadata_and_file():
    pdf = make_pdf("Công văn")
    metadata, data = _read_all(*_body(pdf))
    assert metadata == METADATA
    assert data == pdf


def test_the_metadata_field_keeps_vietnamese_utf8():
    raw, boundary = _body(make_pdf())
    stream = MultipartStream(io.BytesIO(raw), boundary)
    stream.next_part()
    field = stream.read_field()
    assert "Quyết định".encode("utf-8") in field
    assert json.loads(field)["subject"] == METADATA["subject"]


def test_a_file_of_just_under_one_chunk_reads_back_exactly():
    pdf = make_pdf(padding=40_000)
    assert len(_body(pdf)[0]) < CHUNK
    assert _read_all(*_body(pdf))[1] == pdf


def test_a_one_megabyte_pdf_reads_back_exactly_in_64_kib_chunks():
    pdf = make_pdf(padding=1024 * 1024)
    assert len(pdf) > 1024 * 1024
    metadata, data = _read_all(*_body(pdf))
    assert metadata == METADATA
    assert data == pdf


def test_a_large_body_cut_in_the_middle_of_the_file_is_refused():
    raw, boundary = _body(make_pdf(padding=1024 * 1024))
    stream = MultipartStream(io.BytesIO(raw[: len(raw) // 2]), boundary)
    stream.next_part()
    stream.read_field()
    stream.next_part()
    with pytest.raises(ValidationFailed) as err:
        _read_file(stream)
    assert err.value.field in ("body", "file")


def test_a_one_megabyte_pdf_is_handed_on_in_reads_of_at_most_64_kib():
    pdf = make_pdf(padding=1024 * 1024)
    raw, boundary = _body(pdf)
    stream = MultipartStream(io.BytesIO(raw), boundary)
    stream.next_part()
    stream.read_field()
    stream.next_part()
    reader, sizes = stream.file_stream(), []
    while data := reader.read(CHUNK):
        sizes.append(len(data))
    assert sum(sizes) == len(pdf)
    assert max(sizes) <= CHUNK
    assert len(sizes) >= len(pdf) // CHUNK


def test_the_file_reads_back_exactly_whatever_the_read_size():
    pdf = make_pdf(padding=300_000)
    raw, boundary = _body(pdf)
    for size in (1000, CHUNK - 1, CHUNK + 1, 3 * CHUNK):
        stream = MultipartStream(io.BytesIO(raw), boundary)
        stream.next_part()
        stream.read_field()
        stream.next_part()
        assert _read_file(stream, size) == pdf


def test_a_metadata_field_over_64_kib_is_refused():
    raw, boundary = _body(make_pdf(), fields={"metadata": "x" * (64 * 1024 + 1)})
    stream = MultipartStream(io.BytesIO(raw), boundary)
    assert stream.next_part() == ("field", "metadata", None)
    with pytest.raises(ValidationFailed) as err:
        stream.read_field()
    assert err.value.field == "body"


def test_a_body_with_too_many_parts_is_refused_with_a_platform_error():
    raw, boundary = _body(make_pdf(), fields={f"f{i}": "x" for i in range(20)})
    stream = MultipartStream(io.BytesIO(raw), boundary)
    with pytest.raises(LienThongError):
        while (part := stream.next_part()) is not None:
            if part[0] == "field":
                stream.read_field()
            else:
                _read_file(stream)


def test_a_body_cut_in_the_middle_of_the_file_is_refused():
    pdf = make_pdf(padding=30_000)
    raw, boundary = _body(pdf)
    stream = MultipartStream(io.BytesIO(raw[: len(raw) // 2]), boundary)
    assert stream.next_part() == ("field", "metadata", None)
    stream.read_field()
    assert stream.next_part() == ("file", "file", "quyet-dinh.pdf")
    with pytest.raises(ValidationFailed) as err:
        _read_file(stream)
    assert err.value.field == "body"


def test_a_body_cut_just_before_the_closing_boundary_is_refused():
    raw, boundary = _body(make_pdf())
    cut = raw[: raw.rindex(b"\r\n--" + boundary.encode())]
    stream = MultipartStream(io.BytesIO(cut), boundary)
    stream.next_part()
    stream.read_field()
    stream.next_part()
    with pytest.raises(ValidationFailed):
        _read_file(stream)


@pytest.mark.parametrize("fraction", [0.05, 0.15])
def test_a_body_cut_before_the_file_is_refused(fraction):
    raw, boundary = _body(make_pdf())
    stream = MultipartStream(io.BytesIO(raw[: int(len(raw) * fraction)]), boundary)
    with pytest.raises(ValidationFailed) as err:
        while stream.next_part() is not None:
            stream.read_field()
    assert err.value.field == "body"


@pytest.mark.parametrize("boundary", [None, ""])
def test_a_missing_boundary_is_refused(boundary):
    raw, _ = _body(make_pdf())
    with pytest.raises(ValidationFailed) as err:
        MultipartStream(io.BytesIO(raw), boundary)
    assert err.value.field == "content-type"


def test_a_body_without_the_declared_boundary_is_refused():
    raw, _ = _body(make_pdf())
    stream = MultipartStream(io.BytesIO(raw), "some-other-boundary")
    with pytest.raises(ValidationFailed) as err:
        stream.next_part()
    assert err.value.field == "body"


def test_an_empty_body_is_refused():
    stream = MultipartStream(io.BytesIO(b""), "lienthong-boundary")
    with pytest.raises(ValidationFailed):
        stream.next_part()


def test_reading_a_file_part_as_a_field_is_refused():
    raw, boundary = _body(make_pdf(), fields={})
    stream = MultipartStream(io.BytesIO(raw), boundary)
    assert stream.next_part() == ("file", "file", "quyet-dinh.pdf")
    # The metadata is missing: the first part is the file; the caller checks this.
    assert _read_file(stream) == make_pdf()
    assert stream.next_part() is None
