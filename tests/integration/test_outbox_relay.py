"""The outbox relay against the real RabbitMQ and PostgreSQL."""

import json
import time

import eventlet
import kombu
import pytest

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
