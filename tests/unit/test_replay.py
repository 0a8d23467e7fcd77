"""services.audit.replay: history, fold, state at a moment, reconciliation."""

from datetime import datetime, timedelta, timezone

import pytest

from services.audit.replay import (
    Difference, DocumentState, fold, history, reconcile, state_at,
)
from shared.envelope import Actor, new_event, system_actor

PROVINCE = "000.00.00.H41"
DISTRICT_1 = "000.01.00.H41"
DISTRICT_2 = "000.02.00.H41"
DOC = "6f1c2a7e-0000-4000-8000-000000000001"
OTHER = "6f1c2a7e-0000-4000-8000-000000000002"
SHA = "ab" * 32
KEY_ID = "72860e3a1b2c3d4e"
CLERK = Actor(f"clerk@{PROVINCE}", PROVINCE, "clerk")
LEADER = Actor(f"leader@{PROVINCE}", PROVINCE, "leader")
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def registered(minutes=0, document_id=DOC, recipients=(DISTRICT_2, DISTRICT_1), sha=SHA):
    return new_event("DocumentRegistered", {
        "document_id": document_id, "subject": "Chỉ thị về phòng, chống bão số 3",
        "document_type": "CT", "urgency": 2, "issuing_agency": PROVINCE,
        "recipients": list(recipients),
        "file": {"key": f"documents/{document_id}/main.pdf", "sha256": sha, "size": 1234,
                 "content_type": "application/pdf", "version_id": None}},
        actor=CLERK, producer="docs", stream_id=f"document-{document_id}",
        occurred_at=at(minutes)).at(1, 1)


def signed(minutes=1, document_id=DOC, sha=SHA):
    return new_event("DocumentSigned", {
        "document_id": document_id, "sha256": sha, "algorithm": "Ed25519",
        "key_id": KEY_ID, "public_key": "cHVi", "signature": "c2ln"},
        actor=LEADER, producer="signing", stream_id=f"signature-{document_id}",
        occurred_at=at(minutes)).at(1, 1)


def delivered(recipient, minutes=2, document_id=DOC):
    return new_event("DocumentDelivered", {
        "document_id": document_id, "recipient": recipient, "sender": PROVINCE,
        "sha256": SHA, "urgency": 2},
        actor=system_actor("routing"), producer="routing",
        stream_id=f"delivery-{document_id}", occurred_at=at(minutes)).at(1, 1)


def refused(minutes=2, document_id=DOC, reason="the signature does not verify"):
    return new_event("DeliveryRefused", {"document_id": document_id, "reason": reason},
                     actor=system_actor("routing"), producer="routing",
                     stream_id=f"delivery-{document_id}", occurred_at=at(minutes)).at(1, 1)


def recalled(minutes=5, document_id=DOC):
    """A type this replay does not know yet (a later issue's event)."""
    return new_event("DocumentRecalled", {"document_id": document_id, "note": "sai sót"},
                     actor=CLERK, producer="docs", stream_id=f"document-{document_id}",
                     occurred_at=at(minutes)).at(2, 2)


def indexed(*events):
    return list(enumerate(events))


def full_flow():
    return indexed(registered(0), signed(1), delivered(DISTRICT_1, 2), delivered(DISTRICT_2, 3))


# -- fold -----------------------------------------------------------------------


def test_fold_of_a_full_flow():
    states = fold(full_flow())
    assert list(states) == [DOC]
    state = states[DOC]
    assert isinstance(state, DocumentState)
    assert state.document_id == DOC
    assert state.issuing_agency == PROVINCE
    assert state.subject == "Chỉ thị về phòng, chống bão số 3"
    assert state.document_type == "CT"
    assert state.recipients == (DISTRICT_1, DISTRICT_2)
    assert state.sha256 == SHA
    assert (state.registered_at, state.registered_by) == (at(0), CLERK.user_id)
    assert state.signed is True
    assert (state.signed_at, state.signed_by, state.key_id) == (at(1), LEADER.user_id, KEY_ID)
    assert state.delivered_to == (DISTRICT_1, DISTRICT_2)
    assert state.delivery_refused is None
    assert state.last_event_at == at(3)


