"""The CSC API v2 client (services/signing/remote.py) against the stand-in remote
signing service (infra/csc_standin.py), over HTTP, in its own process with its keys
in its own SoftHSM2 token: what it signs verifies, and what it refuses is this
platform's error naming the CSC field."""

import base64
import hashlib
import json
import socket

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from services.signing.remote import CscClient, Providers
from shared.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from tests.support.csc import otp, standin

LEADER = "chu.tich@000.00.00.H41"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    with standin(tmp_path_factory.mktemp("csc")) as running:
        yield running


@pytest.fixture(scope="module")
def leader(provider):
    return provider.enroll(LEADER)


@pytest.fixture
def client(provider):
    return CscClient(provider.url, provider.client_token, timeout=30)


def _digest(text):
    return hashlib.sha256(text.encode()).digest()


def test_a_hash_authorized_with_the_leaders_otp_is_signed_by_the_key_it_lists(
        client, leader):
    assert leader["credentialID"] in client.credentials_list(LEADER)
    public_key = serialization.load_pem_public_key(
        client.public_key(leader["credentialID"]).encode())
    digest = _digest("chữ ký của lãnh đạo")
    sad, expires_in = client.authorize(leader["credentialID"], [digest], otp(leader))
    assert expires_in == 300
    [signature] = client.sign_hash(leader["credentialID"], sad, [digest])
    public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))  # raises if not


def test_the_leaders_own_token_acts_for_their_credential_only(provider, leader):
    own = CscClient(provider.url, leader["access_token"])
    assert own.credentials_list() == [leader["credentialID"]]
    other = provider.enroll("pho.chu.tich@000.00.00.H41")
    with pytest.raises(NotFound, match="credentialID") as refused:
        own.credentials_info(other["credentialID"])
    assert refused.value.field == "credentialID"
    with pytest.raises(Forbidden, match="userID"):
        own.credentials_list("pho.chu.tich@000.00.00.H41")


def test_a_wrong_otp_is_refused_naming_the_otp_and_five_lock_the_credential(client, provider):
    victim = provider.enroll("van.thu@000.00.00.H41")
    digest = _digest("văn bản")
    with pytest.raises(Forbidden, match="wrong code") as refused:
        client.authorize(victim["credentialID"], [digest], "000000" if otp(victim) != "000000"
                         else "111111")
    assert refused.value.field == "OTP"
    for _ in range(4):
        with pytest.raises(Forbidden):
            client.authorize(victim["credentialID"], [digest], "not-a-code")
    with pytest.raises(Forbidden, match="locked") as locked:
        client.authorize(victim["credentialID"], [digest], otp(victim))
    assert locked.value.field == "credentialID"
    assert client.credentials_info(victim["credentialID"])["key"]["status"] == "disabled"


def test_a_sad_is_good_for_its_hash_its_credential_and_once(client, provider, leader):
    digest, other = _digest("một"), _digest("hai")
    sad, _ = client.authorize(leader["credentialID"], [digest], otp(leader))
    with pytest.raises(ValidationFailed, match="not the hashes the SAD authorizes") as refused:
        client.sign_hash(leader["credentialID"], sad, [other])
    assert refused.value.field == "hashes"
    # That attempt used the SAD up: one use, whatever the answer.
    with pytest.raises(ValidationFailed, match="unknown or already used") as replayed:
        client.sign_hash(leader["credentialID"], sad, [digest])
    assert replayed.value.field == "SAD"

    sad, _ = client.authorize(leader["credentialID"], [digest], otp(leader))
    client.sign_hash(leader["credentialID"], sad, [digest])
    with pytest.raises(ValidationFailed, match="SAD: .*already used"):
        client.sign_hash(leader["credentialID"], sad, [digest])

    second = provider.enroll(LEADER)  # another credential of the same leader
    sad, _ = client.authorize(leader["credentialID"], [digest], otp(leader))
    with pytest.raises(ValidationFailed, match="another credential") as elsewhere:
        client.sign_hash(second["credentialID"], sad, [digest])
    assert elsewhere.value.field == "SAD"


def test_an_unknown_credential_a_bad_token_and_a_provider_down_are_named(client, provider):
    with pytest.raises(NotFound, match="no such credential") as unknown:
        client.authorize("cred-nobody", [_digest("x")], "123456")
    assert unknown.value.field == "credentialID"
    with pytest.raises(Forbidden, match="invalid_token") as token:
        CscClient(provider.url, "not-the-token").credentials_list()
    assert token.value.field == "Authorization"
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ServiceUnavailable, match="did not answer") as down:
        CscClient(f"http://127.0.0.1:{port}", "t", timeout=5).credentials_list()
    assert down.value.field == "csc"


def test_the_operators_provider_file_names_providers_and_their_token_files(
        tmp_path, provider):
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"standin": {"url": provider.url,
                                            "token_file": str(provider.client_token_file)}}))
    providers = Providers.from_file(str(path))
    assert providers.names() == ["standin"]
    assert provider.client_token not in repr(providers.client("standin"))
    with pytest.raises(ValidationFailed, match="no remote signing provider 'other'") as unknown:
        providers.client("other")
    assert unknown.value.field == "provider"
    assert Providers.from_file("").names() == []


def test_a_self_signed_certificate_not_signed_by_its_key_is_refused(client, leader):
    """The stand-in's credentials/info certificate is self-signed by the key in its
    token: proof the key exists. One whose signature is another key's is refused."""
    from cryptography import x509
    from services.signing import remote

    certificate = x509.load_der_x509_certificate(base64.b64decode(
        client.credentials_info(leader["credentialID"])["cert"]["certificates"][0]))
    assert remote._self_signed(certificate)
    other = ec.generate_private_key(ec.SECP256R1())
    forged = x509.CertificateBuilder().subject_name(certificate.subject).issuer_name(
        certificate.issuer).public_key(certificate.public_key()).serial_number(
        certificate.serial_number).not_valid_before(certificate.not_valid_before_utc
                                                    ).not_valid_after(
        certificate.not_valid_after_utc).sign(other, hashes.SHA256())
    assert not remote._self_signed(forged)
