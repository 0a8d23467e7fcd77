"""state_summary: what docs, signing and routing each know, for the audit's replay.

Each service runs in this process; events are fed to its consumers with
``entrypoint_hook`` and the summaries are read over RPC, as an auditor.
"""

import io

import psycopg
import pytest
from nameko.testing.services import entrypoint_hook

from services.audit.replay import fold, reconcile
from services.docs.service import DocsService
from services.routing.service import RoutingService
from services.signing.domain import document_finalized
from services.signing.service import SigningService
from services.docs.domain import document_issued
from shared.envelope import Actor, new_event, system_actor, utc_now
from shared.objectstore import StoredObject
from shared.errors import Forbidden
from tests.support.client import DISTRICT_1, DISTRICT_2, PROVINCE, Client, wait_for
from tests.support.db import query
from tests.support.events import signed
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.integration

DOC_A = "6f1c2a7e-0000-4000-8000-00000000000a"
DOC_B = "6f1c2a7e-0000-4000-8000-00000000000b"
SHA = "ab" * 32
CLERK = Actor(f"clerk@{PROVINCE}", PROVINCE, "clerk")
LEADER = Actor(f"leader@{PROVINCE}", PROVINCE, "leader")


def issued_event(document_id, recipients=(DISTRICT_2, DISTRICT_1), sha=SHA, number=1,
                 urgency=1):
    """The docs service's ``DocumentIssued``, as routing receives it."""
    stored = StoredObject(f"documents/{document_id}/main.pdf", sha, 1, "application/pdf")
    document = {
        "document_id": document_id, "issuing_agency": PROVINCE, "state": "sealed",
        "subject": "Chỉ thị", "document_type": "CT", "urgency": urgency, "secrecy": 0,
        "steering_type": 0, "due_date": None, "response_for": [], "appendices": [],
        "signer": {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân", "position": "Chủ tịch",
                   "full_name": "Nguyễn Văn An"},
        "page_count": 1, "language": "vi", "amends": None, "replaces": None,
        "recipients": list(recipients), "file": stored.to_dict(), "attachments": [],
        "agency_abbreviation": "UBND", "drafting_unit_abbreviation": None}
    return document_issued(document, number, "regular", utc_now(), CLERK).at(1, 1)


def submitted_event(document_id, file=None):
    file = file or {"key": "k", "sha256": SHA, "size": 1, "version_id": None}
    return new_event("DocumentSubmitted", {
        "document_id": document_id, "issuing_agency": PROVINCE, "state": "submitted",
        "signer_user": LEADER.user_id, "round": 1, "sha256": file["sha256"],
        "signer": {"competence": "", "position": "Chủ tịch", "full_name": "Nguyễn Văn An"},
        "file": file, "attachments": []},
        actor=CLERK, producer="docs", stream_id=f"document-{document_id}").at(2, 2)


def sealed_event(document_id, sha=SHA, agency=PROVINCE):
    """signing's ``DocumentFinalized``: both signatures over the file ``sha``."""
    sealed = {"key": f"documents/{document_id}/sealed.pdf", "sha256": sha, "size": 1,
              "content_type": "application/pdf", "version_id": None}
    certificate = {"serial": "1f", "subject": "CN=UBND", "issuer": "CN=Root", "sha256": "12" * 32}
    return document_finalized({"document_id": document_id, "issuing_agency": agency,
                               "sealed_file": sealed}, "01/CT-UBND", [], {}, {}, certificate,
                              None).at(1, 1)


def stored_pdf(platform, document_id, title="du thao"):
    """A real PDF in the test's bucket, as docs stores a registered file."""
    pdf = make_pdf(title)
    return platform.object_store().put_stream(f"documents/{document_id}/main.pdf",
                                              io.BytesIO(pdf), max_size=len(pdf)).to_dict()


