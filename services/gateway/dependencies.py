"""nameko dependencies of the gateway: its store (with the users table, the
demo seeding and the failed-login counters, revoked tokens) and its identity:
the bearer tokens it issues and checks, and the assertion it mints for every
call it makes for a user."""

import base64
import collections
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import eventlet.semaphore
from nameko.extensions import DependencyProvider
from nameko.rpc import ReplyListener

from services.gateway import domain
from services.gateway.settings import GatewaySettings
from shared import auth
from shared.config import load_settings
from shared.db import Database
from shared.edge.providers import EventStoreProvider
from shared.edge.rpc import AssertingServiceProxy, rpc_timeout
from shared.errors import Unauthenticated
from shared.migrations import initial
from shared.settings import require_secret

log = logging.getLogger(__name__)

USERS_DDL = """
CREATE TABLE IF NOT EXISTS users (
    user_id       text PRIMARY KEY,
    agency        text NOT NULL,
    role          text NOT NULL CONSTRAINT users_role_check
                  CHECK (role IN ('clerk', 'leader', 'auditor', 'admin', 'operator')),
    full_name     text NOT NULL,
    password_phc  text,   -- argon2id, a PHC string with its parameters (domain.ARGON2)
    password_hash bytea,  -- earlier rows: scrypt (domain.SCRYPT) and its salt, until
    salt          bytea,  -- the user's next login replaces them by password_phc
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- A users table from before the operator role: widen its role check once.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'users'::regclass
                   AND conname = 'users_role_check'
                   AND pg_get_constraintdef(oid) LIKE '%operator%') THEN
        ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
        ALTER TABLE users ADD CONSTRAINT users_role_check
            CHECK (role IN ('clerk', 'leader', 'auditor', 'admin', 'operator'));
    END IF;
END $$;
-- Tables made by the scrypt-only version: the PHC column, the old ones optional.
ALTER TABLE users ADD COLUMN IF NOT EXISTS password_phc text;
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ALTER COLUMN salt DROP NOT NULL;
DO $$ BEGIN
    ALTER TABLE users ADD CONSTRAINT users_password_stored CHECK (
        password_phc IS NOT NULL OR (password_hash IS NOT NULL AND salt IS NOT NULL));
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
-- Failed logins per user id ('user:<id>') and client address ('address:<ip>'),
-- shared by every gateway process: the back-off (failures in a row, blocked
-- until) and the audit window (first failure logged, later ones counted).
CREATE TABLE IF NOT EXISTS login_failures (
    key           text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    last_failure  timestamptz,
    blocked_until timestamptz,
    window_start  timestamptz,
    unlogged      integer NOT NULL DEFAULT 0,
    refused       integer NOT NULL DEFAULT 0
);
"""

USER_FIELDS = ("user_id", "agency", "role", "full_name", "password_phc", "password_hash",
               "salt", "created_at", "disabled_at", "token_epoch")
USER_COLUMNS = ", ".join(USER_FIELDS)
# Whether a user may still act, and which of their tokens still count: disabling
# stops them at once; a password change moves token_epoch on, voiding older tokens.
STANDING_DDL = """
ALTER TABLE users ADD COLUMN IF NOT EXISTS disabled_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS token_epoch integer NOT NULL DEFAULT 0;
-- Tokens logged out before their expiry (kept until then).
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti        text PRIMARY KEY,
    user_id    text NOT NULL,
    expires_at timestamptz NOT NULL
);
"""
# Nhóm nơi nhận: an agency's saved recipient lists (services/gateway/recipients.py).
RECIPIENT_GROUPS_DDL = """
CREATE TABLE recipient_groups (
    group_id   serial PRIMARY KEY,
    agency     text NOT NULL,
    name       text NOT NULL,
    recipients text[] NOT NULL,
    saved_by   text NOT NULL,
    saved_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agency, name)
);
"""
# The web application's sessions, for their idle timeout: when each was last used.
WEB_SESSIONS_DDL = """
CREATE TABLE web_sessions (
    jti        text PRIMARY KEY,
    user_id    text NOT NULL,
    last_seen  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
"""
# Versioned: a change to these tables is a new migration (shared.migrations).
MIGRATIONS = initial("gateway", USERS_DDL + STANDING_DDL).then(
    2, "recipient groups (nhóm nơi nhận) per agency", RECIPIENT_GROUPS_DDL).then(
    3, "web sessions' last use (idle timeout)", WEB_SESSIONS_DDL)



