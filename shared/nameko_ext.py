"""nameko adapters: the only place the services meet the framework.

- :class:`EventStoreProvider` gives a worker its service's event store and
  runs the outbox relay in a managed thread for the container's lifetime.
- :class:`Authenticator` checks the gateway's assertion for the call (RPC
  context data or the HTTP ``Authorization`` header) on every request;
  :class:`AssertingClusterRpcProxy` sends one, freshly minted, with each call.
- :func:`json_http` is an ``@http`` entrypoint whose errors are JSON in the
  one error format ``{"code", "message", "field"}``.
- Our errors are registered so that an RPC caller gets the same class back.
"""

import json
import logging
import time

import amqp.exceptions
import eventlet
import kombu.exceptions
import psycopg
from nameko import rpc as nameko_rpc
from nameko.events import EventHandler
from nameko.exceptions import RpcTimeout, registry as remote_error_registry
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, ServiceProxy
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.timer import timer
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from shared import auth, errors
from shared.auth import require_role
from shared.broker_upgrade import upgrade_topology
from shared.catalogue import PRODUCERS
from shared.db import Database
from shared.envelope import event_from_dict
from shared.events import data_problem
from shared.eventsig import (SignatureInvalid, TrustedKeys, authenticate, signer_at_start,
                             trusted_at_start)
from shared.eventstore import EVENT_STORE_MIGRATIONS, PostgresEventStore
from shared.failpoints import failpoint
from shared.groupcommit import GroupCommitter
from shared.migrations import Component, initial, migrate
from shared.observability import Correlation, Metrics
from shared.outbox import BrokerPublisher, OutboxRelay, send_to_queue
from shared.topology import SUBSCRIPTIONS, queue_arguments, queue_of, queue_type_of
from shared.uploads import PendingUploads, UploadSettings

log = logging.getLogger(__name__)

for _cls in (errors.ValidationFailed, errors.Unauthenticated, errors.Forbidden,
             errors.NotFound, errors.Conflict, errors.PayloadTooLarge,
             errors.UnsupportedMediaType, errors.StorageError, errors.ServiceUnavailable):
    remote_error_registry[f"{_cls.__module__}.{_cls.__name__}"] = _cls

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


def backoff_seconds(attempt):
    """0.5 s, 1 s, 2 s, ... capped at 30 s before the broker redelivers."""
    return min(0.5 * 2 ** (attempt - 1), 30.0)


def record_quarantine(db, consumer, reason, payload):
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

    def __init__(self, store, service, max_attempts=MAX_ATTEMPTS, amqp_uri=None,
                 trusted=None, subscriptions=SUBSCRIPTIONS, on_quarantine=None):
        self.store, self.service = store, service
        self.db = store.db
        self.max_attempts = max_attempts
        self.amqp_uri = amqp_uri
        self.trusted = trusted if trusted is not None else TrustedKeys()
        self.subscriptions = subscriptions
        self.on_quarantine = on_quarantine

    def transaction(self):
        return self.db.transaction()

    def writing(self):
        """A command's transaction, in the service's commit group."""
        return self.store.writing()

    def append(self, stream_id, expected_version, events, conn=None):
        return self.store.append(stream_id, expected_version, events, conn=conn)

    def read_stream(self, stream_id):
        return self.store.read_stream(stream_id)

    def handle_once(self, consumer, payload, effects):
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

    def refusal(self, consumer, event):
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

    def dead_letters(self, consumer_prefix=""):
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, consumer, event_id, error, attempts, failed_at, replayed_at"
                " FROM dead_letters WHERE consumer LIKE %s ORDER BY id",
                (consumer_prefix + "%",)).fetchall()
        return [{"id": r[0], "consumer": r[1], "event_id": str(r[2]), "error": r[3],
                 "attempts": r[4], "failed_at": r[5].isoformat(),
                 "replayed_at": r[6].isoformat() if r[6] else None} for r in rows]

    def replay_dead_letter(self, letter_id, publish=None):
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

    def quarantine(self, consumer, reason, payload):
        record_quarantine(self.db, consumer, reason, payload)
        if self.on_quarantine is not None:
            self.on_quarantine(consumer)

    def quarantined(self, consumer_prefix="", limit=100):
        return self.quarantined_in(self.db, consumer_prefix, limit)

    @staticmethod
    def quarantined_in(db, consumer_prefix="", limit=100):
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


