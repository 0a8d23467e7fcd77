"""services.routing.domain.initial_delivery: deliver to every recipient, or refuse a bad signature."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.docs.domain import document_issued
from services.routing.domain import initial_delivery
from services.signing.domain import document_signed, signed_message
from services.signing.keys import DevSigner
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
def signer():
    return DevSigner(Ed25519PrivateKey.generate())


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


def _signed_event(signer, sha256=SHA, document_id=DOC, signature=None, public_key=None):
    if signature is None:
        signature = base64.b64encode(signer.sign(signed_message(document_id, sha256))).decode()
    event = document_signed({"document_id": DOC, "sha256": sha256, "issuing_agency": SENDER,
                             "round": 1, "signer": {}},
                            signer, signature, LEADER).at(1, 1)
    if public_key is not None:
        data = {**event.data, "public_key": public_key}
        event = event.__class__(**{**event.__dict__, "data": data})
    return event


def test_a_signed_document_is_delivered_once_to_each_recipient(registered_event, signer):
    signed = _signed_event(signer)
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


def test_deliveries_name_their_cause_and_carry_its_correlation(registered_event, signer):
    signed = _signed_event(signer)
    events = deliveries_for(registered_event.data, signed.data, causation=signed)
    assert {e.causation_id for e in events} == {signed.event_id}
    assert {e.correlation_id for e in events} == {signed.correlation_id}


def test_the_cause_may_be_the_registration_when_it_arrives_last(registered_event, signer):
    signed = _signed_event(signer)
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


def test_a_signature_over_another_file_is_refused(registered_event, signer):
    signed = _signed_event(signer, sha256="cd" * 32)
    events = deliveries_for(registered_event.data, signed.data, causation=signed)
    _assert_refused(events, signed, "different file")


def test_a_signature_made_with_another_key_is_refused(registered_event, signer):
    forger = DevSigner(Ed25519PrivateKey.generate())
    forged = base64.b64encode(forger.sign(signed_message(DOC, SHA))).decode()
    signed = _signed_event(signer, signature=forged)  # claims the real signer's key
    events = deliveries_for(registered_event.data, signed.data, causation=signed)
    _assert_refused(events, signed, "does not verify")


def test_a_signature_over_another_document_id_is_refused(registered_event, signer):
    signed = _signed_event(signer, document_id="00000000-0000-4000-8000-000000000000")
    events = deliveries_for(registered_event.data, signed.data, causation=signed)
    _assert_refused(events, signed, "does not verify")


def test_a_signature_with_one_bit_changed_is_refused(registered_event, signer):
    raw = bytearray(signer.sign(signed_message(DOC, SHA)))
    raw[10] ^= 0x01
    signed = _signed_event(signer, signature=base64.b64encode(bytes(raw)).decode())
    events = deliveries_for(registered_event.data, signed.data, causation=signed)
    _assert_refused(events, signed, "does not verify")


@pytest.mark.parametrize("signature, public_key", [
    ("not base64 at all!", None),
    ("", None),
    (base64.b64encode(b"short").decode(), None),
    (None, "AAAA"),                      # a public key of the wrong length
])
def test_garbage_signatures_or_keys_are_refused_not_crashed_on(registered_event, signer,
                                                               signature, public_key):
    signed = _signed_event(signer, signature=signature, public_key=public_key)
    events = deliveries_for(registered_event.data, signed.data, causation=signed)
    _assert_refused(events, signed, "does not verify")


def test_a_recipient_that_already_has_the_document_is_not_sent_it_again(registered_event,
                                                                         signer):
    signed = _signed_event(signer)
    events = initial_delivery(registered_event.data, signed.data, sorted(RECIPIENTS),
                              {RECIPIENTS[0]}, utc_now(), signed)
    assert list(events[0].data["new_recipients"]) == sorted(RECIPIENTS[1:])
    assert sorted(e.data["recipient"] for e in events[1:]) == sorted(RECIPIENTS[1:])


def test_each_delivery_traces_its_hops(registered_event, signer):
    signed = _signed_event(signer)
    [_, first, *_] = initial_delivery(registered_event.data, signed.data, RECIPIENTS, set(),
                                      utc_now(), signed)
    assert [hop["agency"] for hop in first.data["trace"]] == [SENDER, first.data["recipient"]]
