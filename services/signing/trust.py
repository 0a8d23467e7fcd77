"""Roots the verifier trusts besides the platform's own CA (``TRUST_ROOTS``).

A real deployment trusts the national root CA (and whichever CAs the
operator decides): documents from other agencies are signed under it, not
under this platform's development root. ``TRUST_ROOTS`` names PEM files,
separated by ``:`` (``os.pathsep``); each holds one or more certificates and,
optionally, the CRLs of those CAs (``-----BEGIN X509 CRL-----``): the
verifier fetches nothing, so a CA's CRL is given here, and the operator
replaces the file when the CA publishes a new one. The files are read again
when they change (no restart); a file that is missing or holds no
certificate stops the service at start, naming it.
"""

import os
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

SETTING = "TRUST_ROOTS"
_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.S)


class TrustRoots:
    def __init__(self, paths=()):
        self.paths = tuple(paths)
        self._seen = {}  # path -> (mtime, certificates, crls)
        for path in self.paths:
            self._load(path)

    def __repr__(self):
        return f"TrustRoots({self.paths!r})"

    @classmethod
    def from_setting(cls, value):
        return cls(p for p in str(value or "").split(os.pathsep) if p.strip())

    def certificates(self):
        """Every root certificate the files hold now."""
        return [c for path in self.paths for c in self._current(path)[1]]

    def crls(self):
        """Every CRL the files hold now (DER)."""
        return [c for path in self.paths for c in self._current(path)[2]]

    def _current(self, path):
        try:
            if os.stat(path).st_mtime_ns != self._seen[path][0]:
                self._load(path)
        except (OSError, ValueError):
            pass  # replaced meanwhile, or broken: the last good reading stands
        return self._seen[path]

    def _load(self, path):
        try:
            with open(path, "rb") as fh:
                mtime, data = os.fstat(fh.fileno()).st_mtime_ns, fh.read()
        except OSError as exc:
            raise ValueError(f"{SETTING}: cannot read {path}: {exc.strerror}") from None
        try:
            certificates = x509.load_pem_x509_certificates(data) \
                if b"-----BEGIN CERTIFICATE-----" in data else []
            crls = [x509.load_pem_x509_crl(m.group(0)).public_bytes(
                serialization.Encoding.DER) for m in _CRL.finditer(data)]
        except ValueError as exc:
            raise ValueError(f"{SETTING}: {path} is not PEM certificates and CRLs: {exc}") \
                from None
        if not certificates:
            raise ValueError(f"{SETTING}: {path} holds no certificate")
        self._seen[path] = (mtime, certificates, crls)