class EventStoreProvider(DependencyProvider):
    """The service's PostgreSQL schema, event store and outbox relay.

    Config: ``POSTGRES_DSN``, ``AMQP_URI``, ``EVENT_KEYS_DIR`` and
    ``EVENT_KEY_PASSPHRASE`` (the provisioned key that signs this service's
    events), ``EVENT_TRUST_FILE`` (the producers' provisioned public keys, which
    every consumed event is checked against), ``DEV_MODE``. A missing key,
    passphrase or trust entry refuses to start (see ``shared.eventsig``).
    ``migrations`` are the service's own schema components (its projections;
    the shared upload intents if it uses them), applied at start-up after the
    event store's and quarantine's (``shared.migrations``); ``ddl`` alone is
    taken as the service's migration 1.
    """

    def __init__(self, ddl: str = "", relay: bool = True,
                 migrations: tuple[Component, ...] = ()) -> None:
        self.ddl, self.relay_enabled = ddl, relay
        self.migrations = migrations
        self.relay = None
        self._relay_thread = None

    def setup(self):
        config = self.container.config
        service = self.container.service_name
        # Keys first: a service that cannot sign nor check events does not start.
        self.trusted = trusted_at_start(config)
        # A service the catalogue lists as producing nothing holds no event key.
        signer = (signer_at_start(config, service, self.trusted) if service in PRODUCERS
                  else None)
        self.db = Database(config["POSTGRES_DSN"], schema=service,
                           max_size=int(config.get("DB_POOL_SIZE", 10)))
        retry_until_ready(lambda: migrate(config["POSTGRES_DSN"], service,
                                          self.schema_components(service)),
                          what="PostgreSQL")
        # GROUP_COMMIT=true: the commands of this process share commits. Off by
        # default: on this machine's fast WAL flush it was not faster (README, Benchmarks).
        group = (GroupCommitter(self.db) if str(config.get("GROUP_COMMIT", False)).lower()
                 in ("true", "1", "yes") else None)
        self.store = PostgresEventStore(self.db, signer=signer, group=group)
        if config.get("AMQP_URI"):  # before any queue is declared (ours or the relay's)
            upgrade_broker(config, service)
        if self.relay_enabled:
            publisher = BrokerPublisher(config["AMQP_URI"], service,
                                        queue_type=queue_type_of(config))
            self.relay = OutboxRelay(self.store, publisher,
                                     poll_interval=float(config.get("RELAY_POLL_SECONDS", 1.0)))

    def schema_components(self, service: str) -> list[Component]:
        own = list(self.migrations) or ([initial(service, self.ddl)] if self.ddl else [])
        return [EVENT_STORE_MIGRATIONS, QUARANTINE_MIGRATIONS, *own]

    def start(self):
        if self.relay is not None:
            self._relay_thread = self.container.spawn_managed_thread(self.relay.run)

    def stop(self):
        if self.relay is not None:
            self.relay.stop()
            self._relay_thread.wait()
            self.relay.publisher.close()
        self.db.close()

    def kill(self):
        if self.relay is not None:
            self.relay.stop()
        self.db.close()

    def get_dependency(self, worker_ctx):
        config = self.container.config
        return ServiceEvents(self.store, self.container.service_name,
                             int(config.get("MAX_ATTEMPTS", MAX_ATTEMPTS)),
                             amqp_uri=config.get("AMQP_URI"), trusted=self.trusted,
                             on_quarantine=self._count_quarantined)

    def _count_quarantined(self, consumer):
        for dependency in self.container.dependencies:
            if isinstance(dependency, Metrics):
                dependency.events_quarantined.labels(self.container.service_name,
                                                     consumer).inc()


def upgrade_broker(config, service: str) -> None:
    """Queues an earlier release made, brought to this release's arguments (and
    retired ones removed) before the service declares them. A refusal (an old
    consumer still attached) is tried again for half a minute, for the old
    release to stop, then stops this start loudly."""
    retry_until_ready(lambda: upgrade_topology(config["AMQP_URI"], service,
                                               queue_type_of(config)), what="RabbitMQ")


