"""Who is calling: the gateway's bearer tokens and its per-call identity assertions.

Both are JWTs (PyJWT) signed by the gateway's Ed25519 key (EdDSA); only the
gateway holds the private key, every other service holds the public key only,
so no service can make up a user.

- A **bearer token** (``typ`` ``at+jwt``, ``aud`` ``gateway``) is what a user
  gets at login. Only the gateway accepts it, and it also checks on every
  request that the user still exists, is not disabled and has not logged the
  token out. It never leaves the gateway.
- An **assertion** (``typ`` ``lienthong-assertion+jwt``) is minted by the
  gateway for one RPC or HTTP call it makes on a user's behalf: ``aud`` is the
  called service and ``call`` the method (``docs.submit``); it lives 60 s and
  is accepted once. A service accepts nothing else as a user.
- **Onward calls**: a few methods call other services for the same user (audit's
  ``reconcile`` asks docs, signing and routing for ``state_summary``). The
  minter puts those assertions inside the outer one (claim ``onward``, table
  :data:`ONWARD`), so the service passes on assertions it could not have made
  and that are good for nothing but those calls.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from marshmallow import ValidationError

from shared.envelope import Actor
from shared.errors import Forbidden, Unauthenticated
from shared.keys import load_ed25519, load_or_create_ed25519, public_raw, write_public
from shared.wire import ActorSchema

if TYPE_CHECKING:
    from _typeshed import StrPath

ISSUER = "gateway"
ALGORITHM = "EdDSA"
BEARER_TYPE = "at+jwt"
ASSERTION_TYPE = "lienthong-assertion+jwt"
MAX_TOKEN_TTL = 12 * 3600   # a bearer token living longer is refused, whatever it says
ASSERTION_TTL = 60
MAX_ASSERTION_TTL = 120
LEEWAY = 10                 # seconds of clock difference between machines
# The calls a method makes onward for the same caller: their assertions ride in its own.
ONWARD = {"audit.reconcile": ("docs.state_summary", "signing.state_summary",
                              "routing.state_summary"),
          # The agency tree a dashboard aggregates: routing's directory.
          "audit.dashboard": ("routing.agencies", "routing.agency"),
          # Only those who may read the document (docs decides) verify it.
          "signing.verify_document": ("docs.get_document",),
          # Only those docs lets download the document (not a recalled copy).
          "signing.manifest_urls": ("docs.file_url",),
          # The sending agency's XML signature on a package, written and checked by
          # the service that holds the seal keys and the trusted roots.
          "routing.export_edxml": ("signing.sign_edxml",),
          "routing.export_status_edxml": ("signing.sign_edxml",),
          "routing.import_edxml": ("signing.verify_edxml",),
          "routing.import_status_edxml": ("signing.verify_edxml",),
          # docs numbers and registers a copy; signing signs it with the agency's key.
          "docs.copy_document": ("signing.copy_pdf",),
          # Only those docs shows a copy to verify it.
          "signing.verify_copy": ("docs.get_document", "docs.copies")}

_actor_schema = ActorSchema()


# -- keys --------------------------------------------------------------------------------

def create_key_file(path: StrPath, passphrase: str | None) -> Ed25519PrivateKey:
    """Make (or open) the gateway's encrypted key file and its ``.pub``; the private key."""
    key = load_or_create_ed25519(path, passphrase)
    write_public(f"{path}.pub", key)
    return key


def load_private_key(path: StrPath | None, passphrase: str | None,
                     setting: str = "GATEWAY_KEY_FILE") -> Ed25519PrivateKey:
    """The key of an existing file; never makes one (that is the operator's step)."""
    try:
        return load_ed25519(path or "", passphrase)
    except FileNotFoundError:
        raise RuntimeError(f"{setting}: no key file at {path!r}; make one with"
                           " `python -m shared.auth <file>` (passphrase from"
                           " LIENTHONG_GATEWAY_KEY_PASSPHRASE)") from None


def public_key_text(private_key: Ed25519PrivateKey) -> str:
    """The raw public key, base64: what the services are given."""
    return base64.b64encode(public_raw(private_key)).decode()


def load_public_key(value: str | None, setting: str = "GATEWAY_PUBLIC_KEY") -> Ed25519PublicKey:
    """An Ed25519 public key from base64 (raw 32 bytes), or a file holding that or a PEM."""
    text = str(value or "").strip()
    if text and os.path.isfile(text):
        with open(text, "rb") as fh:
            data = fh.read()
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"{setting}: {text} does not hold an Ed25519 public key")
            return key
        text = data.decode().strip()
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise ValueError(f"{setting}: not an Ed25519 public key (base64 of 32 bytes, or a"
                         " file holding one)") from None


# -- bearer tokens (the gateway's alone) -------------------------------------------------

def issue_bearer(private_key: Ed25519PrivateKey, actor: Actor, ttl: int, epoch: int = 0,
                 now: float | None = None) -> tuple[str, dict[str, Any]]:
    """``(token, claims)`` for a user who just logged in; ``epoch`` is the user's
    token generation (a password change moves it on, voiding older tokens)."""
    if not 0 < ttl <= MAX_TOKEN_TTL:
        raise ValueError(f"TOKEN_TTL_SECONDS: between 1 and {MAX_TOKEN_TTL}")
    now = int(now if now is not None else time.time())
    claims = {"iss": ISSUER, "aud": ISSUER, "sub": actor.user_id, "agency": actor.agency,
              "role": actor.role, "epoch": int(epoch), "iat": now, "exp": now + int(ttl),
              "jti": str(uuid.uuid4())}
    return jwt.encode(claims, private_key, algorithm=ALGORITHM,
                      headers={"typ": BEARER_TYPE}), claims


