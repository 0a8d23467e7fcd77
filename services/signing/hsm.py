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

Without an HSM (docker compose's one-shot ``hsm-tokens``; the demo and the tests
call :func:`provision_softhsm`), SoftHSM2 tokens made and kept in a directory::

    python -m services.signing.hsm provision DIR --agencies A,B --platform

makes the missing tokens (each key inside, each PIN a random 0600 file), keeps
those that exist, writes ``DIR/pki-tokens.json`` and ``DIR/seal-tokens.json`` and
prints the settings signing needs (:func:`settings`).
"""

import argparse
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile

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
    _json_file(directory, SEAL_TOKENS_FILE, seals)
    if platform:
        own = {}
        for role in PlatformKeys.ROLES:
            own[role], public_keys[role] = _token(softhsm, directory, f"pki-{role}", role)
        _json_file(directory, PKI_TOKENS_FILE, own)
    return settings(directory, platform=platform), public_keys


PKI_TOKENS_FILE = "pki-tokens.json"
SEAL_TOKENS_FILE = "seal-tokens.json"
LABEL_MAX = 32  # a PKCS#11 token label's bytes


def settings(directory, module=None, platform=True):
    """What a signing process needs for the tokens ``provision`` keeps in
    ``directory`` (fixed paths: a deployment sets them before the tokens exist);
    without ``platform``, the seals' only."""
    directory = os.path.abspath(directory)
    found = {**tokens.SoftHsm(os.path.join(directory, "softhsm")).env(),
             "LIENTHONG_PKCS11_MODULE": module or tokens.softhsm_module(),
             "LIENTHONG_SEAL_KEY_SOURCE": "pkcs11",
             "LIENTHONG_SEAL_TOKENS": os.path.join(directory, SEAL_TOKENS_FILE)}
    if platform:
        found.update(LIENTHONG_PKI_KEY_SOURCE="pkcs11",
                     LIENTHONG_PKI_TOKENS=os.path.join(directory, PKI_TOKENS_FILE))
    return found


def agency_list(text, setting="--agencies"):
    """``A,B`` as a list of agency codes (duplicates once); a clear error otherwise."""
    from shared.envelope import AGENCY_CODE

    agencies = []
    for code in (c.strip() for c in (text or "").split(",")):
        if not code:
            continue
        if not AGENCY_CODE.match(code):
            raise ValueError(f"{setting}: {code!r} is not an agency code of the form"
                             " XXX.XX.XX.Ynn")
        if code not in agencies:
            agencies.append(code)
    if not agencies:
        raise ValueError(f"{setting}: at least one agency code (XXX.XX.XX.Ynn, separated"
                         " by commas)")
    return agencies


