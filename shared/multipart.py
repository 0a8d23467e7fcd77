"""Streaming ``multipart/form-data``: fields in memory (bounded), files as streams.

werkzeug's form parser spools uploads to temporary files; this reads the
request body in chunks with werkzeug's sans-io decoder and hands the file
part on as a readable stream, so an upload flows from the socket to object
storage without being held whole anywhere. Fields must come before the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import (
    NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder, Preamble, State,
)

from shared.errors import ValidationFailed

if TYPE_CHECKING:
    from shared.objectstore import Readable

CHUNK = 64 * 1024
MAX_FIELD_BYTES = 64 * 1024
# The decoder buffers the preamble, each part's headers and the epilogue
# whole, before it hands out any event: each is refused past its limit.
MAX_PREAMBLE_BYTES = 16 * 1024
MAX_PART_HEADER_BYTES = 8 * 1024
_BUFFERED = {State.PREAMBLE: ("preamble (before the first boundary)", MAX_PREAMBLE_BYTES),
             State.PART: ("part's headers", MAX_PART_HEADER_BYTES),
             State.EPILOGUE: ("epilogue (after the last boundary)", MAX_PREAMBLE_BYTES)}


class MultipartStream:
    def __init__(self, stream: Readable, boundary: str | None):
        if not boundary:
            raise ValidationFailed("request: multipart/form-data without a boundary",
                                   field="content-type")
        self._stream = stream
        # No decoder limit: it would count file bytes too. The buffer stays
        # small because data is fed only when the decoder asks for more, and
        # read_field() bounds each field itself.
        self._decoder = MultipartDecoder(boundary.encode("latin-1"), max_parts=16)
        self._pending = None
        self._done = False

    def _next(self):
        if self._pending is not None:
            event, self._pending = self._pending, None
            return event
        while True:
            state, buffered = self._decoder.state, len(self._decoder.buffer)
            try:
                event = self._decoder.next_event()
            except ValueError as err:
                raise ValidationFailed(f"request: malformed multipart body ({err})",
                                       field="body") from None
            except RequestEntityTooLarge:
                raise ValidationFailed("request: too many form parts (metadata, then file)",
                                       field="body") from None
            if event is NEED_DATA:
                self._check_buffered(state, len(self._decoder.buffer))
                data = self._stream.read(CHUNK)
                self._decoder.receive_data(data or None)
                if not data and self._done:
                    raise ValidationFailed("request: multipart body ends early", field="body")
                self._done = not data
                continue
            # What the decoder consumed for a preamble or a part's headers.
            self._check_buffered(state, buffered - len(self._decoder.buffer))
            if isinstance(event, Preamble):
                continue
            return event

    @staticmethod
    def _check_buffered(state, size):
        what, limit = _BUFFERED.get(state, (None, None))
        if what and size > limit:
            raise ValidationFailed(f"request: the multipart {what} is over {limit} bytes",
                                   field="body")

    def next_part(self) -> tuple[str, str, str | None] | None:
        """``(kind, name, filename)`` of the next part, or None at the end."""
        event = self._next()
        if isinstance(event, Epilogue):
            return None
        if isinstance(event, File):
            return "file", event.name, event.filename
        if isinstance(event, Field):
            return "field", event.name, None
        raise ValidationFailed("request: malformed multipart body", field="body")

    def read_field(self) -> bytes:
        parts, size = [], 0
        while True:
            event = self._next()
            if not isinstance(event, Data):
                raise ValidationFailed("request: malformed multipart field", field="body")
            size += len(event.data)
            if size > MAX_FIELD_BYTES:
                raise ValidationFailed(f"request: a form field is over {MAX_FIELD_BYTES} bytes",
                                       field="body")
            parts.append(event.data)
            if not event.more_data:
                return b"".join(parts)

    def file_stream(self) -> _PartReader:
        """The current file part as an object with ``read(n)``."""
        return _PartReader(self)


class _PartReader:
    def __init__(self, multipart):
        self._mp = multipart
        self._buffer = b""
        self._finished = False

    def read(self, n=-1):
        while not self._finished and (n < 0 or len(self._buffer) < n):
            event = self._mp._next()
            if not isinstance(event, Data):
                raise ValidationFailed("request: malformed file part", field="file")
            self._buffer += event.data
            self._finished = not event.more_data
            if n < 0 or len(self._buffer) >= CHUNK:
                break
        if n < 0:
            n = len(self._buffer)
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def encode(fields: Mapping[str, str], file_name: str, file_obj: Readable, file_size: int,
           boundary: str = "lienthong-boundary-7MA4YWxkTrZu0gW",
           content_type: str = "application/pdf",
           chunk: int = CHUNK) -> tuple[dict[str, str], _Body]:
    """A client-side streaming body with one file: ``(headers, iterable_with_len)``."""
    return encode_files(fields, [("file", file_name, file_obj, file_size, content_type)],
                        boundary=boundary, chunk=chunk)


def encode_files(fields: Mapping[str, str], files: Iterable[tuple[str, str, Readable, int, str]],
                 boundary: str = "lienthong-boundary-7MA4YWxkTrZu0gW",
                 chunk: int = CHUNK) -> tuple[dict[str, str], _Body]:
    """Fields, then ``files`` as ``(form_name, file_name, file_obj, size, content_type)``."""
    pieces = [b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode("utf-8") + b"\r\n"
        for name, value in fields.items())]
    for n, (form_name, file_name, file_obj, size, content_type) in enumerate(files):
        pieces.append((b"\r\n" if n else b"")
                      + (f'--{boundary}\r\nContent-Disposition: form-data; name="{form_name}";'
                         f' filename="{file_name}"\r\nContent-Type: {content_type}'
                         '\r\n\r\n').encode())
        pieces.append((file_obj, size))
    pieces.append(f"\r\n--{boundary}--\r\n".encode())
    return ({"Content-Type": f"multipart/form-data; boundary={boundary}"},
            _Body(pieces, chunk))


class _Body:
    """A request body that ``requests`` streams with a Content-Length."""

    def __init__(self, pieces, chunk):
        self._pieces = pieces
        self._len = sum(p[1] if isinstance(p, tuple) else len(p) for p in pieces)
        self._chunk = chunk

    def __len__(self):
        return self._len

    def __iter__(self):
        for piece in self._pieces:
            if isinstance(piece, tuple):
                while data := piece[0].read(self._chunk):
                    yield data
            else:
                yield piece
