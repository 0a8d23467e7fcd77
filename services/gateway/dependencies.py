"""nameko dependencies of the gateway: its store (with the users table, the
revoked tokens and the demo seeding) and its identity: the bearer tokens it
issues and checks, and the assertion it mints for every call it makes for a user."""

import json
import logging
from datetime import datetime, timezone

from nameko.extensions import DependencyProvider
from nameko.rpc import ReplyListener

from services.gateway import domain
from shared import auth
from shared.errors import Unauthenticated
from shared.nameko_ext import AssertingServiceProxy, EventStoreProvider
from shared.settings import require_secret

log = logging.getLogger(__name__)

USERS_DDL = """
CREATE TABLE IF NOT EXISTS users (
    user_id       text PRIMARY KEY,
    agency        text NOT NULL,
    role          text NOT NULL CHECK (role IN ('clerk', 'leader', 'auditor', 'admin')),
    full_name     text NOT NULL,
    password_hash bytea NOT NULL,  -- scrypt, see domain.SCRYPT
    salt          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
"""

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

    def standing(self, user_id):
        """``{agency, role, disabled, token_epoch}`` of a user, or None if there is none."""
        with self.db.connection() as conn:
            row = conn.execute("SELECT agency, role, disabled_at IS NOT NULL, token_epoch"
                               " FROM users WHERE user_id = %s", (user_id,)).fetchone()
        return dict(zip(("agency", "role", "disabled", "token_epoch"), row)) if row else None

    def disable(self, user_id):
        """Disable (once); the time it was disabled, or None if there is no such user."""
        with self.db.transaction() as conn:
            row = conn.execute("UPDATE users SET disabled_at = coalesce(disabled_at, now())"
                               " WHERE user_id = %s RETURNING disabled_at",
                               (user_id,)).fetchone()
        return row[0] if row else None

    def change_password(self, user_id, password_hash, salt):
        """The new password; every token issued before stops counting."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE users SET password_hash = %s, salt = %s,"
                         " token_epoch = token_epoch + 1 WHERE user_id = %s",
                         (password_hash, salt, user_id))

    def revoke(self, claims):
        """Revoke a token until it expires (a logout); expired revocations are dropped."""
        expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM revoked_tokens WHERE expires_at < now()")
            conn.execute("INSERT INTO revoked_tokens (jti, user_id, expires_at)"
                         " VALUES (%s, %s, %s) ON CONFLICT (jti) DO NOTHING",
                         (claims["jti"], claims["sub"], expires))

    def revoked(self, jti):
        with self.db.connection() as conn:
            return conn.execute("SELECT 1 FROM revoked_tokens WHERE jti = %s",
                                (jti,)).fetchone() is not None


class GatewayStore(EventStoreProvider):
    """The gateway's event store (security events) and its ``users`` table.

    Config ``SEED_USERS``: a JSON file ``[{user_id, agency, role, full_name,
    password}]`` loaded at start-up when the table is empty (the demo's users).
    """

    def __init__(self):
        super().__init__(ddl=USERS_DDL + STANDING_DDL)

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
        self.key = auth.load_private_key(
            config.get("GATEWAY_KEY_FILE"), require_secret(config, "GATEWAY_KEY_PASSPHRASE"))
        self.public_key = self.key.public_key()
        self.ttl = int(config.get("TOKEN_TTL_SECONDS", domain.TOKEN_TTL))
        if not 0 < self.ttl <= auth.MAX_TOKEN_TTL:  # refused at start, not at each login
            raise ValueError(f"TOKEN_TTL_SECONDS: between 1 and {auth.MAX_TOKEN_TTL}")

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
        token = header[7:] if header.startswith("Bearer ") else None
        claims = auth.verify_bearer(self.provider.public_key, token)
        user = users.standing(claims["sub"])
        if user is None:
            raise Unauthenticated("the token's user does not exist", field="authorization")
        if user["disabled"]:
            raise Unauthenticated("the token's user is disabled", field="authorization")
        if claims.get("epoch") != user["token_epoch"]:
            raise Unauthenticated("token revoked: the password changed since",
                                  field="authorization")
        if users.revoked(claims["jti"]):
            raise Unauthenticated("token revoked: logged out", field="authorization")
        self.claims = claims
        self.actor = auth.Actor(claims["sub"], user["agency"], user["role"])
        return self.actor

    def assertion(self, service, method):
        """An assertion that the admitted user calls ``service.method``, now."""
        if self.actor is None:
            raise Unauthenticated("no caller admitted", field="authorization")
        return auth.mint_assertion(self.provider.key, self.actor, service, method)

    def rpc(self, service):
        return AssertingServiceProxy(self.assertion, self.worker_ctx, service,
                                     self.provider.rpc_reply_listener)
