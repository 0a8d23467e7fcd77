"""Enrolment as a CA does it (issue 16, item 3), on the real stack with signing run as
production runs it (no development mode, AUTO_ENROLL at its default):

- a leader's certificate is issued against the CSR their own SoftHSM2 token made,
  once an administrator of their agency approved it; the certificate names them as
  their user record does; requests and decisions reach the audit log;
- without a certificate nothing is issued on first use; the agency's seal
  certificate is still the platform's to issue;
- roots other than the platform's (the national root CA) are trusted only when the
  operator configures them (TRUST_ROOTS).
"""

import json
import os

import psycopg
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.signing.hsm import provision_softhsm
from shared.errors import Forbidden, NotFound
from tests.e2e.leader_flow import issued_and_verified, submitted
from tests.e2e.test_cli import PASSWORD, cli, ok  # noqa: F401 (the fixture)
from tests.e2e.test_leader_token import LABEL, leader_token  # noqa: F401 (the fixture)
from tests.support.client import DISTRICT_1, PROVINCE, wait_for
from tests.support.fixtures import SIGNING_DEV_ENROLMENT
from tests.support.gateway import login
from tests.support.openapi import check_answer, check_body
from tests.unit.test_signing_enrolment import csr_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def production_signing(platform, stack):
    """Signing as production runs it: not in development mode, AUTO_ENROLL unset, every
    key of the platform's in an HSM (SoftHSM2 tokens: the root CA, the TSA, the
    province's seal), as production must (before ``cli`` starts the stack)."""
    for name in SIGNING_DEV_ENROLMENT:
        stack["signing"].env.pop(name)
    env, _ = provision_softhsm(os.path.join(platform.log_dir, "hsm"), [PROVINCE],
                               platform=True)
    stack["signing"].env.update(env)
    return stack


def api(platform, user):
    """``call(method, path, body)`` on the gateway's JSON API as ``user`` (logged in)."""
    token = login(platform.gateway_url, user).json()["token"]

    def call(method, path, body=None):
        return check_answer(requests.request(method, platform.gateway_url + path, json=body,
                                             timeout=30,
                                             headers={"Authorization": f"Bearer {token}"}))
    return call


def refused(call):
    """The Forbidden ``call()`` raised; None while the service does not know the
    document yet (NotFound)."""
    try:
        call()
    except Forbidden as err:
        return err
    except NotFound:
        return None
    raise AssertionError("not refused")


