"""The docs store contract, shared by its adapters' tests (memory and PostgreSQL).

Subclass :class:`DocsStoreContract` in a ``Test...`` class and provide a
``store`` fixture. Events are made by ``services.docs.domain`` as the use
cases make them and projected with ``store.project``; every test uses new
document ids and its own agencies' series, so a shared database is fine.
"""

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.docs import copies, domain
from services.docs.schemas import load_register
from services.routing.sample_data import sample_province
from shared.envelope import Actor, new_event
from shared.errors import NotFound
from shared.objectstore import StoredObject

SENDER, RECIPIENT, OTHER = "000.00.00.H41", "000.01.00.H41", "000.02.00.H41"
CLERK = Actor("van.thu", SENDER, "clerk")
ISSUED_AT = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)


def command(**changes):
    payload = {"subject": "Chỉ thị về phòng, chống bão", "document_type": "CT",
               "agency_abbreviation": "UBND", "recipients": [RECIPIENT, OTHER],
               "signer": {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân",
                          "position": "Chủ tịch", "full_name": "Nguyễn Văn An"}, **changes}
    loaded = load_register(json.dumps(payload, ensure_ascii=False).encode())
    loaded["attachment_names"] = ["phu-luc.pdf"]
    return loaded


def numbered(event, number):
    """``event`` (an ``IncomingRegistered``) as stored before arrival numbers were
    given at acceptance: with its ``arrival_number``."""
    if number is None:
        return event
    return dataclasses.replace(event, data={**event.data, "arrival_number": number})


def stored(name, sha="ab"):
    return StoredObject(f"documents/x/{name}", sha * 32, 10, "application/pdf", "v1")


def registered(document_id=None, agency=SENDER):
    document_id = document_id or str(uuid.uuid4())
    actor = Actor("van.thu", agency, "clerk")
    return domain.document_registered(document_id, command(), [stored("main.pdf"),
                                                               stored("a.pdf", "cd")], actor)


def new_agency():
    """An agency code of its own: its series and numbers are the test's alone."""
    n = uuid.uuid4().int
    return f"{n % 1000:03d}.{n // 1000 % 100:02d}.{n // 100000 % 100:02d}.H41"


def cause(event_type, **data):
    producer = ("routing" if event_type.startswith(("Consignment", "Recall", "Delivery"))
                else "signing")
    return new_event(event_type, data, actor=CLERK, producer=producer,
                     stream_id=f"cause-{uuid.uuid4()}")


