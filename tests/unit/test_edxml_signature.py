"""The XML signature of an edXML package (XML-DSig, signxml): written with the
sending agency's seal key, checked by us and by xmlsec1 (nothing of ours),
every tampering and every wrong signer named. Real keys and certificates
from the development PKI; no servers."""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from services.routing import edxml
from services.signing import pades, pki, verification, xmldsig
from tests.unit.test_edxml import _full_package, _status

NOW = datetime.now(UTC)
SENDER = "000.00.00.H41"  # the From of _full_package
NAME = "Ủy ban nhân dân tỉnh Nghệ An"


@pytest.fixture(scope="module")
def ca():
    return pki.create_root_ca("Lien Thong Root (test)", NOW - timedelta(days=30),
                              NOW + timedelta(days=3650))


@pytest.fixture(scope="module")
def seal(ca):
    return pki.issue_organisation_cert(ca, SENDER, NAME)


@pytest.fixture(scope="module")
def package():
    return edxml.export_package(_full_package())


def _verify(xml, ca, crls=None):
    return verification.verify_edxml(xml, [ca.certificate],
                                     crls if crls is not None else [ca.crl(NOW + timedelta(1))])


def _failed(report):
    return {c["check"]: c["detail"] for c in report["checks"] if not c["ok"]}


def test_a_signed_package_verifies_and_reads_as_before(package, seal, ca):
    signed = xmldsig.sign_package(package, seal)
    report = _verify(signed, ca)
    assert report["signed"] and report["ok"], _failed(report)
    assert report["signatures"][0]["agency_code"] == SENDER
    assert {c["check"] for c in report["checks"]} >= {
        "placement", "integrity", "chain", "validity", "revocation", "key_usage", "signer"}
    # In edXMLHeader, after MessageHeader and TraceHeaderList, as the SDKs place it.
    root = etree.fromstring(signed)
    header = root.find(f".//{{{edxml.NS}}}edXMLHeader")
    assert etree.QName(header[-1]).localname == "Signature"
    assert etree.QName(header[-1]).namespace == xmldsig.DS_NS
    # The codec reads the signed package as the unsigned one.
    assert edxml.import_package(signed) == edxml.import_package(package)


