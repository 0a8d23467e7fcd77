"""The routing store contract, shared by its adapters' tests (memory and PostgreSQL).

Subclass :class:`RoutingStoreContract` in a ``Test...`` class and provide a
``store`` fixture. The events are made by routing's core (``domain``,
``statuses``, ``inbound``) as the use cases make them; every test uses new
document ids and agencies of its own, so a shared database is fine.
"""

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from services.routing import domain
from services.routing import statuses as st
from services.routing.commands import jsonable
from shared.envelope import Actor, new_event, system_actor

AT = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
SHA = "ab" * 32


def agency():
    """An agency code of the test's own."""
    n = uuid.uuid4().int
    return f"{n % 1000:03d}.{n // 1000 % 100:02d}.{n // 100000 % 100:02d}.H41"


def clerk(code):
    return Actor("van.thu", code, "clerk")


def issued(sender, recipients, document_id=None, urgency=2, notation=None, **changes):
    """docs' ``DocumentIssued`` as routing receives it."""
    document_id = document_id or str(uuid.uuid4())
    return new_event("DocumentIssued", {
        "document_id": document_id, "issuing_agency": sender, "state": "issued",
        "subject": "Công văn về chuyển đổi số", "document_type": "CV", "urgency": urgency,
        "secrecy": 0, "steering_type": 0, "due_date": None, "signer": {},
        "response_for": [], "appendices": [], "page_count": 1, "language": "vi",
        "amends": None, "replaces": None, "recipients": list(recipients),
        "file": {"key": f"documents/{document_id}/main.pdf", "sha256": SHA, "size": 10,
                 "content_type": "application/pdf", "version_id": "v1"},
        "attachments": [], "number": 7, "series": "regular", "year": 2026,
        "number_notation": notation or "07/CV-UBND",
        "issued_at": "2026-11-22T10:00:00+07:00", **changes},
        actor=clerk(sender), producer="docs", stream_id=f"document-{document_id}")


def finalized(issue):
    """signing's ``DocumentFinalized`` over the issued file."""
    data = issue.data
    return new_event("DocumentFinalized", {
        "document_id": data["document_id"], "agency": data["issuing_agency"],
        "number_notation": data["number_notation"],
        "sealed_file": dict(data["file"], key="sealed.pdf"), "attachments": [],
        "manifest": {}, "manifest_signature": {}, "certificate": {"sha256": "12" * 32},
        "key_id": "12" * 8}, actor=system_actor("signing"), producer="signing",
        stream_id=f"signature-{data['document_id']}")


def change_event(event_type, change, actor):
    return new_event(event_type, jsonable(change.to_dict()), actor=actor,
                     producer=domain.SERVICE, stream_id=domain.stream_of(change.document_id))


