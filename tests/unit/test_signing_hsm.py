"""The agency's seal key in a SoftHSM2 token: made inside it, never extractable, and
signing real PAdES seals and manifests that verify (SoftHSM2 is a library: no server).

The token is made by another process (``python -m shared.tokens init``, as the
harness does) before this one loads SoftHSM2, which sees only the tokens there
when it is loaded.
"""

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.samples import make_pdf
from services.signing import authority, hsm, manifest, pades, pki, tsa, verification
from shared import tokens
from shared.errors import Forbidden, ValidationFailed
from shared.settings import DevelopmentOnly
from tests.support.signing_pki import ca, tsa_url  # noqa: F401 (fixtures)

NOW = datetime.now(UTC)
CODE = "000.00.00.H41"
NAME = "Ủy ban nhân dân tỉnh Nghệ An"
PIN = "seal-pin-4821"
PKI_PIN = "pki-pin-730215"


def _init(directory, label, pin_file, so_pin_file, key_label=tokens.KEY_LABEL):
    done = subprocess.run([sys.executable, "-m", "shared.tokens", "init", str(directory),
                           "--label", label, "--pin-file", str(pin_file),
                           "--so-pin-file", str(so_pin_file), "--key-label", key_label],
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
    # The platform's root CA and TSA keys, each in a token of its own (PKI_TOKENS).
    (root / "pki-pin").write_text(PKI_PIN + "\n")
    platform_pems = {role: _init(root / "hsm", f"pki-{role}", root / "pki-pin",
                                 root / "so-pin", role) for role in ("ca", "tsa")}
    # One no other test opens (a token is logged in once per process): for a wrong PIN.
    _init(root / "hsm", "pki-spare", root / "pki-pin", root / "so-pin", "ca")
    tokens.SoftHsm(root / "hsm").use()
    return {"root": root, "public_pem": public_pem, "platform_pems": platform_pems,
            "pki_tokens": {role: {"token_label": f"pki-{role}",
                                  "pin_file": str(root / "pki-pin")}
                           for role in ("ca", "tsa")},
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


# -- the platform's root CA and TSA keys in their tokens (PKI_KEY_SOURCE=pkcs11) ---------

def _pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def platform_keys(token):
    return hsm.PlatformKeys(tokens.softhsm_module(), token["pki_tokens"])


def test_the_ca_and_tsa_keys_are_made_inside_their_tokens_never_extractable(token):
    for role in ("ca", "tsa"):
        done = subprocess.run([sys.executable, "-m", "shared.tokens", "keys",
                               str(token["root"] / "hsm"), "--label", f"pki-{role}",
                               "--pin-file", str(token["root"] / "pki-pin")],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == [{
            "label": role, "extractable": False, "sensitive": True, "always_sensitive": True,
            "never_extractable": True, "local": True}]


def test_a_root_in_the_token_signs_certificates_and_crls_openssl_accepts(platform_keys,
                                                                         token, tmp_path):
    key = platform_keys.key("ca")
    assert _pem(key.public_key()) == token["platform_pems"]["ca"]
    root = pki.create_root_ca("Root CA (HSM test)", NOW - timedelta(days=1),
                              NOW + timedelta(days=30), key=key)
    root.certificate.verify_directly_issued_by(root.certificate)
    leader = pki.issue_personal_cert(root, "Nguyễn Văn An", CODE, "leader")
    leader.certificate.verify_directly_issued_by(root.certificate)
    root.revoke(leader.certificate.serial_number, NOW)
    crl = x509.load_der_x509_crl(root.crl(NOW + timedelta(days=1)))
    assert crl.is_signature_valid(root.certificate.public_key())
    assert crl.get_revoked_certificate_by_serial_number(leader.certificate.serial_number)
    # openssl, the independent judge: the chain holds and the CRL (checked against the
    # root's key) says the leader's certificate is revoked.
    pem = serialization.Encoding.PEM
    (tmp_path / "root.pem").write_bytes(root.certificate.public_bytes(pem))
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(pem))
    (tmp_path / "leader.pem").write_bytes(leader.certificate.public_bytes(pem))
    plain = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
                            str(tmp_path / "leader.pem")], capture_output=True, text=True,
                           timeout=60)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    checked = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile",
                              str(tmp_path / "root.pem"), "-CRLfile", str(tmp_path / "crl.pem"),
                              str(tmp_path / "leader.pem")], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode != 0 and "certificate revoked" in checked.stdout + checked.stderr


