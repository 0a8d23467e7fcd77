"""An operator's erasure order over HTTP (issue 15): the gateway records it,
its outbox publishes it, audit destroys the document's earlier data as it
appends it; every proof and the offline evidence bundle still hold."""

import kombu
import psycopg
import pytest

from services.audit.offline import verify_bundle
from shared.envelope import Actor, new_event
from shared.topology import exchange_name
from tests.support import db
from tests.support.client import PROVINCE, wait_for
from tests.support.gateway import Api, seed_file

pytestmark = pytest.mark.e2e

USERS = [
    {"user_id": "van.hanh", "agency": PROVINCE, "role": "operator", "full_name": "Đinh Văn Hà"},
    {"user_id": "thanh.tra", "agency": "000.00.00.G22", "role": "auditor",
     "full_name": "Hoàng Văn Em"},
]
DOCUMENT = "6f1c2a7e-0000-4000-8000-00000000e101"
ORDER = {"document_id": DOCUMENT, "decision": "  12/QĐ-UBND ngày 01/12/2026 ",
         "reason": "Văn bản đã bị thu hồi; hủy nội dung theo quyết định"}


@pytest.fixture
def api(stack, platform, tmp_path):
    """The gateway and audit only: docs' events are published as docs's outbox would."""
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start("audit", "gateway")
    return Api(platform.gateway_url)


def publish_docs_events(platform, types):
    """Signed docs events about DOCUMENT on docs' exchange, where audit listens."""
    signer = platform.event_signer("docs")
    events = [signer.sign(new_event(t, {"document_id": DOCUMENT, "subject": f"nội dung {i}"},
                                    actor=Actor("van.thu", PROVINCE, "clerk"),
                                    producer="docs", stream_id=f"document-{DOCUMENT}")
                          .at(i + 1)) for i, t in enumerate(types)]
    exchange = kombu.Exchange(exchange_name("docs"), type="topic", durable=True)
    with kombu.Connection(platform.amqp_uri) as conn:
        producer = conn.Producer(serializer="json")
        for event in events:
            producer.publish(event.to_wire(), exchange=exchange, routing_key=event.event_type,
                             declare=[exchange], retry=True)
    return events


def assert_error(response, status, field):
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field, response.text


def test_an_operator_orders_a_documents_data_destroyed_with_its_legal_reason(api, platform):
    # Nothing in the log about the document yet: refused, naming it.
    assert_error(api.post("van.hanh", "/v1/audit/erasures", ORDER), 404, "document_id")
    publish_docs_events(platform, ["DocumentRegistered", "DocumentRevised"])

    def logged():
        return db.scalar(platform.pg_dsn, "audit", "SELECT count(*) FROM entries"
                         " WHERE document_id = %s", (DOCUMENT,)) == 2
    wait_for(logged, timeout=30, what="audit to log docs' events")

    # Only an operator; the decision and the reason are both required.
    assert_error(api.post("thanh.tra", "/v1/audit/erasures", ORDER), 403, "role")
    assert_error(api.post("van.hanh", "/v1/audit/erasures",
                          {k: v for k, v in ORDER.items() if k != "reason"}), 400, "reason")
    assert_error(api.post("van.hanh", "/v1/audit/erasures", {**ORDER, "decision": "   "}),
                 400, "decision")

    ordered = api.post("van.hanh", "/v1/audit/erasures", ORDER)
    assert ordered.status_code == 202, ordered.text
    answer = ordered.json()
    assert answer["decision"] == "12/QĐ-UBND ngày 01/12/2026"  # trimmed
    assert answer["ordered_by"] == "van.hanh" and answer["entries_with_data"] == 2

    def applied():
        history = api.get("thanh.tra", f"/v1/audit/documents/{DOCUMENT}/history").json()
        return len(history) == 3 and history
    history = wait_for(applied, timeout=30, what="audit to apply the order")
    assert [e["data"] for e in history[:2]] == [None, None]
    assert all(len(e["data_sha256"]) == 64 for e in history)
    assert history[2]["event_type"] == "DocumentDataErasureOrdered"
    assert history[2]["event_id"] == answer["event_id"]
    assert history[2]["data"] == {"document_id": DOCUMENT, "decision": answer["decision"],
                                  "reason": ORDER["reason"]}

    # The same order again is refused, and nothing changed.
    assert_error(api.post("van.hanh", "/v1/audit/erasures", ORDER), 409, "decision")
    assert api.get("thanh.tra", f"/v1/audit/documents/{DOCUMENT}/history").json() == history

    def covered():
        bundle = api.get("thanh.tra", f"/v1/audit/documents/{DOCUMENT}/evidence").json()
        return len(bundle.get("entries", ())) == 3 and bundle
    bundle = wait_for(covered, timeout=30, what="a checkpoint covering the order")
    status = api.get("thanh.tra", "/v1/audit/status").json()
    report = api.get("thanh.tra", "/v1/audit/verify").json()
    assert report["ok"], report
    offline = verify_bundle(bundle, trusted_log_key=status["verifier_key"])
    assert offline.ok, offline.render()
    assert [e["data_status"] for e in offline.events] == ["destroyed", "destroyed",
                                                          "present and matches"]

    # The service's own role still may not delete the data itself.
    with psycopg.connect(platform.pg_dsn, autocommit=True,
                         options="-c search_path=audit -c role=lienthong_audit_app") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM payloads")