def retry_until_ready(action, what, attempts=30, delay=1.0):
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as err:  # a server still starting: wait, then give up loudly
            if attempt == attempts:
                raise
            log.warning("%s not ready (%s); retry %d/%d", what, err, attempt, attempts)
            time.sleep(delay)


# -- RPC that neither hangs nor dies -------------------------------------------------

# A call waits this long for its answer (config ``RPC_TIMEOUT_SECONDS``), the
# calls that walk a whole log or a whole province this long.
RPC_TIMEOUT_SECONDS = 30.0
SLOW_RPC_TIMEOUT_SECONDS = 120.0
SLOW_CALLS = frozenset({"routing.send", "routing.import_edxml", "routing.export_edxml",
                        "audit.verify", "audit.evidence_bundle", "audit.reconcile"})

# Failures of a server the request needs (the broker, the database), not of the
# request: the caller gets a 503 and may retry.
TRANSIENT = (ConnectionError, TimeoutError, kombu.exceptions.OperationalError,
             amqp.exceptions.RecoverableConnectionError, psycopg.OperationalError)


def unavailable(err):
    """``err`` as a :class:`errors.ServiceUnavailable` if a server was down, else None."""
    if isinstance(err, errors.ServiceUnavailable):
        return err
    if isinstance(err, psycopg.OperationalError):
        return errors.ServiceUnavailable("the database cannot be reached; try again shortly")
    if isinstance(err, TRANSIENT):
        return errors.ServiceUnavailable("the message broker cannot be reached; try again"
                                         " shortly")
    return None


def rpc_timeout(config, service, method):
    if f"{service}.{method}" in SLOW_CALLS:
        return float(config.get("SLOW_RPC_TIMEOUT_SECONDS", SLOW_RPC_TIMEOUT_SECONDS))
    return float(config.get("RPC_TIMEOUT_SECONDS", RPC_TIMEOUT_SECONDS))


class _SurvivingRpcConsumer(nameko_rpc.RpcConsumer):
    """nameko's RPC consumer, except that a reply the broker cannot take does not
    kill the service (in nameko 2.14 the error ends the container: the process
    exits). The request stays unacknowledged, so the broker hands it out again
    once it is back; every command is idempotent or refused the second time."""

    def setup(self):
        super().setup()
        if queue_type_of(self.container.config) == "quorum":  # requests survive a node
            self.queue.queue_arguments = {"x-queue-type": "quorum"}

    def handle_result(self, message, result, exc_info):
        try:
            return super().handle_result(message, result, exc_info)
        except TRANSIENT as err:
            log.warning("reply to %s not sent (%s); the request will be redelivered",
                        message.delivery_info.get("routing_key"), err)
            try:
                self.queue_consumer.requeue_message(message)
            except Exception:  # the channel died with the broker: it requeues by itself
                pass
            return result, exc_info


class Rpc(nameko_rpc.Rpc):
    """``@rpc``: a server failure (broker, database) reaches the caller as
    :class:`errors.ServiceUnavailable`, not as an anonymous remote error, and a
    lost reply is survived (:class:`_SurvivingRpcConsumer`)."""

    rpc_consumer = _SurvivingRpcConsumer()

    def handle_result(self, message, worker_ctx, result, exc_info):
        if exc_info is not None and (mapped := unavailable(exc_info[1])) is not None \
                and mapped is not exc_info[1]:
            log.warning("%s: %s", self.method_name, exc_info[1])
            exc_info = (type(mapped), mapped, exc_info[2])
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = Rpc.decorator


