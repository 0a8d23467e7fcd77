"""Once-only handling of consumed events (:class:`ServiceEvents`): the inbox,
failed attempts with back-off, dead letters, and the quarantine of events a
consumer must not apply."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from shared import errors
from shared.events import data_problem
from shared.eventsig import SignatureInvalid, TrustedKeys, authenticate
from shared.failpoints import failpoint
from shared.migrations import initial
from shared.outbox import send_to_queue
from shared.topology import SUBSCRIPTIONS, Subscription, queue_of
from shared.wire import event_from_dict

if TYPE_CHECKING:
    import psycopg

    from shared.db import Database
    from shared.envelope import Event
    from shared.eventstore import PostgresEventStore

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    id          bigserial PRIMARY KEY,
    consumer    text NOT NULL,
    reason      text NOT NULL,
    payload     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
-- Failed attempts per consumer and event; past the limit, the event is
-- dead-lettered: kept for an operator to see and replay, and acked.
CREATE TABLE IF NOT EXISTS attempts (
    consumer   text NOT NULL,
    event_id   uuid NOT NULL,
    count      integer NOT NULL,
    last_error text NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id          bigserial PRIMARY KEY,
    consumer    text NOT NULL,
    event_id    uuid NOT NULL,
    payload     jsonb NOT NULL,
    error       text NOT NULL,
    attempts    integer NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
"""
QUARANTINE_MIGRATIONS = initial("quarantine", QUARANTINE_DDL)

MAX_ATTEMPTS = 5


def backoff_seconds(attempt: int) -> float:
    """0.5 s, 1 s, 2 s, ... capped at 30 s before the broker redelivers."""
    return min(0.5 * 2 ** (attempt - 1), 30.0)


def record_quarantine(db: Database, consumer: str, reason: str, payload: Any) -> None:
    """Keep an event ``consumer`` must not apply, with the reason, and say so loudly."""
    log.error("%s: quarantined an event it must not apply: %s", consumer, reason)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO quarantine (consumer, reason, payload) VALUES (%s, %s, %s)",
            (consumer, reason, json.dumps(payload, ensure_ascii=False, default=str)))


