"""docs' use cases (services.docs.commands) without servers: the in-memory store
and event store in place of PostgreSQL, the same code the nameko shell runs."""

import uuid
from datetime import date, datetime, timezone

import pytest

from services.docs import commands, domain
from services.docs.store import MemoryDocsStore
from services.routing.sample_data import sample_province
from shared.envelope import Actor, new_event
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.eventstore import InMemoryEventStore
from shared.failpoints import FailpointError
from tests.unit.docs_store_contract import OTHER, RECIPIENT, SENDER, command, stored

CLERK = Actor("van.thu", SENDER, "clerk")
RECIPIENT_CLERK = Actor("van.thu", RECIPIENT, "clerk")


@pytest.fixture
def store():
    return MemoryDocsStore()


@pytest.fixture
def log():
    return InMemoryEventStore()


def other_service(event_type, producer="signing", **data):
    return new_event(event_type, data, actor=CLERK, producer=producer,
                     stream_id=f"cause-{uuid.uuid4()}")


def follow(store, log, event_type, command_, **data):
    with store.transaction() as conn:
        commands.follow(conn, store, log, other_service(event_type, **data), command_)


def signed(store, log, document_id, now=None, directory=None):
    """signing's DocumentSigned reaches docs: signed, numbered and dated at once."""
    cause = other_service("DocumentSigned", document_id=document_id,
                          signed_file=stored("signed.pdf", "11").to_dict())
    with store.transaction() as conn:
        commands.signed(conn, store, log, cause, separate_secret_series=False,
                        directory=directory, **({"now": lambda: now} if now else {}))
    return cause


def sealed(store, log, numbered_at_signature=False, **changes):
    """A sealed document; by default as one signed before numbering moved to the
    signature (numbered at issue), else as now (numbered when docs learns of it)."""
    document_id = str(uuid.uuid4())
    commands.register(store, log, document_id, command(**changes),
                      [stored("main.pdf"), stored("a.pdf")], CLERK)
    commands.submit(store, log, document_id, "lanh.dao", CLERK)
    if numbered_at_signature:
        signed(store, log, document_id)
    else:
        follow(store, log, "DocumentSigned", "sign", document_id=document_id,
               signed_file=stored("signed.pdf", "11").to_dict())
    follow(store, log, "DocumentSealed", "seal", document_id=document_id,
           sealed_file=stored("sealed.pdf", "22").to_dict())
    return document_id


def document(store, document_id):
    return commands.load(store, document_id)


def types(log, stream):
    return [e.event_type for e in log.read_stream(stream)]


def test_a_draft_goes_to_issued_and_the_numbers_follow_each_other(store, log):
    first, second = sealed(store, log), sealed(store, log)
    assert document(store, first)["file"]["sha256"] == "22" * 32  # the sealed PDF
    one = commands.issue(store, log, first, CLERK, separate_secret_series=False)
    two = commands.issue(store, log, second, CLERK, separate_secret_series=False)
    assert (one.data["number"], two.data["number"]) == (1, 2)
    assert document(store, second)["number_notation"] == two.data["number_notation"]
    assert document(store, second)["state"] == domain.ISSUED
    assert types(log, domain.stream_of(first)) == [
        "DocumentRegistered", "DocumentSubmitted", "DocumentStateChanged",
        "DocumentStateChanged", "DocumentIssued"]


NUMBERED_AT = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)  # 10:00 in Vietnam


def test_the_leaders_signature_numbers_and_dates_the_document_in_its_transaction(store, log):
    """Decree 30 Art. 14: number and date, registration, then the agency's signature."""
    document_id = str(uuid.uuid4())
    commands.register(store, log, document_id, command(), [stored("main.pdf")], CLERK)
    commands.submit(store, log, document_id, "lanh.dao", CLERK)
    cause = signed(store, log, document_id, now=NUMBERED_AT, directory=sample_province())
    *_, changed, numbered = log.read_stream(domain.stream_of(document_id))
    assert (changed.event_type, changed.data["state"]) == ("DocumentStateChanged", "signed")
    assert numbered.event_type == "DocumentNumbered" and numbered.causation_id == cause.event_id
    assert {k: numbered.data[k] for k in ("number", "number_notation", "year", "numbered_at",
                                          "place", "series")} == {
        "number": 1, "number_notation": "01/CT-UBND", "year": 2026,
        "numbered_at": "2026-12-05T10:00:00+07:00", "place": "Nghệ An", "series": "regular"}
    row = document(store, document_id)
    assert (row["state"], row["number_notation"]) == ("signed", "01/CT-UBND")
    # in the outgoing register from now on, dated as the page will be
    [entry] = commands.register_rows(store, SENDER, "outgoing")[0]
    assert (entry["number_notation"], entry["document_date"]) == ("01/CT-UBND",
                                                                  date(2026, 12, 5))
    assert entry["note"] == "Chưa phát hành"  # until the issue
    # a redelivered signature numbers nothing again
    with store.transaction() as conn:
        commands.signed(conn, store, log, cause, separate_secret_series=False)
    assert types(log, domain.stream_of(document_id)).count("DocumentNumbered") == 1


