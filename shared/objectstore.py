"""Object storage port, with an S3 adapter (MinIO SDK) and an in-memory one.

Files are streamed: :meth:`put_stream` reads the source in chunks, hashes and
counts as it goes, enforces the size limit and the content check on the fly,
and hands the S3 server a multipart upload for anything larger than one part.
A file is never held whole in memory. A refused upload leaves no object.

Every call to the S3 server is bounded (connect and read timeouts, few
retries, see :func:`s3_settings`), and any failure of the server surfaces as
:class:`~shared.errors.StorageError` (503) whose message names neither the
server's address nor its internals; the detail goes to the log.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from shared.errors import LienThongError, NotFound, StorageError
from shared.errors import PayloadTooLarge, UnsupportedMediaType
from shared.green import run_cpu

if TYPE_CHECKING:
    import urllib3
    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024
CHUNK = 64 * 1024


class Readable(Protocol):
    """A byte source files are read from: ``read(n)`` gives at most ``n`` bytes
    (all that is left if ``n`` is negative), empty bytes at the end."""

    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class StoredObject:
    key: str
    sha256: str
    size: int
    content_type: str
    version_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "size": self.size,
                "content_type": self.content_type, "version_id": self.version_id}


class PdfCheck:
    """A PDF starts with ``%PDF-`` and ends with ``%%EOF`` (trailing whitespace allowed)."""

    content_type = "application/pdf"
    head_size = 5

    def __init__(self, field: str = "file"):
        self.field = field

    def check_head(self, head: bytes) -> None:
        if not head.startswith(b"%PDF-"):
            raise UnsupportedMediaType(f"{self.field}: not a PDF (it does not start with"
                                       " %PDF-)", field=self.field)

    def check_tail(self, tail: bytes, size: int) -> None:
        if not tail.rstrip(b" \t\r\n\x00").endswith(b"%%EOF"):
            raise UnsupportedMediaType(f"{self.field}: not a complete PDF (no %%EOF at its"
                                       " end)", field=self.field)


class UnsignedPdfCheck(PdfCheck):
    """A PDF, and a hint whether it already carries a digital signature.

    A signature's dictionary names the bytes it covers (``/ByteRange``) by
    their offsets in the file, so it is never inside a compressed stream: the
    stream is scanned for that name as it passes, at no memory cost. A hit
    (``suspect``) is only a hint, to be confirmed by reading the PDF's
    signature fields (a PDF about signatures may contain the text).
    """

    MARKER = b"/ByteRange"

    def __init__(self, field: str = "file"):
        super().__init__(field)
        self.suspect = False
        self._carry = b""  # the end of the last chunk: a marker may straddle two

    def scan(self, chunk: bytes) -> None:
        if not self.suspect:
            self.suspect = self.MARKER in self._carry + chunk[:len(self.MARKER)] \
                or self.MARKER in chunk
            self._carry = chunk[-(len(self.MARKER) - 1):]


# What an attachment may be, known by its first bytes (never by its name).
MAGIC = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"PK\x03\x04": "application/zip",  # docx, xlsx, odt and plain zip
}


def check_zip_end(field: str, tail: bytes, size: int) -> None:
    """A ZIP (docx, xlsx, odt...) ends with its end-of-central-directory record,
    which says where the central directory lies: right before that record.
    A file that merely starts with ``PK`` is refused here, by its end."""
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise UnsupportedMediaType(f"{field}: not a complete ZIP/office file (no end of"
                                   " central directory)", field=field)
    record = tail[at:at + 22]
    entries = int.from_bytes(record[10:12], "little")
    directory_size = int.from_bytes(record[12:16], "little")
    directory_at = int.from_bytes(record[16:20], "little")
    comment = int.from_bytes(record[20:22], "little")
    if 0xFFFFFFFF in (directory_size, directory_at) or entries == 0xFFFF:
        return  # ZIP64: the sizes are in another record; the start was checked
    record_at = size - (len(tail) - at)
    if at + 22 + comment != len(tail) or entries == 0 \
            or directory_at + directory_size != record_at:
        raise UnsupportedMediaType(f"{field}: not a valid ZIP/office file (its central"
                                   " directory does not match its end record)", field=field)


class AttachmentCheck:
    """An attachment is a PDF, a PNG or JPEG image, or an office/zip file, judged
    by its first bytes and, for a PDF or a ZIP, by its end."""

    head_size = 8
    tail_size = 22 + 0xFFFF  # a ZIP's end record and the longest comment it may carry

    def __init__(self, field: str):
        self.field = field
        self.content_type = "application/octet-stream"
        self._pdf = None

    def check_head(self, head: bytes) -> None:
        for magic, content_type in MAGIC.items():
            if head.startswith(magic):
                self.content_type = content_type
                if content_type == "application/pdf":
                    self._pdf = PdfCheck(self.field)
                return
        raise UnsupportedMediaType(f"{self.field}: not a PDF, PNG, JPEG or office (zip)"
                                   " file, judged by its content", field=self.field)

    def check_tail(self, tail: bytes, size: int) -> None:
        if self._pdf:
            self._pdf.check_tail(tail, size)
        elif self.content_type == "application/zip":
            check_zip_end(self.field, tail, size)


class OwnContent:
    """Bytes a service produced itself (a manifest, a CMS signature): no sniffing."""

    head_size = 0
    field = "file"

    def __init__(self, content_type: str):
        self.content_type = content_type

    def check_head(self, head: bytes) -> None:
        pass

    def check_tail(self, tail: bytes, size: int) -> None:
        pass


# What ``put_stream`` checks a file with.
ContentCheck = PdfCheck | AttachmentCheck | OwnContent


class CheckedReader(io.RawIOBase):
    """Wraps a byte source: hashes, counts, and refuses as soon as a rule breaks."""

    def __init__(self, source: Readable, max_size: int, check: ContentCheck):
        self.source, self.max_size, self.check = source, max_size, check
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.source_error = None  # what reading the source raised, if it failed
        self._head = b""
        self._tail = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = CHUNK
        try:
            chunk = self.source.read(n)
        except Exception as err:
            self.source_error = err
            raise
        want = self.check.head_size
        if not chunk:
            if len(self._head) < want:
                self.check.check_head(self._head)
            self.check.check_tail(self._tail, self.size)
            return b""
        if len(self._head) < want:
            self._head += chunk[:want]
            if len(self._head) >= want:
                self.check.check_head(self._head)
        self.size += len(chunk)
        if self.size > self.max_size:
            raise PayloadTooLarge(
                f"{self.check.field}: larger than the limit of {self.max_size} bytes",
                field=self.check.field)
        if hasattr(self.check, "scan"):
            self.check.scan(chunk)
        if len(chunk) >= 1 << 20:
            run_cpu(self.sha256.update, chunk)
        else:
            self.sha256.update(chunk)
        self._tail = (self._tail + chunk)[-getattr(self.check, "tail_size", 1024):]
        return chunk

    def readinto(self, buffer: WriteableBuffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


# Defaults of the S3 client's bounds: a hung or unreachable server is an answer
# (503) within about CONNECT x (1 + RETRIES) or READ seconds, never a hang.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0  # per socket read; an 8 MiB part is acknowledged well within it
RETRIES = 2


def s3_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """``S3ObjectStore`` keyword arguments from a service's config (``S3_*``)."""
    return {
        "endpoint": config["S3_ENDPOINT"], "access_key": config["S3_ACCESS_KEY"],
        "secret_key": config["S3_SECRET_KEY"], "bucket": config["S3_BUCKET"],
        "secure": str(config.get("S3_SECURE", "false")).lower() == "true",
        "public_endpoint": config.get("S3_PUBLIC_ENDPOINT") or None,
        "connect_timeout": float(config.get("S3_CONNECT_TIMEOUT_SECONDS") or CONNECT_TIMEOUT),
        "read_timeout": float(config.get("S3_TIMEOUT_SECONDS") or READ_TIMEOUT),
        "retries": int(config.get("S3_RETRIES") or RETRIES),
    }


