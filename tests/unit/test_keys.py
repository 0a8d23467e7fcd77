"""shared.keys: the services' event-signing keys, encrypted at rest."""

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from shared.keys import load_or_create_ed25519, public_raw

PASSPHRASE = "mật khẩu thử nghiệm"


@pytest.fixture
def key_path(tmp_path):
    return str(tmp_path / "keys" / "docs.pem")


def test_load_or_create_writes_an_encrypted_pkcs8_pem(key_path):
    load_or_create_ed25519(key_path, PASSPHRASE)
    with open(key_path, "rb") as fh:
        content = fh.read()
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in content
    assert b"BEGIN PRIVATE KEY" not in content


def test_the_key_file_cannot_be_read_without_the_passphrase(key_path):
    load_or_create_ed25519(key_path, PASSPHRASE)
    with open(key_path, "rb") as fh:
        content = fh.read()
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(content, password=None)


def test_the_key_file_is_readable_by_its_owner_only(key_path):
    old = os.umask(0)  # even with a permissive umask
    try:
        load_or_create_ed25519(key_path, PASSPHRASE)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600


def test_reloading_gives_the_same_key(key_path):
    created = load_or_create_ed25519(key_path, PASSPHRASE)
    loaded = load_or_create_ed25519(key_path, PASSPHRASE)
    assert public_raw(loaded) == public_raw(created)
    created.public_key().verify(loaded.sign(b"message"), b"message")


def test_reloading_does_not_rewrite_the_file(key_path):
    load_or_create_ed25519(key_path, PASSPHRASE)
    with open(key_path, "rb") as fh:
        before = fh.read()
    load_or_create_ed25519(key_path, PASSPHRASE)
    with open(key_path, "rb") as fh:
        assert fh.read() == before


def test_a_wrong_passphrase_fails_to_load(key_path):
    load_or_create_ed25519(key_path, PASSPHRASE)
    with pytest.raises(ValueError):
        load_or_create_ed25519(key_path, "wrong passphrase")


@pytest.mark.parametrize("passphrase", ["", None])
def test_a_passphrase_is_required(key_path, passphrase):
    with pytest.raises(ValueError, match="passphrase"):
        load_or_create_ed25519(key_path, passphrase)
    assert not os.path.exists(key_path)


def test_two_new_keys_differ(tmp_path):
    a = load_or_create_ed25519(str(tmp_path / "a.pem"), PASSPHRASE)
    b = load_or_create_ed25519(str(tmp_path / "b.pem"), PASSPHRASE)
    assert public_raw(a) != public_raw(b)
