"""Every event is signed by the service that produced it, and every consumer checks it.

Each producing service (``shared.catalogue.PRODUCERS``) holds its own Ed25519
key, ``{service}.key`` in the event-keys directory, encrypted under a
passphrase of its own, and signs :func:`shared.envelope.signing_bytes` of each
event when it stores it. The public keys are *provisioned*: an operator's
command (``python -m infra.keys provision DIR``) makes each key and writes the
trust file ``{"producer": ["base64 raw public key", ...]}``; a rotation
(``python -m infra.keys rotate DIR SERVICE``) adds the new key and keeps the
old ones there, so events signed before still verify. Nothing is trusted
because a file appears in a folder: only what the trust file lists.

A consumer applies an event only if :func:`authenticate` passes: it is
signed, by one of its producer's provisioned keys, its producer is the one
the catalogue names for its type, and the producer is the source the
consumer subscribed to.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.catalogue import origin_problem
from shared.envelope import signing_bytes
from shared.keys import load_ed25519, public_raw, save_ed25519
from shared.settings import is_dev_mode, require_secret
from shared.topology import ALL

if TYPE_CHECKING:
    from _typeshed import StrPath

    from shared.envelope import Event

log = logging.getLogger(__name__)


def key_id_of(public_key_raw: bytes) -> str:
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


def key_path(keys_dir: StrPath, producer: str) -> str:
    """Where ``producer``'s current private key lives."""
    return os.path.join(keys_dir, f"{producer}.key")


def passphrase_variable(producer: str) -> str:
    """The environment variable holding ``producer``'s event-key passphrase
    (each service's config.yml reads it into ``EVENT_KEY_PASSPHRASE``)."""
    return f"LIENTHONG_{producer.upper()}_EVENT_KEY_PASSPHRASE"


class KeyNotProvisioned(RuntimeError):
    """A service's event key, or its entry in the trust file, is missing."""

    def __init__(self, setting: str, problem: str):
        self.setting = setting
        super().__init__(f"{setting}: {problem}; provision it with `python -m infra.keys"
                         f" provision DIR` (or start the service in development mode,"
                         f" LIENTHONG_DEV_MODE=1, never in production)")


class EventSigner:
    def __init__(self, producer: str, private_key: Ed25519PrivateKey):
        self.producer = producer
        self._key = private_key
        self.public_raw = public_raw(private_key)
        self.key_id = key_id_of(self.public_raw)

    def __repr__(self):  # never show key material
        return f"EventSigner({self.producer}, key_id={self.key_id})"

    def sign(self, event: Event) -> Event:
        if event.producer != self.producer:
            raise ValueError(f"{self.producer} does not sign events of {event.producer}")
        value = base64.b64encode(self._key.sign(signing_bytes(event))).decode()
        return replace(event, signature=MappingProxyType({"key_id": self.key_id,
                                                          "value": value}))

    @classmethod
    def load(cls, keys_dir: StrPath, producer: str, passphrase: str | None) -> Self:
        """``producer``'s provisioned key; FileNotFoundError if there is none."""
        return cls(producer, load_ed25519(key_path(keys_dir, producer), passphrase))


class SignatureInvalid(Exception):
    """Why an event's producer signature is not acceptable (the message says)."""