def verify_bearer(public_key: Ed25519PublicKey, token: str | None,
                  now: float | None = None) -> dict[str, Any]:
    """The claims of a bearer token the gateway issued; :class:`Unauthenticated` if not.

    The caller (the gateway) still checks the user, the epoch and the jti.
    """
    return _decode(public_key, token, BEARER_TYPE, ISSUER, MAX_TOKEN_TTL, now)


# -- per-call assertions -----------------------------------------------------------------

def mint_assertion(private_key: Ed25519PrivateKey, actor: Actor, service: str, method: str,
                   ttl: int = ASSERTION_TTL, now: float | None = None) -> str:
    """The assertion that ``actor`` calls ``service.method`` (and its onward calls)."""
    now = int(now if now is not None else time.time())
    call = f"{service}.{method}"
    claims = {"iss": ISSUER, "aud": service, "call": call, "sub": actor.user_id,
              "agency": actor.agency, "role": actor.role, "iat": now, "exp": now + ttl,
              "jti": str(uuid.uuid4())}
    onward = {c: mint_assertion(private_key, actor, *c.split("."), ttl=ttl, now=now)
              for c in ONWARD.get(call, ())}
    if onward:
        claims["onward"] = onward
    return jwt.encode(claims, private_key, algorithm=ALGORITHM,
                      headers={"typ": ASSERTION_TYPE})


def verify_assertion(public_key: Ed25519PublicKey, token: str | None, service: str,
                     method: str, now: float | None = None) -> dict[str, Any]:
    """The claims of an assertion for exactly ``service.method``, else Unauthenticated."""
    claims = _decode(public_key, token, ASSERTION_TYPE, service, MAX_ASSERTION_TTL, now)
    if claims.get("call") != f"{service}.{method}":
        raise Unauthenticated(f"the assertion is for {claims.get('call')!r}, not"
                              f" {service}.{method}", field="authorization")
    return claims


def actor_of(claims: Mapping[str, Any]) -> Actor:
    try:
        return _actor_schema.load({"user_id": claims.get("sub"), "agency": claims.get("agency"),
                                   "role": claims.get("role")})
    except ValidationError:
        raise Unauthenticated("token claims are invalid", field="authorization") from None


class ReplayGuard:
    """The jtis of assertions already accepted, until they expire: each works once."""

    def __init__(self):
        self._seen, self._lock = {}, threading.Lock()

    def admit(self, claims: Mapping[str, Any], now: float | None = None) -> None:
        now = now if now is not None else time.time()
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {j: e for j, e in self._seen.items() if e + LEEWAY > now}
            if claims["jti"] in self._seen:
                raise Unauthenticated("assertion already used", field="authorization")
            self._seen[claims["jti"]] = claims["exp"]


def _decode(public_key, token, typ, audience, max_ttl, now):
    if not token or not isinstance(token, str):
        raise Unauthenticated("no credentials: send a bearer token", field="authorization")
    try:
        if jwt.get_unverified_header(token).get("typ") != typ:
            raise Unauthenticated("wrong kind of token here", field="authorization")
        claims = jwt.decode(
            # iat and exp are checked below, against ``now`` (which tests give).
            token, public_key, algorithms=[ALGORITHM], audience=audience, issuer=ISSUER,
            leeway=LEEWAY, options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"],
                                    "verify_iat": False, "verify_exp": False})
    except jwt.InvalidAudienceError:
        raise Unauthenticated("token is for another service", field="authorization") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("token signature does not verify", field="authorization") from None
    except jwt.InvalidTokenError as err:
        raise Unauthenticated(f"token is invalid: {err}", field="authorization") from None
    now = now if now is not None else time.time()
    iat, exp = claims["iat"], claims["exp"]
    if not all(isinstance(v, int) for v in (iat, exp)) or exp - iat > max_ttl:
        raise Unauthenticated(f"token lives longer than {max_ttl} s", field="authorization")
    if iat > now + LEEWAY:
        raise Unauthenticated("token issued in the future", field="authorization")
    if exp + LEEWAY <= now:
        raise Unauthenticated("token expired", field="authorization")
    return claims


def require_role(actor: Actor, *roles: str) -> Actor:
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role!r} may not do this; needs {' or '.join(roles)}",
                        field="role")
    return actor


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m shared.auth FILE``: make the gateway's key file (the passphrase from
    ``LIENTHONG_GATEWAY_KEY_PASSPHRASE``); prints the public key the services are given."""
    import sys

    from shared.settings import secret_problem

    args = sys.argv[1:] if argv is None else argv
    passphrase = os.environ.get("LIENTHONG_GATEWAY_KEY_PASSPHRASE")
    if len(args) != 1 or secret_problem(passphrase):
        print("usage: LIENTHONG_GATEWAY_KEY_PASSPHRASE=<a strong passphrase>"
              " python -m shared.auth <key file>", file=sys.stderr)
        return 2
    print(public_key_text(create_key_file(args[0], passphrase)))
    return 0


__all__ = ["Actor", "issue_bearer", "verify_bearer", "mint_assertion", "verify_assertion",
           "require_role"]

if __name__ == "__main__":
    raise SystemExit(main())
