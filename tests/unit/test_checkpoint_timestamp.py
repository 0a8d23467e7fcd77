"""RFC 3161 time stamps on checkpoints (services.audit.timestamp), checked by
openssl: a real TSA (the platform's development one) answering over HTTP on
localhost, the audit side speaking only the protocol, and ``openssl ts
-verify`` as the independent judge."""

import base64
import socket
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import timestamp as ts
from services.audit.merkle import MemoryTree
from services.audit.note import NoteSigner, checkpoint_body, sign_note
from services.signing import pki, tsa
from tests.support.openssl_ts import openssl_ts_verify

ORIGIN = "lienthong.test/audit-log"
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def tsa_root():
    return pki.create_root_ca("TSA Root (audit test)", NOW - timedelta(days=1),
                              NOW + timedelta(days=365))


@pytest.fixture(scope="module")
def tsa_url(tsa_root):
    identity = tsa.issue_tsa_cert(tsa_root, valid_from=NOW - timedelta(hours=1))
    with tsa.TsaServer(tsa.TimeStampAuthority(identity)) as server:
        yield server.url


@pytest.fixture(scope="module")
def log_signer():
    return NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


def _note(signer, size=5):
    tree = MemoryTree()
    for i in range(size):
        tree.append(b"entry %d" % i)
    return sign_note(checkpoint_body(ORIGIN, size, tree.root()), signer)


def _root_pem(tsa_root):
    from cryptography.hazmat.primitives.serialization import Encoding

    return tsa_root.certificate.public_bytes(Encoding.PEM).decode("ascii")


