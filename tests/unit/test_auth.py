"""shared.auth: the gateway's bearer tokens and per-call assertions (EdDSA JWTs),
and role checks."""

import base64
import json
import os

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import auth
from shared.auth import require_role
from shared.envelope import Actor
from shared.errors import Forbidden, Unauthenticated

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()
NOW = 1_700_000_000
CLERK = Actor("u1", "000.00.00.H41", "clerk")


def _refused(check, *args, now=NOW):
    with pytest.raises(Unauthenticated) as err:
        check(*args, now=now)
    assert err.value.field == "authorization" and err.value.http_status == 401
    return err.value


def _assertion(actor=CLERK, service="docs", method="submit", key=KEY, **kw):
    return auth.mint_assertion(key, actor, service, method, now=NOW, **kw)


def _verify(token, service="docs", method="submit", now=NOW):
    return auth.verify_assertion(PUBLIC, token, service, method, now=now)


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def _signed(claims, typ=auth.ASSERTION_TYPE, key=KEY):
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": typ})


# -- assertions --------------------------------------------------------------------------

@pytest.mark.parametrize("actor", [
    Actor("leader-7", "001.02.03.H41", "leader"),
    Actor("audit", "000.00.00.G00", "auditor"),
    Actor("người dùng", "000.00.00.H41", "clerk"),
])
def test_an_assertion_gives_back_its_actor(actor):
    assert auth.actor_of(_verify(_assertion(actor))) == actor


def test_an_assertion_is_an_eddsa_jwt_for_one_service_and_method():
    token = _assertion()
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": auth.ASSERTION_TYPE}
    claims = _claims(token)
    assert claims["iss"] == "gateway" and claims["aud"] == "docs"
    assert claims["call"] == "docs.submit" and claims["sub"] == "u1"
    assert claims["exp"] - claims["iat"] == auth.ASSERTION_TTL and claims["jti"]
    assert _claims(_assertion())["jti"] != claims["jti"]


def test_an_assertion_for_another_service_or_method_is_refused():
    assert "another service" in _refused(_verify, _assertion(service="signing")).message
    assert "docs.get_document" in _refused(
        _verify, _assertion(method="get_document")).message


def test_an_assertion_signed_by_another_key_is_refused():
    other = Ed25519PrivateKey.generate()
    assert "signature" in _refused(_verify, _assertion(key=other)).message


def test_an_assertion_whose_claims_were_changed_is_refused():
    header, body, signature = _assertion().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _refused(_verify, f"{header}.{forged}.{signature}")


def test_an_expired_assertion_is_refused_past_the_leeway():
    token = _assertion()
    assert _verify(token, now=NOW + auth.ASSERTION_TTL + auth.LEEWAY - 1)
    assert "expired" in _refused(_verify, token,
                                 now=NOW + auth.ASSERTION_TTL + auth.LEEWAY).message


def test_an_assertion_living_longer_than_the_maximum_is_refused():
    token = _assertion(ttl=auth.MAX_ASSERTION_TTL + 1)
    assert "longer" in _refused(_verify, token).message


def test_an_assertion_from_the_future_is_refused():
    token = auth.mint_assertion(KEY, CLERK, "docs", "submit", now=NOW + 3600)
    assert "future" in _refused(_verify, token).message


def test_a_bearer_token_is_not_an_assertion():
    bearer, _ = auth.issue_bearer(KEY, CLERK, ttl=3600, now=NOW)
    _refused(_verify, bearer)
    # Even one claiming the right audience and call: its type says what it is.
    claims = {**_claims(_assertion())}
    _refused(_verify, _signed(claims, typ=auth.BEARER_TYPE))


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "iat", "exp", "jti"])
def test_an_assertion_missing_a_claim_is_refused(missing):
    claims = _claims(_assertion())
    del claims[missing]
    _refused(_verify, _signed(claims))


def test_an_assertion_from_another_issuer_or_algorithm_is_refused():
    claims = _claims(_assertion())
    _refused(_verify, _signed({**claims, "iss": "docs"}))
    hs = jwt.encode(claims, "a-shared-secret-of-32-bytes-long", algorithm="HS256",
                    headers={"typ": auth.ASSERTION_TYPE})
    _refused(_verify, hs)
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"typ": auth.ASSERTION_TYPE})
    _refused(_verify, unsigned)


def test_a_correctly_signed_assertion_with_invalid_claims_names_no_actor():
    for actor in (Actor("u1", "not-an-agency", "clerk"), Actor("u1", "000.00.00.H41", "emperor")):
        with pytest.raises(Unauthenticated):
            auth.actor_of(_verify(_assertion(actor)))


