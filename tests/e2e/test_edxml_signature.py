"""The XML signature of edXML packages through the whole stack, over HTTP: the
sender's clerk exports a package signed with the agency's seal key, which
xmlsec1 verifies with the root the platform publishes and nothing of ours; a
recipient's status package is signed by its own agency; a package from the
axis signed under a root the operator trusts (TRUST_ROOTS) is taken in and
its signer said; a package changed after signing, or signed under an
unknown root, is refused naming the signature, and nothing is taken in."""

import base64
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.signing import pki, xmldsig
from tests.e2e.test_gateway import USERS, until_ok
from tests.support import db
from tests.support.client import DISTRICT_1, wait_for
from tests.support.edxml import MINISTRY
from tests.support.edxml import package as edxml_package
from tests.support.gateway import Api, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e
NOW = datetime.now(UTC)
SIGNATURE = "edXMLHeader/Signature"


@pytest.fixture
def national_ca():
    """The national CA of the axis (a stand-in made here), whose root the operator
    trusts; the ministry's seal certificate is issued under it."""
    return pki.create_root_ca("Ban Co yeu Chinh phu (test)", NOW - timedelta(days=30),
                              NOW + timedelta(days=3650))


@pytest.fixture
def gateway(stack, platform, tmp_path, national_ca):
    roots = tmp_path / "national-root.pem"
    crl = x509.load_der_x509_crl(national_ca.crl(NOW + timedelta(days=1)))
    roots.write_bytes(national_ca.certificate.public_bytes(serialization.Encoding.PEM)
                      + crl.public_bytes(serialization.Encoding.PEM))
    stack["signing"].env["LIENTHONG_TRUST_ROOTS"] = str(roots)
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start()
    return Api(platform.gateway_url)


def _xml(answer):
    assert answer.status_code == 200, answer.text
    return base64.b64decode(answer.json()["package"])


def _signed(xml):
    return bool(xmldsig.signatures(xmldsig.parse(xml)))


def _xmlsec1(xml, root_pem, tmp_path):
    """xmlsec1's verdict on ``xml``, trusting only ``root_pem``."""
    xmlsec1 = shutil.which("xmlsec1")
    if xmlsec1 is None:
        pytest.fail("xmlsec1 is missing: apt-get install xmlsec1")
    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "package.xml").write_bytes(xml)
    return subprocess.run([xmlsec1, "--verify", "--trusted-pem", str(tmp_path / "root.pem"),
                           "--enabled-reference-uris", "empty", str(tmp_path / "package.xml")],
                          capture_output=True, text=True, timeout=60)


def test_the_senders_export_is_signed_and_verifies_outside_our_code(gateway, tmp_path):
    api = gateway
    document_id = api.register("van.thu", make_pdf("Chi thi ky goi tin")).json()["document_id"]
    doc = f"/v1/documents/{document_id}"
    api.post("van.thu", doc + "/submit", {"signer_user": "chu.tich"})
    until_ok(lambda: api.post("chu.tich", doc + "/sign"), "signing to receive the submission")
    until_ok(lambda: api.post("van.thu", doc + "/seal"), "signing to learn the number")
    until_ok(lambda: api.post("van.thu", doc + "/issue"), "docs to learn of the seal")
    root = api.get("van.thu", "/v1/trust-anchor").json()["root_certificate"]

    package = _xml(until_ok(lambda: api.get("van.thu", doc + "/edxml"), "routing to know it"))
    assert _signed(package)
    checked = _xmlsec1(package, root, tmp_path)
    assert checked.returncode == 0 and "OK" in checked.stdout + checked.stderr, checked.stderr
    changed = package.replace(b"<edXML:CodeNumber>01<", b"<edXML:CodeNumber>02<")
    assert changed != package and _xmlsec1(changed, root, tmp_path).returncode != 0
    # Unsigned on request; a recipient's copy to read is never signed in the sender's name.
    assert not _signed(_xml(api.get("van.thu", doc + "/edxml", params={"signed": "false"})))
    recipients = until_ok(lambda: api.get("van.thu.h1", doc + "/edxml"), "the delivery")
    assert not _signed(_xml(recipients))
    refused = api.get("van.thu.h1", doc + "/edxml", params={"signed": "true"})
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "signed"
    assert api.get("van.thu", doc + "/edxml", params={"signed": "yes"}).status_code == 400

    # The district's status package is signed by the district (its seal key).
    status = _xml(api.get("van.thu.h1", doc + "/edxml/status"))
    assert _signed(status) and xmldsig.sender(xmldsig.parse(status)) == DISTRICT_1
    assert _xmlsec1(status, root, tmp_path).returncode == 0
    # Its code changed on the way (01 made 03): the axis connector's import is
    # refused naming the signature, and the copy keeps its status.
    assert b"<edXML:StatusCode>01<" in status
    forged = status.replace(b"<edXML:StatusCode>01<", b"<edXML:StatusCode>03<")
    refused = api.post("van.hanh", "/v1/edxml/statuses",
                       {"package": base64.b64encode(forged).decode()})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"] == SIGNATURE
    assert "integrity:" in refused.json()["error"]["message"]
    statuses = api.get("van.thu", doc + "/statuses").json()
    assert {s["recipient"]: s["status"] for s in statuses}[DISTRICT_1] == "01"

def test_a_package_from_the_axis_is_taken_in_only_if_its_signature_holds(
        gateway, platform, national_ca):
    ministry = pki.issue_organisation_cert(national_ca, MINISTRY, "Bộ Nội vụ")
    stranger = pki.create_root_ca("Stranger CA", NOW - timedelta(days=1), NOW + timedelta(30))

    def signed_package(number, identity=ministry):
        raw = base64.b64decode(edxml_package(number=number, to=(DISTRICT_1,)))
        return xmldsig.sign_package(raw, identity)

    def imports():
        return db.query(platform.pg_dsn, "routing", "SELECT count(*) FROM events WHERE"
                        " event_type = 'ExternalDocumentReceived'")[0][0]

    def post(xml):
        return gateway.post("van.hanh", "/v1/edxml/documents",
                            {"package": base64.b64encode(xml).decode()})

    good = signed_package("130")
    tampered = signed_package("131").replace("chuyển đổi số".encode(), "chuyen doi so".encode())
    forged = signed_package("132", pki.issue_organisation_cert(stranger, MINISTRY, "Bộ Nội vụ"))
    for xml, failed in ((tampered, "integrity"), (forged, "chain")):
        answer = post(xml)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["field"] == SIGNATURE and f"{failed}:" in error["message"], error
    assert imports() == 0

    taken = post(good)
    assert taken.status_code == 200, taken.text
    assert taken.json()["signature"] == {
        "signed": True, "agency_code": MINISTRY,
        "signer": ministry.certificate.subject.rfc4514_string()}
    unsigned = gateway.post("van.hanh", "/v1/edxml/documents",
                            {"package": edxml_package(number="133", to=(DISTRICT_1,))})
    assert unsigned.json()["signature"] == {"signed": False, "signer": None,
                                            "agency_code": None}
    wait_for(lambda: imports() == 2, what="two packages taken in")