def test_the_issue_publishes_under_the_number_given_at_the_signature(store, log):
    first = sealed(store, log, numbered_at_signature=True)
    second = sealed(store, log, numbered_at_signature=True)
    issued = commands.issue(store, log, second, CLERK, separate_secret_series=False)
    assert (issued.data["number"], issued.data["number_notation"]) == (2, "02/CT-UBND")
    # no second number: the series still ends at 2, the date is the numbering's
    assert commands.issue(store, log, first, CLERK,
                          separate_secret_series=False).data["number"] == 1
    assert store.numbers == {(SENDER, issued.data["year"], "regular"): 2}
    [numbered] = [e for e in log.read_stream(domain.stream_of(second))
                  if e.event_type == "DocumentNumbered"]
    assert issued.data["issued_at"] == numbered.data["numbered_at"]
    assert issued.data["released_at"] >= issued.data["issued_at"]
    assert types(log, domain.stream_of(first))[-4:] == [
        "DocumentStateChanged", "DocumentNumbered", "DocumentStateChanged", "DocumentIssued"]


def test_a_numbering_that_fails_after_taking_its_number_gives_it_back(store, log,
                                                                     monkeypatch):
    document_id = str(uuid.uuid4())
    commands.register(store, log, document_id, command(), [stored("main.pdf")], CLERK)
    commands.submit(store, log, document_id, "lanh.dao", CLERK)
    monkeypatch.setenv("LIENTHONG_FAILPOINTS", "docs.number.after_number:raise")
    with pytest.raises(FailpointError):
        signed(store, log, document_id)
    assert document(store, document_id)["state"] == domain.SUBMITTED  # nothing recorded
    assert document(store, document_id)["number"] is None and store.numbers == {}
    monkeypatch.delenv("LIENTHONG_FAILPOINTS")
    signed(store, log, document_id)  # the redelivery
    assert document(store, document_id)["number"] == 1


@pytest.mark.parametrize("code, place", [
    ("000.00.00.H41", "Nghệ An"),        # the province's People's Committee ("(mẫu)" dropped)
    ("000.00.02.H41", "Nghệ An"),        # a department: its province
    ("000.01.00.H41", "Diễn Châu"),      # UBND huyện Diễn Châu
    ("001.01.00.H41", "Diễn Hoa"),       # UBND xã Diễn Hoa
    ("000.00.00.G22", "Hà Nội"),         # a central body the sample lacks
    ("000.00.00.H99", ""),               # unknown: the date line alone
])
def test_the_place_name_comes_from_the_directory(code, place):
    assert domain.place_of(sample_province(), code, date(2026, 1, 1)) == place


def test_issuing_a_replacement_freezes_the_replaced_document_in_the_same_command(store, log):
    old = sealed(store, log)
    commands.issue(store, log, old, CLERK, separate_secret_series=False)
    new = sealed(store, log, replaces=old)
    issued = commands.issue(store, log, new, CLERK, separate_secret_series=False)
    assert document(store, old)["state"] == domain.REPLACED
    [frozen] = [e for e in log.read_stream(domain.stream_of(old))
                if e.event_type == "DocumentStateChanged" and e.data["command"] == "replace"]
    assert frozen.causation_id == issued.event_id
    assert frozen.position == issued.position - 1


def test_an_issue_that_fails_after_taking_its_number_gives_it_back(store, log, monkeypatch):
    document_id = sealed(store, log)
    monkeypatch.setenv("LIENTHONG_FAILPOINTS", "docs.issue.after_number:raise")
    with pytest.raises(FailpointError):
        commands.issue(store, log, document_id, CLERK, separate_secret_series=False)
    assert document(store, document_id)["state"] == domain.SEALED
    monkeypatch.delenv("LIENTHONG_FAILPOINTS")
    assert commands.issue(store, log, document_id, CLERK,
                          separate_secret_series=False).data["number"] == 1


