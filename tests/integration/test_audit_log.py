"""The audit service as an auditor relies on it: real PostgreSQL, RabbitMQ, S3."""

import base64
import time

import psycopg
import pytest
from nameko.testing.services import entrypoint_hook

from services.audit import merkle, note, replay
from services.audit.service import AuditService
from shared.envelope import Actor, new_event
from shared.errors import Forbidden
from tests.support.client import DISTRICT_1, PROVINCE, Client, wait_for
from tests.support.db import query, scalar

pytestmark = pytest.mark.integration


def signer_for(platform, producer="docs"):
    return platform.event_signer(producer)


def signed_events(platform, n, producer="docs"):
    signer = signer_for(platform, producer)
    events = []
    for i in range(n):
        document_id = f"6f1c2a7e-0000-4000-8000-{i:012d}"
        event = new_event("DocumentRegistered", {"document_id": document_id, "n": i,
                                                 "recipients": [DISTRICT_1]},
                          actor=Actor(f"clerk{i}", PROVINCE, "clerk"), producer=producer,
                          stream_id=f"document-{document_id}")
        events.append(signer.sign(event.at(1, i + 1)))
    return events


@pytest.fixture
def audit(run_container, platform):
    signer_for(platform)  # the producers' keys exist before audit starts, as in production
    container = run_container(AuditService)
    client = Client(platform)
    auditor = client.token("auditor", agency="000.00.00.G22")

    class Audit:
        def feed(self, *payloads, handler="on_docs_event"):
            with entrypoint_hook(container, handler) as handle:
                for payload in payloads:
                    handle(payload)

        def rpc(self):
            return client.rpc(auditor)

        def count(self, table):
            return scalar(platform.pg_dsn, "audit", f"SELECT count(*) FROM {table}")

        def wait_checkpoint(self, size):
            def covered():
                with self.rpc() as rpc:
                    status = rpc.audit.status()
                return status["uploaded_size"] >= size and status
            return wait_for(covered, timeout=20, what=f"a checkpoint in WORM at size {size}")

    return Audit()


def test_each_signed_event_is_appended_once(audit, platform):
    events = signed_events(platform, 3)
    audit.feed(*(e.to_wire() for e in events))
    audit.feed(events[0].to_wire(), events[2].to_wire())  # redelivered
    assert audit.count("entries") == 3
    with audit.rpc() as rpc:
        [entry] = rpc.audit.history(events[1].data["document_id"])
    assert entry["index"] == 1 and entry["event_id"] == events[1].event_id
    assert entry["data"]["n"] == 1


def tampered(event):
    wire = event.to_wire()
    wire["data"] = {**wire["data"], "n": 999}  # content changed after signing
    return wire


@pytest.mark.parametrize("make_payload, reason", [
    (lambda e: {**e.to_wire(), "signature": None}, "is unsigned"),
    (tampered, "does not verify"),
    (lambda e: {**e.to_wire(), "producer": "routing"}, "no trusted key"),
    (lambda e: {"hello": "world"}, "event_id"),
])
def test_bad_events_are_quarantined_with_an_alert_never_appended(audit, platform,
                                                                  make_payload, reason):
    [event] = signed_events(platform, 1)
    audit.feed(make_payload(event))
    assert audit.count("entries") == 0
    assert audit.count("quarantine") == 1
    with audit.rpc() as rpc:
        status = rpc.audit.status()
    assert status["quarantined"] == 1
    assert status["alerts"][0]["kind"] == "event_quarantined"
    assert reason in status["alerts"][0]["detail"]


