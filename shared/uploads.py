"""Uploads in flight, written down so that none outlives its command as an orphan.

A command that streams files to the bucket first records an *intent* in its
service's database (the key or prefix it will write, the event stream that
will name the files, the time), committed at once. The command's own
transaction deletes the intent with the event that names the files
(:meth:`PendingUploads.settle`). So an intent that is still there either
belongs to a command still running, or to one that failed or whose process
was killed: it never committed.

The sweeper (every instance runs it; rows are claimed with ``SKIP LOCKED``)
takes an intent once its command has ended: marked failed by the command, or
open for longer than ``max_seconds`` (no command runs that long: past it,
``settle`` refuses, so the command cannot commit after its files went). It
then removes every version under the intent's prefix that no event of the
stream names and that was written before any other open intent on the same
keys began, and forgets the intent after two listings in a row (a pause
apart) found nothing: a hung S3 server that finishes an upload late, once
resumed, is caught. A restart forgets nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable

from shared.errors import ServiceUnavailable, StorageError
from shared.migrations import initial

if TYPE_CHECKING:
    import psycopg

    from shared.db import Database
    from shared.objectstore import InMemoryObjectStore, S3ObjectStore

log = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS pending_uploads (
    upload_id   uuid PRIMARY KEY,
    prefix      text NOT NULL,
    stream_id   text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'failed')),
    sweep_after timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    empty       integer NOT NULL DEFAULT 0  -- listings in a row that found nothing
);
CREATE INDEX IF NOT EXISTS pending_uploads_due ON pending_uploads (sweep_after);
"""
MIGRATIONS = initial("uploads", DDL)

# Defaults: config keys UPLOAD_MAX_SECONDS, UPLOAD_SWEEP_FIRST_SECONDS, UPLOAD_CLOCK_SKEW_SECONDS.
MAX_SECONDS = 3600.0       # the longest a command may hold an upload open
SWEEP_FIRST_SECONDS = 2.0  # a failed command's first sweep; each next pause doubles
MAX_PAUSE_SECONDS = 300.0
GIVE_UP_AFTER = 12         # sweeps (about half an hour): then logged as orphans and forgotten
CLOCK_SKEW_SECONDS = 1.0   # between the database's and the S3 server's clocks
S3_TIME_STEP = timedelta(seconds=1)  # listings give whole seconds, rounded down
BATCH = 20


@dataclass(frozen=True)
class UploadSettings:
    max_seconds: float = MAX_SECONDS
    sweep_first: float = SWEEP_FIRST_SECONDS
    clock_skew: float = CLOCK_SKEW_SECONDS

    @classmethod
    def from_config(cls, config: dict) -> "UploadSettings":
        return cls(
            max_seconds=float(config.get("UPLOAD_MAX_SECONDS") or MAX_SECONDS),
            sweep_first=float(config.get("UPLOAD_SWEEP_FIRST_SECONDS") or SWEEP_FIRST_SECONDS),
            clock_skew=float(config.get("UPLOAD_CLOCK_SKEW_SECONDS") or CLOCK_SKEW_SECONDS))


def named_versions(data: Any) -> set[str]:
    """Every ``version_id`` an event's data names, at any depth."""
    found: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):  # stored events' data is frozen
            version = item.get("version_id")
            if isinstance(version, str):
                found.add(version)
            stack.extend(item.values())
        elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            stack.extend(item)
    return found


def orphans(versions: Iterable[tuple[str, str, datetime]], named: set[str],
            before: datetime) -> tuple[list[tuple[str, str]], int]:
    """Of ``(key, version_id, last_modified)`` listed under an intent: those to
    remove (no event names them, written before ``before``), and how many
    unnamed ones are too young to judge yet."""
    remove, young = [], 0
    for key, version_id, modified in versions:
        if version_id in named:
            continue
        if modified < before:
            remove.append((key, version_id))
        else:
            young += 1
    return remove, young


class UploadTookTooLong(ServiceUnavailable):
    """The command held its upload past the limit; its files are being swept."""


