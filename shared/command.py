"""The one command transaction: lock and load, let the pure core decide, append
at each stream's next version, apply the projection; retry on a conflict.

Every writing entrypoint of a service runs through :func:`run_command` (its
own transaction) or :func:`decide_within` (inside a transaction it already
holds, e.g. a consumer's inbox claim). The four steps are the caller's:

- ``load(conn)`` reads what the core needs, taking the locks that make the
  decision safe (``SELECT ... FOR UPDATE`` on the projection row);
- ``decide(state)`` is the pure core: it returns the new event(s) or raises;
- the events are appended at their streams' current versions, in order;
- ``project(conn, state, recorded)`` updates the projection from them.

A :class:`ConcurrencyConflict` (a stream moved on between the read of its
version and the append: a writer that took no lock, a retried event id), or
a deadlock the database broke by undoing this transaction, rolls it back and
runs the four steps again, at most ``tries`` times; then it reaches the
caller (as ``conflict`` if one is given).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from shared.envelope import Event
from shared.errors import ConcurrencyConflict, LienThongError

State = TypeVar("State")
Result = TypeVar("Result")

Decision = Event | Sequence[Event]
Load = Callable[[Any], State]
Decide = Callable[[State], Decision]
Project = Callable[[Any, State, list[Event]], None]


class EventLog(Protocol):
    """What a command needs of an event store (``shared.eventstore``'s adapters)."""

    def append(self, stream_id: str, expected_version: int, events: Sequence[Event],
               conn: Any = None) -> list[Event]: ...

    def append_new(self, events: Sequence[Event], conn: Any = None) -> list[Event]: ...

    def stream_version(self, stream_id: str, conn: Any = None) -> int: ...


def append_next(log: EventLog, events: Iterable[Event], conn: Any = None,
                new_streams: bool = False) -> list[Event]:
    """Append ``events`` at their streams' next versions, one append per run of
    consecutive events of the same stream, in the order given. With
    ``new_streams`` every stream must be new (version 0: a conflict if not),
    and no version is read: they go in one batch (``append_new``)."""
    if new_streams:
        return log.append_new(list(events), conn=conn)
    stored: list[Event] = []
    batch: list[Event] = []
    for event in [*events, None]:
        if batch and (event is None or event.stream_id != batch[0].stream_id):
            stream = batch[0].stream_id
            version = log.stream_version(stream, conn=conn)
            stored += log.append(stream, version, batch, conn=conn)
            batch = []
        if event is not None:
            batch.append(event)
    return stored


def decide_within(conn: Any, log: EventLog, load: Load, decide: Decide,
                  project: Project | None = None, *,
                  new_streams: bool = False) -> tuple[State, list[Event]]:
    """The command's four steps in the caller's open transaction ``conn``:
    ``(state as loaded, events as recorded)``. ``new_streams``: the events
    start their streams (see :func:`append_next`)."""
    state = load(conn)
    decided = decide(state)
    events = [decided] if isinstance(decided, Event) else list(decided)
    recorded = append_next(log, events, conn=conn, new_streams=new_streams)
    if project is not None:
        project(conn, state, recorded)
    return state, recorded


def retrying(transaction: Callable[[], AbstractContextManager[Any]],
             body: Callable[[Any], Result], *, tries: int = 3,
             conflict: Callable[[], LienThongError] | None = None) -> Result:
    """``body(conn)`` in a transaction of its own, run again in a new one on a
    :class:`ConcurrencyConflict`, up to ``tries`` times; then the conflict
    (or ``conflict()``) reaches the caller. Any other failure is not retried."""
    for attempt in range(1, tries + 1):
        try:
            with transaction() as conn:
                return body(conn)
        except Exception as err:
            if not _retryable(err):
                raise
            if attempt == tries:
                if conflict is None:
                    raise
                raise conflict() from None
    raise ValueError(f"tries: at least 1, got {tries}")


# PostgreSQL's deadlock_detected and serialization_failure: the server undid
# the transaction (or the savepoint of a grouped writer) and it may run again.
_RETRY_SQLSTATES = ("40P01", "40001")


def _retryable(err: Exception) -> bool:
    return (isinstance(err, ConcurrencyConflict)
            or getattr(err, "sqlstate", None) in _RETRY_SQLSTATES)


def run_command(transaction: Callable[[], AbstractContextManager[Any]], log: EventLog,
                load: Load, decide: Decide, project: Project | None = None, *,
                tries: int = 3, new_streams: bool = False,
                conflict: Callable[[], LienThongError] | None = None,
                ) -> tuple[State, list[Event]]:
    """:func:`decide_within` in a transaction of its own, retried on a
    :class:`ConcurrencyConflict` up to ``tries`` times."""
    return retrying(transaction, lambda conn: decide_within(
        conn, log, load, decide, project, new_streams=new_streams),
        tries=tries, conflict=conflict)
