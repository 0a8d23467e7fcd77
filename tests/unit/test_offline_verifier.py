"""services.audit.offline and its CLI: evidence bundles verified with no server.

Every bundle here is built for real: events signed by per-producer Ed25519
keys, leaf entries in a MemoryTree among unrelated events, a checkpoint signed
by the log's note key and cosigned by a witness, inclusion paths from the tree.
"""

import base64
import copy
import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.leaves import leaf_entry
from services.audit.merkle import MemoryTree
from services.audit.note import (
    NoteSigner,
    add_signature,
    checkpoint_body,
    parse_note,
    sign_note,
)
from services.audit.offline import (
    DATA_DESTROYED,
    DATA_MISMATCH,
    DATA_PRESENT,
    FORMAT,
    verify_bundle,
)
from services.audit.verify_bundle import main
from shared.envelope import Actor, canonical_json, new_event
from shared.eventsig import EventSigner

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORIGIN = "lienthong.test/audit-log"
WITNESS = "luutru.example.vn/witness"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

CLERK = Actor("nguyen.van.a", "000.00.01.H01", "clerk")
LEADER = Actor("tran.thi.b", "000.00.01.H01", "leader")
RECEIVER = Actor("le.van.c", "000.00.02.H02", "clerk")


def _b64(raw):
    return base64.b64encode(raw).decode("ascii")


class World:
    """One log with a document's events among unrelated ones, and its bundle.

    ``forge`` optionally maps an event (before it enters the log) to the one
    the log actually holds: to model a log that accepted a bad event.
    """

    def __init__(self, forge=None, unrelated=32):
        self.signers = {p: EventSigner(p, Ed25519PrivateKey.generate())
                        for p in ("docs", "signing", "routing")}
        self.log = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
        self.witness = NoteSigner(WITNESS, Ed25519PrivateKey.generate())
        self.document_id = str(uuid.uuid4())
        doc = self.document_id
        ours = [
            ("docs", "DocumentRegistered", f"document-{doc}", CLERK,
             {"document_id": doc, "subject": "Công văn về việc họp giao ban",
              "issuing_agency": CLERK.agency, "recipients": [RECEIVER.agency]}),
            ("signing", "DocumentSigned", f"signature-{doc}", LEADER,
             {"document_id": doc, "sha256": "ab" * 32}),
            ("routing", "DeliveryRequested", f"delivery-{doc}", CLERK,
             {"document_id": doc, "recipients": [RECEIVER.agency]}),
            ("routing", "DocumentDelivered", f"delivery-{doc}", RECEIVER,
             {"document_id": doc, "agency": RECEIVER.agency}),
            ("docs", "DocumentRead", f"document-{doc}", RECEIVER,
             {"document_id": doc, "reader": RECEIVER.user_id}),
        ]
        self.tree = MemoryTree()
        self.entries = []  # (leaf index, entry bytes, data dict, is ours)
        versions = {}
        slots = {3: 0, 9: 1, 15: 2, 22: 3, 30: 4}  # where our events land among the others
        other = 0
        total = unrelated + len(ours)
        for i in range(total):
            if i in slots:
                producer, kind, stream, actor, data = ours[slots[i]]
            else:
                other_doc = str(uuid.uuid4())
                producer = ("docs", "routing", "signing")[other % 3]
                kind, stream, actor = "DocumentRegistered", f"document-{other_doc}", CLERK
                data = {"document_id": other_doc, "subject": f"Tờ trình số {other}"}
                other += 1
            versions[stream] = versions.get(stream, 0) + 1
            event = new_event(kind, data, actor=actor, producer=producer, stream_id=stream,
                              occurred_at=T0 + timedelta(minutes=i))
            event = self.signers[producer].sign(event.at(versions[stream], None))
            if forge is not None and i in slots:
                event = forge(slots[i], event)
            entry = leaf_entry(event)
            self.tree.append(entry)
            self.entries.append((i, entry, data, i in slots))
        self.size = self.tree.size
        body = checkpoint_body(ORIGIN, self.size, self.tree.root())
        self.note = add_signature(sign_note(body, self.log), self.witness)

    def bundle(self):
        return {
            "format": FORMAT,
            "document_id": self.document_id,
            "generated_at": "2025-03-02T09:00:00Z",
            "log": {"origin": ORIGIN, "verifier_key": self.log.verifier().key_string()},
            "checkpoint": self.note,
            "witness_keys": [self.witness.verifier().key_string()],
            "producer_keys": {p: {s.key_id: _b64(s.public_raw)}
                              for p, s in self.signers.items()},
            "entries": [self.bundle_entry(i) for i, _, _, ours in self.entries if ours],
        }

    def bundle_entry(self, index):
        _, entry, data, _ = self.entries[index]
        return {"leaf_index": index, "leaf_entry": _b64(entry),
                "inclusion_path": [_b64(h) for h in self.tree.inclusion(index)],
                "data": copy.deepcopy(data)}


