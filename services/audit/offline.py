"""Offline verification of an evidence bundle (``lienthong-evidence/1``).

An evidence bundle is what the audit service hands an auditor about one
document: a signed checkpoint of the log, the log entries about the document
with their inclusion proofs, the events' data (or ``null`` where it was
destroyed after a recall), and the public keys needed to check everything.
:func:`verify_bundle` checks it with nothing but the bundle (and, ideally,
log and witness keys the auditor obtained separately): no server, no network.

Pure: the standard library, ``cryptography`` and the project's pure modules.
Every problem, however malformed the bundle, becomes a failed :class:`Check`
with a sentence saying what is wrong; nothing is raised. Everything the
bundle says reaches the screen only through :func:`visible`: a producer
name with terminal escape codes shows as ``\\x1b[2J``, it cannot clear the
screen or overwrite the verdict.
"""

import base64
import binascii
import hashlib
import json
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.leaves import parse_entry
from services.audit.merkle import HASH_SIZE, ProofError, leaf_hash, verify_inclusion
from services.audit.note import (
    NoteError,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
)
from services.audit.timestamp import LABELS, STAMPED, UNSTAMPED, TimestampError, check_token
from shared.envelope import canonical_json, data_digest
from shared.eventsig import key_id_of

FORMAT = "lienthong-evidence/1"

DATA_PRESENT = "present and matches"
DATA_DESTROYED = "destroyed"
DATA_MISMATCH = "MISMATCH"

_PRODUCER_KEY_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)
_MAX_PATH = 64  # an inclusion path in a tree of < 2**64 leaves
_MAX_PROBLEMS = 12  # format problems listed before "and N more"


@dataclass
class Check:
    """One verification step: ``name``, whether it passed, and why (a sentence).

    ``warning`` marks a check that passes but whose result rests on something
    the verifier cannot establish by itself (read the detail).
    """

    name: str
    ok: bool
    detail: str
    warning: bool = False


@dataclass
class Report:
    """What :func:`verify_bundle` found. ``ok`` only if every check passed."""

    checks: list = field(default_factory=list)
    events: list = field(default_factory=list)
    limits: list = field(default_factory=list)
    document_id: str | None = None
    generated_at: str | None = None

    @property
    def ok(self):
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failed(self):
        return [check for check in self.checks if not check.ok]

    def render(self, marks=("\u2713", "\u2717")) -> str:
        """A readable explanation, Vietnamese first: the verdict, one line per
        check, the events as a table, then the limits of what was proven.
        ``marks`` are the pass/fail symbols (the CLI uses ASCII ones on
        terminals without them). Every line goes through :func:`visible`."""
        good, bad = marks
        lines = []
        about = f"document {self.document_id}" if self.document_id else "an unknown document"
        when = f", generated {self.generated_at}" if self.generated_at else ""
        lines.append(f"Gói chứng cứ / Evidence bundle ({FORMAT}) for {about}{when}")
        warnings = sum(1 for c in self.checks if c.ok and c.warning)
        note = f" ({warnings} with a warning)" if warnings else ""
        vn_note = f" ({warnings} có cảnh báo)" if warnings else ""
        if self.ok:
            lines.append(f"Kết quả: ĐÃ XÁC MINH: cả {len(self.checks)} bước kiểm tra đều đạt"
                         f"{vn_note}.")
            lines.append(f"Result: VERIFIED: all {len(self.checks)} checks pass{note}.")
        else:
            names = ", ".join(c.name for c in self.failed)
            lines.append(f"Kết quả: KHÔNG XÁC MINH ĐƯỢC: {len(self.failed)} trên"
                         f" {len(self.checks)} bước kiểm tra không đạt: {names}.")
            lines.append(f"Result: NOT VERIFIED: {len(self.failed)} of {len(self.checks)}"
                         f" checks fail: {names}.")
        lines.append("")
        lines.append("Các bước kiểm tra / Checks")
        for check in self.checks:
            flag = " (cảnh báo / warning)" if check.ok and check.warning else ""
            lines.append(f"  {good if check.ok else bad} {check.name}{flag}: {check.detail}")
        if self.events:
            lines.append("")
            lines.append("Sự kiện / Events")
            lines.extend("  " + row for row in _table(self.events))
        if self.limits:
            lines.append("")
            lines.append("Điều đã và chưa chứng minh / What this does and does not prove")
            lines.extend(f"  - {limit}" for limit in self.limits)
        return "\n".join(visible(line) for line in lines) + "\n"


