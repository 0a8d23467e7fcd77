"""InMemoryEventStore against the event store contract."""

import threading

import pytest

from shared.errors import ConcurrencyConflict
from shared.eventstore import InMemoryEventStore
from tests.unit.eventstore_contract import EventStoreContract, make_event, new_stream


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self):
        return InMemoryEventStore()

    def test_a_fresh_store_is_empty(self, store):
        assert store.head() == 0
        assert store.read_all(0, 10) == []

    def test_concurrent_appends_at_the_same_version_let_exactly_one_win(self, store):
        stream = new_stream()
        barrier = threading.Barrier(8)
        outcomes = []

        def writer(n):
            barrier.wait()
            try:
                store.append(stream, 0, [make_event(stream, n)])
                outcomes.append("ok")
            except ConcurrencyConflict as err:
                outcomes.append(err.actual)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes, key=str) == [1] * 7 + ["ok"]
        assert store.stream_version(stream) == 1
        assert store.head() == 1