@pytest.fixture(scope="module")
def world():
    return World()


@pytest.fixture
def bundle(world):
    return world.bundle()


def _failed(report):
    return [c for c in report.checks if not c.ok]


def _assert_fails(report, name, *words):
    """The report fails, with a failed check whose name contains ``name`` and
    whose detail contains each of ``words``; it renders without error."""
    assert not report.ok
    text = report.render()
    hits = [c for c in _failed(report) if name in c.name]
    assert hits, f"no failed check named {name!r}:\n{text}"
    assert any(all(w.lower() in c.detail.lower() for w in words) for c in hits), text
    assert f"\u2717 {hits[0].name}" in text
    return hits


def _entry_of(bundle, position=0):
    return json.loads(base64.b64decode(bundle["entries"][position]["leaf_entry"]))


def _set_entry(bundle, position, content):
    bundle["entries"][position]["leaf_entry"] = _b64(canonical_json(content))


# ---------------------------------------------------------------- good bundles

def test_world_is_realistic(world, bundle):
    assert 20 <= world.size <= 50
    assert len(bundle["entries"]) == 5
    json.dumps(bundle)  # a bundle is plain JSON


def test_good_bundle_verifies_with_trusted_log_key(world, bundle):
    report = verify_bundle(bundle, trusted_log_key=world.log.verifier().key_string(),
                           trusted_witness_keys=[world.witness.verifier().key_string()])
    assert report.ok, report.render()
    assert not any(c.warning for c in report.checks), report.render()
    names = [c.name for c in report.checks]
    assert names[:4] == ["format", "log key", "checkpoint", f"witness {WITNESS}"]
    assert "leaf 3: inclusion" in names and "leaf 30: producer signature" in names
    assert [e["leaf_index"] for e in report.events] == [3, 9, 15, 22, 30]
    first = report.events[0]
    assert first["event_type"] == "DocumentRegistered"
    assert first["producer"] == "docs"
    assert first["actor"] == CLERK.user_id and first["agency"] == CLERK.agency
    assert first["occurred_at"] == "2025-03-01T08:03:00.000000Z"
    assert first["document_id"] == world.document_id
    assert all(e["data_status"] == DATA_PRESENT and e["verified"] for e in report.events)
    text = report.render()
    assert text.splitlines()[0] == (f"Gói chứng cứ / Evidence bundle ({FORMAT}) for document"
                                    f" {world.document_id}, generated 2025-03-02T09:00:00Z")
    assert text.splitlines()[1].startswith("Kết quả: ĐÃ XÁC MINH")  # Vietnamese first
    assert "Result: VERIFIED" in text and "\u2717" not in text
    assert "DocumentDelivered" in text and "le.van.c (clerk)" in text
    assert "do NOT show that no other event about document" in text
    assert "full log" in text


def test_good_bundle_without_log_key_warns_with_fingerprint(world, bundle):
    report = verify_bundle(bundle)
    assert report.ok, report.render()
    log_check = next(c for c in report.checks if c.name == "log key")
    assert log_check.ok and log_check.warning
    assert "out of band" in log_check.detail and "SHA256:" in log_check.detail
    assert world.log.verifier().key_string() in log_check.detail
    # The witness is named only by the bundle: it passes, with the same caveat.
    witness = next(c for c in report.checks if c.name == f"witness {WITNESS}")
    assert witness.ok and witness.warning and "cosigned" in witness.detail
    assert "(cảnh báo / warning)" in report.render()


def test_destroyed_data_still_verifies(world, bundle):
    bundle["entries"][1]["data"] = None
    report = verify_bundle(bundle, world.log.verifier().key_string())
    assert report.ok, report.render()
    assert report.events[1]["data_status"] == DATA_DESTROYED
    assert report.events[1]["verified"]
    assert report.events[1]["document_id"] == world.document_id  # from the stream id
    document = next(c for c in report.checks if c.name == "leaf 9: document")
    assert f"signature-{world.document_id}" in document.detail
    assert "destroyed" in report.render()


