"""Group commit: the writing transactions of one process share one database
transaction and one WAL flush, each in a savepoint of its own.

Why: an event store hands out positions in commit order by holding the
one-row log head from the append to the commit (``shared.eventstore``), so
a service's writers commit one at a time and each waits for its own WAL
flush. Here a writer that arrives while another commits joins the next
group; the last writer of a group commits it for all of them.

How a writer sees it: ``with group.transaction() as conn:`` is a transaction
as before. Its block runs alone on the group's connection, inside a
savepoint: if the block raises, its savepoint is rolled back (its writes and
the locks it took are gone) and the error reaches it at once, the others go
on. If the block returns, the writer waits until its group has committed;
if that commit fails, every writer of the group gets the error, and none of
their writes is stored (they may all retry, as after any failed commit).

Order and locks: the group takes the log head first, before any writer's
block runs, so groups of several processes of one service commit one at a
time in position order, and no group waits for a row another holds while
holding the head itself. Writers of one group see each other's writes (one
transaction), one after the other, as if they had committed in turn.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

MAX_GROUP = 64  # writers per group: bounds how long the head is held


class _Group:
    def __init__(self, conn: Any, transaction: Any, borrowed: contextlib.ExitStack):
        # ``borrowed`` gives the connection back to the pool when the group ends.
        self.conn, self.transaction, self.borrowed = conn, transaction, borrowed
        self.members = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommitter:
    """Group commit over one connection of ``db`` (``shared.db.Database``).

    ``lock_sql`` runs first in each group's transaction: the event store's
    log head lock, so the order of commits is the order of positions.
    """

    def __init__(self, db: Any, lock_sql: str = "SELECT 1 FROM log_head FOR UPDATE",
                 max_group: int = MAX_GROUP):
        self.db, self.lock_sql, self.max_group = db, lock_sql, max_group
        self._turn = threading.Lock()      # one writer's block at a time
        self._count = threading.Lock()     # guards _waiting
        self._waiting = 0                  # writers asking for their turn
        self._group: _Group | None = None  # the open group, if any
        self.commits = 0                   # groups committed (a figure for tests and benches)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._count:
            self._waiting += 1
        try:
            self._turn.acquire()
        finally:  # also if this writer is killed while it waits
            with self._count:
                self._waiting -= 1
        try:
            group = self._group or self._open()
            group.members += 1
            try:
                with group.conn.transaction():  # a savepoint
                    yield group.conn
            except BaseException:
                self._end_turn(group)
                raise
            self._end_turn(group)
        finally:
            self._turn.release()
        group.done.wait()
        if group.error is not None:
            raise group.error

    def _open(self) -> _Group:
        stack = contextlib.ExitStack()
        conn = stack.enter_context(self.db.connection())
        try:
            transaction = conn.transaction()
            transaction.__enter__()
            conn.execute(self.lock_sql)
        except BaseException:
            stack.close()
            raise
        self._group = _Group(conn, transaction, stack)
        return self._group

    def _end_turn(self, group: _Group) -> None:
        """Commit the group unless another writer is waiting to join it."""
        with self._count:
            others = self._waiting
        if others and group.members < self.max_group and not group.conn.closed:
            return
        self._group = None
        try:
            group.transaction.__exit__(None, None, None)  # COMMIT
            self.commits += 1
        except BaseException as err:
            group.error = err
            log.warning("group commit of %d writer(s) failed: %r", group.members, err)
        finally:
            try:
                group.borrowed.close()  # the connection back (or closed if broken)
            finally:
                group.done.set()
