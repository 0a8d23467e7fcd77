"""C2SP signed notes (c2sp.org/signed-note) and tlog checkpoints
(c2sp.org/tlog-checkpoint) with Ed25519 keys.

A signed note is a text ending in a newline, a blank line, then one line per
signature: em dash (U+2014), space, key name, space, base64(4-byte key id ||
signature). The key id is SHA-256(name || 0x0A || 0x01 || public key)[:4].
A checkpoint is a note whose text is ``origin\\nsize\\nbase64(root)\\n``,
optionally followed by non-empty extension lines (this log writes none, but
other logs may, and a verifier must accept them).

Witnesses cosign with c2sp.org/tlog-cosignature "cosignature/v1" (signature
type 0x04): Ed25519 over ``"cosignature/v1\\ntime <t>\\n" + note text``, the
signature bytes being key id || u64 big-endian time || signature, the key id
SHA-256(name || 0x0A || 0x04 || public key)[:4].

Parsing is strict: a line that does not match the format raises
:class:`NoteError`. As the spec asks, signature lines from unknown keys are
ignored (any number of them, duplicates included); a known key's lines must
all verify, and a known key signing twice is refused.
"""

import base64
import binascii
import hashlib
import re
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01  # C2SP signature type bytes
COSIGNATURE_V1 = 0x04  # timestamped Ed25519 witness cosignature (tlog-cosignature)
COSIGNATURE_HEADER = "cosignature/v1\n"
_MAX_TIME = 2**63 - 1
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

    Raises NoteError unless it is at least three lines: a non-empty origin, a
    decimal size without leading zeros (except "0") below 2**64, the base64
    of exactly 32 bytes, then any non-empty extension lines (c2sp.org/
    tlog-checkpoint: opaque, ignored here), each ending in a newline.
    """
    _check_text(body, "checkpoint")
    if not body.endswith("\n"):
        raise NoteError("checkpoint must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError(f"checkpoint must have at least 3 lines, not {len(lines)}")
    if any(not line for line in lines[3:]):
        raise NoteError("checkpoint extension lines must not be empty")
    origin, size_text, root_text = lines[:3]
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not _SIZE_RE.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
        raise NoteError(f"checkpoint size {size_text!r} is not a canonical decimal")
    root = _b64decode(root_text, "checkpoint root")
    if len(root) != HASH_SIZE:
        raise NoteError(f"checkpoint root is {len(root)} bytes, not {HASH_SIZE}")
    return origin, int(size_text), root


# ---------------------------------------------------------------- keys

def key_id(name: str, public_key_raw: bytes, alg: int = ED25519) -> bytes:
    """SHA-256(name || 0x0A || alg || public key)[:4] (alg 0x01: note signer,
    0x04: cosignature/v1); raises NoteError for an invalid name or a key that
    is not 32 bytes."""
    _check_name(name)
    public = _check_public(public_key_raw)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public).digest()[:4]


def verifier_key_string(name: str, public_raw: bytes, alg: int = ED25519) -> str:
    """The vkey ``name+<key id hex>+base64(alg || public key)``; raises NoteError."""
    kid = key_id(name, public_raw, alg)
    return f"{name}+{kid.hex()}+{_b64encode(bytes([alg]) + bytes(public_raw))}"


def parse_verifier_key(s: str) -> "NoteVerifier":
    """A NoteVerifier (type 0x01) or CosignatureVerifier (type 0x04) from a vkey.

    Raises NoteError unless it is ``name+8 lowercase hex digits+base64`` with
    type byte 0x01 or 0x04, a 32-byte key and a key id matching name and key.
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
    kinds = {ED25519: NoteVerifier, COSIGNATURE_V1: CosignatureVerifier}
    if len(raw) != 1 + KEY_SIZE or raw[0] not in kinds:
        raise NoteError("verifier key must be type 0x01 (Ed25519) or 0x04 (cosignature/v1)"
                        " and 32 bytes")
    verifier = kinds[raw[0]](name, raw[1:])
    if verifier.key_id.hex() != kid_hex:
        raise NoteError("verifier key id does not match its name and key")
    return verifier


class NoteSigner:
    """Signs note texts with an Ed25519 key under a key name (type 0x01).

    Raises NoteError for an invalid name, TypeError for a key that is not an
    Ed25519PrivateKey.
    """

    alg = ED25519

    def __init__(self, name: str, private_key: Ed25519PrivateKey):
        _check_name(name)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("private_key must be an Ed25519PrivateKey")
        self.name = name
        self._key = private_key
        self.public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_raw, self.alg)

    def verifier(self) -> "NoteVerifier":
        return NoteVerifier(self.name, self.public_raw)

    def sign(self, body: str) -> str:
        """The signature line ``— name base64(key id || sig)\\n`` over the
        UTF-8 body; raises NoteError if the body is not a valid note text."""
        _check_body(body)
        signature = self._key.sign(body.encode("utf-8"))
        return f"{SIG_PREFIX}{self.name} {_b64encode(self.key_id + signature)}\n"


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: ``cosignature/v1\\ntime <t>\\n`` + the note text."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{body}".encode("utf-8")


