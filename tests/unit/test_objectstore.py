"""shared.objectstore: streamed, checked, hashed uploads (in-memory adapter)."""

import hashlib
import io

import pytest

from shared.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from shared.objectstore import AttachmentCheck, CHUNK, CheckedReader, InMemoryObjectStore, PdfCheck
from tests.support.pdf import make_pdf

KEY = "documents/d1/main.pdf"
LIMIT = 10 * 1024 * 1024


class Source:
    """A byte source like a socket: read(n) gives at most ``most`` bytes; it records calls."""

    def __init__(self, data, most=CHUNK):
        self._data = io.BytesIO(data)
        self.most = most
        self.calls = []  # (requested, returned)

    def read(self, n=-1):
        if n is None or n < 0:
            raise AssertionError("the source was asked for everything at once")
        chunk = self._data.read(min(n, self.most))
        self.calls.append((n, len(chunk)))
        return chunk

    @property
    def consumed(self):
        return sum(got for _, got in self.calls)


@pytest.fixture
def store():
    return InMemoryObjectStore()


def test_a_valid_pdf_is_stored_with_its_sha256_and_size(store):
    pdf = make_pdf("Quyết định số 1")
    stored = store.put_stream(KEY, Source(pdf), max_size=LIMIT)
    assert stored.key == KEY
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest()
    assert stored.size == len(pdf)
    assert stored.content_type == "application/pdf"
    assert store.exists(KEY)
    assert store.keys() == [KEY]
    assert store.open(KEY).read() == pdf


def test_a_large_pdf_is_streamed_in_bounded_reads(store):
    pdf = make_pdf(padding=3 * 1024 * 1024)
    source = Source(pdf)
    stored = store.put_stream(KEY, source, max_size=LIMIT)
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest()
    assert stored.size == len(pdf)
    assert store.open(KEY).read() == pdf
    assert len(source.calls) >= len(pdf) // CHUNK
    assert all(0 < asked <= CHUNK for asked, _ in source.calls)
    assert all(got <= asked for asked, got in source.calls)


def test_a_pdf_of_exactly_the_limit_is_accepted(store):
    pdf = make_pdf(padding=200_000)
    stored = store.put_stream(KEY, Source(pdf), max_size=len(pdf))
    assert stored.size == len(pdf)


def test_checked_reader_never_returns_more_than_asked():
    pdf = make_pdf(padding=1024 * 1024)
    source = Source(pdf, most=CHUNK)
    reader = CheckedReader(source, LIMIT, PdfCheck())
    out, sizes = [], [1, 4, 5, 7, 100, CHUNK, CHUNK * 2, 3000, CHUNK + 1]
    i = 0
    while True:
        asked = sizes[i % len(sizes)]
        i += 1
        chunk = reader.read(asked)
        assert len(chunk) <= asked
        assert len(chunk) <= CHUNK  # the source never gives more than 64 KiB
        if not chunk:
            break
        out.append(chunk)
    assert b"".join(out) == pdf
    assert reader.size == len(pdf)
    assert reader.sha256.hexdigest() == hashlib.sha256(pdf).hexdigest()
    assert all(got <= asked for asked, got in source.calls)


def test_checked_reader_works_as_a_buffered_stream():
    pdf = make_pdf(padding=300_000)
    reader = CheckedReader(Source(pdf), LIMIT, PdfCheck())
    buffered = io.BufferedReader(reader, buffer_size=CHUNK)
    assert buffered.read() == pdf
    assert reader.sha256.hexdigest() == hashlib.sha256(pdf).hexdigest()


def test_a_source_giving_one_byte_at_a_time_is_checked_correctly(store):
    pdf = make_pdf()
    stored = store.put_stream(KEY, Source(pdf, most=1), max_size=LIMIT)
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest()
    assert store.open(KEY).read() == pdf


