"""Long-term validation (PAdES B-LT, B-LTA): an issued document still verifies years
later, when the leader's, the seal's, the CA's and the TSA's certificates have all
expired and the leader's certificate was revoked after signing, from the trust
root and what the document carries; a B-T document does not.

Real certificates from the dev PKI, real PDFs, a real RFC 3161 TSA over HTTP on
localhost, and pyHanko's own long-term validation (nothing fetched).
"""

import io
import shutil
import subprocess
import sys
from pathlib import Path
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from infra.samples import make_pdf
from services.signing import interrupted, longterm, pades, pki, tsa, verification
from shared.errors import ValidationFailed

NOW = datetime.now(UTC)
YEAR = timedelta(days=365)
CODE = "000.00.00.H41"
NAME = "Ủy ban nhân dân tỉnh Nghệ An"
LEADER = "Nguyễn Văn An"


class World:
    """As the signing service has it: one root CA (CRL published) issuing the
    leader's and the agency's certificates (a year) and the TSA's (five years)."""

    def __init__(self):
        self.ca = pki.create_root_ca("Liên thông Root CA (test)", NOW - timedelta(days=1),
                                     NOW + 10 * YEAR, crl_url="http://ca.test/crl")
        self.tsa = tsa.issue_tsa_cert(self.ca, valid_to=NOW + 5 * YEAR)
        self.leader = pki.issue_personal_cert(self.ca, LEADER, CODE, "leader",
                                              agency_name=NAME)
        self.org = pki.issue_organisation_cert(self.ca, CODE, NAME)
        self.server = tsa.TsaServer(tsa.TimeStampAuthority(self.tsa))
        self.url = self.server.start()

    def long_term(self):
        return longterm.LongTerm((self.ca.certificate,), (self.ca.crl(NOW + timedelta(days=1)),))

    def issued(self, lt=True):
        """Signed by the leader, sealed by the agency: B-LT then B-LTA, or B-T only."""
        long_term = self.long_term() if lt else None
        signed = pades.sign_as_leader(make_pdf("Quyết định số 12"), self.leader, "Chủ tịch",
                                      LEADER, timestamper_url=self.url, long_term=long_term)
        return pades.seal_as_agency(signed, self.org, timestamper_url=self.url,
                                    long_term=long_term, archive=lt)

    def expiries(self):
        return [c.not_valid_after_utc for c in (self.ca.certificate, self.tsa.certificate,
                                                 self.leader.certificate,
                                                 self.org.certificate)]


@pytest.fixture
def world():
    world = World()
    yield world
    world.server.stop()


def _by_field(results):
    return {r["field"]: r for r in results}


def test_an_issued_document_verifies_years_later_and_a_b_t_one_does_not(world):
    lta, bt = world.issued(lt=True), world.issued(lt=False)
    # The leader's certificate revoked two days after signing (a lost token, say):
    # the verifier has that later CRL too.
    world.ca.revoke(world.leader.certificate.serial_number, NOW + timedelta(days=2))
    later_crl = world.ca.crl(NOW + timedelta(days=31), this_update=NOW + timedelta(days=30))
    years_later = NOW + 12 * YEAR
    assert all(expiry < years_later for expiry in world.expiries())

    for crls in ((), (later_crl,)):
        verdict = _by_field(longterm.verify_years_later(lta, [world.ca.certificate],
                                                        years_later, crls))
        assert set(verdict) == {pades.LEADER_FIELD, pades.SEAL_FIELD}
        assert all(r["ok"] for r in verdict.values()), verdict
        # judged at the signature time stamp's time, not at the verification time
        assert verdict[pades.LEADER_FIELD]["best_signature_time"] < NOW + timedelta(hours=1)
        refused = _by_field(longterm.verify_years_later(bt, [world.ca.certificate],
                                                        years_later, crls))
        assert not any(r["ok"] for r in refused.values()), refused


def test_after_the_signers_certificates_expired_it_verifies_with_the_current_crl(world):
    """pyHanko's real long-term validation (not simulated), two years on: the
    leader's and the seal's certificates have expired, the leader's was revoked
    after signing; the verifier has the CA's current CRL (for the archive time
    stamp's TSA, checked now), nothing else but what the document carries."""
    lta, bt = world.issued(lt=True), world.issued(lt=False)
    world.ca.revoke(world.leader.certificate.serial_number, NOW + timedelta(days=2))
    at = NOW + 2 * YEAR
    assert world.leader.certificate.not_valid_after_utc < at
    assert world.org.certificate.not_valid_after_utc < at
    current = world.ca.crl(at + timedelta(days=1), this_update=at - timedelta(hours=1))
    verdict = longterm.verify(lta, [world.ca.certificate], [current], at)
    assert [r["ok"] for r in verdict] == [True, True], verdict
    refused = longterm.verify(bt, [world.ca.certificate], [current], at)
    assert not any(r["ok"] for r in refused), refused