def http_client(connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT,
                retries: int = RETRIES, secure: bool = False) -> urllib3.PoolManager:
    """minio's urllib3 pool with bounds: its default waits 5 minutes per read and
    retries five times, so a hung server held a registration for longer than
    anyone waits. Connection failures and 5xx answers are retried (briefly);
    a read that timed out is not (a hung server would multiply the wait)."""
    import os

    import certifi
    import urllib3

    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=retries, connect=retries, read=0, status=retries,
                              backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]))


def server_failures() -> tuple[type[Exception], ...]:
    """What a failing S3 server (dead, hung, refusing) raises through minio; not a
    programming error such as a bad argument, which stays what it is."""
    import urllib3
    from minio.error import MinioException

    return (MinioException, urllib3.exceptions.HTTPError, OSError)


def storage_failure(action: str, key: str | None, err: BaseException) -> StorageError:
    """The :class:`StorageError` for a failed S3 call; the detail (which may name the
    server's address) is logged for operators, never sent to the caller."""
    from minio.error import S3Error

    log.warning("object storage: %s %s failed: %r", action, key or "", err)
    if isinstance(err, S3Error):
        return StorageError(f"Kho lưu trữ tệp từ chối yêu cầu ({err.code}); vui lòng thử"
                            f" lại sau (object storage refused: {err.code})")
    return StorageError("Kho lưu trữ tệp tạm thời không phản hồi; vui lòng thử lại sau"
                        " (object storage is unavailable)")