def test_a_leader_is_enrolled_against_their_tokens_csr_once_their_agency_s_admin_approves(
        platform, production_signing, cli, client, leader_token, tmp_path):  # noqa: F811
    for user in ("chu.tich", "quan.tri", "van.hanh"):
        ok(cli(user, "login", user, "--password-stdin", stdin=PASSWORD + "\n"))
    # An administrator of another agency, created as the operator creates one.
    ok(cli("van.hanh", "admin", "add-user", "quan.tri.h1", "--agency", DISTRICT_1, "--role",
           "admin", "--name", "Phan Văn Khoa", stdin=PASSWORD + "\n"))
    ok(cli("quan.tri.h1", "login", "quan.tri.h1", "--password-stdin", stdin=PASSWORD + "\n"))
    leader = api(platform, "chu.tich")
    first = submitted(client)

    # No automatic enrolment: neither a server-held key nor a hand-out without a certificate.
    with client.rpc(client.token("leader", user="chu.tich")) as rpc:
        no_key = wait_for(lambda: refused(lambda: rpc.signing.sign_document(first)),
                          what="signing to hear of the document")
        assert "holds no leader certificate" in str(no_key) and "certificate request" in \
            str(no_key), no_key
        with pytest.raises(Forbidden, match="holds no valid leader certificate"):
            rpc.signing.prepare_signature(first)

    # A CSR signed by a key other than the one it carries is refused by its rule.
    forged = csr_of(signer=ec.generate_private_key(ec.SECP256R1()))
    answer = leader("POST", "/v1/certificates/requests", {"csr": forged})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == "csr" and "proof of possession" in answer.text

    # The leader's token makes the request; the key stays in it.
    requested = ok(cli("chu.tich", "certificate", "request", "--token", LABEL, "--pin-file",
                       str(leader_token["pin_file"]), "--json", env=leader_token["hsm"].env()))
    # --json prints the gateway's answers as they came: each checked against the OpenAPI
    # document (tests/support/openapi.py), as the Api client's are.
    request = check_body("POST", "/v1/certificates/requests", 201, json.loads(requested.stdout))
    assert (request["state"], request["full_name"]) == ("pending", "Nguyễn Văn An")

    # Another agency's administrator neither sees nor decides it.
    foreign = cli("quan.tri.h1", "admin", "approve-request", request["request_id"])
    assert foreign.returncode == 2 and "forbidden" in foreign.stderr, foreign.stderr
    assert f"administrator of {DISTRICT_1} may not act on {PROVINCE}" in foreign.stderr
    assert json.loads(ok(cli("quan.tri.h1", "admin", "certificate-requests", "--json")
                         ).stdout) == []
    [listed] = check_body("GET", "/v1/admin/certificates/requests", 200, json.loads(
        ok(cli("quan.tri", "admin", "certificate-requests", "--json")).stdout))
    assert (listed["request_id"], listed["holder"]) == (request["request_id"], "chu.tich")

    approve = f"/v1/admin/certificates/requests/{request['request_id']}/approve"
    approved = check_body("POST", approve, 200, json.loads(ok(cli(
        "quan.tri", "admin", "approve-request", request["request_id"], "--json")).stdout))
    again = cli("quan.tri", "admin", "approve-request", request["request_id"])
    assert again.returncode == 2 and "already approved" in again.stderr, again.stderr

    # The certificate certifies the token's key, and names the leader as the platform's
    # record does: the CSR said only "CN=signing".
    certificate = x509.load_pem_x509_certificate(approved["pem"].encode())
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    assert certificate.public_key().public_bytes(*spki).decode() == leader_token["public_key"]
    subject = certificate.subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [
        "Nguyễn Văn An"]
    assert [a.value for a in subject.get_attributes_for_oid(
        NameOID.ORGANIZATION_IDENTIFIER)] == [PROVINCE]
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.TITLE)] == ["leader"]

    # The leader signs with it through their token; the clerk's seal is the platform's
    # certificate, issued on first use as before; a recipient verifies both.
    completed = json.loads(ok(cli("chu.tich", "sign-digest", first, "--token", LABEL,
                                  "--pin-file", str(leader_token["pin_file"]), "--json",
                                  env=leader_token["hsm"].env())).stdout)
    check_body("POST", f"/v1/handouts/{first}/complete", 200, completed)  # any hand-out id
    assert completed["document_id"] == first
    issued_and_verified(client, first, tmp_path)
    # No key of theirs here, nor any other: outside development mode no key store.
    assert sorted(os.listdir(os.path.join(platform.log_dir, "pki"))) == [
        "root-ca.pem", "tsa.pem"]

    # A request rejected, saying why, cannot be approved after.
    other = leader("POST", "/v1/certificates/requests", {"csr": csr_of()})
    assert other.status_code == 201, other.text
    other_id = other.json()["request_id"]
    rejected = json.loads(ok(cli("quan.tri", "admin", "reject-request", other_id, "--reason",
                                 "Không phải token do đơn vị cấp", "--json")).stdout)
    check_body("POST", f"/v1/admin/certificates/requests/{other_id}/reject", 200, rejected)
    assert (rejected["state"], rejected["reason"]) == ("rejected", "Không phải token do đơn vị cấp")
    late = cli("quan.tri", "admin", "approve-request", other_id)
    assert late.returncode == 2 and "already rejected" in late.stderr, late.stderr
    decided = check_body("GET", "/v1/admin/certificates/requests", 200, json.loads(ok(cli(
        "quan.tri", "admin", "certificate-requests", "--state", "all", "--json")).stdout))
    assert {r["request_id"]: r["state"] for r in decided} == {
        request["request_id"]: "approved", other_id: "rejected"}

    # Requests and decisions are signing's events, and the audit log keeps them.
    def logged():
        with psycopg.connect(platform.pg_dsn) as conn:
            return conn.execute(
                "SELECT event_type, actor_user FROM audit.entries WHERE stream_id LIKE"
                " 'certificate-request-%%' ORDER BY idx").fetchall()
    expected = [("CertificateRequested", "chu.tich"), ("CertificateRequestApproved", "quan.tri"),
                ("CertificateRequested", "chu.tich"), ("CertificateRequestRejected", "quan.tri")]
    wait_for(lambda: logged() == expected, what="the audit log to keep the enrolment")


