"""PostgreSQL access: a small connection pool, one schema per service.

Each service owns one schema (``docs``, ``signing``, ...): its connections
set ``search_path`` to it, so SQL names tables without a prefix and no
service reads another's tables.
"""

from __future__ import annotations

import contextlib
import queue
import re
import select
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg

from shared.green import make_psycopg_cooperative

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Database:
    def __init__(self, dsn: str, schema: str, max_size: int = 8, connect_timeout: int = 5,
                 role: str | None = None, settings: Mapping[str, object] | None = None):
        if not SCHEMA_NAME.match(schema) or (role and not SCHEMA_NAME.match(role)):
            raise ValueError(f"invalid schema or role name {schema!r}, {role!r}")
        self.role = role
        self.settings = dict(settings or {})
        make_psycopg_cooperative()
        self.dsn, self.schema = dsn, schema
        self._connect_timeout = connect_timeout
        self._idle = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max_size)
        self._closed = False

    def _connect(self):
        # With a role, the connection acts with that role's privileges only.
        extra = "".join(f" -c {k}={v}" for k, v in self.settings.items())
        if self.role:
            extra += f" -c role={self.role}"
        return psycopg.connect(
            self.dsn, autocommit=True, connect_timeout=self._connect_timeout,
            options=f"-c search_path={self.schema},public{extra}",
        )

    def ensure_schema(self, ddl: str) -> None:
        """Create the schema and run idempotent DDL (``CREATE ... IF NOT EXISTS``)."""
        with psycopg.connect(self.dsn, autocommit=True,
                             connect_timeout=self._connect_timeout) as conn:
            # Serialise concurrent first starts of the same service.
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
                # A service's own login owns its provisioned schema but may not
                # create schemas: only make it when it is missing.
                if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                (self.schema,)).fetchone() is None:
                    conn.execute(f'CREATE SCHEMA "{self.schema}"')
                conn.execute(f'SET LOCAL search_path = "{self.schema}", public')
                conn.execute(ddl)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Borrow a connection (autocommit); a broken one is discarded, not reused."""
        self._slots.acquire()
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            if not _alive(conn):
                conn.close()
                conn = self._connect()
            yield conn
        except BaseException as err:
            if conn is not None:
                conn.close()
                conn = None
            if isinstance(err, psycopg.OperationalError):
                self._discard_idle()  # the server restarted: the others are dead too
            raise
        finally:
            if conn is not None:
                if self._closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()
                else:
                    self._idle.put(conn)
            self._slots.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One database transaction: committed on exit, rolled back on error."""
        with self.connection() as conn:
            with conn.transaction():
                yield conn

    def _discard_idle(self):
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def close(self) -> None:
        self._closed = True
        self._discard_idle()


def _alive(conn):
    """An idle connection is dead if closed, or if the server wrote to it while no
    query ran (its termination notice, or end of file after a restart)."""
    if conn.closed:
        return False
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