def test_a_document_sealed_and_time_stamped_by_keys_in_tokens_verifies(platform_keys,
                                                                       token, tmp_path):
    """Root, TSA and seal keys all in tokens: pyHanko (our verifier) and pdfsig accept
    the signatures and their time stamps, and openssl accepts a time stamp token."""
    from services.audit import timestamp as ts
    from tests.support.openssl_ts import openssl_ts_verify

    root = pki.create_root_ca("Root CA (HSM test)", NOW - timedelta(days=1),
                              NOW + timedelta(days=30), key=platform_keys.key("ca"))
    tsa_key = platform_keys.key("tsa")
    stamping = pki.Identity(tsa.certify_tsa_key(root, tsa_key.public_key()), tsa_key,
                            (root.certificate,))
    seals = token["seals"]
    seal = seals.signer(CODE, pki.certify_organisation_key(root, CODE, NAME,
                                                           seals.public_key(CODE)),
                        (root.certificate,))
    leader = pki.issue_personal_cert(root, "Nguyễn Văn An", CODE, "leader", agency_name=NAME)
    with tsa.TsaServer(tsa.TimeStampAuthority(stamping)) as server:
        signed = pades.sign_as_leader(make_pdf("Quyết định"), leader, "Chủ tịch",
                                      "Nguyễn Văn An", timestamper_url=server.url)
        sealed = pades.seal_as_agency(signed, seal, timestamper_url=server.url)
        stamp = ts.HttpTimeStamper(server.url).stamp(b"checkpoint")
    report = verification.verify_pdf(sealed, [root.certificate],
                                     [root.crl(NOW + timedelta(days=1))],
                                     {"agency_code": CODE, "roles": ["leader", "agency"]})
    assert report["ok"], report
    timestamps = [c for c in report["checks"] if c["check"] == "timestamp"]
    assert len(timestamps) == 2 and all(c["ok"] for c in timestamps), report["checks"]
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert out.count("Signature is Valid") == 2, out
    root_pem = root.certificate.public_bytes(serialization.Encoding.PEM).decode()
    done = openssl_ts_verify(tmp_path, b"checkpoint", stamp, root_pem)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr


def test_an_authority_with_its_keys_in_tokens_writes_no_key_file(platform_keys, token,
                                                                 tmp_path):
    made = authority.Authority(str(tmp_path), None, seals=token["seals"],
                               platform=platform_keys)
    assert _pem(made.ca.certificate.public_key()) == token["platform_pems"]["ca"]
    assert _pem(made.tsa_identity.certificate.public_key()) == token["platform_pems"]["tsa"]
    assert sorted(os.listdir(tmp_path)) == ["root-ca.pem", "tsa.pem"]  # no keys/
    again = authority.Authority(str(tmp_path), None, seals=token["seals"],
                                platform=platform_keys)
    assert again.ca.certificate == made.ca.certificate  # the same root, kept
    # No person is issued a key the server would keep.
    with pytest.raises(ValidationFailed, match="public_key: .*development only"):
        made.enroll(None, "chu.tich", CODE, "leader", "Nguyễn Văn An")


