"""A leader signs through a remote signing service speaking the CSC API v2 (issue 16):
the CSC stand-in holds the leader's key in its own SoftHSM2 token; an administrator
has the platform's CA certify that key's public key; the leader gives only their OTP;
the signing service makes the hand-out, has the provider sign its digest under a SAD
for that hash, and completes it through the token's checks. The server holds no key
of the leader's; what it refuses changes nothing."""

import json
import os
import pathlib

import pytest

from shared.errors import Forbidden, ValidationFailed
from tests.e2e.test_cli import cli, ok  # noqa: F401 (the fixture)
from tests.e2e.leader_flow import issued_and_verified, submitted
from tests.support.client import PROVINCE, wait_for
from tests.support.csc import otp, standin
from tests.support.openapi import check_body

pytestmark = pytest.mark.e2e
LEADER = "chu.tich"
WRONG_OTP = "sai-ma-otp-61803"


@pytest.fixture
def provider(tmp_path, stack):
    """The stand-in, and the signing service configured to use it as ``standin``."""
    with standin(tmp_path / "csc") as running:
        providers = tmp_path / "csc-providers.json"
        providers.write_text(json.dumps({"standin": {
            "url": running.url, "token_file": str(running.client_token_file),
            "timeout_seconds": 10}}))
        stack["signing"].env["LIENTHONG_CSC_PROVIDERS"] = str(providers)
        yield running


def test_a_leader_signs_through_the_csc_standin_with_their_otp_alone(
        platform, provider, cli, client, tmp_path):  # noqa: F811
    ok(cli(LEADER, "login", LEADER, "--password-stdin", stdin="mật khẩu thử nghiệm 2026\n"))
    enrolment = provider.enroll(LEADER)            # at the provider: key and TOTP
    someone_else = provider.enroll(f"pho.chu.tich@{PROVINCE}")
    admin, leader = client.token("admin"), client.token("leader", user=LEADER)
    with client.rpc(admin) as rpc:
        with pytest.raises(ValidationFailed, match="no remote signing provider") as unknown:
            rpc.signing.enroll_remote(LEADER, PROVINCE, "Nguyễn Văn An", "elsewhere",
                                      enrolment["credentialID"])
        assert unknown.value.field == "provider"
        with pytest.raises(ValidationFailed, match="lists no credential") as not_theirs:
            rpc.signing.enroll_remote(LEADER, PROVINCE, "Nguyễn Văn An", "standin",
                                      someone_else["credentialID"])
        assert not_theirs.value.field == "credential_id"
        mine = rpc.signing.enroll_remote(LEADER, PROVINCE, "Nguyễn Văn An", "standin",
                                         enrolment["credentialID"])
    first, second = submitted(client), submitted(client)

    with client.rpc(leader) as rpc:
        def wrong_code():
            try:
                rpc.signing.sign_remotely(first, "000000" if otp(enrolment) != "000000"
                                          else "111111")
            except Forbidden as refused:  # not NotFound: signing knows the document
                return refused
        wrong = wait_for(wrong_code, what="signing to hear of the document")
        assert wrong.field == "OTP" and "wrong code" in wrong.message, wrong
        # Their certificate is for the key at the provider, not for a token of theirs.
        with pytest.raises(Forbidden, match="signs through sign-remote"):
            rpc.signing.prepare_signature(first)
        assert rpc.docs.get_document(first)["state"] == "submitted"  # nothing changed
        # The key is at the provider: the server cannot sign for the leader.
        with pytest.raises(Forbidden, match="own token"):
            rpc.signing.sign_document(first)

    # Through the gateway, as the leader does (lienthong sign-remote asks the OTP).
    code = tmp_path / "otp"
    code.write_text(f"{WRONG_OTP}\n")
    refused = cli(LEADER, "sign-remote", first, "--otp-file", str(code))
    assert refused.returncode == 2 and "Mã OTP không đúng" in refused.stderr, refused.stderr
    code.write_text(otp(enrolment) + "\n")
    # --json: the gateway's answer as it came, checked against the OpenAPI document.
    signed = json.loads(ok(cli(LEADER, "sign-remote", first, "--otp-file", str(code),
                               "--json")).stdout)
    check_body("POST", f"/v1/documents/{first}/signature/remote", 200, signed)
    assert signed["document_id"] == first and signed["signed_file"]["key"]

    issued_and_verified(client, first, tmp_path)

    # The key is in the provider's token, not extractable; no file of the server holds it.
    keys = {k["label"]: k for k in json.loads(provider.tokens("keys"))}
    key = keys[enrolment["credentialID"]]
    assert (key["extractable"], key["sensitive"]) == (False, True)
    files = os.listdir(os.path.join(platform.log_dir, "pki", "keys"))
    assert f"cert-{mine['serial']}.key.pem" not in files
    logs = "".join(path.read_text(errors="replace")
                   for path in pathlib.Path(platform.log_dir).glob("*.log"))
    assert "sign_remotely" in logs and WRONG_OTP not in logs  # no OTP in any log

    # Its certificate revoked, the leader can no longer sign remotely with it.
    with client.rpc(admin) as rpc:
        rpc.signing.revoke_certificate(mine["serial"], "keyCompromise")
    with client.rpc(leader) as rpc:
        wait_for(lambda: rpc.docs.get_document(second)["state"] == "submitted",
                 what="the second document")
        with pytest.raises(Forbidden, match="no valid credential at a remote signing"):
            rpc.signing.sign_remotely(second, otp(enrolment))
        assert rpc.docs.get_document(second)["state"] == "submitted"

