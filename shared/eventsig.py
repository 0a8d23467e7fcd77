"""Every event is signed by the service that produced it.

Each service holds an Ed25519 key (``{service}.key``, encrypted, in the
event-keys directory) and signs :func:`shared.envelope.signing_bytes` of each
event when it stores it. The audit service trusts the public keys it is
given (``{service}.pub`` files) and refuses, into quarantine, any event that
is unsigned or whose signature does not verify with its producer's key.
"""

import base64
import hashlib
import os
from dataclasses import replace
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared.envelope import signing_bytes
from shared.keys import load_or_create_ed25519, public_raw, write_public


def key_id_of(public_key_raw):
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


class EventSigner:
    def __init__(self, producer, private_key):
        self.producer = producer
        self._key = private_key
        self.public_raw = public_raw(private_key)
        self.key_id = key_id_of(self.public_raw)

    def __repr__(self):  # never show key material
        return f"EventSigner({self.producer}, key_id={self.key_id})"

    def sign(self, event):
        if event.producer != self.producer:
            raise ValueError(f"{self.producer} does not sign events of {event.producer}")
        value = base64.b64encode(self._key.sign(signing_bytes(event))).decode()
        return replace(event, signature=MappingProxyType({"key_id": self.key_id,
                                                          "value": value}))

    @classmethod
    def for_service(cls, keys_dir, producer, passphrase):
        """The service's key from ``keys_dir`` (made on first start), its ``.pub`` published."""
        key = load_or_create_ed25519(os.path.join(keys_dir, f"{producer}.key"), passphrase)
        write_public(os.path.join(keys_dir, f"{producer}.pub"), key)
        return cls(producer, key)


class SignatureInvalid(Exception):
    """Why an event's producer signature is not acceptable (the message says)."""


class TrustedKeys:
    """Producers' public keys: ``{producer: {key_id: raw}}``; reloadable from a directory."""

    def __init__(self, keys=None, directory=None):
        self.keys = {p: dict(k) for p, k in (keys or {}).items()}
        self.directory = directory

    def add(self, producer, public_key_raw):
        self.keys.setdefault(producer, {})[key_id_of(public_key_raw)] = public_key_raw

    def reload(self):
        if not self.directory or not os.path.isdir(self.directory):
            return
        for name in os.listdir(self.directory):
            if name.endswith(".pub"):
                with open(os.path.join(self.directory, name)) as fh:
                    self.add(name[:-4], base64.b64decode(fh.read().strip()))

    def public_key(self, producer, key_id):
        key = self.keys.get(producer, {}).get(key_id)
        if key is None:
            self.reload()  # a service started after us published its key
            key = self.keys.get(producer, {}).get(key_id)
        return key

    def verify(self, event):
        """Raise :class:`SignatureInvalid` unless ``event`` carries a good producer signature."""
        if not event.signature:
            raise SignatureInvalid(f"event {event.event_id} from {event.producer} is unsigned")
        self.verify_signed(event.producer, event.signature, signing_bytes(event),
                           what=f"event {event.event_id}")

    def verify_signed(self, producer, signature, message, what="the event"):
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

    def to_dict(self):
        return {p: {k: base64.b64encode(v).decode() for k, v in ks.items()}
                for p, ks in self.keys.items()}