def test_absent_witness_is_reported_not_failed(world, bundle):
    other = NoteSigner("other.example.vn/witness", Ed25519PrivateKey.generate())
    report = verify_bundle(bundle, world.log.verifier().key_string(),
                           [other.verifier().key_string()])
    assert report.ok, report.render()
    check = next(c for c in report.checks if c.name == "witness other.example.vn/witness")
    assert "did not cosign" in check.detail


def test_unknown_extra_signature_is_reported(world, bundle):
    stranger = NoteSigner("stranger.example", Ed25519PrivateKey.generate())
    bundle["checkpoint"] = add_signature(bundle["checkpoint"], stranger)
    report = verify_bundle(bundle, world.log.verifier().key_string())
    assert report.ok, report.render()
    assert "stranger.example" in next(c for c in report.checks
                                      if c.name == "other signatures").detail


def test_no_witnesses_is_a_warning(world, bundle):
    bundle["witness_keys"] = []
    report = verify_bundle(bundle, world.log.verifier().key_string())
    assert report.ok
    assert next(c for c in report.checks if c.name == "witnesses").warning


# ---------------------------------------------------------------- log key and checkpoint

def test_wrong_log_key(world, bundle):
    other = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    report = verify_bundle(bundle, trusted_log_key=other.verifier().key_string())
    _assert_fails(report, "log key", "the bundle names a different log key")
    _assert_fails(report, "checkpoint", "no signature by the log key")


def test_bundle_signed_by_impostor_log_fails_against_trusted_key(world, bundle):
    impostor = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    body, _ = parse_note(bundle["checkpoint"])
    bundle["checkpoint"] = sign_note(body, impostor)
    bundle["log"]["verifier_key"] = impostor.verifier().key_string()
    assert verify_bundle(bundle).ok  # self-consistent, hence the warning ...
    _assert_fails(verify_bundle(bundle, world.log.verifier().key_string()), "log key")


def test_malformed_trusted_log_key(bundle):
    _assert_fails(verify_bundle(bundle, trusted_log_key="not a key"), "log key",
                  "not a valid verifier key")


@pytest.mark.parametrize("edit", ["size", "root"])
def test_checkpoint_edited(world, bundle, edit):
    lines = bundle["checkpoint"].split("\n")
    if edit == "size":
        lines[1] = str(world.size + 1)
    else:
        lines[2] = _b64(bytes(32))
    bundle["checkpoint"] = "\n".join(lines)
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "checkpoint", "does not verify")
    _assert_fails(report, f"witness {WITNESS}", "does not verify")
    if edit == "root":
        _assert_fails(report, "leaf 3: inclusion", "does not verify")
    # (A path for leaf 3 of 37 leaves also fits 38: the signatures catch the size.)


def _flip_signature(note, name):
    out = []
    for line in note.split("\n"):
        if line.startswith(f"\u2014 {name} "):
            prefix, encoded = line.rsplit(" ", 1)
            raw = bytearray(base64.b64decode(encoded))
            raw[10] ^= 0x01  # inside the signature, after the 4-byte key id
            line = f"{prefix} {_b64(bytes(raw))}"
        out.append(line)
    return "\n".join(out)


def test_note_signature_broken(world, bundle):
    bundle["checkpoint"] = _flip_signature(bundle["checkpoint"], ORIGIN)
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "checkpoint", "log signature does not verify")
    assert all(c.ok for c in report.checks if c.name.startswith("leaf"))  # proofs still fit


def test_log_signature_missing(world, bundle):
    body, _ = parse_note(bundle["checkpoint"])
    bundle["checkpoint"] = sign_note(body, world.witness)
    _assert_fails(verify_bundle(bundle), "checkpoint", "no signature by the log key")


def test_origin_differs(world, bundle):
    bundle["log"]["origin"] = "elsewhere.example/log"
    _assert_fails(verify_bundle(bundle), "checkpoint", "origin")


@pytest.mark.parametrize("text", ["", "no signatures here\n", "x\n\n\u2014 a b\n", "\x00"])
def test_checkpoint_unreadable(world, bundle, text):
    bundle["checkpoint"] = text
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "checkpoint")
    _assert_fails(report, "leaf 3: inclusion", "not checked")
    assert report.events[0]["data_status"] == DATA_PRESENT  # other checks still ran


