"""services.audit.note: C2SP signed notes and tlog checkpoints with Ed25519."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.note import (
    NoteError,
    NoteSigner,
    NoteVerifier,
    add_signature,
    checkpoint_body,
    key_id,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    sign_note,
    verifier_key_string,
)

ORIGIN = "audit.lienthong.example/log"
WITNESS = "archives.example.vn/witness"
ROOT8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


def _signer(name=ORIGIN, seed=bytes(range(32))):
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(seed))


LOG = _signer()
COSIGNER = _signer(WITNESS, bytes(range(32, 64)))


def _checkpoint(size=8, root=ROOT8, origin=ORIGIN):
    return checkpoint_body(origin, size, root)


# ---------------------------------------------------------------- known answers

# Regression values computed once by THIS implementation (not external vectors)
# and checked by re-verification; Ed25519 (RFC 8032) is deterministic, so any
# change here means the wire format changed.
KAT_NOTE = (
    "audit.lienthong.example/log\n"
    "8\n"
    "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    "\n"
    "— audit.lienthong.example/log i+Ii275etoJfHfLIQlKZPePNPThhySXStxnosYEsj+Uh8QUOkyzTV+FAvVmxwoZ/KbiUInDd0Gi37+8wWe73MK8uUAw=\n"
)
KAT_COSIGNATURE = (
    "— archives.example.vn/witness P9y3hT7hXgQOtW4PKo/0kkB+KJC3/mn51xcFo/0VUbornv/0K52k1Ai3OeBh6+ud8IDELDt3anRTxuBlsIV2wB2pbw4=\n"
)
KAT_LOG_VKEY = "audit.lienthong.example/log+8be222db+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
KAT_WITNESS_VKEY = "archives.example.vn/witness+3fdcb785+ASmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"


def test_fixed_key_known_answer():
    note = sign_note(_checkpoint(), LOG)
    assert note == KAT_NOTE
    assert LOG.verifier().key_string() == KAT_LOG_VKEY
    parse_verifier_key(KAT_LOG_VKEY).verify(KAT_NOTE)
    cosigned = add_signature(note, COSIGNER)
    assert cosigned == KAT_NOTE + KAT_COSIGNATURE
    assert verifier_key_string(WITNESS, COSIGNER.public_raw) == KAT_WITNESS_VKEY
    parse_verifier_key(KAT_WITNESS_VKEY).verify(cosigned)
    parse_verifier_key(KAT_LOG_VKEY).verify(cosigned)


# External vector: the example key and note of Go's golang.org/x/mod/sumdb/note
# (note_test.go). The private key string is "PRIVATE+KEY+name+keyid+base64(0x01
# || seed)"; the test checks that seed, public key, key id and signature all agree.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def test_go_sumdb_note_vector():
    _, _, name, kid_hex, key = GO_SKEY.split("+", 4)
    raw = base64.b64decode(key)
    assert raw[0] == 0x01 and len(raw) == 33
    signer = NoteSigner(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    assert signer.key_id.hex() == kid_hex
    assert verifier_key_string(name, signer.public_raw) == GO_VKEY
    assert sign_note(GO_TEXT, signer) == GO_NOTE
    verifier = parse_verifier_key(GO_VKEY)
    verifier.verify(GO_NOTE)
    with pytest.raises(NoteError):
        verifier.verify(GO_NOTE.replace("cryptography", "cryptographY"))


def test_key_id_definition():
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + LOG.public_raw).digest()[:4]
    assert key_id(ORIGIN, LOG.public_raw) == expected == LOG.key_id
    assert key_id("other", LOG.public_raw) != expected


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("size,root", [(0, hashlib.sha256(b"").digest()), (8, ROOT8), (2**64 - 1, bytes(32))])
def test_checkpoint_round_trip(size, root):
    body = _checkpoint(size, root)
    assert body == f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n"
    assert parse_checkpoint(body) == (ORIGIN, size, root)
    note = sign_note(body, LOG)
    LOG.verifier().verify(note)
    parsed_body, sigs = parse_note(note)
    assert parsed_body == body
    assert parse_checkpoint(parsed_body) == (ORIGIN, size, root)
    assert [(n, k) for n, k, _ in sigs] == [(ORIGIN, LOG.key_id)]
    assert len(sigs[0][2]) == 64


def test_sign_produces_em_dash_line_over_utf8_body():
    body = "Sở Nội vụ — nhật ký\n2\n" + base64.b64encode(ROOT8).decode() + "\n"
    line = LOG.sign(body)
    assert line.startswith("\u2014 " + ORIGIN + " ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == LOG.key_id
    Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key().verify(raw[4:], body.encode("utf-8"))
    assert sign_note(body, LOG) == body + "\n" + line
    LOG.verifier().verify(sign_note(body, LOG))


def test_verifier_key_round_trip():
    vkey = verifier_key_string(ORIGIN, LOG.public_raw)
    verifier = parse_verifier_key(vkey)
    assert isinstance(verifier, NoteVerifier)
    assert (verifier.name, verifier.key_id, verifier.public_raw) == (ORIGIN, LOG.key_id, LOG.public_raw)
    assert verifier.key_string() == vkey


def test_note_body_may_contain_blank_lines():
    body = "first\n\nthird\n"
    note = sign_note(body, LOG)
    assert parse_note(note)[0] == body
    LOG.verifier().verify(note)


# ---------------------------------------------------------------- cosigning

def test_cosigning_two_signatures_each_verifiable_order_preserved():
    note = add_signature(sign_note(_checkpoint(), LOG), COSIGNER)
    body, sigs = parse_note(note)
    assert body == _checkpoint()
    assert [(n, k) for n, k, _ in sigs] == [(ORIGIN, LOG.key_id), (WITNESS, COSIGNER.key_id)]
    LOG.verifier().verify(note)
    COSIGNER.verifier().verify(note)
    # each signature alone is enough for its own verifier
    log_only = note[:note.index("— " + WITNESS)]
    LOG.verifier().verify(log_only)
    with pytest.raises(NoteError, match="no signature"):
        COSIGNER.verifier().verify(log_only)
    lines = note.split("\n")
    witness_only = "\n".join(lines[:4] + [lines[5], ""])
    COSIGNER.verifier().verify(witness_only)
    with pytest.raises(NoteError, match="no signature"):
        LOG.verifier().verify(witness_only)
    # a third cosigner appends after the others
    third = _signer("third.example/w", bytes(range(64, 96)))
    tri = add_signature(note, third)
    assert [n for n, _, _ in parse_note(tri)[1]] == [ORIGIN, WITNESS, "third.example/w"]
    for s in (LOG, COSIGNER, third):
        s.verifier().verify(tri)


def test_cosigning_twice_by_the_same_key_is_rejected():
    note = sign_note(_checkpoint(), LOG)
    with pytest.raises(NoteError, match="already signed"):
        add_signature(note, LOG)
    # the log's own key twice is refused by its verifier (c2sp leaves it open)
    with pytest.raises(NoteError, match="two signatures"):
        LOG.verifier().verify(note + note.splitlines(keepends=True)[-1])


def test_unknown_signatures_are_ignored():
    # c2sp: a signature from an unknown key is ignored, even one that does not verify
    stranger = "— someone.else/log " + base64.b64encode(b"\x01\x02\x03\x04" + bytes(64)).decode() + "\n"
    note = sign_note(_checkpoint(), LOG) + stranger
    LOG.verifier().verify(note)


# ---------------------------------------------------------------- rejections

VALID = sign_note(_checkpoint(), LOG)


def _other_key_same_name():
    return _signer(ORIGIN, bytes(range(100, 132)))


def test_wrong_key_is_rejected():
    with pytest.raises(NoteError, match="no signature"):
        _other_key_same_name().verifier().verify(VALID)


def test_wrong_name_is_rejected():
    with pytest.raises(NoteError, match="no signature"):
        NoteVerifier("audit.lienthong.example/other", LOG.public_raw).verify(VALID)


def test_signature_line_under_another_name_is_not_ours():
    # same key id and a valid signature, but the line names another key: ignored
    relabelled = VALID.replace("— " + ORIGIN + " ", "— audit.lienthong.example/other ")
    assert relabelled != VALID
    parse_note(relabelled)
    with pytest.raises(NoteError, match="no signature"):
        LOG.verifier().verify(relabelled)


def test_same_name_and_key_id_but_bad_signature_is_rejected():
    forged = sign_note(_checkpoint(), _other_key_same_name())
    line = forged.splitlines(keepends=True)[-1]
    raw = base64.b64decode(line.split(" ")[2])
    spoof = VALID.rsplit("— ", 1)[0] + f"— {ORIGIN} {base64.b64encode(LOG.key_id + raw[4:]).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        LOG.verifier().verify(spoof)


@pytest.mark.parametrize("tamper", [
    lambda n: n.replace("\n8\n", "\n9\n", 1),                                    # size changed
    lambda n: n.replace("\n8\n", "\n80\n", 1),
    lambda n: n.replace("Xcna", "Ycna", 1),                                      # root changed
    lambda n: n.replace(ORIGIN + "\n", "audit.lienthong.example/lo\n", 1),      # origin changed
    lambda n: n.replace(ORIGIN + "\n", ORIGIN + "x\n", 1),
    lambda n: "x" + n,
])
def test_tampered_body_is_rejected(tamper):
    bad = tamper(VALID)
    assert bad != VALID
    with pytest.raises(NoteError):
        LOG.verifier().verify(bad)


def test_every_signature_byte_is_checked():
    line = VALID.splitlines(keepends=True)[-1]
    raw = base64.b64decode(line.split(" ")[2])
    prefix = VALID[:-len(line)]
    for i in range(len(raw)):
        bad = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]
        note = prefix + f"— {ORIGIN} {base64.b64encode(bad).decode()}\n"
        with pytest.raises(NoteError):
            LOG.verifier().verify(note)


@pytest.mark.parametrize("mangle,rule", [
    (lambda n: n[:-10] + "\n", "base64"),                         # truncated base64
    (lambda n: n[:-6] + "==\n", "base64"),                          # truncated, re-padded
    (lambda n: n.rsplit(" ", 1)[0] + " " + base64.b64encode(         # truncated signature bytes
        base64.b64decode(n.rsplit(" ", 1)[1])[:40]).decode() + "\n", "not 64"),
    (lambda n: n.rsplit(" ", 1)[0] + " AQIDBA==\n", "too short"),  # key id only
    (lambda n: n + "garbage\n", "em dash"),                         # extra garbage line
    (lambda n: n + "\n", "no signature lines"),                     # trailing blank line
    (lambda n: n + "— \n", "no signature|invalid key name"),
    (lambda n: n[:-1], "end with a newline"),                       # no final newline
    (lambda n: n.replace("\n\n", "\n", 1), "no blank line"),        # missing blank line
    (lambda n: n.replace("\n\n", "\n\n\n", 1), "blank line"),      # two blank lines
    (lambda n: n.replace("— ", "- ", 1), "em dash"),               # hyphen instead of em dash
    (lambda n: n.replace("— ", "—", 1), "em dash"),
    (lambda n: n.replace(ORIGIN + " ", ORIGIN + "  ", 1), "base64"),  # double space
    (lambda n: n.replace("— " + ORIGIN + " ", "— " + ORIGIN + "\t", 1), "control"),
    (lambda n: n.replace("\n", "\r\n"), "control"),
    (lambda n: n.replace("\n8\n", "\n8\x00\n"), "control"),
    (lambda n: "\n\n" + n[n.index("— "):], "must not end with a blank line"),  # empty body
    (lambda n: "\ud800" + n, "UTF-8"),
])
def test_malformed_notes_are_rejected(mangle, rule):
    bad = mangle(VALID)
    assert bad != VALID
    with pytest.raises(NoteError, match=rule):
        LOG.verifier().verify(bad)


def test_parse_note_rejects_non_str_and_too_many_signatures():
    with pytest.raises(NoteError):
        parse_note(VALID.encode())
    signers = [_signer(f"w{i}.example", bytes([i]) * 32) for i in range(101)]
    note = VALID
    for s in signers[:99]:
        note = add_signature(note, s)
    assert len(parse_note(note)[1]) == 100
    with pytest.raises(NoteError, match="more than 100"):
        parse_note(note + signers[100].sign(_checkpoint()))


@pytest.mark.parametrize("body", [
    "", "no newline", "ends with blank\n\n", "\n", "bad\x01char\n", 42,
])
def test_signing_an_invalid_body_is_rejected(body):
    with pytest.raises(NoteError):
        sign_note(body, LOG)


# ---------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("body,rule", [
    (f"{ORIGIN}\n08\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n00\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n-1\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n+8\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n 8\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n8 \n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n\u0668\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),  # Arabic-Indic 8
    (f"{ORIGIN}\n1_000\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n{2**64}\n" + base64.b64encode(ROOT8).decode() + "\n", "canonical decimal"),
    (f"{ORIGIN}\n8\n" + base64.b64encode(ROOT8[:31]).decode() + "\n", "31 bytes"),
    (f"{ORIGIN}\n8\n" + base64.b64encode(ROOT8 + b"\0").decode() + "\n", "33 bytes"),
    (f"{ORIGIN}\n8\n" + base64.b64encode(ROOT8).decode().rstrip("=") + "\n", "base64"),
    (f"{ORIGIN}\n8\n" + base64.urlsafe_b64encode(bytes([0xfb]) * 32).decode() + "\n", "base64"),
    (f"{ORIGIN}\n8\n" + base64.b64encode(ROOT8).decode()[:-2] + "Z=\n", "canonical base64"),
    (f"{ORIGIN}\n8\n" + base64.b64encode(ROOT8).decode(), "end with a newline"),
    (f"{ORIGIN}\n8\n" + base64.b64encode(ROOT8).decode() + "\next\n\nmore\n", "must not be empty"),
    (f"{ORIGIN}\n8\n", "at least 3 lines"),
    ("\n8\n" + base64.b64encode(ROOT8).decode() + "\n", "origin is empty"),
    (f"{ORIGIN}\r\n8\n" + base64.b64encode(ROOT8).decode() + "\n", "control"),
    (b"bytes\n", "must be a str"),
])
def test_parse_checkpoint_is_strict(body, rule):
    with pytest.raises(NoteError, match=rule):
        parse_checkpoint(body)


@pytest.mark.parametrize("origin,size,root", [
    ("", 8, ROOT8),
    ("two\nlines", 8, ROOT8),
    ("tab\there", 8, ROOT8),
    (ORIGIN, -1, ROOT8),
    (ORIGIN, 2**64, ROOT8),
    (ORIGIN, 8.0, ROOT8),
    (ORIGIN, True, ROOT8),
    (ORIGIN, 8, ROOT8[:31]),
    (ORIGIN, 8, ROOT8.hex()),
])
def test_checkpoint_body_validates(origin, size, root):
    with pytest.raises(NoteError):
        checkpoint_body(origin, size, root)


# ---------------------------------------------------------------- keys and names

@pytest.mark.parametrize("name", ["", "has space", "has+plus", "nbsp\u00a0name", "new\nline", "ideographic\u3000space"])
def test_invalid_key_names_are_rejected(name):
    with pytest.raises(NoteError):
        key_id(name, LOG.public_raw)
    with pytest.raises(NoteError):
        NoteSigner(name, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    with pytest.raises(NoteError):
        NoteVerifier(name, LOG.public_raw)


def test_signer_requires_an_ed25519_key():
    with pytest.raises(TypeError):
        NoteSigner(ORIGIN, bytes(32))


@pytest.mark.parametrize("public", [b"", bytes(31), bytes(33), "x" * 32])
def test_invalid_public_keys_are_rejected(public):
    with pytest.raises(NoteError):
        NoteVerifier(ORIGIN, public)


def test_parse_verifier_key_is_strict():
    vkey = KAT_LOG_VKEY
    name, kid, key = vkey.split("+", 2)
    raw = base64.b64decode(key)
    type2 = base64.b64encode(b"\x02" + raw[1:]).decode()
    untyped = base64.b64encode(raw[1:]).decode()
    too_long = base64.b64encode(raw + b"\x00").decode()
    bad = [
        "", name, f"{name}+{kid}", f"{name}+{kid}+",
        f"{name}+{kid.upper()}+{key}",                      # key id must be lowercase hex
        f"{name}+{kid[:-1]}+{key}", f"{name}+{kid}0+{key}",
        f"{name}+00000000+{key}",                           # key id does not match
        f"other+{kid}+{key}",                               # name does not match key id
        f"{name}+{kid}+{type2}",                            # wrong type byte
        f"{name}+{kid}+{untyped}",                          # no type byte
        f"{name}+{kid}+{too_long}",                         # 33-byte key
        f"{name}+{kid}+{key[:-1]}",                         # base64 of the wrong length
        f"{name} x+{kid}+{key}",
        vkey + "\n",
    ]
    for s in bad:
        with pytest.raises(NoteError):
            parse_verifier_key(s)
    # every single-character change is rejected (as in Go's note tests)
    for i in range(len(vkey)):
        mangled = vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1:]
        with pytest.raises(NoteError):
            parse_verifier_key(mangled)
    # every truncation too
    for j in range(len(vkey)):
        with pytest.raises(NoteError):
            parse_verifier_key(vkey[:j])


# ---------------------------------------------------------------- the C2SP way

def test_checkpoint_extension_lines_are_accepted_and_signed():
    body = _checkpoint() + "extension one\nsecond extension\n"
    assert parse_checkpoint(body) == (ORIGIN, 8, ROOT8)
    signed = sign_note(body, LOG)
    LOG.verifier().verify(signed)
    with pytest.raises(NoteError, match="does not verify"):  # the extensions are signed too
        LOG.verifier().verify(signed.replace("second", "Second"))


def test_unknown_keys_may_sign_twice_and_are_ignored():
    stranger = "— someone.else/log " + base64.b64encode(b"\x01\x02\x03\x04" + bytes(70)).decode() + "\n"
    note = sign_note(_checkpoint(), LOG) + stranger + stranger
    LOG.verifier().verify(note)
    with pytest.raises(NoteError, match="no signature"):  # and they never stand in for ours
        LOG.verifier().verify(_checkpoint() + "\n" + stranger)


# ---------------------------------------------------------------- cosignature/v1

# Known answer from transparency-dev/formats note/note_cosigv1_test.go: a native
# type-0x04 vkey of a public witness, whose key id is SHA-256(name || 0x0A ||
# 0x04 || key)[:4], and a cosignature whose timestamp field reads 1727964367.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
GO_COSIG = ("ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7"
            "S5gxEHWWOworDcFiEBYJXORmnFBOBA==")


def test_cosignature_key_id_and_vkey_known_answer():
    from services.audit.note import COSIGNATURE_V1, CosignatureVerifier

    verifier = parse_verifier_key(REMORA_VKEY)
    assert isinstance(verifier, CosignatureVerifier)
    public = base64.b64decode(REMORA_VKEY.split("+")[2])[1:]
    assert verifier.key_id == hashlib.sha256(b"remora.n621.de\n\x04" + public).digest()[:4]
    assert verifier.key_id.hex() == "da77ade7"
    assert verifier.key_string() == REMORA_VKEY
    assert key_id("remora.n621.de", public, COSIGNATURE_V1) != key_id("remora.n621.de", public)
    raw = base64.b64decode(GO_COSIG)
    assert len(raw) == 4 + 8 + 64 and int.from_bytes(raw[4:12], "big") == 1727964367


def test_cosignature_v1_is_ed25519_over_the_spec_message():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from services.audit.note import CosignatureSigner

    seed = bytes(range(64, 96))
    witness = CosignatureSigner(WITNESS, Ed25519PrivateKey.from_private_bytes(seed),
                                clock=lambda: 1679315147)
    cosigned = add_signature(sign_note(_checkpoint(), LOG), witness)
    line = cosigned.splitlines()[-1]
    assert line.startswith(f"— {WITNESS} ")
    raw = base64.b64decode(line.split(" ")[2])
    # straight from c2sp.org/tlog-cosignature, without the module's helpers
    expected_id = hashlib.sha256(WITNESS.encode() + b"\n\x04" + witness.public_raw).digest()[:4]
    assert raw[:4] == expected_id and raw[4:12] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + _checkpoint().encode()
    Ed25519PublicKey.from_public_bytes(witness.public_raw).verify(raw[12:], message)
    verifier = parse_verifier_key(witness.verifier().key_string())
    verifier.verify(cosigned)
    assert verifier.timestamp(cosigned) == 1679315147
    LOG.verifier().verify(cosigned)
    # a plain (type 0x01) key of the same name and key does not accept it, nor the reverse
    with pytest.raises(NoteError, match="no signature"):
        NoteVerifier(WITNESS, witness.public_raw).verify(cosigned)
    # the time is signed: changing it breaks the cosignature
    forged = raw[:4] + (1679315148).to_bytes(8, "big") + raw[12:]
    bad = cosigned.replace(line.split(" ")[2], base64.b64encode(forged).decode())
    with pytest.raises(NoteError, match="does not verify"):
        verifier.verify(bad)