def consignment_event(document_id, recipients):
    return new_event("ConsignmentSent", {
        "document_id": document_id, "consignment_id": f"{document_id}:initial",
        "sender": PROVINCE, "addressed": {"agencies": recipients}, "recipients": recipients,
        "new_recipients": recipients, "urgency": 1},
        actor=system_actor("routing"), producer="routing",
        stream_id=f"delivery-{document_id}").at(1, 1)


def summary_as(client, service, role):
    with client.rpc(client.token(role)) as rpc:
        return getattr(rpc, service).state_summary()


def test_docs_state_summary(run_container, platform):
    container = run_container(DocsService)
    client = Client(platform)
    ids = []
    for _ in range(2):
        response = client.register(client.token("clerk"), make_pdf())
        assert response.status_code == 201, response.text
        ids.append((response.json()["document_id"], response.json()["file"]["sha256"]))
    (first, first_sha), (second, second_sha) = ids
    # Issued (the issue itself is tested e2e), then sent to both districts.
    with psycopg.connect(platform.pg_dsn, options="-c search_path=docs",
                         autocommit=True) as conn:
        conn.execute("UPDATE documents SET state = 'issued', number = 1, year = 2026,"
                     " number_notation = '01/CT-UBND', issued_at = now()"
                     " WHERE document_id = %s", (first,))
    with entrypoint_hook(container, "on_consignment_sent") as handle:
        handle(signed(platform, consignment_event(first, [DISTRICT_1, DISTRICT_2])))

    summary = summary_as(client, "docs", "auditor")
    assert summary == sorted([
        {"document_id": first, "issuing_agency": PROVINCE,
         "recipients": [DISTRICT_1, DISTRICT_2], "sha256": first_sha, "state": "sent",
         "number_notation": "01/CT-UBND", "delivered_to": [DISTRICT_1, DISTRICT_2]},
        {"document_id": second, "issuing_agency": PROVINCE,
         "recipients": [DISTRICT_1, DISTRICT_2], "sha256": second_sha, "state": "draft",
         "number_notation": None, "delivered_to": []},
    ], key=lambda row: row["document_id"])

    with pytest.raises(Forbidden):
        summary_as(client, "docs", "clerk")


def test_signing_state_summary(run_container, platform):
    container = run_container(SigningService)
    client = Client(platform)
    file_a, file_b = stored_pdf(platform, DOC_A), stored_pdf(platform, DOC_B, "khac")
    with entrypoint_hook(container, "on_document_submitted") as handle:
        handle(signed(platform, submitted_event(DOC_B, file_b)))
        handle(signed(platform, submitted_event(DOC_A, file_a)))
    with client.rpc(client.token("leader")) as rpc:
        approved = rpc.signing.sign_document(DOC_A)

    assert summary_as(client, "signing", "auditor") == [
        {"document_id": DOC_A, "issuing_agency": PROVINCE,
         "sha256": approved["signed_file"]["sha256"], "signed": True, "sealed": False,
         "key_id": approved["key_id"]},
        {"document_id": DOC_B, "issuing_agency": PROVINCE, "sha256": file_b["sha256"],
         "signed": False, "sealed": False, "key_id": None},
    ]
    assert approved["signed_file"]["sha256"] != file_a["sha256"]  # a new, signed PDF
    with pytest.raises(Forbidden):
        summary_as(client, "signing", "clerk")


def test_routing_state_summary(run_container, platform):
    container = run_container(RoutingService)
    client = Client(platform)
    doc_c = "6f1c2a7e-0000-4000-8000-00000000000c"
    with entrypoint_hook(container, "on_document_issued") as handle:
        handle(signed(platform, issued_event(DOC_A)))
        handle(signed(platform, issued_event(DOC_B, number=2)))
        handle(signed(platform, issued_event(doc_c, number=3)))  # never signed
    with entrypoint_hook(container, "on_document_finalized") as handle:
        handle(signed(platform, sealed_event(DOC_A)))
        # Sealed over another file than the one issued: refused.
        handle(signed(platform, sealed_event(DOC_B, sha="cd" * 32)))

    assert summary_as(client, "routing", "auditor") == [
        {"document_id": DOC_A, "delivered_to": [DISTRICT_1, DISTRICT_2], "refused": None},
        {"document_id": DOC_B, "delivered_to": [],
         "refused": "the agency's signature covers a different file than the one issued"},
        {"document_id": doc_c, "delivered_to": [], "refused": None},
    ]
    with pytest.raises(Forbidden):
        summary_as(client, "routing", "clerk")