def test_xmlsec1_verifies_our_signature_with_only_the_root(package, seal, ca, tmp_path):
    xmlsec1 = shutil.which("xmlsec1")
    if xmlsec1 is None:
        pytest.fail("xmlsec1 is missing: apt-get install xmlsec1")
    (tmp_path / "root.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "package.xml").write_bytes(xmldsig.sign_package(package, seal))
    command = [xmlsec1, "--verify", "--trusted-pem", str(tmp_path / "root.pem"),
               "--enabled-reference-uris", "empty", "--id-attr:Id", "Signature",
               str(tmp_path / "package.xml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "OK" in done.stdout + done.stderr, done.stderr
    # ... and refuses it with one letter of the subject changed.
    changed = (tmp_path / "package.xml").read_bytes().replace("phê duyệt".encode(),
                                                                "phe duyệt".encode())
    (tmp_path / "package.xml").write_bytes(changed)
    assert subprocess.run(command, capture_output=True, timeout=60).returncode != 0


def test_an_unsigned_package_is_said_unsigned(package, ca):
    report = _verify(package, ca)
    assert report == {"ok": True, "signed": False, "signatures": [], "checks": []}


def test_a_changed_field_fails_integrity(package, seal, ca):
    signed = xmldsig.sign_package(package, seal)
    tampered = signed.replace(b"<edXML:CodeNumber>12<", b"<edXML:CodeNumber>13<")
    assert tampered != signed
    report = _verify(tampered, ca)
    assert not report["ok"] and list(_failed(report)) == ["integrity"]
    assert "not the one signed" in _failed(report)["integrity"]


def test_a_changed_file_fails_integrity(seal, ca):
    package = edxml.export_package(_full_package())
    signed = xmldsig.sign_package(package, seal)
    root = etree.fromstring(signed)
    content = root.find(f".//{{{edxml.NS}}}ContentTransferEncoded")
    assert content is not None
    content.text = "JVBERi0xLjcKJeLjz9M="  # another PDF's bytes
    report = _verify(etree.tostring(root), ca)
    assert "integrity" in _failed(report)


def test_a_signer_of_another_agency_fails_naming_both(package, ca):
    other = pki.issue_organisation_cert(ca, "000.01.00.H41", "Ủy ban nhân dân huyện Diễn Châu")
    report = _verify(xmldsig.sign_package(package, other), ca)
    assert list(_failed(report)) == ["signer"]
    assert "000.01.00.H41" in _failed(report)["signer"] and SENDER in _failed(report)["signer"]


def test_a_personal_certificate_is_not_the_agencys_signature(package, ca):
    leader = pki.issue_personal_cert(ca, "Nguyễn Văn An", SENDER, "leader", agency_name=NAME)
    report = _verify(xmldsig.sign_package(package, leader), ca)
    assert "signer" in _failed(report)


def test_an_untrusted_root_fails_the_chain(package, ca):
    stranger = pki.create_root_ca("Stranger CA", NOW - timedelta(days=1),
                                  NOW + timedelta(days=30))
    forged = pki.issue_organisation_cert(stranger, SENDER, NAME)
    report = _verify(xmldsig.sign_package(package, forged), ca)
    assert list(_failed(report)) == ["chain", "revocation"]
    assert "Stranger CA" in _failed(report)["chain"]


def test_a_revoked_seal_certificate_fails_revocation(package):
    ca = pki.create_root_ca("Revoking CA", NOW - timedelta(days=30), NOW + timedelta(days=30))
    seal = pki.issue_organisation_cert(ca, SENDER, NAME)
    signed = xmldsig.sign_package(package, seal)
    ca.revoke(seal.certificate.serial_number, NOW - timedelta(minutes=1))
    report = _verify(signed, ca)
    assert list(_failed(report)) == ["revocation"]
    assert "revoked" in _failed(report)["revocation"]
    assert "revocation" in _failed(_verify(xmldsig.sign_package(package, seal), ca, crls=[]))


def test_a_signature_outside_the_header_or_a_second_one_is_refused(package, seal, ca):
    signed = xmldsig.sign_package(package, seal)
    with pytest.raises(xmldsig.PackageError, match="signed already"):
        xmldsig.sign_package(signed, seal)
    root = etree.fromstring(signed)
    header = root.find(f".//{{{edxml.NS}}}edXMLHeader")
    signature = header[-1]
    header.remove(signature)
    root.append(signature)  # moved to the end of the package
    assert "placement" in _failed(_verify(etree.tostring(root), ca))


def test_a_signature_without_its_certificate_is_refused(package, seal, ca):
    root = etree.fromstring(xmldsig.sign_package(package, seal))
    for node in root.iter(f"{{{xmldsig.DS_NS}}}X509Data"):
        node.getparent().remove(node)
    report = _verify(etree.tostring(root), ca)
    assert not report["ok"] and "no X509Certificate" in _failed(report)["integrity"]


def test_a_dtd_is_refused_before_any_parsing(package, seal, ca):
    signed = xmldsig.sign_package(package, seal)
    hostile = signed.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY a "b">]>', 1)
    with pytest.raises(xmldsig.PackageError, match="DOCTYPE"):
        _verify(hostile, ca)


@pytest.mark.parametrize("algorithm", ["rsa-3072", "ec-p256"])
def test_a_status_package_is_signed_by_a_key_in_a_pyhanko_signer(ca, algorithm):
    """The token path: signxml signs through a pyHanko Signer (what an HSM's token
    gives), for an RSA key as for an ECDSA one."""
    recipient = "000.00.00.G22"  # _status's From
    status = edxml.export_status(_status("03"))
    assert xmldsig.sender(xmldsig.parse(status)) == recipient
    identity = pki.issue_organisation_cert(ca, recipient, "Văn phòng Chính phủ",
                                           key_algorithm=algorithm)
    signed = xmldsig.sign_package(status, pades.KeySigner(identity))
    report = _verify(signed, ca)
    assert report["ok"], _failed(report)
    assert edxml.import_status(signed) == edxml.import_status(status)