@pytest.mark.parametrize("token", [None, "", b"bytes.token", 42, "a.b.c", "forged.token", "."])
def test_a_missing_or_malformed_assertion_is_refused(token):
    _refused(_verify, token)


def test_an_assertion_is_accepted_once():
    guard = auth.ReplayGuard()
    claims = _verify(_assertion())
    guard.admit(claims, now=NOW)
    assert "already used" in _refused(guard.admit, claims).message
    guard.admit(_verify(_assertion()), now=NOW)  # another one is fine


def test_onward_calls_ride_inside_the_assertion_and_are_good_only_for_them():
    auditor = Actor("thanh.tra", "000.00.00.G22", "auditor")
    token = _assertion(auditor, "audit", "reconcile")
    onward = _verify(token, "audit", "reconcile")["onward"]
    assert set(onward) == set(auth.ONWARD["audit.reconcile"])
    claims = _verify(onward["docs.state_summary"], "docs", "state_summary")
    assert auth.actor_of(claims) == auditor
    _refused(_verify, onward["docs.state_summary"], "docs", "get_document")
    assert "onward" not in _verify(_assertion())


# -- bearer tokens -----------------------------------------------------------------------

def test_a_bearer_token_is_for_the_gateway_and_carries_the_users_epoch():
    token, claims = auth.issue_bearer(KEY, CLERK, ttl=3600, epoch=3, now=NOW)
    assert jwt.get_unverified_header(token)["typ"] == auth.BEARER_TYPE
    verified = auth.verify_bearer(PUBLIC, token, now=NOW)
    assert verified == claims and claims["aud"] == "gateway" and claims["epoch"] == 3
    assert auth.actor_of(verified) == CLERK


def test_a_bearer_token_expires_and_cannot_live_longer_than_the_maximum():
    token, _ = auth.issue_bearer(KEY, CLERK, ttl=60, now=NOW)
    _refused(auth.verify_bearer, PUBLIC, token, now=NOW + 60 + auth.LEEWAY)
    with pytest.raises(ValueError):
        auth.issue_bearer(KEY, CLERK, ttl=auth.MAX_TOKEN_TTL + 1)
    claims = {**_claims(token), "exp": NOW + auth.MAX_TOKEN_TTL + 1}
    _refused(auth.verify_bearer, PUBLIC, _signed(claims, typ=auth.BEARER_TYPE))


def test_an_assertion_is_not_a_bearer_token():
    _refused(auth.verify_bearer, PUBLIC, _assertion(service="gateway"))


# -- keys --------------------------------------------------------------------------------

def test_the_key_file_is_encrypted_and_its_public_key_loads_from_text_or_file(tmp_path):
    path = str(tmp_path / "gateway.key")
    key = auth.create_key_file(path, "a-long-test-passphrase")
    with open(path, "rb") as fh:
        assert b"ENCRYPTED" in fh.read()
    assert oct(os.stat(path).st_mode)[-3:] == "600"
    again = auth.load_private_key(path, "a-long-test-passphrase")
    text = auth.public_key_text(key)
    assert auth.public_key_text(again) == text
    raw = base64.b64decode(text)
    assert auth.load_public_key(text).public_bytes_raw() == raw
    assert auth.load_public_key(f"{path}.pub").public_bytes_raw() == raw
    with pytest.raises(ValueError):
        auth.load_private_key(path, "the-wrong-passphrase")


def test_no_key_file_is_made_where_the_gateway_expects_one(tmp_path):
    path = str(tmp_path / "missing.key")
    with pytest.raises(RuntimeError, match="GATEWAY_KEY_FILE"):
        auth.load_private_key(path, "a-long-test-passphrase")
    assert not os.path.exists(path)


@pytest.mark.parametrize("value", [None, "", "not base64!", base64.b64encode(b"short").decode()])
def test_a_bad_public_key_setting_is_refused_by_name(value):
    with pytest.raises(ValueError, match="GATEWAY_PUBLIC_KEY"):
        auth.load_public_key(value)


# -- roles -------------------------------------------------------------------------------

def test_require_role_returns_the_actor_when_its_role_is_allowed():
    assert require_role(CLERK, "clerk") is CLERK
    assert require_role(CLERK, "leader", "clerk") is CLERK


def test_require_role_refuses_another_role():
    with pytest.raises(Forbidden) as err:
        require_role(CLERK, "leader", "auditor")
    assert err.value.field == "role"
    assert err.value.http_status == 403
    assert "leader or auditor" in err.value.message