def user_row(row: Sequence[Any] | None) -> dict[str, Any] | None:
    return dict(zip(USER_FIELDS, row)) if row else None


class Users:
    """The users table: read one, list, create (hashing happens before, off the hub)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def find(self, user_id: str) -> dict[str, Any] | None:
        with self.db.connection() as conn:
            return user_row(conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE user_id = %s",
                                         (user_id,)).fetchone())

    def all(self) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            rows = conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY user_id").fetchall()
        return [user_row(r) for r in rows]

    def create(self, user: Mapping[str, Any], password_phc: str,
               conn: Any = None) -> tuple | None:
        """Insert; None if the user id is taken."""
        def insert(c):
            return c.execute(
                "INSERT INTO users (user_id, agency, role, full_name, password_phc)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id) DO NOTHING"
                " RETURNING created_at",
                (user["user_id"], user["agency"], user["role"], user["full_name"],
                 password_phc)).fetchone()
        if conn is not None:
            return insert(conn)
        with self.db.transaction() as c:
            return insert(c)

    def set_password(self, user_id: str, password_phc: str) -> None:
        """Replace a user's hash (an upgrade at login): the earlier scheme's goes."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE users SET password_phc = %s, password_hash = NULL, salt = NULL"
                         " WHERE user_id = %s", (password_phc, user_id))

    def standing(self, user_id: str, jti: str | None = None) -> dict[str, Any] | None:
        """``{agency, role, disabled, token_epoch, revoked}`` of a user (``revoked``:
        the token ``jti`` was logged out), or None if there is none. One query:
        it runs on every request."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT agency, role, disabled_at IS NOT NULL, token_epoch,"
                " EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = %s)"
                " FROM users WHERE user_id = %s", (jti, user_id)).fetchone()
        return dict(zip(("agency", "role", "disabled", "token_epoch", "revoked"),
                        row)) if row else None

    def disable(self, user_id: str) -> datetime | None:
        """Disable (once); the time it was disabled, or None if there is no such user."""
        with self.db.transaction() as conn:
            row = conn.execute("UPDATE users SET disabled_at = coalesce(disabled_at, now())"
                               " WHERE user_id = %s RETURNING disabled_at",
                               (user_id,)).fetchone()
        return row[0] if row else None

    def change_password(self, user_id: str, password_phc: str) -> None:
        """The new password; every token issued before stops counting."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE users SET password_phc = %s, password_hash = NULL,"
                         " salt = NULL, token_epoch = token_epoch + 1 WHERE user_id = %s",
                         (password_phc, user_id))

    def revoke(self, claims: Mapping[str, Any]) -> None:
        """Revoke a token until it expires (a logout); expired revocations are dropped."""
        self._keep_until_expiry("revoked_tokens", claims)

    def open_web_session(self, claims: Mapping[str, Any]) -> None:
        """A web login's session, used now (sessions past their token's life go)."""
        self._keep_until_expiry("web_sessions", claims)

    def _keep_until_expiry(self, table: str, claims: Mapping[str, Any]) -> None:
        """A row of ``table`` (``revoked_tokens``, ``web_sessions``) about the token
        of ``claims`` until it expires; the rows of expired tokens go."""
        expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
        with self.db.transaction() as conn:
            conn.execute(f"DELETE FROM {table} WHERE expires_at < now()")
            conn.execute(f"INSERT INTO {table} (jti, user_id, expires_at)"
                         " VALUES (%s, %s, %s) ON CONFLICT (jti) DO NOTHING",
                         (claims["jti"], claims["sub"], expires))

    def use_web_session(self, claims: Mapping[str, Any], idle_seconds: int) -> bool:
        """Mark the session used now; False when it was idle longer than
        ``idle_seconds`` (or never opened by a web login): it is over."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE web_sessions SET last_seen = now() WHERE jti = %s AND"
                " last_seen > now() - make_interval(secs => %s) RETURNING 1",
                (claims["jti"], idle_seconds)).fetchone()
        return row is not None


GROUP_FIELDS = ("group_id", "name", "recipients", "saved_by", "saved_at")
GROUP_COLUMNS = ", ".join(GROUP_FIELDS)


def group_row(row: Sequence[Any] | None) -> dict[str, Any] | None:
    if not row:
        return None
    group = dict(zip(GROUP_FIELDS, row))
    return {**group, "recipients": list(group["recipients"]),
            "saved_at": group["saved_at"].isoformat()}


class RecipientGroups:
    """``recipient_groups``: every query names the agency, so an agency's
    clerks read, replace and delete only their own agency's groups."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def of(self, agency: str) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            rows = conn.execute(f"SELECT {GROUP_COLUMNS} FROM recipient_groups"
                                " WHERE agency = %s ORDER BY name, group_id",
                                (agency,)).fetchall()
        return [group_row(r) for r in rows]

    def get(self, agency: str, group_id: int) -> dict[str, Any] | None:
        with self.db.connection() as conn:
            return group_row(conn.execute(
                f"SELECT {GROUP_COLUMNS} FROM recipient_groups"
                " WHERE agency = %s AND group_id = %s", (agency, group_id)).fetchone())

    def save(self, agency: str, name: str, recipients: list[str], user_id: str,
             most: int) -> dict[str, Any] | None:
        """Insert, or replace the group of that name; None if the agency has
        ``most`` groups already (and this is a new name)."""
        with self.db.transaction() as conn:
            # One save per agency at a time: the count then stays true.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('recipient_groups:' || %s))",
                         (agency,))
            exists = conn.execute("SELECT 1 FROM recipient_groups WHERE agency = %s"
                                  " AND name = %s", (agency, name)).fetchone()
            count = conn.execute("SELECT count(*) FROM recipient_groups WHERE agency = %s",
                                 (agency,)).fetchone()[0]
            if not exists and count >= most:
                return None
            return group_row(conn.execute(
                "INSERT INTO recipient_groups (agency, name, recipients, saved_by)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (agency, name) DO UPDATE SET"
                " recipients = excluded.recipients, saved_by = excluded.saved_by,"
                f" saved_at = now() RETURNING {GROUP_COLUMNS}",
                (agency, name, recipients, user_id)).fetchone())

    def delete(self, agency: str, group_id: int) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM recipient_groups WHERE agency = %s"
                                " AND group_id = %s RETURNING group_id",
                                (agency, group_id)).fetchone() is not None


