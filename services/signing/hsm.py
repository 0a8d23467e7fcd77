"""The agencies' seal keys, and the platform CA's and TSA's keys, in an HSM,
through PKCS#11 (``shared.tokens``).

Configured per deployment (``dependencies.SigningAuthority``):
``SEAL_KEY_SOURCE=pkcs11``, ``PKCS11_MODULE`` (the HSM's library) and
``SEAL_TOKENS``, a JSON file naming each agency's token::

    {"000.00.00.H01": {"token_label": "seal-H01", "pin_file": "/run/secrets/seal-H01"},
     "000.00.01.H01": {"token_label": "seal-H01-01", "pin_env": "SEAL_PIN_H01_01"}}

with ``key_label`` (default ``seal``) the key's label in the token. A PIN is
read from its file or variable when the token is first opened, and is never
logged nor kept beyond the login. An agency without an entry has no seal.

The platform's own keys (:class:`PlatformKeys`): ``PKI_KEY_SOURCE=pkcs11`` and
``PKI_TOKENS``, a JSON file of the same entries for ``ca`` (the root that issues
every certificate and signs the CRL) and ``tsa`` (the time-stamping authority's;
not needed when ``TSA_URL`` names another TSA)::

    {"ca": {"token_label": "pki-ca", "pin_file": "/run/secrets/pki-ca"},
     "tsa": {"token_label": "pki-tsa", "pin_file": "/run/secrets/pki-tsa"}}

``key_label`` defaults to ``ca`` and ``tsa``. Both are opened when the service
starts: a missing token, key or PIN stops it, naming the entry.
"""

import json
import logging
import os
import secrets
import subprocess
import sys

from services.signing import pki
from shared import tokens
from shared.errors import Forbidden
from shared.green import os_thread_lock

log = logging.getLogger(__name__)
SOURCES = ("file", "pkcs11")
# (module, token label) -> (session, lock). A token is logged in once per process
# (PKCS#11 login state is the application's: a second login is refused), so the seal
# tokens and the platform's share a session where one token holds keys of both.
_SESSIONS = {}


class SealTokens:
    def __init__(self, module, entries):
        self.module = module
        self._entries = {agency: _checked(agency, entry) for agency, entry in entries.items()}

    def __repr__(self):  # never a PIN
        return f"SealTokens({self.module!r}, {sorted(self._entries)})"

    @classmethod
    def from_file(cls, module, path):
        if not module:
            raise ValueError("PKCS11_MODULE: required with SEAL_KEY_SOURCE=pkcs11")
        if not path:
            raise ValueError("SEAL_TOKENS: required with SEAL_KEY_SOURCE=pkcs11")
        with open(path) as fh:
            return cls(module, json.load(fh))

    def public_key(self, agency):
        """The public half of ``agency``'s seal key, as its token gives it."""
        session, lock = self._session(agency)
        with lock:
            return tokens.public_key(session, self._entries[agency]["key_label"])

    def signer(self, agency, certificate, chain):
        """A pyHanko signer with ``agency``'s seal key, for ``certificate``."""
        session, lock = self._session(agency)
        return tokens.token_signer(session, certificate, chain,
                                   self._entries[agency]["key_label"], lock)

    def _session(self, agency):
        entry = self._entries.get(agency)
        if entry is None:
            raise Forbidden(f"certificate: agency {agency} has no seal token configured"
                            " (SEAL_TOKENS)", field="certificate")
        label = entry["token_label"]
        if (self.module, label) not in _SESSIONS:
            try:
                session = tokens.open_session(self.module, label, _pin(entry))
            except tokens.TokenError as exc:
                log.error("the seal token of %s: %s", agency, exc.reason)
                raise Forbidden(f"certificate: the seal token of {agency} refused: {exc}",
                                field="certificate") from None
            _SESSIONS[self.module, label] = (session, os_thread_lock())
            log.info("opened the seal token %s of %s", label, agency)
        return _SESSIONS[self.module, label]


