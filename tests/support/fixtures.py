"""pytest fixtures for tests that use real servers (see ``servers.py``)."""

import os
import secrets
import uuid
from urllib.parse import unquote, urlsplit
from dataclasses import dataclass, field

import pytest

from shared.catalogue import PRODUCERS
from shared.eventsig import EventSigner, passphrase_variable
from tests.support import servers


@pytest.fixture(scope="session")
def pg_server():
    dsn, stop = servers.find_postgres_server()
    yield dsn
    if stop:
        stop()


@pytest.fixture
def pg_dsn(pg_server):
    """A fresh, empty database for one test."""
    dsn, drop = servers.create_database(pg_server)
    yield dsn
    drop()


@pytest.fixture(scope="session", autouse=True)
def _remove_test_vhosts():
    yield
    servers.close_local_vhosts()


@pytest.fixture
def amqp_uri():
    """A broker (a fresh vhost on the local one) for one test."""
    rabbit = servers.find_rabbit()
    yield rabbit.uri
    if rabbit.cleanup:
        rabbit.cleanup()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    s3 = servers.find_s3(str(tmp_path_factory.mktemp("s3")))
    yield s3
    if s3.cleanup:
        s3.cleanup()


# The tests' leaders sign with a key the server issues them on first use (AUTO_ENROLL),
# which is for development only: signing runs so explicitly, in development mode. The
# tests of enrolment itself run it as production does (tests/e2e/test_enrolment.py).
SIGNING_DEV_ENROLMENT = {"LIENTHONG_DEV_MODE": "1", "LIENTHONG_AUTO_ENROLL": "true"}