def test_checkpoints_are_signed_stored_under_worm_and_prove_inclusion(audit, platform):
    from services.audit.log import TransparencyLog
    from shared.db import Database

    events = signed_events(platform, 7)
    # Hold the checkpointers' turn while feeding: on a loaded machine the seven
    # appends can span a 0.5 s tick, which would checkpoint (correctly) at 4 or 6.
    holder = TransparencyLog(Database(platform.pg_dsn, "audit"))
    try:
        with holder.checkpoint_turn() as mine:
            assert mine
            audit.feed(*(e.to_wire() for e in events))
    finally:
        holder.db.close()
    audit.wait_checkpoint(7)
    with audit.rpc() as rpc:
        checkpoint = rpc.audit.checkpoint()
        proof = rpc.audit.inclusion_proof(events[4].event_id)
    verifier = note.parse_verifier_key(checkpoint["verifier_key"])
    verifier.verify(checkpoint["note"])
    origin, size, root = note.parse_checkpoint(note.parse_note(checkpoint["note"])[0])
    assert size == 7 and proof["tree_size"] == 7 and proof["leaf_index"] == 4
    merkle.verify_inclusion(merkle.leaf_hash(base64.b64decode(proof["leaf_entry"])), 4, 7,
                            [base64.b64decode(h) for h in proof["path"]], root)

    store = platform.object_store()
    keys = store.keys("audit/")
    assert keys == ["audit/checkpoints/00000000000000000007.note",
                    "audit/leaves/00000000000000000000-00000000000000000007.bin"]
    assert store.get_bytes(keys[0]).decode() == checkpoint["note"]
    version = store.client.stat_object(bucket_name=store.bucket, object_name=keys[0]).version_id
    with pytest.raises(Exception, match="AccessDenied"):
        store.delete(keys[0], version_id=version)  # the retention lock holds


def test_consistency_between_two_checkpoints_verifies(audit, platform):
    events = signed_events(platform, 10)
    audit.feed(*(e.to_wire() for e in events[:4]))
    audit.wait_checkpoint(4)
    with audit.rpc() as rpc:
        first = rpc.audit.checkpoint()
    audit.feed(*(e.to_wire() for e in events[4:]))
    audit.wait_checkpoint(10)
    with audit.rpc() as rpc:
        second = rpc.audit.checkpoint()
        proof = rpc.audit.consistency_proof(4, 10)
    roots = [note.parse_checkpoint(note.parse_note(c["note"])[0])[2] for c in (first, second)]
    merkle.verify_consistency(4, 10, roots[0], roots[1],
                              [base64.b64decode(h) for h in proof["path"]])


