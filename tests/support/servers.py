"""Finding the servers the integration and end-to-end tests talk to.

For each of RabbitMQ, PostgreSQL and S3, in this order:
1. environment variables (``LIENTHONG_TEST_AMQP_URI``, ``LIENTHONG_TEST_PG_DSN``,
   ``LIENTHONG_TEST_S3_ENDPOINT`` with ``..._ACCESS_KEY`` / ``..._SECRET_KEY``);
2. testcontainers, when a Docker engine answers;
3. the local servers: RabbitMQ and PostgreSQL on 127.0.0.1, and an
   S3 server (SeaweedFS, a real one) that the fixture starts itself.

A server that cannot be reached is a test failure that says how to start it,
never a skip: a skipped suite is a hidden red.
"""

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass

import pytest

from infra.provision import amqp_uri
from infra.stack import SeaweedServer, free_port, port_open  # noqa: F401

HOW_TO_START = {
    "RabbitMQ": "start it with `rabbitmq-server -detached` (or set LIENTHONG_TEST_AMQP_URI)",
    "PostgreSQL": "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql)"
                  " main start` (or set LIENTHONG_TEST_PG_DSN)",
}


def docker_answers():
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@dataclass
class Rabbit:
    uri: str
    cleanup: callable = None


@dataclass
class S3:
    endpoint: str
    access_key: str
    secret_key: str
    cleanup: callable = None
    # Each service's own credential {service: (access_key, secret_key)}, where
    # the harness started the server; the buckets are made with the admin's.
    service_keys: dict = None


def find_rabbit():
    if uri := os.environ.get("LIENTHONG_TEST_AMQP_URI"):
        return Rabbit(uri)
    if docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-management").start()
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        return Rabbit(f"amqp://guest:guest@{host}:{port}//", container.stop)
    if not port_open("127.0.0.1", 5672):
        pytest.fail(f"RabbitMQ is not reachable on 127.0.0.1:5672: {HOW_TO_START['RabbitMQ']}",
                    pytrace=False)
    # A vhost of our own per test: no queue or message of another test leaks
    # into this one. rabbitmqctl takes about half a second per call, so the
    # next vhost is made, and the last one removed, in the background.
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return Rabbit("amqp://guest:guest@127.0.0.1:5672//")
    global _vhosts
    if _vhosts is None:
        _vhosts = _LocalVhosts(ctl)
    vhost = _vhosts.take()
    return Rabbit(amqp_uri("127.0.0.1:5672", vhost, HARNESS_USER, credentials()["harness"]),
                  lambda: _vhosts.release(vhost))


# The platform's own rules hold in the tests' vhosts too: guest gets nothing,
# each service process logs in as its own user with least privilege
# (infra.privileges), and the harness (the tests' clients, which stand in for
# every caller) has a user of its own.
HARNESS_USER = "lienthong-test-harness"
SERVICE_USER_PREFIX = "lienthong-test"


def credentials():
    """Passwords of the harness's and the services' test users on this machine.

    Users are server-wide, and test runs may overlap (several checkouts): the
    first run makes them, the others read the same file.
    """
    path = os.path.join(tempfile.gettempdir(), "lienthong-test-credentials.json")
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        pass
    import secrets

    from infra.privileges import SERVICES

    made = {"harness": secrets.token_urlsafe(18),
            "services": {s: secrets.token_urlsafe(18) for s in SERVICES}}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return credentials()
    with os.fdopen(fd, "w") as fh:
        json.dump(made, fh)
    return made


_vhosts = None


class _LocalVhosts:
    def __init__(self, ctl):
        import eventlet

        self._spawn = eventlet.spawn
        self.ctl = ctl
        self._pending = []
        self._next = self._spawn(self._create)

    def _run(self, *args):
        subprocess.run([self.ctl, "-q", *args], check=True, capture_output=True)

    def _create(self):
        from infra.provision import apply_rabbit, rabbit_definitions

        name = f"lienthong-test-{uuid.uuid4().hex[:8]}"
        creds = credentials()
        # One call: the vhost, the services' users and permissions, the harness's.
        apply_rabbit(rabbit_definitions(name, creds["services"], SERVICE_USER_PREFIX,
                                        full_access={HARNESS_USER: creds["harness"]}), self.ctl)
        return name

    def take(self):
        name = self._next.wait()
        self._next = self._spawn(self._create)
        return name

    def release(self, name):
        self._pending = [gt for gt in self._pending if not gt.dead]
        self._pending.append(self._spawn(self._run, "delete_vhost", name))

    def close(self):
        self.release(self._next.wait())
        for gt in self._pending:
            gt.wait()


def close_local_vhosts():
    if _vhosts is not None:
        _vhosts.close()


def find_postgres_server():
    """A DSN of a server database from which test databases are created."""
    if dsn := os.environ.get("LIENTHONG_TEST_PG_DSN"):
        return dsn, None
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:15.8-bookworm", driver=None).start()
        return container.get_connection_url(), container.stop
    if not port_open("127.0.0.1", 5432):
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {HOW_TO_START['PostgreSQL']}",
                    pytrace=False)
    return "postgresql://postgres@127.0.0.1:5432/postgres", None


def create_database(server_dsn):
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"lienthong_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server_dsn)
    params["dbname"] = name

    def drop():
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_conninfo(**params), drop


def find_s3(log_dir):
    if endpoint := os.environ.get("LIENTHONG_TEST_S3_ENDPOINT"):
        return S3(endpoint, os.environ.get("LIENTHONG_TEST_S3_ACCESS_KEY", "minioadmin"),
                  os.environ.get("LIENTHONG_TEST_S3_SECRET_KEY", "minioadmin"))
    if docker_answers():
        from testcontainers.minio import MinioContainer

        container = MinioContainer("quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z").start()
        cfg = container.get_config()
        return S3(cfg["endpoint"], cfg["access_key"], cfg["secret_key"], container.stop)
    # No MinIO can be installed here; SeaweedFS (pinned wheel) is a real S3
    # server with object lock, versioning and multipart streaming.
    return private_s3(log_dir)[0]


def private_s3(log_dir):
    """A SeaweedFS server of the caller's own, one identity per service as the
    harness provisions them: ``(S3, SeaweedServer)``, for tests that stop, kill
    or freeze the server."""
    import secrets

    from infra.privileges import S3_SERVICES, s3_actions

    keys = {s: (f"{SERVICE_USER_PREFIX}-{s}", secrets.token_urlsafe(24)) for s in S3_SERVICES}
    identities = {access: (access, secret, s3_actions(s, f"{TEST_BUCKET_PREFIX}*"))
                  for s, (access, secret) in keys.items()}
    try:
        server = SeaweedServer(log_dir, identities).start()
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)
    return S3(server.endpoint, server.access_key, server.secret_key, server.stop, keys), server


TEST_BUCKET_PREFIX = "lienthong-test-"
