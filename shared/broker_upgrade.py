"""Bringing a broker an earlier release made up to this release's topology, at start.

RabbitMQ refuses to declare an existing queue with other arguments
(``PRECONDITION_FAILED``): subscriber queues made before they were priority
queues, or before ``QUEUE_TYPE`` became ``quorum``, stop the service that
declares them. And a queue whose subscription was retired keeps receiving
events no one reads. Each service, before it declares anything, therefore:

- for each queue it consumes from or publishes to (``shared.topology``) that
  exists with other arguments: binds a holding queue (the new arguments) in
  its place, moves the old queue's messages there (each confirmed before it
  is acknowledged: none is lost; one may come twice, which the inbox
  absorbs), deletes the old queue, declares it anew and moves the messages
  back. A queue a consumer is still attached to (the old release running)
  is refused loudly: stop the old release first.
- for each retired queue (``topology.RETIRED``) of its own: unbinds it, and
  deletes it if empty; one that still holds messages is left, unbound, with
  a warning naming it and the count (nobody reads them, but they are not
  dropped silently).

One service at a time per queue (its consumer and its source's relay both
declare it): an exclusive queue beside it is the lock. The extra queues'
names keep to the queue names each service's broker user may configure
(``infra/privileges.py``): ``<queue>_upgrading``, ``<queue>_lock``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator

import amqp
import amqp.exceptions
import kombu

from shared.topology import RETIRED, SUBSCRIPTIONS, Subscription, exchange_name, \
    queue_arguments

log = logging.getLogger(__name__)

HOLDING_SUFFIX = "_upgrading"
LOCK_SUFFIX = "_lock"


class TopologyRefused(RuntimeError):
    """The broker cannot be upgraded without losing messages or cutting off a consumer."""


def upgrade_topology(amqp_uri: str, service: str, queue_type: str = "classic",
                     subscriptions: Iterable[Subscription] = SUBSCRIPTIONS,
                     retired: Iterable[Subscription] = RETIRED,
                     lock_wait: float = 60.0) -> list[str]:
    """Make ``service``'s queues match this release; returns what was changed."""
    args = queue_arguments(queue_type)
    mine = [s for s in subscriptions if service in (s.source, s.consumer)]
    done: list[str] = []
    with _connect(amqp_uri) as conn:
        for sub in mine:
            with _locked(conn, sub.queue, lock_wait):
                if _upgrade_queue(conn, sub, args):
                    done.append(f"{sub.queue}: re-declared with {args}")
        for sub in retired:
            if service in (sub.source, sub.consumer):
                with _locked(conn, sub.queue, lock_wait):
                    done += _retire(conn, sub)
    for line in done:
        log.warning("broker upgraded: %s", line)
    return done


def _connect(amqp_uri: str) -> _Closing:
    conn = kombu.Connection(amqp_uri, heartbeat=0)
    conn.connect()
    return _Closing(conn)


class _Closing:
    """The py-amqp connection under kombu's, released on leaving the ``with``."""

    def __init__(self, kombu_conn: kombu.Connection) -> None:
        self.kombu = kombu_conn
        self.raw = kombu_conn.connection

    def channel(self) -> amqp.Channel:
        return self.raw.channel()

    def __enter__(self) -> _Closing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kombu.release()


@contextlib.contextmanager
def _locked(conn: _Closing, queue: str, wait: float) -> Iterator[None]:
    """Hold ``queue``'s lock: an exclusive queue only this connection may declare."""
    deadline = time.monotonic() + wait
    while True:
        channel = conn.channel()
        try:
            channel.queue_declare(queue + LOCK_SUFFIX, exclusive=True, auto_delete=False)
            break
        except amqp.exceptions.ResourceLocked:
            if time.monotonic() > deadline:
                raise TopologyRefused(f"another service has been upgrading {queue} for"
                                      f" {wait:.0f} s") from None
            time.sleep(0.2)
    try:
        yield
    finally:
        channel.queue_delete(queue + LOCK_SUFFIX)
        channel.close()


def _state(conn: _Closing, queue: str) -> tuple[int, int] | None:
    """(messages, consumers) of ``queue``, or None if it does not exist."""
    channel = conn.channel()
    try:
        _, messages, consumers = channel.queue_declare(queue, passive=True)
    except amqp.exceptions.NotFound:
        return None
    channel.close()
    return messages, consumers


def _upgrade_queue(conn: _Closing, sub: Subscription, args: dict) -> bool:
    channel = conn.channel()
    try:
        channel.queue_declare(sub.queue, durable=True, auto_delete=False, arguments=args)
        channel.close()
        return False  # absent (now made) or already as this release declares it
    except amqp.exceptions.PreconditionFailed:
        pass  # the channel is closed by the broker
    _, consumers = _state(conn, sub.queue)
    if consumers:
        raise TopologyRefused(
            f"queue {sub.queue} has {consumers} consumer(s) of the earlier release attached;"
            f" stop them, then start this release (its arguments change to {args})")
    holding = sub.queue + HOLDING_SUFFIX
    channel = conn.channel()
    _declare_bound(channel, holding, sub, args)  # events go on arriving here meanwhile
    channel.queue_unbind(sub.queue, exchange_name(sub.source), routing_key=sub.event_type)
    _move(conn, sub.queue, holding)
    _delete_empty(conn, sub.queue)
    _declare_bound(channel, sub.queue, sub, args)
    channel.queue_unbind(holding, exchange_name(sub.source), routing_key=sub.event_type)
    _move(conn, holding, sub.queue)
    _delete_empty(conn, holding)
    channel.close()
    return True


def _delete_empty(conn: _Closing, queue: str) -> None:
    """Delete ``queue``, unbound and emptied (quorum queues take no if-empty flag)."""
    messages, _ = _state(conn, queue)
    if messages:
        raise TopologyRefused(f"queue {queue} received {messages} message(s) while unbound;"
                              " not deleted, start again")
    channel = conn.channel()
    channel.queue_delete(queue)
    channel.close()


def _declare_bound(channel: amqp.Channel, queue: str, sub: Subscription, args: dict) -> None:
    channel.exchange_declare(exchange_name(sub.source), "topic", durable=True,
                             auto_delete=False)
    channel.queue_declare(queue, durable=True, auto_delete=False, arguments=args)
    channel.queue_bind(queue, exchange_name(sub.source), routing_key=sub.event_type)


def _move(conn: _Closing, source: str, target: str) -> int:
    """Every message of ``source`` into ``target``: published (confirmed), then acked."""
    channel = conn.channel()
    channel.confirm_select()
    moved = 0
    while (message := channel.basic_get(source, no_ack=False)) is not None:
        copy = amqp.Message(message.body, **message.properties)
        channel.basic_publish_confirm(copy, exchange="", routing_key=target)
        channel.basic_ack(message.delivery_tag)
        moved += 1
    channel.close()
    return moved


def _retire(conn: _Closing, sub: Subscription) -> list[str]:
    state = _state(conn, sub.queue)
    if state is None:
        return []
    channel = conn.channel()
    channel.queue_unbind(sub.queue, exchange_name(sub.source), routing_key=sub.event_type)
    messages, consumers = state
    if messages == 0 and consumers == 0:
        channel.queue_delete(sub.queue, if_empty=True, if_unused=True)
        channel.close()
        return [f"{sub.queue}: retired, deleted"]
    channel.close()
    log.error("retired queue %s holds %d message(s) no service reads (%d consumer(s));"
              " unbound, so it receives no more: delete it once they are not needed",
              sub.queue, messages, consumers)
    return [f"{sub.queue}: retired, unbound, {messages} message(s) kept"]