def test_only_a_clerk_of_the_issuer_submits_or_issues(store, log):
    document_id = sealed(store, log)
    with pytest.raises(Forbidden):
        commands.issue(store, log, document_id, RECIPIENT_CLERK, separate_secret_series=False)
    with pytest.raises(Conflict) as err:
        commands.submit(store, log, document_id, "lanh.dao", CLERK)  # sealed: too late
    assert err.value.field == "state"
    assert types(log, domain.stream_of(document_id))[-1] == "DocumentStateChanged"


def test_a_returned_draft_is_revised_and_submitted_again(store, log):
    document_id = str(uuid.uuid4())
    commands.register(store, log, document_id, command(), [stored("main.pdf"),
                                                           stored("a.pdf")], CLERK)
    commands.submit(store, log, document_id, "lanh.dao", CLERK)
    follow(store, log, "DocumentReturned", "return", document_id=document_id)
    revised = commands.revise(store, log, document_id, stored("main.pdf", "77"), CLERK)
    assert revised.data["state"] == domain.DRAFT
    assert document(store, document_id)["file"]["sha256"] == "77" * 32
    again = commands.submit(store, log, document_id, "lanh.dao", CLERK)
    assert again.data["round"] == 2 and again.data["sha256"] == "77" * 32


def test_unknown_or_malformed_documents_are_refused_by_name(store, log):
    with pytest.raises(NotFound) as err:
        commands.submit(store, log, str(uuid.uuid4()), "lanh.dao", CLERK)
    assert err.value.field == "document_id"
    with pytest.raises(ValidationFailed) as err:
        commands.submit(store, log, "not-a-uuid", "lanh.dao", CLERK)
    assert err.value.field == "document_id"


def sent(store, log, document_id, recipients):
    consignment = other_service("ConsignmentSent", "routing", document_id=document_id,
                                new_recipients=recipients)
    with store.transaction() as conn:
        commands.consignment_sent(conn, store, log, consignment)
    return consignment


def test_a_consignment_sends_the_document_and_registers_each_new_arrival_once(store, log):
    document_id = sealed(store, log)
    commands.issue(store, log, document_id, CLERK, separate_secret_series=False)
    first = sent(store, log, document_id, [RECIPIENT])
    sent(store, log, document_id, [RECIPIENT, OTHER])  # one more recipient
    loaded = document(store, document_id)
    assert loaded["state"] == domain.SENT and loaded["sent_at"] == first.occurred_at
    assert loaded["delivered_to"] == sorted([RECIPIENT, OTHER])
    assert loaded["incoming"] == {RECIPIENT: domain.ARRIVED, OTHER: domain.ARRIVED}
    assert types(log, domain.incoming_stream_of(document_id, RECIPIENT)) == [
        "IncomingRegistered"]
    with store.transaction() as conn:  # numbered when accepted (Art. 21-22), not before
        assert store.incoming(conn, document_id, OTHER)["arrival_number"] is None


def refuse(store, log, document_id, reason):
    refusal = other_service("DeliveryRefused", "routing", document_id=document_id,
                            reason=reason)
    with store.transaction() as conn:
        commands.delivery_refused(conn, store, log, refusal)


def test_a_refused_first_delivery_is_shown_to_the_sender_who_sends_elsewhere(store, log):
    document_id = sealed(store, log)
    reason = "recipients.0: 000.09.00.H41 was dissolved on 2026-12-05, with no successor"
    refuse(store, log, document_id, reason)  # not issued here: nothing to refuse
    assert document(store, document_id)["state"] == domain.SEALED
    commands.issue(store, log, document_id, CLERK, separate_secret_series=False)
    refuse(store, log, document_id, reason)
    refuse(store, log, document_id, "a second refusal")  # already undeliverable: no change
    loaded = document(store, document_id)
    assert loaded["state"] == domain.UNDELIVERABLE and loaded["delivery_refused"] == reason
    changes = [e.data for e in log.read_stream(domain.stream_of(document_id))
               if e.event_type == "DocumentStateChanged"]
    assert [c["command"] for c in changes][-1] == "refuse_delivery"
    assert changes[-1]["reason"] == reason and changes[-1]["from"] == domain.ISSUED
    sent(store, log, document_id, [OTHER])  # the clerk sends it to an agency that exists
    loaded = document(store, document_id)
    assert loaded["state"] == domain.SENT and loaded["delivered_to"] == [OTHER]
    assert loaded["incoming"] == {OTHER: domain.ARRIVED}