def test_the_admin_screen_lists_a_pending_request_and_approves_it(
        platform, production_signing, cli, client):  # noqa: F811
    """The web's Chứng thư số screen: the section of pending requests, approved there."""
    from tests.e2e.test_web import post, session

    made = api(platform, "chu.tich")("POST", "/v1/certificates/requests", {"csr": csr_of()})
    assert made.status_code == 201, made.text
    request_id = made.json()["request_id"]
    url = platform.gateway_url
    browser = session(url, "quan.tri")
    page = browser.get(f"{url}/web/admin/certificates", timeout=60)
    assert "Yêu cầu cấp chứng thư số chờ phê duyệt" in page.text and "Nguyễn Văn An" in page.text
    answer = post(browser, url, f"/web/admin/certificates/requests/{request_id}/approve")
    assert answer.status_code == 200 and "Đã cấp chứng thư số" in answer.text, answer.text
    assert "Không có yêu cầu cấp chứng thư số nào chờ phê duyệt." in answer.text


def test_roots_besides_the_platform_s_are_trusted_only_when_configured(
        platform, production_signing, client, tmp_path):
    """A document from a ministry off the platform, its leader's and its seal's
    certificates from another CA (the national root, as a test makes it): refused until
    the operator trusts that root (TRUST_ROOTS), accepted with it."""
    from datetime import UTC, datetime, timedelta

    from services.signing import pades, pki
    from services.routing import edxml
    from tests.support.edxml import MINISTRY, package
    from tests.support.pdf import make_pdf

    production_signing.start()
    now = datetime.now(UTC)
    national = pki.create_root_ca("Root CA quốc gia (thử nghiệm)", now - timedelta(days=1),
                                  now + timedelta(days=365))
    leader = pki.issue_personal_cert(national, "Trần Văn Bình", MINISTRY, "leader",
                                     agency_name="Bộ Nội vụ")
    seal = pki.issue_organisation_cert(national, MINISTRY, "Bộ Nội vụ")
    with client.rpc(client.token("clerk")) as rpc:
        tsa_url = rpc.signing.trust_anchor()["tsa_url"]
    signed = pades.sign_as_leader(make_pdf("Cong van cua Bo Noi vu"), leader, "Bộ trưởng",
                                  "Trần Văn Bình", "", timestamper_url=tsa_url)
    sealed = pades.seal_as_agency(signed, seal, timestamper_url=tsa_url)
    files = [edxml.Attachment(content_id="main", name="125-BNV-VP.pdf",
                              content_type="application/pdf", content=sealed)]
    with client.rpc(client.token("operator")) as rpc:
        document_id = rpc.routing.import_edxml(package(to=(DISTRICT_1,), files=files))[
            "document_id"]
    recipient = client.token("clerk", agency=DISTRICT_1)

    def verdict():
        with client.rpc(recipient) as rpc:
            report = wait_for(lambda: rpc.signing.verify_document(document_id),
                              what="the arrival")["pdf"]
        return {c["check"]: c for c in report["checks"] if c["signature"]}, report

    checks, report = verdict()
    assert not report["ok"] and not checks["chain"]["ok"], report
    assert "trusted root" in checks["chain"]["detail"], checks["chain"]

    roots = tmp_path / "national-root.pem"
    crl = x509.load_der_x509_crl(national.crl(now + timedelta(days=1)))
    roots.write_bytes(national.certificate.public_bytes(serialization.Encoding.PEM)
                      + crl.public_bytes(serialization.Encoding.PEM))
    production_signing["signing"].stop()
    production_signing["signing"].env["LIENTHONG_TRUST_ROOTS"] = str(roots)
    production_signing.start("signing")
    checks, report = verdict()
    assert report["ok"], report
    assert [s["agency_code"] for s in report["signatures"]] == [MINISTRY, MINISTRY]
    for name in ("chain", "revocation", "timestamp", "integrity"):
        assert checks[name]["ok"], checks[name]
