"""The agencies' seal keys in an HSM, through PKCS#11 (``shared.tokens``).

Configured per deployment (``dependencies.SigningAuthority``):
``SEAL_KEY_SOURCE=pkcs11``, ``PKCS11_MODULE`` (the HSM's library) and
``SEAL_TOKENS``, a JSON file naming each agency's token::

    {"000.00.00.H01": {"token_label": "seal-H01", "pin_file": "/run/secrets/seal-H01"},
     "000.00.01.H01": {"token_label": "seal-H01-01", "pin_env": "SEAL_PIN_H01_01"}}

with ``key_label`` (default ``seal``) the key's label in the token. A PIN is
read from its file or variable when the token is first opened, and is never
logged nor kept beyond the login. An agency without an entry has no seal.
"""

import json
import logging
import os
import secrets
import subprocess
import sys

from shared import tokens
from shared.green import os_thread_lock
from shared.errors import Forbidden

log = logging.getLogger(__name__)
SOURCES = ("file", "pkcs11")


class SealTokens:
    def __init__(self, module, entries):
        self.module = module
        self._entries = {agency: _checked(agency, entry) for agency, entry in entries.items()}
        self._sessions = {}  # token label -> (session, lock)

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
        if label not in self._sessions:
            try:
                session = tokens.open_session(self.module, label, _pin(entry))
            except tokens.TokenError as exc:
                log.error("the seal token of %s: %s", agency, exc.reason)
                raise Forbidden(f"certificate: the seal token of {agency} refused: {exc}",
                                field="certificate") from None
            self._sessions[label] = (session, os_thread_lock())
            log.info("opened the seal token %s of %s", label, agency)
        return self._sessions[label]


def _checked(agency, entry):
    if not isinstance(entry, dict) or not entry.get("token_label"):
        raise ValueError(f"SEAL_TOKENS: {agency}: a token_label is required")
    if bool(entry.get("pin_file")) == bool(entry.get("pin_env")):
        raise ValueError(f"SEAL_TOKENS: {agency}: one of pin_file or pin_env is required")
    return {"key_label": tokens.KEY_LABEL, **entry}


def _pin(entry):
    if entry.get("pin_file"):
        return tokens.read_secret(entry["pin_file"])
    pin = os.environ.get(entry["pin_env"])
    if not pin:
        raise Forbidden(f"certificate: the variable {entry['pin_env']} holding the seal"
                        f" token {entry['token_label']}'s PIN is not set", field="certificate")
    return pin


def provision_softhsm(directory, agencies):
    """One SoftHSM2 token per agency in ``directory`` (a private SoftHSM2), each with
    its own random PIN (a 0600 file) and its seal key made inside; the token file
    ``SEAL_TOKENS``. Returns the settings a signing process needs and each agency's
    public key (PEM). For tests and the demo: a real HSM is the operator's."""
    directory = os.path.abspath(directory)
    softhsm = tokens.SoftHsm(os.path.join(directory, "softhsm")).ensure()
    entries, public_keys = {}, {}
    for agency in agencies:
        label = f"seal-{agency}"
        pin_file = _secret_file(directory, f"{label}.pin")
        so_pin_file = _secret_file(directory, f"{label}.so-pin")
        done = subprocess.run(
            [sys.executable, "-m", "shared.tokens", "init", softhsm.directory, "--label",
             label, "--pin-file", pin_file, "--so-pin-file", so_pin_file],
            capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"the seal token of {agency}: {done.stderr.strip()}")
        entries[agency] = {"token_label": label, "pin_file": pin_file}
        public_keys[agency] = done.stdout
    seal_tokens = os.path.join(directory, "seal-tokens.json")
    with open(seal_tokens, "w") as fh:
        json.dump(entries, fh, indent=1)
    return {**softhsm.env(), "LIENTHONG_SEAL_KEY_SOURCE": "pkcs11",
            "LIENTHONG_PKCS11_MODULE": tokens.softhsm_module(),
            "LIENTHONG_SEAL_TOKENS": seal_tokens}, public_keys


def _secret_file(directory, name):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(12) + "\n")
    return path