class TrustedKeys:
    """Producers' provisioned public keys, ``{producer: {key_id: raw}}``.

    Read from the trust file (``path``), and read again when a key id is not
    known and the file has changed since (a rotation while we run).
    """

    def __init__(self, keys: Mapping[str, Mapping[str, bytes]] | None = None,
                 path: StrPath | None = None):
        self.keys = {p: dict(k) for p, k in (keys or {}).items()}
        self.path = path
        self._stamp = None

    @classmethod
    def from_file(cls, path: StrPath | None) -> Self:
        trusted = cls(path=path)
        trusted.reload()
        return trusted

    def add(self, producer: str, public_key_raw: bytes) -> None:
        self.keys.setdefault(producer, {})[key_id_of(public_key_raw)] = public_key_raw

    def reload(self) -> None:
        if not self.path:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        keys = {}
        for producer, raws in read_trust_file(self.path).items():
            keys[producer] = {key_id_of(raw): raw for raw in raws}
        self.keys, self._stamp = keys, stamp

    def trusts(self, producer: str, public_key_raw: bytes) -> bool:
        return self.public_key(producer, key_id_of(public_key_raw)) == public_key_raw

    def public_key(self, producer: str, key_id: str) -> bytes | None:
        key = self.keys.get(producer, {}).get(key_id)
        if key is None:
            self.reload()  # a key provisioned (rotated) since we read the file
            key = self.keys.get(producer, {}).get(key_id)
        return key

    def verify(self, event: Event) -> None:
        """Raise :class:`SignatureInvalid` unless ``event`` carries a good producer signature."""
        if not event.signature:
            raise SignatureInvalid(f"event {event.event_id} from {event.producer} is unsigned")
        self.verify_signed(event.producer, event.signature, signing_bytes(event),
                           what=f"event {event.event_id}")

    def verify_signed(self, producer: str, signature: Mapping[str, str], message: bytes,
                      what: str = "the event") -> None:
        """Check ``signature`` ({"key_id", "value"}) over ``message`` with ``producer``'s key."""
        key = self.public_key(producer, signature["key_id"])
        if key is None:
            raise SignatureInvalid(f"no trusted key {signature['key_id']} for producer"
                                   f" {producer}")
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(
                base64.b64decode(signature["value"], validate=True), message)
        except (InvalidSignature, ValueError):
            raise SignatureInvalid(f"the signature of {what} does not verify"
                                   f" with {producer}'s key") from None

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {p: {k: base64.b64encode(v).decode() for k, v in ks.items()}
                for p, ks in self.keys.items()}


# -- the trust file -----------------------------------------------------------------

