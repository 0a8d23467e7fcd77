"""The gateway's rules, pure: passwords, users, who may call which endpoint,
the back-off of failed logins, and the security events it records
(``LoginFailed``, ``LoginFailuresSummarised``, ``RequestDenied``), and an
operator's order to destroy a document's data in the audit log
(``DocumentDataErasureOrdered``).

Nothing here touches the network or the database.
"""

import hashlib
import hmac
import math
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.envelope import AGENCY_CODE, Actor, format_time, new_event, system_actor
from shared.errors import Forbidden, TooManyRequests, Unauthenticated, ValidationFailed

SERVICE = "gateway"
ROLES = ("clerk", "leader", "auditor", "admin", "operator")
MIN_PASSWORD_LENGTH = 12
TOKEN_TTL = 8 * 3600  # a working day
# One message for an unknown user and a wrong password: a caller learns nothing.
LOGIN_FAILED = "wrong user id or password"

# argon2id (RFC 9106) at OWASP's minimum: 19 MiB, 2 passes, 1 lane (~30 ms).
# The hash is a PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash): its
# parameters travel with it, and a hash made with others is redone at login.
ARGON2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# The earlier scheme, kept to verify rows not yet upgraded (users.password_hash
# and users.salt): scrypt (RFC 7914), N=2^14, r=8, p=1, 16 MiB.
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
SALT_BYTES = 16


# -- passwords -------------------------------------------------------------------------

def hash_password(password):
    """The argon2id PHC string of ``password`` (a random salt each time)."""
    if not isinstance(password, str):
        raise TypeError("password: a string")
    return ARGON2.hash(password)


def scrypt_hash(password, salt):
    """The earlier scheme's hash: scrypt of the UTF-8 password with the user's salt."""
    return hashlib.scrypt(password.encode("utf-8"), salt=bytes(salt), **SCRYPT)


def verify_password(password, user):
    """True when ``password`` is the one ``user`` (a row) was stored with: an
    argon2id PHC string, or an earlier scrypt hash and salt; constant time."""
    if user.get("password_phc"):
        try:
            return ARGON2.verify(user["password_phc"], password)
        except (VerificationError, InvalidHashError):
            return False
    return hmac.compare_digest(scrypt_hash(password, user["salt"]),
                               bytes(user["password_hash"]))


def upgraded_hash(user, password):
    """After a successful login: a new PHC string when the stored hash is scrypt
    or argon2id with other parameters than ours, else None."""
    phc = user.get("password_phc")
    if phc and not ARGON2.check_needs_rehash(phc):
        return None
    return hash_password(password)


# Checked against when the user does not exist, so that an unknown user id
# takes as long to refuse as a wrong password (no user enumeration by timing).
_DUMMY_USER = {"password_phc": hash_password("not-a-password-of-anyone")}


def check_login(user, password):
    """The user's :class:`Actor` if ``password`` is theirs, else
    :class:`Unauthenticated` with the one message; ``user`` is a row or None.

    The reason (for the log, never for the caller) is ``exc.reason``.
    """
    if user is None:
        verify_password(password, _DUMMY_USER)
        raise _login_failed("unknown_user")
    if not verify_password(password, user):
        raise _login_failed("wrong_password")
    return Actor(user["user_id"], user["agency"], user["role"])


def _login_failed(reason):
    err = Unauthenticated(LOGIN_FAILED, field="password")
    err.reason = reason
    return err


# -- failed logins: back-off and the audit window --------------------------------------

@dataclass(frozen=True)
class Backoff:
    """Tries refused for a while after ``threshold`` failures in a row: ``base``
    seconds, doubled by each further failure, at most ``cap``. Failures older
    than ``forget`` seconds no longer count."""

    threshold: int
    base: float = 1.0
    cap: float = 15 * 60.0
    forget: float = 3600.0

    def delay(self, failures):
        if failures < self.threshold:
            return 0.0
        return min(self.cap, self.base * 2.0 ** (failures - self.threshold))


# Per user id, and per client address with a higher threshold (an office behind
# one address has many users).
USER_BACKOFF = Backoff(threshold=5)
ADDRESS_BACKOFF = Backoff(threshold=20)
# The first failure of a user id in a window is logged as LoginFailed; later
# ones (and refused tries) are counted and logged as one LoginFailuresSummarised
# when the window closes.
AUDIT_WINDOW = 300.0


def throttle_keys(user_id, address):
    """The keys of the counters a try is charged to, with their back-off."""
    return [(f"user:{user_id}", USER_BACKOFF), (f"address:{address}", ADDRESS_BACKOFF)]


def retry_after(blocked_until, now):
    """Whole seconds until ``blocked_until`` (at least 1), or 0 if not blocked."""
    if blocked_until is None or blocked_until <= now:
        return 0
    return max(1, math.ceil((blocked_until - now).total_seconds()))