# Shown escaped: controls (ESC, CR, BEL...), format characters (bidi overrides,
# zero-width) and line/paragraph separators. Letters and Vietnamese marks pass.
_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp"))


def visible(text) -> str:
    """``text`` with every character that could move the cursor, clear the
    screen, reorder or hide text written as a visible escape (``\\x1b``,
    ``\\r``, ``\\u202e``)."""
    return "".join(ch.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(ch) in _HIDDEN else ch for ch in str(text))


def _table(events):
    header = ("leaf", "occurred at", "event", "producer", "actor", "agency", "data", "verified")
    rows = [header]
    for e in events:
        actor = e.get("actor") or "?"
        if e.get("role"):
            actor = f"{actor} ({e['role']})"
        rows.append((str(e.get("leaf_index")), e.get("occurred_at") or "?",
                     e.get("event_type") or "?", e.get("producer") or "?", actor,
                     e.get("agency") or "?", e.get("data_status") or "?",
                     "yes" if e.get("verified") else "NO"))
    rows = [tuple(visible(cell) for cell in row) for row in rows]  # widths as printed
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


# ---------------------------------------------------------------- parsing the bundle

class _Malformed(ValueError):
    pass


@dataclass
class _Entry:
    position: int
    leaf_index: int
    raw: bytes
    path: list
    data: object  # dict, or None when destroyed