@pytest.mark.parametrize("most", [1, 3, CHUNK])
def test_a_file_that_is_not_a_pdf_is_refused_and_not_stored(store, most):
    data = b"PK\x03\x04" + b"zip file" * 1000
    with pytest.raises(UnsupportedMediaType) as err:
        store.put_stream(KEY, Source(data, most=most), max_size=LIMIT)
    assert err.value.field == "file"
    assert not store.exists(KEY) and store.keys() == []


def test_a_non_pdf_is_refused_at_its_first_bytes_without_reading_the_rest(store):
    source = Source(b"<html>" + b"x" * (5 * CHUNK))
    with pytest.raises(UnsupportedMediaType):
        store.put_stream(KEY, source, max_size=LIMIT)
    assert source.consumed <= CHUNK


@pytest.mark.parametrize("data", [b"", b"%PDF", b"%PD"])
def test_an_empty_or_too_short_file_is_refused(store, data):
    with pytest.raises(UnsupportedMediaType):
        store.put_stream(KEY, Source(data), max_size=LIMIT)
    assert not store.exists(KEY)


def test_a_pdf_without_eof_marker_is_refused_and_not_stored(store):
    pdf = make_pdf(padding=200_000)
    truncated = pdf[: len(pdf) // 2]
    with pytest.raises(UnsupportedMediaType) as err:
        store.put_stream(KEY, Source(truncated), max_size=LIMIT)
    assert "%%EOF" in err.value.message
    assert not store.exists(KEY)


def test_a_pdf_missing_only_its_eof_marker_is_refused(store):
    pdf = make_pdf()
    assert pdf.endswith(b"%%EOF\n")
    with pytest.raises(UnsupportedMediaType):
        store.put_stream(KEY, Source(pdf[: -len(b"%%EOF\n")]), max_size=LIMIT)
    assert not store.exists(KEY)


def test_trailing_whitespace_after_eof_is_allowed(store):
    pdf = make_pdf() + b"\r\n  \n"
    assert store.put_stream(KEY, Source(pdf), max_size=LIMIT).size == len(pdf)


def test_bytes_other_than_whitespace_after_eof_are_refused(store):
    pdf = make_pdf() + b"1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    with pytest.raises(UnsupportedMediaType):
        store.put_stream(KEY, Source(pdf), max_size=LIMIT)


def test_a_file_over_the_limit_is_refused_and_not_stored(store):
    pdf = make_pdf(padding=500_000)
    source = Source(pdf)
    with pytest.raises(PayloadTooLarge) as err:
        store.put_stream(KEY, source, max_size=len(pdf) - 1)
    assert err.value.field == "file"
    assert err.value.http_status == 413
    assert not store.exists(KEY) and store.keys() == []


def test_a_file_over_the_limit_is_refused_as_soon_as_the_limit_is_passed(store):
    source = Source(b"%PDF-1.4\n" + b"%" * (50 * CHUNK))
    with pytest.raises(PayloadTooLarge):
        store.put_stream(KEY, source, max_size=2 * CHUNK)
    assert source.consumed <= 3 * CHUNK


def test_a_refused_upload_keeps_an_earlier_object_under_another_key(store):
    pdf = make_pdf()
    store.put_stream("documents/a/main.pdf", Source(pdf), max_size=LIMIT)
    with pytest.raises(UnsupportedMediaType):
        store.put_stream("documents/b/main.pdf", Source(b"not a pdf"), max_size=LIMIT)
    assert store.keys() == ["documents/a/main.pdf"]
    assert store.open("documents/a/main.pdf").read() == pdf


def test_open_of_a_missing_key_is_not_found(store):
    with pytest.raises(NotFound):
        store.open("documents/none/main.pdf")


def test_delete_removes_the_object(store):
    store.put_stream(KEY, Source(make_pdf()), max_size=LIMIT)
    store.delete(KEY)
    assert not store.exists(KEY)
    store.delete(KEY)  # deleting again is harmless


def test_keys_filters_by_prefix(store):
    for key in ("documents/a/main.pdf", "documents/b/main.pdf", "other/c.pdf"):
        store.put_stream(key, Source(make_pdf()), max_size=LIMIT)
    assert store.keys("documents/") == ["documents/a/main.pdf", "documents/b/main.pdf"]


# -- the S3 adapter when its server is not there -------------------------------------


def test_a_dead_s3_server_is_a_prompt_storage_error_that_names_no_address(caplog):
    """A port nothing listens on: every call is a 503 StorageError within the bounds
    (a few quick connection retries), and the message the caller sees names neither
    the host nor the port; the log has them for the operator."""
    import time

    from infra.stack import free_port
    from shared.errors import StorageError
    from shared.objectstore import S3ObjectStore

    port = free_port()  # closed again: connections are refused
    store = S3ObjectStore(f"127.0.0.1:{port}", "key", "secret", "lienthong-nothing",
                          connect_timeout=1, read_timeout=1, retries=2)
    calls = {"put_stream": lambda: store.put_stream(KEY, io.BytesIO(make_pdf()), LIMIT),
             "open": lambda: store.open(KEY), "get_bytes": lambda: store.get_bytes(KEY),
             "delete": lambda: store.delete(KEY), "exists": lambda: store.exists(KEY),
             "keys": lambda: store.keys(), "ensure_bucket": store.ensure_bucket}
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            call()
        assert time.monotonic() - started < 5, name
        assert caught.value.http_status == 503 and caught.value.retry_after
        assert "127.0.0.1" not in str(caught.value) and str(port) not in str(caught.value)
        assert str(caught.value).startswith("Kho lưu trữ tệp")
    assert str(port) in caplog.text  # the operator's detail


def test_a_programming_error_is_not_dressed_up_as_an_outage():
    from shared.objectstore import S3ObjectStore

    store = S3ObjectStore("127.0.0.1:9", "key", "secret", "Not A Bucket Name")
    with pytest.raises(ValueError):
        store.ensure_bucket()


@pytest.mark.parametrize("offset", [0, 1, 5, 9, 10])
def test_the_signature_scan_finds_the_marker_across_reads(store, offset):
    """``/ByteRange`` split between two reads of the source is still seen."""
    from shared.objectstore import UnsignedPdfCheck

    marker = UnsignedPdfCheck.MARKER
    head = b"%PDF-1.7\n" + b" " * (CHUNK - 9 - offset)  # the marker starts ``offset`` early
    data = head + marker + b" [0 1 2 3]\n%%EOF\n"
    check = UnsignedPdfCheck()
    store.put_stream(KEY, Source(data), max_size=LIMIT, check=check)
    assert check.suspect


def test_the_signature_scan_passes_an_unsigned_pdf(store):
    from shared.objectstore import UnsignedPdfCheck

    check = UnsignedPdfCheck()
    store.put_stream(KEY, Source(make_pdf(padding=300_000)), max_size=LIMIT, check=check)
    assert not check.suspect


def a_zip(comment=b""):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document>Báo cáo</w:document>" * 50)
        archive.comment = comment
    return buffer.getvalue()


@pytest.mark.parametrize("comment", [b"", b"x" * 5000])
def test_a_real_zip_attachment_is_accepted(store, comment):
    data = a_zip(comment)
    stored = store.put_stream("a/0", io.BytesIO(data), 10**6, AttachmentCheck("attachments.0"))
    assert stored.content_type == "application/zip" and stored.size == len(data)


@pytest.mark.parametrize("data", [
    b"PK\x03\x04" + b"zip file" * 1000,   # the magic bytes and nothing of a ZIP
    a_zip() + b"tail",                    # something after the end record
    a_zip()[:-30] + a_zip()[-22:],        # the end record names a directory that is not there
])
def test_junk_that_starts_like_a_zip_is_refused_by_its_end(store, data):
    with pytest.raises(UnsupportedMediaType) as refused:
        store.put_stream("a/0", io.BytesIO(data), 10**6, AttachmentCheck("attachments.0"))
    assert refused.value.field == "attachments.0" and "ZIP" in str(refused.value)
    assert not store.exists("a/0")