def test_the_applications_role_cannot_change_or_remove_log_rows(audit, platform):
    audit.feed(*(e.to_wire() for e in signed_events(platform, 2)))
    role_dsn = platform.pg_dsn
    with psycopg.connect(role_dsn, autocommit=True,
                         options="-c search_path=audit -c role=lienthong_audit_app") as conn:
        for sql in ("UPDATE entries SET actor_user = 'someone else'",
                    "DELETE FROM entries", "TRUNCATE entries", "DELETE FROM nodes",
                    "UPDATE checkpoints SET note = ''"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    # Even the owner, acting normally, meets the append-only triggers.
    with psycopg.connect(role_dsn, autocommit=True, options="-c search_path=audit") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("DELETE FROM entries")
    assert audit.count("entries") == 2


def superuser_tamper(platform, *statements):
    """A database superuser bypassing the triggers: what the verifier must catch."""
    with psycopg.connect(platform.pg_dsn, autocommit=True,
                         options="-c search_path=audit") as conn:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            for sql in statements:
                conn.execute(sql)


EDIT = ("UPDATE entries SET leaf_entry = convert_to(replace(convert_from(leaf_entry, 'UTF8'),"
        " 'clerk3', 'clerk9'), 'UTF8') WHERE idx = 3",)
DELETE = ("DELETE FROM entries WHERE idx = 3",)
DELETE_RENUMBER = ("DELETE FROM entries WHERE idx = 3",
                   "UPDATE entries SET idx = idx - 1 WHERE idx > 3")
INSERT = ("UPDATE entries SET idx = idx + 100 WHERE idx >= 3",
          "UPDATE entries SET idx = idx - 99 WHERE idx >= 103",
          "INSERT INTO entries SELECT 3, gen_random_uuid(), producer, event_type, stream_id,"
          " document_id, occurred_at, actor_user, actor_agency, actor_role, leaf_entry,"
          " appended_at FROM entries WHERE idx = 0")
# Replays read the index columns, not the leaf: verify holds each to its leaf.
COLUMN_TYPE = ("UPDATE entries SET event_type = 'DocumentSigned' WHERE idx = 3",)
COLUMN_ACTOR = ("UPDATE entries SET actor_user = 'clerk9' WHERE idx = 3",)
COLUMN_TIME = ("UPDATE entries SET occurred_at = occurred_at - interval '1 day' WHERE idx = 3",)
REORDER = ("UPDATE entries SET idx = 1000 WHERE idx = 3",
           "UPDATE entries SET idx = 3 WHERE idx = 4",
           "UPDATE entries SET idx = 4 WHERE idx = 1000")


@pytest.mark.parametrize("statements, first_bad", [
    (EDIT, 3), (DELETE, 3), (DELETE_RENUMBER, 3), (INSERT, 3), (REORDER, 3),
    (COLUMN_TYPE, 3), (COLUMN_ACTOR, 3), (COLUMN_TIME, 3),
])
def test_the_verifier_names_the_first_tampered_entry(audit, platform, statements, first_bad):
    audit.feed(*(e.to_wire() for e in signed_events(platform, 8)))
    audit.wait_checkpoint(8)
    with audit.rpc() as rpc:
        clean = rpc.audit.verify()
    assert clean["ok"] and clean["entries"] == 8 and clean["covered"] == 8, clean

    superuser_tamper(platform, *statements)
    with audit.rpc() as rpc:
        report = rpc.audit.verify()
    assert not report["ok"]
    assert report["first_problem"]["index"] == first_bad, report


def test_an_auditor_only_reads(audit, platform):
    client = Client(platform)
    with client.rpc(client.token("clerk")) as rpc:
        for call in (lambda: rpc.audit.history("6f1c2a7e-0000-4000-8000-000000000001"),
                     rpc.audit.verify, rpc.audit.status, rpc.audit.checkpoint):
            with pytest.raises(Forbidden):
                call()


def test_when_checkpoints_cannot_be_stored_events_still_enter_and_the_gap_is_alarmed(
        audit, platform, run_container):
    dependency = _audit_dependency(run_container)
    working_objects = dependency.objects
    broken = _BrokenStore()
    dependency.checkpointer.objects = broken
    events = signed_events(platform, 5)
    audit.feed(*(e.to_wire() for e in events[:3]))
    time.sleep(1.5)  # a few checkpoint ticks fail
    with audit.rpc() as rpc:
        status = rpc.audit.status()
    assert status["size"] == 3 and status["uploaded_size"] == 0
    assert status["entries_not_in_worm"] == 3
    assert any(a["kind"] == "checkpoint_upload_failed" for a in status["alerts"])

    dependency.checkpointer.objects = working_objects  # storage is back
    audit.feed(*(e.to_wire() for e in events[3:]))
    status = audit.wait_checkpoint(5)
    assert status["entries_not_in_worm"] == 0
    with audit.rpc() as rpc:
        assert rpc.audit.verify()["ok"]


class _BrokenStore:
    def put_locked(self, key, data, retain_until):
        raise ConnectionError("object storage unreachable")


def _audit_dependency(run_container):
    from services.audit.dependencies import AuditLog

    for container in run_container.started:
        for dependency in container.dependencies:
            if isinstance(dependency, AuditLog):
                return dependency
    raise LookupError("no running audit container")


def test_a_witness_cosigns_checkpoints_that_extend_the_last_it_saw(run_container, platform):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from services.audit.witness import Witness

    witness_signer = note.CosignatureSigner("archive.test/witness", Ed25519PrivateKey.generate())
    signer_for(platform)
    run_container(AuditService, WITNESS_KEYS=witness_signer.verifier().key_string())
    container = run_container.started[-1]
    client = Client(platform)
    events = signed_events(platform, 9)

    def feed(batch):
        with entrypoint_hook(container, "on_docs_event") as handle:
            for e in batch:
                handle(e.to_wire())

    def checkpoint_at(size):
        def ready():
            with client.rpc(client.token("auditor")) as rpc:
                c = rpc.audit.checkpoint()
            return c["size"] == size and c
        return wait_for(ready, what=f"checkpoint {size}")

    feed(events[:3])
    first = checkpoint_at(3)
    witness = Witness(witness_signer, note.parse_verifier_key(first["verifier_key"]))
    with client.rpc(client.token("auditor")) as rpc:
        rpc.audit.add_cosignature(witness.cosign(first["note"], []))
        feed(events[3:])
        second = checkpoint_at(9)
        path = [base64.b64decode(h) for h in rpc.audit.consistency_proof(3, 9)["path"]]
        assert rpc.audit.add_cosignature(witness.cosign(second["note"], path)) == \
            {"size": 9, "witness": "archive.test/witness"}
        cosigned = rpc.audit.checkpoint()["note"]
        witness_signer.verifier().verify(cosigned)
        note.parse_verifier_key(first["verifier_key"]).verify(cosigned)
        # A note signed by someone else is refused.
        stranger = note.NoteSigner("stranger", Ed25519PrivateKey.generate())
        from shared.errors import ValidationFailed
        with pytest.raises(ValidationFailed):
            rpc.audit.add_cosignature(note.add_signature(second["note"], stranger))


DECISION = "12/QĐ-UBND ngày 01/12/2026"
REASON = "Văn bản đã bị thu hồi; hủy nội dung theo quyết định của Chủ tịch UBND tỉnh"


def document_events(platform, document_id, types, agency=PROVINCE):
    """Signed docs events about one document, its stream's versions 1, 2, ..."""
    signer = signer_for(platform)
    return [signer.sign(new_event(t, {"document_id": document_id, "subject": f"nội dung {i}"},
                                  actor=Actor("van.thu", agency, "clerk"), producer="docs",
                                  stream_id=f"document-{document_id}").at(i + 1))
            for i, t in enumerate(types)]


def erasure_order(platform, document_id, decision=DECISION, reason=REASON):
    """The gateway's order as its outbox publishes it: signed with the gateway's key."""
    from services.gateway import domain as gateway

    event = gateway.data_erasure_ordered(Actor("van.hanh", PROVINCE, "operator"),
                                         document_id, decision, reason)
    return signer_for(platform, "gateway").sign(event.at(1))


def test_an_erasure_order_destroys_the_documents_earlier_data_and_keeps_every_proof(
        audit, platform):
    """The operator's order (gateway's DocumentDataErasureOrdered), appended,
    destroys in the same transaction the data of the document's earlier entries:
    no other document's, not the order's own (its decision and reason stay), not
    what comes after it. Every proof, the verification and the offline evidence
    bundle hold; a repeat delivery changes nothing; a second order keeps the first's."""
    from services.audit.offline import verify_bundle

    document_id, other = "6f1c2a7e-0000-4000-8000-00000000e001", \
        "6f1c2a7e-0000-4000-8000-00000000e002"
    earlier = document_events(platform, document_id, ["DocumentRegistered",
                                                      "DocumentIssued", "DocumentSubmitted"])
    [elsewhere] = document_events(platform, other, ["DocumentRegistered"])
    order = erasure_order(platform, document_id)
    [later] = [signer_for(platform).sign(new_event(
        "DocumentStateChanged", {"document_id": document_id, "state": "recalled"},
        actor=Actor("van.thu", PROVINCE, "clerk"), producer="docs",
        stream_id=f"document-{document_id}").at(4))]
    audit.feed(*(e.to_wire() for e in earlier + [elsewhere]))
    audit.wait_checkpoint(4)  # the data goes after it is checkpointed and in WORM storage
    subject = ("SELECT subject FROM dashboard_sent WHERE document_id = %s", (document_id,))
    wait_for(lambda: query(platform.pg_dsn, "audit", *subject) == [("nội dung 1",)],
             timeout=20, what="the dashboard to copy the subject")
    audit.feed(order.to_wire(), handler="on_gateway_event")
    assert query(platform.pg_dsn, "audit", *subject) == [(None,)]  # forgotten with the data
    audit.feed(later.to_wire())
    assert audit.count("entries") == 6 and audit.count("payloads") == 3
    audit.feed(order.to_wire(), handler="on_gateway_event")  # delivered again
    assert audit.count("entries") == 6 and audit.count("payloads") == 3
    audit.wait_checkpoint(6)

    with audit.rpc() as rpc:
        history = rpc.audit.history(document_id)
        report = rpc.audit.verify()
        bundle = rpc.audit.evidence_bundle(document_id)
        status = rpc.audit.status()
        [kept] = rpc.audit.history(other)
    assert [e["event_type"] for e in history] == [
        "DocumentRegistered", "DocumentIssued", "DocumentSubmitted",
        "DocumentDataErasureOrdered", "DocumentStateChanged"]
    for entry in history[:3]:
        assert entry["data"] is None and len(entry["data_sha256"]) == 64, entry
    assert history[3]["data"] == {"document_id": document_id, "decision": DECISION,
                                  "reason": REASON}
    assert history[3]["producer"] == "gateway" and history[3]["actor"]["role"] == "operator"
    assert history[4]["data"]["state"] == "recalled"
    assert kept["data"]["subject"] == "nội dung 0"
    assert report["ok"], report
    offline = verify_bundle(bundle, trusted_log_key=status["verifier_key"])
    assert offline.ok, offline.render()
    assert [e["data_status"] for e in offline.events] == ["destroyed"] * 3 + [
        "present and matches"] * 2

    # A second order (another decision) reaches what came since, never the first order.
    audit.feed(erasure_order(platform, document_id, "15/QĐ-UBND ngày 03/12/2026",
                             "Hủy tiếp").to_wire(), handler="on_gateway_event")
    with audit.rpc() as rpc:
        again = rpc.audit.history(document_id)
    assert [e["data"] is None for e in again] == [True, True, True, False, True, False]
    assert again[3]["data"]["decision"] == DECISION


def test_the_applications_role_may_erase_only_through_a_recorded_order(audit, platform):
    """No DELETE on the data for the app role; the erasure function refuses an
    event that is not an order, and nobody else (PUBLIC) may call it."""
    [event] = document_events(platform, "6f1c2a7e-0000-4000-8000-00000000e003",
                              ["DocumentRegistered"])
    audit.feed(event.to_wire())
    with psycopg.connect(platform.pg_dsn, autocommit=True,
                         options="-c search_path=audit -c role=lienthong_audit_app") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM payloads")
        with pytest.raises(psycopg.errors.NoDataFound, match="no erasure order"):
            conn.execute("SELECT erase_document_data(%s)", (event.event_id,))
    assert audit.count("payloads") == 1
    assert scalar(platform.pg_dsn, "audit",
                  "SELECT has_function_privilege('public', 'erase_document_data(uuid)',"
                  " 'EXECUTE')") is False
    assert scalar(platform.pg_dsn, "audit",
                  "SELECT prosecdef AND %s = ANY(proconfig) FROM pg_proc"
                  " WHERE proname = 'erase_document_data'",
                  ("search_path=audit, pg_temp",)) is True


def test_when_checkpoints_cannot_be_signed_events_still_enter_and_the_next_one_covers_them(
        audit, platform, run_container):
    dependency = _audit_dependency(run_container)
    real_signer = dependency.checkpointer.signer

    class SignerDown:
        def sign(self, body):
            raise ConnectionError("the signing token does not answer")

    dependency.checkpointer.signer = SignerDown()
    events = signed_events(platform, 4)
    audit.feed(*(e.to_wire() for e in events[:2]))
    time.sleep(1.5)
    with audit.rpc() as rpc:
        status = rpc.audit.status()
    assert status["size"] == 2 and status["checkpoint_size"] == 0
    assert status["entries_not_checkpointed"] == 2
    assert any(a["kind"] == "checkpoint_signing_failed" for a in status["alerts"])

    dependency.checkpointer.signer = real_signer
    audit.feed(*(e.to_wire() for e in events[2:]))
    status = audit.wait_checkpoint(4)
    assert status["checkpoint_size"] == 4 and status["entries_not_checkpointed"] == 0


def test_one_audit_process_at_a_time_checkpoints(audit, platform):
    """Two checkpointers reading the same last upload would store overlapping WORM
    leaf ranges (0-10 and 0-12), each upload repeating the other's work: several
    audit processes take turns (a PostgreSQL advisory lock)."""
    from services.audit.log import TransparencyLog
    from shared.db import Database

    first, second = (TransparencyLog(Database(platform.pg_dsn, "audit")) for _ in range(2))
    with first.checkpoint_turn() as mine:
        with second.checkpoint_turn() as theirs:
            assert (mine, theirs) == (True, False)
    with second.checkpoint_turn() as theirs:  # given back at the end of the turn
        assert theirs
    # The running service checkpoints between the turns taken here, and verifies.
    audit.feed(*[e.to_wire() for e in signed_events(platform, 5)])
    audit.wait_checkpoint(5)
    with audit.rpc() as rpc:
        assert rpc.audit.verify()["ok"]
    for log in (first, second):
        log.db.close()


def test_a_tsa_that_is_down_leaves_the_checkpoint_unstamped_and_the_next_is_stamped(
        run_container, platform, tmp_path):
    """RFC 3161 over HTTP to a real TSA (the platform's development one, started
    here so the test can take it down): while it is down the log goes on and
    says the checkpoint is unstamped; the next checkpoint is stamped, and
    openssl verifies that stamp against the TSA's root."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives.serialization import Encoding

    from services.audit.offline import verify_bundle
    from services.signing import pki, tsa
    from tests.support.openssl_ts import openssl_ts_verify

    now = datetime.now(UTC)
    root = pki.create_root_ca("TSA Root (audit it)", now - timedelta(days=1), now + timedelta(days=30))
    server = tsa.TsaServer(tsa.TimeStampAuthority(tsa.issue_tsa_cert(root)))
    url = server.start()
    server.stop()  # the TSA is down when the first checkpoint is made
    signer_for(platform)
    container = run_container(AuditService, TSA_URL=url, TSA_TIMEOUT_SECONDS=2)
    client = Client(platform)
    auditor = client.token("auditor", agency="000.00.00.G22")
    events = signed_events(platform, 5)

    def feed(batch):
        with entrypoint_hook(container, "on_docs_event") as handle:
            for e in batch:
                handle(e.to_wire())

    def uploaded(size):
        def ready():
            with client.rpc(auditor) as rpc:
                status = rpc.audit.status()
            return status["uploaded_size"] >= size and status["checkpoint_size"] == size and status
        return wait_for(ready, timeout=20, what=f"the checkpoint at size {size} in WORM")

    feed(events[:3])
    status = uploaded(3)
    with client.rpc(auditor) as rpc:
        first = rpc.audit.checkpoint()
    assert status["checkpoint_timestamp"] == "unstamped"
    assert status["checkpoint_timestamp_label"].startswith("CHƯA đóng dấu thời gian")
    assert first["timestamp"]["status"] == "unstamped"
    assert first["timestamp"]["label"].startswith("CHƯA đóng dấu thời gian")
    assert any(a["kind"] == "checkpoint_timestamp_failed" and "did not answer" in a["detail"]
               for a in status["alerts"])

    server.start(int(url.rsplit(":", 1)[1].split("/")[0]))  # the TSA is back
    try:
        feed(events[3:])
        status = uploaded(5)
        with client.rpc(auditor) as rpc:
            second = rpc.audit.checkpoint()
            earlier = rpc.audit.checkpoint(first["size"])
            bundle = rpc.audit.evidence_bundle(events[4].data["document_id"])
    finally:
        server.stop()
    stamp = second["timestamp"]
    assert status["checkpoint_timestamp"] == "stamped" and stamp["status"] == "stamped"
    assert status["checkpoint_timestamp_label"].startswith("Đã đóng dấu thời gian")
    assert earlier["timestamp"]["status"] == "unstamped"  # said so for good
    token = base64.b64decode(stamp["token"])
    root_pem = root.certificate.public_bytes(Encoding.PEM).decode("ascii")
    done = openssl_ts_verify(tmp_path, stamp["signed_note"].encode("utf-8"), token, root_pem)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    keys = platform.object_store().keys("audit/timestamps/")
    assert keys == ["audit/timestamps/00000000000000000005.tst"]
    assert platform.object_store().get_bytes(keys[0]) == token
    assert bundle["checkpoint_timestamp"] == stamp
    report = verify_bundle(bundle, trusted_log_key=second["verifier_key"])
    assert report.ok, report.render()
    assert next(c for c in report.checks if c.name == "checkpoint time stamp").ok


def test_a_replay_from_the_logs_columns_gives_what_a_fold_of_the_events_gives(audit, platform):
    """The service replays from the index columns (``TransparencyLog.facts``); the
    same events folded as envelopes must give the same states, now and at a moment."""
    docs = signed_events(platform, 3)
    signer = signer_for(platform, "signing")
    leader = Actor("leader1", PROVINCE, "leader")
    later = [signer.sign(new_event(kind, data, actor=leader, producer="signing",
                                   stream_id=f"sig-{i}").at(1, i + 1))
             for i, (kind, data) in enumerate([
                 ("DocumentSigned", {"document_id": docs[0].data["document_id"],
                                     "key_id": "k" * 16, "sha256": "ab" * 32}),
                 ("DocumentReturned", {"document_id": docs[1].data["document_id"],
                                       "comment": "sửa trích yếu"}),
             ])]
    audit.feed(*(e.to_wire() for e in docs))
    audit.feed(*(e.to_wire() for e in later), handler="on_signing_event")
    events = list(enumerate(docs + later))
    moment = docs[2].occurred_at  # after the first three, before the signature
    with audit.rpc() as rpc:
        now, then = rpc.audit.replay(), rpc.audit.replay(at=moment.isoformat())
    assert now["documents"] == [s.to_dict() for _, s in sorted(replay.fold(events).items())]
    assert then["documents"] == [
        s.to_dict() for _, s in sorted(replay.state_at(events, moment).items())]
    assert [d["signed"] for d in now["documents"]] == [True, False, False]
    assert [d["signed"] for d in then["documents"]] == [False, False, False]