@dataclass
class _Bundle:
    document_id: str
    generated_at: str
    origin: str
    log_key: object  # NoteVerifier
    checkpoint: str
    witnesses: list  # NoteVerifier
    producer_keys: dict  # {producer: {key_id: raw public key}}
    entries: list  # _Entry


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value),
                                                                   type(value).__name__)


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _b64(text, what, size=None):
    """Strict, canonical standard base64; raises _Malformed."""
    if not isinstance(text, str):
        raise _Malformed(f"{what} must be a base64 string, not {_kind(text)}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _Malformed(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise _Malformed(f"{what} is not canonical base64")
    if size is not None and len(raw) != size:
        raise _Malformed(f"{what} is {len(raw)} bytes, not {size}")
    return raw


def _get(obj, key, where, problems, kinds, kind_text):
    """``obj[key]`` if present and of one of ``kinds`` (bool never counts as int)."""
    if key not in obj:
        problems.append(f"{where}{key} is missing")
        return None
    value = obj[key]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        problems.append(f"{where}{key} must be {kind_text}, not {_kind(value)}")
        return None
    return value


def _parse(bundle):
    """``(_Bundle or None, [problem sentence, ...])``."""
    if not isinstance(bundle, dict):
        return None, [f"the bundle must be a JSON object, not {_kind(bundle)}"]
    problems = []
    fmt = bundle.get("format")
    if "format" not in bundle:
        problems.append("format is missing")
    elif fmt != FORMAT:
        problems.append(f"format is {_short(fmt)}, not {FORMAT!r}")

    document_id = _get(bundle, "document_id", "", problems, str, "a string (a UUID)")
    if document_id is not None:
        try:
            uuid.UUID(document_id)
        except ValueError:
            problems.append(f"document_id {_short(document_id)} is not a UUID")
            document_id = None

    generated_at = _get(bundle, "generated_at", "", problems, str, "an ISO 8601 time string")
    if generated_at is not None:
        try:
            moment = datetime.fromisoformat(generated_at)
        except ValueError:
            moment = None
        if moment is None or moment.utcoffset() != timedelta(0):
            problems.append(f"generated_at {_short(generated_at)} is not an ISO 8601 UTC time")

    origin = log_key = None
    log = _get(bundle, "log", "", problems, dict, "an object")
    if log is not None:
        origin = _get(log, "origin", "log.", problems, str, "a string")
        if origin is not None and (not origin or "\n" in origin):
            problems.append("log.origin must be a non-empty single line")
            origin = None
        vkey = _get(log, "verifier_key", "log.", problems, str, "a verifier key string")
        if vkey is not None:
            try:
                log_key = parse_verifier_key(vkey)
            except NoteError as err:
                problems.append(f"log.verifier_key is not a valid verifier key ({err})")

    checkpoint = _get(bundle, "checkpoint", "", problems, str, "a signed note (a string)")

    witnesses = []
    witness_keys = _get(bundle, "witness_keys", "", problems, list, "a list of verifier keys")
    for i, vkey in enumerate(witness_keys or ()):
        try:
            witnesses.append(parse_verifier_key(vkey))
        except NoteError as err:
            problems.append(f"witness_keys[{i}] is not a valid verifier key ({err})")

    producer_keys = {}
    given = _get(bundle, "producer_keys", "", problems, dict, "an object")
    for producer, keys in (given or {}).items():
        where = f"producer_keys[{_short(producer, 30)}]"
        if not isinstance(producer, str) or not producer:
            problems.append("producer_keys has an empty or non-string producer name")
            continue
        if not isinstance(keys, dict):
            problems.append(f"{where} must be an object of key id to key, not {_kind(keys)}")
            continue
        for kid, encoded in keys.items():
            if not isinstance(kid, str) or not _PRODUCER_KEY_ID.fullmatch(kid):
                problems.append(f"{where} has key id {_short(kid, 30)}, not 16 lowercase hex digits")
                continue
            try:
                raw = _b64(encoded, f"{where}[{kid}]", size=32)
            except _Malformed as err:
                problems.append(str(err))
                continue
            if key_id_of(raw) != kid:
                problems.append(f"{where}[{kid}] is a key whose id is {key_id_of(raw)}, not {kid}")
                continue
            producer_keys.setdefault(producer, {})[kid] = raw

    entries = []
    given = _get(bundle, "entries", "", problems, list, "a list")
    if given is not None and not given:
        problems.append("entries is empty: the bundle holds nothing to verify")
    for position, item in enumerate(given or ()):
        where = f"entries[{position}]."
        if not isinstance(item, dict):
            problems.append(f"entries[{position}] must be an object, not {_kind(item)}")
            continue
        bad = len(problems)
        index = _get(item, "leaf_index", where, problems, int, "a non-negative integer")
        if index is not None and index < 0:
            problems.append(f"{where}leaf_index must not be negative ({index})")
        raw = None
        if "leaf_entry" not in item:
            problems.append(f"{where}leaf_entry is missing")
        else:
            try:
                raw = _b64(item["leaf_entry"], f"{where}leaf_entry")
            except _Malformed as err:
                problems.append(str(err))
        path = []
        hashes = _get(item, "inclusion_path", where, problems, list, "a list of base64 hashes")
        if hashes is not None and len(hashes) > _MAX_PATH:
            problems.append(f"{where}inclusion_path has {len(hashes)} hashes, more than any"
                            f" tree below 2**64 leaves needs")
        elif hashes is not None:
            for i, encoded in enumerate(hashes):
                try:
                    path.append(_b64(encoded, f"{where}inclusion_path[{i}]", size=HASH_SIZE))
                except _Malformed as err:
                    problems.append(str(err))
        if "data" not in item:
            problems.append(f"{where}data is missing (null if destroyed)")
        elif item["data"] is not None and not isinstance(item["data"], dict):
            problems.append(f"{where}data must be an object or null, not {_kind(item['data'])}")
        if len(problems) == bad:
            entries.append(_Entry(position, index, raw, path, item["data"]))

    if problems:
        return None, problems
    return _Bundle(document_id, generated_at, origin, log_key, checkpoint, witnesses,
                   producer_keys, entries), []


# ---------------------------------------------------------------- leaf entries

class _BadEntry(ValueError):
    pass


_ENTRY_FIELDS = (("event_id", str), ("event_type", str), ("schema_version", int),
                 ("stream_id", str), ("stream_version", int), ("occurred_at", str),
                 ("producer", str), ("correlation_id", str), ("data_sha256", str))


def no_duplicate_keys(pairs):
    """A json ``object_pairs_hook`` that refuses a key given twice (an ambiguous text)."""
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def _read_entry(raw):
    """``(signed_bytes, content, signature)`` of a well-formed leaf entry; raises _BadEntry."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadEntry("it is not UTF-8 text") from None
    try:
        content = json.loads(text, object_pairs_hook=no_duplicate_keys,
                             parse_constant=_no_constants)
    except (ValueError, RecursionError) as err:
        raise _BadEntry(f"it is not valid JSON ({err})") from None
    if not isinstance(content, dict):
        raise _BadEntry(f"it is {_kind(content)}, not a JSON object")
    try:
        canonical = canonical_json(content)
    except (ValueError, RecursionError) as err:
        raise _BadEntry(f"it cannot be canonical JSON ({err})") from None
    if canonical != raw:
        raise _BadEntry("it is not in canonical JSON form, as the log writes every entry")
    for name, kind in _ENTRY_FIELDS:
        value = content.get(name)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise _BadEntry(f"its {name} is {_kind(value) if name in content else 'missing'}")
    if not _SHA256_HEX.fullmatch(content["data_sha256"]):
        raise _BadEntry("its data_sha256 is not 64 lowercase hex digits")
    causation = content.get("causation_id", 0)
    if causation is not None and not isinstance(causation, str):
        raise _BadEntry("its causation_id is missing or not a string or null")
    actor = content.get("actor")
    if not isinstance(actor, dict) or not all(
            isinstance(actor.get(k), str) for k in ("user_id", "agency", "role")):
        raise _BadEntry("its actor is not an object with user_id, agency and role")
    signature = content.get("signature")
    if not isinstance(signature, dict) or not all(
            isinstance(signature.get(k), str) for k in ("key_id", "value")):
        raise _BadEntry("its signature is not an object with key_id and value")
    return parse_entry(raw)


# ---------------------------------------------------------------- the checks

def _fingerprint(public_raw):
    digest = hashlib.sha256(public_raw).hexdigest()
    return "SHA256:" + " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))


def _same_key(a, b):
    return a.name == b.name and a.alg == b.alg and a.public_raw == b.public_raw


def _same_document(a, b):
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    try:
        return uuid.UUID(a) == uuid.UUID(b)
    except ValueError:
        return a == b


def _check_log_key(bundle, trusted_log_key, checks):
    """The key to check the checkpoint with (None if there is none usable)."""
    named = bundle.log_key
    described = f"{named.key_string()} (fingerprint {_fingerprint(named.public_raw)})"
    if trusted_log_key is None:
        checks.append(Check(
            "log key", True,
            f"No trusted log key was given, so the checkpoint is checked against the key the"
            f" bundle itself names, {described}. Anyone can make a bundle that verifies"
            f" against its own key: trust rests on comparing this fingerprint, out of band,"
            f" with the one the audit log publishes.", warning=True))
        return named
    try:
        trusted = parse_verifier_key(trusted_log_key)
    except NoteError as err:
        checks.append(Check("log key", False,
                            f"The log key you gave is not a valid verifier key ({err})."))
        return None
    if _same_key(trusted, named):
        checks.append(Check("log key", True,
                            f"The bundle names the log key you trust: {described}."))
    else:
        checks.append(Check(
            "log key", False,
            f"The bundle names a different log key: it names {named.key_string()}, you trust"
            f" {trusted.key_string()}. The checkpoint is checked against the key you trust."))
    return trusted


def _check_checkpoint(bundle, verifier, checks):
    """``(size, root, signatures)`` if the checkpoint can be read, else None."""
    try:
        body, signatures = parse_note(bundle.checkpoint)
    except NoteError as err:
        checks.append(Check("checkpoint", False,
                            f"The checkpoint is not a well-formed signed note ({err})."))
        return None
    try:
        origin, size, root = parse_checkpoint(body)
    except NoteError as err:
        checks.append(Check("checkpoint", False,
                            f"The signed note is not a checkpoint ({err})."))
        return None
    problems = []
    if verifier is None:
        problems.append("its signature was not checked, for want of a usable log key")
    else:
        try:
            verifier.verify(bundle.checkpoint)
        except NoteError as err:
            if str(err).startswith("no signature by"):
                problems.append(f"it carries no signature by the log key"
                                f" {verifier.name}+{verifier.key_id.hex()}")
            else:
                problems.append(f"its log signature does NOT verify ({err}): the checkpoint was"
                                f" changed after it was signed, or the log did not sign it")
    if verifier is not None and origin != verifier.name:
        # A log key vouches for its own origin only (c2sp.org/tlog-checkpoint:
        # the key name matches the origin line): the right key over another
        # origin is another log's checkpoint, or a forged one.
        problems.append(f"nguồn (origin) {origin!r} không phải tên của khóa nhật ký"
                        f" {verifier.name!r} / its origin {origin!r} is not the log key's"
                        f" name {verifier.name!r}: that key vouches for its own log only")
    if origin != bundle.origin:
        problems.append(f"its origin is {origin!r}, but the bundle says the log is"
                        f" {bundle.origin!r}")
    summary = f"origin {origin}, {size} entries, root {base64.b64encode(root).decode()}"
    if problems:
        checks.append(Check("checkpoint", False,
                            f"The checkpoint ({summary}) is not acceptable: "
                            + "; ".join(problems) + "."))
    else:
        checks.append(Check("checkpoint", True,
                            f"The checkpoint is signed by the log key"
                            f" {verifier.name}+{verifier.key_id.hex()}: {summary}."))
    return size, root, signatures


def _check_witnesses(bundle, trusted_witness_keys, log_verifier, note_signatures, checks):
    """``{witness name: True if checked with a key you gave, False if only with
    the bundle's}`` for each valid cosignature."""
    cosigned = {}
    candidates = []  # [verifier, named by bundle, trusted by you]
    for verifier in bundle.witnesses:
        if not any(_same_key(verifier, c[0]) for c in candidates):
            candidates.append([verifier, True, False])
    for i, vkey in enumerate(trusted_witness_keys):
        try:
            verifier = parse_verifier_key(vkey)
        except NoteError as err:
            checks.append(Check(f"witness key {i + 1} you gave", False,
                                f"It is not a valid verifier key ({err})."))
            continue
        for c in candidates:
            if _same_key(verifier, c[0]):
                c[2] = True
                break
        else:
            candidates.append([verifier, False, True])

    if not candidates:
        checks.append(Check("witnesses", True,
                            "The bundle names no witness keys and none were given: the"
                            " checkpoint rests on the log's own signature alone.", warning=True))
    if note_signatures is None:
        if candidates:
            checks.append(Check("witnesses", False,
                                "Cosignatures were not checked: the checkpoint note is"
                                " unreadable."))
        return cosigned

    for verifier, named, trusted in candidates:
        label = f"witness {verifier.name}"
        if trusted:
            source = "a key you trust"
        else:
            source = (f"a key named only by the bundle (compare its fingerprint"
                      f" {_fingerprint(verifier.public_raw)} out of band)")
        if log_verifier is not None and _same_key(verifier, log_verifier):
            checks.append(Check(label, True,
                                "This witness key is the log's own key: it is no independent"
                                " witness.", warning=True))
            continue
        signed = any(name == verifier.name and kid == verifier.key_id
                     for name, kid, _ in note_signatures)
        if not signed:
            checks.append(Check(label, True,
                                f"{verifier.key_string()}, {source}, did not cosign this"
                                f" checkpoint.", warning=trusted))
            continue
        try:
            verifier.verify(bundle.checkpoint)
        except NoteError as err:
            checks.append(Check(label, False,
                                f"The cosignature by {verifier.key_string()} does NOT verify"
                                f" ({err}): it is forged, or the checkpoint was changed after"
                                f" it was cosigned."))
        else:
            cosigned[verifier.name] = cosigned.get(verifier.name, False) or trusted
            checks.append(Check(label, True,
                                f"{verifier.key_string()}, {source}, cosigned this"
                                f" checkpoint: the witness saw this same tree.",
                                warning=not trusted))

    known = [c[0] for c in candidates] + ([log_verifier] if log_verifier is not None else [])
    others = sorted({f"{name}+{kid.hex()}" for name, kid, _ in note_signatures
                     if not any(name == v.name and kid == v.key_id for v in known)})
    if others:
        checks.append(Check("other signatures", True,
                            f"The checkpoint also carries {len(others)} signature(s) by keys"
                            f" neither the bundle nor you name ({', '.join(others)}): they"
                            f" were not checked and count for nothing.", warning=True))
    return cosigned


def _check_required(required, cosigned, checks):
    """Each witness the auditor requires must have cosigned, checked with a key
    the auditor gave: a key named only by the bundle proves nothing."""
    for name in dict.fromkeys(required):
        label = f"required witness {name}"
        if cosigned.get(name):
            checks.append(Check(label, True,
                                f"Nhân chứng bắt buộc {name} đã đồng ký điểm kiểm tra này, kiểm"
                                f" bằng khóa bạn tin cậy / the required witness {name} cosigned"
                                f" this checkpoint, checked with a key you trust."))
        elif name in cosigned:
            checks.append(Check(label, False,
                                f"Chữ ký của nhân chứng bắt buộc {name} chỉ kiểm được bằng khóa"
                                f" do chính gói chứng cứ đưa ra / the required witness {name}'s"
                                f" cosignature checks only against a key the bundle itself"
                                f" names: give the witness's key with --witness-key."))
        else:
            checks.append(Check(label, False,
                                f"THIẾU đồng ký của nhân chứng bắt buộc {name} / the required"
                                f" witness {name} did NOT cosign this checkpoint (or its key"
                                f" was not given with --witness-key)."))


OPENSSL_HINT = ("openssl ts -verify -data checkpoint.note -token_in -in checkpoint.tst"
                " -CAfile <the TSA root you trust>")


def _check_timestamp(stamp, bundle, verifier, checks, limits):
    """The checkpoint's RFC 3161 time stamp, if the bundle carries the field."""
    if stamp is None:
        limits.append("The bundle carries no time stamp of its checkpoint (made before"
                      " checkpoints were time-stamped): its time rests on the log alone.")
        return
    label = "checkpoint time stamp"
    status = stamp.get("status") if isinstance(stamp, dict) else None
    if status == UNSTAMPED:
        checks.append(Check(label, True, LABELS[UNSTAMPED] + ".", warning=True))
        return
    if status != STAMPED:
        checks.append(Check(label, False, f"checkpoint_timestamp.status is {_short(status)},"
                                          f" not {STAMPED!r} or {UNSTAMPED!r}."))
        return
    signed, token, chain = (stamp.get(k) for k in ("signed_note", "token", "tsa_chain"))
    try:
        if not isinstance(signed, str):
            raise _Malformed("checkpoint_timestamp.signed_note must be the stamped note (a string)")
        if not isinstance(chain, list) or not all(isinstance(p, str) for p in chain):
            raise _Malformed("checkpoint_timestamp.tsa_chain must be a list of PEM strings")
        raw = _b64(token, "checkpoint_timestamp.token")
        if verifier is None:
            raise _Malformed("the stamped note's signature cannot be checked without a log key")
        verifier.verify(signed)
        if parse_note(signed)[0] != parse_note(bundle.checkpoint)[0]:
            raise _Malformed("the stamped note is not this checkpoint")
        info = check_token(raw, signed.encode("utf-8"), chain)
    except (_Malformed, NoteError, TimestampError) as err:
        checks.append(Check(label, False, f"Dấu thời gian KHÔNG hợp lệ / the time stamp does NOT"
                                          f" hold up: {err}."))
        return
    root = chain[-1] if chain else ""
    checks.append(Check(label, True,
                        f"{LABELS[STAMPED]}: {info.gen_time} ({info.tsa_subject}), over the checkpoint"
                        f" note as the log signed it; the TSA's signature and chain verify."))
    limits.append(f"The time stamp's chain comes from the bundle (its root:"
                  f" {_pem_subject(root)}): check it against the TSA root you trust, with no"
                  f" code of ours: verify_bundle --export-timestamp DIR, then {OPENSSL_HINT}.")


def _pem_subject(pem):
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii")).subject.rfc4514_string()
    except (ValueError, UnicodeEncodeError):
        return "unreadable"


def _check_entries(bundle, tree, checks, events):
    seen = {}
    leaves_of_event = {}  # event id -> the first leaf index holding it
    for entry in bundle.entries:
        leaf = entry.leaf_index
        prefix = f"leaf {leaf}"
        passed = len(checks)  # to tell whether this entry's checks all pass
        event = {"leaf_index": leaf, "event_id": None, "event_type": None, "occurred_at": None,
                 "producer": None, "actor": None, "role": None, "agency": None,
                 "stream_id": None, "document_id": None, "data_status": None,
                 "verified": False}
        events.append(event)

        if leaf in seen:
            checks.append(Check(f"{prefix}: duplicate", False,
                                f"Entries {seen[leaf]} and {entry.position} both claim leaf"
                                f" index {leaf}: a leaf holds exactly one entry."))
        seen.setdefault(leaf, entry.position)

        # Inclusion: on the raw bytes, so it needs no parsing at all.
        if tree is None:
            checks.append(Check(f"{prefix}: inclusion", False,
                                "Not checked: there is no readable checkpoint to prove it"
                                " against."))
        else:
            size, root = tree
            if leaf >= size:
                checks.append(Check(f"{prefix}: inclusion", False,
                                    f"Leaf index {leaf} is not below the checkpoint size {size}:"
                                    f" the checkpoint does not cover it."))
            else:
                try:
                    verify_inclusion(leaf_hash(entry.raw), leaf, size, entry.path, root)
                except ProofError as err:
                    checks.append(Check(f"{prefix}: inclusion", False,
                                        f"The inclusion proof does NOT verify ({err}): this"
                                        f" entry, as given, is not leaf {leaf} of the"
                                        f" checkpointed log."))
                else:
                    checks.append(Check(f"{prefix}: inclusion", True,
                                        f"The entry is leaf {leaf} of the log of {size} entries"
                                        f" signed in the checkpoint."))

        try:
            signed, content, signature = _read_entry(entry.raw)
        except _BadEntry as err:
            checks.append(Check(f"{prefix}: entry", False,
                                f"The leaf entry is not a well-formed event entry: {err}."))
            event["data_status"] = DATA_DESTROYED if entry.data is None else DATA_MISMATCH
            continue
        actor = content["actor"]
        event.update(event_id=content["event_id"], event_type=content["event_type"],
                     occurred_at=content["occurred_at"], producer=content["producer"],
                     actor=actor["user_id"], role=actor["role"], agency=actor["agency"],
                     stream_id=content["stream_id"])
        what = f"{content['event_type']} by {content['producer']}"

        # One event, one leaf: the log appends an event once (by its id), so the
        # same id at two leaves is a log that double-counted, or a replay.
        first = leaves_of_event.setdefault(content["event_id"], leaf)
        if first != leaf:
            checks.append(Check(f"{prefix}: event logged twice", False,
                                f"Sự kiện {content['event_id']} được ghi ở hai lá {first} và"
                                f" {leaf} / event {content['event_id']} is logged at two leaves,"
                                f" {first} and {leaf}: the log holds each event exactly once."))

        # The producer's signature.
        producer, key_id = content["producer"], signature["key_id"]
        public = bundle.producer_keys.get(producer, {}).get(key_id)
        if public is None:
            checks.append(Check(f"{prefix}: producer signature", False,
                                f"The bundle has no public key {key_id} for producer"
                                f" {producer!r}: the signature of this {what} cannot be"
                                f" checked."))
        else:
            try:
                value = _b64(signature["value"], "the signature", size=64)
                Ed25519PublicKey.from_public_bytes(public).verify(value, signed)
            except (_Malformed, InvalidSignature, ValueError) as err:
                reason = f" ({err})" if str(err) else ""
                checks.append(Check(f"{prefix}: producer signature", False,
                                    f"The signature of this {what} does NOT verify with"
                                    f" producer {producer}'s key {key_id}{reason}: the entry was"
                                    f" changed after it was signed, or that key did not sign"
                                    f" it."))
            else:
                checks.append(Check(f"{prefix}: producer signature", True,
                                    f"This {what} is signed with producer {producer}'s key"
                                    f" {key_id}."))

        # The data against the digest the entry commits to.
        committed = content["data_sha256"]
        if entry.data is None:
            event["data_status"] = DATA_DESTROYED
            checks.append(Check(f"{prefix}: data", True,
                                f"The data was destroyed (null); the entry still commits to its"
                                f" SHA-256 {committed}, so the event stays provable but its"
                                f" content can no longer be shown."))
        else:
            try:
                digest = data_digest(entry.data)
            except (ValueError, RecursionError) as err:
                digest, reason = None, f"it has no canonical form ({err})"
            else:
                reason = f"its SHA-256 is {digest}"
            if digest == committed:
                event["data_status"] = DATA_PRESENT
                checks.append(Check(f"{prefix}: data", True,
                                    f"The data given matches the SHA-256 the entry commits to,"
                                    f" {committed}."))
            else:
                event["data_status"] = DATA_MISMATCH
                checks.append(Check(f"{prefix}: data", False,
                                    f"MISMATCH: the data given is not the data of this event:"
                                    f" {reason}, but the entry commits to {committed}."))

        # Which document the entry is about.
        stream = content["stream_id"]
        stream_names_it = (bundle.document_id is not None
                           and (stream == bundle.document_id
                                or stream.endswith("-" + bundle.document_id)))
        named = entry.data.get("document_id") if isinstance(entry.data, dict) else None
        if named is not None:
            event["document_id"] = named if isinstance(named, str) else None
            if _same_document(named, bundle.document_id):
                checks.append(Check(f"{prefix}: document", True,
                                    f"The event's data names document {named}, the bundle's"
                                    f" document (stream {stream})."))
            else:
                checks.append(Check(f"{prefix}: document", False,
                                    f"The event's data names document {_short(named)}, not the"
                                    f" bundle's document {bundle.document_id} (stream"
                                    f" {stream})."))
        else:
            why = "its data was destroyed" if entry.data is None else "its data names none"
            if stream_names_it:
                event["document_id"] = bundle.document_id
                checks.append(Check(f"{prefix}: document", True,
                                    f"No document_id to compare ({why}); the entry's stream id"
                                    f" {stream} names the bundle's document."))
            else:
                checks.append(Check(f"{prefix}: document", True,
                                    f"No document_id to compare ({why}), and the entry's stream"
                                    f" id {stream} does not name document {bundle.document_id}:"
                                    f" the bundle does not show how this event relates to it.",
                                    warning=True))
        event["verified"] = all(c.ok for c in checks[passed:])


def _limits(bundle, tree, trusted_log_key, events):
    size = f"{tree[0]} entries" if tree else "a size that could not be read"
    limits = [
        (f"The inclusion proofs show that these {len(events)} event(s) are in the log as of"
         f" this checkpoint ({size}). They do NOT show that no other event about document"
         f" {bundle.document_id} exists: the bundle holds only the entries chosen for it."
         f" Completeness needs the full log up to this checkpoint, which the auditor can"
         f" request from the audit service and check against the same signed root."),
        ("The checkpoint proves the log held these entries when it was signed; the times"
         " shown (occurred_at) are the producing services' own statements."),
    ]
    if trusted_log_key is None:
        limits.append("No trusted log key was given: everything above holds only if the log"
                      " key's fingerprint matches the one the audit log publishes.")
    ids = ", ".join(f"{p} {k}" for p, keys in sorted(bundle.producer_keys.items())
                    for k in sorted(keys))
    limits.append(f"Producer keys come from the bundle ({ids or 'none'}): a producer signature"
                  f" shows the holder of that key signed the event, so compare these key ids"
                  f" with the keys the producing services publish.")
    if any(e["data_status"] == DATA_DESTROYED for e in events):
        limits.append("Data shown as destroyed was deleted after a recall: the log still"
                      " commits to its SHA-256, so who did what and when stays proven, but the"
                      " content itself can no longer be shown.")
    return limits


def verify_bundle(bundle: dict, trusted_log_key: str | None = None,
                  trusted_witness_keys=(), required_witnesses=()) -> "Report":
    """Check an evidence bundle offline; returns a :class:`Report`, never raises
    for anything in the bundle or the keys given.

    ``trusted_log_key`` is the log's verifier key as the auditor obtained it
    apart from the bundle; without it the bundle's own key is used, with a
    warning. ``trusted_witness_keys`` are witness verifier keys the auditor
    trusts, checked beside those the bundle names. ``required_witnesses`` are
    witness names that must have cosigned, checked with a key given in
    ``trusted_witness_keys``; each one missing is a failed check naming it.
    """
    report = Report()
    parsed, problems = _parse(bundle)
    if isinstance(bundle, dict):
        report.document_id = bundle.get("document_id") if isinstance(
            bundle.get("document_id"), str) else None
        report.generated_at = bundle.get("generated_at") if isinstance(
            bundle.get("generated_at"), str) else None
    if problems:
        listed = problems[:_MAX_PROBLEMS]
        more = len(problems) - len(listed)
        text = "; ".join(listed) + (f"; and {more} more" if more else "")
        report.checks.append(Check("format", False,
                                   f"The bundle is not a well-formed {FORMAT} bundle: {text}."
                                   f" Nothing else was checked."))
        report.limits.append("A malformed bundle proves nothing; ask the audit service for a"
                             " new one.")
        return report
    report.checks.append(Check("format", True,
                               f"The bundle is a well-formed {FORMAT} bundle with"
                               f" {len(parsed.entries)} entries."))

    if isinstance(trusted_witness_keys, str):
        trusted_witness_keys = (trusted_witness_keys,)
    if isinstance(required_witnesses, str):
        required_witnesses = (required_witnesses,)
    required_witnesses = [str(name) for name in required_witnesses or ()]
    verifier = _check_log_key(parsed, trusted_log_key, report.checks)
    read = _check_checkpoint(parsed, verifier, report.checks)
    tree = read[:2] if read else None
    stamp_limits = []
    _check_timestamp(bundle.get("checkpoint_timestamp"), parsed, verifier, report.checks,
                     stamp_limits)
    cosigned = _check_witnesses(parsed, tuple(trusted_witness_keys or ()), verifier,
                                read[2] if read else None, report.checks)
    _check_required(required_witnesses, cosigned, report.checks)
    _check_entries(parsed, tree, report.checks, report.events)
    report.limits.extend(_limits(parsed, tree, trusted_log_key, report.events) + stamp_limits)
    return report