class ServiceEvents:
    """What a worker sees: its service's store, transactions, once-only handling
    of authenticated events.

    ``trusted`` holds the producers' provisioned keys (none: every event is
    refused); ``subscriptions`` say which source each consumer listens to;
    ``on_quarantine(consumer)`` counts a refusal (a Prometheus counter).
    """

    def __init__(self, store: PostgresEventStore, service: str,
                 max_attempts: int = MAX_ATTEMPTS, amqp_uri: str | None = None,
                 trusted: TrustedKeys | None = None,
                 subscriptions: Sequence[Subscription] = SUBSCRIPTIONS,
                 on_quarantine: Callable[[str], object] | None = None):
        self.store, self.service = store, service
        self.db = store.db
        self.max_attempts = max_attempts
        self.amqp_uri = amqp_uri
        self.trusted = trusted if trusted is not None else TrustedKeys()
        self.subscriptions = subscriptions
        self.on_quarantine = on_quarantine

    def transaction(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self.db.transaction()

    def writing(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A command's transaction, in the service's commit group."""
        return self.store.writing()

    def append(self, stream_id: str, expected_version: int, events: Sequence[Event],
               conn: psycopg.Connection[Any] | None = None) -> list[Event]:
        return self.store.append(stream_id, expected_version, events, conn=conn)

    def read_stream(self, stream_id: str) -> list[Event]:
        return self.store.read_stream(stream_id)

    def handle_once(self, consumer: str, payload: Any,
                    effects: Callable[[Event, psycopg.Connection[Any]], _Result]
                    ) -> _Result | None:
        """Run ``effects(event, conn)`` once per event id for ``consumer``.

        The inbox row and the effects commit in one transaction: a redelivered
        or republished event finds its row and changes nothing. A payload that
        is not a valid envelope, or not authenticated (:meth:`refusal`), is
        quarantined (kept, visible, alerted), not retried, and not claimed in
        the inbox: the genuine event of that id is still handled when it comes.
        """
        try:
            event = event_from_dict(payload)
        except errors.ValidationFailed as err:
            self.quarantine(consumer, str(err), payload)
            return None
        problem = self.refusal(consumer, event)
        if problem:
            self.quarantine(consumer, problem, payload)
            return None
        try:
            with self.db.transaction() as conn:
                if not self.store.claim(consumer, event.event_id, conn=conn):
                    log.info("%s: event %s already handled", consumer, event.event_id)
                    return None
                result = effects(event, conn)
        except Exception as err:
            self._failed(consumer, event, payload, err)  # raises to requeue, or dead-letters
            return None
        failpoint(f"inbox.after_commit.{consumer}")
        return result

    def refusal(self, consumer: str, event: Event) -> str | None:
        """Why ``consumer`` must not apply ``event`` (None: it may): unsigned, not
        signed by a provisioned key of its producer, a type its producer does not
        produce (``shared.catalogue``), not from the source subscribed to, or
        without the data its consumers rely on (``shared.events``)."""
        service, _, method = consumer.partition(".")
        subscription = next((s for s in self.subscriptions
                             if (s.consumer, s.method) == (service, method)), None)
        if subscription is None:
            return f"{consumer} subscribes to no events"
        try:
            authenticate(event, self.trusted, subscription.source, subscription.event_type)
        except SignatureInvalid as err:
            return str(err)
        # What the consumer relies on (shared.events): a dropped field is named
        # here, not met as a KeyError deep in a handler.
        problem = data_problem(event.event_type, event.data, consumer)
        if problem:
            return (f"event {event.event_id} ({event.event_type}) lacks what {consumer}"
                    f" relies on: {problem}")
        return None

    def _failed(self, consumer, event, payload, err):
        """Count the failure; requeue after a back-off, or dead-letter past the limit.

        If the database itself is down, counting fails too and the message is
        requeued: an outage is not a reason to give an event up.
        """
        with self.db.transaction() as conn:
            attempt = conn.execute(
                "INSERT INTO attempts VALUES (%s, %s, 1, %s) ON CONFLICT (consumer, event_id)"
                " DO UPDATE SET count = attempts.count + 1, last_error = EXCLUDED.last_error"
                " RETURNING count", (consumer, event.event_id, repr(err))).fetchone()[0]
            if attempt >= self.max_attempts:
                conn.execute(
                    "INSERT INTO dead_letters (consumer, event_id, payload, error, attempts)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (consumer, event.event_id, json.dumps(payload, ensure_ascii=False,
                                                          default=str), repr(err), attempt))
                conn.execute("DELETE FROM attempts WHERE consumer = %s AND event_id = %s",
                             (consumer, event.event_id))
        if attempt >= self.max_attempts:
            log.error("%s: event %s dead-lettered after %d attempts: %r", consumer,
                      event.event_id, attempt, err)
            return
        log.warning("%s: event %s failed (attempt %d of %d): %r", consumer, event.event_id,
                    attempt, self.max_attempts, err)
        time.sleep(backoff_seconds(attempt))
        raise err

    def dead_letters(self, consumer_prefix: str = "") -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, consumer, event_id, error, attempts, failed_at, replayed_at"
                " FROM dead_letters WHERE consumer LIKE %s ORDER BY id",
                (consumer_prefix + "%",)).fetchall()
        return [{"id": r[0], "consumer": r[1], "event_id": str(r[2]), "error": r[3],
                 "attempts": r[4], "failed_at": r[5].isoformat(),
                 "replayed_at": r[6].isoformat() if r[6] else None} for r in rows]

    def replay_dead_letter(self, letter_id: int,
                           publish: Callable[[str, Any], object] | None = None
                           ) -> dict[str, Any]:
        """Send a dead-lettered event back to its consumer's own queue (an
        operator's call, once the cause is fixed): the consumer's entrypoint
        handles it as any event, once. ``publish(queue, payload)`` defaults to
        the broker; the letter is marked replayed only once it is confirmed."""
        if not isinstance(letter_id, int) or isinstance(letter_id, bool):
            raise errors.ValidationFailed("id: a dead letter's number", field="id")
        publish = publish or (lambda queue, payload: send_to_queue(self.amqp_uri, queue,
                                                                  payload))
        with self.db.transaction() as conn:
            row = conn.execute("SELECT consumer, payload FROM dead_letters WHERE id = %s"
                               " AND replayed_at IS NULL FOR UPDATE", (letter_id,)).fetchone()
            if row is None:
                raise errors.NotFound(f"no dead letter {letter_id} waiting for replay",
                                      field="id")
            consumer, payload = row
            queue = queue_of(consumer, payload.get("producer"), payload.get("event_type"))
            if queue is None:
                raise errors.Conflict(f"id: {consumer} no longer subscribes to"
                                      f" {payload.get('producer')}.{payload.get('event_type')}",
                                      field="id")
            publish(queue, payload)
            conn.execute("UPDATE dead_letters SET replayed_at = now() WHERE id = %s",
                         (letter_id,))
        return {"id": letter_id, "consumer": consumer, "queue": queue}

    def quarantine(self, consumer: str, reason: str, payload: Any) -> None:
        record_quarantine(self.db, consumer, reason, payload)
        if self.on_quarantine is not None:
            self.on_quarantine(consumer)

    def quarantined(self, consumer_prefix: str = "", limit: int = 100) -> list[dict[str, Any]]:
        return self.quarantined_in(self.db, consumer_prefix, limit)

    @staticmethod
    def quarantined_in(db: Database, consumer_prefix: str = "",
                       limit: int = 100) -> list[dict[str, Any]]:
        """The latest quarantined events of the consumers named ``consumer_prefix...``:
        what they claimed to be (id, producer, type) and why they were refused."""
        with db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, consumer, reason, payload, received_at FROM quarantine"
                " WHERE consumer LIKE %s ORDER BY id DESC LIMIT %s",
                (consumer_prefix + "%", limit)).fetchall()
        listed = []
        for id_, consumer, reason, payload, received_at in rows:
            try:
                claimed = json.loads(payload)
            except ValueError:
                claimed = None
            claimed = claimed if isinstance(claimed, dict) else {}
            # What the payload claims, as text cut short (it is not to be believed).
            listed.append({"id": id_, "consumer": consumer, "reason": reason,
                           **{k: None if claimed.get(k) is None else str(claimed[k])[:200]
                              for k in ("event_id", "producer", "event_type")},
                           "received_at": received_at.isoformat()})
        return listed