class CosignatureSigner(NoteSigner):
    """A witness's signer: c2sp.org/tlog-cosignature cosignature/v1 (type 0x04).

    ``clock`` returns the POSIX time (int seconds) written into each cosignature.
    """

    alg = COSIGNATURE_V1

    def __init__(self, name: str, private_key: Ed25519PrivateKey, clock=None):
        super().__init__(name, private_key)
        self.clock = clock or (lambda: int(time.time()))

    def verifier(self) -> "CosignatureVerifier":
        return CosignatureVerifier(self.name, self.public_raw)

    def sign(self, body: str) -> str:
        """``— name base64(key id || u64 time || sig)\\n`` over
        :func:`cosigned_message`; raises NoteError for an invalid body."""
        _check_body(body)
        stamp = int(self.clock())
        if not 0 <= stamp <= _MAX_TIME:
            raise NoteError(f"cosignature time {stamp} is out of range")
        signature = self._key.sign(cosigned_message(body, stamp))
        raw = self.key_id + stamp.to_bytes(8, "big") + signature
        return f"{SIG_PREFIX}{self.name} {_b64encode(raw)}\n"


class NoteVerifier:
    """Verifies notes signed by one Ed25519 key under one key name (type 0x01).

    Raises NoteError for an invalid name or public key.
    """

    alg = ED25519

    def __init__(self, name: str, public_key_raw: bytes):
        _check_name(name)
        self.public_raw = _check_public(public_key_raw)
        try:
            self._key = Ed25519PublicKey.from_public_bytes(self.public_raw)
        except ValueError:
            raise NoteError("invalid Ed25519 public key") from None
        self.name = name
        self.key_id = key_id(name, self.public_raw, self.alg)

    def key_string(self) -> str:
        return verifier_key_string(self.name, self.public_raw, self.alg)

    def _message(self, body, signature):
        """``(signed bytes, Ed25519 signature)`` of one of this key's signatures."""
        if len(signature) != SIGNATURE_SIZE:
            raise NoteError(f"signature by {self.name} is {len(signature)} bytes,"
                            f" not {SIGNATURE_SIZE}")
        return body.encode("utf-8"), signature

    def verify(self, note: str) -> None:
        """Raises NoteError if the note is malformed, has no signature from this
        name and key id, two of them, or one that fails to verify.
        Signatures from other keys are ignored (C2SP)."""
        body, signatures = parse_note(note)
        mine = [sig for name, kid, sig in signatures if name == self.name and kid == self.key_id]
        if not mine:
            raise NoteError(f"no signature by {self.name}+{self.key_id.hex()}")
        if len(mine) > 1:
            raise NoteError(f"two signatures by {self.name}+{self.key_id.hex()}")
        message, signature = self._message(body, mine[0])
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise NoteError(f"signature by {self.name} does not verify") from None


class CosignatureVerifier(NoteVerifier):
    """Verifies a witness's cosignature/v1 (type 0x04) on a checkpoint note."""

    alg = COSIGNATURE_V1

    def _message(self, body, signature):
        if len(signature) != 8 + SIGNATURE_SIZE:
            raise NoteError(f"cosignature by {self.name} is {len(signature)} bytes,"
                            f" not {8 + SIGNATURE_SIZE}")
        stamp = int.from_bytes(signature[:8], "big")
        if stamp > _MAX_TIME:
            raise NoteError(f"cosignature by {self.name} has time {stamp} beyond 2**63-1")
        return cosigned_message(body, stamp), signature[8:]

    def timestamp(self, note: str) -> int:
        """The POSIX time in this witness's (verified) cosignature; raises NoteError."""
        self.verify(note)
        return next(int.from_bytes(sig[:8], "big") for name, kid, sig in parse_note(note)[1]
                    if name == self.name and kid == self.key_id)


# ---------------------------------------------------------------- notes

def parse_note(text: str):
    """``(body, [(name, key_id, signature), ...])`` in line order.

    The body ends at the last blank line. Raises NoteError unless: the note is
    valid UTF-8 without control characters other than newline; it has a blank
    line, a non-empty body whose last line is not blank, and 1..MAX_SIGNATURES
    signature lines each ``— name base64`` with a valid key name and at least
    5 decoded bytes, ending in a newline. The same (name, key id) may appear
    twice: verifiers refuse that for their own key and ignore it for others.
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
    signatures = []
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
