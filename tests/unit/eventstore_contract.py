"""The event store contract, shared by every adapter's tests.

Subclass :class:`EventStoreContract` in a ``Test...`` class and provide a
``store`` fixture; every test here then runs against that adapter. The tests
use only ``append``, ``read_stream``, ``read_all``, ``head``,
``stream_version`` and ``claim``, and do not assume the store starts empty:
stream ids and consumers are unique per test and positions are taken
relative to ``head()`` at the start.
"""

import uuid

import pytest

from shared.envelope import Actor, canonical_bytes, new_event
from shared.errors import ConcurrencyConflict

ACTOR = Actor("u1", "000.00.00.H41", "clerk")


def make_event(stream_id, n=0, event_id=None, **data):
    return new_event("DocumentRegistered", {"n": n, "subject": "Công văn số " + str(n), **data},
                     actor=ACTOR, producer="docs", stream_id=stream_id, event_id=event_id)


def new_stream():
    return f"document-{uuid.uuid4()}"


def ids(events):
    return [e.event_id for e in events]


class EventStoreContract:
    @pytest.fixture
    def store(self):
        raise NotImplementedError("an adapter's test class provides the store fixture")

    # -- append ---------------------------------------------------------------

    def test_append_assigns_stream_versions_one_to_n(self, store):
        stream = new_stream()
        events = [make_event(stream, i) for i in range(3)]
        stored = store.append(stream, 0, events)
        assert ids(stored) == ids(events)
        assert [e.stream_version for e in stored] == [1, 2, 3]
        assert store.stream_version(stream) == 3

    def test_append_continues_versions_from_the_expected_version(self, store):
        stream = new_stream()
        store.append(stream, 0, [make_event(stream, 1), make_event(stream, 2)])
        stored = store.append(stream, 2, [make_event(stream, 3)])
        assert [e.stream_version for e in stored] == [3]
        assert [e.stream_version for e in store.read_stream(stream)] == [1, 2, 3]

    def test_append_assigns_consecutive_positions_after_the_head(self, store):
        base = store.head()
        stream = new_stream()
        stored = store.append(stream, 0, [make_event(stream, i) for i in range(3)])
        assert [e.position for e in stored] == [base + 1, base + 2, base + 3]
        assert store.head() == base + 3

    def test_positions_are_global_across_streams_in_commit_order(self, store):
        base = store.head()
        a, b = new_stream(), new_stream()
        first = store.append(a, 0, [make_event(a, 1)])
        second = store.append(b, 0, [make_event(b, 1), make_event(b, 2)])
        third = store.append(a, 1, [make_event(a, 2)])
        assert [e.position for e in first + second + third] == [base + 1, base + 2, base + 3,
                                                               base + 4]
        assert [e.stream_version for e in first + second + third] == [1, 1, 2, 2]

    def test_append_returns_stored_events_with_the_same_content(self, store):
        stream = new_stream()
        event = make_event(stream, 1)
        [stored] = store.append(stream, 0, [event])
        assert canonical_bytes(stored) == canonical_bytes(event.at(1))
        assert event.stream_version == 0 and event.position is None

    def test_append_with_wrong_expected_version_raises_conflict_with_the_actual_version(
            self, store):
        stream = new_stream()
        store.append(stream, 0, [make_event(stream, 1), make_event(stream, 2)])
        for expected in (0, 1, 3):
            with pytest.raises(ConcurrencyConflict) as err:
                store.append(stream, expected, [make_event(stream, 9)])
            assert err.value.actual == 2
            assert err.value.expected == expected
            assert err.value.stream_id == stream
        assert store.stream_version(stream) == 2

    def test_append_to_a_new_stream_expecting_a_version_conflicts_with_actual_zero(self, store):
        stream = new_stream()
        with pytest.raises(ConcurrencyConflict) as err:
            store.append(stream, 1, [make_event(stream, 1)])
        assert err.value.actual == 0
        assert store.read_stream(stream) == []

    def test_a_failed_append_stores_nothing_and_moves_no_position(self, store):
        stream = new_stream()
        store.append(stream, 0, [make_event(stream, 1)])
        head = store.head()
        with pytest.raises(ConcurrencyConflict):
            store.append(stream, 0, [make_event(stream, 2), make_event(stream, 3)])
        assert store.head() == head
        assert store.read_all(head, 10) == []
        assert len(store.read_stream(stream)) == 1

    def test_append_is_all_or_nothing_when_one_event_is_a_replay(self, store):
        stream = new_stream()
        [old] = store.append(stream, 0, [make_event(stream, 1)])
        head = store.head()
        fresh = make_event(stream, 2)
        replay = make_event(stream, 3, event_id=old.event_id)
        with pytest.raises(ConcurrencyConflict):
            store.append(stream, 1, [fresh, replay])
        assert ids(store.read_stream(stream)) == [old.event_id]
        assert store.stream_version(stream) == 1
        assert store.head() == head
        # The store is still usable after the refused append.
        stored = store.append(stream, 1, [fresh])
        assert [e.stream_version for e in stored] == [2]

    def test_append_is_all_or_nothing_when_one_event_belongs_to_another_stream(self, store):
        stream, other = new_stream(), new_stream()
        head = store.head()
        with pytest.raises(ValueError):
            store.append(stream, 0, [make_event(stream, 1), make_event(other, 2)])
        assert store.read_stream(stream) == []
        assert store.read_stream(other) == []
        assert store.head() == head

    def test_appending_the_same_event_id_again_is_a_conflict(self, store):
        stream = new_stream()
        event_id = str(uuid.uuid4())
        store.append(stream, 0, [make_event(stream, 1, event_id=event_id)])
        # A retried command that re-creates its event with the same id.
        with pytest.raises(ConcurrencyConflict):
            store.append(stream, 1, [make_event(stream, 1, event_id=event_id)])
        other = new_stream()
        with pytest.raises(ConcurrencyConflict):
            store.append(other, 0, [make_event(other, 1, event_id=event_id)])
        assert store.read_stream(other) == []
        assert store.stream_version(stream) == 1

    def test_a_batch_with_the_same_event_id_twice_is_refused_whole(self, store):
        stream = new_stream()
        event = make_event(stream, 1)
        head = store.head()
        with pytest.raises(ConcurrencyConflict):
            store.append(stream, 0, [event, event])
        assert store.read_stream(stream) == []
        assert store.head() == head

    def test_an_already_stored_event_cannot_be_appended_again(self, store):
        stream = new_stream()
        [stored] = store.append(stream, 0, [make_event(stream, 1)])
        with pytest.raises(ValueError):
            store.append(stream, 1, [stored])
        assert store.stream_version(stream) == 1

    # -- reading --------------------------------------------------------------

    # -- append_new: a batch of new streams ------------------------------------

    def test_append_new_starts_each_stream_in_one_batch(self, store):
        base = store.head()
        a, b = new_stream(), new_stream()
        events = [make_event(a, 1), make_event(b, 1), make_event(b, 2)]
        stored = store.append_new(events)
        assert ids(stored) == ids(events)
        assert [e.stream_version for e in stored] == [1, 1, 2]
        assert [e.position for e in stored] == [base + 1, base + 2, base + 3]
        assert ids(store.read_stream(b)) == ids(events[1:])
        assert store.stream_version(a) == 1 and store.append_new([]) == []

    def test_append_new_refuses_a_stream_that_exists_and_stores_nothing(self, store):
        old, fresh = new_stream(), new_stream()
        store.append(old, 0, [make_event(old, 1)])
        head = store.head()
        with pytest.raises(ConcurrencyConflict):
            store.append_new([make_event(fresh, 1), make_event(old, 2)])
        assert store.head() == head and store.read_stream(fresh) == []

    def test_append_new_refuses_an_event_id_stored_before(self, store):
        stream = new_stream()
        [old] = store.append(stream, 0, [make_event(stream, 1)])
        head = store.head()
        with pytest.raises(ConcurrencyConflict):
            store.append_new([make_event(new_stream(), 2, event_id=old.event_id)])
        assert store.head() == head

    def test_append_new_wants_a_streams_events_together(self, store):
        a, b = new_stream(), new_stream()
        with pytest.raises(ValueError):
            store.append_new([make_event(a, 1), make_event(b, 1), make_event(a, 2)])
        assert store.read_stream(a) == []

    def test_a_stream_never_written_is_empty_at_version_zero(self, store):
        stream = new_stream()
        assert store.stream_version(stream) == 0
        assert store.read_stream(stream) == []

    def test_read_stream_returns_only_that_stream_in_version_order(self, store):
        a, b = new_stream(), new_stream()
        store.append(a, 0, [make_event(a, 1)])
        store.append(b, 0, [make_event(b, 1)])
        store.append(a, 1, [make_event(a, 2), make_event(a, 3)])
        events = store.read_stream(a)
        assert [e.stream_id for e in events] == [a, a, a]
        assert [e.stream_version for e in events] == [1, 2, 3]
        assert [e.data["n"] for e in events] == [1, 2, 3]

    def test_read_stream_gives_back_the_appended_content(self, store):
        stream = new_stream()
        stored = store.append(stream, 0, [make_event(stream, 1, subject="Quyết định điều động"),
                                          make_event(stream, 2)])
        read = store.read_stream(stream)
        assert [canonical_bytes(e) for e in read] == [canonical_bytes(e) for e in stored]
        assert [e.position for e in read] == [e.position for e in stored]
        assert read[0].data["subject"] == "Quyết định điều động"
        assert read[0].actor == ACTOR

    def test_read_all_returns_events_after_a_position_in_order(self, store):
        base = store.head()
        a, b = new_stream(), new_stream()
        store.append(a, 0, [make_event(a, 1), make_event(a, 2)])
        store.append(b, 0, [make_event(b, 3)])
        store.append(a, 2, [make_event(a, 4)])
        events = store.read_all(base, 100)
        assert [e.data["n"] for e in events] == [1, 2, 3, 4]
        assert [e.position for e in events] == [base + 1, base + 2, base + 3, base + 4]
        assert [e.data["n"] for e in store.read_all(base + 2, 100)] == [3, 4]
        assert store.read_all(base + 4, 100) == []

    def test_read_all_honours_the_limit(self, store):
        base = store.head()
        stream = new_stream()
        store.append(stream, 0, [make_event(stream, i) for i in range(5)])
        assert [e.position for e in store.read_all(base, 2)] == [base + 1, base + 2]
        assert [e.position for e in store.read_all(base + 2, 2)] == [base + 3, base + 4]
        assert [e.position for e in store.read_all(base + 4, 2)] == [base + 5]

    def test_paging_through_read_all_sees_every_event_once(self, store):
        base = store.head()
        stream = new_stream()
        stored = store.append(stream, 0, [make_event(stream, i) for i in range(7)])
        seen, after = [], base
        while page := store.read_all(after, 3):
            seen += page
            after = page[-1].position
        assert ids(seen) == ids(stored)

    # -- claim (inbox) --------------------------------------------------------

    def test_claim_is_true_once_then_false(self, store):
        consumer = f"test.consumer.{uuid.uuid4()}"
        event_id = str(uuid.uuid4())
        assert store.claim(consumer, event_id) is True
        assert store.claim(consumer, event_id) is False
        assert store.claim(consumer, event_id) is False

    def test_claims_are_per_consumer_and_per_event(self, store):
        first, second = f"test.a.{uuid.uuid4()}", f"test.b.{uuid.uuid4()}"
        event_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
        assert store.claim(first, event_id) is True
        assert store.claim(second, event_id) is True
        assert store.claim(first, other_id) is True
        assert store.claim(first, event_id) is False
        assert store.claim(second, event_id) is False

    def test_claim_accepts_a_uuid_object_as_the_same_event(self, store):
        consumer = f"test.consumer.{uuid.uuid4()}"
        event_id = uuid.uuid4()
        assert store.claim(consumer, str(event_id)) is True
        assert store.claim(consumer, event_id) is False
