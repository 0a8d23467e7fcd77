"""C2SP signed notes (c2sp.org/signed-note) and tlog checkpoints
(c2sp.org/tlog-checkpoint) with Ed25519 keys.

A signed note is a text ending in a newline, a blank line, then one line per
signature: em dash (U+2014), space, key name, space, base64(4-byte key id ||
signature). The key id is SHA-256(name || 0x0A || 0x01 || public key)[:4].
A checkpoint is a note whose text is ``origin\\nsize\\nbase64(root)\\n``.

Parsing is strict: everything that does not match the format exactly raises
:class:`NoteError`. Stricter than the spec: a text whose last line is blank,
two signatures from the same (name, key id), and checkpoint extension lines
are rejected (this log never writes them).
"""

import base64
import binascii
import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01  # C2SP signature type byte
SIG_PREFIX = "\u2014 "  # em dash, space
HASH_SIZE = 32
KEY_SIZE = 32
SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100  # the spec requires accepting at least 16
_MAX_SIZE = 2**64 - 1
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}", re.ASCII)


class NoteError(ValueError):
    """A note, checkpoint, key or signature is malformed or does not verify."""


# ---------------------------------------------------------------- helpers

def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text, what):
    """Strict standard base64 with padding; raises NoteError."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
    if _b64encode(raw) != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _check_text(text, what):
    """Valid UTF-8 without ASCII control characters other than newline."""
    if not isinstance(text, str):
        raise NoteError(f"{what} must be a str, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    for ch in text:
        if ch < " " and ch != "\n":
            raise NoteError(f"{what} contains control character {ch!r}")


def _check_name(name):
    """A key name: non-empty, no Unicode spaces, no '+'; raises NoteError."""
    _check_text(name, "key name")
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"invalid key name {name!r}: must be non-empty, without spaces or '+'")
    return name


def _check_body(body):
    """A note text: ends with a newline, last line not blank; raises NoteError."""
    _check_text(body, "note text")
    if not body.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if body == "\n" or body.endswith("\n\n"):
        raise NoteError("note text must not end with a blank line")
    return body


def _check_public(public_key_raw):
    if not isinstance(public_key_raw, (bytes, bytearray)) or len(public_key_raw) != KEY_SIZE:
        raise NoteError(f"an Ed25519 public key is {KEY_SIZE} bytes")
    return bytes(public_key_raw)


# ---------------------------------------------------------------- checkpoints

def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """``origin\\nsize\\nbase64(root)\\n``.

    Raises NoteError for an empty origin or one with a newline or control
    character, a negative, non-int or over-64-bit size, or a root that is not
    32 bytes.
    """
    _check_text(origin, "origin")
    if not origin or "\n" in origin:
        raise NoteError("origin must be a non-empty single line")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_SIZE:
        raise NoteError(f"size must be an int in [0, 2**64), not {size!r}")
    if not isinstance(root, (bytes, bytearray)) or len(root) != HASH_SIZE:
        raise NoteError(f"root must be {HASH_SIZE} bytes")
    return f"{origin}\n{size}\n{_b64encode(bytes(root))}\n"


def parse_checkpoint(body: str):
    """``(origin, size, root)`` from a checkpoint text.

    Raises NoteError unless it is exactly three lines: a non-empty origin, a
    decimal size without leading zeros (except "0") below 2**64, and the
    base64 of exactly 32 bytes, each ending in a newline.
    """
    _check_text(body, "checkpoint")
    if not body.endswith("\n"):
        raise NoteError("checkpoint must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) != 3:
        raise NoteError(f"checkpoint must have exactly 3 lines, not {len(lines)}")
    origin, size_text, root_text = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not _SIZE_RE.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
        raise NoteError(f"checkpoint size {size_text!r} is not a canonical decimal")
    root = _b64decode(root_text, "checkpoint root")
    if len(root) != HASH_SIZE:
        raise NoteError(f"checkpoint root is {len(root)} bytes, not {HASH_SIZE}")
    return origin, int(size_text), root


# ---------------------------------------------------------------- keys

def key_id(name: str, public_key_raw: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4]; raises NoteError for
    an invalid name or a key that is not 32 bytes."""
    _check_name(name)
    public = _check_public(public_key_raw)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public).digest()[:4]


def verifier_key_string(name: str, public_raw: bytes) -> str:
    """The vkey ``name+<key id hex>+base64(0x01 || public key)``; raises NoteError."""
    kid = key_id(name, public_raw)
    return f"{name}+{kid.hex()}+{_b64encode(bytes([ED25519]) + bytes(public_raw))}"