class PlatformKeys:
    """The platform CA's and TSA's keys in their tokens (``PKI_KEY_SOURCE=pkcs11``):
    :meth:`key` gives a ``pki.TokenKey`` the token signs with, under a lock per token."""

    ROLES = ("ca", "tsa")

    def __init__(self, module, entries, roles=ROLES):
        if not isinstance(entries, dict):
            raise ValueError("PKI_TOKENS: a JSON object with the entries ca and tsa")
        for role in roles:
            if role not in entries:
                raise ValueError(f"PKI_TOKENS: the entry {role} is required"
                                 + (" (TSA_URL is empty: the service runs its own TSA)"
                                    if role == "tsa" else ""))
        self.module = module
        self._entries = {role: _checked(role, entries[role], "PKI_TOKENS", role)
                         for role in roles}
        self._keys = {role: self._open(role) for role in roles}

    def __repr__(self):  # never a PIN
        return f"PlatformKeys({self.module!r}, {sorted(self._entries)})"

    @classmethod
    def from_file(cls, module, path, roles=ROLES):
        if not module:
            raise ValueError("PKCS11_MODULE: required with PKI_KEY_SOURCE=pkcs11")
        if not path:
            raise ValueError("PKI_TOKENS: required with PKI_KEY_SOURCE=pkcs11")
        with open(path) as fh:
            return cls(module, json.load(fh), roles)

    def key(self, role):
        return self._keys[role]

    def _open(self, role):
        entry = self._entries[role]
        label, key_label = entry["token_label"], entry["key_label"]
        if (self.module, label) not in _SESSIONS:
            if entry.get("pin_env") and not os.environ.get(entry["pin_env"]):
                raise RuntimeError(f"PKI_TOKENS: {role}: the variable {entry['pin_env']}"
                                   f" holding the token {label}'s PIN is not set")
            try:
                pin = _pin(entry, "PKI_TOKENS")
            except OSError as exc:
                raise RuntimeError(f"PKI_TOKENS: {role}: the PIN file of the token {label}:"
                                   f" {exc.strerror} ({exc.filename})") from None
            try:
                session = tokens.open_session(self.module, label, pin)
            except tokens.TokenError as exc:
                raise RuntimeError(f"PKI_TOKENS: {role}: the token {label} refused: {exc}") \
                    from None
            _SESSIONS[self.module, label] = (session, os_thread_lock())
            log.info("opened the token %s of the platform's %s key", label, role)
        session, lock = _SESSIONS[self.module, label]
        try:
            with lock:
                public = tokens.public_key(session, key_label)
        except tokens.TokenError:
            raise RuntimeError(
                f"PKI_TOKENS: {role}: the token {label} holds no single key {key_label!r};"
                " make one inside the token (an ECDSA P-256 key pair, sensitive, not"
                " extractable: the HSM's own tool, or python -m shared.tokens init"
                f" --key-label {key_label} for SoftHSM2)") from None

        def sign_digest(digest):
            with lock:
                return tokens.sign_digest(session, digest, key_label)

        return pki.TokenKey(public, sign_digest, f"{role} in {label}")


def _checked(name, entry, setting="SEAL_TOKENS", key_label=tokens.KEY_LABEL):
    if not isinstance(entry, dict) or not entry.get("token_label"):
        raise ValueError(f"{setting}: {name}: a token_label is required")
    if bool(entry.get("pin_file")) == bool(entry.get("pin_env")):
        raise ValueError(f"{setting}: {name}: one of pin_file or pin_env is required")
    return {"key_label": key_label, **entry}


def _pin(entry, setting="SEAL_TOKENS"):
    if entry.get("pin_file"):
        return tokens.read_secret(entry["pin_file"])
    pin = os.environ.get(entry["pin_env"])
    if not pin:
        raise Forbidden(f"certificate: the variable {entry['pin_env']} holding the"
                        f" token {entry['token_label']}'s PIN is not set ({setting})",
                        field="certificate")
    return pin


def provision_softhsm(directory, agencies, platform=False):
    """One SoftHSM2 token per agency in ``directory`` (a private SoftHSM2), each with
    its own random PIN (a 0600 file) and its seal key made inside; the token file
    ``SEAL_TOKENS``. With ``platform``, also the tokens ``pki-ca`` and ``pki-tsa``
    holding the CA's and the TSA's keys, and ``PKI_TOKENS``. Returns the settings a
    signing process needs and each public key (PEM) by agency (and ``ca``, ``tsa``).
    For tests and the demo: a real HSM is the operator's."""
    directory = os.path.abspath(directory)
    softhsm = tokens.SoftHsm(os.path.join(directory, "softhsm")).ensure()
    seals, public_keys = {}, {}
    for agency in agencies:
        seals[agency], public_keys[agency] = _token(softhsm, directory, f"seal-{agency}",
                                                    tokens.KEY_LABEL)
    env = {**softhsm.env(), "LIENTHONG_SEAL_KEY_SOURCE": "pkcs11",
           "LIENTHONG_PKCS11_MODULE": tokens.softhsm_module(),
           "LIENTHONG_SEAL_TOKENS": _json_file(directory, "seal-tokens.json", seals)}
    if platform:
        own = {}
        for role in PlatformKeys.ROLES:
            own[role], public_keys[role] = _token(softhsm, directory, f"pki-{role}", role)
        env.update(LIENTHONG_PKI_KEY_SOURCE="pkcs11",
                   LIENTHONG_PKI_TOKENS=_json_file(directory, "pki-tokens.json", own))
    return env, public_keys


def _token(softhsm, directory, label, key_label):
    """A new token ``label`` with its key ``key_label`` made inside: its entry and
    the public key (PEM)."""
    pin_file = _secret_file(directory, f"{label}.pin")
    so_pin_file = _secret_file(directory, f"{label}.so-pin")
    done = subprocess.run(
        [sys.executable, "-m", "shared.tokens", "init", softhsm.directory, "--label",
         label, "--pin-file", pin_file, "--so-pin-file", so_pin_file,
         "--key-label", key_label], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"the token {label}: {done.stderr.strip()}")
    entry = {"token_label": label, "pin_file": pin_file}
    if key_label != tokens.KEY_LABEL:
        entry["key_label"] = key_label
    return entry, done.stdout


def _json_file(directory, name, entries):
    path = os.path.join(directory, name)
    with open(path, "w") as fh:
        json.dump(entries, fh, indent=1)
    return path


def _secret_file(directory, name):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(12) + "\n")
    return path
