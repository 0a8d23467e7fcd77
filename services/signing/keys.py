"""The development signing key: Ed25519, encrypted at rest with a passphrase.

The private key lives only in this process's memory and, on disk, as a
PKCS#8 PEM encrypted with the passphrase (never in clear, never logged).
Issue 4 replaces it with the agency PKI behind a ``Signer`` interface.
"""

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared.keys import load_or_create_ed25519, public_raw


class DevSigner:
    algorithm = "Ed25519"

    def __init__(self, private_key):
        self._key = private_key
        raw = public_raw(private_key)
        self.public_key_b64 = base64.b64encode(raw).decode()
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, message):
        return self._key.sign(message)

    def __repr__(self):  # never print key material
        return f"DevSigner(key_id={self.key_id})"

    @classmethod
    def load_or_create(cls, path, passphrase):
        return cls(load_or_create_ed25519(path, passphrase))


def verify_signature(public_key_b64, signature_b64, message):
    """True when ``signature_b64`` is a valid Ed25519 signature of ``message``."""
    from cryptography.exceptions import InvalidSignature

    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64), message)
        return True
    except (InvalidSignature, ValueError):
        return False
