"""nameko dependencies of the gateway: its store (with the users table and the
demo seeding) and the caller's token forwarded on every RPC it makes."""

import json
import logging

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
    password_hash bytea NOT NULL,  -- scrypt, see domain.SCRYPT
    salt          bytea NOT NULL,
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
"""

USER_COLUMNS = "user_id, agency, role, full_name, password_hash, salt, created_at"


def user_row(row):
    return dict(zip(("user_id", "agency", "role", "full_name", "password_hash", "salt",
                     "created_at"), row)) if row else None


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

    def create(self, user, password_hash, salt, conn=None):
        """Insert; False if the user id is taken."""
        def insert(c):
            return c.execute(
                "INSERT INTO users (user_id, agency, role, full_name, password_hash, salt)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id) DO NOTHING"
                " RETURNING created_at",
                (user["user_id"], user["agency"], user["role"], user["full_name"],
                 password_hash, salt)).fetchone()
        if conn is not None:
            return insert(conn)
        with self.db.transaction() as c:
            return insert(c)


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
        path = self.container.config.get("SEED_USERS")
        if path:
            seed_users(self.users, path)

    def get_dependency(self, worker_ctx):
        events = super().get_dependency(worker_ctx)
        events.users = self.users
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
            users.create(user, *domain.hash_password(user["password"]), conn=conn)
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