def test_summaries_of_a_real_flow_reconcile_with_a_replay_of_the_events(run_container,
                                                                        platform):
    """All three services over the broker; their events, replayed, agree with them."""
    for service in (DocsService, SigningService, RoutingService):
        run_container(service)
    client = Client(platform)
    issued = client.issue(client.token("clerk"), client.token("leader"), make_pdf())
    document_id = issued["document_id"]
    assert issued["number_notation"] == "01/CT-UBND"

    def docs_has_both_deliveries():
        [row] = summary_as(client, "docs", "auditor")
        return row["delivered_to"] == [DISTRICT_1, DISTRICT_2]

    wait_for(docs_has_both_deliveries, what="docs to record both deliveries")

    # A stand-in for the audit log: every service's events, one after the other.
    log = []
    for schema in ("docs", "signing", "routing"):
        log += [envelope for (envelope,) in query(
            platform.pg_dsn, schema, "SELECT envelope FROM events ORDER BY position")]
    replayed = fold(enumerate(log))
    reported = {service: summary_as(client, service, "auditor")
                for service in ("docs", "signing", "routing")}
    assert reconcile(replayed, reported) == []
    state = replayed[document_id]
    assert state.signed and state.delivered_to == (DISTRICT_1, DISTRICT_2)
    assert reported["signing"][0]["key_id"] == state.key_id


def test_the_audit_reconciles_to_nothing_in_the_middle_of_a_working_day(run_container,
                                                                        platform):
    """A draft, a submitted and a returned document beside an issued one: the
    audit's own reconcile (log against the three services, over RPC) reads 0
    once every event is in the log, not only when every document is issued."""
    from services.audit.service import AuditService

    for service in (DocsService, SigningService, RoutingService, AuditService):
        run_container(service)
    client = Client(platform)
    clerk, leader = client.token("clerk"), client.token("leader")
    leader_user = client.actor(leader).user_id

    def register(title):
        response = client.register(clerk, make_pdf(title))
        assert response.status_code == 201, response.text
        return response.json()["document_id"]

    draft, waiting, returned = register("nháp"), register("chờ ký"), register("trả lại")
    with client.rpc(clerk) as rpc:
        rpc.docs.submit(waiting, leader_user)
        rpc.docs.submit(returned, leader_user)
    with client.rpc(leader) as rpc:
        wait_for(lambda: rpc.signing.return_document(returned, "Bổ sung căn cứ"),
                 what="signing to receive the submission")
    issued = client.issue(clerk, leader, make_pdf("ban hành"))["document_id"]

    def everything_logged():
        produced = sum(len(query(platform.pg_dsn, schema, "SELECT 1 FROM events"))
                       for schema in ("docs", "signing", "routing"))
        with client.rpc(client.token("auditor")) as rpc:
            return rpc.audit.status()["size"] == produced

    wait_for(lambda: any(row["document_id"] == issued and row["delivered_to"]
                         for row in summary_as(client, "docs", "auditor")),
             what="docs to learn of the issued document's deliveries")
    wait_for(everything_logged, timeout=30, what="the log to hold every event")
    with client.rpc(client.token("auditor")) as rpc:
        states = {s["document_id"]: s for s in rpc.audit.replay()["documents"]}
        reconciled = rpc.audit.reconcile()
    assert {d: states[d]["submitted"] for d in (draft, waiting, returned, issued)} == {
        draft: False, waiting: True, returned: True, issued: True}
    assert not states[waiting]["signed"] and states[issued]["delivered_to"]
    assert reconciled == {"documents": 4, "erased_documents": 0, "differences": []}