def read_trust_file(path: StrPath) -> dict[str, list[bytes]]:
    """``{producer: [raw public key, ...]}``; ValueError naming what is wrong."""
    with open(path, encoding="utf-8") as fh:
        try:
            content = json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not JSON ({err})") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: must be an object of producer to a list of keys")
    trust = {}
    for producer, encoded in content.items():
        if not isinstance(encoded, list):
            raise ValueError(f"{path}: {producer}: must be a list of base64 public keys")
        raws = []
        for i, text in enumerate(encoded):
            try:
                raw = base64.b64decode(text, validate=True)
            except (ValueError, TypeError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(f"{path}: {producer}[{i}]: not a base64 Ed25519 public key")
            raws.append(raw)
        trust[producer] = raws
    return trust


@contextmanager
def _locked(path):
    """One writer of the trust file at a time (provisioning, a rotation, dev mode)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def trust_key(path: StrPath, producer: str, public_key_raw: bytes) -> None:
    """Add ``producer``'s public key to the trust file (kept: its keys before it)."""
    with _locked(path):
        trust = read_trust_file(path) if os.path.exists(path) else {}
        keys = trust.setdefault(producer, [])
        if public_key_raw in keys:
            return  # unchanged: consumers need not read it again
        keys.append(public_key_raw)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({p: [base64.b64encode(k).decode() for k in ks]
                       for p, ks in sorted(trust.items())}, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)


def provision_key(keys_dir: StrPath, producer: str, passphrase: str | None,
                  trust_file: StrPath) -> EventSigner:
    """``producer``'s key (made if it has none) sealed with ``passphrase``, and
    its public key in the trust file. Idempotent."""
    path = key_path(keys_dir, producer)
    try:
        key = load_ed25519(path, passphrase)
    except FileNotFoundError:
        try:
            key = save_ed25519(path, Ed25519PrivateKey.generate(), passphrase)
        except FileExistsError:  # made by another process meanwhile
            key = load_ed25519(path, passphrase)
    trust_key(trust_file, producer, public_raw(key))
    return EventSigner(producer, key)


def rotate_key(keys_dir: StrPath, producer: str, passphrase: str | None,
               trust_file: StrPath) -> EventSigner:
    """A new current key for ``producer``; the old public key stays trusted, so
    events signed with it (in logs, in outboxes) still verify. The new public
    key is trusted before the new private key signs anything."""
    load_ed25519(key_path(keys_dir, producer), passphrase)  # the passphrase is right
    key = Ed25519PrivateKey.generate()
    trust_key(trust_file, producer, public_raw(key))
    save_ed25519(key_path(keys_dir, producer), key, passphrase, replace=True)
    return EventSigner(producer, key)


# -- at a service's start ----------------------------------------------------------

def trusted_at_start(config: Mapping[str, Any]) -> TrustedKeys:
    """The provisioned keys (``EVENT_TRUST_FILE``); no trust file: refuse to
    start, unless in development mode (then the producers add their own keys)."""
    path = config.get("EVENT_TRUST_FILE")
    if not path:
        raise KeyNotProvisioned("EVENT_TRUST_FILE", "no trust file is set")
    if not os.path.exists(path):
        if not is_dev_mode(config):
            raise KeyNotProvisioned("EVENT_TRUST_FILE", f"there is no trust file {path}")
        log.warning("DEVELOPMENT MODE: no event trust file %s yet; each service adds its"
                    " own key; this must not run in production", path)
    return TrustedKeys.from_file(path)


def signer_at_start(config: Mapping[str, Any], service: str,
                    trusted: TrustedKeys) -> EventSigner:
    """The service's provisioned key (``EVENT_KEYS_DIR``, ``EVENT_KEY_PASSPHRASE``),
    which the trust file must list. A missing key or entry refuses to start;
    in development mode the service makes its key and trusts it itself."""
    passphrase = require_secret(config, "EVENT_KEY_PASSPHRASE")
    keys_dir = config.get("EVENT_KEYS_DIR")
    if not keys_dir:
        raise KeyNotProvisioned("EVENT_KEYS_DIR", "no event-keys directory is set")
    path = key_path(keys_dir, service)
    if is_dev_mode(config):
        log.warning("DEVELOPMENT MODE: %s makes its own event key %s if it has none and"
                    " trusts it itself; this must not run in production", service, path)
        signer = provision_key(keys_dir, service, passphrase, trusted.path)
        trusted.reload()
        return signer
    try:
        signer = EventSigner.load(keys_dir, service, passphrase)
    except FileNotFoundError:
        raise KeyNotProvisioned("EVENT_KEYS_DIR", f"{service} has no event key {path}") \
            from None
    except ValueError:
        raise KeyNotProvisioned("EVENT_KEY_PASSPHRASE", f"it does not open {service}'s"
                                f" event key {path}") from None
    if not trusted.trusts(service, signer.public_raw):
        raise KeyNotProvisioned("EVENT_TRUST_FILE", f"{service}'s current event key"
                                f" {signer.key_id} is not in {trusted.path}")
    return signer


# -- at every consumer --------------------------------------------------------------

def authenticate(event: Event, trusted: TrustedKeys, source: str,
                 event_type: str = ALL) -> None:
    """Raise :class:`SignatureInvalid` (saying why) unless ``event`` may be applied
    by a consumer subscribed to ``source``'s ``event_type``: signed with one of
    its producer's provisioned keys, of a type its producer produces, from the
    subscribed source."""
    trusted.verify(event)
    problem = origin_problem(event.producer, event.event_type)
    if problem:
        raise SignatureInvalid(f"event {event.event_id}: {problem}")
    if event.producer != source:
        raise SignatureInvalid(f"event {event.event_id} from {event.producer} reached a"
                               f" consumer of {source}'s events")
    if event_type not in (ALL, event.event_type):
        raise SignatureInvalid(f"event {event.event_id} is a {event.event_type}; this"
                               f" consumer takes {source}'s {event_type} only")