def test_to_dict_is_plain_json():
    as_dict = fold(full_flow())[DOC].to_dict()
    assert as_dict["recipients"] == [DISTRICT_1, DISTRICT_2]
    assert as_dict["delivered_to"] == [DISTRICT_1, DISTRICT_2]
    assert as_dict["registered_at"] == "2025-03-01T08:00:00.000000Z"
    assert as_dict["last_event_at"] == "2025-03-01T08:03:00.000000Z"
    assert as_dict["signed"] is True and as_dict["key_id"] == KEY_ID


def test_fold_accepts_envelopes_as_dicts():
    as_wire = [(i, e.to_wire()) for i, e in full_flow()]
    assert fold(as_wire) == fold(full_flow())


def test_out_of_order_arrival_gives_the_same_state():
    in_order = fold(full_flow())
    # Signing and routing published before docs' registration reached the log.
    shuffled = indexed(signed(1), delivered(DISTRICT_2, 3), registered(0),
                       delivered(DISTRICT_1, 2))
    assert fold(shuffled) == in_order


def test_a_document_is_created_on_first_sight():
    state = fold(indexed(signed(1)))[DOC]
    assert state.signed and state.key_id == KEY_ID
    assert state.sha256 == SHA  # the signed hash, until the registration says otherwise
    assert state.issuing_agency is None and state.recipients == ()
    assert state.registered_at is None and state.last_event_at == at(1)

    state = fold(indexed(delivered(DISTRICT_1, 2)))[DOC]
    assert state.delivered_to == (DISTRICT_1,)
    assert state.issuing_agency == PROVINCE  # the delivery names its sender
    assert not state.signed


def test_the_registered_file_hash_wins_over_a_signed_one():
    other = "cd" * 32
    state = fold(indexed(signed(1, sha=other), registered(0), refused(2)))[DOC]
    assert state.sha256 == SHA
    assert state.delivery_refused == "the signature does not verify"
    assert state.delivered_to == ()


def test_documents_are_folded_separately():
    states = fold(indexed(registered(0), registered(1, document_id=OTHER), signed(2)))
    assert set(states) == {DOC, OTHER}
    assert states[DOC].signed and not states[OTHER].signed


def test_unknown_event_types_are_ignored_by_the_fold():
    events = full_flow() + [(4, recalled(5))]
    assert fold(events) == fold(full_flow())
    # ... and create no state for a document seen only through them.
    assert fold(indexed(recalled(5, document_id=OTHER))) == {}


# -- state at a moment ------------------------------------------------------------


def test_state_at_before_signing():
    state = state_at(full_flow(), at(0) + timedelta(seconds=30))[DOC]
    assert state.registered_at == at(0)
    assert not state.signed and state.signed_at is None and state.key_id is None
    assert state.delivered_to == ()
    assert state.last_event_at == at(0)


def test_state_at_between_deliveries():
    state = state_at(full_flow(), at(2))[DOC]  # inclusive: the first delivery counts
    assert state.signed
    assert state.delivered_to == (DISTRICT_1,)
    assert state.last_event_at == at(2)


def test_state_at_before_anything_and_after_everything():
    assert state_at(full_flow(), at(-1)) == {}
    assert state_at(full_flow(), at(60)) == fold(full_flow())


def test_state_at_other_time_zones_is_the_same_instant():
    hanoi = timezone(timedelta(hours=7))
    assert state_at(full_flow(), at(2).astimezone(hanoi)) == state_at(full_flow(), at(2))


def test_state_at_refuses_a_naive_moment():
    with pytest.raises(ValueError):
        state_at(full_flow(), datetime(2025, 3, 1, 8, 0))


# -- history --------------------------------------------------------------------


