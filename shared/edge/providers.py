"""What a service holds between calls: its event store with the outbox relay,
its bucket, and its pending uploads with their sweeper."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from shared import clock
from shared.broker_upgrade import upgrade_topology
from shared.catalogue import PRODUCERS
from shared.db import Database
from shared.edge.inbox import MAX_ATTEMPTS, QUARANTINE_MIGRATIONS, ServiceEvents
from shared.edge.outages import retry_until_ready
from shared.eventsig import signer_at_start, trusted_at_start
from shared.eventstore import EVENT_STORE_MIGRATIONS, PostgresEventStore
from shared.groupcommit import GroupCommitter
from shared.migrations import Component, initial, migrate
from shared.observability import Metrics
from shared.outbox import BrokerPublisher, OutboxRelay
from shared.topology import queue_type_of
from shared.uploads import PendingUploads, UploadSettings

if TYPE_CHECKING:
    from nameko.containers import WorkerContext

    from shared.objectstore import S3ObjectStore

log = logging.getLogger(__name__)


class EventStoreProvider(DependencyProvider):
    """The service's PostgreSQL schema, event store and outbox relay.

    Config: ``POSTGRES_DSN``, ``AMQP_URI``, ``EVENT_KEYS_DIR`` and
    ``EVENT_KEY_PASSPHRASE`` (the provisioned key that signs this service's
    events), ``EVENT_TRUST_FILE`` (the producers' provisioned public keys, which
    every consumed event is checked against), ``DEV_MODE``, ``DEV_CLOCK_FILE``
    (``shared.clock``: development only). A missing key,
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

    def setup(self) -> None:
        config = self.container.config
        service = self.container.service_name
        # Development only (refused else): the clock seeding a demo's history.
        clock.configure(config)
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

    def start(self) -> None:
        if self.relay is not None:
            self._relay_thread = self.container.spawn_managed_thread(self.relay.run)

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self._relay_thread.wait()
            self.relay.publisher.close()
        self.db.close()

    def kill(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        self.db.close()

    def get_dependency(self, worker_ctx: WorkerContext) -> ServiceEvents:
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


def upgrade_broker(config: Mapping[str, Any], service: str) -> None:
    """Queues an earlier release made, brought to this release's arguments (and
    retired ones removed) before the service declares them. A refusal (an old
    consumer still attached) is tried again for half a minute, for the old
    release to stop, then stops this start loudly."""
    retry_until_ready(lambda: upgrade_topology(config["AMQP_URI"], service,
                                               queue_type_of(config)), what="RabbitMQ")


class ObjectStoreProvider(DependencyProvider):
    """The S3 bucket (MinIO in production). Config keys ``S3_*``."""

    def setup(self) -> None:
        from shared.objectstore import S3ObjectStore, s3_settings

        self.store = S3ObjectStore(**s3_settings(self.container.config))
        retry_until_ready(self.store.ensure_bucket, what="object storage")

    def get_dependency(self, worker_ctx: WorkerContext) -> S3ObjectStore:
        return self.store


SWEEP_EVERY_SECONDS = 2.0  # one indexed query when nothing is due


class UploadsProvider(DependencyProvider):
    """A service's :class:`~shared.uploads.PendingUploads`, over its event
    store's database and its bucket (the service's ``events`` and ``files``
    providers). The service's DDL must include ``shared.uploads.DDL``."""

    def setup(self) -> None:
        self.uploads = None

    def get_dependency(self, worker_ctx: WorkerContext) -> PendingUploads:
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
    def sweep_uploads(self) -> None:
        try:
            self.uploads.sweep()
        except Exception as err:  # the database is away: the next round tries again
            log.warning("object storage: upload sweep failed: %r", err)
