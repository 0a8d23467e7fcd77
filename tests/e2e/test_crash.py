"""SIGKILL at the worst moments; afterwards every event is applied exactly once.

The kills are real SIGKILLs taken at named points in the code (see
``shared/failpoints.py``), so each test hits its window every time.
"""

import collections
import contextlib
import os

import pytest

from tests.support.client import DISTRICT_1, DISTRICT_2, PROVINCE, wait_for
from tests.support.db import query, scalar
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

# Registered, submitted, signed, numbered, sealed, issued, finalized (manifest
# signed), sent, delivered to and registered at two districts; docs follows the
# signature (numbering it in the same transaction), the seal and the sending.
FLOW = collections.Counter({
    "DocumentRegistered": 1, "DocumentSubmitted": 1, "DocumentSigned": 1,
    "DocumentNumbered": 1, "DocumentSealed": 1,
    "DocumentFinalized": 1,
    "DocumentStateChanged": 3, "DocumentIssued": 1, "ConsignmentSent": 1,
    "DocumentDelivered": 2, "IncomingRegistered": 2})


def audit_counts(client, document_id):
    with client.rpc(client.token("auditor", agency="000.00.00.G22")) as rpc:
        return collections.Counter(e["event_type"] for e in rpc.audit.history(document_id))


def log_of(platform, name, start):
    with open(os.path.join(platform.log_dir, f"{name}.{start}.log"), encoding="utf-8") as fh:
        return fh.read()


def assert_applied_exactly_once(platform, client, document_id):
    dsn = platform.pg_dsn
    wait_for(lambda: audit_counts(client, document_id) == FLOW, timeout=40,
             what="the audit log to hold the whole flow")
    assert audit_counts(client, document_id) == FLOW
    assert scalar(dsn, "signing", "SELECT count(*) FROM documents") == 1
    assert sorted(r[0] for r in query(dsn, "routing", "SELECT recipient FROM inbox_items")) == \
        [DISTRICT_1, DISTRICT_2]
    assert scalar(dsn, "routing", "SELECT count(*) FROM events"
                  " WHERE event_type = 'DocumentDelivered'") == 2
    # docs learnt of each delivery once, and the log verifies end to end.
    assert scalar(dsn, "docs", "SELECT count(*) FROM deliveries") == 2
    assert [r[0] for r in query(dsn, "docs", "SELECT arrival_number FROM incoming")] \
        == [None, None]  # both arrived once; numbered when a clerk accepts (Art. 21-22)
    assert scalar(dsn, "docs", "SELECT number FROM documents") == 1
    with client.rpc(client.token("auditor", agency="000.00.00.G22")) as rpc:
        verdict = rpc.audit.verify()
    # The flow's events and routing's seeded directory, each logged once.
    assert verdict["ok"] and verdict["entries"] == sum(FLOW.values()) + 1, verdict


def test_docs_killed_after_storing_before_publishing_loses_nothing(stack, platform, client):
    stack.start("signing", "routing", "audit")
    stack.start("docs", failpoints="outbox.before_publish")

    response = client.register(client.token("clerk"), make_pdf("crash 1"))
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]

    stack["docs"].wait_exit()
    assert stack["docs"].proc.returncode == -9  # SIGKILL, not a clean exit
    # Stored, not published: the event is in docs' table and nowhere else yet.
    assert scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM events") == 1
    assert scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM outbox_cursor") == 0
    assert audit_counts(client, document_id) == {}

    stack.start("docs")
    client.sign_seal_issue(document_id)
    assert_applied_exactly_once(platform, client, document_id)


def test_docs_killed_after_publishing_before_saving_its_cursor_publishes_again_harmlessly(
        stack, platform, client):
    stack.start()
    response = client.register(client.token("clerk"), make_pdf("crash 2"))
    document_id = response.json()["document_id"]
    wait_for(lambda: audit_counts(client, document_id) == {"DocumentRegistered": 1},
             what="the registration to be logged")
    stack["docs"].stop()
    stack.start("docs", failpoints="outbox.after_publish")
    # The submission is stored, published, and docs dies before moving its cursor
    # on: the answer to this call may or may not get out first.
    with contextlib.suppress(Exception), client.rpc(client.token("clerk"), timeout=5) as rpc:
        rpc.docs.submit(document_id, f"leader@{PROVINCE}")
    stack["docs"].wait_exit()
    assert stack["docs"].proc.returncode == -9
    submitted = scalar(platform.pg_dsn, "docs", "SELECT event_id FROM events"
                       " WHERE event_type = 'DocumentSubmitted'")
    wait_for(lambda: scalar(platform.pg_dsn, "signing", "SELECT count(*) FROM documents") == 1,
             what="signing to receive the first publication")
    assert scalar(platform.pg_dsn, "docs", "SELECT max(position) FROM outbox_cursor") == 1

    stack.start("docs")  # publishes the same event a second time
    wait_for(lambda: scalar(platform.pg_dsn, "docs",
                            "SELECT max(position) FROM outbox_cursor") == 2,
             what="the restarted relay to republish")
    with client.rpc(client.token("leader")) as rpc:
        wait_for(lambda: rpc.signing.sign_document(document_id), what="the leader to sign")
    with client.rpc(client.token("clerk")) as rpc:
        rpc.signing.seal_document(document_id)
        wait_for(lambda: rpc.docs.issue(document_id), what="docs to follow the seal")
    assert_applied_exactly_once(platform, client, document_id)
    # The second copy reached signing and its inbox turned it away.
    assert f"signing.on_document_submitted: event {submitted} already handled" in \
        log_of(platform, "signing", 1)


def test_routing_killed_after_committing_before_acking_delivers_once(stack, platform, client):
    stack.start("docs", "signing", "audit")
    stack.start("routing", failpoints="inbox.after_commit.routing.on_document_finalized")

    response = client.register(client.token("clerk"), make_pdf("crash 3"))
    document_id = response.json()["document_id"]
    client.sign_seal_issue(document_id)
    stack["routing"].wait_exit()
    assert stack["routing"].proc.returncode == -9
    # The deliveries were committed; the DocumentFinalized message was never acked.
    assert scalar(platform.pg_dsn, "routing", "SELECT count(*) FROM inbox_items") == 2

    stack.start("routing")  # the broker redelivers DocumentFinalized
    assert_applied_exactly_once(platform, client, document_id)
    wait_for(lambda: "routing.on_document_finalized: event" in log_of(platform, "routing", 2),
             what="the redelivered DocumentFinalized to meet routing's inbox")