def test_history_describes_each_event_in_log_order():
    entries = history([(10, registered(0)), (11, signed(1)), (12, delivered(DISTRICT_1, 2)),
                       (14, refused(3))])
    assert [e["index"] for e in entries] == [10, 11, 12, 14]
    first = entries[0]
    assert first["occurred_at"] == "2025-03-01T08:00:00.000000Z"
    assert first["event_type"] == "DocumentRegistered"
    assert first["producer"] == "docs"
    assert (first["actor"], first["agency"], first["role"]) == (CLERK.user_id, PROVINCE, "clerk")
    assert [e["summary"] for e in entries] == [
        f"registered by clerk@{PROVINCE} for {DISTRICT_1}, {DISTRICT_2}",
        f"signed by leader@{PROVINCE} (key 72860e3a…)",
        f"delivered to {DISTRICT_1}",
        "delivery refused: the signature does not verify",
    ]
    assert entries[2]["role"] == "system" and entries[2]["producer"] == "routing"


def test_history_says_an_erasure_orders_decision_and_reason():
    from services.gateway.domain import data_erasure_ordered

    order = data_erasure_ordered(Actor("van.hanh", PROVINCE, "operator"), DOC,
                                 "12/QĐ-UBND ngày 01/12/2026", "Văn bản đã bị thu hồi")
    [entry] = history([(7, order)], DOC)
    assert entry["producer"] == "gateway" and entry["role"] == "operator"
    assert entry["summary"] == ("the data of the earlier entries destroyed by van.hanh under"
                                " 12/QĐ-UBND ngày 01/12/2026: Văn bản đã bị thu hồi")


def test_history_keeps_unknown_event_types():
    entries = history(full_flow() + [(4, recalled(5))])
    assert len(entries) == 5
    last = entries[-1]
    assert last["index"] == 4 and last["event_type"] == "DocumentRecalled"
    assert last["summary"] == f"DocumentRecalled from docs, by clerk@{PROVINCE}"


def test_history_picks_one_document_out_of_the_log():
    log = indexed(registered(0), registered(1, document_id=OTHER), signed(2))
    assert [e["index"] for e in history(log, document_id=OTHER)] == [1]
    assert [e["index"] for e in history(log, document_id=DOC.upper())] == [0, 2]


# -- reconciliation -------------------------------------------------------------


def reported_for(states):
    """What each service reports when it agrees with the log."""
    docs, signing, routing = [], [], []
    for s in sorted(states.values(), key=lambda s: s.document_id):
        docs.append({"document_id": s.document_id, "issuing_agency": s.issuing_agency,
                     "recipients": list(s.recipients), "sha256": s.sha256,
                     "delivered_to": list(s.delivered_to), "number_notation": s.number_notation})
        signing.append({"document_id": s.document_id, "issuing_agency": s.issuing_agency,
                        "sha256": s.sha256, "signed": s.signed, "key_id": s.key_id})
        routing.append({"document_id": s.document_id, "delivered_to": list(s.delivered_to),
                        "refused": s.delivery_refused})
    return {"docs": docs, "signing": signing, "routing": routing}


@pytest.fixture
def replayed():
    return fold(full_flow() + indexed(registered(10, document_id=OTHER),
                                      signed(11, document_id=OTHER),
                                      refused(12, document_id=OTHER)))


def test_reconcile_finds_nothing_when_everyone_agrees(replayed):
    assert reconcile(replayed, reported_for(replayed)) == []


def test_reconcile_ignores_order_and_id_case(replayed):
    reported = reported_for(replayed)
    reported["docs"][0]["recipients"].reverse()
    reported["docs"][0]["document_id"] = reported["docs"][0]["document_id"].upper()
    reported["routing"].reverse()
    assert reconcile(replayed, reported) == []


def test_reconcile_finds_a_document_the_service_lacks(replayed):
    reported = reported_for(replayed)
    reported["signing"] = [r for r in reported["signing"] if r["document_id"] != OTHER]
    assert reconcile(replayed, reported) == [
        Difference(OTHER, "signing", "document", "present", "absent")]