class Authenticator(DependencyProvider):
    """``self.auth.actor()`` in an RPC worker, ``self.auth.actor(request)`` over HTTP.

    The caller sends a gateway assertion for exactly this service and this
    entrypoint (RPC context data ``authorization``, or ``Authorization: Bearer``);
    it is checked with the gateway's public key (config ``GATEWAY_PUBLIC_KEY``),
    and accepted once. The service holds nothing that could make one.
    """

    def setup(self):
        self.public_key = auth.load_public_key(self.container.config.get("GATEWAY_PUBLIC_KEY"))
        self.replays = auth.ReplayGuard()

    def get_dependency(self, worker_ctx):
        provider, context = self, worker_ctx.context_data
        service, method = self.container.service_name, worker_ctx.entrypoint.method_name
        verified = {}

        class _Auth:
            @staticmethod
            def claims(request=None):
                if "claims" not in verified:  # once per worker: the jti is spent on first use
                    if request is not None:
                        header = request.headers.get("Authorization", "")
                        token = header[7:] if header.startswith("Bearer ") else None
                    else:
                        token = context.get("authorization")
                    claims = auth.verify_assertion(provider.public_key, token, service, method)
                    actor = auth.actor_of(claims)
                    provider.replays.admit(claims)
                    verified.update(claims=claims, actor=actor)
                return verified["claims"]

            @staticmethod
            def actor(request=None):
                _Auth.claims(request)
                return verified["actor"]

            @staticmethod
            def onward():
                """A proxy calling other services with the assertions the gateway
                made for this call's onward calls (``shared.auth.ONWARD``)."""
                assertions = _Auth.claims().get("onward", {})

                def mint(target, name):
                    try:
                        return assertions[f"{target}.{name}"]
                    except KeyError:
                        raise errors.Forbidden(f"{service}.{method} may not call"
                                               f" {target}.{name} for its caller",
                                               field="authorization") from None
                config = provider.container.config
                return AssertingClusterRpcProxy({"AMQP_URI": config["AMQP_URI"]}, mint,
                                                timeouts=lambda s, m: rpc_timeout(config, s, m))

        return _Auth()


