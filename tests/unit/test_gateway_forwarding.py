"""The gateway calls services as the admitted user: each call carries a fresh
assertion for that service and method, never the user's bearer token."""

import collections
from unittest.mock import Mock

import pytest

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
    identity = _Identity(Mock(key=key, rpc_reply_listener=Mock(), timeout=lambda s, m: 30,
                              in_flight=collections.defaultdict(lambda: None)), worker_ctx)
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


def _provider(cls, config):
    provider = cls()
    provider.container = Mock(config=config, service_name="x", max_workers=40)
    return provider


def test_the_gateway_does_not_start_without_its_key_file_or_a_real_passphrase(tmp_path):
    from services.gateway.dependencies import GatewayIdentity
    from shared.settings import InsecureConfiguration

    path = str(tmp_path / "gateway.key")
    with pytest.raises(InsecureConfiguration, match="GATEWAY_KEY_PASSPHRASE"):
        _provider(GatewayIdentity, {"GATEWAY_KEY_FILE": path}).setup()
    with pytest.raises(InsecureConfiguration, match="GATEWAY_KEY_PASSPHRASE"):
        _provider(GatewayIdentity, {"GATEWAY_KEY_FILE": path,
                                    "GATEWAY_KEY_PASSPHRASE": "dev-only-change-me"}).setup()
    with pytest.raises(RuntimeError, match="GATEWAY_KEY_FILE"):
        _provider(GatewayIdentity, {"GATEWAY_KEY_FILE": path,
                                    "GATEWAY_KEY_PASSPHRASE": "x" * 32}).setup()
    auth.create_key_file(path, "x" * 32)
    identity = _provider(GatewayIdentity, {"GATEWAY_KEY_FILE": path,
                                           "GATEWAY_KEY_PASSPHRASE": "x" * 32})
    identity.setup()
    assert identity.key.public_key().public_bytes_raw() == \
        auth.load_public_key(f"{path}.pub").public_bytes_raw()
    assert identity.in_flight["signing"].balance == 10  # a quarter of the workers


def test_a_service_does_not_start_without_the_gateways_public_key():
    from shared.edge.authenticator import Authenticator

    for config in ({}, {"GATEWAY_PUBLIC_KEY": ""}, {"GATEWAY_PUBLIC_KEY": "dev-only-change-me"}):
        with pytest.raises(ValueError, match="GATEWAY_PUBLIC_KEY"):
            _provider(Authenticator, config).setup()
