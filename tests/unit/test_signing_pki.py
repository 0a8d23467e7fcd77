"""The development PKI, the key store and the local time-stamping authority."""

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
import requests
from asn1crypto import algos, core, tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.signing import pki, tsa

NOW = datetime.now(UTC)
CODE = "000.00.00.H41"


@pytest.fixture(scope="module")
def ca():
    return pki.create_root_ca("Liên thông Root CA (test)", NOW - timedelta(days=30),
                              NOW + timedelta(days=3650), crl_url="http://ca.test/root.crl")


def test_personal_certificate_binds_agency_code_and_role(ca):
    leader = pki.issue_personal_cert(ca, "Nguyễn Văn An", CODE, "leader",
                                     agency_name="Ủy ban nhân dân tỉnh Nghệ An")
    cert = leader.certificate
    assert pki.describe(cert) == {"kind": "personal", "agency_code": CODE,
                                  "agency_name": "Ủy ban nhân dân tỉnh Nghệ An",
                                  "role": "leader", "name": "Nguyễn Văn An"}
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert pki.DOCUMENT_SIGNING in ekus
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == "http://ca.test/root.crl"
    cert.verify_directly_issued_by(ca.certificate)
    assert leader.chain == (ca.certificate,)


def test_organisation_certificate_has_no_role(ca):
    org = pki.issue_organisation_cert(ca, CODE, "Sở Nội vụ")
    assert pki.describe(org.certificate)["kind"] == "organisation"
    assert pki.describe(org.certificate)["role"] is None
    assert org.certificate.subject.get_attributes_for_oid(
        NameOID.ORGANIZATION_IDENTIFIER)[0].value == CODE


@pytest.mark.parametrize("algorithm, size", [("rsa-2048", 2048), ("rsa-3072", 3072)])
def test_rsa_keys_are_supported(ca, algorithm, size):
    clerk = pki.issue_personal_cert(ca, "Lê Thị Bình", CODE, "clerk", key_algorithm=algorithm)
    assert clerk.private_key.key_size == size
    assert pki.describe(clerk.certificate)["role"] == "clerk"


def test_an_unknown_key_algorithm_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="rsa-2048"):
        pki.generate_key("rsa-1024")


@pytest.mark.parametrize("kwargs, message", [
    ({"agency_code": "H41"}, "not of the form"),
    ({"role": "auditor"}, "role must be one of"),
])
def test_bad_agency_code_or_role_is_refused(ca, kwargs, message):
    args = {"full_name": "X", "agency_code": CODE, "role": "leader", **kwargs}
    with pytest.raises(ValueError, match=message):
        pki.issue_personal_cert(ca, **args)


def test_expired_and_not_yet_valid_certificates_can_be_made_and_are_named(ca):
    expired = pki.issue_personal_cert(ca, "A", CODE, "leader", valid_from=NOW - timedelta(days=10),
                                      valid_to=NOW - timedelta(days=1)).certificate
    future = pki.issue_personal_cert(ca, "B", CODE, "leader", valid_from=NOW + timedelta(days=1),
                                     valid_to=NOW + timedelta(days=10)).certificate
    with pytest.raises(ValueError, match="expired on"):
        pki.check_valid_at(expired, NOW)
    with pytest.raises(ValueError, match="not yet valid"):
        pki.check_valid_at(future, NOW)


def test_crl_lists_revoked_serials_with_reason(ca):
    victim = pki.issue_personal_cert(ca, "C", CODE, "leader").certificate
    ca.revoke(victim.serial_number, NOW - timedelta(hours=1), x509.ReasonFlags.key_compromise)
    crl = x509.load_der_x509_crl(ca.crl(NOW + timedelta(days=7)))
    assert crl.is_signature_valid(ca.certificate.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(victim.serial_number)
    assert entry.revocation_date_utc == (NOW - timedelta(hours=1)).replace(microsecond=0)
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise


def test_key_store_keeps_keys_encrypted(tmp_path):
    key = pki.generate_key()
    store = pki.KeyStore(str(tmp_path / "keys"), "correct horse")
    path = store.save("leader-1", key)
    with open(path, "rb") as fh:
        content = fh.read()
    assert content.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.load("leader-1").private_numbers() == key.private_numbers()
    with pytest.raises(ValueError):
        pki.KeyStore(str(tmp_path / "keys"), "wrong horse").load("leader-1")
    with pytest.raises(FileExistsError):
        store.save("leader-1", key)
    with pytest.raises(ValueError, match="passphrase"):
        pki.KeyStore(str(tmp_path), "")


def test_no_repr_shows_key_material(ca, tmp_path):
    identity = pki.issue_personal_cert(ca, "D", CODE, "leader")
    secret = str(identity.private_key.private_numbers().private_value)
    store = pki.KeyStore(str(tmp_path), "correct horse")
    for thing in (identity, ca, store):
        assert secret not in repr(thing) and "correct horse" not in repr(thing)
        assert secret not in str(thing)


def test_tsa_certificate_has_critical_time_stamping_eku(ca):
    cert = tsa.issue_tsa_cert(ca).certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def _request(nonce=42):
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                            "hashed_message": b"\x01" * 32},
        "nonce": nonce, "cert_req": True,
    }).dump()


def test_tsa_answers_over_http_with_a_granted_token(ca):
    when = datetime(2025, 3, 5, 7, 30, tzinfo=UTC)
    authority = tsa.TimeStampAuthority(tsa.issue_tsa_cert(ca), clock=lambda: when)
    with tsa.TsaServer(authority) as server:
        reply = requests.post(server.url, data=_request(),
                              headers={"Content-Type": tsa.QUERY_TYPE}, timeout=5)
        refused = requests.post(server.url, data=b"x", headers={"Content-Type": "text/plain"},
                                timeout=5)
    assert reply.headers["Content-Type"] == tsa.REPLY_TYPE
    response = tsp.TimeStampResp.load(reply.content)
    assert response["status"]["status"].native == "granted"
    info = response["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["gen_time"].native == when
    assert info["nonce"].native == 42
    assert info["message_imprint"]["hashed_message"].native == b"\x01" * 32
    assert refused.status_code == 415


def test_tsa_rejects_garbage_with_a_status_not_an_exception(ca):
    authority = tsa.TimeStampAuthority(tsa.issue_tsa_cert(ca))
    # asn1crypto's TimeStampResp insists on a token, which a rejection has not.
    response = core.Sequence.load(authority.respond(b"not DER"))
    status = tsp.PKIStatusInfo.load(response[0].dump())
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {"bad_data_format"}
