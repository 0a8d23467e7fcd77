"""The PostgreSQL event store: the shared contract, plus commit order under load."""

import random

import eventlet
import pytest

from shared.db import Database
from shared.eventstore import PostgresEventStore
from tests.unit.eventstore_contract import EventStoreContract, make_event, new_stream

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_store(pg_dsn):
    db = Database(pg_dsn, "docs", max_size=12)
    store = PostgresEventStore(db)
    store.create_schema()
    yield store
    db.close()


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, pg_store):
        return pg_store


def test_readers_never_skip_an_event_that_commits_late(pg_store):
    """Writers hold their transactions open for random times after appending;
    a reader that always continues after the highest position it has seen
    must still see every position, once, in order."""
    writers, appends_each = 6, 25
    total = writers * appends_each
    seen = []
    done = eventlet.event.Event()

    def writer(seed):
        rnd = random.Random(seed)
        for _ in range(appends_each):
            stream = new_stream()
            with pg_store.db.transaction() as conn:
                pg_store.append(stream, 0, [make_event(stream)], conn=conn)
                conn.execute("SELECT pg_sleep(%s)", (rnd.uniform(0, 0.02),))

    def reader():
        last = 0
        while not (done.ready() and last == total):
            batch = pg_store.read_all(last, 100)
            seen.extend(e.position for e in batch)
            if batch:
                last = batch[-1].position
            eventlet.sleep(0.001)

    reading = eventlet.spawn(reader)
    pool = eventlet.GreenPool(writers)
    for seed in range(writers):
        pool.spawn(writer, seed)
    pool.waitall()
    done.send(True)
    reading.wait()
    assert seen == list(range(1, total + 1))


def test_a_rolled_back_append_leaves_no_event_and_no_gap(pg_store):
    stream = new_stream()
    with pytest.raises(RuntimeError):
        with pg_store.db.transaction() as conn:
            pg_store.append(stream, 0, [make_event(stream)], conn=conn)
            raise RuntimeError("the handler failed after appending")
    assert pg_store.read_stream(stream) == []
    [stored] = pg_store.append(stream, 0, [make_event(stream)])
    assert stored.position == 1


def test_a_rolled_back_claim_can_be_claimed_again(pg_store):
    event = make_event(new_stream())
    with pytest.raises(RuntimeError):
        with pg_store.db.transaction() as conn:
            assert pg_store.claim("c", event.event_id, conn=conn)
            raise RuntimeError("effects failed")
    assert pg_store.claim("c", event.event_id)
    assert not pg_store.claim("c", event.event_id)
