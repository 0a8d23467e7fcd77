"""Login under attack, against the real gateway process: bodies bounded before
they are read, back-off per user id and per address (429 + Retry-After) before
any hashing, failures counted and summarised in the audit log, and argon2id
hashes (earlier scrypt rows upgraded at their next login)."""

import json
import os
import socket
import time

import eventlet
import psycopg
import pytest
import requests

from services.gateway import domain
from tests.support import db
from tests.support.client import PROVINCE, wait_for
from tests.support.gateway import login, seed_file

pytestmark = pytest.mark.e2e

WINDOW = 3  # seconds: the audit window of failed logins, short for the test


@pytest.fixture
def gateway(stack, platform, tmp_path):
    """The gateway (and audit, which logs its events), with one clerk."""
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, [{
        "user_id": "van.thu", "agency": PROVINCE, "role": "clerk",
        "full_name": "Trần Thị Bình"}])
    stack["gateway"].env["LIENTHONG_LOGIN_AUDIT_WINDOW_SECONDS"] = str(WINDOW)
    stack.start("gateway", "audit")
    return platform.gateway_url


def retry_after(answer):
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"]["code"] == "too_many_requests"
    seconds = int(answer.headers["Retry-After"])
    assert answer.json()["error"]["retry_after"] == seconds
    return seconds


def events(platform, event_type):
    return [row[0]["data"] for row in db.query(
        platform.pg_dsn, "gateway", "SELECT envelope FROM events WHERE event_type = %s"
        " ORDER BY position", (event_type,))]


def test_a_user_id_is_backed_off_exponentially_and_a_success_resets_it(gateway):
    threshold = domain.USER_BACKOFF.threshold
    for _ in range(threshold):
        assert login(gateway, "van.thu", "wrong password").status_code == 401
    started = time.monotonic()
    first = retry_after(login(gateway, "van.thu", "wrong password"))
    # Refused before hashing: even the right password waits.
    assert retry_after(login(gateway, "van.thu")) == first == 1
    assert time.monotonic() - started < 1.0
    time.sleep(first + 0.1)
    assert login(gateway, "van.thu", "wrong password").status_code == 401
    second = retry_after(login(gateway, "van.thu", "wrong password"))
    assert second == 2 * first
    time.sleep(second + 0.1)
    assert login(gateway, "van.thu", "wrong password").status_code == 401
    assert retry_after(login(gateway, "van.thu", "wrong password")) == 4 * first

    time.sleep(4 * first + 0.1)
    assert login(gateway, "van.thu").status_code == 200  # after the window: it works
    # ...and resets the count: the next failure is a plain 401 again.
    assert login(gateway, "van.thu", "wrong password").status_code == 401
    assert login(gateway, "van.thu").status_code == 200


def test_concurrent_tries_cannot_all_slip_in_before_the_first_failure_is_counted(gateway):
    """Each try is charged before its password is hashed: 30 at once for one user id
    get the threshold's worth of checks, the others 429."""
    threshold = domain.USER_BACKOFF.threshold
    pool = eventlet.GreenPool(30)
    codes = list(pool.imap(lambda n: login(gateway, "van.thu", f"guess {n}").status_code,
                           range(30)))
    # One more 401 is allowed: a slow machine may take past the 1 s block.
    assert threshold <= codes.count(401) <= threshold + 1, codes
    assert codes.count(429) == 30 - codes.count(401), codes


def test_an_address_is_backed_off_across_user_ids_and_its_refusals_summarised(
        gateway, platform):
    threshold = domain.ADDRESS_BACKOFF.threshold
    for n in range(threshold):  # each user id stays under its own threshold
        assert login(gateway, f"nobody.{n}", "wrong password").status_code == 401
    flood = 10
    refusals = [login(gateway, f"other.{n}", "wrong password") for n in range(flood)]
    assert {retry_after(answer) for answer in refusals} == {1}
    assert retry_after(login(gateway, "van.thu")) == 1  # the address, not the user

    # The first failure per user id is logged; the refusals are counted on the
    # address and summarised once its window closes.
    def summarised():
        return [e for e in events(platform, "LoginFailuresSummarised") if e["address"]]
    [summary] = wait_for(summarised, timeout=WINDOW + 20, what="the address's summary")
    assert summary["refused"] == flood + 1 and summary["failures"] == 0
    assert summary["address"] == "127.0.0.1" and summary["user_id"] is None
    failed = events(platform, "LoginFailed")
    assert len(failed) == threshold and failed[0]["address"] == "127.0.0.1"
    assert login(gateway, "van.thu").status_code == 200