class DocsStoreContract:
    @pytest.fixture
    def store(self):
        raise NotImplementedError("an adapter's test class provides the store fixture")

    def project(self, store, *events, cause=None):
        with store.transaction() as conn:
            for event in events:
                store.project(event, conn, cause=cause)

    def read(self, store, document_id):
        with store.transaction() as conn:
            return store.document(conn, document_id)

    def issued(self, store, number=7, agency=None):
        event = registered(agency=agency or new_agency())
        document_id = event.data["document_id"]
        self.project(store, event)
        for command_ in ("submit", "sign", "seal"):
            with store.transaction() as conn:
                document = store.lock(conn, document_id)
                if command_ == "submit":
                    store.project(domain.document_submitted(document, "lanh.dao", CLERK), conn)
                else:
                    store.project(domain.state_changed(document, command_, cause(
                        "DocumentSigned")), conn)
        with store.transaction() as conn:
            document = store.lock(conn, document_id)
            store.project(domain.document_issued(document, number, "regular", ISSUED_AT,
                                                 CLERK), conn)
        return self.read(store, document_id)

    # -- copies (Decree 30 Art. 25-28) -----------------------------------------------

    def copied(self, store, document, form="SY", number=1, pages=None, source=None):
        actor = Actor("van.thu", document["issuing_agency"], "clerk")
        request = {"form": form, "pages": pages, "source_copy": source}
        event = copies.document_copied(
            str(uuid.uuid4()), document, request, number, 2026,
            copies.notation(number, form, "UBND"), stored(f"copy-{number}.pdf").to_dict(),
            source, ISSUED_AT, actor)
        self.project(store, event)
        return event.data

    def test_copies_read_back_per_document_and_agency_and_numbers_stay_unique(self, store):
        document = self.issued(store)
        agency = document["issuing_agency"]
        sao_y = self.copied(store, document)
        extract = self.copied(store, document, "TrS", 1, pages=(1, 3))
        with store.transaction() as conn:
            found = store.copy(conn, sao_y["copy_id"])
            assert store.copy(conn, str(uuid.uuid4())) is None
            mine = store.copies_of(conn, document["document_id"], agency)
            assert store.copies_of(conn, document["document_id"], OTHER) == []
            register = store.copies_register(conn, agency)
        assert (found["form"], found["number_notation"], found["pages"]) == (
            "SY", "01/SY-UBND", None)
        assert found["file"]["key"] == sao_y["file"]["key"]
        assert found["copied_at"] == ISSUED_AT and found["copied_by"] == "van.thu"
        assert sorted(c["number_notation"] for c in mine) == ["01/SY-UBND", "01/TrS-UBND"]
        assert [c["pages"] for c in mine if c["form"] == "TrS"] == [[1, 3]]
        assert {c["copy_id"] for c, _ in register} == {sao_y["copy_id"], extract["copy_id"]}
        assert all(d["document_id"] == document["document_id"] for _, d in register)
        with pytest.raises(Exception):  # 01/SY-UBND of that agency and year is given
            self.copied(store, document)

    # -- documents ------------------------------------------------------------------

    def test_a_registered_document_reads_back_as_its_event_says(self, store):
        event = registered()
        self.project(store, event)
        document = self.read(store, event.data["document_id"])
        assert document["document_id"] == event.data["document_id"]
        assert document["state"] == domain.DRAFT and document["round"] == 0
        assert document["issuing_agency"] == SENDER
        assert document["subject"] == "Chỉ thị về phòng, chống bão"
        assert document["signer"]["full_name"] == "Nguyễn Văn An"
        assert document["recipients"] == sorted([OTHER, RECIPIENT])
        assert document["file"] == stored("main.pdf").to_dict()
        assert document["attachments"] == [dict(stored("a.pdf", "cd").to_dict(),
                                                name="phu-luc.pdf")]
        assert document["registered_at"] == event.occurred_at
        assert document["number"] is None and document["sent_at"] is None

    def test_an_unknown_document_is_none_and_locking_it_is_not_found(self, store):
        missing = str(uuid.uuid4())
        assert self.read(store, missing) is None
        with pytest.raises(NotFound) as err, store.transaction() as conn:
            store.lock(conn, missing)
        assert err.value.field == "document_id"

    def test_revision_submission_and_issue_set_their_columns(self, store):
        event = registered()
        document_id = event.data["document_id"]
        self.project(store, event)
        with store.transaction() as conn:
            document = store.lock(conn, document_id)
            store.project(domain.document_submitted(document, "lanh.dao", CLERK), conn)
        assert self.read(store, document_id)["round"] == 1
        with store.transaction() as conn:
            store.project(domain.state_changed(store.lock(conn, document_id), "return",
                                               cause("DocumentReturned")), conn)
            store.project(domain.document_revised(store.lock(conn, document_id),
                                                  stored("main.pdf", "ef"), CLERK), conn)
        document = self.read(store, document_id)
        assert document["state"] == domain.DRAFT
        assert document["file"]["sha256"] == "ef" * 32
        document = self.issued(store, number=12)
        assert document["state"] == domain.ISSUED and document["number"] == 12
        assert document["number_notation"] == "12/CT-UBND" and document["year"] == 2026
        assert document["issued_at"] == ISSUED_AT

    def test_a_signature_or_seal_makes_the_signed_file_the_documents(self, store):
        event = registered()
        document_id = event.data["document_id"]
        self.project(store, event)
        signed = stored("signed.pdf", "12").to_dict()
        with store.transaction() as conn:
            document = store.lock(conn, document_id)
            store.project(domain.document_submitted(document, "lanh.dao", CLERK), conn)
            signature = cause("DocumentSigned", document_id=document_id, signed_file=signed)
            store.project(domain.state_changed(store.lock(conn, document_id), "sign",
                                               signature), conn, cause=signature)
        document = self.read(store, document_id)
        assert document["state"] == domain.SIGNED and document["file"] == signed

    def test_a_document_is_sent_once(self, store):
        document = self.issued(store)
        first = cause("ConsignmentSent", document_id=document["document_id"])
        later = cause("ConsignmentSent", document_id=document["document_id"])
        with store.transaction() as conn:
            store.project(domain.state_changed(document, "send", first), conn, cause=first)
            store.project(domain.state_changed(store.lock(conn, document["document_id"]),
                                               "send", later), conn, cause=later)
        sent = self.read(store, document["document_id"])
        assert sent["state"] == domain.SENT and sent["sent_at"] == first.occurred_at

    def test_a_refused_delivery_keeps_its_reason_after_a_later_send(self, store):
        document = self.issued(store)
        assert document["delivery_refused"] is None
        refusal = cause("DeliveryRefused", document_id=document["document_id"],
                        reason="recipients.0: dissolved, no successor")
        sending = cause("ConsignmentSent", document_id=document["document_id"])
        self.project(store, domain.state_changed(document, "refuse_delivery", refusal),
                     cause=refusal)
        refused = self.read(store, document["document_id"])
        assert refused["state"] == domain.UNDELIVERABLE
        assert refused["delivery_refused"] == "recipients.0: dissolved, no successor"
        self.project(store, domain.state_changed(refused, "send", sending), cause=sending)
        sent = self.read(store, document["document_id"])
        assert sent["state"] == domain.SENT and sent["sent_at"] == sending.occurred_at
        assert sent["delivery_refused"] == refused["delivery_refused"]

    def test_a_failed_transaction_leaves_no_row(self, store):
        event = registered()
        with pytest.raises(RuntimeError), store.transaction() as conn:
            store.project(event, conn)
            raise RuntimeError("the append failed")
        assert self.read(store, event.data["document_id"]) is None

    def test_an_external_document_is_kept_issued_and_sent(self, store):
        document_id = str(uuid.uuid4())
        data = {**domain.metadata_of(command()), "document_id": document_id,
                "origin": "edxml", "edxml_document_id": "X", "issuing_agency": "G01.01",
                "recipients": [RECIPIENT], "file": stored("main.pdf").to_dict(),
                "attachments": [], "number": 3, "number_notation": "03/CV-BYT",
                "year": 2026, "issued_at": "2026-11-20T09:00:00+07:00"}
        recorded = domain.external_recorded(data, cause("ConsignmentSent"))
        self.project(store, recorded)
        document = self.read(store, document_id)
        assert document["state"] == domain.EXTERNAL and document["number"] == 3
        assert document["issued_at"] == datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
        assert document["sent_at"] == recorded.occurred_at

    def test_a_number_notation_is_given_once_a_year_by_an_agency(self, store):
        agency = new_agency()
        self.issued(store, 4, agency)
        with pytest.raises(Exception):
            self.issued(store, 4, agency)

    def test_a_number_notation_given_is_found(self, store):
        document = self.issued(store, 5)
        with store.transaction() as conn:
            assert store.numbered(conn, document["issuing_agency"], 2026,
                                  document["number_notation"])
            assert not store.numbered(conn, document["issuing_agency"], 2027,
                                      document["number_notation"])
            assert not store.numbered(conn, new_agency(), 2026, document["number_notation"])

    def test_attachments_as_finalized_replace_the_drafts(self, store):
        document = self.issued(store)
        final = [dict(stored("a-sealed.pdf", "99").to_dict(), name="phu-luc.pdf", sealed=True)]
        with store.transaction() as conn:
            store.set_attachments(conn, document["document_id"], final)
        assert self.read(store, document["document_id"])["attachments"] == final

    def test_the_outgoing_register_is_the_agencys_numbered_documents_in_order(self, store):
        agency = new_agency()
        third, first = self.issued(store, 3, agency), self.issued(store, 1, agency)
        self.project(store, registered(agency=agency))  # a draft: no number
        with store.transaction() as conn:
            assert [d["document_id"] for d in store.outgoing(conn, agency)] == [
                first["document_id"], third["document_id"]]

    # -- numbers and deliveries -------------------------------------------------------

    def test_numbers_follow_each_series_and_a_rollback_gives_one_back(self, store):
        agency = new_agency()
        with store.transaction() as conn:
            assert [store.take_number(conn, agency, 2026, "regular") for _ in range(3)] == [
                1, 2, 3]
            assert store.take_number(conn, agency, 2027, "regular") == 1
            assert store.take_number(conn, agency, 2026, "secret") == 1
        with pytest.raises(RuntimeError), store.transaction() as conn:
            assert store.take_number(conn, agency, 2026, "regular") == 4
            raise RuntimeError("the issue failed")
        with store.transaction() as conn:
            assert store.take_number(conn, agency, 2026, "regular") == 4

    def test_numbers_for_many_agencies_at_once_continue_each_series(self, store):
        a, b, c = sorted(new_agency() for _ in range(3))
        with store.transaction() as conn:
            store.take_number(conn, b, 2026, "incoming")
            assert store.take_numbers(conn, [c, a, b], 2026, "incoming") == {a: 1, b: 2, c: 1}
            assert store.take_numbers(conn, [b], 2026, "incoming") == {b: 3}
            assert store.take_number(conn, a, 2026, "regular") == 1
        with pytest.raises(RuntimeError), store.transaction() as conn:
            store.take_numbers(conn, [a, b], 2026, "incoming")
            raise RuntimeError("the arrivals failed")
        with store.transaction() as conn:
            assert store.take_numbers(conn, [a, b], 2026, "incoming") == {a: 2, b: 4}

    def test_deliveries_are_claimed_once(self, store):
        document_id = str(uuid.uuid4())
        with store.transaction() as conn:
            assert sorted(store.claim_deliveries(conn, document_id,
                                                 [OTHER, RECIPIENT, OTHER])) == sorted(
                [OTHER, RECIPIENT])
        with store.transaction() as conn:
            assert store.claim_deliveries(conn, document_id, [RECIPIENT, SENDER]) == [SENDER]
            assert store.deliveries(conn, document_id) == sorted([OTHER, RECIPIENT, SENDER])

    # -- incoming ----------------------------------------------------------------------

    def arrive(self, store, document, agency, number=None):
        """An arrival; with a ``number``, as stored before the number was given at
        acceptance (Art. 21-22): such old events must still project."""
        at = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
        event = numbered(domain.incoming_registered(document, agency, at,
                                                    cause("ConsignmentSent")), number)
        self.project(store, event)
        return at

    def test_an_arrival_is_registered_and_listed(self, store):
        document = self.issued(store)
        recipient = new_agency()
        at = self.arrive(store, document, recipient, number=5)
        with store.transaction() as conn:
            incoming = store.incoming(conn, document["document_id"], recipient)
            assert incoming == {"document_id": document["document_id"], "agency": recipient,
                                "arrival_number": 5, "state": domain.ARRIVED,
                                "number_notation": document["number_notation"]}
            assert store.incoming(conn, document["document_id"], OTHER) is None
            assert store.incoming_states(conn, document["document_id"]) == {
                recipient: domain.ARRIVED}
            [listed] = [r for r in store.arrivals(conn, recipient, 2026)
                        if r["document_id"] == document["document_id"]]
            assert listed == {"document_id": document["document_id"], "arrival_number": 5,
                              "year": 2026, "arrived_at": at, "state": domain.ARRIVED,
                              "reason": None, "sender": document["issuing_agency"],
                              "number_notation": document["number_notation"]}
            assert not [r for r in store.arrivals(conn, recipient, 2025)
                        if r["document_id"] == document["document_id"]]
            [(arrival, registered_document)] = [
                item for item in store.incoming_register(conn, recipient)
                if item[1]["document_id"] == document["document_id"]]
        assert arrival == {"arrival_number": 5, "arrived_at": at, "state": domain.ARRIVED,
                           "reason": None, "handed_to": None, "handed_at": None}
        assert registered_document == document

    def test_a_broadcasts_arrivals_projected_together_are_each_registered(self, store):
        document = self.issued(store)
        recipients = sorted(new_agency() for _ in range(3))
        at = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
        events = [numbered(domain.incoming_registered(document, agency, at,
                                                      cause("ConsignmentSent")), n)
                  for n, agency in enumerate(recipients, start=1)]
        with store.transaction() as conn:
            store.project_all(events, conn)
            assert store.incoming_states(conn, document["document_id"]) == {
                agency: domain.ARRIVED for agency in recipients}
            assert [store.incoming(conn, document["document_id"], agency)["arrival_number"]
                    for agency in recipients] == [1, 2, 3]

    def test_a_returned_arrival_keeps_its_reason_after_a_withdrawal(self, store):
        document = self.issued(store)
        recipient = new_agency()
        self.arrive(store, document, recipient)
        with store.transaction() as conn:
            incoming = store.incoming(conn, document["document_id"], recipient)
            store.project(domain.incoming_decided(
                incoming, "return", Actor("vt", recipient, "clerk"), "Sai nơi nhận"), conn)
            incoming = store.incoming(conn, document["document_id"], recipient)
            store.project(domain.incoming_withdrawn(incoming, cause("RecallAnswered")), conn)
            [listed] = [r for r in store.arrivals(conn, recipient)
                        if r["document_id"] == document["document_id"]]
        assert listed["state"] == domain.WITHDRAWN and listed["reason"] == "Sai nơi nhận"

    def test_the_arrival_number_comes_with_the_acceptance(self, store):
        document, returned = self.issued(store), self.issued(store)
        recipient = new_agency()
        clerk = Actor("vt", recipient, "clerk")
        self.arrive(store, document, recipient)
        self.arrive(store, returned, recipient)
        with store.transaction() as conn:
            incoming = store.incoming(conn, document["document_id"], recipient)
            assert incoming["arrival_number"] is None
            store.project(domain.incoming_decided(
                store.incoming(conn, returned["document_id"], recipient), "return", clerk,
                "Sai nơi nhận"), conn)
            store.project(domain.incoming_decided(incoming, "accept", clerk,
                                                  numbered=(1, 2027)), conn)
            assert store.incoming(conn, document["document_id"], recipient)[
                "arrival_number"] == 1
            assert store.incoming(conn, returned["document_id"], recipient)[
                "arrival_number"] is None
            listed = {r["document_id"]: (r["arrival_number"], r["year"])
                      for r in store.arrivals(conn, recipient)}
            register = [(a["arrival_number"], d["document_id"])
                        for a, d in store.incoming_register(conn, recipient)]
        assert listed == {document["document_id"]: (1, 2027),
                          returned["document_id"]: (None, 2026)}
        assert register == [(None, returned["document_id"]), (1, document["document_id"])]

    def test_an_accepted_arrival_records_to_whom_it_went_and_when(self, store):
        document = self.issued(store)
        recipient = new_agency()
        self.arrive(store, document, recipient)
        clerk = Actor("vt", recipient, "clerk")
        with store.transaction() as conn:
            incoming = store.incoming(conn, document["document_id"], recipient)
            accepted = domain.incoming_decided(incoming, "accept", clerk,
                                               handed_to="Phòng Kinh tế")
            store.project(accepted, conn)
            [(arrival, _)] = [item for item in store.incoming_register(conn, recipient)
                              if item[1]["document_id"] == document["document_id"]]
        assert (arrival["handed_to"], arrival["handed_at"]) == ("Phòng Kinh tế",
                                                                accepted.occurred_at)

    def test_an_arrival_number_is_given_once_a_year_at_an_agency(self, store):
        recipient = new_agency()
        self.arrive(store, self.issued(store), recipient, number=9)
        with pytest.raises(Exception):
            self.arrive(store, self.issued(store), recipient, number=9)

    def test_the_summary_has_every_row_and_every_delivery(self, store):
        document = self.issued(store)
        stray = str(uuid.uuid4())
        with store.transaction() as conn:
            store.claim_deliveries(conn, document["document_id"], [RECIPIENT])
            store.claim_deliveries(conn, stray, [OTHER])
            documents, delivered = store.summary(conn)
        assert documents[document["document_id"]] == {
            "issuing_agency": document["issuing_agency"], "recipients": sorted([RECIPIENT, OTHER]),
            "file": document["file"], "state": domain.ISSUED,
            "number_notation": document["number_notation"]}
        assert delivered[document["document_id"]] == [RECIPIENT]
        assert delivered[stray] == [OTHER] and stray not in documents

    # -- issue deadlines ------------------------------------------------------------

    def signed_at(self, store, at, agency, urgency=0):
        """A document its leader signed at ``at``: its id."""
        document_id = str(uuid.uuid4())
        self.project(store, domain.document_registered(
            document_id, command(urgency=urgency), [stored("main.pdf")],
            Actor("van.thu", agency, "clerk")))
        signature = new_event("DocumentSigned", {"document_id": document_id}, actor=CLERK,
                              producer="signing", stream_id=f"cause-{uuid.uuid4()}",
                              occurred_at=at)
        with store.transaction() as conn:
            store.project(domain.document_submitted(store.lock(conn, document_id),
                                                    "lanh.dao", CLERK), conn)
            store.project(domain.state_changed(store.lock(conn, document_id), "sign",
                                               signature), conn, cause=signature)
        return document_id

    def test_a_signature_opens_the_issue_deadline_and_the_issue_closes_it(self, store):
        agency, friday = new_agency(), datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)
        deadline = domain.issue_deadline(friday, 0)  # the end of Monday, Vietnam time
        document_id = self.signed_at(store, friday, agency)
        with store.transaction() as conn:
            tracked = store.issue_tracking(conn, document_id, lock=True)
            assert store.issue_tracking(conn, str(uuid.uuid4())) is None
        assert tracked == {"document_id": document_id, "issuing_agency": agency,
                           "urgency": 0, "signed_at": friday, "issue_by": deadline,
                           "issued_at": None, "overdue_at": None, "state": domain.SIGNED,
                           "subject": "Chỉ thị về phòng, chống bão", "document_type": "CT"}
        late = deadline + timedelta(seconds=1)
        with store.transaction() as conn:
            assert store.overdue_issues(conn, agency, deadline) == []
            assert store.overdue_issues(conn, agency, late) == [tracked]
            assert store.overdue_issues(conn, new_agency(), late) == []
            assert document_id in [t["document_id"] for t in
                                   store.overdue_issues(conn, None, late)]
            store.project(domain.issue_overdue(tracked, late), conn)
            [reported] = store.overdue_issues(conn, agency, late)
        assert reported["overdue_at"] == late
        with store.transaction() as conn:  # sealed: still awaiting its issue
            store.project(domain.state_changed(store.lock(conn, document_id), "seal",
                                               cause("DocumentSealed")), conn)
            assert [t["state"] for t in store.overdue_issues(conn, agency, late)] == [
                domain.SEALED]
            document = store.lock(conn, document_id)
            store.project(domain.document_issued(document, 3, "regular", late, CLERK,
                                                 issue_by=deadline), conn)
            assert store.overdue_issues(conn, agency, late + timedelta(days=9)) == []
            assert store.issue_tracking(conn, document_id)["issued_at"] == late

    def test_the_number_given_at_the_signature_is_the_documents_and_the_issue_keeps_it(
            self, store):
        agency = new_agency()
        event = registered(agency=agency)
        document_id = event.data["document_id"]
        self.project(store, event)
        numbered_at = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
        signature = cause("DocumentSigned")
        with store.transaction() as conn:
            document = store.lock(conn, document_id)
            store.project(domain.document_submitted(document, "lanh.dao", CLERK), conn)
            document = store.lock(conn, document_id)
            store.project_all([domain.state_changed(document, "sign", signature),
                               domain.document_numbered(document, 4, "regular", numbered_at,
                                                        "Nghệ An", signature)], conn)
        row = self.read(store, document_id)
        assert (row["state"], row["number"], row["number_notation"], row["year"]) == (
            domain.SIGNED, 4, "04/CT-UBND", 2026)
        assert row["issued_at"] == numbered_at  # the document's date
        with store.transaction() as conn:
            assert [d["number_notation"] for d in store.outgoing(conn, agency)] == [
                "04/CT-UBND"]
            store.project(domain.state_changed(store.lock(conn, document_id), "seal",
                                               cause("DocumentSealed")), conn)
            released = numbered_at + timedelta(days=1)
            store.project(domain.document_issued(store.lock(conn, document_id), 4, "regular",
                                                 numbered_at, CLERK,
                                                 released_at=released), conn)
            assert store.issue_tracking(conn, document_id)["issued_at"] == released
        row = self.read(store, document_id)
        assert (row["state"], row["number_notation"], row["issued_at"]) == (
            domain.ISSUED, "04/CT-UBND", numbered_at)

    def test_the_earliest_deadline_comes_first(self, store):
        agency = new_agency()
        monday = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
        normal = self.signed_at(store, monday, agency)
        urgent = self.signed_at(store, monday + timedelta(hours=1), agency, urgency=2)
        with store.transaction() as conn:
            found = store.overdue_issues(conn, agency, monday + timedelta(days=3))
        assert [t["document_id"] for t in found] == [urgent, normal]
        assert found[0]["urgency"] == 2

    def test_the_directory_is_read_up_to_its_first_gap(self, store):
        changes = sample_province().changes
        with store.transaction() as conn:
            store.record_directory_changes(conn, 1, changes[:5])
            store.record_directory_changes(conn, 3, changes[9:])  # 2 not arrived yet
            assert store.directory_version(conn) == 1
            store.record_directory_changes(conn, 2, changes[5:9])
            store.record_directory_changes(conn, 2, [])  # a redelivery changes nothing
            assert store.directory_version(conn) == 3
            assert store.directory_changes(conn, 3) == changes
            assert store.directory_changes(conn, 1) == changes[:5]
