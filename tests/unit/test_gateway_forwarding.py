"""The gateway calls services as the admitted user: each call carries a fresh
assertion for that service and method, never the user's bearer token."""

from unittest.mock import Mock

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nameko.containers import WorkerContext

from services.gateway.dependencies import _Identity
from shared import auth
from shared.envelope import Actor

CLERK = Actor("van.thu", "000.00.00.H41", "clerk")


def _headers(identity, service, method):
    proxy = getattr(identity.rpc(service), method)
    return proxy.get_message_headers(identity.worker_ctx)


def test_each_call_carries_its_own_assertion_for_that_service_and_method():
    key = Ed25519PrivateKey.generate()
    container = Mock(config={"AMQP_URI": "memory://"}, service_name="gateway")
    worker_ctx = WorkerContext(container, None, Mock(method_name="submit"))
    identity = _Identity(Mock(key=key, rpc_reply_listener=Mock()), worker_ctx)
    identity.actor = CLERK

    first = _headers(identity, "docs", "submit")["nameko.authorization"]
    again = _headers(identity, "docs", "submit")["nameko.authorization"]
    other = _headers(identity, "signing", "seal_document")["nameko.authorization"]

    claims = auth.verify_assertion(key.public_key(), first, "docs", "submit")
    assert auth.actor_of(claims) == CLERK and claims["iss"] == "gateway"
    assert claims["exp"] - claims["iat"] == auth.ASSERTION_TTL
    assert auth.verify_assertion(key.public_key(), again, "docs", "submit")["jti"] != claims["jti"]
    assert auth.verify_assertion(key.public_key(), other, "signing", "seal_document")
    # What goes out is an assertion: nothing a worker holds is a bearer token.
    assert "authorization" not in worker_ctx.context_data
