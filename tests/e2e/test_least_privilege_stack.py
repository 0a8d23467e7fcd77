"""The running platform logs in to its servers as one least-privilege user per
service: no guest on RabbitMQ, no superuser on PostgreSQL."""

import shutil
import subprocess
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tests.support import servers


def test_every_service_connects_as_its_own_user(platform, stack):
    stack.start()
    vhost = unquote(urlsplit(platform.amqp_uri).path[1:])
    out = subprocess.run([shutil.which("rabbitmqctl"), "-q", "list_connections", "user", "vhost"],
                         check=True, capture_output=True, text=True).stdout
    users = {line.split("\t")[0] for line in out.splitlines()[1:]
             if line.split("\t")[-1] == vhost}
    services = {f"{servers.SERVICE_USER_PREFIX}-{s}" for s in stack}
    assert services <= users, users
    assert users <= services | {servers.HARNESS_USER}, users
    database = conninfo_to_dict(platform.pg_dsn)["dbname"]
    with psycopg.connect(platform.pg_dsn) as conn:
        logins = {r[0]: r[1] for r in conn.execute(
            "SELECT DISTINCT a.usename, r.rolsuper FROM pg_stat_activity a"
            " JOIN pg_roles r ON r.rolname = a.usename"
            " WHERE a.datname = %s AND a.pid <> pg_backend_pid()", (database,))}
    prefix = servers.SERVICE_USER_PREFIX.replace("-", "_")
    assert {f"{prefix}_{s}" for s in ("docs", "signing", "routing", "gateway")} \
        | {"lienthong_audit_app"} <= set(logins), logins
    assert not any(logins.values()), f"a superuser is connected: {logins}"
