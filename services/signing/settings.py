"""The signing service's settings, with their defaults (``shared.config``).
The PKI's (``PKI_DIR``, ``PKI_PASSPHRASE``, ``PKI_KEY_SOURCE``, ``PKI_TOKENS``,
``SEAL_KEY_SOURCE``, ``SEAL_TOKENS``, ``PKCS11_MODULE``, ``AUTO_ENROLL``, ``TSA_URL``) are
read by ``dependencies.SigningAuthority``."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SigningSettings:
    max_sign_bytes: int = 100 * 1024 * 1024    # the largest PDF signed or verified
    handout_seconds: int = 300                 # a leader's device signs a hand-out within
