"""A leader signs with their own SoftHSM2 token (issue 16): the signing service lays the
signature out and hands out the digest, ``lienthong sign-digest`` on the leader's side
has the token sign it, the service completes the PAdES signature. The server holds
neither the PIN nor the key; what it refuses changes nothing."""

import base64
import json
import os
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import Conflict, Forbidden
from shared.tokens import SoftHsm
from tests.e2e.test_cli import cli, ok  # noqa: F401 (the fixture)
from tests.e2e.leader_flow import issued_and_verified, submitted
from tests.support.client import PROVINCE, wait_for
from tests.support.gateway import Api
from tests.support.openapi import check_body

pytestmark = pytest.mark.e2e
HANDOUT_SECONDS = 8
LABEL = "leader-chu-tich"


@pytest.fixture
def short_handouts(stack):
    """Hand-outs that expire soon, to see one expire (before ``cli`` starts the stack)."""
    stack["signing"].env["LIENTHONG_HANDOUT_SECONDS"] = str(HANDOUT_SECONDS)


@pytest.fixture
def leader_token(tmp_path):
    """The leader's own token, on "their machine": a SoftHSM2 of its own."""
    (tmp_path / "pin").write_text("2468-chu-tich\n")
    (tmp_path / "so-pin").write_text("so-9753\n")
    hsm = SoftHsm(tmp_path / "leader-hsm")

    def tokens(*args):
        done = subprocess.run([sys.executable, "-m", "shared.tokens", *args, hsm.directory,
                               "--label", LABEL, "--pin-file", str(tmp_path / "pin"),
                               "--key-label", "signing"] + ([] if args[0] != "init" else [
                                   "--so-pin-file", str(tmp_path / "so-pin")]),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout
    public_key = tokens("init")
    return {"hsm": hsm, "pin_file": tmp_path / "pin", "public_key": public_key,
            "run": tokens, "sign": lambda digest: tokens("sign", "--digest", digest).strip()}


def test_a_leader_signs_with_their_token_and_the_server_refuses_what_is_not_theirs(
        platform, short_handouts, cli, client, leader_token, tmp_path):  # noqa: F811
    for user in ("chu.tich", "van.thu"):
        ok(cli(user, "login", user, "--password-stdin", stdin="mật khẩu thử nghiệm 2026\n"))
    admin, leader = client.token("admin"), client.token("leader", user="chu.tich")
    stranger = ec.generate_private_key(ec.SECP256R1())
    with client.rpc(admin) as rpc:
        mine = rpc.signing.enroll("chu.tich", PROVINCE, "leader", "Nguyễn Văn An",
                                  public_key=leader_token["public_key"])
        other = rpc.signing.enroll("pho.chu.tich", PROVINCE, "leader", "Lê Văn Bình",
                                   public_key=_pem(stranger.public_key()))
    # The gateway's enroll answers this result as it is (with the PEM: a key was given).
    assert check_body("POST", "/v1/admin/certificates", 200, mine)["pem"]
    first, second = submitted(client), submitted(client)

    with client.rpc(leader) as rpc:
        handout = wait_for(lambda: rpc.signing.prepare_signature(first),
                           what="signing to hear of the document")
        assert handout["certificate"]["serial"] == mine["serial"]
        again = rpc.signing.prepare_signature(first)
        pem = handout["certificate"]["pem"]
        # A signature over another digest (the token's own, of another hand-out).
        with pytest.raises(Forbidden, match="not a signature of the digest handed out"):
            rpc.signing.complete_signature(handout["handout_id"],
                                           leader_token["sign"](again["digest"]), pem)
        # Another leader's certificate, with its own key's signature.
        other_pem = other["pem"]
        with pytest.raises(Forbidden, match="pho.chu.tich's, not the named leader chu.tich's"):
            rpc.signing.complete_signature(handout["handout_id"], _sign(
                stranger, handout["digest"]), other_pem)
        # An expired hand-out, however well signed.
        time.sleep(HANDOUT_SECONDS + 1)
        with pytest.raises(Forbidden, match="expired"):
            rpc.signing.complete_signature(handout["handout_id"],
                                           leader_token["sign"](handout["digest"]), pem)
        assert rpc.docs.get_document(first)["state"] == "submitted"  # nothing changed
        # Their key is in their token: the server cannot sign for them.
        with pytest.raises(Forbidden, match="in their own token"):
            rpc.signing.sign_document(first)

    wrong = tmp_path / "wrong-pin"
    wrong.write_text("1111\n")
    refused = cli("chu.tich", "sign-digest", first, "--token", LABEL, "--pin-file", str(wrong),
                  env=leader_token["hsm"].env())
    assert refused.returncode == 2
    assert f"Mã PIN của token “{LABEL}” không đúng" in refused.stderr, refused.stderr

    signed = ok(cli("chu.tich", "sign-digest", first, "--token", LABEL,
                    "--pin-file", str(leader_token["pin_file"]), env=leader_token["hsm"].env()))
    assert f"Đã ký số văn bản {first}" in signed.stdout
    issued_and_verified(client, first, tmp_path)

    # The key never left the token, and no file of the server holds it.
    [key] = json.loads(leader_token["run"]("keys"))
    assert (key["extractable"], key["sensitive"]) == (False, True)
    keys = os.listdir(os.path.join(platform.log_dir, "pki", "keys"))
    assert f"cert-{mine['serial']}.key.pem" not in keys

    # A revoked certificate: a hand-out made before the revocation is refused after it.
    # (This one asked through the gateway, its answer checked against the OpenAPI document.)
    prepared = wait_for(lambda: (r := Api(platform.gateway_url).post(
        "chu.tich", f"/v1/documents/{second}/signature/prepare")).status_code == 200 and r,
        what="signing to hear of the second document")
    late = prepared.json()
    assert (late["document_id"], late["certificate"]["serial"]) == (second, mine["serial"])
    with client.rpc(admin) as rpc:
        rpc.signing.revoke_certificate(mine["serial"], "keyCompromise")
    with client.rpc(leader) as rpc:
        with pytest.raises(Forbidden, match=f"{mine['serial']} was revoked"):
            rpc.signing.complete_signature(late["handout_id"],
                                           leader_token["sign"](late["digest"]), pem)
        with pytest.raises(Conflict, match="already signed"):  # signed once only
            rpc.signing.prepare_signature(first)
        assert rpc.docs.get_document(second)["state"] == "submitted"



def _pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _sign(key, digest_b64):
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from cryptography.hazmat.primitives import hashes

    return base64.b64encode(key.sign(base64.b64decode(digest_b64),
                                     ec.ECDSA(Prehashed(hashes.SHA256())))).decode()
