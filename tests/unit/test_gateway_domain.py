"""The gateway's pure rules: password hashing, logins, users, roles, security events."""

import hmac
import os
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from services.gateway import domain
from shared.errors import Forbidden, Unauthenticated, ValidationFailed
from shared.wire import event_from_dict


def user(password="correct horse battery", **overrides):
    return {"user_id": "van.thu", "agency": "000.00.00.H41", "role": "clerk",
            "full_name": "Trần Thị Bình", "password_phc": domain.hash_password(password),
            "password_hash": None, "salt": None,
            "created_at": "2026-01-01T00:00:00+00:00", **overrides}


def scrypt_user(password, **overrides):
    """A row as the scrypt-only version stored it: hash and salt, no PHC string."""
    salt = os.urandom(domain.SALT_BYTES)
    return user(password_phc=None, password_hash=domain.scrypt_hash(password, salt),
                salt=salt, **overrides)


def test_the_right_password_verifies_and_a_wrong_one_does_not():
    row = user("mật khẩu đủ dài 12")
    assert domain.verify_password("mật khẩu đủ dài 12", row)
    assert not domain.verify_password("mật khẩu đủ dài 13", row)
    assert not domain.verify_password("", row)
    assert not domain.verify_password("x", {"password_phc": "not a PHC string"})


def test_a_hash_is_an_argon2id_phc_string_with_its_parameters_and_own_salt():
    h1, h2 = domain.hash_password("same password!"), domain.hash_password("same password!")
    assert h1 != h2
    assert h1.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_an_earlier_scrypt_hash_still_verifies_and_is_upgraded_once(monkeypatch):
    old = scrypt_user("mật khẩu cũ đủ dài")
    assert domain.verify_password("mật khẩu cũ đủ dài", old)
    assert not domain.verify_password("mật khẩu khác", old)
    assert domain.check_login(old, "mật khẩu cũ đủ dài").user_id == "van.thu"
    upgraded = domain.upgraded_hash(old, "mật khẩu cũ đủ dài")
    assert upgraded.startswith("$argon2id$")
    new = {**old, "password_phc": upgraded, "password_hash": None, "salt": None}
    assert domain.verify_password("mật khẩu cũ đủ dài", new)
    assert domain.upgraded_hash(new, "mật khẩu cũ đủ dài") is None  # current: kept


def test_a_hash_made_with_other_parameters_is_redone():
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    row = user(password_phc=weaker.hash("a long password"))
    assert domain.check_login(row, "a long password")  # its own parameters verify it
    assert domain.upgraded_hash(row, "a long password").startswith(
        "$argon2id$v=19$m=19456,t=2,p=1$")


def test_the_scrypt_comparison_is_constant_time(monkeypatch):
    calls, real = [], hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(domain.hmac, "compare_digest", spy)
    row = scrypt_user("a long password")
    assert domain.verify_password("a long password", row)
    assert calls and calls[-1][1] == row["password_hash"]


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
    assert not {"password_phc", "password_hash", "salt"} & set(view)
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
    assert failed.data == {"user_id": "nobody", "reason": "unknown_user", "address": None}
    assert denied.data["user_id"] is None and denied.data["method"] == "POST"


# -- failed logins: back-off and audit window ------------------------------------------

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
EMPTY = {"key": "user:van.thu", "failures": 0, "last_failure": None, "blocked_until": None,
         "window_start": None, "unlogged": 0, "refused": 0}


def test_the_back_off_starts_at_the_threshold_and_doubles_up_to_its_cap():
    backoff = domain.Backoff(threshold=3, base=1.0, cap=10.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0, 0, 1, 2, 4, 8, 10]


def test_charged_tries_block_from_the_threshold_and_old_failures_are_forgotten():
    backoff = domain.Backoff(threshold=2, forget=60)
    row = domain.charged(EMPTY, backoff, T0)
    assert (row["failures"], row["blocked_until"]) == (1, None)
    row = domain.charged(row, backoff, T0)
    assert row["blocked_until"] == T0 + timedelta(seconds=1)
    assert domain.retry_after(row["blocked_until"], T0) == 1
    assert domain.retry_after(row["blocked_until"], T0 + timedelta(seconds=1)) == 0
    row = domain.charged(row, backoff, T0 + timedelta(seconds=2))
    assert row["blocked_until"] == T0 + timedelta(seconds=4)
    # Charged tries that are not failures (yet) are never forgotten...
    assert domain.charged(row, backoff, T0 + timedelta(seconds=200))["failures"] == 4
    # ...failures are, once older than ``forget``: the count starts again.
    failed = {**row, "last_failure": T0 + timedelta(seconds=2)}
    assert domain.charged(failed, backoff, T0 + timedelta(seconds=50))["failures"] == 4
    later = domain.charged(failed, backoff, T0 + timedelta(seconds=200))
    assert (later["failures"], later["blocked_until"], later["last_failure"]) == (1, None, None)
    assert domain.charged(later, backoff, T0 + timedelta(seconds=201))["failures"] == 2
    assert domain.refunded(row, backoff)["failures"] == 2
    assert domain.refunded(domain.refunded(row, backoff), backoff)["blocked_until"] is None