# Each try charges these keys: (the user id's, its back-off), (the address's, its back-off).
Keys = Sequence[tuple[str, domain.Backoff]]

FAILURE_FIELDS = ("key", "failures", "last_failure", "blocked_until", "window_start",
                  "unlogged", "refused")


class LoginFailures:
    """The back-off and the audit window of failed logins (``login_failures``).

    Each step locks the rows of its keys (in key order: no deadlock) for one
    short transaction, never while a password is hashed; the rules are
    ``domain``'s. Security events are stored in the same transaction.
    """

    def __init__(self, db: Database, store: Any, window: float = domain.AUDIT_WINDOW) -> None:
        self.db, self.store, self.window = db, store, window

    def admit(self, keys: Keys, now: datetime) -> None:
        """Charge a try to each ``(key, backoff)``, or refuse it with
        TooManyRequests while one of them is blocked (the refusal is counted)."""
        wait = 0
        with self.db.transaction() as conn:
            rows = self._lock(conn, [key for key, _ in keys])
            for key, _ in keys:
                if wait := domain.retry_after(rows[key]["blocked_until"], now):
                    self._count(conn, rows[key], "refused", now)
                    break
            else:
                for key, backoff in keys:
                    self._write(conn, domain.charged(rows[key], backoff, now))
        if wait:
            raise domain.too_many_tries(wait)

    def failed(self, keys: Keys, now: datetime, event: Any) -> None:
        """A charged try failed: ``event`` (LoginFailed) is stored if it opens the
        user id's audit window, else the failure is counted in it."""
        with self.db.transaction() as conn:
            rows = self._lock(conn, [key for key, _ in keys])
            user, address = ({**rows[key], "last_failure": now} for key, _ in keys)
            self._write(conn, address)
            if self._count(conn, user, "unlogged", now):
                self._append(conn, event)

    def succeeded(self, keys: Keys, now: datetime) -> None:
        """The user id's counter is reset (its window summarised); the address
        gets the charged try back."""
        with self.db.transaction() as conn:
            rows = self._lock(conn, [key for key, _ in keys])
            (user_key, _), (address_key, address_backoff) = keys
            if rows[user_key]["unlogged"] or rows[user_key]["refused"]:
                self._append(conn, domain.summary_of(rows[user_key], now, self.window))
            conn.execute("DELETE FROM login_failures WHERE key = %s", (user_key,))
            self._write(conn, domain.refunded(rows[address_key], address_backoff))

    def sweep(self, now: datetime, forget: float = domain.USER_BACKOFF.forget) -> int:
        """Summarise the windows that have closed; drop counters nobody needs."""
        closed = now - timedelta(seconds=self.window)
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(FAILURE_FIELDS)} FROM login_failures"
                " WHERE window_start <= %s ORDER BY key FOR UPDATE SKIP LOCKED",
                (closed,)).fetchall()
            for row in (dict(zip(FAILURE_FIELDS, r)) for r in rows):
                if row["unlogged"] or row["refused"]:
                    self._append(conn, domain.summary_of(row, now, self.window))
                self._write(conn, {**row, "window_start": None, "unlogged": 0, "refused": 0})
            conn.execute(
                "DELETE FROM login_failures WHERE window_start IS NULL"
                " AND (blocked_until IS NULL OR blocked_until < %s)"
                " AND (failures = 0 OR last_failure < %s)",
                (now, now - timedelta(seconds=forget)))
        return len(rows)

    def _lock(self, conn, keys):
        """The counters of ``keys``, made if new, locked in key order, in one
        statement (a sweep deleting one in between cannot make it vanish)."""
        rows = conn.execute(
            "INSERT INTO login_failures AS f (key) SELECT k FROM unnest(%s::text[]) AS k"
            " ORDER BY k ON CONFLICT (key) DO UPDATE SET key = f.key"
            f" RETURNING {', '.join(FAILURE_FIELDS)}", (keys,)).fetchall()
        return {r[0]: dict(zip(FAILURE_FIELDS, r)) for r in rows}

    def _count(self, conn, row, what, now):
        """Count ``what`` in the row's window; True when it opened a new window."""
        row, closed = domain.counted(row, what, now, self.window)
        if closed is not None:
            self._append(conn, domain.summary_of(closed, now, self.window))
        self._write(conn, row)
        return row["window_start"] == now

    def _write(self, conn, row):
        conn.execute("UPDATE login_failures SET failures = %s, last_failure = %s,"
                     " blocked_until = %s, window_start = %s, unlogged = %s, refused = %s"
                     " WHERE key = %s", tuple(row[f] for f in FAILURE_FIELDS[1:]) + (row["key"],))

    def _append(self, conn, event):
        self.store.append(event.stream_id, 0, [event], conn=conn)


