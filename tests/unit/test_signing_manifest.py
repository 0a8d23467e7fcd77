"""The canonical manifest and its detached CMS signature (checked by us and by OpenSSL)."""

import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from services.signing import manifest, pki, verification

NOW = datetime.now(UTC)
CODE = "000.00.00.H41"
FILES = {"quyet-dinh.pdf": b"%PDF-1.4 main", "phu-luc-1.pdf": b"%PDF-1.4 appendix"}
METADATA = {"document_id": "7c0c2a52-4f6b-4bd3-9c55-0a3d1f2e9b10", "issuing_agency": CODE,
            "number_notation": "12/QĐ-UBND", "summary": "Về việc thành lập tổ công tác"}


@pytest.fixture
def ca():
    return pki.create_root_ca("Manifest Root (test)", NOW - timedelta(days=30),
                              NOW + timedelta(days=3650), crl_url="http://ca.test/crl")


@pytest.fixture
def org(ca):
    return pki.issue_organisation_cert(ca, CODE, "Ủy ban nhân dân tỉnh Nghệ An")


def _signed(org):
    data = manifest.manifest_bytes(manifest.build_manifest(METADATA, FILES))
    return data, manifest.sign_manifest(data, org)


def _verify(ca, data, signature, expected=None, files=None, crls=True):
    crl_list = [ca.crl(NOW + timedelta(days=7))] if crls else []
    return verification.verify_manifest(data, signature, [ca.certificate], crl_list,
                                        expected or {"agency_code": CODE, "role": "agency"},
                                        files=files)


def _failed(report):
    return {c["check"]: c["detail"] for c in report["checks"] if not c["ok"]}


def test_manifest_bytes_are_canonical_json():
    built = manifest.build_manifest(METADATA, FILES)
    data = manifest.manifest_bytes(built)
    assert data == json.dumps(built, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()
    assert "Về việc".encode() in data  # UTF-8, not \u escapes
    assert [f["name"] for f in built["files"]] == ["phu-luc-1.pdf", "quyet-dinh.pdf"]
    assert built["files"][1] == {"name": "quyet-dinh.pdf", "size": 13,
                                 "sha256": hashlib.sha256(b"%PDF-1.4 main").hexdigest()}
    # the same manifest built again gives the same bytes, whatever the dict order
    again = manifest.build_manifest(dict(reversed(METADATA.items())),
                                    dict(reversed(FILES.items())))
    assert manifest.manifest_bytes(again) == data


def test_signed_manifest_verifies_with_its_files(ca, org):
    data, signature = _signed(org)
    report = _verify(ca, data, signature, files=FILES)
    assert report["ok"], _failed(report)
    assert {c["check"] for c in report["checks"]} == {
        "integrity", "chain", "validity", "revocation", "key_usage", "signer", "validation",
        "files"}
    assert report["signatures"][0]["role"] == "agency"


def test_changed_metadata_fails_integrity(ca, org):
    data, signature = _signed(org)
    changed = json.loads(data)
    changed["metadata"]["number_notation"] = "13/QĐ-UBND"
    report = _verify(ca, manifest.manifest_bytes(changed), signature)
    assert "not the ones signed" in _failed(report)["integrity"]


def test_changed_file_hash_fails_integrity(ca, org):
    data, signature = _signed(org)
    changed = json.loads(data)
    changed["files"][0]["sha256"] = "0" * 64
    report = _verify(ca, manifest.manifest_bytes(changed), signature)
    assert "integrity" in _failed(report)


def test_files_that_differ_from_the_manifest_fail(ca, org):
    data, signature = _signed(org)
    files = {**FILES, "quyet-dinh.pdf": b"%PDF-1.4 edited", "extra.txt": b"x"}
    failed = _failed(_verify(ca, data, signature, files=files))
    assert "quyet-dinh.pdf: SHA-256 or size differs" in failed["files"]
    assert "extra.txt: present but not listed" in failed["files"]


def test_wrong_agency_and_revoked_signer_fail_naming_why(ca, org):
    data, signature = _signed(org)
    failed = _failed(_verify(ca, data, signature, {"agency_code": "000.00.02.H41",
                                                   "role": "leader"}))
    assert "is not the document's agency 000.00.02.H41" in failed["signer"]
    assert "should be by the leader" in failed["signer"]
    ca.revoke(org.certificate.serial_number, NOW - timedelta(minutes=1))
    assert "revoked on" in _failed(_verify(ca, data, signature))["revocation"]


def test_openssl_verifies_the_detached_signature(ca, org, tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing: apt-get install openssl")
    data, signature = _signed(org)
    (tmp_path / "manifest.json").write_bytes(data)
    (tmp_path / "manifest.p7s").write_bytes(signature)
    (tmp_path / "root.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))

    def openssl_verify(content):
        (tmp_path / "content.json").write_bytes(content)
        return subprocess.run(
            ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
             "-in", str(tmp_path / "manifest.p7s"), "-content", str(tmp_path / "content.json"),
             "-CAfile", str(tmp_path / "root.pem"), "-out", "/dev/null"],
            capture_output=True, text=True, timeout=60, check=False)

    ok = openssl_verify(data)
    assert ok.returncode == 0, ok.stderr
    assert "Verification successful" in ok.stderr
    assert openssl_verify(data.replace(b"12/", b"13/")).returncode != 0
