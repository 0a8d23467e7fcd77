"""Docker Compose's one-shots on the real servers: the definitions file the broker loads
at boot lets each service in with the password from .env (guest gets nothing), the
PostgreSQL roles are made, and the bucket maker makes only object-locked buckets."""

import json
import os
import shutil
import subprocess
import uuid

import pika
import psycopg
import pytest
from minio import Minio
from psycopg.conninfo import conninfo_to_dict

from infra import bucket, provision
from infra.privileges import SERVICES
from tests.support import servers

pytestmark = pytest.mark.integration


def test_the_compose_one_shot_provisions_both_servers_from_env(pg_dsn, tmp_path):
    ctl = shutil.which("rabbitmqctl")
    assert ctl, "rabbitmqctl is needed to load the definitions as the broker does"
    # The harness's users and passwords (server-wide, shared by concurrent test
    # runs): the one-shot sets them again, to the same values.
    creds = servers.credentials()["services"]
    env = {provision.S3_ADMIN_SECRET_VARIABLE: uuid.uuid4().hex}
    for service in SERVICES:
        env[provision.secret_variable(service, "amqp")] = creds[service]
        env[provision.secret_variable(service, "pg")] = creds[service]
        env[provision.secret_variable(service, "s3")] = uuid.uuid4().hex
    vhost = f"lienthong-test-compose-{uuid.uuid4().hex[:8]}"
    database = conninfo_to_dict(pg_dsn)["dbname"]
    defs, s3 = tmp_path / "definitions.json", tmp_path / "s3.json"
    provision.main(["--from-env", "--prefix", servers.SERVICE_USER_PREFIX, "--vhost", vhost,
                    "--pg", pg_dsn, "--database", database,
                    "--rabbit-definitions-out", str(defs),
                    "--rabbit-definitions-group", str(os.getgid()),
                    "--s3-config-out", str(s3)], environ=env)
    try:
        # The file's content, imported as the broker does at boot (definitions.local.path).
        provision.apply_rabbit(json.loads(defs.read_text()), ctl)
        user = f"{servers.SERVICE_USER_PREFIX}-docs"
        with pika.BlockingConnection(pika.URLParameters(provision.amqp_uri(
                "127.0.0.1:5672", vhost, user, creds["docs"]))) as conn:
            conn.channel().exchange_declare("docs.events", exchange_type="topic", durable=True)
        for who, password in ((user, "not-" + creds["docs"]), ("guest", "guest")):
            with pytest.raises(pika.exceptions.AMQPConnectionError):
                pika.BlockingConnection(pika.URLParameters(provision.amqp_uri(
                    "127.0.0.1:5672", vhost, who, password)))
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", vhost], capture_output=True)
    role = f"{servers.SERVICE_USER_PREFIX.replace('-', '_')}_routing"
    with psycopg.connect(provision.pg_dsn(pg_dsn, database, role, creds["routing"])) as conn:
        assert conn.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname ="
                            " current_user").fetchone() == (role, False)
        assert conn.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname"
                            " = 'routing'").fetchone() == (role,)
    identities = {i["name"] for i in json.loads(s3.read_text())["identities"]}
    assert "admin" in identities and f"{servers.SERVICE_USER_PREFIX}-audit" in identities


def bucket_env(s3_server, name, access=None, secret=None):
    return {"LIENTHONG_S3_ENDPOINT": s3_server.endpoint, "LIENTHONG_S3_BUCKET": name,
            "LIENTHONG_S3_ACCESS_KEY": access or s3_server.access_key,
            "LIENTHONG_S3_SECRET_KEY": secret or s3_server.secret_key}


def test_the_bucket_maker_makes_a_locked_bucket_once_and_refuses_an_unlocked_one(s3_server):
    name = f"{servers.TEST_BUCKET_PREFIX}compose-{uuid.uuid4().hex[:8]}"
    assert bucket.main([], environ=bucket_env(s3_server, name)) == "made"
    assert bucket.main([], environ=bucket_env(s3_server, name)) == "exists"
    admin = Minio(s3_server.endpoint, access_key=s3_server.access_key,
                  secret_key=s3_server.secret_key, secure=False)
    assert admin.get_object_lock_config(bucket_name=name) is not None
    unlocked = f"{servers.TEST_BUCKET_PREFIX}unlocked-{uuid.uuid4().hex[:8]}"
    admin.make_bucket(bucket_name=unlocked)
    with pytest.raises(SystemExit, match="no object lock"):
        bucket.main([], environ=bucket_env(s3_server, unlocked))
    if s3_server.service_keys:  # SeaweedFS started here: a service's own key may not
        access, secret = s3_server.service_keys["docs"]
        other = f"{servers.TEST_BUCKET_PREFIX}bydocs-{uuid.uuid4().hex[:8]}"
        with pytest.raises(Exception, match="AccessDenied"):
            bucket.main([], environ=bucket_env(s3_server, other, access, secret))
        assert not admin.bucket_exists(bucket_name=other)
