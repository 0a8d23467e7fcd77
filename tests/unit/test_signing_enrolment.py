"""Enrolment's pure core (services/signing/enrolment.py): what a certificate request
must be, who decides it, once; and the development-only AUTO_ENROLL and the
external trust roots' files (services/signing/trust.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from services.signing import enrolment, pki, trust
from services.signing.dependencies import SigningAuthority
from shared.envelope import Actor
from shared.errors import Conflict, Forbidden, ValidationFailed
from shared.settings import DevelopmentOnly, development_only

AGENCY, OTHER = "000.00.00.H41", "000.01.00.H41"
LEADER = Actor("lanh.dao", AGENCY, "leader")
ADMIN = Actor("quan.tri", AGENCY, "admin")


def csr_of(key=None, name="Người tự xưng", signer=None):
    """A PKCS#10 request for ``key``'s public key, signed by ``signer`` (default: itself)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(key, hashes.SHA256())
    if signer is None:
        return request.public_bytes(serialization.Encoding.PEM).decode()
    return _resigned(request, key, signer)


def _resigned(request, key, signer):
    """``request`` with its signature made by ``signer`` over the same content."""
    from asn1crypto import csr as asn1_csr

    parsed = asn1_csr.CertificationRequest.load(request.public_bytes(
        serialization.Encoding.DER))
    info = parsed["certification_request_info"]
    forged = asn1_csr.CertificationRequest({
        "certification_request_info": info, "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": signer.sign(info.dump(), ec.ECDSA(hashes.SHA256()))})
    return x509.load_der_x509_csr(forged.dump()).public_bytes(
        serialization.Encoding.PEM).decode()


def pending(requested):
    return {**requested.data, "state": enrolment.PENDING}


def test_a_request_carries_the_record_name_and_the_csr_key_never_the_csr_subject():
    key = ec.generate_private_key(ec.SECP256R1())
    event = enrolment.certificate_requested(LEADER, " Nguyễn Văn An ", csr_of(key))
    assert event.event_type == "CertificateRequested"
    assert (event.data["holder"], event.data["agency"], event.data["role"],
            event.data["full_name"]) == ("lanh.dao", AGENCY, "leader", "Nguyễn Văn An")
    assert event.data["key_sha256"] == enrolment.key_sha256(key.public_key())
    assert "Người tự xưng" not in str({k: v for k, v in event.data.items() if k != "csr"})


def test_a_csr_signed_by_another_key_is_refused_naming_proof_of_possession():
    forged = csr_of(signer=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValidationFailed, match="proof of possession") as refused:
        enrolment.certificate_requested(LEADER, "Nguyễn Văn An", forged)
    assert refused.value.field == "csr"
    assert enrolment.requested_key(csr_of())  # the same request, self-signed, passes


@pytest.mark.parametrize("csr, rule", [
    ("", "PKCS#10"), ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE"
                      " REQUEST-----\n", "not a PEM PKCS#10"),
    ("x" * 20001, "at most 20000"),
])
def test_what_is_not_a_csr_is_refused_by_name(csr, rule):
    with pytest.raises(ValidationFailed, match=rule):
        enrolment.requested_key(csr)


def test_a_weak_key_is_refused():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValidationFailed, match="RSA of 2048 bits or more"):
        enrolment.requested_key(csr_of(weak))


def test_only_a_leader_requests_for_their_own_token():
    with pytest.raises(Forbidden, match="only a leader"):
        enrolment.certificate_requested(Actor("van.thu", AGENCY, "clerk"), "Bình", csr_of())


def test_only_an_admin_of_the_requesters_agency_decides_and_only_once():
    request = pending(enrolment.certificate_requested(LEADER, "Nguyễn Văn An", csr_of()))
    with pytest.raises(Forbidden, match=f"administrator of {OTHER} may not act on {AGENCY}"):
        enrolment.certificate_request_approved(request, {"serial": "1", "sha256": "ab"},
                                               Actor("quan.tri", OTHER, "admin"))
    with pytest.raises(Forbidden, match="only an administrator"):
        enrolment.certificate_request_approved(request, {"serial": "1"}, LEADER)
    approved = enrolment.certificate_request_approved(request, {"serial": "1"}, ADMIN)
    assert approved.data["serial"] == "1"
    when = datetime.now(UTC)
    for state in (enrolment.APPROVED, enrolment.REJECTED):
        decided = {**request, "state": state, "decided_at": when, "decided_by": "quan.tri"}
        with pytest.raises(Conflict, match=f"already {state}"):
            enrolment.certificate_request_approved(decided, {"serial": "2"}, ADMIN)
        with pytest.raises(Conflict, match="decided once"):
            enrolment.certificate_request_rejected(decided, "Sai", ADMIN)


def test_a_rejection_says_why():
    request = pending(enrolment.certificate_requested(LEADER, "Nguyễn Văn An", csr_of()))
    with pytest.raises(ValidationFailed, match="reason"):
        enrolment.certificate_request_rejected(request, "  ", ADMIN)


# -- AUTO_ENROLL: development only ------------------------------------------------------

def test_auto_enrol_is_off_by_default_and_refused_outside_development_mode(tmp_path):
    # (In development mode, as the file key store is; AUTO_ENROLL is refused first.)
    config = {"PKI_DIR": str(tmp_path), "PKI_PASSPHRASE": "a-real-passphrase-1234"}
    provider = SigningAuthority()
    provider.container = type("C", (), {"config": {**config, "DEV_MODE": "1"}})()
    provider.setup()
    assert provider.authority.auto_enroll is False
    provider.container.config = {**config, "AUTO_ENROLL": "true"}
    with pytest.raises(DevelopmentOnly, match="AUTO_ENROLL .* only in development mode"):
        provider.setup()
    provider.container.config = {**config, "AUTO_ENROLL": "true", "DEV_MODE": "1"}
    provider.setup()
    assert provider.authority.auto_enroll is True


def test_a_development_only_setting_off_is_off_anywhere():
    assert development_only({}, "X", False, "does y") is False


# -- TRUST_ROOTS ------------------------------------------------------------------------

def test_trust_roots_are_read_from_pem_files_with_their_crls(tmp_path):
    now = datetime.now(UTC)
    ca = pki.create_root_ca("Root CA quốc gia (thử)", now - timedelta(days=1),
                            now + timedelta(days=30))
    pem = ca.certificate.public_bytes(serialization.Encoding.PEM)
    crl = x509.load_der_x509_crl(ca.crl(now + timedelta(days=1))).public_bytes(
        serialization.Encoding.PEM)
    path = tmp_path / "national.pem"
    path.write_bytes(pem + crl)
    roots = trust.TrustRoots.from_setting(str(path))
    assert roots.certificates() == [ca.certificate] and len(roots.crls()) == 1
    assert trust.TrustRoots.from_setting("").certificates() == []
    with pytest.raises(ValueError, match="TRUST_ROOTS: cannot read"):
        trust.TrustRoots.from_setting(str(tmp_path / "missing.pem"))
    (tmp_path / "crl-only.pem").write_bytes(crl)
    with pytest.raises(ValueError, match="holds no certificate"):
        trust.TrustRoots.from_setting(str(tmp_path / "crl-only.pem"))
