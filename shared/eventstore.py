"""The event store port and its two adapters (in memory, PostgreSQL).

``append(stream_id, expected_version, events)`` is atomic: all events get
consecutive stream versions and global positions, or none is stored and
:class:`ConcurrencyConflict` says which version the stream was really at.

Global positions are commit order. A bigserial is not (a writer that takes
position 7 can commit after the writer that took 8, and a reader that saw 8
would skip 7 forever). Here every append first increments a one-row log head
and holds that row lock until commit, so positions are handed out one
transaction at a time and a reader never sees a later position before an
earlier one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from shared.envelope import Event, event_from_stored
from shared.errors import ConcurrencyConflict
from shared.migrations import initial

if TYPE_CHECKING:
    import psycopg

    from shared.db import Database
    from shared.eventsig import EventSigner
    from shared.groupcommit import GroupCommitter

EVENT_STORE_DDL = """
CREATE TABLE IF NOT EXISTS events (
    position       bigint PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE,
    stream_id      text NOT NULL,
    stream_version integer NOT NULL CHECK (stream_version > 0),
    event_type     text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    envelope       jsonb NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE TABLE IF NOT EXISTS log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position  bigint NOT NULL
);
INSERT INTO log_head VALUES (true, 0) ON CONFLICT DO NOTHING;
-- How far each relay has published (confirmed by the broker).
CREATE TABLE IF NOT EXISTS outbox_cursor (
    name     text PRIMARY KEY,
    position bigint NOT NULL
);
-- Events each consumer has handled, written in the consumer's own transaction.
CREATE TABLE IF NOT EXISTS inbox (
    consumer   text NOT NULL,
    event_id   uuid NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"""
EVENT_STORE_MIGRATIONS = initial("eventstore", EVENT_STORE_DDL)



def _check_new(events):
    for e in events:
        if e.stream_version != 0 or e.position is not None:
            raise ValueError(f"event {e.event_id} was already stored")


class InMemoryEventStore:
    """The reference adapter: same contract, no server. For unit tests."""

    def __init__(self, signer: EventSigner | None = None):
        self.signer = signer
        self._lock = threading.Lock()
        self._log = []
        self._handled = set()

    def append(self, stream_id: str, expected_version: int, events: Sequence[Event],
               conn: Any = None) -> list[Event]:
        _check_new(events)
        with self._lock:
            actual = self._version(stream_id)
            if actual != expected_version:
                raise ConcurrencyConflict(stream_id, expected_version, actual)
            known = {e.event_id for e in self._log}
            stored = []
            for i, e in enumerate(events, start=1):
                if e.stream_id != stream_id:
                    raise ValueError(f"event {e.event_id} belongs to stream {e.stream_id}")
                if e.event_id in known:
                    raise ConcurrencyConflict(stream_id, expected_version, actual)
                known.add(e.event_id)
                stored.append(_signed(e.at(expected_version + i, len(self._log) + i),
                                      self.signer))
            self._log.extend(stored)
            return stored

    def append_new(self, events: Sequence[Event], conn: Any = None) -> list[Event]:
        """Events that start their streams (see :meth:`PostgresEventStore.append_new`)."""
        _check_new(events)
        versions = _versions_in_order(events)
        ids = [e.event_id for e in events]
        with self._lock:
            streams = {e.stream_id for e in self._log}
            known = {e.event_id for e in self._log}
            if (any(e.stream_id in streams for e in events) or known.intersection(ids)
                    or len(set(ids)) != len(ids)):
                raise ConcurrencyConflict(events[0].stream_id, 0, None)
            stored = [_signed(e.at(version, len(self._log) + i), self.signer)
                      for i, (e, version) in enumerate(zip(events, versions), start=1)]
            self._log.extend(stored)
            return stored

    def _version(self, stream_id):
        return max((e.stream_version for e in self._log if e.stream_id == stream_id), default=0)

    def stream_version(self, stream_id: str, conn: Any = None) -> int:
        with self._lock:
            return self._version(stream_id)

    def read_stream(self, stream_id: str, conn: Any = None) -> list[Event]:
        with self._lock:
            return [e for e in self._log if e.stream_id == stream_id]

    def read_all(self, after_position: int = 0, limit: int = 1000,
                 conn: Any = None) -> list[Event]:
        with self._lock:
            return self._log[after_position:after_position + limit]

    def head(self, conn: Any = None) -> int:
        with self._lock:
            return len(self._log)

    def claim(self, consumer: str, event_id: str, conn: Any = None) -> bool:
        with self._lock:
            key = (consumer, str(event_id))
            if key in self._handled:
                return False
            self._handled.add(key)
            return True


class PostgresEventStore:
    """Events of one service, in that service's schema.

    Every method takes an optional ``conn``: pass the connection of an open
    transaction to make the call part of it (a consumer's inbox claim, its
    projection updates and its own events commit or fail together).
    """

    def __init__(self, db: Database, signer: EventSigner | None = None,
                 group: GroupCommitter | None = None):
        self.db = db
        self.signer = signer  # signs each event as it is stored (see shared.eventsig)
        self.channel = f"{db.schema}_events"
        # A shared.groupcommit.GroupCommitter: writers share commits (None: each its own).
        self.group = group

    def create_schema(self) -> None:
        self.db.ensure_schema(EVENT_STORE_DDL)

    def writing(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A transaction that records events: in the commit group if there is one."""
        return self.group.transaction() if self.group is not None else self.db.transaction()

    def _tx(self, conn):
        if conn is not None:
            return _Borrowed(conn)
        return self.db.transaction()

    def append(self, stream_id: str, expected_version: int, events: Sequence[Event],
               conn: psycopg.Connection[Any] | None = None) -> list[Event]:
        _check_new(events)
        if not events:
            return []
        for e in events:
            if e.stream_id != stream_id:
                raise ValueError(f"event {e.event_id} belongs to stream {e.stream_id}")
        with (_Borrowed(conn) if conn is not None else self.writing()) as c:
            # The row lock taken here is held until commit: positions in commit order.
            last = c.execute(
                "UPDATE log_head SET position = position + %s RETURNING position",
                (len(events),),
            ).fetchone()[0]
            actual = self.stream_version(stream_id, conn=c)
            if actual != expected_version:
                raise ConcurrencyConflict(stream_id, expected_version, actual)
            first = last - len(events) + 1
            stored = [_signed(e.at(expected_version + i + 1, first + i), self.signer)
                      for i, e in enumerate(events)]
            self._insert(c, stored, stream_id, expected_version, actual)
            c.execute("SELECT pg_notify(%s, %s)", (self.channel, str(last)))
            return stored

    def append_new(self, events: Sequence[Event],
                   conn: psycopg.Connection[Any] | None = None) -> list[Event]:
        """Events that each start a new stream (or a run of events that starts
        one, consecutive): one log-head update, one insert, one notification for
        them all, as a broadcast's arrivals need. A stream that already exists, or
        an event id stored before, is a :class:`ConcurrencyConflict` (the unique
        indexes say so; the caller's transaction is then spoilt, as with
        :meth:`append`)."""
        _check_new(events)
        if not events:
            return []
        with (_Borrowed(conn) if conn is not None else self.writing()) as c:
            last = c.execute(
                "UPDATE log_head SET position = position + %s RETURNING position",
                (len(events),),
            ).fetchone()[0]
            first = last - len(events) + 1
            stored = [_signed(e.at(version, first + i), self.signer)
                      for i, (e, version) in enumerate(zip(events, _versions_in_order(events)))]
            self._insert(c, stored, events[0].stream_id, 0, None)
            c.execute("SELECT pg_notify(%s, %s)", (self.channel, str(last)))
            return stored

    def _insert(self, c, stored, stream_id, expected_version, actual):
        with c.cursor() as cur:
            try:
                cur.executemany(
                    "INSERT INTO events (position, event_id, stream_id, stream_version,"
                    " event_type, occurred_at, envelope) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                    [(e.position, e.event_id, e.stream_id, e.stream_version, e.event_type,
                      e.occurred_at, json.dumps(_stored_form(e), ensure_ascii=False))
                     for e in stored],
                )
            except _unique_violation() as err:
                # Same event id appended twice (a retried command), or a stream
                # that is not new: a conflict.
                raise ConcurrencyConflict(stream_id, expected_version, actual) from err

    def stream_version(self, stream_id: str,
                       conn: psycopg.Connection[Any] | None = None) -> int:
        with self._tx(conn) as c:
            row = c.execute(
                "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = %s",
                (stream_id,),
            ).fetchone()
            return row[0]

    def read_stream(self, stream_id: str,
                    conn: psycopg.Connection[Any] | None = None) -> list[Event]:
        with self._tx(conn) as c:
            rows = c.execute(
                "SELECT position, stream_version, envelope FROM events"
                " WHERE stream_id = %s ORDER BY stream_version", (stream_id,),
            ).fetchall()
        return [_row_to_event(r) for r in rows]

    def read_all(self, after_position: int = 0, limit: int = 1000,
                 conn: psycopg.Connection[Any] | None = None) -> list[Event]:
        with self._tx(conn) as c:
            rows = c.execute(
                "SELECT position, stream_version, envelope FROM events"
                " WHERE position > %s ORDER BY position LIMIT %s", (after_position, limit),
            ).fetchall()
        return [_row_to_event(r) for r in rows]

    def head(self, conn: psycopg.Connection[Any] | None = None) -> int:
        with self._tx(conn) as c:
            return c.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]

    def claim(self, consumer: str, event_id: str,
              conn: psycopg.Connection[Any] | None = None) -> bool:
        """Record that ``consumer`` handles ``event_id``; False if it already did.

        Call it first in the consumer's transaction: a concurrent redelivery
        waits on the primary key until this transaction ends, then sees it.
        """
        with self._tx(conn) as c:
            row = c.execute(
                "INSERT INTO inbox (consumer, event_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING RETURNING 1", (consumer, event_id),
            ).fetchone()
            return row is not None


def _versions_in_order(events):
    """Each event's version in a batch of new streams: 1, 2, ... within a run of
    one stream's events; a stream's events must be consecutive."""
    versions, seen, previous = [], set(), None
    for e in events:
        if e.stream_id != previous:
            if e.stream_id in seen:
                raise ValueError(f"stream {e.stream_id}: its new events must be consecutive")
            seen.add(e.stream_id)
            versions.append(1)
        else:
            versions.append(versions[-1] + 1)
        previous = e.stream_id
    return versions


def _signed(event, signer):
    return signer.sign(event) if signer is not None else event


def _stored_form(event):
    return {**event.to_dict(), "signature": event.to_wire()["signature"]}


def _row_to_event(row):
    position, version, envelope = row
    return event_from_stored({**envelope, "stream_version": version, "position": position})


def _unique_violation():
    from psycopg import errors

    return errors.UniqueViolation


class _Borrowed:
    """Use a caller's open transaction as is."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        return False
