"""nameko dependencies of the gateway: its store (with the users table, the
demo seeding and the failed-login counters) and the caller's token forwarded
on every RPC it makes."""

import json
import logging
from datetime import timedelta

from nameko.extensions import DependencyProvider

from services.gateway import domain
from shared.nameko_ext import EventStoreProvider

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
               "salt", "created_at")
USER_COLUMNS = ", ".join(USER_FIELDS)


def user_row(row):
    return dict(zip(USER_FIELDS, row)) if row else None


class Users:
    """The users table: read one, list, create (hashing happens before, off the hub)."""

    def __init__(self, db):
        self.db = db

    def find(self, user_id):
        with self.db.connection() as conn:
            return user_row(conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE user_id = %s",
                                         (user_id,)).fetchone())

    def all(self):
        with self.db.connection() as conn:
            rows = conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY user_id").fetchall()
        return [user_row(r) for r in rows]

    def create(self, user, password_phc, conn=None):
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

    def set_password(self, user_id, password_phc):
        """Replace a user's hash (an upgrade at login): the earlier scheme's goes."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE users SET password_phc = %s, password_hash = NULL, salt = NULL"
                         " WHERE user_id = %s", (password_phc, user_id))


FAILURE_FIELDS = ("key", "failures", "last_failure", "blocked_until", "window_start",
                  "unlogged", "refused")


class LoginFailures:
    """The back-off and the audit window of failed logins (``login_failures``).

    Each step locks the rows of its keys (in key order: no deadlock) for one
    short transaction, never while a password is hashed; the rules are
    ``domain``'s. Security events are stored in the same transaction.
    """

    def __init__(self, db, store, window=domain.AUDIT_WINDOW):
        self.db, self.store, self.window = db, store, window

    def admit(self, keys, now):
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

    def failed(self, keys, now, event):
        """A charged try failed: ``event`` (LoginFailed) is stored if it opens the
        user id's audit window, else the failure is counted in it."""
        with self.db.transaction() as conn:
            rows = self._lock(conn, [key for key, _ in keys])
            user, address = ({**rows[key], "last_failure": now} for key, _ in keys)
            self._write(conn, address)
            if self._count(conn, user, "unlogged", now):
                self._append(conn, event)

    def succeeded(self, keys, now):
        """The user id's counter is reset (its window summarised); the address
        gets the charged try back."""
        with self.db.transaction() as conn:
            rows = self._lock(conn, [key for key, _ in keys])
            (user_key, _), (address_key, address_backoff) = keys
            if rows[user_key]["unlogged"] or rows[user_key]["refused"]:
                self._append(conn, domain.summary_of(rows[user_key], now, self.window))
            conn.execute("DELETE FROM login_failures WHERE key = %s", (user_key,))
            self._write(conn, domain.refunded(rows[address_key], address_backoff))

    def sweep(self, now, forget=domain.USER_BACKOFF.forget):
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
        super().__init__(ddl=USERS_DDL)

    def setup(self):
        super().setup()
        self.users = Users(self.db)
        self.logins = LoginFailures(self.db, self.store, float(self.container.config.get(
            "LOGIN_AUDIT_WINDOW_SECONDS", domain.AUDIT_WINDOW)))
        path = self.container.config.get("SEED_USERS")
        if path:
            seed_users(self.users, path)

    def get_dependency(self, worker_ctx):
        events = super().get_dependency(worker_ctx)
        events.users = self.users
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


class ForwardedToken(DependencyProvider):
    """Puts the caller's token in the worker's context data, for ``RpcProxy``.

    An HTTP worker starts with empty context data; ``RpcProxy`` sends
    ``worker_ctx.context_data`` as headers when it calls, so setting the
    token here first makes every service check the caller again. In nameko
    2.14 ``context_data`` is a property returning a *copy* of
    ``worker_ctx.data`` (plus the call id stack): the token goes in ``data``.
    """

    def get_dependency(self, worker_ctx):
        class _Forward:
            @staticmethod
            def act_as(token):
                worker_ctx.data["authorization"] = token

        return _Forward()
