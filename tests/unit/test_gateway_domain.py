"""The gateway's pure rules: password hashing, logins, users, roles, security events."""

import hmac

import pytest

from services.gateway import domain
from shared.envelope import event_from_dict
from shared.errors import Forbidden, Unauthenticated, ValidationFailed


def user(password="correct horse battery", **overrides):
    hashed, salt = domain.hash_password(password)
    return {"user_id": "van.thu", "agency": "000.00.00.H41", "role": "clerk",
            "full_name": "Trần Thị Bình", "password_hash": hashed, "salt": salt,
            "created_at": "2026-01-01T00:00:00+00:00", **overrides}


def test_the_right_password_verifies_and_a_wrong_one_does_not():
    hashed, salt = domain.hash_password("mật khẩu đủ dài 12")
    assert domain.verify_password("mật khẩu đủ dài 12", hashed, salt)
    assert not domain.verify_password("mật khẩu đủ dài 13", hashed, salt)
    assert not domain.verify_password("", hashed, salt)


def test_each_hash_has_its_own_salt():
    (h1, s1), (h2, s2) = domain.hash_password("same password!"), domain.hash_password(
        "same password!")
    assert s1 != s2 and h1 != h2
    assert len(s1) == domain.SALT_BYTES and len(h1) == domain.SCRYPT["dklen"]
    # Deterministic for a given salt: that is what verification relies on.
    assert domain.hash_password("same password!", s1)[0] == h1


def test_the_comparison_is_constant_time(monkeypatch):
    calls, real = [], hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(domain.hmac, "compare_digest", spy)
    hashed, salt = domain.hash_password("a long password")
    assert domain.verify_password("a long password", hashed, salt)
    assert calls and calls[-1][1] == hashed


def test_a_login_gives_the_users_actor_and_refuses_alike_for_unknown_user_and_bad_password():
    row = user()
    actor = domain.check_login(row, "correct horse battery")
    assert (actor.user_id, actor.agency, actor.role) == ("van.thu", "000.00.00.H41", "clerk")
    with pytest.raises(Unauthenticated) as wrong:
        domain.check_login(row, "wrong password here")
    with pytest.raises(Unauthenticated) as unknown:
        domain.check_login(None, "correct horse battery")
    assert wrong.value.message == unknown.value.message == domain.LOGIN_FAILED
    assert (wrong.value.reason, unknown.value.reason) == ("wrong_password", "unknown_user")


@pytest.mark.parametrize("change, field", [
    ({"password": "short"}, "password"), ({"role": "system"}, "role"),
    ({"agency": "H41"}, "agency")])
def test_a_new_user_needs_a_long_password_a_known_role_and_an_agency_code(change, field):
    command = {"user_id": "u", "agency": "000.00.00.H41", "role": "clerk", "full_name": "U",
               "password": "twelve chars"}
    assert domain.check_new_user(command) is command
    with pytest.raises(ValidationFailed) as err:
        domain.check_new_user({**command, **change})
    assert err.value.field == field


def test_a_user_view_never_shows_the_hash_or_salt():
    view = domain.user_view(user())
    assert "password_hash" not in view and "salt" not in view
    assert view["user_id"] == "van.thu"


def test_roles_are_checked_per_endpoint():
    leader = domain.check_login(user(role="leader"), "correct horse battery")
    assert domain.authorize(leader, domain.READERS) is leader
    with pytest.raises(Forbidden):
        domain.authorize(leader, domain.CLERK)


def test_security_events_are_valid_envelopes():
    failed = domain.login_failed("nobody", "unknown_user")
    denied = domain.request_denied(None, "POST", "/v1/documents/x/seal", "unauthenticated: no")
    for event in (failed, denied):
        assert event_from_dict(event.at(1).to_dict()).data == event.data  # as stored
        assert event.producer == "gateway"
    assert failed.data == {"user_id": "nobody", "reason": "unknown_user"}
    assert denied.data["user_id"] is None and denied.data["method"] == "POST"