def test_reconcile_finds_a_document_the_log_lacks(replayed):
    reported = reported_for(replayed)
    stray = "6f1c2a7e-0000-4000-8000-0000000000ff"
    reported["routing"].append({"document_id": stray, "delivered_to": [DISTRICT_1],
                                "refused": None})
    assert reconcile(replayed, reported) == [
        Difference(stray, "routing", "document", "absent", "present")]


def test_reconcile_does_not_compare_a_document_whose_data_was_erased(replayed):
    """After an erasure order the log cannot say what the document was: its
    replay (from the destroyed data) differs from the services', not compared."""
    reported = reported_for(replayed)
    erased = {k: v for k, v in replayed.items() if k != OTHER}  # OTHER's data is gone
    assert reconcile(erased, reported) == [
        Difference(OTHER, s, "document", "absent", "present")
        for s in ("docs", "routing", "signing")]
    assert reconcile(erased, reported, erased=[OTHER.upper()]) == []


@pytest.mark.parametrize("service, field, value, log_value", [
    ("docs", "recipients", [DISTRICT_1], [DISTRICT_1, DISTRICT_2]),
    ("docs", "sha256", "ef" * 32, SHA),
    ("docs", "delivered_to", [DISTRICT_2], [DISTRICT_1, DISTRICT_2]),
    ("docs", "issuing_agency", DISTRICT_1, PROVINCE),
    ("signing", "signed", False, True),
    ("signing", "sha256", "ef" * 32, SHA),
    ("signing", "key_id", "0000000000000000", KEY_ID),
    ("routing", "delivered_to", [], [DISTRICT_1, DISTRICT_2]),
    ("routing", "refused", "the signature does not verify", None),
])
def test_reconcile_finds_a_differing_field(replayed, service, field, value, log_value):
    reported = reported_for(replayed)
    row = next(r for r in reported[service] if r["document_id"] == DOC)
    row[field] = value
    assert reconcile(replayed, reported) == [Difference(DOC, service, field, log_value, value)]


def test_reconcile_lists_every_difference_in_order(replayed):
    reported = reported_for(replayed)
    reported["routing"] = [r for r in reported["routing"] if r["document_id"] != DOC]
    reported["docs"][1]["delivered_to"] = [DISTRICT_1]  # OTHER was refused, not delivered
    found = reconcile(replayed, reported)
    assert [(d.document_id, d.service, d.field) for d in found] == [
        (DOC, "routing", "document"), (OTHER, "docs", "delivered_to")]
    assert found[1].to_dict() == {"document_id": OTHER, "service": "docs",
                                  "field": "delivered_to", "log_value": [],
                                  "service_value": [DISTRICT_1]}


def test_reconcile_with_an_empty_log():
    assert reconcile({}, {"docs": [], "signing": [], "routing": []}) == []
    assert reconcile({}, {"docs": [{"document_id": DOC}]}) == [
        Difference(DOC, "docs", "document", "absent", "present")]


def test_routing_events_have_readable_summaries():
    from services.audit.replay import summary
    from shared.envelope import Actor, new_event

    sent = new_event("ConsignmentSent", {"consignment_id": "c-00000001",
                                         "recipients": ["000.01.00.H41", "000.02.00.H41"]},
                     actor=Actor("u", "000.00.00.H41", "clerk"), producer="routing",
                     stream_id="delivery-x")
    assert summary(sent) == "sent as consignment c-00000001 to 2 agencies"
    status = new_event("StatusReported", {"recipient": "000.01.00.H41", "code": "03",
                                          "status": "tiếp nhận"},
                       actor=Actor("u", "000.01.00.H41", "clerk"), producer="routing",
                       stream_id="delivery-x")
    assert summary(status) == "000.01.00.H41 reported 03 (tiếp nhận)"