def test_the_receiving_clerk_accepts_or_returns_with_a_reason(store, log):
    first, second = sealed(store, log), sealed(store, log)
    for document_id in (first, second):
        commands.issue(store, log, document_id, CLERK, separate_secret_series=False)
        sent(store, log, document_id, [RECIPIENT])
    with pytest.raises(ValidationFailed) as err:
        commands.decide_incoming(store, log, second, "return", RECIPIENT_CLERK, "  ")
    assert err.value.field == "reason"
    _, returned = commands.decide_incoming(store, log, second, "return", RECIPIENT_CLERK,
                                           "Sai nơi nhận")
    assert returned.data["reason"] == "Sai nơi nhận"
    _, accepted = commands.decide_incoming(store, log, first, "accept", RECIPIENT_CLERK)
    # The returned one used up no number (Art. 21-22): the accepted one is số đến 01.
    assert returned.data["arrival_number"] is None
    assert accepted.data["state"] == domain.ACCEPTED and accepted.data["arrival_number"] == 1
    with pytest.raises(Conflict):  # once only
        commands.decide_incoming(store, log, first, "accept", RECIPIENT_CLERK)
    with pytest.raises(NotFound):  # it did not arrive at the sender
        commands.decide_incoming(store, log, first, "accept", CLERK)


def test_an_agreed_recall_withdraws_the_recipients_copy(store, log):
    document_id = sealed(store, log)
    commands.issue(store, log, document_id, CLERK, separate_secret_series=False)
    sent(store, log, document_id, [RECIPIENT, OTHER])
    with store.transaction() as conn:
        commands.recall_requested(conn, store, log, other_service(
            "RecallRequested", "routing", document_id=document_id, business_type=1))
        for code, recipient in (("15", RECIPIENT), ("16", OTHER)):
            commands.recall_answered(conn, store, log, other_service(
                "RecallAnswered", "routing", document_id=document_id, code=code,
                business_type=1, recipient=recipient))
    loaded = document(store, document_id)
    assert loaded["state"] == domain.RECALLED
    assert loaded["incoming"] == {RECIPIENT: domain.WITHDRAWN, OTHER: domain.ARRIVED}


def test_a_document_from_outside_is_recorded_once_with_its_arrivals(store, log):
    document_id = str(uuid.uuid4())
    external = {**domain.metadata_of(command()), "document_id": document_id,
                "origin": "edxml", "edxml_document_id": "X", "issuing_agency": "G01.01",
                "recipients": [RECIPIENT], "file": stored("main.pdf").to_dict(),
                "attachments": [], "number": 3, "number_notation": "03/CV-BYT", "year": 2026,
                "issued_at": "2026-11-20T09:00:00+07:00"}
    for _ in range(2):  # a redelivered consignment changes nothing
        consignment = other_service("ConsignmentSent", "routing", document_id=document_id,
                                    new_recipients=[RECIPIENT], document=external)
        with store.transaction() as conn:
            commands.consignment_sent(conn, store, log, consignment)
    loaded = document(store, document_id)
    assert loaded["state"] == domain.EXTERNAL and loaded["incoming"] == {
        RECIPIENT: domain.ARRIVED}
    assert types(log, domain.stream_of(document_id)) == ["ExternalDocumentRecorded"]


def test_a_failed_consumer_transaction_leaves_nothing_in_the_store(store, log):
    document_id = sealed(store, log)
    commands.issue(store, log, document_id, CLERK, separate_secret_series=False)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        commands.consignment_sent(conn, store, log, other_service(
            "ConsignmentSent", "routing", document_id=document_id,
            new_recipients=[RECIPIENT]))
        raise RuntimeError("the inbox claim failed")
    assert document(store, document_id)["incoming"] == {}


def test_an_outside_document_whose_number_its_issuer_has_here_is_not_kept(store, log):
    external = {**domain.metadata_of(command()), "origin": "edxml", "edxml_document_id": "X",
                "issuing_agency": "G01.01", "recipients": [RECIPIENT],
                "file": stored("main.pdf").to_dict(), "attachments": [], "number": 3,
                "number_notation": "03/CV-BYT", "year": 2026,
                "issued_at": "2026-11-20T09:00:00+07:00"}
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for document_id in (first, second):
        consignment = other_service("ConsignmentSent", "routing", document_id=document_id,
                                    new_recipients=[RECIPIENT],
                                    document={**external, "document_id": document_id})
        with store.transaction() as conn:
            commands.consignment_sent(conn, store, log, consignment)
    assert document(store, first)["incoming"] == {RECIPIENT: domain.ARRIVED}
    with pytest.raises(NotFound):
        document(store, second)
    assert types(log, domain.stream_of(second)) == []
