"""services.docs.domain: a document's states, its number and notation, the incoming
register, and the metadata rules that need more than a field's own value."""

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from services.docs import domain
from services.docs.schemas import check_declared, load_register
from shared.envelope import Actor
from shared.errors import Conflict, Forbidden, ValidationFailed
from shared.objectstore import StoredObject

SENDER, RECIPIENT = "000.00.00.H41", "000.01.00.H41"
CLERK = Actor("van.thu", SENDER, "clerk")
TODAY = date(2026, 11, 22)
UTC = timezone.utc


def _metadata(**changes):
    payload = {"subject": "Chỉ thị về phòng, chống bão", "document_type": "CT",
               "agency_abbreviation": "UBND", "recipients": [RECIPIENT],
               "signer": {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân",
                          "position": "Chủ tịch",
                          "full_name": "Nguyễn Văn An"}}
    payload.update(changes)
    return load_register(json.dumps(payload, ensure_ascii=False).encode())


def _refused(command, exc=ValidationFailed, actor=CLERK):
    with pytest.raises(exc) as err:
        domain.check_registration(command, actor, TODAY)
    return err.value.field


# -- the state machine ----------------------------------------------------------------

HAPPY_PATH = [("submit", "submitted"), ("sign", "signed"), ("seal", "sealed"),
              ("issue", "issued"), ("send", "sent"), ("send", "sent"), ("recall", "recalled")]


def test_the_way_from_draft_to_recalled():
    state = "draft"
    for command, expected in HAPPY_PATH:
        state = domain.next_state(state, command)
        assert state == expected


def test_a_returned_draft_is_revised_and_submitted_again():
    state = domain.next_state("submitted", "return")
    assert state == "returned"
    assert domain.next_state(state, "revise") == "draft"
    assert domain.next_state(state, "submit") == "submitted"


@pytest.mark.parametrize("state, command", [
    ("draft", "sign"), ("draft", "seal"), ("draft", "issue"), ("draft", "send"),
    ("submitted", "seal"), ("submitted", "issue"), ("submitted", "revise"),
    ("signed", "issue"), ("signed", "submit"), ("signed", "return"),
    ("sealed", "send"), ("sealed", "revise"), ("issued", "submit"), ("issued", "sign"),
    ("sent", "issue"), ("recalled", "send"), ("recalled", "recall"), ("replaced", "send"),
    ("replaced", "revise"), ("draft", "recall"), ("sealed", "replace"),
])
def test_illegal_transitions_are_refused_naming_the_state(state, command):
    with pytest.raises(Conflict) as err:
        domain.next_state(state, command)
    assert err.value.field == "state"
    assert state in err.value.message


def test_every_state_is_reachable_and_frozen_states_lead_nowhere():
    reachable = {target for _, target in domain.TRANSITIONS.values() if target}
    assert reachable | {"draft"} == set(domain.STATES)
    for frozen in domain.FROZEN:
        assert not any(frozen in allowed for allowed, _ in domain.TRANSITIONS.values())


def test_incoming_copies_are_accepted_or_returned_once_and_withdrawn_on_recall():
    t = domain.INCOMING_TRANSITIONS
    assert domain.next_state("arrived", "accept", t) == "accepted"
    assert domain.next_state("arrived", "return", t) == "returned"
    assert domain.next_state("accepted", "withdraw", t) == "withdrawn"
    for state, command in [("accepted", "accept"), ("returned", "accept"),
                           ("accepted", "return"), ("withdrawn", "accept"),
                           ("withdrawn", "withdraw")]:
        with pytest.raises(Conflict):
            domain.next_state(state, command, t)


# -- numbering and notation -------------------------------------------------------------

@pytest.mark.parametrize("number, text", [(1, "01"), (9, "09"), (10, "10"), (123, "123")])
def test_numbers_below_ten_get_a_leading_zero(number, text):
    assert domain.format_number(number) == text


@pytest.mark.parametrize("bad", [0, -1, 1.0, "1", None])
def test_a_number_is_a_positive_integer(bad):
    with pytest.raises(ValueError):
        domain.format_number(bad)


def test_the_notation_is_type_then_agency():
    assert domain.number_notation(12, domain.notation("QĐ", "UBND")) == "12/QĐ-UBND"
    assert domain.number_notation(3, domain.notation("CT", "UBND", "VP")) == "03/CT-UBND"


@pytest.mark.parametrize("document_type", ["CV", "THC"])
def test_a_cong_van_is_agency_then_drafting_unit(document_type):
    assert domain.notation(document_type, "UBND", "VP") == "UBND-VP"
    with pytest.raises(ValidationFailed) as err:
        domain.notation(document_type, "UBND", None)
    assert err.value.field == "drafting_unit_abbreviation"


