"""A broker an earlier release made, brought up to this release's topology at
start (shared/broker_upgrade.py), on the real RabbitMQ (a vhost of its own)."""

import json

import amqp
import amqp.exceptions
import kombu
import pytest

from shared.broker_upgrade import TopologyRefused, upgrade_topology
from shared.topology import MAX_PRIORITY, RETIRED, Subscription, exchange_name

pytestmark = pytest.mark.integration

SIGNED = Subscription("signing", "DocumentSigned", "docs", "on_document_signed")
[DELIVERED] = RETIRED


@pytest.fixture
def broker(amqp_uri):
    conn = kombu.Connection(amqp_uri, heartbeat=0)
    conn.connect()
    yield conn.connection
    conn.release()


def old_queue(raw, sub, arguments=None):
    """A subscriber queue as an earlier release declared it (no priorities)."""
    channel = raw.channel()
    channel.exchange_declare(exchange_name(sub.source), "topic", durable=True,
                             auto_delete=False)
    channel.queue_declare(sub.queue, durable=True, auto_delete=False, arguments=arguments)
    channel.queue_bind(sub.queue, exchange_name(sub.source), routing_key=sub.event_type)
    channel.close()


def publish(raw, sub, n):
    channel = raw.channel()
    channel.confirm_select()
    channel.basic_publish_confirm(amqp.Message(
        json.dumps({"n": n}), content_type="application/json", message_id=f"m{n}",
        application_headers={"nameko.correlation_id": f"c{n}"}),
        exchange=exchange_name(sub.source), routing_key=sub.event_type)
    channel.close()


def drain(raw, queue):
    channel = raw.channel()
    got = []
    while (message := channel.basic_get(queue, no_ack=True)) is not None:
        got.append((json.loads(message.body)["n"], message.properties["message_id"],
                    message.properties["application_headers"]["nameko.correlation_id"]))
    channel.close()
    return got


def declare_as_this_release(raw, queue):
    """(messages) — declaring with this release's arguments must now succeed."""
    channel = raw.channel()
    _, messages, _ = channel.queue_declare(queue, durable=True, auto_delete=False,
                                           arguments={"x-max-priority": MAX_PRIORITY})
    channel.close()
    return messages


def exists(raw, queue):
    channel = raw.channel()
    try:
        channel.queue_declare(queue, passive=True)
    except amqp.exceptions.NotFound:
        return False
    channel.close()
    return True


def test_an_old_queue_gets_the_new_arguments_and_keeps_its_messages(broker, amqp_uri):
    old_queue(broker, SIGNED)
    for n in (1, 2):
        publish(broker, SIGNED, n)
    with pytest.raises(amqp.exceptions.PreconditionFailed):  # what stopped the service
        declare_as_this_release(broker, SIGNED.queue)

    changed = upgrade_topology(amqp_uri, "docs")

    assert changed == [f"{SIGNED.queue}: re-declared with {{'x-max-priority': 3}}"]
    assert declare_as_this_release(broker, SIGNED.queue) == 2
    publish(broker, SIGNED, 3)  # still bound to signing's exchange
    assert drain(broker, SIGNED.queue) == [(1, "m1", "c1"), (2, "m2", "c2"), (3, "m3", "c3")]
    assert not exists(broker, SIGNED.queue + "_upgrading")
    assert not exists(broker, SIGNED.queue + "_lock")
    assert upgrade_topology(amqp_uri, "docs") == []  # the next start changes nothing


def test_a_retired_queue_is_deleted_when_empty(broker, amqp_uri):
    old_queue(broker, DELIVERED, {"x-max-priority": MAX_PRIORITY})
    assert upgrade_topology(amqp_uri, "routing") == [f"{DELIVERED.queue}: retired, deleted"]
    assert not exists(broker, DELIVERED.queue)


def test_a_retired_queue_with_messages_is_unbound_and_kept(broker, amqp_uri):
    old_queue(broker, DELIVERED)
    publish(broker, DELIVERED, 1)
    assert upgrade_topology(amqp_uri, "docs") == [
        f"{DELIVERED.queue}: retired, unbound, 1 message(s) kept"]
    publish(broker, DELIVERED, 2)  # no longer routed there
    assert drain(broker, DELIVERED.queue) == [(1, "m1", "c1")]


def test_a_queue_an_old_consumer_still_reads_is_refused_loudly(broker, amqp_uri):
    old_queue(broker, SIGNED)
    publish(broker, SIGNED, 1)
    channel = broker.channel()
    channel.basic_consume(SIGNED.queue, callback=lambda message: None)
    with pytest.raises(TopologyRefused, match=f"queue {SIGNED.queue} has 1 consumer"):
        upgrade_topology(amqp_uri, "docs", lock_wait=1)
    channel.close()
    assert drain(broker, SIGNED.queue) == [(1, "m1", "c1")]  # nothing lost


def test_switching_to_quorum_queues_moves_the_messages_too(broker, amqp_uri):
    old_queue(broker, SIGNED, {"x-max-priority": MAX_PRIORITY})
    publish(broker, SIGNED, 1)
    upgrade_topology(amqp_uri, "signing", queue_type="quorum")
    channel = broker.channel()
    _, messages, _ = channel.queue_declare(SIGNED.queue, durable=True, auto_delete=False,
                                           arguments={"x-queue-type": "quorum"})
    channel.close()
    assert messages == 1 and drain(broker, SIGNED.queue) == [(1, "m1", "c1")]
