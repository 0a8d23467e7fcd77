"""The outbox relay: stored events to RabbitMQ, in order, confirmed.

Events are never published by the code that creates them. They are stored
first (the event table is the outbox), then this relay reads them after its
cursor, publishes a batch to the service's nameko events exchange with
publisher confirms, waits until the broker has confirmed the whole batch, and
only then moves the cursor. Killed anywhere, it resumes from the last
confirmed position: events may be published twice (consumers' inboxes absorb
that), never lost.

One relay per service publishes at a time: it holds a PostgreSQL advisory
lock on a dedicated connection, which also LISTENs for new-event notices so
that the relay wakes as soon as an append commits.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import amqp
import kombu
import psycopg

from shared.failpoints import failpoint
from shared.topology import exchange_name, priority_of, queue_arguments, subscriptions_of

if TYPE_CHECKING:
    from shared.envelope import Event
    from shared.eventstore import PostgresEventStore

log = logging.getLogger(__name__)


class PublishFailed(Exception):
    pass


def send_to_queue(amqp_uri: str, queue: str, payload: Mapping[str, Any]) -> None:
    """Publish an event's wire form straight into ``queue`` (the default exchange),
    as the relay would have, and wait for the broker's confirm."""
    with kombu.Connection(amqp_uri, heartbeat=0) as conn:
        conn.connect()
        channel = conn.connection.channel()
        channel.queue_declare(queue, passive=True)  # raises if it does not exist
        channel.confirm_select()
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        channel.basic_publish_confirm(amqp.Message(
            body, content_type="application/json", content_encoding="utf-8",
            delivery_mode=2, message_id=payload.get("event_id"),
            priority=priority_of(payload.get("data") or {}),
            application_headers={"nameko.correlation_id": payload.get("correlation_id")},
        ), exchange="", routing_key=queue)
        channel.close()


class BrokerPublisher:
    """Publishes envelopes to ``{service}.events`` and waits for confirms per batch."""

    def __init__(self, amqp_uri: str, service: str, confirm_timeout: float = 30,
                 queue_type: str = "classic"):
        self.amqp_uri, self.service = amqp_uri, service
        self.confirm_timeout = confirm_timeout
        self.queue_arguments = queue_arguments(queue_type)
        self._conn = None
        self._channel = None

    def connect(self) -> None:
        self._conn = kombu.Connection(self.amqp_uri, heartbeat=0)
        self._conn.connect()
        raw = self._conn.connection  # the py-amqp connection under kombu
        self._channel = raw.channel()
        exchange = kombu.Exchange(exchange_name(self.service), type="topic", durable=True)
        exchange(self._channel).declare()
        for sub in subscriptions_of(self.service):
            kombu.Queue(sub.queue, exchange=exchange, routing_key=sub.event_type,
                        durable=True, auto_delete=False,
                        queue_arguments=self.queue_arguments)(self._channel).declare()
        self._channel.confirm_select()
        self._next_tag = 1  # delivery tags count from 1 on a channel in confirm mode
        self._unconfirmed = set()
        self._nacked = 0
        self._channel.events["basic_ack"].add(self._on_ack)
        self._channel.events["basic_nack"].add(self._on_nack)

    def _settle(self, delivery_tag, multiple):
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag, multiple):
        self._nacked += 1
        self._settle(delivery_tag, multiple)

    def publish_batch(self, events: Iterable[Event]) -> None:
        """Publish in order; return once the broker has confirmed every one."""
        if self._channel is None:
            self.connect()
        for event in events:
            body = json.dumps(event.to_wire(), ensure_ascii=False).encode("utf-8")
            message = amqp.Message(
                body, content_type="application/json", content_encoding="utf-8",
                delivery_mode=2, message_id=event.event_id, priority=priority_of(event.data),
                application_headers={"nameko.correlation_id": event.correlation_id},
            )
            self._channel.basic_publish(message, exchange=exchange_name(self.service),
                                        routing_key=event.event_type)
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
        deadline = time.monotonic() + self.confirm_timeout
        while self._unconfirmed:
            if time.monotonic() > deadline:
                raise PublishFailed("broker did not confirm the batch in time")
            self._conn.connection.drain_events(timeout=1)
        if self._nacked:
            nacked, self._nacked = self._nacked, 0
            raise PublishFailed(f"broker refused {nacked} message(s)")

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.release()
            except Exception:  # closing a dead connection: nothing to save
                pass
        self._conn = self._channel = None


class OutboxRelay:
    def __init__(self, store: PostgresEventStore, publisher: BrokerPublisher,
                 batch_size: int = 500, poll_interval: float = 1.0):
        self.store, self.publisher = store, publisher
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self.cursor_name = f"relay:{publisher.service}"
        self._running = False

    def cursor(self, conn: psycopg.Connection[Any] | None = None) -> int:
        with self.store._tx(conn) as c:
            row = c.execute("SELECT position FROM outbox_cursor WHERE name = %s",
                            (self.cursor_name,)).fetchone()
        return row[0] if row else 0

    def _save_cursor(self, position):
        with self.store.db.transaction() as c:
            c.execute(
                "INSERT INTO outbox_cursor (name, position) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
                (self.cursor_name, position))

    def publish_pending(self) -> int:
        """Publish one batch after the cursor; returns how many were confirmed."""
        events = self.store.read_all(self.cursor(), self.batch_size)
        if not events:
            return 0
        failpoint("outbox.before_publish")
        self.publisher.publish_batch(events)
        failpoint("outbox.after_publish")
        self._save_cursor(events[-1].position)
        return len(events)

    def drain(self) -> int:
        total = 0
        while (n := self.publish_pending()):
            total += n
        return total

    def run(self) -> None:
        """Loop until :meth:`stop`: lead (advisory lock), wait for notices, publish."""
        self._running = True
        while self._running:
            try:
                self._lead()
            except Exception:
                log.exception("outbox relay of %s failed; retrying", self.publisher.service)
                self.publisher.close()
                _sleep(min(self.poll_interval * 2, 5))

    def stop(self) -> None:
        self._running = False

    def _lead(self):
        db = self.store.db
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                               (f"outbox:{db.schema}",)).fetchone()[0]
            if not got:  # another instance of this service relays
                _sleep(self.poll_interval)
                return
            conn.execute(f'LISTEN "{self.store.channel}"')
            while self._running:
                self.drain()
                # Wake on the next append's notice, or poll in case one was missed.
                for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                    pass


def _sleep(seconds):
    time.sleep(seconds)