class PendingUploads:
    """The intents of one service. ``db`` is its database, ``files`` the bucket
    (``versions`` and ``delete``), ``read_stream(stream_id, conn)`` its events."""

    def __init__(self, db: Database, files: S3ObjectStore | InMemoryObjectStore,
                 read_stream: Callable, settings: UploadSettings | None = None):
        self.db, self.files, self.read_stream = db, files, read_stream
        self.settings = settings or UploadSettings()

    # -- the command's side ----------------------------------------------------------------

    def begin(self, prefix: str, stream_id: str) -> str:
        """Record an intent before the first byte goes to the bucket."""
        upload_id = str(uuid.uuid4())
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO pending_uploads (upload_id, prefix, stream_id, sweep_after)"
                " VALUES (%s, %s, %s, now() + %s * interval '1 second')",
                (upload_id, prefix, stream_id, self.settings.max_seconds))
        return upload_id

    def settle(self, conn: psycopg.Connection[Any], upload_id: str) -> None:
        """In the transaction that stores the event naming the files: the intent
        goes with it. Refused once the sweeper took the intent (too late)."""
        settled = conn.execute(
            "DELETE FROM pending_uploads WHERE upload_id = %s AND state = 'open'"
            " RETURNING 1", (upload_id,)).fetchone()
        if settled is None:
            raise UploadTookTooLong(
                f"upload: held open over {self.settings.max_seconds:.0f} s, its files were"
                " removed; send it again", field="file")

    def end(self, upload_id: str, clean: bool) -> None:
        """After a failed command: forget the intent if the command removed all it
        stored (``clean``), else hand it to the sweeper at once. Never raises:
        the caller's own error is what its caller must see."""
        try:
            with self.db.transaction() as conn:
                if clean:
                    conn.execute("DELETE FROM pending_uploads WHERE upload_id = %s"
                                 " AND state = 'open'", (upload_id,))
                else:
                    conn.execute(
                        "UPDATE pending_uploads SET state = 'failed',"
                        " sweep_after = now() + %s * interval '1 second'"
                        " WHERE upload_id = %s AND state = 'open'",
                        (self.settings.sweep_first, upload_id))
        except Exception:  # the intent stays open: swept after max_seconds
            log.exception("object storage: could not hand upload %s to the sweeper", upload_id)

    def abandon(self, upload_ids: Iterable[str], stored: Iterable[Any], err: BaseException) -> None:
        """After a failed command: remove the versions it ``stored`` (objects with
        ``key``/``version_id``, or their dicts) and end its intents; swept at once
        if a removal failed or the S3 server did (``err``). Never raises."""
        clean = not isinstance(err, StorageError)
        for obj in stored:
            key, version_id = ((obj["key"], obj["version_id"]) if isinstance(obj, Mapping)
                               else (obj.key, obj.version_id))
            try:
                self.files.delete(key, version_id=version_id)
            except Exception:
                log.exception("could not remove %s after a failed command", key)
                clean = False
        for upload_id in upload_ids:
            self.end(upload_id, clean)

    # -- the sweeper -----------------------------------------------------------------------

    def sweep(self) -> int:
        """One round over the intents that are due; the number of versions removed."""
        removed = 0
        with self.db.transaction() as conn:
            due = conn.execute(
                "SELECT upload_id, prefix, stream_id, attempts, empty, now() FROM pending_uploads"
                " WHERE sweep_after <= now() ORDER BY sweep_after LIMIT %s"
                " FOR UPDATE SKIP LOCKED", (BATCH,)).fetchall()
            for row in due:
                removed += self._sweep_one(conn, *row)
        return removed

    def _sweep_one(self, conn, upload_id, prefix, stream_id, attempts, empty, now) -> int:
        # Versions written after another open intent on these keys began may be
        # that command's: kept until it ends.
        (other,) = conn.execute(
            "SELECT min(started_at) FROM pending_uploads WHERE state = 'open'"
            " AND upload_id <> %s AND sweep_after > now()"
            " AND (prefix LIKE %s || '%%' OR %s LIKE prefix || '%%')",
            (upload_id, prefix, prefix)).fetchone()
        before = (min(now, other or now) - timedelta(seconds=self.settings.clock_skew)
                  - S3_TIME_STEP)
        named: set[str] = set()
        for event in self.read_stream(stream_id, conn=conn):
            named |= named_versions(event.data)
        try:
            remove, young = orphans(self.files.versions(prefix), named, before)
            for key, version_id in remove:
                self.files.delete(key, version_id=version_id)
        except StorageError as err:  # the S3 server is away: next round
            log.warning("object storage: sweep of %s postponed: %s", prefix, err)
            remove, young = [], 1
        if remove:
            log.warning("object storage: swept %d orphan version(s) under %s",
                        len(remove), prefix)
        empty = empty + 1 if not young and not remove else 0
        if empty == 2:
            conn.execute("DELETE FROM pending_uploads WHERE upload_id = %s", (upload_id,))
            log.info("object storage: nothing left under %s", prefix)
        elif attempts + 1 >= GIVE_UP_AFTER:
            conn.execute("DELETE FROM pending_uploads WHERE upload_id = %s", (upload_id,))
            log.error("object storage: gave up sweeping %s; objects there are orphans", prefix)
        else:
            pause = min(self.settings.sweep_first * 2 ** (attempts + 1), MAX_PAUSE_SECONDS)
            conn.execute(
                "UPDATE pending_uploads SET state = 'failed', attempts = attempts + 1,"
                " empty = %s, sweep_after = now() + %s * interval '1 second'"
                " WHERE upload_id = %s", (empty, pause, upload_id))
        return len(remove)