def provision(directory, agencies, platform=False, say=lambda line: None):
    """SoftHSM2 tokens for a deployment (docker compose's ``hsm-tokens`` one-shot), made
    once and kept: in ``directory`` the token store, a token ``seal-<agency>`` per agency
    and, with ``platform``, ``pki-ca`` and ``pki-tsa``, each with its key made inside and
    its own random PIN (a 0600 file); then ``seal-tokens.json`` (the agencies given, in
    their order) and ``pki-tokens.json``. Run again, a token that exists is kept with its
    PIN (checked: the PIN opens it and it holds its key, sensitive and not extractable)
    and only missing ones are made; never a second token of a label. Returns
    ``{label: "made" | "kept"}``; ``say`` gets a line per token. A token of an agency no
    longer given is kept, out of ``seal-tokens.json``."""
    import fcntl

    agencies = list(agencies)
    for agency in agencies:
        if len(f"seal-{agency}".encode()) > LABEL_MAX:
            raise ValueError(f"agencies: seal-{agency} is longer than a token label"
                             f" ({LABEL_MAX} bytes)")
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    softhsm = tokens.SoftHsm(os.path.join(directory, "softhsm")).ensure()
    wanted = [(f"pki-{role}", role) for role in PlatformKeys.ROLES] if platform else []
    wanted += [(f"seal-{agency}", tokens.KEY_LABEL) for agency in agencies]
    done, entries = {}, {}
    with open(os.path.join(directory, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run at a time: never two tokens of a label
        present = _token_labels(softhsm)
        for label, key_label in wanted:
            if present.count(label) > 1:
                raise RuntimeError(f"{label}: {present.count(label)} tokens have this label"
                                   f" in {softhsm.directory}; keep one (softhsm2-util"
                                   " --delete-token --serial ...)")
            if label in present:
                entries[label] = _kept(softhsm, directory, label, key_label)
                done[label] = "kept"
            else:
                entries[label], _ = _token(softhsm, directory, label, key_label,
                                           reuse_pins=True)
                done[label] = "made"
            say(f"{done[label]} {label}")
        kept_out = sorted(set(present) - {label for label, _ in wanted})
        for label in kept_out:
            say(f"kept {label} (not asked for: left out of the token files)")
        _json_file_if_changed(directory, SEAL_TOKENS_FILE,
                              {a: entries[f"seal-{a}"] for a in agencies})
        if platform:
            _json_file_if_changed(directory, PKI_TOKENS_FILE,
                                  {role: entries[f"pki-{role}"] for role in PlatformKeys.ROLES})
    return done


def _token_labels(softhsm):
    """The labels of the initialised tokens in ``softhsm`` (one per token)."""
    shown = subprocess.run(["softhsm2-util", "--show-slots"], capture_output=True, text=True,
                           env={**os.environ, **softhsm.env()}, timeout=60)
    if shown.returncode != 0:
        raise RuntimeError(f"softhsm2-util --show-slots: {shown.stderr.strip()}")
    labels, initialised = [], False
    for line in shown.stdout.splitlines():
        name, _, value = line.strip().partition(":")
        if name == "Initialized":
            initialised = value.strip() == "yes"
        elif name == "Label" and initialised:
            labels.append(value.strip())
    return labels


def _kept(softhsm, directory, label, key_label):
    """The entry of the existing token ``label``, once its PIN file opens it and it
    holds its key ``key_label``, sensitive and never extractable."""
    pin_file = os.path.join(directory, f"{label}.pin")
    if not os.path.exists(pin_file):
        raise RuntimeError(f"{label}: the token exists but its PIN file {pin_file} does not:"
                           " restore the file (its key cannot be used without it)")
    shown = subprocess.run(
        [sys.executable, "-m", "shared.tokens", "keys", softhsm.directory, "--label", label,
         "--pin-file", pin_file], capture_output=True, text=True, timeout=120)
    if shown.returncode != 0:
        raise RuntimeError(f"{label}: the token refused its PIN file {pin_file}:"
                           f" {shown.stderr.strip()}")
    keys = [k for k in json.loads(shown.stdout) if k["label"] == key_label]
    if len(keys) != 1 or keys[0]["extractable"] or not keys[0]["sensitive"]:
        raise RuntimeError(f"{label}: the token holds no single sensitive, not extractable"
                           f" key {key_label!r} (an interrupted run?); delete the token"
                           f" (SOFTHSM2_CONF={softhsm.conf} softhsm2-util --delete-token"
                           f" --token {label}) and run again")
    return _entry(label, pin_file, key_label)


def _entry(label, pin_file, key_label):
    """A token file's entry (``key_label`` written only when not the default)."""
    entry = {"token_label": label, "pin_file": pin_file}
    if key_label != tokens.KEY_LABEL:
        entry["key_label"] = key_label
    return entry


def _token(softhsm, directory, label, key_label, reuse_pins=False):
    """A new token ``label`` with its key ``key_label`` made inside: its entry and
    the public key (PEM). ``reuse_pins``: PIN files left by an interrupted run are
    taken (they guard no token yet)."""
    pin_file = _secret_file(directory, f"{label}.pin", reuse_pins)
    so_pin_file = _secret_file(directory, f"{label}.so-pin", reuse_pins)
    done = subprocess.run(
        [sys.executable, "-m", "shared.tokens", "init", softhsm.directory, "--label",
         label, "--pin-file", pin_file, "--so-pin-file", so_pin_file,
         "--key-label", key_label], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"the token {label}: {done.stderr.strip()}")
    return _entry(label, pin_file, key_label), done.stdout


def _json_file(directory, name, entries):
    path = os.path.join(directory, name)
    with open(path, "w") as fh:
        json.dump(entries, fh, indent=1)
    return path


def _json_file_if_changed(directory, name, entries):
    """``name`` holding ``entries``, replaced whole, and left alone when it already does."""
    path = os.path.join(directory, name)
    text = json.dumps(entries, indent=1)
    try:
        with open(path) as fh:
            if fh.read() == text:
                return path
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(temporary, path)
    return path


def parser():
    parser = argparse.ArgumentParser(
        prog="python -m services.signing.hsm",
        description="SoftHSM2 tokens for a deployment without an HSM (docker compose).")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser(
        "provision", help="make the missing tokens (and their keys, inside), keep the others")
    make.add_argument("directory")
    make.add_argument("--agencies", required=True,
                      help="the agencies' codes that get a seal token, A,B,...")
    make.add_argument("--platform", action="store_true",
                      help="also the root CA's and the TSA's tokens pki-ca and pki-tsa")
    return parser


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        agencies = agency_list(args.agencies, "--agencies (LIENTHONG_SEAL_AGENCIES in"
                               " docker-compose.yml)")
        provision(args.directory, agencies, args.platform, say=print)
    except (ValueError, RuntimeError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for name, value in settings(args.directory, platform=args.platform).items():
        print(f"{name}={value}")
    return 0


def _secret_file(directory, name, reuse=False):
    path = os.path.join(directory, name)
    if reuse and os.path.exists(path):
        return path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(12) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