class RoutingStoreContract:
    @pytest.fixture
    def store(self):
        raise NotImplementedError("an adapter's test class provides the store fixture")

    def recorded(self, store, event, conn):
        """Where an adapter reads its own events back (PostgreSQL: the events
        table), the test class appends ``event`` as the command would."""

    def given(self, store, *events):
        with store.transaction() as conn:
            for event in events:
                self.recorded(store, event, conn)
                store.project(event, conn)

    def read(self, store, method, *args, **kwargs):
        with store.transaction() as conn:
            return getattr(store, method)(conn, *args, **kwargs)

    def delivered(self, store, recipients=None, urgency=2, at=AT):
        """A document issued, sealed and delivered: ``(issue event, recipients)``."""
        sender = agency()
        recipients = sorted(recipients or [agency(), agency()])
        issue = issued(sender, recipients, urgency=urgency)
        with store.transaction() as conn:
            store.follow(issue, "registered", conn)
            store.follow(finalized(issue), "signed", conn)
        # Recorded at ``at`` (the delivery time is the event's).
        self.given(store, *[replace(e, occurred_at=at) for e in domain.initial_delivery(
            issue.data, finalized(issue).data, recipients, set(), at, causation=issue)])
        return issue, recipients

    def test_a_consignment_projected_together_reads_as_one_projected_event_by_event(
            self, store):
        recipients = sorted([agency(), agency(), agency()])
        issue = issued(agency(), recipients)
        document_id = issue.data["document_id"]
        with store.transaction() as conn:
            store.follow(issue, "registered", conn)
            store.follow(finalized(issue), "signed", conn)
        events = [replace(e, occurred_at=AT) for e in domain.initial_delivery(
            issue.data, finalized(issue).data, recipients, set(), AT, causation=issue)]
        assert [e.event_type for e in events].count("DocumentDelivered") == 3
        with store.transaction() as conn:
            for event in events:
                self.recorded(store, event, conn)
            store.project_all(events, conn)
        assert self.read(store, "delivered_to", document_id) == set(recipients)
        copies = self.read(store, "copies", document_id)
        assert [(c.recipient, c.code) for c in copies] == [(r, st.ARRIVED) for r in recipients]
        assert [r for r, _ in self.read(store, "traces", document_id)] == recipients
        assert self.read(store, "sent", domain.initial_consignment(document_id))[
            "new_recipients"] == recipients

    def test_the_halves_of_a_first_consignment_are_kept_in_either_order(self, store):
        issue = issued(agency(), [agency()])
        document_id = issue.data["document_id"]
        with store.transaction() as conn:
            first = store.follow(finalized(issue), "signed", conn)
            assert first["registered"] is None and first["dispatched"] is False
            both = store.follow(issue, "registered", conn)
        assert both["registered"]["data"]["document_id"] == document_id
        assert both["signed"]["data"]["agency"] == issue.data["issuing_agency"]
        assert both["registered"]["event_id"] == str(issue.event_id)
        assert self.read(store, "consignment", document_id) == both
        assert self.read(store, "consignment", str(uuid.uuid4())) is None
        with pytest.raises(ValueError), store.transaction() as conn:
            store.follow(issue, "dispatched", conn)

    def test_a_first_consignment_makes_the_inbox_items_copies_and_sending(self, store):
        issue, recipients = self.delivered(store)
        document_id = issue.data["document_id"]
        assert self.read(store, "consignment", document_id)["dispatched"] is True
        assert self.read(store, "delivered_to", document_id) == set(recipients)
        assert self.read(store, "sent", domain.initial_consignment(document_id)) == {
            "document_id": document_id, "recipients": recipients,
            "new_recipients": recipients}
        assert self.read(store, "sent", f"{document_id}:other") is None
        copies = self.read(store, "copies", document_id)
        assert [(c.recipient, c.sender, c.code, c.recalled) for c in copies] == [
            (r, issue.data["issuing_agency"], st.ARRIVED, False) for r in recipients]
        assert self.read(store, "copy", document_id, recipients[0]) == copies[0]
        assert self.read(store, "copy", document_id, agency()) is None
        traces = self.read(store, "traces", document_id)
        assert [r for r, _ in traces] == recipients
        assert [hop["agency"] for hop in traces[0][1]] == [issue.data["issuing_agency"],
                                                           recipients[0]]

    def test_the_inbox_lists_urgent_first_then_newest(self, store):
        me = agency()
        old, _ = self.delivered(store, [me], urgency=2, at=AT)
        new, _ = self.delivered(store, [me], urgency=2, at=AT + timedelta(hours=1))
        urgent, _ = self.delivered(store, [me], urgency=3, at=AT - timedelta(hours=1))
        inbox = self.read(store, "inbox", me)
        assert [i["document_id"] for i in inbox] == [
            e.data["document_id"] for e in (urgent, new, old)]
        assert inbox[0]["status"] == st.ARRIVED and inbox[0]["recalled"] is False
        assert inbox[0]["sender"] == urgent.data["issuing_agency"]
        assert datetime.fromisoformat(inbox[0]["delivered_at"]) == AT - timedelta(hours=1)
        assert self.read(store, "inbox", agency()) == []

    def test_a_status_report_moves_the_copy_and_keeps_its_history(self, store):
        issue, recipients = self.delivered(store)
        document_id, me = issue.data["document_id"], recipients[0]
        copy = self.read(store, "copy", document_id, me)
        expected, change = st.report(copy, st.ACCEPTED, by_agency=me, recipient=me,
                                     at=AT + timedelta(minutes=5), user="van.thu")
        self.given(store, change_event("StatusReported", change, clerk(me)))
        assert self.read(store, "copy", document_id, me) == expected
        deadlines = {i["recipient"]: i for i in self.read(store, "for_deadlines", None)
                     if i["document_id"] == document_id}
        assert deadlines[me]["status"] == st.ACCEPTED
        assert deadlines[recipients[1]]["status"] == st.ARRIVED
        assert deadlines[me]["urgency"] == 2 and deadlines[me]["arrived_at"] == AT
        assert [i["recipient"] for i in self.read(store, "for_deadlines", me)] == [me]

    def test_a_recall_agreed_for_a_revoke_marks_the_copy_recalled(self, store):
        issue, recipients = self.delivered(store)
        document_id, sender = issue.data["document_id"], issue.data["issuing_agency"]
        requested = []
        for r in recipients:
            request, change = st.request_recall(
                self.read(store, "copy", document_id, r), None, business_type=st.REVOKE,
                by_agency=sender, at=AT, user="van.thu", reason="Sai số liệu")
            requested.append(request)
            self.given(store, change_event("RecallRequested", change, clerk(sender)))
        assert self.read(store, "recalls", document_id) == requested
        me = recipients[0]
        answered, copy, change = st.answer_recall(
            requested[0], self.read(store, "copy", document_id, me), st.RECALL_AGREED,
            by_agency=me, at=AT + timedelta(hours=1), user="van.thu")
        self.given(store, change_event("RecallAnswered", change, clerk(me)))
        assert self.read(store, "recall", document_id, me) == answered
        assert self.read(store, "copy", document_id, me) == copy and copy.recalled
        assert not self.read(store, "copy", document_id, recipients[1]).recalled
        assert self.read(store, "recall", document_id, agency()) is None

    def test_an_imported_document_is_its_own_consignment_and_found_by_number(self, store):
        sender, recipient = agency(), agency()
        document_id = str(uuid.uuid4())
        document = dict(issued(sender, [recipient], document_id, notation="125/BNV-VP").data,
                        origin="edxml", addressed=[recipient])
        received = new_event("ExternalDocumentReceived", document, actor=clerk(sender),
                             producer=domain.SERVICE, stream_id=domain.stream_of(document_id))
        self.given(store, received, *domain.consignment_events(
            document, domain.initial_consignment(document_id), {"agencies": [recipient]},
            [recipient], set(), clerk(sender), AT, causation=received))
        row = self.read(store, "consignment", document_id)
        assert row["dispatched"] is True and row["registered"] == row["signed"]
        assert row["registered"]["event_type"] == "ExternalDocumentReceived"
        found = self.read(store, "numbered", sender, "125/BNV-VP")
        assert [(doc, r["data"]["subject"]) for doc, r in found] == [
            (document_id, document["subject"])]
        assert self.read(store, "numbered", sender, "126/BNV-VP") == []
        by_id = self.read(store, "numbered", agency(), "x", or_id=document_id)
        assert [doc for doc, _ in by_id] == [document_id]
        assert self.read(store, "delivered_to", document_id) == {recipient}

    def test_an_overdue_copy_is_reported_once_per_kind(self, store):
        issue, recipients = self.delivered(store)
        document_id = issue.data["document_id"]
        assert not self.read(store, "overdue_reported", document_id, recipients[0], "handling")
        overdue = new_event("DeliveryOverdue", {
            "document_id": document_id, "recipient": recipients[0], "kind": "handling",
            "overdue_by_seconds": 60}, actor=system_actor(domain.SERVICE),
            producer=domain.SERVICE, stream_id=domain.stream_of(document_id))
        self.given(store, overdue)
        assert self.read(store, "overdue_reported", document_id, recipients[0], "handling")
        assert not self.read(store, "overdue_reported", document_id, recipients[1],
                             "handling")
        assert not self.read(store, "overdue_reported", document_id, recipients[0],
                             "acceptance")

    def test_a_refused_delivery_is_dispatched_and_summarised_with_its_reason(self, store):
        issue = issued(agency(), [agency()])
        document_id = issue.data["document_id"]
        with store.transaction() as conn:
            store.follow(issue, "registered", conn)
            store.follow(finalized(issue), "signed", conn)
        self.given(store, domain.refused(document_id, "chữ ký không khớp", issue),
                   domain.refused(document_id, "lần hai", issue))
        assert self.read(store, "consignment", document_id)["dispatched"] is True
        delivered_issue, recipients = self.delivered(store)
        known, delivered, refused = self.read(store, "summary")
        assert {document_id, delivered_issue.data["document_id"]} <= known
        assert refused[document_id] == "chữ ký không khớp"
        assert sorted(delivered[delivered_issue.data["document_id"]]) == recipients
        assert document_id not in delivered

    def test_a_failed_transaction_leaves_the_rows_as_they_were(self, store):
        issue, recipients = self.delivered(store)
        document_id, me = issue.data["document_id"], recipients[0]
        before = self.read(store, "copy", document_id, me)
        _, change = st.report(before, st.ACCEPTED, by_agency=me, recipient=me,
                              at=AT + timedelta(minutes=5), user="van.thu")
        with pytest.raises(RuntimeError), store.transaction() as conn:
            store.project(change_event("StatusReported", change, clerk(me)), conn)
            store.follow(issued(agency(), [me]), "registered", conn)
            raise RuntimeError("the append failed")
        assert self.read(store, "copy", document_id, me) == before