def test_cosignature_forged(world, bundle):
    forger = NoteSigner(WITNESS, Ed25519PrivateKey.generate())
    body, _ = parse_note(bundle["checkpoint"])
    forged = forger.sign(body).split(" ", 2)
    raw = base64.b64decode(forged[2])
    kid_line = world.witness.key_id + raw[4:]  # the real witness's key id, a forger's signature
    lines = [line for line in bundle["checkpoint"].split("\n")
             if not line.startswith(f"\u2014 {WITNESS} ")]
    bundle["checkpoint"] = "\n".join(lines[:-1]) + f"\n\u2014 {WITNESS} {_b64(kid_line)}\n"
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, f"witness {WITNESS}", "cosignature", "does not verify", "forged")
    assert next(c for c in report.checks if c.name == "checkpoint").ok


def test_cosignature_bit_flipped(world, bundle):
    bundle["checkpoint"] = _flip_signature(bundle["checkpoint"], WITNESS)
    report = verify_bundle(bundle, world.log.verifier().key_string(),
                           [world.witness.verifier().key_string()])
    _assert_fails(report, f"witness {WITNESS}", "does not verify")


def test_malformed_trusted_witness_key(world, bundle):
    _assert_fails(verify_bundle(bundle, world.log.verifier().key_string(), ["nope"]),
                  "witness key 1 you gave", "not a valid verifier key")


# ---------------------------------------------------------------- entries

def test_one_byte_of_leaf_entry_changed(world, bundle):
    raw = bytearray(base64.b64decode(bundle["entries"][2]["leaf_entry"]))
    at = raw.index(b"DeliveryRequested")
    raw[at] = ord("X")  # still valid JSON, a different event type
    bundle["entries"][2]["leaf_entry"] = _b64(bytes(raw))
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 15: inclusion", "does not verify")
    _assert_fails(report, "leaf 15: producer signature", "does not verify")
    assert not report.events[2]["verified"] and report.events[1]["verified"]


def test_leaf_entry_byte_breaking_json(world, bundle):
    raw = bytearray(base64.b64decode(bundle["entries"][0]["leaf_entry"]))
    raw[0] = 0xFF
    bundle["entries"][0]["leaf_entry"] = _b64(bytes(raw))
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 3: inclusion")
    _assert_fails(report, "leaf 3: entry", "not utf-8")


@pytest.mark.parametrize("field,value", [
    ("occurred_at", "2025-02-28T08:03:00.000000Z"),
    ("actor", {"user_id": "someone.else", "agency": "000.00.09.H09", "role": "leader"}),
])
def test_entry_field_edited(world, bundle, field, value):
    content = _entry_of(bundle, 0)
    content[field] = value
    _set_entry(bundle, 0, content)
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 3: inclusion", "does not verify")
    _assert_fails(report, "leaf 3: producer signature", "does not verify")


def test_entry_not_canonical(world, bundle):
    content = _entry_of(bundle, 0)
    bundle["entries"][0]["leaf_entry"] = _b64(json.dumps(content).encode())
    _assert_fails(verify_bundle(bundle), "leaf 3: entry", "canonical")


@pytest.mark.parametrize("how", ["flip", "drop", "extra", "swap"])
def test_inclusion_path_tampered(world, bundle, how):
    path = bundle["entries"][1]["inclusion_path"]
    if how == "flip":
        raw = bytearray(base64.b64decode(path[2]))
        raw[0] ^= 0x80
        path[2] = _b64(bytes(raw))
    elif how == "drop":
        path.pop()
    elif how == "extra":
        path.append(_b64(bytes(32)))
    else:
        path[0], path[1] = path[1], path[0]
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 9: inclusion", "inclusion proof does not verify")
    assert len(_failed(report)) == 1


@pytest.mark.parametrize("delta", [1, -1])
def test_leaf_index_changed(world, bundle, delta):
    bundle["entries"][1]["leaf_index"] += delta
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, f"leaf {9 + delta}: inclusion", "does not verify")


def test_leaf_index_beyond_checkpoint(world, bundle):
    bundle["entries"][1]["leaf_index"] = world.size
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, f"leaf {world.size}: inclusion", "not below the checkpoint size")


def test_duplicate_leaf_index(world, bundle):
    bundle["entries"].append(copy.deepcopy(bundle["entries"][0]))
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 3: duplicate", "both claim leaf index 3")
    assert len(_failed(report)) == 1