class _AssertingMethodProxy(MethodProxy):
    """Sends a fresh assertion for this very method in the ``authorization`` header,
    and never waits for ever: past ``timeout`` seconds, or when the broker cannot
    take the request, the caller gets :class:`errors.ServiceUnavailable`.
    ``limit`` (a semaphore) bounds the calls in flight to one service, so a slow
    service cannot hold all of the caller's workers."""

    def __init__(self, mint, *args, timeout=None, limit=None, **kwargs):
        self.mint, self.timeout, self.limit = mint, timeout, limit
        super().__init__(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        where = f"{self.service_name}.{self.method_name}"
        if self.limit is not None and not self.limit.acquire(blocking=False):
            raise errors.ServiceUnavailable(f"{self.service_name} is busy: too many calls"
                                            " waiting for it")
        timer = eventlet.Timeout(self.timeout) if self.timeout else None
        try:
            return super().__call__(*args, **kwargs)
        except (eventlet.Timeout, RpcTimeout) as err:
            if isinstance(err, eventlet.Timeout) and err is not timer:
                raise
            raise errors.ServiceUnavailable(f"{where} did not answer within {self.timeout:g} s") from None
        except TRANSIENT as err:
            log.warning("%s: %s", where, err)
            raise unavailable(err) from None
        finally:
            if timer is not None:
                timer.cancel()
            if self.limit is not None:
                self.limit.release()

    def get_message_headers(self, worker_ctx):
        headers = super().get_message_headers(worker_ctx)
        assertion = self.mint(self.service_name, self.method_name)
        if assertion:
            headers[self._get_header_name("authorization")] = assertion
        return headers


class AssertingServiceProxy(ServiceProxy):
    """A ``ServiceProxy`` whose every call carries ``mint(service, method)``."""

    def __init__(self, mint, *args, timeouts=None, limit=None, **kwargs):
        self.mint, self.timeouts, self.limit = mint, timeouts, limit
        super().__init__(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        timeout = self.timeouts(self.service_name, name) if self.timeouts else None
        return _AssertingMethodProxy(self.mint, self.worker_ctx, self.service_name, name,
                                     self.reply_listener, timeout=timeout, limit=self.limit,
                                     **self.options)


class AssertingClusterRpcProxy(ClusterRpcProxy):
    """``ClusterRpcProxy`` whose calls each carry ``mint(service, method)``;
    ``timeouts(service, method)``, if given, bounds each call's wait."""

    def __init__(self, config, mint, timeouts=None, **kwargs):
        super().__init__(config, **kwargs)
        worker_ctx, listener = self._worker_ctx, self._reply_listener

        class _Cluster:
            def __getattr__(self, service):
                if service.startswith("__"):
                    raise AttributeError(service)
                return AssertingServiceProxy(mint, worker_ctx, service, listener,
                                             timeouts=timeouts)

            __getitem__ = __getattr__

        self._proxy = _Cluster()


class JsonHttpHandler(HttpRequestHandler):
    """``@http`` whose failures are JSON: ``{"error": {"code", "message", "field"}}``."""

    def __init__(self, method, url, **kwargs):
        # Our errors are answers, not crashes: nameko logs them as expected.
        kwargs.setdefault("expected_exceptions", errors.LienThongError)
        super().__init__(method, url, **kwargs)

    def response_from_exception(self, exc):
        exc = unavailable(exc) or exc
        if isinstance(exc, errors.LienThongError):
            status, body = exc.http_status, exc.to_dict()
        else:
            log.exception("unexpected error in an HTTP entrypoint", exc_info=exc)
            status, body = 500, {"code": "internal", "message": "internal error", "field": None}
        response = Response(json.dumps({"error": body}, ensure_ascii=False), status=status,
                            mimetype="application/json")
        if getattr(exc, "retry_after", None):  # 429 and 503: when to try again
            response.headers["Retry-After"] = str(exc.retry_after)
        return response


json_http = JsonHttpHandler.decorator


def json_response(payload, status=200):
    return Response(json.dumps(payload, ensure_ascii=False), status=status,
                    mimetype="application/json")


class ObjectStoreProvider(DependencyProvider):
    """The S3 bucket (MinIO in production). Config keys ``S3_*``."""

    def setup(self):
        from shared.objectstore import S3ObjectStore, s3_settings

        self.store = S3ObjectStore(**s3_settings(self.container.config))
        retry_until_ready(self.store.ensure_bucket, what="object storage")

    def get_dependency(self, worker_ctx):
        return self.store


SWEEP_EVERY_SECONDS = 2.0  # one indexed query when nothing is due


class UploadsProvider(DependencyProvider):
    """A service's :class:`~shared.uploads.PendingUploads`, over its event
    store's database and its bucket (the service's ``events`` and ``files``
    providers). The service's DDL must include ``shared.uploads.DDL``."""

    def setup(self):
        self.uploads = None

    def get_dependency(self, worker_ctx):
        if self.uploads is None:
            found = {type(d): d for d in self.container.dependencies}
            events, files = found[EventStoreProvider], found[ObjectStoreProvider]
            self.uploads = PendingUploads(events.db, files.store, events.store.read_stream,
                                          UploadSettings.from_config(self.container.config))
        return self.uploads


class SweepsUploads:
    """Mixed into a service that uploads: its sweeper, on every instance."""

    uploads = UploadsProvider()

    @timer(interval=SWEEP_EVERY_SECONDS)
    def sweep_uploads(self):
        try:
            self.uploads.sweep()
        except Exception as err:  # the database is away: the next round tries again
            log.warning("object storage: upload sweep failed: %r", err)


class PriorityEventHandler(EventHandler):
    """nameko's event handler on a priority queue, declared as the relay declares it
    (``shared.topology.queue_arguments``): urgent events overtake the others on
    classic queues; quorum queues are replicated instead."""

    def setup(self):
        super().setup()
        self.queue.queue_arguments = queue_arguments(queue_type_of(self.container.config))


event_handler = PriorityEventHandler.decorator


class DeadLetters:
    """Mixed into each service that consumes events: operators list the events its
    consumers gave up on (after ``MAX_ATTEMPTS`` tries with back-off) and send
    one back to its consumer's queue once the cause is fixed, and list the
    events its consumers refused into quarantine."""

    @rpc
    def dead_letters(self):
        require_role(self.auth.actor(), "operator")
        return self.events.dead_letters(f"{self.name}.")

    @rpc
    def replay_dead_letter(self, letter_id):
        require_role(self.auth.actor(), "operator")
        return self.events.replay_dead_letter(letter_id)

    @rpc
    def quarantined(self):
        """Events its consumers refused (malformed, unsigned, forged, from the
        wrong producer), newest first, with the reason: for an operator to see."""
        require_role(self.auth.actor(), "operator")
        return self.events.quarantined(f"{self.name}.")


class Health:
    """Mixed into every service: an RPC that answers once the container runs,
    the correlation id its logs and calls carry, and its Prometheus metrics
    (served with ``/health`` on ``METRICS_ADDRESS`` when set)."""

    correlation = Correlation()
    metrics = Metrics()

    @rpc
    def health(self):
        return {"service": self.name, "status": "ok"}