def parse_verifier_key(s: str) -> "NoteVerifier":
    """A NoteVerifier from a vkey string.

    Raises NoteError unless it is ``name+8 lowercase hex digits+base64`` with
    type byte 0x01, a 32-byte key and a key id matching name and key.
    """
    if not isinstance(s, str):
        raise NoteError("verifier key must be a str")
    parts = s.split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3:
        raise NoteError("verifier key must be name+keyid+key")
    name, kid_hex, key_b64 = parts
    _check_name(name)
    if not _KEY_ID_RE.fullmatch(kid_hex):
        raise NoteError("verifier key id must be 8 lowercase hex digits")
    raw = _b64decode(key_b64, "verifier key")
    if len(raw) != 1 + KEY_SIZE or raw[0] != ED25519:
        raise NoteError("verifier key must be type 0x01 (Ed25519) and 32 bytes")
    verifier = NoteVerifier(name, raw[1:])
    if verifier.key_id.hex() != kid_hex:
        raise NoteError("verifier key id does not match its name and key")
    return verifier


class NoteSigner:
    """Signs note texts with an Ed25519 key under a key name.

    Raises NoteError for an invalid name, TypeError for a key that is not an
    Ed25519PrivateKey.
    """

    def __init__(self, name: str, private_key: Ed25519PrivateKey):
        _check_name(name)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("private_key must be an Ed25519PrivateKey")
        self.name = name
        self._key = private_key
        self.public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_raw)

    def verifier(self) -> "NoteVerifier":
        return NoteVerifier(self.name, self.public_raw)

    def sign(self, body: str) -> str:
        """The signature line ``— name base64(key id || sig)\\n`` over the
        UTF-8 body; raises NoteError if the body is not a valid note text."""
        _check_body(body)
        signature = self._key.sign(body.encode("utf-8"))
        return f"{SIG_PREFIX}{self.name} {_b64encode(self.key_id + signature)}\n"


class NoteVerifier:
    """Verifies notes signed by one Ed25519 key under one key name.

    Raises NoteError for an invalid name or public key.
    """

    def __init__(self, name: str, public_key_raw: bytes):
        _check_name(name)
        self.public_raw = _check_public(public_key_raw)
        try:
            self._key = Ed25519PublicKey.from_public_bytes(self.public_raw)
        except ValueError:
            raise NoteError("invalid Ed25519 public key") from None
        self.name = name
        self.key_id = key_id(name, self.public_raw)

    def key_string(self) -> str:
        return verifier_key_string(self.name, self.public_raw)

    def verify(self, note: str) -> None:
        """Raises NoteError if the note is malformed, has no signature from this
        name and key id, or any signature from them fails to verify.
        Signatures from other keys are ignored (C2SP)."""
        body, signatures = parse_note(note)
        message = body.encode("utf-8")
        found = False
        for name, kid, signature in signatures:
            if name != self.name or kid != self.key_id:
                continue
            if len(signature) != SIGNATURE_SIZE:
                raise NoteError(f"signature by {name} is {len(signature)} bytes, not {SIGNATURE_SIZE}")
            try:
                self._key.verify(signature, message)
            except InvalidSignature:
                raise NoteError(f"signature by {name} does not verify") from None
            found = True
        if not found:
            raise NoteError(f"no signature by {self.name}+{self.key_id.hex()}")


# ---------------------------------------------------------------- notes

def parse_note(text: str):
    """``(body, [(name, key_id, signature), ...])`` in line order.

    The body ends at the last blank line. Raises NoteError unless: the note is
    valid UTF-8 without control characters other than newline; it has a blank
    line, a non-empty body whose last line is not blank, and 1..MAX_SIGNATURES
    signature lines each ``— name base64`` with a valid key name and at least
    5 decoded bytes, ending in a newline; no (name, key id) signs twice.
    """
    _check_text(text, "note")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    body, block = text[:split + 1], text[split + 2:]
    _check_body(body)
    if not block:
        raise NoteError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteError("note must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"signature line {number} does not start with an em dash and a space")
        name, space, encoded = line[len(SIG_PREFIX):].partition(" ")
        if not space:
            raise NoteError(f"signature line {number} has no signature")
        _check_name(name)
        raw = _b64decode(encoded, f"signature line {number}")
        if len(raw) < 5:
            raise NoteError(f"signature line {number} is too short")
        kid, signature = raw[:4], raw[4:]
        if (name, kid) in seen:
            raise NoteError(f"two signatures by {name}+{kid.hex()}")
        seen.add((name, kid))
        signatures.append((name, kid, signature))
    return body, signatures


def sign_note(body: str, signer: NoteSigner) -> str:
    """``body + "\\n" + signature line``; raises NoteError for an invalid body."""
    line = signer.sign(body)  # validates the body first
    return body + "\n" + line


def add_signature(note: str, signer: NoteSigner) -> str:
    """Append one more signature line (cosigning). Does not check the existing
    signatures. Raises NoteError if the note is malformed or already signed by
    this signer's name and key id."""
    body, signatures = parse_note(note)
    if any(name == signer.name and kid == signer.key_id for name, kid, _ in signatures):
        raise NoteError(f"note is already signed by {signer.name}")
    return note + signer.sign(body)
