"""A recipient checks what arrived: with the signing service's explained verdict,
and independently, with poppler's pdfsig and OpenSSL, trusting only the root
certificate the platform publishes."""

import base64
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography import x509

from services.signing import longterm
from shared.errors import Forbidden, NotFound
from tests.support.client import DISTRICT_1, OUTSIDER, PROVINCE, wait_for
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e


def tool(name, package):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install {package}")
    return path


def _verifies_years_later(pdf, anchor, verdict):
    """The issued file is PAdES B-LTA (the leader's and the seal's validation data in
    its DSS, an archive time stamp after the seal): it verifies twelve years on,
    every certificate expired, from the published root alone."""
    root = x509.load_pem_x509_certificate(anchor["root_certificate"].encode())
    assert [c["ok"] for c in verdict["pdf"]["checks"] if c["check"] == "archive_timestamp"] \
        == [True], verdict["pdf"]["checks"]
    later = datetime.now(UTC) + timedelta(days=12 * 365)
    assert root.not_valid_after_utc < later
    results = longterm.verify_years_later(pdf, [root], later)
    assert [(r["field"], r["ok"]) for r in results] == [
        ("LeaderSignature", True), ("AgencySeal", True)], results


def test_a_recipient_verifies_both_signatures_with_our_service_and_with_standard_tools(
        stack, client, tmp_path):
    stack.start()
    issued = client.issue(client.token("clerk"), client.token("leader"), make_pdf("Chi thi"))
    document_id = issued["document_id"]
    recipient = client.token("clerk", agency=DISTRICT_1)
    with client.rpc(recipient) as rpc:
        url = wait_for(lambda: rpc.docs.file_url(document_id), what="the delivery")
        verdict = rpc.signing.verify_document(document_id)
        anchor = rpc.signing.trust_anchor()
    assert verdict["ok"], verdict
    checks = {(c["check"], c["ok"]) for c in verdict["pdf"]["checks"]}
    for name in ("integrity", "chain", "revocation", "timestamp", "signer", "order"):
        assert (name, True) in checks, (name, verdict["pdf"]["checks"])
    assert verdict["manifest"]["ok"]

    pdf = tmp_path / "document.pdf"
    pdf.write_bytes(requests.get(url, timeout=30).content)
    out = subprocess.run([tool("pdfsig", "poppler-utils"), str(pdf)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.count("Signature is Valid") == 2, out
    assert "LeaderSignature" in out and "AgencySeal" in out
    _verifies_years_later(pdf.read_bytes(), anchor, verdict)

    (tmp_path / "root.pem").write_text(anchor["root_certificate"])
    with client.rpc(recipient) as rpc:
        document = rpc.docs.get_document(document_id)
    manifest = _download_object(client, recipient, document_id, "manifest")
    (tmp_path / "manifest.json").write_bytes(manifest["json"])
    (tmp_path / "manifest.p7s").write_bytes(manifest["p7s"])
    checked = subprocess.run(
        [tool("openssl", "openssl"), "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(tmp_path / "manifest.p7s"), "-content", str(tmp_path / "manifest.json"),
         "-CAfile", str(tmp_path / "root.pem"), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert document["file"]["sha256"] in manifest["json"].decode()

    with client.rpc(client.token("clerk", agency=OUTSIDER)) as rpc:
        with pytest.raises(NotFound):
            rpc.signing.verify_document(document_id)  # not sent to them
    with client.rpc(client.token("clerk")) as rpc:
        with pytest.raises(Forbidden):
            rpc.signing.certificates()
    with client.rpc(client.token("auditor", agency="000.00.00.G22")) as rpc:
        holders = {(c["holder"], c["role"]) for c in rpc.signing.certificates()}
    assert holders == {(f"leader@{PROVINCE}", "leader"), (PROVINCE, "agency")}
    assert base64.b64decode(anchor["crl"])  # a CRL is published, even if empty


def _download_object(client, token, document_id, name):
    with client.rpc(token) as rpc:
        urls = rpc.signing.manifest_urls(document_id)
    return {kind: requests.get(url, timeout=30).content for kind, url in urls.items()}


def test_a_pdf_appendix_gets_the_agency_s_invisible_signature_with_the_number(
        stack, client, tmp_path):
    from pypdf import PdfReader

    from tests.support.client import DIRECTIVE

    stack.start()
    clerk = client.token("clerk")
    appendix = make_pdf("Phu luc: danh sach xa")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    response = client.register_files(clerk, DIRECTIVE, [
        ("file", "chi-thi.pdf", make_pdf("Chi thi"), "application/pdf"),
        ("attachment", "phu-luc.pdf", appendix, "application/pdf"),
        ("attachment", "so-do.png", png, "image/png")])
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    issued = client.sign_seal_issue(document_id)
    recipient = client.token("clerk", agency=DISTRICT_1)
    with client.rpc(recipient) as rpc:
        wait_for(lambda: rpc.docs.get_document(document_id)["attachments"][0].get("sealed"),
                 what="the appendices to be sealed")
        document = rpc.docs.get_document(document_id)
        url = rpc.docs.file_url(document_id, attachment=0)
        verdict = rpc.signing.verify_document(document_id)
    sealed, image = document["attachments"]
    assert sealed["key"].endswith("-sealed.pdf") and sealed["name"] == "phu-luc.pdf"
    assert image["sealed"] is False and image["content_type"] == "image/png"
    assert verdict["ok"] and verdict["manifest"]["ok"], verdict

    path = tmp_path / "phu-luc.pdf"
    path.write_bytes(requests.get(url, timeout=30).content)
    out = subprocess.run([tool("pdfsig", "poppler-utils"), str(path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.count("Signature is Valid") == 1 and "AgencySealAppendix" in out
    first_page = PdfReader(str(path)).pages[0].extract_text()
    assert issued["number_notation"] in first_page  # written before the signature covers it