def test_the_first_failure_of_a_window_is_logged_and_the_rest_summarised():
    row, closed = domain.counted(EMPTY, "unlogged", T0, window=60)
    assert closed is None and row["window_start"] == T0  # opened: logged on its own
    for n in range(1, 10):
        row, closed = domain.counted(row, "unlogged" if n % 2 else "refused",
                                     T0 + timedelta(seconds=n), window=60)
        assert closed is None
    assert (row["unlogged"], row["refused"]) == (5, 4)
    later = T0 + timedelta(seconds=61)
    row, closed = domain.counted(row, "unlogged", later, window=60)
    assert row["window_start"] == later and (row["unlogged"], row["refused"]) == (0, 0)
    summary = domain.summary_of(closed, later, window=60)
    assert summary.event_type == "LoginFailuresSummarised"
    assert summary.data | {"window_start": None} == {
        "user_id": "van.thu", "address": None, "failures": 5, "refused": 4,
        "window_start": None, "window_end": "2026-12-01T08:01:00.000000Z"}
    assert event_from_dict(summary.at(1).to_dict()).data == summary.data


def test_an_unknown_user_is_refused_as_slowly_as_a_wrong_password():
    import statistics
    import time

    row = user()
    times = {"unknown": [], "wrong": []}
    # Interleaved, and in this process's CPU time: the same work either way,
    # whatever else the machine runs meanwhile (wall time failed under load).
    for _ in range(5):
        for name, candidate in (("unknown", None), ("wrong", row)):
            started = time.process_time()
            with pytest.raises(Unauthenticated):
                domain.check_login(candidate, "wrong password here")
            times[name].append(time.process_time() - started)

    unknown, wrong = (statistics.median(times[k]) for k in ("unknown", "wrong"))
    assert 0.5 < unknown / wrong < 2, (unknown, wrong)  # both one argon2id hash


# -- an operator's erasure order -------------------------------------------------------

OPERATOR = domain.Actor("van.hanh", "000.00.00.H41", "operator")
DOCUMENT = "6f1c2a7e-0000-4000-8000-000000000001"


def test_an_erasure_order_keeps_the_decision_and_reason_trimmed_and_composed():
    event = domain.data_erasure_ordered(
        OPERATOR, DOCUMENT.upper(), "  12/QĐ-UBND ngày 01/12/2026 ",
        "Văn ba\u0309n đã bị thu hồi\n")
    assert event.event_type == "DocumentDataErasureOrdered" and event.producer == "gateway"
    assert dict(event.data) == {"document_id": DOCUMENT,
                                "decision": "12/QĐ-UBND ngày 01/12/2026",
                                "reason": "Văn bản đã bị thu hồi"}
    assert event.actor == OPERATOR
    assert event_from_dict(event.at(1).to_dict()).data == event.data  # as stored


@pytest.mark.parametrize("decision, reason, field", [
    ("12/QĐ-UBND ngày 01/12/2026", "   ", "reason"),
    ("12/QĐ-UBND ngày 01/12/2026", None, "reason"),
    ("", "Thu hồi", "decision"),
    ("x" * (domain.DECISION_LENGTH + 1), "Thu hồi", "decision"),
    ("12/QĐ-UBND ngày 01/12/2026", "x" * (domain.REASON_LENGTH + 1), "reason"),
])
def test_an_erasure_order_names_the_field_it_lacks(decision, reason, field):
    with pytest.raises(ValidationFailed) as err:
        domain.data_erasure_ordered(OPERATOR, DOCUMENT, decision, reason)
    assert err.value.field == field


def test_only_an_operator_orders_an_erasure_of_a_real_document_id():
    with pytest.raises(Forbidden):
        domain.data_erasure_ordered(domain.Actor("thanh.tra", "000.00.00.G22", "auditor"),
                                    DOCUMENT, "12/QĐ-UBND ngày 01/12/2026", "Thu hồi")
    with pytest.raises(ValidationFailed) as err:
        domain.data_erasure_ordered(OPERATOR, "not-a-uuid", "12/QĐ", "Thu hồi")
    assert err.value.field == "document_id"