def test_producer_signature_forged_in_bundle(world, bundle):
    # Re-signed with another key under the real key id: the leaf changes too.
    content = _entry_of(bundle, 1)
    intruder = Ed25519PrivateKey.generate()
    signature = content.pop("signature")
    signature["value"] = _b64(intruder.sign(canonical_json(content)))
    content["signature"] = signature
    _set_entry(bundle, 1, content)
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 9: producer signature", "does not verify", "signing's key")
    _assert_fails(report, "leaf 9: inclusion")


def test_producer_signature_forged_inside_the_log():
    """A log that accepted a forged event: every proof holds, the signature does not."""
    intruder = EventSigner("signing", Ed25519PrivateKey.generate())

    def forge(number, event):
        if number != 1:
            return event
        forged = intruder.sign(event)
        return replace(forged, signature={"key_id": event.signature["key_id"],
                                          "value": forged.signature["value"]})

    world = World(forge=forge)
    report = verify_bundle(world.bundle(), world.log.verifier().key_string())
    _assert_fails(report, "leaf 9: producer signature", "does not verify")
    assert [c.name for c in _failed(report)] == ["leaf 9: producer signature"]


def test_producer_key_from_another_key_id(world, bundle):
    """Re-signed by another key that the bundle also lists: the leaf no longer fits."""
    content = _entry_of(bundle, 1)
    key = Ed25519PrivateKey.generate()
    intruder = EventSigner("signing", key)
    content.pop("signature")
    content["signature"] = {"key_id": intruder.key_id,
                            "value": _b64(key.sign(canonical_json(content)))}
    _set_entry(bundle, 1, content)
    bundle["producer_keys"]["signing"][intruder.key_id] = _b64(intruder.public_raw)
    report = verify_bundle(bundle, world.log.verifier().key_string())
    assert next(c for c in report.checks if c.name == "leaf 9: producer signature").ok
    _assert_fails(report, "leaf 9: inclusion", "does not verify")


def test_producer_key_missing(world, bundle):
    del bundle["producer_keys"]["signing"]
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 9: producer signature", "no public key", "signing")
    assert [c.name for c in _failed(report)] == ["leaf 9: producer signature"]


def test_producer_key_under_wrong_id(world, bundle):
    keys = bundle["producer_keys"]
    keys["docs"] = {next(iter(keys["signing"])): next(iter(keys["docs"].values()))}
    _assert_fails(verify_bundle(bundle), "format", "whose id is")


def test_data_edited(world, bundle):
    bundle["entries"][0]["data"]["subject"] = "Công văn đã bị sửa"
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 3: data", "mismatch", "sha-256")
    assert report.events[0]["data_status"] == DATA_MISMATCH
    assert "MISMATCH" in report.render()
    assert [c.name for c in _failed(report)] == ["leaf 3: data"]


def test_data_with_float_is_a_mismatch(world, bundle):
    bundle["entries"][0]["data"]["score"] = 1.5
    _assert_fails(verify_bundle(bundle), "leaf 3: data", "canonical")


def test_entry_about_another_document(world, bundle):
    bundle["entries"].append(world.bundle_entry(0))  # a real, verified, unrelated event
    report = verify_bundle(bundle, world.log.verifier().key_string())
    _assert_fails(report, "leaf 0: document", "not the bundle's document")
    assert [c.name for c in _failed(report)] == ["leaf 0: document"]


def test_destroyed_unrelated_entry_is_only_warned(world, bundle):
    extra = world.bundle_entry(0)
    extra["data"] = None
    bundle["entries"].append(extra)
    report = verify_bundle(bundle, world.log.verifier().key_string())
    assert report.ok
    check = next(c for c in report.checks if c.name == "leaf 0: document")
    assert check.warning and "does not show how this event relates" in check.detail


# ---------------------------------------------------------------- malformed bundles

def _drop(*keys):
    def edit(b):
        target = b
        for k in keys[:-1]:
            target = target[k]
        del target[keys[-1]]
    return edit


def _put(value, *keys):
    def edit(b):
        target = b
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return edit