def test_a_revision_changes_the_documents_hash_and_the_issue_gives_its_number():
    revised = new_event("DocumentRevised", {
        "document_id": DOC, "state": "draft", "file": {"sha256": "cd" * 32}},
        actor=CLERK, producer="docs", stream_id=f"document-{DOC}", occurred_at=at(1)).at(2, 2)
    issued = new_event("DocumentIssued", {"document_id": DOC, "number_notation": "01/CT-UBND"},
                       actor=CLERK, producer="docs", stream_id=f"document-{DOC}",
                       occurred_at=at(3)).at(3, 3)
    events = list(enumerate([registered(), revised, signed(2, sha="cd" * 32), issued]))
    state = fold(events)[DOC]
    assert state.sha256 == "cd" * 32 and state.number_notation == "01/CT-UBND"
    assert state_at(events, at(0))[DOC].sha256 == SHA
    assert [h["summary"] for h in history(events)][-1] == "issued as số 01/CT-UBND by " \
        f"clerk@{PROVINCE}"
    report = {"docs": [{"document_id": DOC, "issuing_agency": PROVINCE,
                        "recipients": [DISTRICT_1, DISTRICT_2], "sha256": "cd" * 32,
                        "delivered_to": [], "number_notation": "02/CT-UBND"}]}
    assert reconcile(fold(events), report) == [
        Difference(DOC, "docs", "number_notation", "01/CT-UBND", "02/CT-UBND")]


# -- documents from outside the platform ------------------------------------------

MINISTRY = "000.00.00.G22"


def imported(event_type="ExternalDocumentReceived", producer="routing", minutes=0):
    return new_event(event_type, {
        "document_id": DOC, "origin": "edxml", "issuing_agency": MINISTRY,
        "subject": "Về việc chuyển đổi số", "document_type": "CV",
        "number_notation": "125/BNV-VP", "recipients": [DISTRICT_2, DISTRICT_1],
        "file": {"key": f"documents/{DOC}/main.pdf", "sha256": SHA, "size": 9}},
        actor=system_actor(producer), producer=producer, stream_id=f"delivery-{DOC}",
        occurred_at=at(minutes)).at(1, 1)


def test_an_imported_document_folds_from_routing_and_docs_alike():
    external = fold(indexed(imported(), delivered(DISTRICT_1, minutes=1),
                            imported("ExternalDocumentRecorded", "docs", minutes=2)))[DOC]
    assert external.external and not external.signed
    assert (external.issuing_agency, external.number_notation, external.sha256) == \
        (MINISTRY, "125/BNV-VP", SHA)
    assert external.recipients == (DISTRICT_1, DISTRICT_2)
    assert external.delivered_to == (DISTRICT_1,)
    [entry] = [h for h in history(indexed(imported())) if h["event_type"] ==
               "ExternalDocumentReceived"]
    assert "125/BNV-VP of 000.00.00.G22 imported from the national axis" in entry["summary"]


def test_signing_is_not_expected_to_know_a_document_signed_outside():
    replayed = fold(indexed(imported(), delivered(DISTRICT_1, minutes=1)))
    reported = reported_for(replayed)
    reported["docs"][0]["number_notation"] = "125/BNV-VP"
    reported["signing"] = []
    assert reconcile(replayed, reported) == []
    reported["docs"] = []  # docs must know it: it registered the arrival
    assert reconcile(replayed, reported) == [
        Difference(DOC, "docs", "document", "present", "absent")]


# -- like with like: each service is held to what it has heard of ----------------------

def lifecycle(event_type, minutes, document_id=DOC, producer="docs", actor=CLERK, **data):
    return new_event(event_type, {"document_id": document_id, **data}, actor=actor,
                     producer=producer, stream_id=f"document-{document_id}",
                     occurred_at=at(minutes)).at(2, 2)


def submitted(minutes=1, document_id=DOC):
    return lifecycle("DocumentSubmitted", minutes, document_id, state="submitted",
                     signer_user=LEADER.user_id, round=1, sha256=SHA)


def returned(minutes=2, document_id=DOC):
    return lifecycle("DocumentReturned", minutes, document_id, producer="signing",
                     actor=LEADER, comment="sửa lại trích yếu")


