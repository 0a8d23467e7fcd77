"""shared.auth: signed, expiring tokens and role checks."""

import base64
import hashlib
import hmac
import json

import pytest

from shared.auth import issue_token, require_role, verify_token
from shared.envelope import Actor
from shared.errors import Forbidden, Unauthenticated

SECRET = "dev-secret-for-unit-tests"
NOW = 1_700_000_000
CLERK = Actor("u1", "000.00.00.H41", "clerk")


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flip(text, index):
    """``text`` with one base64 character changed (never to the same one)."""
    replacement = "B" if text[index] == "A" else "A"
    return text[:index] + replacement + text[index + 1:]


def _unauthenticated(token, secret=SECRET, now=NOW):
    with pytest.raises(Unauthenticated) as err:
        verify_token(secret, token, now=now)
    assert err.value.field == "authorization"
    assert err.value.http_status == 401
    return err.value


def test_issue_then_verify_gives_back_the_actor():
    token = issue_token(SECRET, CLERK, now=NOW)
    assert verify_token(SECRET, token, now=NOW) == CLERK


@pytest.mark.parametrize("actor", [
    Actor("leader-7", "001.02.03.H41", "leader"),
    Actor("audit", "000.00.00.G00", "auditor"),
    Actor("người dùng", "000.00.00.H41", "clerk"),
])
def test_round_trip_keeps_user_agency_and_role(actor):
    assert verify_token(SECRET, issue_token(SECRET, actor, now=NOW), now=NOW) == actor


def test_token_is_body_dot_mac_with_an_expiry_claim():
    token = issue_token(SECRET, CLERK, ttl=60, now=NOW)
    body_text, mac_text = token.split(".")
    body = _unb64(body_text)
    assert json.loads(body) == {**CLERK.to_dict(), "exp": NOW + 60}
    assert _unb64(mac_text) == hmac.new(SECRET.encode(), body, hashlib.sha256).digest()


def test_a_token_whose_claims_were_changed_is_refused():
    token = issue_token(SECRET, CLERK, now=NOW)
    body_text, mac_text = token.split(".")
    claims = json.loads(_unb64(body_text))
    claims["role"] = "admin"
    forged = _b64(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
    error = _unauthenticated(f"{forged}.{mac_text}")
    assert "signature" in error.message


def test_a_token_with_a_changed_body_character_is_refused():
    token = issue_token(SECRET, CLERK, now=NOW)
    body_text, mac_text = token.split(".")
    _unauthenticated(f"{_flip(body_text, 3)}.{mac_text}")


def test_a_token_with_a_changed_mac_is_refused():
    token = issue_token(SECRET, CLERK, now=NOW)
    body_text, mac_text = token.split(".")
    _unauthenticated(f"{body_text}.{_flip(mac_text, 0)}")
    _unauthenticated(f"{body_text}.{_flip(mac_text, 20)}")


def test_a_token_with_a_truncated_mac_is_refused():
    token = issue_token(SECRET, CLERK, now=NOW)
    body_text, mac_text = token.split(".")
    _unauthenticated(f"{body_text}.{mac_text[:-4]}")


def test_a_token_signed_with_another_secret_is_refused():
    token = issue_token("another-secret", CLERK, now=NOW)
    _unauthenticated(token)


def test_an_expired_token_is_refused():
    token = issue_token(SECRET, CLERK, ttl=60, now=NOW)
    assert verify_token(SECRET, token, now=NOW + 59) == CLERK
    error = _unauthenticated(token, now=NOW + 61)
    assert "expired" in error.message


def test_a_token_without_expiry_claim_is_refused_as_expired():
    body = json.dumps(CLERK.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    error = _unauthenticated(f"{_b64(body)}.{_b64(mac)}")
    assert "expired" in error.message


def test_a_correctly_signed_token_with_invalid_claims_is_refused():
    token = issue_token(SECRET, Actor("u1", "not-an-agency", "clerk"), now=NOW)
    _unauthenticated(token)
    token = issue_token(SECRET, Actor("u1", "000.00.00.H41", "emperor"), now=NOW)
    _unauthenticated(token)


@pytest.mark.parametrize("token", [
    "no-dot-at-all", "a.b.c", "a.b", "!!!.???", "é.é", ".", "abc.", ".abc",
])
def test_a_malformed_token_is_refused(token):
    _unauthenticated(token)


@pytest.mark.parametrize("token", [None, "", b"bytes.token", 42])
def test_a_missing_token_is_refused(token):
    _unauthenticated(token)


def test_require_role_returns_the_actor_when_its_role_is_allowed():
    assert require_role(CLERK, "clerk") is CLERK
    assert require_role(CLERK, "leader", "clerk") is CLERK


def test_require_role_refuses_another_role():
    with pytest.raises(Forbidden) as err:
        require_role(CLERK, "leader", "auditor")
    assert err.value.field == "role"
    assert err.value.http_status == 403
    assert "leader or auditor" in err.value.message