class _Guarded:
    """A streaming S3 response whose read failures are :class:`StorageError` too."""

    def __init__(self, response, key):
        self._response, self._key = response, key

    def read(self, *args, **kwargs):
        try:
            return self._response.read(*args, **kwargs)
        except server_failures() as err:
            raise storage_failure("read of", self._key, err) from err

    def stream(self, amt: int = CHUNK) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk

    def close(self):
        self._response.close()

    def release_conn(self):
        self._response.release_conn()


class S3ObjectStore:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str,
                 secure: bool = False, public_endpoint: str | None = None,
                 region: str = "us-east-1", connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT, retries: int = RETRIES):
        from minio import Minio

        self.bucket = bucket
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key,
                            secure=secure, region=region,
                            http_client=http_client(connect_timeout, read_timeout, retries,
                                                    secure))
        # Pre-signed URLs name the host the user's browser reaches (minio signs the
        # host); with the region given, presigning makes no call to the server.
        self.public = Minio(public_endpoint or endpoint, access_key=access_key,
                            secret_key=secret_key, secure=secure, region=region)

    def ensure_bucket(self) -> None:
        from minio.error import S3Error

        try:
            if not self.client.bucket_exists(bucket_name=self.bucket):
                self.client.make_bucket(bucket_name=self.bucket, object_lock=True)
        except S3Error as err:
            if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise storage_failure("creation of bucket", self.bucket, err) from err
        except server_failures() as err:
            raise storage_failure("creation of bucket", self.bucket, err) from err

    def put_stream(self, key: str, source: Readable, max_size: int,
                   check: ContentCheck | None = None) -> StoredObject:
        check = check or PdfCheck()
        reader = CheckedReader(source, max_size, check)
        try:
            result = self.client.put_object(
                bucket_name=self.bucket, object_name=key, data=reader, length=-1,
                part_size=PART_SIZE, content_type=check.content_type)
        except LienThongError:
            # A rule broke (size, content): minio aborts its multipart upload; a
            # single-part one never started.
            raise
        except server_failures() as err:
            if reader.source_error is err:
                raise  # the uploader's side failed, not the S3 server
            raise storage_failure("upload of", key, err) from err
        return StoredObject(key=key, sha256=reader.sha256.hexdigest(), size=reader.size,
                            content_type=check.content_type, version_id=result.version_id)

    def put_locked(self, key: str, data: bytes, retain_until: datetime) -> str | None:
        """Store small ``data`` and lock it (COMPLIANCE retention) until ``retain_until``.

        The lock is set after the upload: S3 servers refuse retention headers on
        a plain-HTTP PUT without a checksum header (see the platform notes).
        """
        from minio.commonconfig import COMPLIANCE
        from minio.retention import Retention

        try:
            result = self.client.put_object(bucket_name=self.bucket, object_name=key,
                                            data=io.BytesIO(data), length=len(data),
                                            content_type="application/octet-stream")
            self.client.set_object_retention(bucket_name=self.bucket, object_name=key,
                                             config=Retention(COMPLIANCE, retain_until),
                                             version_id=result.version_id)
        except server_failures() as err:
            raise storage_failure("locked store of", key, err) from err
        return result.version_id

    def lock(self, key: str, version_id: str | None, retain_until: datetime) -> None:
        """Put a stored version under COMPLIANCE retention: no one deletes it before then."""
        from minio.commonconfig import COMPLIANCE
        from minio.retention import Retention

        try:
            self.client.set_object_retention(bucket_name=self.bucket, object_name=key,
                                             config=Retention(COMPLIANCE, retain_until),
                                             version_id=version_id)
        except server_failures() as err:
            raise storage_failure("lock of", key, err) from err

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        """A small object's bytes (read whole: for manifests, notes, bounded files)."""
        response = self.open(key, version_id)
        try:
            return response.read()
        finally:
            response.close()
            if hasattr(response, "release_conn"):
                response.release_conn()

    def delete(self, key: str, version_id: str | None = None) -> None:
        try:
            self.client.remove_object(bucket_name=self.bucket, object_name=key,
                                      version_id=version_id)
        except server_failures() as err:
            raise storage_failure("removal of", key, err) from err

    def remove_all(self, prefix: str) -> int:
        """Remove every version under ``prefix``; how many there were."""
        try:
            found = [(o.object_name, o.version_id) for o in self.client.list_objects(
                bucket_name=self.bucket, prefix=prefix, recursive=True, include_version=True)]
            for key, version_id in found:
                self.client.remove_object(bucket_name=self.bucket, object_name=key,
                                          version_id=version_id)
        except server_failures() as err:
            raise storage_failure("removal of", prefix, err) from err
        return len(found)

    def versions(self, prefix: str) -> list[tuple[str, str, datetime]]:
        """Every stored version under ``prefix``: ``(key, version_id, last_modified)``."""
        try:
            return [(o.object_name, o.version_id, o.last_modified)
                    for o in self.client.list_objects(bucket_name=self.bucket, prefix=prefix,
                                                      recursive=True, include_version=True)
                    if not o.is_delete_marker]
        except server_failures() as err:
            raise storage_failure("listing of", prefix, err) from err

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        try:
            self.client.stat_object(bucket_name=self.bucket, object_name=key)
            return True
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise storage_failure("lookup of", key, err) from err
        except server_failures() as err:
            raise storage_failure("lookup of", key, err) from err

    def keys(self, prefix: str = "") -> list[str]:
        try:
            return [o.object_name for o in self.client.list_objects(
                bucket_name=self.bucket, prefix=prefix, recursive=True)]
        except server_failures() as err:
            raise storage_failure("listing of", prefix, err) from err

    def open(self, key: str, version_id: str | None = None) -> _Guarded:
        """A streaming response; the caller reads it in chunks and closes it."""
        from minio.error import S3Error

        try:
            return _Guarded(self.client.get_object(bucket_name=self.bucket, object_name=key,
                                                   version_id=version_id), key)
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchVersion"):
                raise NotFound(f"no stored file {key}", field="document_id") from err
            raise storage_failure("download of", key, err) from err
        except server_failures() as err:
            raise storage_failure("download of", key, err) from err

    def presigned_get(self, key: str, version_id: str | None = None,
                      expires: timedelta = timedelta(minutes=5)) -> str:
        return self.public.presigned_get_object(
            bucket_name=self.bucket, object_name=key, expires=expires,
            version_id=version_id)


