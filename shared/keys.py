"""Ed25519 keys kept encrypted at rest.

A private key lives on disk only as a PKCS#8 PEM encrypted with a passphrase
(file mode 0600), and in memory inside the process that uses it; it is never
logged. The raw public key is written beside it (``.pub``, base64) so that
others can be given it.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

if TYPE_CHECKING:
    from _typeshed import StrPath


def public_raw(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)


def load_ed25519(path: StrPath, passphrase: str | None) -> Ed25519PrivateKey:
    """The key at ``path``; raises FileNotFoundError if there is none, ValueError
    if the passphrase does not open it."""
    if not passphrase:
        raise ValueError(f"a passphrase is required to open the key {path}")
    with open(path, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=passphrase.encode())
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 key")
    return key


def save_ed25519(path: StrPath, key: Ed25519PrivateKey, passphrase: str | None,
                 replace: bool = False) -> Ed25519PrivateKey:
    """Write ``key`` encrypted (0600); without ``replace``, FileExistsError if
    ``path`` exists. A replacement is atomic: readers see the old or the new key."""
    if not passphrase:
        raise ValueError(f"a passphrase is required to seal the key {path}")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase.encode()))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    target = f"{path}.{os.getpid()}.tmp" if replace else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    if replace:
        os.replace(target, path)
    return key


def load_or_create_ed25519(path: StrPath, passphrase: str | None) -> Ed25519PrivateKey:
    """The key at ``path``, made on first use; raises ValueError without a passphrase."""
    if not passphrase:
        raise ValueError(f"a passphrase is required to open or create the key {path}")
    if os.path.exists(path):
        return load_ed25519(path, passphrase)
    try:
        return save_ed25519(path, Ed25519PrivateKey.generate(), passphrase)
    except FileExistsError:  # another process made it first: use theirs
        return load_ed25519(path, passphrase)


def write_public(path: StrPath, private_key: Ed25519PrivateKey) -> None:
    """Write the raw public key (base64) atomically, for whoever must verify."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(base64.b64encode(public_raw(private_key)).decode() + "\n")
    os.replace(tmp, path)