MALFORMED = {
    "missing format": _drop("format"),
    "wrong format": _put("lienthong-evidence/2", "format"),
    "missing document_id": _drop("document_id"),
    "document_id not a uuid": _put("doc-1", "document_id"),
    "generated_at not a time": _put("yesterday", "generated_at"),
    "generated_at not utc": _put("2025-03-02T09:00:00+07:00", "generated_at"),
    "missing log": _drop("log"),
    "log a string": _put("log", "log"),
    "log origin missing": _drop("log", "origin"),
    "log key garbage": _put("a+b+c", "log", "verifier_key"),
    "checkpoint a number": _put(5, "checkpoint"),
    "witness_keys a string": _put("k", "witness_keys"),
    "witness key garbage": _put(["x+y+z"], "witness_keys"),
    "producer_keys a list": _put([], "producer_keys"),
    "producer key not base64": _put({"0" * 16: "!!!"}, "producer_keys", "docs"),
    "producer key id not hex": _put({"zz": "AA=="}, "producer_keys", "docs"),
    "entries missing": _drop("entries"),
    "entries empty": _put([], "entries"),
    "entries an object": _put({}, "entries"),
    "entry a string": _put("e", "entries", 0),
    "leaf_index missing": _drop("entries", 0, "leaf_index"),
    "leaf_index a string": _put("3", "entries", 0, "leaf_index"),
    "leaf_index a bool": _put(True, "entries", 0, "leaf_index"),
    "leaf_index negative": _put(-3, "entries", 0, "leaf_index"),
    "leaf_index a float": _put(3.0, "entries", 0, "leaf_index"),
    "leaf_entry not base64": _put("not base64!", "entries", 0, "leaf_entry"),
    "leaf_entry non-canonical base64": _put("QQ", "entries", 0, "leaf_entry"),
    "leaf_entry a list": _put([1], "entries", 0, "leaf_entry"),
    "inclusion_path a string": _put("AAAA", "entries", 0, "inclusion_path"),
    "inclusion_path element not base64": _put(["@@@@"], "entries", 0, "inclusion_path"),
    "inclusion_path element too short": _put(["AAAA"], "entries", 0, "inclusion_path"),
    "data missing": _drop("entries", 0, "data"),
    "data a list": _put([1, 2], "entries", 0, "data"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bundle_is_a_failed_check(bundle, case):
    MALFORMED[case](bundle)
    report = verify_bundle(bundle)
    _assert_fails(report, "format")
    assert report.checks[0].name == "format"
    assert "Traceback" not in report.render()


@pytest.mark.parametrize("value", [None, [], "bundle", 42, True])
def test_bundle_not_an_object(value):
    report = verify_bundle(value)
    _assert_fails(report, "format", "must be a json object")


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:2]):
            yield from _paths(v, prefix + (i,))


def test_any_value_replaced_never_raises(world):
    """Every field of the bundle, replaced by each kind of wrong value: a report, no exception."""
    original = world.bundle()
    original["entries"] = original["entries"][:2]
    junk = [None, True, -1, 2**70, 1.5, "", "\u2014 x\n", "AAAA", [], {}, ["AAAA"], {"a": 1}]
    count = 0
    for path in list(_paths(original))[1:]:
        for value in junk:
            bundle = copy.deepcopy(original)
            _put(value, *path)(bundle)
            report = verify_bundle(bundle, trusted_log_key=world.log.verifier().key_string())
            report.render()
            count += 1
    assert count > 300


def test_trusted_keys_of_wrong_types_do_not_raise(bundle):
    for log_key in (5, b"bytes", ""):
        assert not verify_bundle(bundle, trusted_log_key=log_key).ok
    assert not verify_bundle(bundle, trusted_witness_keys=[None]).ok
    bundle["producer_keys"]["docs"] = {1: "AA=="}  # only a Python caller can do this
    _assert_fails(verify_bundle(bundle), "format", "producer_keys")


# ---------------------------------------------------------------- the CLI

def _write(tmp_path, bundle, name="bundle.json"):
    path = tmp_path / name
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "services.audit.verify_bundle", *args],
                          cwd=ROOT_DIR, capture_output=True, text=True, encoding="utf-8",
                          errors="replace", env=env, timeout=60, check=False)


def test_cli_good_bundle_exits_0(world, bundle, tmp_path):
    path = _write(tmp_path, bundle)
    done = _cli(path, "--log-key", world.log.verifier().key_string(),
                "--witness-key", world.witness.verifier().key_string())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Result: VERIFIED" in done.stdout
    assert "\u2713 checkpoint" in done.stdout
    assert "Traceback" not in done.stderr


def test_cli_good_bundle_without_log_key_warns(bundle, tmp_path):
    done = _cli(_write(tmp_path, bundle))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "log key (cảnh báo / warning)" in done.stdout and "out of band" in done.stdout


