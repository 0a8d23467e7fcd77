"""The CSC stand-in's rules apart from HTTP and the token (``infra.csc_standin.Provider``):
TOTP as RFC 6238 computes it, and a SAD's expiry, with the provider's clock moved.
The keys here are in this test's memory; tests/integration/test_signing_csc.py runs
the stand-in itself, keys in SoftHSM2."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from infra.csc_standin import ECDSA_SHA256, SHA256, CscError, Provider, totp


def test_totp_is_rfc_6238s():
    secret = b"12345678901234567890"  # RFC 6238, appendix B (SHA-1)
    assert totp(secret, 59, digits=8) == "94287082"
    assert totp(secret, 1111111109, digits=8) == "07081804"
    assert totp(secret, 59) == "287082"


class Clock:
    now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def provider():
    keys, clock = {}, Clock()

    def new_key(label):
        keys[label] = ec.generate_private_key(ec.SECP256R1())
        return keys[label].public_key()

    def signer(label, digest):
        return keys[label].sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    made = Provider(new_key, signer, "admin", "client", sad_seconds=60, clock=clock)
    made.test_clock = clock
    return made


def _authorize(provider, enrolment, digest, at):
    return provider.authorize("client", {
        "credentialID": enrolment["credentialID"], "numSignatures": 1,
        "hashes": [base64.b64encode(digest).decode()], "hashAlgorithmOID": SHA256,
        "authData": [{"id": "otp", "value": totp(base64.b32decode(
            enrolment["totp_secret"]), at)}]})


def _sign(provider, enrolment, sad, digest):
    return provider.sign_hash("client", {
        "credentialID": enrolment["credentialID"], "SAD": sad, "signAlgo": ECDSA_SHA256,
        "hashes": [base64.b64encode(digest).decode()], "hashAlgorithmOID": SHA256})


def test_a_sad_used_after_it_expired_is_refused(provider):
    enrolment = provider.enroll("admin", {"userID": "chu.tich"})
    digest = hashlib.sha256(b"x").digest()
    sad = _authorize(provider, enrolment, digest, provider.test_clock.now)["SAD"]
    provider.test_clock.now += 61
    with pytest.raises(CscError, match="Invalid parameter SAD: expired"):
        _sign(provider, enrolment, sad, digest)
    fresh = _authorize(provider, enrolment, digest, provider.test_clock.now)["SAD"]
    provider.test_clock.now += 59
    assert len(_sign(provider, enrolment, fresh, digest)["signatures"]) == 1


def test_an_otp_of_another_time_step_is_refused(provider):
    enrolment = provider.enroll("admin", {"userID": "chu.tich"})
    digest = hashlib.sha256(b"x").digest()
    with pytest.raises(CscError, match="OTP: wrong code") as refused:
        _authorize(provider, enrolment, digest, provider.test_clock.now - 600)
    assert refused.value.error == "invalid_otp"


def test_only_the_operator_enrols_and_only_sha256_ecdsa_is_signed(provider):
    with pytest.raises(CscError, match="Only the operator"):
        provider.enroll("client", {"userID": "chu.tich"})
    enrolment = provider.enroll("admin", {"userID": "chu.tich"})
    digest = hashlib.sha256(b"x").digest()
    sad = _authorize(provider, enrolment, digest, provider.test_clock.now)["SAD"]
    with pytest.raises(CscError, match="signAlgo"):
        provider.sign_hash("client", {
            "credentialID": enrolment["credentialID"], "SAD": sad,
            "signAlgo": "1.2.840.113549.1.1.11", "hashAlgorithmOID": SHA256,
            "hashes": [base64.b64encode(digest).decode()]})
    with pytest.raises(CscError, match="hashAlgorithmOID"):
        provider.authorize("client", {"credentialID": enrolment["credentialID"],
                                      "hashes": ["AA=="], "hashAlgorithmOID": "1.3.14.3.2.26"})
