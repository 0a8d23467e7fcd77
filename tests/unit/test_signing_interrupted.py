"""The leader's signature made outside the server (pyHanko's interrupted signing): the
server prepares the PDF and the digest, a device signs the digest, the server
completes the PAdES B-T signature. Here the device is a key in this test's
memory; tests/e2e/test_leader_token.py uses a SoftHSM2 token."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from infra.samples import make_pdf
from services.signing import interrupted, pades, pki, verification
from shared.errors import Forbidden
from tests.support.signing_pki import ca, tsa_url  # noqa: F401 (fixtures)

NOW = datetime.now(UTC)
CODE = "000.00.00.H41"
NAME = "Ủy ban nhân dân tỉnh Nghệ An"


@pytest.fixture(scope="module")
def leader(ca):
    return pki.issue_personal_cert(ca, "Nguyễn Văn An", CODE, "leader", agency_name=NAME)


def _prepare(leader, ca, tsa_url):
    return interrupted.prepare(make_pdf("Quyết định"), leader.certificate, (ca.certificate,),
                               "Chủ tịch", "Nguyễn Văn An", timestamper_url=tsa_url)


def test_a_digest_signed_elsewhere_completes_a_signature_that_verifies_and_takes_the_seal(
        ca, tsa_url, leader):
    prepared = _prepare(leader, ca, tsa_url)
    assert len(prepared.digest) == 32
    device_signature = leader.private_key.sign(prepared.signed_attrs, ec.ECDSA(hashes.SHA256()))
    signed = interrupted.complete(prepared, leader.certificate, (ca.certificate,),
                                  device_signature, CODE, timestamper_url=tsa_url)
    agency = pki.issue_organisation_cert(ca, CODE, NAME)
    sealed = pades.seal_as_agency(signed, agency, timestamper_url=tsa_url)
    report = verification.verify_pdf(sealed, [ca.certificate], [ca.crl(NOW + timedelta(days=1))],
                                     {"agency_code": CODE, "roles": ["leader", "agency"]})
    assert report["ok"], report
    checks = {(c["check"], c["ok"]) for c in report["checks"]}
    assert ("timestamp", True) in checks and ("integrity", True) in checks


def test_a_signature_over_another_digest_or_by_another_key_is_refused(ca, tsa_url, leader):
    prepared = _prepare(leader, ca, tsa_url)
    other = _prepare(leader, ca, tsa_url)
    over_other = leader.private_key.sign(other.signed_attrs, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(Forbidden, match="not a signature of the digest handed out") as refused:
        interrupted.complete(prepared, leader.certificate, (ca.certificate,), over_other, CODE,
                             timestamper_url=tsa_url)
    assert refused.value.field == "signature"
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Forbidden, match="signature"):
        interrupted.complete(prepared, leader.certificate, (ca.certificate,),
                             stranger.sign(prepared.signed_attrs, ec.ECDSA(hashes.SHA256())),
                             CODE, timestamper_url=tsa_url)
    with pytest.raises(Forbidden, match="signature"):
        interrupted.complete(prepared, leader.certificate, (ca.certificate,), b"\x30\x00", CODE,
                             timestamper_url=tsa_url)