def test_cli_tampered_bundle_exits_1_and_names_the_failure(world, bundle, tmp_path):
    bundle["entries"][1]["inclusion_path"].pop()
    done = _cli(_write(tmp_path, bundle), "--log-key", world.log.verifier().key_string())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT VERIFIED" in done.stdout
    assert "\u2717 leaf 9: inclusion" in done.stdout
    assert "Traceback" not in done.stderr


def test_cli_wrong_log_key_exits_1(bundle, tmp_path):
    other = NoteSigner(ORIGIN, Ed25519PrivateKey.generate()).verifier().key_string()
    assert main([_write(tmp_path, bundle), "--log-key", other]) == 1


def test_cli_in_process(world, bundle, tmp_path, capsys):
    assert main([_write(tmp_path, bundle), "--log-key",
                 world.log.verifier().key_string()]) == 0
    out = capsys.readouterr().out
    assert "Result: VERIFIED" in out and "What this does and does not prove" in out


@pytest.mark.parametrize("content", [None, b"{not json", b"\xff\xfe", b'{"a": 1, "a": 2}'])
def test_cli_unreadable_exits_2(tmp_path, capsys, content):
    path = tmp_path / "bundle.json"
    if content is not None:
        path.write_bytes(content)
    assert main([str(path)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_malformed_structure_exits_1(tmp_path, capsys):
    assert main([_write(tmp_path, {"format": FORMAT})]) == 1
    assert "\u2717 format" in capsys.readouterr().out


def test_cli_ascii_terminal(bundle, tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = _cli(_write(tmp_path, bundle), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK   checkpoint" in done.stdout


def test_cli_imports_no_server_library():
    code = ("import services.audit.verify_bundle, sys; print(any(m in sys.modules for m in"
            " ['nameko', 'psycopg', 'minio', 'requests', 'kombu', 'eventlet']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT_DIR, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- hardenings (issue 16)

EVIL = "docs\x1b[2J\x1b[H\r\u2713 \u0110\u00c3 X\u00c1C MINH / VERIFIED\u202e"


def _evil_bundle(bundle):
    content = _entry_of(bundle, 0)
    content["producer"] = EVIL
    content["event_type"] = "DocumentRegistered\r\x1b[1A"
    _set_entry(bundle, 0, content)
    bundle["producer_keys"][EVIL] = bundle["producer_keys"]["docs"]
    return bundle


def test_bundle_text_is_escaped_before_printing(world, bundle):
    report = verify_bundle(_evil_bundle(bundle), world.log.verifier().key_string())
    assert not report.ok
    text = report.render()
    for raw in ("\x1b", "\r", "\u202e"):
        assert raw not in text
    assert "docs\\x1b[2J\\x1b[H\\r" in text and "\\u202e" in text
    assert "DocumentRegistered\\r\\x1b[1A" in text
    assert all(line.startswith(("Gói", "Kết quả", "Result", "  ", "Các", "Sự", "Điều"))
               for line in text.splitlines() if line)
    assert text.splitlines()[1].startswith("Kết quả: KHÔNG XÁC MINH ĐƯỢC")


def test_cli_prints_no_terminal_escape_from_the_bundle(world, bundle, tmp_path):
    done = _cli(_write(tmp_path, _evil_bundle(bundle)), "--log-key",
                world.log.verifier().key_string())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "\x1b" not in done.stdout and "\r" not in done.stdout
    assert "\\x1b[2J" in done.stdout
    assert "KHÔNG XÁC MINH ĐƯỢC" in done.stdout.splitlines()[1]


def _cosigning_world_bundle(world, *witnesses):
    from services.audit.note import CosignatureSigner

    signers = [CosignatureSigner(name, Ed25519PrivateKey.generate(), clock=lambda: 1741000000)
               for name in witnesses]
    bundle = world.bundle()
    note = sign_note(checkpoint_body(ORIGIN, world.size, world.tree.root()), world.log)
    for signer in signers:
        note = add_signature(note, signer)
    bundle["checkpoint"] = note
    bundle["witness_keys"] = [s.verifier().key_string() for s in signers]
    return bundle, [s.verifier().key_string() for s in signers]


def test_cosignature_v1_witness_verifies_and_can_be_required(world):
    bundle, keys = _cosigning_world_bundle(world, "witness.example/w1", "archive.example/w2")
    report = verify_bundle(bundle, world.log.verifier().key_string(), keys,
                           required_witnesses=["witness.example/w1", "archive.example/w2"])
    assert report.ok, report.render()
    assert next(c for c in report.checks if c.name == "required witness archive.example/w2").ok


def test_required_witness_missing_fails_naming_it(world):
    bundle, keys = _cosigning_world_bundle(world, "witness.example/w1")
    report = verify_bundle(bundle, world.log.verifier().key_string(), keys,
                           required_witnesses=["witness.example/w1", "archive.example/absent"])
    _assert_fails(report, "required witness archive.example/absent", "THIẾU",
                  "archive.example/absent", "did NOT cosign")
    assert [c.name for c in _failed(report)] == ["required witness archive.example/absent"]
    assert "archive.example/absent" in report.render().splitlines()[1]


def test_required_witness_with_a_key_only_the_bundle_names_fails(world):
    bundle, _ = _cosigning_world_bundle(world, "witness.example/w1")
    report = verify_bundle(bundle, world.log.verifier().key_string(),
                           required_witnesses=["witness.example/w1"])
    _assert_fails(report, "required witness witness.example/w1", "--witness-key")


def test_cli_require_witness(world, tmp_path):
    bundle, keys = _cosigning_world_bundle(world, "witness.example/w1")
    path = _write(tmp_path, bundle)
    log_key = world.log.verifier().key_string()
    done = _cli(path, "--log-key", log_key, "--witness-key", keys[0],
                "--require-witness", "witness.example/w1")
    assert done.returncode == 0, done.stdout + done.stderr
    done = _cli(path, "--log-key", log_key, "--witness-key", keys[0],
                "--require-witness", "witness.example/w1", "--require-witness", "other.example/w9")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "\u2717 required witness other.example/w9" in done.stdout


def test_checkpoint_origin_is_bound_to_the_log_key(world, bundle):
    # the right key, but over another origin: another log's checkpoint, or a forgery
    body = checkpoint_body("other.example/log", world.size, world.tree.root())
    bundle["checkpoint"] = sign_note(body, world.log)
    bundle["log"]["origin"] = "other.example/log"
    bundle["witness_keys"] = []
    _assert_fails(verify_bundle(bundle, world.log.verifier().key_string()), "checkpoint",
                  "origin", "not the log key's name")
    _assert_fails(verify_bundle(bundle), "checkpoint", "not the log key's name")


def test_one_event_logged_at_two_leaves_is_a_finding(world):
    tree = MemoryTree()
    for _, entry, _, _ in world.entries:
        tree.append(entry)
    tree.append(world.entries[9][1])  # the log appended leaf 9's event once more
    note = sign_note(checkpoint_body(ORIGIN, tree.size, tree.root()), world.log)
    bundle = world.bundle()
    bundle["checkpoint"] = note
    bundle["witness_keys"] = []
    bundle["entries"] = [dict(world.bundle_entry(i),
                              inclusion_path=[_b64(h) for h in tree.inclusion(i, tree.size)])
                         for i in (3, 9, 15, 22, 30)]
    last = tree.size - 1
    bundle["entries"].append({"leaf_index": last, "leaf_entry": _b64(world.entries[9][1]),
                              "inclusion_path": [_b64(h) for h in tree.inclusion(last, tree.size)],
                              "data": copy.deepcopy(world.entries[9][2])})
    report = verify_bundle(bundle, world.log.verifier().key_string())
    event_id = json.loads(world.entries[9][1])["event_id"]
    _assert_fails(report, f"leaf {last}: event logged twice", event_id, "two leaves", "9")
    assert [c.name for c in _failed(report)] == [f"leaf {last}: event logged twice"]


def test_notes_are_read_the_c2sp_way(world, bundle):
    body = checkpoint_body(ORIGIN, world.size, world.tree.root()) + "extension line\n"
    note = sign_note(body, world.log)
    stranger = NoteSigner("stranger.example/log", Ed25519PrivateKey.generate())
    same_name = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())  # the log's name, another key
    line = stranger.sign(body)
    note += line + line + same_name.sign(body)
    note += "\u2014 someone.else " + _b64(world.log.key_id + bytes(100)) + "\n"  # our id, other name
    bundle["checkpoint"] = add_signature(note, world.witness)
    report = verify_bundle(bundle, world.log.verifier().key_string(),
                           [world.witness.verifier().key_string()])
    assert report.ok, report.render()
    assert "stranger.example/log" in next(c for c in report.checks
                                          if c.name == "other signatures").detail
    # ... and still no note without a valid signature by the trusted key
    bundle["checkpoint"] = sign_note(body, same_name) + line
    _assert_fails(verify_bundle(bundle, world.log.verifier().key_string()), "checkpoint",
                  "no signature by the log key")