def test_a_flood_for_one_user_id_leaves_a_bounded_log_with_the_count(gateway, platform):
    deadline = time.monotonic() + 2 * WINDOW + 1  # over two audit windows
    answers = {401: 0, 429: 0}
    while time.monotonic() < deadline:
        answer = login(gateway, "van.thu", f"guess {sum(answers.values())}")
        answers[answer.status_code] += 1
    assert answers[429] > 10 * answers[401], answers

    # Each window: one LoginFailed, then one summary with the rest counted.
    def all_counted():
        failed = events(platform, "LoginFailed")
        summaries = events(platform, "LoginFailuresSummarised")
        return (sum(e["failures"] for e in summaries) + len(failed) == answers[401]
                and sum(e["refused"] for e in summaries) == answers[429]
                and (failed, summaries))
    failed, summaries = wait_for(all_counted, timeout=WINDOW + 20,
                                 what="the last window's summary")
    assert 1 <= len(failed) <= 4 and len(summaries) <= 4, (len(failed), len(summaries))
    assert all(e["user_id"] == "van.thu" for e in failed + summaries)

    def in_audit_log():
        return db.scalar(platform.pg_dsn, "audit", "SELECT count(*) FROM entries WHERE"
                         " producer = 'gateway' AND event_type IN"
                         " ('LoginFailed', 'LoginFailuresSummarised')") == len(failed) + len(
                             summaries)
    wait_for(in_audit_log, timeout=30, what="the audit log to take the summaries")


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_an_oversized_login_body_is_refused_unread(gateway, stack):
    host, port = gateway.rsplit("/", 1)[1].split(":")
    # Headers only, announcing 100 MB: the answer comes without a byte of body sent.
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type:"
                     b" application/json\r\nContent-Length: 100000000\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "payload_too_large"
    assert "limit of 16384 bytes" in body["error"]["message"]

    # The whole 100 MB sent: refused fast, and the gateway does not grow by it.
    pid = stack["gateway"].proc.pid
    before = rss_kib(pid)
    started = time.monotonic()
    answer = requests.post(f"{gateway}/v1/auth/login", data=b" " * 100_000_000,
                           headers={"Content-Type": "application/json"}, timeout=60)
    assert answer.status_code == 413 and time.monotonic() - started < 10
    assert rss_kib(pid) - before < 20 * 1024, (before, rss_kib(pid))
    # Other JSON bodies have a limit too.
    token = login(gateway, "van.thu").json()["token"]
    big = requests.post(f"{gateway}/v1/documents/{'0' * 8}-0000-0000-0000-{'0' * 12}/submit",
                        data=b" " * 2_000_000, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})
    assert big.status_code == 413, big.text
    assert "limit of 1048576 bytes" in big.json()["error"]["message"]


# The users table as the scrypt-only version made it.
OLD_USERS_DDL = """
CREATE TABLE gateway.users (
    user_id       text PRIMARY KEY,
    agency        text NOT NULL,
    role          text NOT NULL CHECK (role IN ('clerk', 'leader', 'auditor', 'admin')),
    full_name     text NOT NULL,
    password_hash bytea NOT NULL,
    salt          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
"""


def test_an_earlier_scrypt_user_logs_in_and_is_upgraded_to_argon2id(stack, platform):
    salt = os.urandom(domain.SALT_BYTES)
    old_password = "mật khẩu từ phiên bản cũ"
    with psycopg.connect(platform.pg_dsn, autocommit=True) as conn:
        # Made by the gateway's own login, in the schema provisioned for it.
        conn.execute("CREATE SCHEMA IF NOT EXISTS gateway")
        [owner] = conn.execute("SELECT nspowner::regrole::text FROM pg_namespace"
                               " WHERE nspname = 'gateway'").fetchone()
        conn.execute(f"SET ROLE {owner}")
        conn.execute(OLD_USERS_DDL)
        conn.execute("INSERT INTO gateway.users (user_id, agency, role, full_name,"
                     " password_hash, salt) VALUES ('cu', %s, 'clerk', 'Người Cũ', %s, %s)",
                     (PROVINCE, domain.scrypt_hash(old_password, salt), salt))
    stack.start("gateway")  # its schema is brought up to date
    url = platform.gateway_url
    assert login(url, "cu", "not it").status_code == 401
    assert login(url, "cu", old_password).status_code == 200
    [(phc, old_hash, old_salt)] = db.query(
        platform.pg_dsn, "gateway",
        "SELECT password_phc, password_hash, salt FROM users WHERE user_id = 'cu'")
    assert phc.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and old_hash is old_salt is None
    assert login(url, "cu", old_password).status_code == 200
    assert login(url, "cu", "not it").status_code == 401