class GatewayStore(EventStoreProvider):
    """The gateway's event store (security events) and its ``users`` table.

    Config ``SEED_USERS``: a JSON file ``[{user_id, agency, role, full_name,
    password}]`` loaded at start-up when the table is empty (the demo's users).
    """

    def __init__(self):
        super().__init__(migrations=(MIGRATIONS,))

    def setup(self):
        super().setup()
        self.users = Users(self.db)
        self.groups = RecipientGroups(self.db)
        settings = load_settings(GatewaySettings, self.container.config)
        self.logins = LoginFailures(self.db, self.store, settings.login_audit_window_seconds)
        if settings.seed_users:
            seed_users(self.users, settings.seed_users)

    def get_dependency(self, worker_ctx):
        events = super().get_dependency(worker_ctx)
        events.users = self.users
        events.groups = self.groups
        events.logins = self.logins
        return events


def seed_users(users, path):
    """Create the users of ``path`` when there are none yet; returns how many."""
    with open(path, encoding="utf-8") as fh:
        seed = json.load(fh)
    with users.db.transaction() as conn:
        # One seeder at a time; a second gateway process finds the table filled.
        conn.execute("LOCK TABLE users IN EXCLUSIVE MODE")
        if conn.execute("SELECT count(*) FROM users").fetchone()[0]:
            return 0
        for user in seed:
            domain.check_new_user(user)
            users.create(user, domain.hash_password(user["password"]), conn=conn)
    log.info("seeded %d users from %s", len(seed), path)
    return len(seed)