@dataclass
class Platform:
    """Where one test's services find their servers, as env vars and nameko config."""

    amqp_uri: str
    pg_dsn: str
    s3: servers.S3
    log_dir: str
    bucket: str = field(default_factory=lambda: f"lienthong-test-{uuid.uuid4().hex[:10]}")
    gateway_key_passphrase: str = field(default_factory=lambda: secrets.token_hex(16))
    docs_port: int = field(default_factory=servers.free_port)
    gateway_port: int = field(default_factory=servers.free_port)
    # Each service's event key under a passphrase of its own, as in production.
    event_passphrases: dict = field(default_factory=lambda: {
        p: secrets.token_urlsafe(18) for p in PRODUCERS})
    _logins: dict = field(default=None, repr=False)
    _keys_provisioned: bool = field(default=False, repr=False)

    def __post_init__(self):
        # A gateway key per test: the private key for the gateway (and the test's
        # Client, which stands where the gateway stands), the public key for all.
        from infra.stack import make_gateway_key
        self.gateway_env, self.gateway_key = make_gateway_key(self.log_dir,
                                                              self.gateway_key_passphrase)

    @property
    def event_keys_dir(self):
        return os.path.join(self.log_dir, "event-keys")

    @property
    def trust_file(self):
        return os.path.join(self.event_keys_dir, "trust.json")

    def provision_event_keys(self):
        """The operator's step before the services start (``python -m infra.keys
        provision``): every producer's key, and the trust file. Idempotent."""
        from infra.keys import provision

        if not self._keys_provisioned:  # env() and config() are asked for many times
            provision(self.event_keys_dir, self.event_passphrases, self.trust_file)
            self._keys_provisioned = True

    def event_signer(self, producer):
        """``producer``'s provisioned key, to sign events a test hands a consumer."""
        self.provision_event_keys()
        return EventSigner.load(self.event_keys_dir, producer, self.event_passphrases[producer])

    @property
    def docs_url(self):
        return f"http://127.0.0.1:{self.docs_port}"

    @property
    def gateway_url(self):
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self):
        self.provision_event_keys()
        return {
            "LIENTHONG_AMQP_URI": self.amqp_uri,
            "LIENTHONG_PG_DSN": self.pg_dsn,
            "LIENTHONG_S3_ENDPOINT": self.s3.endpoint,
            "LIENTHONG_S3_ACCESS_KEY": self.s3.access_key,
            "LIENTHONG_S3_SECRET_KEY": self.s3.secret_key,
            "LIENTHONG_S3_BUCKET": self.bucket,
            **self.gateway_env,
            "LIENTHONG_DOCS_HTTP": f"127.0.0.1:{self.docs_port}",
            "LIENTHONG_GATEWAY_HTTP": f"127.0.0.1:{self.gateway_port}",
            "LIENTHONG_DOCS_URL": self.docs_url,
            "LIENTHONG_PKI_DIR": os.path.join(self.log_dir, "pki"),
            "LIENTHONG_PKI_PASSPHRASE": "test-pki-passphrase",
            "LIENTHONG_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024),
            "LIENTHONG_EVENT_KEYS_DIR": self.event_keys_dir,
            "LIENTHONG_EVENT_TRUST_FILE": self.trust_file,
            **{passphrase_variable(p): self.event_passphrases[p] for p in PRODUCERS},
            "LIENTHONG_LOG_KEY_FILE": os.path.join(self.log_dir, "audit-log.key"),
            "LIENTHONG_LOG_KEY_PASSPHRASE": "test-log-passphrase",
            "LIENTHONG_CHECKPOINT_SECONDS": "0.5",
            "LIENTHONG_CHECKPOINT_RETENTION_DAYS": "1",
            # A killed command's files are swept 20 s on (production: an hour).
            "LIENTHONG_UPLOAD_MAX_SECONDS": "20",
            "LIENTHONG_UPLOAD_SWEEP_FIRST_SECONDS": "0.5",
        }

    def service_env(self, service):
        """``env()`` with the service's own least-privilege logins (``infra.provision``)
        where the harness made the vhost; the shared logins elsewhere."""
        env = {**self.env(), **self._own_logins().get(service, {})}
        if service == "signing":
            env.update(SIGNING_DEV_ENROLMENT)
        if own := self._own_s3_key(service):
            env["LIENTHONG_S3_ACCESS_KEY"], env["LIENTHONG_S3_SECRET_KEY"] = own
        return env

    def _own_s3_key(self, service):
        """``service``'s own S3 key where the harness made one (the bucket made first:
        the operator makes it, services may not), else None."""
        if service and self.s3.service_keys and service in self.s3.service_keys:
            self.object_store()
            return self.s3.service_keys[service]
        return None

    def _own_logins(self):
        if self._logins is None:
            self._logins = {}
            parts = urlsplit(self.amqp_uri)
            if unquote(parts.username or "") == servers.HARNESS_USER:
                from psycopg.conninfo import conninfo_to_dict

                from infra.provision import apply_postgres, service_settings

                passwords = servers.credentials()["services"]
                database = conninfo_to_dict(self.pg_dsn)["dbname"]
                apply_postgres(self.pg_dsn, database, passwords, servers.SERVICE_USER_PREFIX)
                self._logins = service_settings(
                    f"{parts.hostname}:{parts.port or 5672}", unquote(parts.path[1:]),
                    self.pg_dsn, database, passwords, servers.SERVICE_USER_PREFIX)
        return self._logins

    def config(self, service=None):
        """nameko config for containers run inside the test process: ``service``'s
        own event-key passphrase, and its own least-privilege broker, database and
        S3 logins where the harness made them (as the service processes get)."""
        self.provision_event_keys()
        config = self._shared_config(service)
        own = self._own_logins().get(service) if service else None
        if own:
            config.update(AMQP_URI=own["LIENTHONG_AMQP_URI"],
                          POSTGRES_DSN=own["LIENTHONG_PG_DSN"],
                          POSTGRES_APP_DSN=own.get("LIENTHONG_PG_APP_DSN"))
        if own := self._own_s3_key(service):
            config["S3_ACCESS_KEY"], config["S3_SECRET_KEY"] = own
        if service == "signing":
            config.update({k.removeprefix("LIENTHONG_"): v
                           for k, v in SIGNING_DEV_ENROLMENT.items()})
        return config

    def _shared_config(self, service):
        return {
            "AMQP_URI": self.amqp_uri, "POSTGRES_DSN": self.pg_dsn,
            "GATEWAY_PUBLIC_KEY": self.gateway_env["LIENTHONG_GATEWAY_PUBLIC_KEY"],
            "GATEWAY_KEY_FILE": self.gateway_env["LIENTHONG_GATEWAY_KEY_FILE"],
            "GATEWAY_KEY_PASSPHRASE": self.gateway_key_passphrase,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.docs_port}",
            "S3_ENDPOINT": self.s3.endpoint, "S3_ACCESS_KEY": self.s3.access_key,
            "S3_SECRET_KEY": self.s3.secret_key, "S3_BUCKET": self.bucket,
            "PKI_DIR": os.path.join(self.log_dir, "pki"),
            "PKI_PASSPHRASE": "test-pki-passphrase",
            "MAX_UPLOAD_BYTES": 2 * 1024 * 1024,
            "RELAY_POLL_SECONDS": 0.2,
            "EVENT_KEYS_DIR": self.event_keys_dir,
            "EVENT_TRUST_FILE": self.trust_file,
            "EVENT_KEY_PASSPHRASE": self.event_passphrases.get(service),
            "LOG_KEY_FILE": os.path.join(self.log_dir, "audit-log.key"),
            "LOG_KEY_PASSPHRASE": "test-log-passphrase",
            "CHECKPOINT_SECONDS": 0.5,
            "CHECKPOINT_RETENTION_DAYS": 1,
        }

    def object_store(self):
        from shared.objectstore import S3ObjectStore

        store = S3ObjectStore(self.s3.endpoint, self.s3.access_key, self.s3.secret_key,
                              self.bucket)
        store.ensure_bucket()
        return store


@pytest.fixture
def platform(amqp_uri, pg_dsn, s3_server, tmp_path):
    return Platform(amqp_uri=amqp_uri, pg_dsn=pg_dsn, s3=s3_server, log_dir=str(tmp_path))
