"""The platform's root CA and TSA keys in SoftHSM2 tokens (issue 16, item 1), signing
run as production runs it (no development mode): every key of the platform's is in a
token (the root's, the TSA's, the province's seal) and the leader's in their own.

The root certificate, the CRL and every time stamp are signed through PKCS#11; the
tokens say the keys are sensitive and never extractable; PKI_DIR holds certificates
and no key file; a document sealed and time-stamped there validates with pyHanko and
pdfsig, and the CRL verifies against the root."""

import base64
import json
import os
import pathlib
import subprocess
import sys

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.signing.hsm import provision_softhsm
from shared.errors import ValidationFailed
from tests.e2e.leader_flow import issued_and_verified, submitted
from tests.e2e.test_cli import PASSWORD, cli, ok  # noqa: F401 (the fixture)
from tests.e2e.test_leader_token import LABEL, leader_token  # noqa: F401 (the fixture)
from tests.support.client import PROVINCE
from tests.support.fixtures import SIGNING_DEV_ENROLMENT

pytestmark = pytest.mark.e2e
SPKI = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


@pytest.fixture
def hsm_signing(platform, stack):
    """Signing not in development mode, its keys in SoftHSM2 tokens (before ``cli``
    starts the stack): the provisioned settings and each token's public key."""
    for name in SIGNING_DEV_ENROLMENT:
        stack["signing"].env.pop(name)
    env, public_keys = provision_softhsm(os.path.join(platform.log_dir, "hsm"), [PROVINCE],
                                         platform=True)
    stack["signing"].env.update(env)
    return env, public_keys


def test_the_root_ca_and_the_tsa_sign_with_their_keys_in_the_token(
        platform, hsm_signing, cli, client, leader_token, tmp_path):  # noqa: F811
    env, public_keys = hsm_signing
    ok(cli("chu.tich", "login", "chu.tich", "--password-stdin", stdin=PASSWORD + "\n"))
    with client.rpc(client.token("admin")) as rpc:
        rpc.signing.enroll("chu.tich", PROVINCE, "leader", "Nguyễn Văn An",
                           public_key=leader_token["public_key"])
        # Outside development mode the server issues no person a key it would keep.
        with pytest.raises(ValidationFailed, match="public_key: .*development only"):
            rpc.signing.enroll("pho.chu.tich", PROVINCE, "leader", "Lê Văn Bình")
    document_id = submitted(client)
    ok(cli("chu.tich", "sign-digest", document_id, "--token", LABEL, "--pin-file",
           str(leader_token["pin_file"]), env=leader_token["hsm"].env()))
    issued_and_verified(client, document_id, tmp_path)  # signing's pyHanko, and pdfsig

    # The root certifies the CA token's key; it signed itself and the CRL.
    with client.rpc(client.token("clerk")) as rpc:
        anchor = rpc.signing.trust_anchor()
    root = x509.load_pem_x509_certificate(anchor["root_certificate"].encode())
    assert root.public_key().public_bytes(*SPKI).decode() == public_keys["ca"]
    root.verify_directly_issued_by(root)
    crl_der = base64.b64decode(anchor["crl"])
    crl = x509.load_der_x509_crl(crl_der)
    assert crl.issuer == root.subject and crl.is_signature_valid(root.public_key())

    # pyHanko, here, trusting only that root and that CRL: both signatures and their
    # time stamps hold, and the TSA that stamped them certifies the TSA token's key.
    stamped_by = _validated(tmp_path / "signed.pdf", root, crl_der)
    assert len(stamped_by) == 2
    assert {c.public_key().public_bytes(*SPKI).decode() for c in stamped_by} == {
        public_keys["tsa"]}
    assert all(c.issuer == root.subject for c in stamped_by)

    # No key file: PKI_DIR holds the two certificates only, and each token says its key
    # is sensitive and never left it.
    assert sorted(os.listdir(os.path.join(platform.log_dir, "pki"))) == [
        "root-ca.pem", "tsa.pem"]
    with open(env["LIENTHONG_PKI_TOKENS"]) as fh:
        entries = json.load(fh)
    with open(env["LIENTHONG_SEAL_TOKENS"]) as fh:
        entries[PROVINCE] = json.load(fh)[PROVINCE]
    pins = []
    for name, entry in entries.items():
        shown = subprocess.run(
            [sys.executable, "-m", "shared.tokens", "keys",
             os.path.dirname(env["SOFTHSM2_CONF"]), "--label", entry["token_label"],
             "--pin-file", entry["pin_file"]], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        [key] = json.loads(shown.stdout)
        assert (key["label"], key["extractable"], key["sensitive"],
                key["never_extractable"]) == (entry.get("key_label", "seal"), False, True,
                                              True), name
        with open(entry["pin_file"]) as fh:
            pins.append(fh.read().strip())
    logs = "".join(path.read_text(errors="replace")
                   for path in pathlib.Path(platform.log_dir).glob("signing*.log"))
    assert "opened the token pki-ca of the platform's ca key" in logs
    assert "made the root CA certificate for the key in the token" in logs
    assert "DEVELOPMENT MODE" not in logs
    assert not any(pin in logs for pin in pins)


def _validated(path, root, crl_der):
    """Validate every signature of the PDF at ``path`` with pyHanko, trusting ``root``
    and ``crl_der`` only, fetching nothing; the certificates of their time stamps."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    trusted = asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))

    def context():
        return ValidationContext(trust_roots=[trusted], crls=[crl_der], allow_fetching=False)

    stamped_by = []
    with open(path, "rb") as fh:
        for signature in PdfFileReader(fh).embedded_regular_signatures:
            status = validate_pdf_signature(signature, context(), context())
            assert status.bottom_line, status.pretty_print_details()
            stamp = status.timestamp_validity
            assert stamp is not None and stamp.intact and stamp.valid and stamp.trusted
            stamped_by.append(x509.load_der_x509_certificate(stamp.signing_cert.dump()))
    return stamped_by
