"""Least privilege on the servers: what each service's own user may do.

Pure: derived from the subscriptions (``shared.topology``) and the RPC calls
each service makes (``RPC_CALLS``); ``infra.provision`` applies it.

RabbitMQ (per vhost): three regular expressions over exchange and queue
names (configure, write, read), and topic permissions on nameko's RPC
exchange over routing keys (``service.method`` for calls, the reply queue's
UUID for answers). A service writes only on its own events exchange, its own
queues and the RPC exchange with the keys of the calls it makes; it cannot
publish on another service's exchange, bind another service's queue, or
call a method it has no business calling.

PostgreSQL: one login role per service owning only its schema, never a
superuser; audit's application role may only read and append.
"""

import re
from dataclasses import dataclass

from shared.auth import ONWARD
from shared.topology import SUBSCRIPTIONS, exchange_name

SERVICES = ("docs", "signing", "routing", "audit", "gateway")
RPC_EXCHANGE = "nameko-rpc"
# Who calls whom by RPC: a service name (any method) or (service, method). The
# gateway calls for its users; the others only make the onward calls the
# gateway's assertions allow them (shared.auth.ONWARD).
def _onward_calls():
    calls = {}
    for caller, targets in ONWARD.items():
        calls.setdefault(caller.split(".")[0], set()).update(
            tuple(t.split(".", 1)) for t in targets)
    return {service: tuple(sorted(c)) for service, c in calls.items()}


RPC_CALLS = {"gateway": ("docs", "signing", "routing", "audit"), **_onward_calls()}
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# nameko's reply queues: rpc.reply-{service}-{uuid}; a standalone proxy's
# service name is standalone_rpc_proxy.
STANDALONE = "standalone_rpc_proxy"


@dataclass(frozen=True)
class RabbitPermissions:
    configure: str
    write: str
    read: str
    topic_write: str  # routing keys it may publish on the RPC exchange
    topic_read: str   # binding keys it may bind with on the RPC exchange


def _any_of(names):
    return "^(" + "|".join(names) + ")$"


def rabbit_permissions(service):
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    s = re.escape(service)
    own_events = re.escape(exchange_name(service))
    consumed = sorted({re.escape(exchange_name(sub.source))
                       for sub in SUBSCRIPTIONS if sub.consumer == service})
    rpc = re.escape(RPC_EXCHANGE)
    rpc_queue = f"rpc-{s}"
    reply_queues = f"rpc\\.reply-({s}|{STANDALONE})-{UUID}"
    # Queues of this service's handlers, and the queues its relay declares for
    # the subscribers of its own events (so none is dropped before they start).
    handler_queues = f"evt-[a-z]+-[A-Za-z0-9#]+--{s}\\.[a-z_]+"
    subscriber_queues = f"evt-{s}-[A-Za-z0-9#]+--[a-z]+\\.[a-z_]+"
    queues = [rpc_queue, reply_queues, handler_queues, subscriber_queues]
    # nameko's handlers declare the exchange they listen to (configure), and
    # binding needs read on the exchange and write on the queue.
    configure = _any_of([own_events, rpc, *consumed, *queues])
    # amq.default: a dead letter is replayed straight into the consumer's own
    # queue (operators' action). Consumers authenticate every event anyway.
    write = _any_of([own_events, rpc, "amq\\.default", *queues])
    read = _any_of([own_events, rpc, *consumed, *queues])
    calls = []
    for target in RPC_CALLS.get(service, ()):
        if isinstance(target, tuple):
            calls.append(f"{re.escape(target[0])}\\.{re.escape(target[1])}")
        else:
            calls.append(f"{re.escape(target)}\\.[a-z_]+")
    topic_write = _any_of([*calls, UUID])  # calls, and answers to reply queues
    topic_read = _any_of([f"{s}\\.\\*", UUID])
    return RabbitPermissions(configure, write, read, topic_write, topic_read)


def rabbit_user(service, prefix="lienthong"):
    return f"{prefix}-{service}"


# -- S3 (SeaweedFS identities; an IAM policy elsewhere) ---------------------------------

# Who writes what: docs the documents' files, signing the signed and sealed
# versions, routing the files of imported documents, audit its checkpoints.
# Retention (WORM) is set by those that lock what they store; the gateway
# streams through docs and holds no S3 credential; nobody creates buckets
# but the operator.
S3_RETENTION = ("docs", "routing", "audit")
S3_SERVICES = ("docs", "signing", "routing", "audit")


def s3_actions(service, bucket):
    """SeaweedFS ``actions`` for ``service`` on ``bucket`` (a name or a ``prefix*``)."""
    if service not in S3_SERVICES:
        raise ValueError(f"{service} has no business with the object store")
    actions = [f"{a}:{bucket}" for a in ("Read", "Write", "List")]
    if service in S3_RETENTION:
        actions += [f"{a}:{bucket}" for a in ("PutObjectRetention", "GetObjectRetention")]
    return actions


def s3_config(identities):
    """SeaweedFS's ``-s3.config`` JSON for ``{name: (access_key, secret_key, actions)}``."""
    return {"identities": [
        {"name": name, "credentials": [{"accessKey": access, "secretKey": secret}],
         "actions": list(actions)}
        for name, (access, secret, actions) in identities.items()]}


# -- PostgreSQL ---------------------------------------------------------------------------

AUDIT_APP_ROLE = "lienthong_audit_app"


def pg_role(service, prefix="lienthong"):
    return f"{prefix.replace('-', '_')}_{service}"


def postgres_statements(database, service, password, prefix="lienthong"):
    """SQL (run by a superuser) giving ``service`` a login that owns its schema only.

    Roles are cluster-wide and made once; each database gets the schema. The
    password is passed as a parameter by the caller: ``(sql, params)`` pairs.
    """
    role = pg_role(service, prefix)
    quoted_role, quoted_db = _ident(role), _ident(database)
    statements = [
        (f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN"
         f" CREATE ROLE {quoted_role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END $$",
         None),
        (f"ALTER ROLE {quoted_role} PASSWORD {{password}}", password),
        (f"GRANT CONNECT, TEMPORARY ON DATABASE {quoted_db} TO {quoted_role}", None),
        (f"CREATE SCHEMA IF NOT EXISTS {_ident(service)} AUTHORIZATION {quoted_role}", None),
        (f"ALTER SCHEMA {_ident(service)} OWNER TO {quoted_role}", None),
    ]
    if service == "audit":
        # The log's owner runs the DDL; the service appends through a login
        # that may only read and insert (the grants come with the log's DDL).
        app = _ident(AUDIT_APP_ROLE)
        statements += [
            (f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname ="
             f" '{AUDIT_APP_ROLE}') THEN CREATE ROLE {app} LOGIN NOSUPERUSER; END IF; END $$",
             None),
            (f"ALTER ROLE {app} LOGIN PASSWORD {{password}}", password),
            (f"GRANT CONNECT ON DATABASE {quoted_db} TO {app}", None),
            (f"GRANT {app} TO {quoted_role}", None),
        ]
    return statements


def database_statements(database):
    """Nobody but the owners creates objects in ``public``; no default access."""
    return [
        ("REVOKE CREATE ON SCHEMA public FROM PUBLIC", None),
        (f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC", None),
    ]


def _ident(name):
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'
