"""The audit service's dependency: its log, checkpointer and keys, with their threads."""

import logging
import os
import time

from nameko.extensions import DependencyProvider

from services.audit import checkpoints as cp
from services.audit import dashboard_store
from services.audit import note
from services.audit.log import APP_ROLE, DB_SETTINGS, MIGRATIONS, TransparencyLog
from services.audit.settings import AuditSettings
from services.audit.timestamp import HttpTimeStamper
from services.audit.writer import GroupCommit
from shared.config import load_settings
from shared.db import Database
from shared.edge.inbox import QUARANTINE_MIGRATIONS
from shared.edge.outages import retry_until_ready
from shared.edge.providers import upgrade_broker
from shared.eventsig import trusted_at_start
from shared.keys import load_or_create_ed25519
from shared.migrations import migrate
from shared.settings import require_secret

log = logging.getLogger(__name__)

# The audit schema's components, migrated at start (shared.migrations).
SCHEMA = (QUARANTINE_MIGRATIONS, MIGRATIONS, dashboard_store.MIGRATIONS)
DASHBOARD_SECONDS = 2  # how far the dashboard's rows may lag the log between answers


class AuditLog(DependencyProvider):
    """Config: ``POSTGRES_DSN``, ``EVENT_TRUST_FILE`` (the producers' provisioned
    keys), ``EVENT_KEYS_DIR`` (where the log's verifier key is published),
    ``LOG_KEY_FILE``, ``LOG_KEY_PASSPHRASE``, the ``S3_*`` settings and the
    service's :class:`AuditSettings` (a bad one stops the service, named)."""

    def setup(self):
        c = self.container.config
        self.settings = settings = load_settings(AuditSettings, c)
        # Before anything else: without provisioned keys no event can be checked.
        self.trusted = trusted_at_start(c)
        retry_until_ready(lambda: migrate(c["POSTGRES_DSN"], "audit", SCHEMA),
                          what="PostgreSQL")
        upgrade_broker(c, "audit")
        # The service itself works with the append-only role's privileges: its
        # own login when provisioned (POSTGRES_APP_DSN), else SET ROLE.
        app_dsn = c.get("POSTGRES_APP_DSN") or None
        self.db = Database(app_dsn or c["POSTGRES_DSN"], schema="audit",
                           role=None if app_dsn else APP_ROLE,
                           max_size=settings.db_pool_size, settings=DB_SETTINGS)
        self.tlog = TransparencyLog(self.db, after_erasure=dashboard_store.erased)
        self.origin = settings.log_origin
        self.signer = note.NoteSigner(self.origin, load_or_create_ed25519(
            c["LOG_KEY_FILE"], require_secret(c, "LOG_KEY_PASSPHRASE")))
        self.verifier_key = self.signer.verifier().key_string()
        os.makedirs(c["EVENT_KEYS_DIR"], exist_ok=True)
        with open(os.path.join(c["EVENT_KEYS_DIR"], "audit-log.vkey"), "w") as fh:
            fh.write(self.verifier_key + "\n")
        self.witnesses = [note.parse_verifier_key(k) for k in settings.witnesses]
        from shared.objectstore import S3ObjectStore, s3_settings

        self.objects = S3ObjectStore(**s3_settings(c))
        self.tsa_url = settings.tsa_url
        if not self.tsa_url:
            log.warning("no TSA_URL: audit checkpoints will not be time-stamped")
        self.checkpointer = cp.Checkpointer(
            self.tlog, self.signer, self.objects, self.origin,
            retention_days=settings.checkpoint_retention_days,
            stamper=HttpTimeStamper(self.tsa_url, settings.tsa_timeout_seconds)
            if self.tsa_url else None)
        self.interval = settings.checkpoint_seconds
        self.writer = GroupCommit(self.tlog.append, max_batch=settings.append_batch)
        self._threads = []
        self._running = False

    def start(self):
        self._running = True
        self._threads = [self.container.spawn_managed_thread(self.writer.run),
                         self.container.spawn_managed_thread(self._checkpoint_loop),
                         self.container.spawn_managed_thread(self._dashboard_loop)]

    def _dashboard_loop(self):
        """The dashboard's projection follows the log, off its append path."""
        while self._running:
            time.sleep(DASHBOARD_SECONDS)
            try:
                dashboard_store.catch_up(self.db)
            except Exception as err:  # the database is down: next tick
                log.error("dashboard catch-up failed: %s", err)

    def _checkpoint_loop(self):
        bucket_ready = False
        while self._running:
            time.sleep(self.interval)
            try:
                if not bucket_ready:
                    self.objects.ensure_bucket()
                    bucket_ready = True
                with self.tlog.checkpoint_turn() as mine:
                    if mine:  # another audit process is checkpointing: next tick
                        self.checkpointer.tick()
            except Exception as err:  # storage down: alarm, keep logging, retry next tick
                log.error("checkpoint tick failed: %s", err)
                try:
                    self.tlog.alert("checkpoint_failed", str(err))
                except Exception:  # the database is down too: the log says so above
                    pass

    def stop(self):
        self._running = False
        self.writer.stop()
        for thread in self._threads:
            thread.wait()
        self.db.close()

    def kill(self):
        self._running = False
        self.writer.stop()
        self.db.close()

    def get_dependency(self, worker_ctx):
        return self
