"""The agency's seal key in a SoftHSM2 token: made inside it, never extractable, and
signing real PAdES seals and manifests that verify (SoftHSM2 is a library: no server).

The token is made by another process (``python -m shared.tokens init``, as the
harness does) before this one loads SoftHSM2, which sees only the tokens there
when it is loaded.
"""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from infra.samples import make_pdf
from services.signing import hsm, manifest, pades, pki, verification
from shared import tokens
from shared.errors import Forbidden
from tests.support.signing_pki import ca, tsa_url  # noqa: F401 (fixtures)

NOW = datetime.now(UTC)
CODE = "000.00.00.H41"
NAME = "Ủy ban nhân dân tỉnh Nghệ An"
PIN = "seal-pin-4821"


def _init(directory, label, pin_file, so_pin_file):
    done = subprocess.run([sys.executable, "-m", "shared.tokens", "init", str(directory),
                           "--label", label, "--pin-file", str(pin_file),
                           "--so-pin-file", str(so_pin_file)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """One agency's token, with its PIN file; this process's SoftHSM2 points at it."""
    root = tmp_path_factory.mktemp("softhsm")
    (root / "pin").write_text(PIN + "\n")
    (root / "so-pin").write_text("so-pin-99173\n")
    public_pem = _init(root / "hsm", "seal-H41", root / "pin", root / "so-pin")
    tokens.SoftHsm(root / "hsm").use()
    return {"root": root, "public_pem": public_pem,
            "seals": hsm.SealTokens(tokens.softhsm_module(), {CODE: {
                "token_label": "seal-H41", "pin_file": str(root / "pin")}})}


def test_the_key_is_made_inside_the_token_sensitive_and_never_extractable(token):
    done = subprocess.run([sys.executable, "-m", "shared.tokens", "keys",
                           str(token["root"] / "hsm"), "--label", "seal-H41",
                           "--pin-file", str(token["root"] / "pin")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [key] = json.loads(done.stdout)
    assert key == {"label": "seal", "extractable": False, "sensitive": True,
                   "always_sensitive": True, "never_extractable": True, "local": True}
    assert PIN not in done.stdout + done.stderr


def test_the_token_refuses_to_hand_out_its_private_key(token):
    from pkcs11 import Attribute, ObjectClass, exceptions

    session = tokens.open_session(tokens.softhsm_module(), "seal-H41", PIN)
    [key] = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
    with pytest.raises(exceptions.AttributeSensitive):
        key[Attribute.VALUE]
    session.close()


def test_a_seal_signed_in_the_token_verifies_with_pyhanko_and_pdfsig(token, ca, tsa_url,
                                                                     tmp_path):
    seals = token["seals"]
    public = seals.public_key(CODE)
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert pem == token["public_pem"]  # the key the token made
    certificate = pki.certify_organisation_key(ca, CODE, NAME, public)
    signer = seals.signer(CODE, certificate, (ca.certificate,))
    leader = pki.issue_personal_cert(ca, "Nguyễn Văn An", CODE, "leader", agency_name=NAME)
    signed = pades.sign_as_leader(make_pdf("Quyết định"), leader, "Chủ tịch",
                                  "Nguyễn Văn An", timestamper_url=tsa_url)
    sealed = pades.seal_as_agency(signed, signer, timestamper_url=tsa_url)
    report = verification.verify_pdf(sealed, [ca.certificate],
                                     [ca.crl(NOW + timedelta(days=1))],
                                     {"agency_code": CODE, "roles": ["leader", "agency"]})
    assert report["ok"], report
    assert [s["role"] for s in report["signatures"]] == ["leader", "agency"]
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert out.count("Signature is Valid") == 2 and "AgencySeal" in out, out


def test_a_manifest_signed_in_the_token_verifies(token, ca):
    seals = token["seals"]
    certificate = pki.certify_organisation_key(ca, CODE, NAME, seals.public_key(CODE))
    body = manifest.manifest_bytes(manifest.build_manifest({"so": "1/QĐ"}, {"a.pdf": b"%PDF"}))
    signature = manifest.sign_manifest(body, seals.signer(CODE, certificate, (ca.certificate,)))
    report = verification.verify_manifest(body, signature, [ca.certificate],
                                          [ca.crl(NOW + timedelta(days=1))],
                                          {"agency_code": CODE, "role": "agency"})
    assert report["ok"], report


def test_an_agency_without_a_token_or_a_missing_token_is_refused(token):
    with pytest.raises(Forbidden, match="000.00.00.H99 has no seal token"):
        token["seals"].public_key("000.00.00.H99")
    missing = hsm.SealTokens(tokens.softhsm_module(), {CODE: {
        "token_label": "seal-H42", "pin_file": str(token["root"] / "pin")}})
    with pytest.raises(Forbidden, match="Không tìm thấy token “seal-H42”"):
        missing.public_key(CODE)


def test_a_wrong_pin_is_refused_in_vietnamese_and_never_shown(token, tmp_path):
    (tmp_path / "bad").write_text("wrong-pin\n")
    done = subprocess.run([sys.executable, "-m", "shared.tokens", "keys",
                           str(token["root"] / "hsm"), "--label", "seal-H41",
                           "--pin-file", str(tmp_path / "bad")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert "Mã PIN của token “seal-H41” không đúng" in done.stderr
    assert "wrong-pin" not in done.stderr


def test_seal_token_settings_name_the_missing_field():
    with pytest.raises(ValueError, match="token_label"):
        hsm.SealTokens("/x.so", {CODE: {"pin_file": "/p"}})
    with pytest.raises(ValueError, match="pin_file or pin_env"):
        hsm.SealTokens("/x.so", {CODE: {"token_label": "t"}})
    with pytest.raises(ValueError, match="PKCS11_MODULE"):
        hsm.SealTokens.from_file("", "/tokens.json")
