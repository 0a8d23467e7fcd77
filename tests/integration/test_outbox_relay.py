"""The outbox relay against the real RabbitMQ and PostgreSQL."""

import json
import time

import eventlet
import kombu
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from shared.db import Database
from shared.eventstore import PostgresEventStore
from shared.outbox import BrokerPublisher, OutboxRelay
from shared.topology import subscriptions_of
from tests.support.client import wait_for
from tests.unit.eventstore_contract import make_event, new_stream

pytestmark = pytest.mark.integration


@pytest.fixture
def docs_store(pg_dsn):
    db = Database(pg_dsn, "docs")
    store = PostgresEventStore(db)
    store.create_schema()
    yield store
    db.close()


def drain_queue(amqp_uri, queue_name):
    """Every message waiting in ``queue_name``, acked, in arrival order."""
    bodies = []
    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue(queue_name, durable=True, auto_delete=False, no_declare=True)
        simple = conn.SimpleQueue(queue)
        try:
            while True:
                message = simple.get(timeout=1)
                bodies.append(json.loads(message.body))
                message.ack()
        except simple.Empty:
            pass
        finally:
            simple.close()
    return bodies


def test_stored_events_reach_every_subscriber_queue_in_order_even_before_consumers_start(
        docs_store, amqp_uri):
    stream = new_stream()
    events = docs_store.append(stream, 0, [make_event(stream, i) for i in range(7)])
    relay = OutboxRelay(docs_store, BrokerPublisher(amqp_uri, "docs"), batch_size=3)
    try:
        assert relay.drain() == 7
    finally:
        relay.publisher.close()
    assert relay.cursor() == docs_store.head() == 7

    # No consumer has ever run: the relay declared their queues first.
    for sub in subscriptions_of("docs"):
        if sub.event_type not in ("DocumentRegistered", "#"):
            continue
        received = drain_queue(amqp_uri, sub.queue)
        assert [b["event_id"] for b in received] == [e.event_id for e in events], sub.queue
        assert [b["position"] for b in received] == list(range(1, 8))


def test_a_relay_restarted_before_saving_its_cursor_publishes_again_and_loses_nothing(
        docs_store, amqp_uri):
    stream = new_stream()
    docs_store.append(stream, 0, [make_event(stream, i) for i in range(4)])
    first = BrokerPublisher(amqp_uri, "docs")
    # Publish and confirm, then "crash" before the cursor moves:
    first.publish_batch(docs_store.read_all(0, 10))
    first.close()

    relay = OutboxRelay(docs_store, BrokerPublisher(amqp_uri, "docs"))
    try:
        assert relay.cursor() == 0
        assert relay.drain() == 4
    finally:
        relay.publisher.close()
    received = drain_queue(amqp_uri, "evt-docs-#--audit.on_docs_event")
    assert [b["position"] for b in received] == [1, 2, 3, 4, 1, 2, 3, 4]  # at least once


def test_nothing_to_publish_moves_nothing(docs_store, amqp_uri):
    relay = OutboxRelay(docs_store, BrokerPublisher(amqp_uri, "docs"))
    try:
        assert relay.drain() == 0
    finally:
        relay.publisher.close()
    assert relay.cursor() == 0


def test_an_appends_notice_wakes_the_relay_long_before_its_next_poll(docs_store, amqp_uri):
    """The relay LISTENs on its store's channel; each append NOTIFYs in its
    transaction. A committed event is published at once, not at the next poll;
    one appended without a notice waits for that poll."""
    poll = 4.0
    relay = OutboxRelay(docs_store, BrokerPublisher(amqp_uri, "docs"), poll_interval=poll)
    stream = new_stream()
    docs_store.append(stream, 0, [make_event(stream, 0)])
    thread = eventlet.spawn(relay.run)
    try:
        # Published on start: the relay now holds the lock, LISTENs and waits.
        wait_for(lambda: relay.cursor() == 1, what="the first event to be published")

        started = time.monotonic()
        docs_store.append(stream, 1, [make_event(stream, 1)])
        wait_for(lambda: relay.cursor() == 2, interval=0.02, what="the notice to wake it")
        assert time.monotonic() - started < poll / 2

        # The same append with its notice sent where nobody listens: only the poll finds it.
        unheard = PostgresEventStore(docs_store.db)
        unheard.channel = "nobody_listens"
        started = time.monotonic()
        unheard.append(stream, 2, [make_event(stream, 2)])
        wait_for(lambda: relay.cursor() == 3, timeout=2 * poll, interval=0.02,
                 what="the poll to find it")
        assert time.monotonic() - started > poll / 2
    finally:
        thread.kill()
        relay.publisher.close()
    received = drain_queue(amqp_uri, "evt-docs-#--audit.on_docs_event")
    assert [b["position"] for b in received] == [1, 2, 3]



def test_of_two_relays_of_one_service_one_publishes_and_the_other_takes_over(
        docs_store, pg_dsn, amqp_uri):
    """Two processes of docs, each with its relay: the advisory lock lets one
    publish; when it goes (its connection, and so its lock, with it) the other
    takes over from the saved cursor. Every event reaches the queue once."""
    names = ("docs-a", "docs-b")  # each process's connections carry its name
    stores = {n: PostgresEventStore(Database(make_conninfo(pg_dsn, application_name=n), "docs"))
              for n in names}
    relays = {n: OutboxRelay(stores[n], BrokerPublisher(amqp_uri, "docs"), poll_interval=0.2)
              for n in names}
    stream = new_stream()
    docs_store.append(stream, 0, [make_event(stream, i) for i in range(3)])
    cursor = relays["docs-a"].cursor  # one cursor per service, whichever relay moves it
    threads = {n: eventlet.spawn(relays[n].run) for n in names}
    try:
        wait_for(lambda: cursor() == 3, what="the first events to be published")
        [holder] = wait_for(lambda: len(h := lock_holders(pg_dsn)) == 1 and h,
                            what="one relay to hold the lock")
        docs_store.append(stream, 3, [make_event(stream, i) for i in range(3, 6)])
        wait_for(lambda: cursor() == 6, what="the next events to be published")
        assert lock_holders(pg_dsn) == [holder]
        threads[holder].kill()  # the leading process goes: its session and lock end
        [other] = set(names) - {holder}
        wait_for(lambda: lock_holders(pg_dsn) == [other], what="the other relay to take over")
        docs_store.append(stream, 6, [make_event(stream, i) for i in range(6, 9)])
        wait_for(lambda: cursor() == 9, what="the other relay to publish")
    finally:
        for thread in threads.values():
            thread.kill()
        for n in names:
            relays[n].publisher.close()
            stores[n].db.close()
    received = drain_queue(amqp_uri, "evt-docs-#--audit.on_docs_event")
    assert [b["position"] for b in received] == list(range(1, 10))


def lock_holders(dsn):
    """The connections (their application_name) holding docs' relay lock."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND ((l.classid::bigint << 32) | l.objid::bigint)"
            " = hashtext('outbox:docs')::bigint")]