def test_the_year_of_a_series_is_the_year_in_vietnam():
    # 31 Dec 2026 17:00 UTC is already 1 Jan 2027 00:00 in Hà Nội.
    assert domain.series_year(datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC)) == 2026
    assert domain.series_year(datetime(2026, 12, 31, 17, 0, 0, tzinfo=UTC)) == 2027
    with pytest.raises(ValueError):
        domain.series_year(datetime(2026, 12, 31, 17, 0, 0))


def test_secret_documents_have_their_own_series_only_where_configured():
    assert domain.series_of(0, True) == "regular"
    assert domain.series_of(1, True) == "secret"
    assert domain.series_of(3, False) == "regular"


def _sealed(**changes):
    stored = StoredObject("documents/d1/main.pdf", "ab" * 32, 10, "application/pdf", "v1")
    command = _metadata(**changes)
    document = {**domain.metadata_of(command), "document_id": "d1", "issuing_agency": SENDER,
                "state": "sealed", "recipients": command["recipients"],
                "file": stored.to_dict(), "attachments": []}
    return document


def test_the_issue_event_carries_number_notation_year_and_vietnam_time():
    at = datetime(2026, 12, 31, 18, 30, tzinfo=UTC)
    event = domain.document_issued(_sealed(), 1, "regular", at, CLERK)
    assert event.event_type == "DocumentIssued"
    assert event.data["number_notation"] == "01/CT-UBND"
    assert event.data["year"] == 2027
    assert event.data["issued_at"] == "2027-01-01T01:30:00+07:00"
    assert event.data["state"] == "issued"


def test_issuing_a_document_that_is_not_sealed_is_refused():
    with pytest.raises(Conflict):
        domain.document_issued({**_sealed(), "state": "signed"}, 1, "regular",
                               datetime.now(UTC), CLERK)


# -- registration rules beyond one field ----------------------------------------------

def test_a_due_date_in_the_past_is_refused_today_is_allowed():
    assert _refused(_metadata(due_date=(TODAY - timedelta(days=1)).isoformat())) == "due_date"
    domain.check_registration(_metadata(due_date=TODAY.isoformat()), CLERK, TODAY)


def test_a_secret_document_is_never_exchanged_electronically():
    assert _refused(_metadata(secrecy=1)) == "secrecy"
    domain.check_registration(_metadata(secrecy=2, recipients=[]), CLERK, TODAY)


@pytest.mark.parametrize("changes, field", [
    ({"signer": {"position": "Chủ tịch", "full_name": "A", "competence": "XX."}},
     "signer.competence"),
    ({"signer": {"competence": "TM.", "full_name": "A", "on_behalf_of": "UBND"}},
     "signer.position"),
    ({"signer": {"competence": "KT.", "position": "Phó Chủ tịch", "full_name": "A"}},
     "signer.on_behalf_of"),
    ({"signer": {"competence": "KT.", "position": "Phó Chủ tịch", "full_name": "A",
                 "on_behalf_of": "Chủ tịch", "deputy_for": "Chủ tịch"}}, "signer.deputy_for"),
    ({"agency_abbreviation": "ubnd"}, "agency_abbreviation"),
    ({"agency_abbreviation": "UB ND"}, "agency_abbreviation"),
    ({"secrecy": 4}, "secrecy"), ({"steering_type": 3}, "steering_type"),
    ({"due_date": "22/11/2026"}, "due_date"), ({"page_count": 0}, "page_count"),
    ({"language": "vie"}, "language"), ({"amends": "not-a-uuid"}, "amends"),
    ({"response_for": [{"issuing_agency": "H41", "number_notation": "12/QĐ-UBND",
                        "document_date": "2026-01-02"}]}, "response_for.0.issuing_agency"),
    ({"appendices": ["x" * 501]}, "appendices.0"),
    ({"files": [{"sha256": "AB" * 32, "size": 10}]}, "files.0.sha256"),
    ({"files": [{"sha256": "ab" * 32, "size": 0}]}, "files.0.size"),
])
def test_bad_metadata_is_refused_naming_the_field(changes, field):
    with pytest.raises(ValidationFailed) as err:
        _metadata(**changes)
    assert err.value.field == field


def test_a_deputy_signing_for_the_committee_writes_both_authorities():
    # TM. ỦY BAN NHÂN DÂN / KT. CHỦ TỊCH / PHÓ CHỦ TỊCH (Decree 30 Art. 13).
    signer = {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân",
              "deputy_for": "Chủ tịch", "position": "Phó Chủ tịch", "full_name": "A"}
    assert _metadata(signer=signer)["signer"] == signer
    direct = _metadata(signer={"position": "Chủ tịch", "full_name": "A"})["signer"]
    assert "deputy_for" not in direct


def test_amending_and_replacing_at_once_is_refused():
    with pytest.raises(ValidationFailed) as err:
        _metadata(amends="5b7f2a1e-0c1d-4e5f-8a9b-0c1d2e3f4a5b",
                  replaces="5b7f2a1e-0c1d-4e5f-8a9b-0c1d2e3f4a5c")
    assert err.value.field == "replaces"