def too_many_tries(seconds):
    return TooManyRequests(f"password: too many failed logins; try again in {seconds} s",
                           field="password", retry_after=seconds)


def window_open(window_start, now, window=AUDIT_WINDOW):
    return window_start is not None and (now - window_start).total_seconds() < window


# A counter is a row of ``login_failures``: key, failures (in a row, for the
# back-off), last_failure, blocked_until, window_start, unlogged, refused.

def charged(row, backoff, now):
    """The counter once a try is charged to it (before the password is checked:
    concurrent tries cannot all slip in before the first failure is counted).
    The count starts again when the last failure (``last_failure``, set when a
    try fails, not when it is charged) is older than ``backoff.forget``."""
    last = row["last_failure"]
    forgotten = last is not None and (now - last).total_seconds() > backoff.forget
    failures = 1 if forgotten else row["failures"] + 1
    delay = backoff.delay(failures)
    return {**row, "failures": failures, "last_failure": None if forgotten else last,
            "blocked_until": now + timedelta(seconds=delay) if delay else None}


def refunded(row, backoff):
    """The counter once a charged try turned out to be a success."""
    failures = max(row["failures"] - 1, 0)
    return {**row, "failures": failures,
            "blocked_until": row["blocked_until"] if failures >= backoff.threshold else None}


def counted(row, what, now, window=AUDIT_WINDOW):
    """``(row, closed)``: the counter with one more ``what`` ("unlogged" failures or
    "refused" tries) in its audit window. When no window is open, this one opens
    a window and ``closed`` is the earlier window's counter if it has counts to
    summarise; a failure that opens a window is logged on its own."""
    if window_open(row["window_start"], now, window):
        return {**row, what: row[what] + 1}, None
    closed = row if row["unlogged"] or row["refused"] else None
    return {**row, "window_start": now, "unlogged": 0,
            "refused": 1 if what == "refused" else 0}, closed


def summary_of(row, now, window=AUDIT_WINDOW):
    """The ``LoginFailuresSummarised`` of a counter's window (it has counts)."""
    end = min(now, row["window_start"] + timedelta(seconds=window))
    return login_failures_summarised(row["key"], row["unlogged"], row["refused"],
                                     row["window_start"], end)


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


def login_failed(user_id, reason, address=None):
    """``LoginFailed``: nobody is authenticated yet, so the gateway is the actor."""
    return _security_event("LoginFailed", {"user_id": str(user_id)[:200], "reason": reason,
                                           "address": address}, system_actor(SERVICE))


def login_failures_summarised(key, failures, refused, window_start, window_end):
    """``LoginFailuresSummarised``: the failures of a user id (or tries refused for an
    address) in one window that were counted instead of logged one by one."""
    kind, _, value = key.partition(":")
    return _security_event("LoginFailuresSummarised", {
        "user_id": value[:200] if kind == "user" else None,
        "address": value if kind == "address" else None,
        "failures": failures, "refused": refused,
        "window_start": format_time(window_start), "window_end": format_time(window_end),
    }, system_actor(SERVICE))


def request_denied(actor, method, path, reason):
    """``RequestDenied``: who (if known) asked for what, and why it was refused."""
    return _security_event("RequestDenied", {
        "user_id": actor.user_id if actor else None,
        "agency": actor.agency if actor else None,
        "role": actor.role if actor else None,
        "method": method, "path": path[:500], "reason": reason[:500],
    }, actor or system_actor(SERVICE))


# -- erasure of a document's data in the audit log ------------------------------------

DECISION_LENGTH = 200   # "12/QĐ-UBND ngày 01/12/2026 của Ủy ban nhân dân tỉnh ..."
REASON_LENGTH = 2000


def _required_text(value, name, limit):
    text = unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationFailed(f"{name}: bắt buộc (required)", field=name)
    if len(text) > limit:
        raise ValidationFailed(f"{name}: at most {limit} characters", field=name)
    return text


def data_erasure_ordered(actor, document_id, decision, reason):
    """``DocumentDataErasureOrdered``: an operator orders, under a legal decision
    (its number and date) and for a stated reason, that the audit log destroy
    the data of every earlier entry about ``document_id``. The leaves (hashes
    only) stay, so every proof stays valid; this order keeps its own data."""
    if actor is None or actor.role != "operator":
        raise Forbidden("role: only an operator orders an erasure", field="role")
    try:
        document_id = str(uuid.UUID(str(document_id)))
    except ValueError:
        raise ValidationFailed("document_id: not a UUID", field="document_id") from None
    data = {"document_id": document_id,
            "decision": _required_text(decision, "decision", DECISION_LENGTH),
            "reason": _required_text(reason, "reason", REASON_LENGTH)}
    return new_event("DocumentDataErasureOrdered", data, actor=actor, producer=SERVICE,
                     stream_id=f"erasure-{uuid.uuid4()}")
