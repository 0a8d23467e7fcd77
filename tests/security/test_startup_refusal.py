"""A service whose event key is not properly provisioned does not start.

Run as production runs it: ``nameko run`` with its config.yml, which has no
default for the event-key passphrase. Only in development mode does it start
with a weak passphrase and a key it makes itself, and then it says so loudly.
"""

import os

import pytest

from infra.stack import ServiceProcess
from shared.eventsig import passphrase_variable, read_trust_file
from tests.support.client import Client

pytestmark = pytest.mark.e2e


def run_docs(platform, **changes):
    env = {**platform.env(), **changes}
    for name in [k for k, v in env.items() if v is None]:
        del env[name]
    return ServiceProcess("docs", env, platform.log_dir).start()


def log_of(process):
    with open(process.log_path, encoding="utf-8") as fh:
        return fh.read()


def refusal(service, env, platform):
    """``service`` started with ``env`` must exit: its log (the exit code checked)."""
    process = ServiceProcess(service, env, platform.log_dir).start()
    try:
        process.wait_exit(timeout=60)
    finally:
        process.stop()
    assert process.proc.returncode != 0, f"{service} did not exit: see {process.log_path}"
    return log_of(process)


@pytest.mark.parametrize("passphrase, problem", [
    (None, "EVENT_KEY_PASSPHRASE is missing"),
    ("dev-only-passphrase", "EVENT_KEY_PASSPHRASE is a known default"),
    ("short", "EVENT_KEY_PASSPHRASE is shorter than 16 characters"),
])
def test_docs_refuses_to_start_without_a_real_passphrase(platform, passphrase, problem):
    docs = run_docs(platform, **{passphrase_variable("docs"): passphrase})
    try:
        docs.wait_exit(timeout=60)
    finally:
        docs.stop()
    assert docs.proc.returncode != 0
    assert problem in log_of(docs)


def test_docs_refuses_a_key_the_trust_file_does_not_list(platform, tmp_path):
    platform.env()  # provisioned ...
    other = tmp_path / "other-trust.json"
    other.write_text('{"docs": []}\n')  # ... but this trust file does not list docs' key
    docs = run_docs(platform, LIENTHONG_EVENT_TRUST_FILE=str(other))
    try:
        docs.wait_exit(timeout=60)
    finally:
        docs.stop()
    assert "EVENT_TRUST_FILE: docs's current event key" in log_of(docs)


def test_docs_refuses_when_its_key_was_never_provisioned(platform, tmp_path):
    empty = tmp_path / "no-keys"
    docs = run_docs(platform, LIENTHONG_EVENT_KEYS_DIR=str(empty),
                    LIENTHONG_EVENT_TRUST_FILE=platform.trust_file)
    try:
        docs.wait_exit(timeout=60)
    finally:
        docs.stop()
    assert f"EVENT_KEYS_DIR: docs has no event key {empty}/docs.key" in log_of(docs)
    assert not os.path.exists(empty / "docs.key")  # nothing made behind the operator's back


def test_in_development_mode_docs_starts_with_a_weak_passphrase_and_says_so(platform, tmp_path):
    keys = tmp_path / "dev-keys"
    docs = run_docs(platform, LIENTHONG_DEV_MODE="1", LIENTHONG_EVENT_KEYS_DIR=str(keys),
                    LIENTHONG_EVENT_TRUST_FILE=str(keys / "trust.json"),
                    **{passphrase_variable("docs"): "dev-only-passphrase"})
    client = Client(platform)
    try:
        docs.wait_ready(client, client.token("auditor"))
    finally:
        docs.stop()
    log = log_of(docs)
    assert "DEVELOPMENT MODE: EVENT_KEY_PASSPHRASE is a known default" in log
    assert "DEVELOPMENT MODE: docs makes its own event key" in log
    assert list(read_trust_file(str(keys / "trust.json"))) == ["docs"]


@pytest.mark.parametrize("value, problem", [(None, "is missing"),
                                            ("dev-only-passphrase", "is a known default")])
def test_audit_refuses_to_start_without_its_key_passphrase(platform, value, problem):
    env = {**platform.env(), "LIENTHONG_LOG_KEY_PASSPHRASE": value}
    if value is None:
        del env["LIENTHONG_LOG_KEY_PASSPHRASE"]
    log = refusal("audit", env, platform)
    assert f"LOG_KEY_PASSPHRASE {problem}" in log


def test_signing_refuses_the_file_key_store_outside_development_mode(platform):
    """No HSM configured (PKI_KEY_SOURCE and SEAL_KEY_SOURCE at their default, file):
    the keys would be files in PKI_DIR, which only development mode allows. Nothing
    is made."""
    log = refusal("signing", platform.env(), platform)
    assert "PKI_KEY_SOURCE is file (the default): the root CA's and the TSA's private keys" \
        " would be files in PKI_DIR; production keeps them in an HSM (PKI_KEY_SOURCE=pkcs11" \
        " with PKCS11_MODULE and PKI_TOKENS): allowed only in development mode" \
        " (LIENTHONG_DEV_MODE=1), never in production" in log
    assert not os.path.exists(os.path.join(platform.log_dir, "pki"))


def test_signing_in_development_mode_still_needs_its_key_store_passphrase(platform):
    """The file key store, allowed in development mode, is still encrypted: a missing
    PKI_PASSPHRASE stops signing there too."""
    env = {**platform.env(), "LIENTHONG_DEV_MODE": "1"}
    del env["LIENTHONG_PKI_PASSPHRASE"]
    log = refusal("signing", env, platform)
    assert "PKI_PASSPHRASE is missing" in log
    assert "DEVELOPMENT MODE: PKI_KEY_SOURCE is file (the default)" in log


def test_signing_refuses_automatic_enrolment_outside_development_mode(platform):
    """AUTO_ENROLL=true would issue any leader a server-held key on first use: only in
    development mode (tests/support/fixtures.py runs the tests' signing so)."""
    env = {**platform.env(), "LIENTHONG_AUTO_ENROLL": "true"}
    log = refusal("signing", env, platform)
    assert "AUTO_ENROLL issues a certificate and a server-held key to any leader on first" \
        " use, named as the caller says: allowed only in development mode" in log


@pytest.mark.parametrize("service", ["docs", "signing", "routing"])
def test_the_development_clock_is_refused_outside_development_mode(platform, tmp_path, service):
    """DEV_CLOCK_FILE would back-date event times and deadlines (the demo's history):
    a service started as production refuses it, naming the setting."""
    offset = tmp_path / "dev-clock"
    offset.write_text("-86400\n")
    env = {**platform.env(), "LIENTHONG_DEV_CLOCK_FILE": str(offset)}
    env.pop("LIENTHONG_DEV_MODE", None)
    log = refusal(service, env, platform)
    assert "DEV_CLOCK_FILE moves event times and deadlines by the offset in that file:" \
        " allowed only in development mode" in log