def test_a_root_certifying_another_key_is_refused_not_replaced(platform_keys, token,
                                                               tmp_path):
    other = pki.create_root_ca("Root CA (a file's key)", NOW - timedelta(days=1),
                               NOW + timedelta(days=30))
    (tmp_path / "root-ca.pem").write_bytes(
        other.certificate.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(RuntimeError, match="PKI_TOKENS: .*certifies a key other than the"
                       " CA key in the token"):
        authority.Authority(str(tmp_path), None, seals=token["seals"], platform=platform_keys)


def test_platform_token_settings_name_what_is_wrong(token, tmp_path):
    entries = token["pki_tokens"]
    with pytest.raises(ValueError, match="PKI_TOKENS: the entry tsa is required .*TSA_URL"):
        hsm.PlatformKeys(tokens.softhsm_module(), {"ca": entries["ca"]})
    assert hsm.PlatformKeys(tokens.softhsm_module(), {"ca": entries["ca"]}, ("ca",))
    (tmp_path / "bad").write_text("wrong-pin\n")
    with pytest.raises(RuntimeError, match="PKI_TOKENS: ca: the token pki-spare refused:"
                       " Mã PIN của token “pki-spare” không đúng") as bad:
        hsm.PlatformKeys(tokens.softhsm_module(), {"ca": {
            "token_label": "pki-spare", "pin_file": str(tmp_path / "bad")}}, ("ca",))
    assert "wrong-pin" not in str(bad.value)
    with pytest.raises(RuntimeError, match="PKI_TOKENS: ca: the variable NO_SUCH_PIN"):
        hsm.PlatformKeys(tokens.softhsm_module(), {"ca": {
            "token_label": "pki-spare", "pin_env": "NO_SUCH_PIN"}}, ("ca",))
    with pytest.raises(RuntimeError, match="holds no single key 'root'.*--key-label root"):
        hsm.PlatformKeys(tokens.softhsm_module(), {"ca": {**entries["ca"], "key_label": "root"}},
                         ("ca",))
    with pytest.raises(ValueError, match="PKCS11_MODULE: required with PKI_KEY_SOURCE"):
        hsm.PlatformKeys.from_file("", str(tmp_path / "pki-tokens.json"))


# -- the file key store: development only ---------------------------------------------

def _provider(config):
    from services.signing.dependencies import SigningAuthority

    provider = SigningAuthority()
    provider.container = type("C", (), {"config": config})()
    provider.setup()
    return provider


def test_the_file_key_store_is_refused_outside_development_mode(token, tmp_path):
    base = {"PKI_DIR": str(tmp_path / "pki"), "PKI_PASSPHRASE": "a-real-passphrase-1234"}
    with pytest.raises(DevelopmentOnly) as refused:
        _provider(base)
    assert str(refused.value).startswith(
        "PKI_KEY_SOURCE is file (the default): the root CA's and the TSA's private keys"
        " would be files in PKI_DIR; production keeps them in an HSM (PKI_KEY_SOURCE=pkcs11"
        " with PKCS11_MODULE and PKI_TOKENS): allowed only in development mode"
        " (LIENTHONG_DEV_MODE=1)")
    (tmp_path / "pki-tokens.json").write_text(json.dumps(token["pki_tokens"]))
    (tmp_path / "seal-tokens.json").write_text(json.dumps({CODE: {
        "token_label": "seal-H41", "pin_file": str(token["root"] / "pin")}}))
    hsm_ca = {**base, "PKI_KEY_SOURCE": "pkcs11", "PKCS11_MODULE": tokens.softhsm_module(),
              "PKI_TOKENS": str(tmp_path / "pki-tokens.json")}
    with pytest.raises(DevelopmentOnly, match="SEAL_KEY_SOURCE is file .*the agencies' seal"
                       " keys would be files in PKI_DIR.*SEAL_TOKENS"):
        _provider(hsm_ca)
    assert not (tmp_path / "pki").exists()  # refused before anything was made

    # Every key in a token: it starts, with no key store and no passphrase needed.
    production = {**hsm_ca, "PKI_PASSPHRASE": None, "SEAL_KEY_SOURCE": "pkcs11",
                  "SEAL_TOKENS": str(tmp_path / "seal-tokens.json")}
    started = _provider(production)
    assert started.authority.keys is None
    assert sorted(os.listdir(tmp_path / "pki")) == ["root-ca.pem", "tsa.pem"]


def test_in_development_mode_the_file_key_store_runs_and_says_so(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        started = _provider({"PKI_DIR": str(tmp_path), "DEV_MODE": "1",
                             "PKI_PASSPHRASE": "a-real-passphrase-1234"})
    assert started.authority.keys is not None
    assert "DEVELOPMENT MODE: PKI_KEY_SOURCE is file (the default)" in caplog.text
    assert "DEVELOPMENT MODE: SEAL_KEY_SOURCE is file (the default)" in caplog.text
    assert os.path.exists(tmp_path / "keys" / "root-ca.key.pem")