def test_a_checkpoint_time_stamp_verifies_with_openssl(tsa_url, tsa_root, log_signer, tmp_path):
    note = _note(log_signer)
    token = ts.HttpTimeStamper(tsa_url).stamp(note.encode("utf-8"))
    info = ts.check_token(token, note.encode("utf-8"), ts.chain_pem(token))
    assert abs(datetime.fromisoformat(info.gen_time) - datetime.now(UTC)) < timedelta(minutes=2)
    # openssl, trusting only the TSA's root (as an auditor would, obtained apart)
    done = openssl_ts_verify(tmp_path, note.encode("utf-8"), token, _root_pem(tsa_root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verification: OK" in done.stdout


@pytest.mark.parametrize("tamper", [
    lambda n: n.replace("\n5\n", "\n6\n", 1),                 # the size
    lambda n: n.replace(ORIGIN, ORIGIN + "x", 1),              # the origin
    lambda n: n + "\u2014 witness.example/w AAAAAAAA\n",       # a line added after stamping
])
def test_a_tampered_note_fails_openssl_and_our_check(tsa_url, tsa_root, log_signer, tmp_path,
                                                     tamper):
    note = _note(log_signer)
    token = ts.HttpTimeStamper(tsa_url).stamp(note.encode("utf-8"))
    bad = tamper(note).encode("utf-8")
    done = openssl_ts_verify(tmp_path, bad, token, _root_pem(tsa_root))
    assert done.returncode != 0 and "Verification: FAILED" in done.stdout, done.stdout
    with pytest.raises(ts.TimestampError, match="imprint differs"):
        ts.check_token(token, bad, ts.chain_pem(token))


def test_a_token_fails_against_another_root(tsa_url, log_signer):
    note = _note(log_signer).encode("utf-8")
    token = ts.HttpTimeStamper(tsa_url).stamp(note)
    stranger = pki.create_root_ca("TSA Root (test)", NOW - timedelta(days=1),
                                  NOW + timedelta(days=30))
    other = tsa.issue_tsa_cert(stranger, valid_from=NOW - timedelta(hours=1))
    forged = tsa.TimeStampAuthority(other).respond(ts.request_for(note, 7))
    forged_token = ts.token_from_response(forged, note, 7)
    # the forger's token checks only against the forger's own chain, never against ours
    real_chain = ts.chain_pem(token)
    ts.check_token(token, note, real_chain[1:])  # ours, against our root alone
    ts.check_token(forged_token, note, ts.chain_pem(forged_token))  # whole, but ...
    with pytest.raises(ts.TimestampError, match="not at a root given"):
        ts.check_token(forged_token, note, real_chain[1:])


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"


def test_a_tsa_that_is_down_is_a_timestamp_error():
    with pytest.raises(ts.TimestampError, match="did not answer"):
        ts.HttpTimeStamper(_closed_port_url(), timeout=2).stamp(b"note\n")


def test_replies_that_are_not_for_our_request_are_refused(tsa_root):
    authority = tsa.TimeStampAuthority(tsa.issue_tsa_cert(tsa_root))
    reply = authority.respond(ts.request_for(b"other bytes", 11))
    with pytest.raises(ts.TimestampError, match="imprint differs"):
        ts.token_from_response(reply, b"our bytes", 11)
    reply = authority.respond(ts.request_for(b"our bytes", 12))
    with pytest.raises(ts.TimestampError, match="nonce"):
        ts.token_from_response(reply, b"our bytes", 11)
    with pytest.raises(ts.TimestampError, match="refused"):
        ts.token_from_response(authority.respond(b"not DER"), b"our bytes", 11)
    with pytest.raises(ts.TimestampError, match="not a TimeStampResp"):
        ts.token_from_response(b"\x00garbage", b"our bytes", 11)


def test_view_says_unstamped_in_vietnamese_first():
    view = ts.view("note\n", None)
    assert view["status"] == "unstamped"
    assert view["label"].startswith("CHƯA đóng dấu thời gian")
    assert "token" not in view


def test_view_of_a_stamped_checkpoint_carries_token_and_chain(tsa_url, log_signer):
    note = _note(log_signer)
    token = ts.HttpTimeStamper(tsa_url).stamp(note.encode("utf-8"))
    view = ts.view(note, token)
    assert view["status"] == "stamped" and view["label"].startswith("Đã đóng dấu thời gian")
    assert base64.b64decode(view["token"]) == token and view["signed_note"] == note
    assert len(view["tsa_chain"]) == 2 and all("BEGIN CERTIFICATE" in p for p in view["tsa_chain"])


# ---------------------------------------------------------------- in the evidence bundle

@pytest.fixture(scope="module")
def stamped_world(tsa_url):
    from tests.unit.test_offline_verifier import World

    world = World()
    signed = sign_note(checkpoint_body(world.log.name, world.size, world.tree.root()), world.log)
    assert world.note.startswith(signed)  # the cosignature came after the stamp
    world.stamp = ts.view(signed, ts.HttpTimeStamper(tsa_url).stamp(signed.encode("utf-8")))
    return world


def _stamped_bundle(world):
    import copy

    return dict(world.bundle(), checkpoint_timestamp=copy.deepcopy(world.stamp))


def test_the_offline_verifier_checks_the_time_stamp(stamped_world):
    from services.audit.offline import verify_bundle

    report = verify_bundle(_stamped_bundle(stamped_world),
                           stamped_world.log.verifier().key_string(),
                           [stamped_world.witness.verifier().key_string()])
    assert report.ok, report.render()
    check = next(c for c in report.checks if c.name == "checkpoint time stamp")
    assert check.ok and not check.warning and stamped_world.stamp["gen_time"] in check.detail
    assert "openssl ts -verify" in report.render()


def test_the_cli_exports_what_openssl_verifies(stamped_world, tsa_root, tmp_path):
    import json

    from services.audit.verify_bundle import main

    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_stamped_bundle(stamped_world), ensure_ascii=False))
    out = tmp_path / "stamp"
    assert main([str(path), "--log-key", stamped_world.log.verifier().key_string(),
                 "--export-timestamp", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.note", "checkpoint.tst",
                                                      "tsa-chain.pem"]
    # as the README tells an auditor: the exported files, the TSA root obtained apart
    done = openssl_ts_verify(out, (out / "checkpoint.note").read_bytes(),
                             (out / "checkpoint.tst").read_bytes(), _root_pem(tsa_root))
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("edit, words", [
    (lambda s, w: s.update(signed_note=s["signed_note"].replace(f"\n{w.size}\n",
                                                                f"\n{w.size + 1}\n")),
     "does not verify"),
    (lambda s, w: s.update(token=ts.view(s["signed_note"], base64.b64decode(
        s["token"]))["token"][:-8] + "AAAAAAA="), "time stamp does not hold up"),
    (lambda s, w: s.update(tsa_chain=[]), "not at a root given"),
    (lambda s, w: s.update(status="maybe"), "not 'stamped'"),
])
def test_a_bad_time_stamp_fails_the_bundle(stamped_world, edit, words):
    from services.audit.offline import verify_bundle

    bundle = _stamped_bundle(stamped_world)
    edit(bundle["checkpoint_timestamp"], stamped_world)
    report = verify_bundle(bundle, stamped_world.log.verifier().key_string())
    failed = [c for c in report.checks if not c.ok]
    assert [c.name for c in failed] == ["checkpoint time stamp"], report.render()
    assert words.lower() in failed[0].detail.lower(), failed[0].detail


def test_a_stamp_over_other_bytes_fails_the_bundle(stamped_world, tsa_url):
    from services.audit.offline import verify_bundle

    bundle = _stamped_bundle(stamped_world)
    other = ts.HttpTimeStamper(tsa_url).stamp(b"another note\n")
    bundle["checkpoint_timestamp"]["token"] = base64.b64encode(other).decode()
    report = verify_bundle(bundle, stamped_world.log.verifier().key_string())
    check = next(c for c in report.checks if c.name == "checkpoint time stamp")
    assert not check.ok and "imprint differs" in check.detail


def test_an_unstamped_checkpoint_is_a_warning_in_vietnamese(stamped_world):
    from services.audit.offline import verify_bundle

    bundle = dict(stamped_world.bundle(), checkpoint_timestamp=ts.view("x\n", None))
    report = verify_bundle(bundle, stamped_world.log.verifier().key_string())
    check = next(c for c in report.checks if c.name == "checkpoint time stamp")
    assert check.ok and check.warning and check.detail.startswith("CHƯA đóng dấu thời gian")
