"""services.routing.domain.initial_delivery: deliver to every recipient, or refuse a
document whose agency signature does not cover the issued file."""

import pytest

from services.docs.domain import document_issued
from services.routing.domain import initial_delivery
from services.signing.domain import document_finalized
from shared.envelope import Actor, canonical_bytes, utc_now
from shared.objectstore import StoredObject

SENDER = "000.00.00.H41"
RECIPIENTS = ["000.00.00.H42", "000.00.01.H42", "001.00.00.H43"]
DOC = "5b7f2a1e-0c1d-4e5f-8a9b-0c1d2e3f4a5b"
SHA = "ab" * 32
CLERK = Actor("u1", SENDER, "clerk")
LEADER = Actor("l1", SENDER, "leader")


def deliveries_for(registered, signed, causation):
    """The initial delivery's events, its ConsignmentSent checked and set aside."""
    events = initial_delivery(registered, signed, sorted(registered["recipients"]), set(),
                              utc_now(), causation)
    if events[0].event_type == "ConsignmentSent":
        sent = events.pop(0)
        assert list(sent.data["recipients"]) == sorted(registered["recipients"])
        assert list(sent.data["new_recipients"]) == [e.data["recipient"] for e in events]
        assert sent.causation_id == causation.event_id
    return events


@pytest.fixture
def registered_event():
    """The docs service's ``DocumentIssued``: the half routing waits for besides the signature."""
    stored = StoredObject(key=f"documents/{DOC}/main.pdf", sha256=SHA, size=100,
                          content_type="application/pdf")
    document = {
        "document_id": DOC, "issuing_agency": SENDER, "state": "sealed",
        "subject": "Công văn", "document_type": "CV", "urgency": 2, "secrecy": 0,
        "steering_type": 0, "due_date": None, "signer": {}, "response_for": [],
        "appendices": [], "page_count": 1, "language": "vi", "amends": None, "replaces": None,
        "recipients": list(reversed(RECIPIENTS)), "file": stored.to_dict(), "attachments": [],
        "agency_abbreviation": "UBND", "drafting_unit_abbreviation": "VP"}
    return document_issued(document, 7, "regular", utc_now(), CLERK).at(1, 1)


def _sealed_event(sha256=SHA, agency=SENDER):
    """signing's ``DocumentFinalized``: both signatures, over the issued file."""
    sealed = {"key": f"documents/{DOC}/sealed.pdf", "sha256": sha256, "size": 100,
              "content_type": "application/pdf", "version_id": "v1"}
    document = {"document_id": DOC, "issuing_agency": agency, "sealed_file": sealed}
    certificate = {"serial": "1f", "subject": "CN=UBND", "issuer": "CN=Root", "sha256": "12" * 32}
    return document_finalized(document, "07/CV-UBND", [], {}, {}, certificate, None).at(1, 1)


def test_a_signed_document_is_delivered_once_to_each_recipient(registered_event):
    signed = _sealed_event()
    events = deliveries_for(registered_event.data, signed.data, causation=signed)
    assert [e.event_type for e in events] == ["DocumentDelivered"] * 3
    assert sorted(e.data["recipient"] for e in events) == sorted(RECIPIENTS)
    for event in events:
        assert event.data["document_id"] == DOC
        assert event.data["sender"] == SENDER
        assert event.data["sha256"] == SHA
        assert event.data["urgency"] == 2
        assert event.stream_id == f"delivery-{DOC}"
        assert event.producer == "routing"
        assert event.actor.role == "system" and event.actor.user_id == "service:routing"
        canonical_bytes(event)
    assert len({e.event_id for e in events}) == 3


def test_deliveries_name_their_cause_and_carry_its_correlation(registered_event):
    signed = _sealed_event()
    events = deliveries_for(registered_event.data, signed.data, causation=signed)
    assert {e.causation_id for e in events} == {signed.event_id}
    assert {e.correlation_id for e in events} == {signed.correlation_id}


def test_the_cause_may_be_the_registration_when_it_arrives_last(registered_event):
    signed = _sealed_event()
    events = deliveries_for(registered_event.data, signed.data, causation=registered_event)
    assert {e.causation_id for e in events} == {registered_event.event_id}
    assert {e.correlation_id for e in events} == {registered_event.correlation_id}


def _assert_refused(events, cause, words):
    [event] = events
    assert event.event_type == "DeliveryRefused"
    assert event.data["document_id"] == DOC
    assert words in event.data["reason"]
    assert event.causation_id == cause.event_id
    assert event.correlation_id == cause.correlation_id
    assert event.stream_id == f"delivery-{DOC}"


def test_a_seal_over_another_file_is_refused(registered_event):
    sealed = _sealed_event(sha256="cd" * 32)
    events = deliveries_for(registered_event.data, sealed.data, causation=sealed)
    _assert_refused(events, sealed, "different file")


def test_a_seal_of_another_agency_is_refused(registered_event):
    sealed = _sealed_event(agency="000.00.00.H99")
    events = deliveries_for(registered_event.data, sealed.data, causation=sealed)
    _assert_refused(events, sealed, "not the issuing agency's")


def test_a_recipient_that_already_has_the_document_is_not_sent_it_again(registered_event):
    signed = _sealed_event()
    events = initial_delivery(registered_event.data, signed.data, sorted(RECIPIENTS),
                              {RECIPIENTS[0]}, utc_now(), signed)
    assert list(events[0].data["new_recipients"]) == sorted(RECIPIENTS[1:])
    assert sorted(e.data["recipient"] for e in events[1:]) == sorted(RECIPIENTS[1:])


def test_each_delivery_traces_its_hops(registered_event):
    signed = _sealed_event()
    [_, first, *_] = initial_delivery(registered_event.data, signed.data, RECIPIENTS, set(),
                                      utc_now(), signed)
    assert [hop["agency"] for hop in first.data["trace"]] == [SENDER, first.data["recipient"]]
