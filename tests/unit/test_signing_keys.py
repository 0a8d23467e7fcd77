"""services.signing.keys: the development key, encrypted at rest, never shown."""

import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.signing.domain import signed_message
from services.signing.keys import DevSigner, verify_signature

PASSPHRASE = "mật khẩu thử nghiệm"


@pytest.fixture
def key_path(tmp_path):
    return str(tmp_path / "keys" / "signing.pem")


def _private_raw(signer):
    return signer._key.private_bytes(serialization.Encoding.Raw,
                                      serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption())


def test_load_or_create_writes_an_encrypted_pkcs8_pem(key_path):
    DevSigner.load_or_create(key_path, PASSPHRASE)
    with open(key_path, "rb") as fh:
        content = fh.read()
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in content
    assert b"BEGIN PRIVATE KEY" not in content


def test_the_key_file_cannot_be_read_without_the_passphrase(key_path):
    DevSigner.load_or_create(key_path, PASSPHRASE)
    with open(key_path, "rb") as fh:
        content = fh.read()
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(content, password=None)


def test_the_key_file_is_readable_by_its_owner_only(key_path):
    old = os.umask(0)  # even with a permissive umask
    try:
        DevSigner.load_or_create(key_path, PASSPHRASE)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600


def test_reloading_gives_the_same_key(key_path):
    created = DevSigner.load_or_create(key_path, PASSPHRASE)
    loaded = DevSigner.load_or_create(key_path, PASSPHRASE)
    assert loaded.key_id == created.key_id
    assert loaded.public_key_b64 == created.public_key_b64
    message = signed_message("d1", "ab" * 32)
    signature = base64.b64encode(loaded.sign(message)).decode()
    assert verify_signature(created.public_key_b64, signature, message)


def test_reloading_does_not_rewrite_the_file(key_path):
    DevSigner.load_or_create(key_path, PASSPHRASE)
    with open(key_path, "rb") as fh:
        before = fh.read()
    DevSigner.load_or_create(key_path, PASSPHRASE)
    with open(key_path, "rb") as fh:
        assert fh.read() == before


def test_a_wrong_passphrase_fails_to_load(key_path):
    DevSigner.load_or_create(key_path, PASSPHRASE)
    with pytest.raises(ValueError):
        DevSigner.load_or_create(key_path, "wrong passphrase")


@pytest.mark.parametrize("passphrase", ["", None])
def test_a_passphrase_is_required(key_path, passphrase):
    with pytest.raises(ValueError, match="passphrase"):
        DevSigner.load_or_create(key_path, passphrase)
    assert not os.path.exists(key_path)


def test_two_new_keys_differ(tmp_path):
    a = DevSigner.load_or_create(str(tmp_path / "a.pem"), PASSPHRASE)
    b = DevSigner.load_or_create(str(tmp_path / "b.pem"), PASSPHRASE)
    assert a.key_id != b.key_id


def test_key_id_is_16_hex_digits_of_the_public_key_hash():
    signer = DevSigner(Ed25519PrivateKey.generate())
    assert len(signer.key_id) == 16
    int(signer.key_id, 16)
    assert len(base64.b64decode(signer.public_key_b64)) == 32


def test_repr_and_str_show_no_key_material():
    signer = DevSigner(Ed25519PrivateKey.generate())
    raw = _private_raw(signer)
    pem = signer._key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    pem_body = "".join(pem.splitlines()[1:-1])
    for text in (repr(signer), str(signer), f"{signer!r}"):
        assert text == f"DevSigner(key_id={signer.key_id})"
        assert raw.hex() not in text
        assert base64.b64encode(raw).decode() not in text
        assert pem_body not in text


def test_verify_signature_accepts_the_signed_message():
    signer = DevSigner(Ed25519PrivateKey.generate())
    message = signed_message("d1", "ab" * 32)
    signature = base64.b64encode(signer.sign(message)).decode()
    assert verify_signature(signer.public_key_b64, signature, message) is True


def test_verify_signature_rejects_a_tampered_message():
    signer = DevSigner(Ed25519PrivateKey.generate())
    message = signed_message("d1", "ab" * 32)
    signature = base64.b64encode(signer.sign(message)).decode()
    assert verify_signature(signer.public_key_b64, signature,
                            signed_message("d1", "ac" + "ab" * 31)) is False
    assert verify_signature(signer.public_key_b64, signature, message + b" ") is False


def test_verify_signature_rejects_another_public_key():
    signer = DevSigner(Ed25519PrivateKey.generate())
    other = DevSigner(Ed25519PrivateKey.generate())
    message = b"message"
    signature = base64.b64encode(signer.sign(message)).decode()
    assert verify_signature(other.public_key_b64, signature, message) is False


def test_signed_message_is_the_canonical_json_of_id_and_hash():
    assert signed_message("d1", "ff") == b'{"document_id":"d1","sha256":"ff"}'
