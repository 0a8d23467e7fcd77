"""Authentication: short-lived signed tokens naming a user, agency and role.

A token is ``base64url(claims) "." base64url(HMAC-SHA256(secret, claims))``.
Every service holds the secret and checks the signature and the expiry
itself, so no request is trusted because of where it came from. The gateway
(a later issue) issues them after a login; tests and the demo mint them with
the development secret.
"""

import base64
import hashlib
import hmac
import json
import time

from marshmallow import ValidationError

from shared.envelope import Actor, ActorSchema
from shared.errors import Forbidden, Unauthenticated

DEFAULT_TTL = 3600
_actor_schema = ActorSchema()


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret, actor, ttl=DEFAULT_TTL, now=None):
    claims = {**actor.to_dict(), "exp": int((now or time.time()) + ttl)}
    body = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def verify_token(secret, token, now=None):
    """The token's :class:`Actor`; :class:`Unauthenticated` says what is wrong."""
    if not token or not isinstance(token, str):
        raise Unauthenticated("no credentials: send a bearer token", field="authorization")
    try:
        body_text, mac_text = token.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:
        raise Unauthenticated("malformed token", field="authorization") from None
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise Unauthenticated("token signature does not verify", field="authorization")
    claims = json.loads(body)
    if claims.get("exp", 0) <= (now or time.time()):
        raise Unauthenticated("token expired", field="authorization")
    try:
        return _actor_schema.load({k: claims.get(k) for k in ("user_id", "agency", "role")})
    except ValidationError:
        raise Unauthenticated("token claims are invalid", field="authorization") from None


def require_role(actor, *roles):
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role!r} may not do this; needs {' or '.join(roles)}",
                        field="role")
    return actor


__all__ = ["Actor", "issue_token", "verify_token", "require_role"]
