"""Give each service its own server users, with least privilege (``infra.privileges``).

RabbitMQ: one ``rabbitmqctl import_definitions`` call makes the vhost, the
services' users and their permissions (guest gets none). PostgreSQL: a
superuser connection makes one login role per service that owns its schema.
Used by the demo, the test harness and operators::

    python -m infra.provision --vhost lienthong --database lienthong --out secrets.env

prints (or writes, mode 0600) the per-service ``LIENTHONG_<SERVICE>_AMQP_URI``
and ``LIENTHONG_<SERVICE>_PG_DSN`` lines with fresh passwords.
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from urllib.parse import quote

from infra import privileges as p


def rabbit_password_hash(password, salt=None):
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def rabbit_definitions(vhost, passwords, prefix="lienthong", full_access=None):
    """Definitions for ``vhost``: each service's user (``passwords[service]``) with its
    permissions; ``full_access`` {user: password} for a harness or an operator."""
    definitions = {"users": [], "vhosts": [{"name": vhost}], "permissions": [],
                   "topic_permissions": []}
    for service, password in passwords.items():
        user, perm = p.rabbit_user(service, prefix), p.rabbit_permissions(service)
        definitions["users"].append(_user(user, password))
        definitions["permissions"].append({"user": user, "vhost": vhost,
                                           "configure": perm.configure, "write": perm.write,
                                           "read": perm.read})
        definitions["topic_permissions"].append({
            "user": user, "vhost": vhost, "exchange": p.RPC_EXCHANGE,
            "write": perm.topic_write, "read": perm.topic_read})
    for user, password in (full_access or {}).items():
        definitions["users"].append(_user(user, password))
        definitions["permissions"].append({"user": user, "vhost": vhost, "configure": ".*",
                                           "write": ".*", "read": ".*"})
    return definitions


def _user(name, password):
    return {"name": name, "password_hash": rabbit_password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}


def apply_rabbit(definitions, ctl=None, node=None):
    """Import ``definitions`` with ``ctl`` (rabbitmqctl), on ``node`` if given
    (``rabbitmqctl -n``), else on the local default node."""
    ctl = ctl or shutil.which("rabbitmqctl")
    if ctl is None:
        raise RuntimeError("rabbitmqctl is needed to provision RabbitMQ users")
    # It carries password hashes: removed as soon as it is read.
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="lienthong-defs-") as fh:
        json.dump(definitions, fh)
        fh.flush()
        os.chmod(fh.name, 0o644)  # rabbitmqctl may drop to the rabbitmq user
        subprocess.run([ctl, "-q", *(["-n", node] if node else []), "import_definitions",
                        fh.name], check=True, capture_output=True)


def amqp_uri(host_port, vhost, user, password):
    return f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{host_port}/{quote(vhost, safe='')}"


def apply_postgres(server_dsn, database, passwords, prefix="lienthong"):
    """Make each service's login own its schema in ``database`` (as a superuser)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_with_database(server_dsn, database), autocommit=True) as conn:
        # Roles are cluster-wide: two databases provisioned at once must not race.
        conn.execute("SELECT pg_advisory_lock(hashtext('lienthong.provision'))")
        try:
            statements = list(p.database_statements(database))
            for service, password in passwords.items():
                statements += p.postgres_statements(database, service, password, prefix)
            for text, password in statements:
                conn.execute(sql.SQL(text).format(password=sql.Literal(password))
                             if password is not None else text)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('lienthong.provision'))")


def pg_dsn(server_dsn, database, role, password):
    """``server_dsn`` (a URL or key=value conninfo) with another login and database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(server_dsn)
    params.update(user=role, password=password, dbname=database)
    return make_conninfo(**params)


def _with_database(dsn, database):
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(dsn), "dbname": database})


def provision(amqp_host_port, vhost, pg_server_dsn, database, passwords=None,
              prefix="lienthong", full_access=None, ctl=None):
    """Both servers; returns ``{service: {"LIENTHONG_AMQP_URI": .., "LIENTHONG_PG_DSN": ..}}``
    (audit also gets ``LIENTHONG_PG_APP_DSN``, its append-only login)."""
    passwords = passwords or {s: secrets.token_urlsafe(24) for s in p.SERVICES}
    apply_rabbit(rabbit_definitions(vhost, passwords, prefix, full_access), ctl)
    apply_postgres(pg_server_dsn, database, passwords, prefix)
    return service_settings(amqp_host_port, vhost, pg_server_dsn, database, passwords, prefix)


def service_settings(amqp_host_port, vhost, pg_server_dsn, database, passwords,
                     prefix="lienthong"):
    out = {}
    for service, password in passwords.items():
        out[service] = {
            "LIENTHONG_AMQP_URI": amqp_uri(amqp_host_port, vhost, p.rabbit_user(service, prefix),
                                           password),
            "LIENTHONG_PG_DSN": pg_dsn(pg_server_dsn, database, p.pg_role(service, prefix),
                                       password),
        }
        if service == "audit":
            out[service]["LIENTHONG_PG_APP_DSN"] = pg_dsn(pg_server_dsn, database,
                                                          p.AUDIT_APP_ROLE, password)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--amqp", default="127.0.0.1:5672", help="RabbitMQ host:port")
    parser.add_argument("--vhost", default="lienthong")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a superuser's DSN on the PostgreSQL server")
    parser.add_argument("--database", default="lienthong")
    parser.add_argument("--out", help="write the settings here (mode 0600) instead of stdout")
    args = parser.parse_args(argv)
    settings = provision(args.amqp, args.vhost, args.pg, args.database)
    lines = [f"LIENTHONG_{service.upper()}_{k[len('LIENTHONG_'):]}={v}"
             for service, values in settings.items() for k, v in values.items()]
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