class InMemoryObjectStore:
    """Same contract, no server: for unit tests of the services' core. Versioned
    like the bucket: each put adds a version with its own id; a read or a
    delete without an id means the newest; a delete with one removes that
    version only (tests/unit/objectstore_contract.py says what both agree on)."""

    def __init__(self):
        self._objects = {}  # key -> [(version_id, data, written)], oldest first
        self._locks = {}
        self._lock = threading.Lock()

    def ensure_bucket(self) -> None:
        pass

    def _put(self, key, data):
        version_id = uuid.uuid4().hex
        with self._lock:
            self._objects.setdefault(key, []).append(
                (version_id, data, datetime.now(timezone.utc)))
        return version_id

    def put_stream(self, key: str, source: Readable, max_size: int,
                   check: ContentCheck | None = None) -> StoredObject:
        check = check or PdfCheck()
        reader = CheckedReader(source, max_size, check)
        parts = []
        while chunk := reader.read(CHUNK):
            parts.append(chunk)
        version_id = self._put(key, b"".join(parts))
        return StoredObject(key=key, sha256=reader.sha256.hexdigest(), size=reader.size,
                            content_type=check.content_type, version_id=version_id)

    def put_locked(self, key: str, data: bytes, retain_until: datetime) -> str:
        version_id = self._put(key, bytes(data))
        self.lock(key, version_id, retain_until)
        return version_id

    def lock(self, key: str, version_id: str | None, retain_until: datetime) -> None:
        with self._lock:
            self._locks[(key, version_id)] = retain_until

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        return self.open(key, version_id).read()

    def delete(self, key: str, version_id: str | None = None) -> None:
        with self._lock:
            kept = [v for v in self._objects.get(key, [])
                    if version_id is not None and v[0] != version_id]
            if kept:
                self._objects[key] = kept
            else:
                self._objects.pop(key, None)

    def remove_all(self, prefix: str) -> int:
        with self._lock:
            found = [k for k in self._objects if k.startswith(prefix)]
            count = sum(len(self._objects.pop(k)) for k in found)
        return count

    def versions(self, prefix: str) -> list[tuple[str, str, datetime]]:
        """Every stored version under ``prefix``: ``(key, version_id, last_modified)``."""
        with self._lock:
            return [(k, version_id, written) for k in sorted(self._objects)
                    if k.startswith(prefix) for version_id, _, written in self._objects[k]]

    def exists(self, key: str) -> bool:
        return key in self._objects

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._objects if k.startswith(prefix))

    def open(self, key: str, version_id: str | None = None) -> io.BytesIO:
        with self._lock:
            found = [data for v, data, _ in self._objects.get(key, [])
                     if version_id is None or v == version_id]
        if not found:
            raise NotFound(f"no stored file {key}", field="document_id")
        return io.BytesIO(found[-1])

    def presigned_get(self, key: str, version_id: str | None = None,
                      expires: timedelta = timedelta(minutes=5)) -> str:
        return f"memory://{key}" + (f"?versionId={version_id}" if version_id else "")