def test_the_dss_holds_the_chains_and_the_crl_and_an_archive_time_stamp_covers_it(world):
    lta = world.issued()
    reader = PdfFileReader(io.BytesIO(lta))
    dss = DocumentSecurityStore.read_dss(reader)
    embedded = {c.dump() for c in dss.load_certs()}
    for identity in (world.leader, world.org, world.tsa):  # signers' and the TSA's chains
        assert pades.KeySigner(identity).signing_cert.dump() in embedded
    assert any(c.subject == c.issuer for c in dss.load_certs())  # the root, too
    assert len(dss.crls) >= 1
    [archive] = reader.embedded_timestamp_signatures
    assert archive.signed_revision > reader.embedded_regular_signatures[-1].signed_revision
    # Our own verifier: the seal is no longer the whole file, only validation data and
    # the archive time stamp follow it.
    report = verification.verify_pdf(lta, [world.ca.certificate],
                                     [world.ca.crl(NOW + timedelta(days=1))],
                                     {"agency_code": CODE})
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    checks = {c["check"]: c for c in report["checks"] if c["signature"] in (
        None, archive.field_name)}
    assert "archive time stamps were added" in checks["order"]["detail"]
    assert checks["archive_timestamp"]["ok"]


def test_a_revoked_certificate_signs_nothing_long_term(world):
    world.ca.revoke(world.leader.certificate.serial_number, NOW - timedelta(minutes=1))
    with pytest.raises(ValidationFailed, match="CRL") as refused:
        pades.sign_as_leader(make_pdf("x"), world.leader, "Chủ tịch", LEADER,
                             timestamper_url=world.url, long_term=world.long_term())
    assert refused.value.field == "certificate"


def test_a_device_signature_is_b_lt_and_verifies_years_later_once_sealed(world):
    leader = world.leader
    long_term = world.long_term()
    prepared = interrupted.prepare(make_pdf("Quyết định"), leader.certificate,
                                   (world.ca.certificate,), "Chủ tịch", LEADER,
                                   timestamper_url=world.url, long_term=long_term)
    signature = leader.private_key.sign(prepared.signed_attrs, ec.ECDSA(hashes.SHA256()))
    signed = interrupted.complete(prepared, leader.certificate, (world.ca.certificate,),
                                  signature, CODE, timestamper_url=world.url)
    # the validation data is in the revision the leader's device signed
    reader = PdfFileReader(io.BytesIO(signed))
    assert DocumentSecurityStore.read_dss(reader).crls
    sealed = pades.seal_as_agency(signed, world.org, timestamper_url=world.url,
                                  long_term=long_term, archive=True)
    verdict = longterm.verify_years_later(sealed, [world.ca.certificate], NOW + 12 * YEAR)
    assert [r["ok"] for r in verdict] == [True, True], verdict


def test_pdfsig_still_reads_both_signatures_of_a_b_lta_document(world, tmp_path):
    if shutil.which("pdfsig") is None:
        pytest.fail("pdfsig is missing: apt-get install poppler-utils")
    path = tmp_path / "issued.pdf"
    path.write_bytes(world.issued())
    out = subprocess.run(["pdfsig", str(path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.count("Signature is Valid") == 2, out
    assert pades.LEADER_FIELD in out and pades.SEAL_FIELD in out


def test_an_auditor_checks_years_later_with_one_command(world, tmp_path):
    """What the README tells an auditor to run: the root, the document, a date."""
    root = tmp_path / "lienthong-root.pem"
    root.write_bytes(world.ca.certificate.public_bytes(serialization.Encoding.PEM))
    crl = tmp_path / "lienthong.crl"
    crl.write_bytes(world.ca.crl(NOW + timedelta(days=1)))
    at = (NOW + 12 * YEAR).date().isoformat()
    for name, lt in (("b-lta", True), ("b-t", False)):
        (tmp_path / f"{name}.pdf").write_bytes(world.issued(lt=lt))
    done = {(name, when): subprocess.run(
        [sys.executable, "-m", "services.signing.longterm", str(tmp_path / f"{name}.pdf"),
         "--root", str(root), *(["--crl", str(crl)] if when == "now" else ["--at", at])],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
        for name in ("b-lta", "b-t") for when in ("now", "later")}
    for when in ("now", "later"):
        valid, invalid = done["b-lta", when], done["b-t", when]
        assert valid.returncode == 0, valid.stdout + valid.stderr
        assert "HỢP LỆ (VALID) vào lúc (at) " in valid.stdout
        assert invalid.returncode == 1 and "KHÔNG HỢP LỆ" in invalid.stdout, invalid.stdout
    assert "vào lúc (at) " + at in done["b-lta", "later"].stdout
