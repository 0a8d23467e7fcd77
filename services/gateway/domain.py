"""The gateway's rules, pure: passwords, users, who may call which endpoint,
and the security events it records (``LoginFailed``, ``RequestDenied``).

Nothing here touches the network or the database.
"""

import hashlib
import hmac
import os
import uuid

from shared.envelope import AGENCY_CODE, Actor, new_event, system_actor
from shared.errors import Forbidden, Unauthenticated, ValidationFailed

SERVICE = "gateway"
ROLES = ("clerk", "leader", "auditor", "admin", "operator")
MIN_PASSWORD_LENGTH = 12
TOKEN_TTL = 8 * 3600  # a working day
# One message for an unknown user and a wrong password: a caller learns nothing.
LOGIN_FAILED = "wrong user id or password"

# scrypt (RFC 7914): N=2^14, r=8, p=1 uses 16 MiB and ~50 ms per hash.
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
SALT_BYTES = 16


# -- passwords -------------------------------------------------------------------------

def hash_password(password, salt=None):
    """``(hash, salt)``: scrypt of the UTF-8 password with a per-user random salt."""
    if not isinstance(password, str):
        raise TypeError("password: a string")
    salt = os.urandom(SALT_BYTES) if salt is None else bytes(salt)
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, **SCRYPT), salt


def verify_password(password, password_hash, salt):
    """True when ``password`` hashes to ``password_hash``; compared in constant time."""
    candidate, _ = hash_password(password, salt)
    return hmac.compare_digest(candidate, bytes(password_hash))


# Checked against when the user does not exist, so that an unknown user id
# takes as long to refuse as a wrong password (no user enumeration by timing).
_DUMMY_HASH, _DUMMY_SALT = hash_password("not-a-password-of-anyone", b"\0" * SALT_BYTES)


def check_login(user, password):
    """The user's :class:`Actor` if ``password`` is theirs, else
    :class:`Unauthenticated` with the one message; ``user`` is a row or None.

    The reason (for the log, never for the caller) is ``exc.reason``.
    """
    if user is None:
        verify_password(password, _DUMMY_HASH, _DUMMY_SALT)
        raise _login_failed("unknown_user")
    if not verify_password(password, user["password_hash"], user["salt"]):
        raise _login_failed("wrong_password")
    return Actor(user["user_id"], user["agency"], user["role"])


def _login_failed(reason):
    err = Unauthenticated(LOGIN_FAILED, field="password")
    err.reason = reason
    return err


# -- users -----------------------------------------------------------------------------

def check_new_user(command):
    """Rules a new user must meet beyond the wire schema (which checks the shapes)."""
    if command["role"] not in ROLES:
        raise ValidationFailed(f"role: one of {', '.join(ROLES)}", field="role")
    if not AGENCY_CODE.match(command["agency"]):
        raise ValidationFailed("agency: an agency code of the form XXX.XX.XX.Ynn",
                               field="agency")
    if len(command["password"]) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password: at least {MIN_PASSWORD_LENGTH} characters",
                               field="password")
    return command


def user_view(user):
    """What anyone may see of a user: never the hash or the salt."""
    return {"user_id": user["user_id"], "agency": user["agency"], "role": user["role"],
            "full_name": user["full_name"], "created_at": user["created_at"]}


# -- who may call what -----------------------------------------------------------------

READERS = ("clerk", "leader", "auditor")
CLERK = ("clerk",)
LEADER = ("leader",)
AUDITOR = ("auditor",)
ADMIN = ("admin",)
OPERATOR = ("operator",)


def authorize(actor, allowed):
    """:class:`Forbidden` unless the actor's role is one of ``allowed``."""
    if actor.role not in allowed:
        raise Forbidden(f"role {actor.role!r} may not do this; needs {' or '.join(allowed)}",
                        field="role")
    return actor


# -- security events -------------------------------------------------------------------

def _security_event(event_type, data, actor):
    # Each security event is its own stream: no two writers ever contend.
    return new_event(event_type, data, actor=actor, producer=SERVICE,
                     stream_id=f"security-{uuid.uuid4()}")


def login_failed(user_id, reason):
    """``LoginFailed``: nobody is authenticated yet, so the gateway is the actor."""
    return _security_event("LoginFailed", {"user_id": str(user_id)[:200], "reason": reason},
                           system_actor(SERVICE))


def request_denied(actor, method, path, reason):
    """``RequestDenied``: who (if known) asked for what, and why it was refused."""
    return _security_event("RequestDenied", {
        "user_id": actor.user_id if actor else None,
        "agency": actor.agency if actor else None,
        "role": actor.role if actor else None,
        "method": method, "path": path[:500], "reason": reason[:500],
    }, actor or system_actor(SERVICE))