def test_a_link_goes_to_an_issued_document_of_the_same_agency():
    issued = {"issuing_agency": SENDER, "state": "issued"}
    domain.check_link("replaces", issued, CLERK)
    for linked, exc in [(None, ValidationFailed),
                        ({"issuing_agency": RECIPIENT, "state": "issued"}, ValidationFailed),
                        ({"issuing_agency": SENDER, "state": "draft"}, Conflict),
                        ({"issuing_agency": SENDER, "state": "recalled"}, Conflict)]:
        with pytest.raises(exc):
            domain.check_link("replaces", linked, CLERK)


def test_declared_hashes_and_sizes_must_match_what_arrived():
    stored = StoredObject("k", "ab" * 32, 10, "application/pdf")
    check_declared(None, 0, stored)
    check_declared([{"sha256": "ab" * 32, "size": 10}], 0, stored)
    for declared, field in [([{"sha256": "ab" * 32, "size": 11}], "file"),
                            ([{"sha256": "cd" * 32, "size": 10}], "file")]:
        with pytest.raises(ValidationFailed) as err:
            check_declared(declared, 0, stored)
        assert err.value.field == field
    with pytest.raises(ValidationFailed) as err:
        check_declared([{"sha256": "ab" * 32, "size": 10}], 1, stored)
    assert err.value.field == "files"
    with pytest.raises(ValidationFailed) as err:
        check_declared([{"sha256": "ab" * 32, "size": 10}, {"sha256": "ab" * 32, "size": 9}],
                       1, stored)
    assert err.value.field == "attachments.0"


# -- incoming -----------------------------------------------------------------------

def _arrival(state="arrived"):
    return {"document_id": "d1", "agency": RECIPIENT, "arrival_number": 4, "state": state,
            "number_notation": "01/CT-UBND"}


def test_the_receiving_clerk_accepts_or_returns_with_a_reason():
    clerk = Actor("vt2", RECIPIENT, "clerk")
    accepted = domain.incoming_decided(_arrival(), "accept", clerk)
    assert accepted.event_type == "IncomingAccepted" and accepted.data["state"] == "accepted"
    returned = domain.incoming_decided(_arrival(), "return", clerk, " Gửi nhầm nơi nhận ")
    assert returned.data["reason"] == "Gửi nhầm nơi nhận"
    with pytest.raises(ValidationFailed) as err:
        domain.incoming_decided(_arrival(), "return", clerk, "  ")
    assert err.value.field == "reason"


def test_the_accepting_clerk_says_to_whom_the_document_goes():
    clerk = Actor("vt2", RECIPIENT, "clerk")
    accepted = domain.incoming_decided(_arrival(), "accept", clerk, handed_to=" Phòng Nội vụ ")
    assert accepted.data["handed_to"] == "Phòng Nội vụ"
    assert "handed_to" not in domain.incoming_decided(_arrival(), "accept", clerk).data
    for command, reason, handed_to in (("accept", None, "x" * 201),
                                       ("return", "Sai nơi nhận", "Phòng Nội vụ"),
                                       ("accept", None, 7)):
        with pytest.raises(ValidationFailed) as err:
            domain.incoming_decided(_arrival(), command, clerk, reason, handed_to)
        assert err.value.field == "handed_to"


def test_the_incoming_register_shows_to_whom_and_when_it_went():
    from datetime import datetime, timezone

    from services.docs import registers

    at = datetime(2026, 3, 5, 18, tzinfo=timezone.utc)  # 6 March, Vietnam time
    document = {"issuing_agency": SENDER, "number_notation": "01/CT-UBND", "issued_at": at,
                "document_type": "CT", "subject": "Chỉ thị"}
    arrival = {"arrival_number": 1, "arrived_at": at, "state": "accepted", "reason": None,
               "handed_to": "Phòng Nội vụ", "handed_at": at}
    row = registers.incoming_row(arrival, document)
    assert (row["handling_unit"], row["transfer_date"]) == ("Phòng Nội vụ",
                                                            datetime(2026, 3, 6).date())
    assert registers.follow_up_row(arrival, document)["handling_unit"] == "Phòng Nội vụ"


@pytest.mark.parametrize("actor", [Actor("vt", SENDER, "clerk"),
                                   Actor("ld", RECIPIENT, "leader")])
def test_only_the_receiving_agencys_clerk_decides(actor):
    with pytest.raises(Forbidden):
        domain.incoming_decided(_arrival(), "accept", actor)


def test_a_recalled_copy_is_out_of_use_for_the_recipient_but_not_for_the_sender():
    document = {"issuing_agency": SENDER, "delivered_to": [RECIPIENT]}
    recipient = Actor("vt2", RECIPIENT, "clerk")
    assert domain.may_download(document, recipient, "accepted")
    assert not domain.may_download(document, recipient, "withdrawn")
    assert domain.may_download(document, CLERK)
    assert domain.may_download(document, Actor("a", "000.00.00.G22", "auditor"), None)
