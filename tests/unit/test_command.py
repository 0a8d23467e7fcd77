"""The one command transaction (shared.command) against the in-memory event store."""

import contextlib

import pytest

from shared.command import append_next, decide_within, run_command
from shared.errors import ConcurrencyConflict, Conflict, ValidationFailed
from shared.eventstore import InMemoryEventStore
from tests.unit.eventstore_contract import make_event, new_stream


def transaction():
    return contextlib.nullcontext("conn")


def test_appends_at_the_streams_next_version_and_projects_what_was_recorded():
    log, stream = InMemoryEventStore(), new_stream()
    log.append(stream, 0, [make_event(stream, 1), make_event(stream, 2)])
    projected = []
    state, recorded = run_command(
        transaction, log, lambda conn: {"loaded_with": conn},
        lambda state: make_event(stream, 3),
        lambda conn, state, recorded: projected.append((conn, state, recorded)))
    assert state == {"loaded_with": "conn"}
    assert [e.stream_version for e in recorded] == [3]
    assert projected == [("conn", state, recorded)]
    assert [e.stream_version for e in log.read_stream(stream)] == [1, 2, 3]


def test_several_streams_in_the_order_decided():
    log, a, b = InMemoryEventStore(), new_stream(), new_stream()
    log.append(b, 0, [make_event(b)])
    _, recorded = run_command(transaction, log, lambda conn: None, lambda state: [
        make_event(a, 1), make_event(b, 2), make_event(b, 3), make_event(a, 4)])
    assert [(e.stream_id, e.stream_version) for e in recorded] == [
        (a, 1), (b, 2), (b, 3), (a, 2)]
    assert [e.data["n"] for e in recorded] == [1, 2, 3, 4]
    assert [e.position for e in recorded] == [2, 3, 4, 5]


def test_a_refusal_of_the_core_appends_and_projects_nothing():
    log, stream = InMemoryEventStore(), new_stream()

    def decide(state):
        raise ValidationFailed("subject: required", field="subject")

    projected = []
    with pytest.raises(ValidationFailed, match="subject"):
        run_command(transaction, log, lambda conn: None, decide,
                    lambda *args: projected.append(args))
    assert log.read_stream(stream) == [] and projected == []


class Racing(InMemoryEventStore):
    """A store where another writer appends between the version read and the
    append, ``races`` times."""

    def __init__(self, races):
        super().__init__()
        self.races = races

    def append(self, stream_id, expected_version, events, conn=None):
        if self.races and events[0].data.get("racing") is None:
            self.races -= 1
            super().append(stream_id, expected_version, [make_event(stream_id, racing=True)])
        return super().append(stream_id, expected_version, events, conn)


def test_a_concurrency_conflict_runs_the_whole_command_again():
    log, stream = Racing(races=2), new_stream()
    loads = []
    _, [recorded] = run_command(transaction, log, lambda conn: loads.append(conn),
                                lambda state: make_event(stream, 9))
    assert len(loads) == 3  # loaded again each time: the decision is made on fresh state
    assert recorded.stream_version == 3 and recorded.data["n"] == 9


def test_after_its_tries_the_conflict_reaches_the_caller():
    with pytest.raises(ConcurrencyConflict):
        run_command(transaction, Racing(races=3), lambda conn: None,
                    lambda state: make_event(new_stream()), tries=3)
    with pytest.raises(Conflict, match="changed meanwhile") as caught:
        run_command(transaction, Racing(races=2), lambda conn: None,
                    lambda state: make_event(new_stream()), tries=2,
                    conflict=lambda: Conflict("the document changed meanwhile; try again",
                                              field="document_id"))
    assert not isinstance(caught.value, ConcurrencyConflict)
    assert caught.value.field == "document_id"


def test_a_transaction_that_fails_is_left_by_the_exception():
    entered, exited = [], []

    @contextlib.contextmanager
    def tracked():
        entered.append(1)
        try:
            yield "conn"
        except BaseException as err:
            exited.append(type(err).__name__)
            raise

    with pytest.raises(RuntimeError):
        run_command(tracked, InMemoryEventStore(), lambda conn: None,
                    lambda state: make_event(new_stream()),
                    lambda conn, state, recorded: (_ for _ in ()).throw(RuntimeError("x")))
    assert entered == [1] and exited == ["RuntimeError"]  # no retry for other failures


def test_decide_within_uses_the_callers_transaction():
    log, stream = InMemoryEventStore(), new_stream()
    state, recorded = decide_within("their-conn", log, lambda conn: conn,
                                    lambda state: [make_event(stream), make_event(stream)])
    assert state == "their-conn"
    assert [e.stream_version for e in recorded] == [1, 2]


def test_append_next_of_nothing_is_nothing():
    assert append_next(InMemoryEventStore(), []) == []


def test_retrying_runs_a_body_again_in_a_new_transaction():
    from shared.command import retrying

    opened, calls = [], []

    @contextlib.contextmanager
    def counted():
        opened.append(1)
        yield f"conn{len(opened)}"

    def body(conn):
        calls.append(conn)
        if len(calls) < 3:
            raise ConcurrencyConflict("s", 0, 1)
        return "done"

    assert retrying(counted, body) == "done"
    assert calls == ["conn1", "conn2", "conn3"]
    with pytest.raises(ValueError, match="tries"):
        retrying(counted, body, tries=0)


def test_new_streams_start_at_version_one_and_refuse_an_existing_stream():
    log, stream = InMemoryEventStore(), new_stream()
    _, [first] = run_command(transaction, log, lambda conn: None,
                             lambda state: make_event(stream), new_streams=True)
    assert first.stream_version == 1
    with pytest.raises(ConcurrencyConflict):
        run_command(transaction, log, lambda conn: None, lambda state: make_event(stream),
                    new_streams=True, tries=1)
