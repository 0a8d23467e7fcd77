"""The development signing key: Ed25519, encrypted at rest with a passphrase.

The private key lives only in this process's memory and, on disk, as a
PKCS#8 PEM encrypted with the passphrase (never in clear, never logged).
Issue 4 replaces it with the agency PKI behind a ``Signer`` interface.
"""

import base64
import hashlib
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class DevSigner:
    algorithm = "Ed25519"

    def __init__(self, private_key):
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_key_b64 = base64.b64encode(raw).decode()
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, message):
        return self._key.sign(message)

    def __repr__(self):  # never print key material
        return f"DevSigner(key_id={self.key_id})"

    @classmethod
    def load_or_create(cls, path, passphrase):
        if not passphrase:
            raise ValueError("a signing key passphrase is required (LIENTHONG_SIGNING_KEY_PASSPHRASE)")
        secret = passphrase.encode()
        if os.path.exists(path):
            with open(path, "rb") as fh:
                return cls(serialization.load_pem_private_key(fh.read(), password=secret))
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(secret))
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return cls(key)


def verify_signature(public_key_b64, signature_b64, message):
    """True when ``signature_b64`` is a valid Ed25519 signature of ``message``."""
    from cryptography.exceptions import InvalidSignature

    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64), message)
        return True
    except (InvalidSignature, ValueError):
        return False