class GatewayIdentity(DependencyProvider):
    """The gateway's key: it issues and checks users' bearer tokens and mints, for
    every call made on a user's behalf, an assertion for that service and method.

    Config: ``GATEWAY_KEY_FILE`` (an encrypted Ed25519 key made by the operator,
    ``python -m shared.auth``), ``GATEWAY_KEY_PASSPHRASE`` (checked by
    ``require_secret``), ``TOKEN_TTL_SECONDS``. ``self.identity.rpc("docs")`` is
    a proxy whose every call carries a fresh assertion for the admitted user.
    """

    rpc_reply_listener = ReplyListener()

    def setup(self):
        config = self.container.config
        settings = load_settings(GatewaySettings, config)  # TOKEN_TTL_SECONDS checked there
        self.key = auth.load_private_key(
            config.get("GATEWAY_KEY_FILE"), require_secret(config, "GATEWAY_KEY_PASSPHRASE"))
        self.public_key = self.key.public_key()
        self.ttl = settings.token_ttl_seconds
        # Each service may hold at most this many of the gateway's workers waiting:
        # a slow or dead service leaves the others answering.
        per_service = settings.in_flight_per_service(self.container.max_workers)
        self.in_flight = collections.defaultdict(
            lambda: eventlet.semaphore.Semaphore(per_service))

    def timeout(self, service, method):
        return rpc_timeout(self.container.config, service, method)

    def get_dependency(self, worker_ctx):
        return _Identity(self, worker_ctx)


class _Identity:
    def __init__(self, provider, worker_ctx):
        self.provider, self.worker_ctx = provider, worker_ctx
        self.actor = self.claims = None

    def issue(self, actor, epoch):
        """``(token, claims)`` of a new bearer token for a user who logged in."""
        return auth.issue_bearer(self.provider.key, actor, self.provider.ttl, epoch)

    def authenticate(self, request, users):
        """The caller's actor: their bearer token verifies, they still exist and are
        not disabled, and neither a logout nor a password change voided the token."""
        header = request.headers.get("Authorization", "")
        return self.authenticate_token(header[7:] if header.startswith("Bearer ") else None,
                                       users)

    def authenticate_token(self, token, users):
        """``authenticate`` for a token given as is (the web application's
        session cookie carries the same bearer token)."""
        claims = auth.verify_bearer(self.provider.public_key, token)
        user = users.standing(claims["sub"], claims["jti"])
        if user is None:
            raise Unauthenticated("the token's user does not exist", field="authorization")
        if user["disabled"]:
            raise Unauthenticated("the token's user is disabled", field="authorization")
        if claims.get("epoch") != user["token_epoch"]:
            raise Unauthenticated("token revoked: the password changed since",
                                  field="authorization")
        if user["revoked"]:
            raise Unauthenticated("token revoked: logged out", field="authorization")
        self.claims = claims
        self.actor = auth.Actor(claims["sub"], user["agency"], user["role"])
        return self.actor

    def csrf_token(self, claims=None):
        """The session's anti-forgery token: the gateway's (deterministic)
        Ed25519 signature of the token id, so it is tied to one session and
        no one without the key can make it."""
        jti = (claims or self.claims)["jti"]
        signature = self.provider.key.sign(b"lienthong-web-csrf\0" + jti.encode())
        return base64.urlsafe_b64encode(signature).decode().rstrip("=")

    def assertion(self, service, method):
        """An assertion that the admitted user calls ``service.method``, now."""
        if self.actor is None:
            raise Unauthenticated("no caller admitted", field="authorization")
        return auth.mint_assertion(self.provider.key, self.actor, service, method)

    def rpc(self, service):
        return AssertingServiceProxy(self.assertion, self.worker_ctx, service,
                                     self.provider.rpc_reply_listener,
                                     timeouts=self.provider.timeout,
                                     limit=self.provider.in_flight[service])
