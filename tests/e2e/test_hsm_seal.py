"""The agency seals with a key in its SoftHSM2 token (issue 16): the real services,
the signing service configured with SEAL_KEY_SOURCE=pkcs11. The sealed document
verifies with our service and with pdfsig, the seal certificate certifies the
token's own key, the token says the key is sensitive and never extractable, and
no key file for it exists in the key store."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.stack import ServiceProcess
from services.signing.hsm import provision_softhsm
from tests.e2e.test_signatures import tool
from tests.support.client import DISTRICT_1, PROVINCE, wait_for
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e


def test_the_agency_seals_with_the_key_in_its_token(platform, stack, client, tmp_path):
    env, public_keys = provision_softhsm(os.path.join(platform.log_dir, "hsm"), [PROVINCE])
    stack["signing"] = ServiceProcess("signing", {**platform.service_env("signing"), **env},
                                      platform.log_dir)
    stack.start()
    issued = client.issue(client.token("clerk"), client.token("leader"), make_pdf("Chi thi"))
    document_id = issued["document_id"]
    recipient = client.token("clerk", agency=DISTRICT_1)
    with client.rpc(recipient) as rpc:
        url = wait_for(lambda: rpc.docs.file_url(document_id), what="the delivery")
        verdict = rpc.signing.verify_document(document_id)
    assert verdict["ok"] and verdict["manifest"]["ok"], verdict

    pdf = tmp_path / "document.pdf"
    pdf.write_bytes(requests.get(url, timeout=30).content)
    out = subprocess.run([tool("pdfsig", "poppler-utils"), str(pdf)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.count("Signature is Valid") == 2 and "AgencySeal" in out, out

    # The seal's certificate certifies the key the token made, and no file holds it.
    with client.rpc(client.token("auditor", agency="000.00.00.G22")) as rpc:
        certificates = {c["role"]: c for c in rpc.signing.certificates(PROVINCE)}
    seal = _seal_certificate(pdf)
    assert format(seal.serial_number, "x") == certificates["agency"]["serial"]
    assert seal.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode() == public_keys[PROVINCE]
    keys = os.listdir(os.path.join(platform.log_dir, "pki", "keys"))
    assert f"cert-{certificates['agency']['serial']}.key.pem" not in keys
    assert f"cert-{certificates['leader']['serial']}.key.pem" in keys  # the check can fail

    with open(env["LIENTHONG_SEAL_TOKENS"]) as fh:
        entry = json.load(fh)[PROVINCE]
    shown = subprocess.run(
        [sys.executable, "-m", "shared.tokens", "keys", os.path.dirname(env["SOFTHSM2_CONF"]),
         "--label", entry["token_label"], "--pin-file", entry["pin_file"]],
        capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    [key] = json.loads(shown.stdout)
    assert (key["extractable"], key["sensitive"], key["never_extractable"]) == (
        False, True, True)
    with open(entry["pin_file"]) as fh:
        pin = fh.read().strip()
    logs = "".join(path.read_text(errors="replace")
                   for path in pathlib.Path(platform.log_dir).glob("signing*.log"))
    assert "opened the seal token" in logs and pin not in logs


def _seal_certificate(path):
    from pyhanko.pdf_utils.reader import PdfFileReader

    with open(path, "rb") as fh:
        signatures = PdfFileReader(fh).embedded_regular_signatures
        [seal] = [s for s in signatures if s.field_name == "AgencySeal"]
        return x509.load_der_x509_certificate(seal.signer_cert.dump())
