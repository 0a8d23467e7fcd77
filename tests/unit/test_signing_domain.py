"""services.signing.domain: who approves, returns, signs and seals, and when."""

import pytest

from services.signing.domain import (
    RETURNED, SEALED, SIGNED, SUBMITTED, check_leader, check_may_seal, document_returned,
)
from shared.envelope import Actor
from shared.errors import Conflict, Forbidden, ValidationFailed

AGENCY, OTHER = "000.00.00.H41", "000.00.00.H42"
LEADER = Actor("chu.tich", AGENCY, "leader")
CLERK = Actor("van.thu", AGENCY, "clerk")


def _document(state=SUBMITTED, **changes):
    return {"document_id": "d1", "issuing_agency": AGENCY, "signer_user": "chu.tich",
            "state": state, "round": 1, "sha256": "ab" * 32, "signer": {}, **changes}


def _refusal(check, document, actor):
    with pytest.raises((Forbidden, Conflict)) as err:
        check(document, actor)
    return type(err.value), err.value.field


def test_the_named_leader_may_sign_a_submitted_document():
    check_leader(_document(), LEADER)


@pytest.mark.parametrize("actor, refusal", [
    (CLERK, (Forbidden, "role")),
    (Actor("chu.tich", OTHER, "leader"), (Forbidden, "agency")),
    (Actor("pho.chu.tich", AGENCY, "leader"), (Forbidden, "signer_user")),
    (Actor("chu.tich", AGENCY, "auditor"), (Forbidden, "role")),
])
def test_only_the_named_leader_of_the_issuing_agency_signs(actor, refusal):
    assert _refusal(check_leader, _document(), actor) == refusal


@pytest.mark.parametrize("state, field", [
    (SIGNED, "document_id"), (SEALED, "document_id"), (RETURNED, "state")])
def test_a_replayed_approval_or_a_returned_draft_is_refused(state, field):
    assert _refusal(check_leader, _document(state), LEADER) == (Conflict, field)


def test_the_clerk_seals_only_after_the_leader_signed():
    check_may_seal(_document(SIGNED), CLERK)
    assert _refusal(check_may_seal, _document(SUBMITTED), CLERK) == (Conflict, "state")
    assert _refusal(check_may_seal, _document(RETURNED), CLERK) == (Conflict, "state")
    assert _refusal(check_may_seal, _document(SEALED), CLERK) == (Conflict, "document_id")


@pytest.mark.parametrize("actor", [LEADER, Actor("van.thu", OTHER, "clerk")])
def test_only_a_clerk_of_the_issuing_agency_seals(actor):
    assert _refusal(check_may_seal, _document(SIGNED), actor) == (Forbidden, "role")


@pytest.mark.parametrize("comment", [None, "", "   ", 42, "x" * 2001])
def test_a_return_needs_a_comment(comment):
    with pytest.raises(ValidationFailed) as err:
        document_returned(_document(), comment, LEADER)
    assert err.value.field == "comment"


def test_a_return_records_the_round_and_the_comment():
    event = document_returned(_document(round=3), "  Sửa lại trích yếu  ", LEADER)
    assert event.event_type == "DocumentReturned"
    assert event.data == {"document_id": "d1", "round": 3, "comment": "Sửa lại trích yếu"}