def issued(minutes=4, document_id=DOC):
    return lifecycle("DocumentIssued", minutes, document_id, number_notation="01/CT-UBND")


DRAFT, SUBMITTED_DOC, RETURNED_DOC, ISSUED_DOC = (
    f"6f1c2a7e-0000-4000-8000-00000000010{n}" for n in range(4))


@pytest.fixture
def mid_flow():
    """A draft, a submitted document, a returned one and one issued but not yet
    sent: the platform on an ordinary working day."""
    return fold(indexed(
        registered(0, document_id=DRAFT),
        registered(0, document_id=SUBMITTED_DOC), submitted(1, SUBMITTED_DOC),
        registered(0, document_id=RETURNED_DOC), submitted(1, RETURNED_DOC),
        returned(2, RETURNED_DOC),
        registered(0, document_id=ISSUED_DOC), submitted(1, ISSUED_DOC),
        signed(2, document_id=ISSUED_DOC), issued(4, ISSUED_DOC)))


def reported_mid_flow(states):
    """What the services report in the middle of that day: signing knows the
    submitted ones, routing the issued one (undelivered yet)."""
    everything = reported_for(states)
    return {"docs": everything["docs"],
            "signing": [r for r in everything["signing"]
                        if r["document_id"] in (SUBMITTED_DOC, RETURNED_DOC, ISSUED_DOC)],
            "routing": [r for r in everything["routing"] if r["document_id"] == ISSUED_DOC]}


def test_drafts_submitted_returned_and_issued_documents_are_no_difference(mid_flow):
    assert mid_flow[SUBMITTED_DOC].submitted and not mid_flow[DRAFT].submitted
    assert reconcile(mid_flow, reported_mid_flow(mid_flow)) == []


def test_a_submission_signing_never_received_is_still_a_difference(mid_flow):
    reported = reported_mid_flow(mid_flow)
    reported["signing"] = [r for r in reported["signing"] if r["document_id"] != SUBMITTED_DOC]
    assert reconcile(mid_flow, reported) == [
        Difference(SUBMITTED_DOC, "signing", "document", "present", "absent")]


def test_an_issue_routing_never_received_is_still_a_difference(mid_flow):
    reported = reported_mid_flow(mid_flow)
    reported["routing"] = []
    assert reconcile(mid_flow, reported) == [
        Difference(ISSUED_DOC, "routing", "document", "present", "absent")]


def test_a_service_that_knows_a_draft_the_log_never_sent_it_is_a_difference(mid_flow):
    """signing holds a submission the log lacks (a lost event, or a forged row)."""
    reported = reported_mid_flow(mid_flow)
    reported["signing"].append({"document_id": DRAFT, "issuing_agency": PROVINCE,
                                "sha256": SHA, "signed": False, "key_id": None})
    assert reconcile(mid_flow, reported) == [
        Difference(DRAFT, "signing", "document", "absent", "present")]


def test_a_state_mismatch_mid_flow_is_a_difference(mid_flow):
    reported = reported_mid_flow(mid_flow)
    row = next(r for r in reported["signing"] if r["document_id"] == SUBMITTED_DOC)
    row["signed"], row["key_id"] = True, KEY_ID  # signed, says signing; the log has no signature
    assert reconcile(mid_flow, reported) == [
        Difference(SUBMITTED_DOC, "signing", "key_id", None, KEY_ID),
        Difference(SUBMITTED_DOC, "signing", "signed", False, True)]


def test_a_document_routing_has_that_the_log_lacks_is_a_difference_mid_flow(mid_flow):
    reported = reported_mid_flow(mid_flow)
    stray = "6f1c2a7e-0000-4000-8000-0000000001ff"
    reported["routing"].append({"document_id": stray, "delivered_to": [], "refused": None})
    assert reconcile(mid_flow, reported) == [
        Difference(stray, "routing", "document", "absent", "present")]
