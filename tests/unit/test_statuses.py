"""services.routing.statuses: status reports on a copy, and the recall negotiation."""

from datetime import datetime, timedelta, timezone

import pytest

from services.routing.statuses import (
    STATUS, STATUS_EN, DeliveryStatus, RecallRequest, allowed_next, answer_recall, delivered,
    label, recall_outcome, report, request_recall,
)
from shared.errors import Conflict, Forbidden, ValidationFailed

DOC = "5b7f2a1e-0c1d-4e5f-8a9b-0c1d2e3f4a5b"
NEW_DOC = "9c8d7e6f-0000-4000-8000-000000000001"
SENDER = "000.00.00.H41"
R1, R2, R3 = "000.00.00.H42", "000.00.01.H42", "001.00.00.H43"
VN = timezone(timedelta(hours=7))
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=VN)


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def fresh(recipient=R1):
    return DeliveryStatus(document_id=DOC, recipient=recipient, sender=SENDER)


def arrived(recipient=R1):
    state, _ = delivered(DOC, recipient, sender=SENDER, at=T0)
    return state


def step(state, code, reason=None, minutes=1):
    if code == "02" and reason is None:
        reason = "gửi nhầm cơ quan"
    new, _ = report(state, code, by_agency=state.recipient, recipient=state.recipient,
                    at=at(minutes), user="clerk-1", reason=reason)
    return new


# A path from nothing to each code.
PATHS = {None: [], "01": ["01"], "02": ["01", "02"], "03": ["01", "03"],
         "04": ["01", "03", "04"], "05": ["01", "03", "05"], "06": ["01", "03", "04", "06"]}

ALLOWED = {(None, "01"), ("01", "02"), ("01", "03"), ("03", "04"), ("03", "05"),
           ("04", "05"), ("04", "06"), ("05", "06")}


def state_at(code):
    state = fresh()
    for i, c in enumerate(PATHS[code]):
        state = step(state, c, minutes=i)
    assert state.code == code
    return state


PAIRS = [(a, b) for a in PATHS for b in ("01", "02", "03", "04", "05", "06")]


def test_the_code_table_has_names_and_glosses():
    assert STATUS == {"01": "đã đến", "02": "từ chối", "03": "tiếp nhận", "04": "phân công",
                      "05": "đang xử lý", "06": "hoàn thành", "13": "lấy lại",
                      "15": "đồng ý lấy lại/cập nhật", "16": "từ chối lấy lại/cập nhật"}
    assert set(STATUS_EN) == set(STATUS)
    assert label("06") == "06 (hoàn thành)" and label(None) == "(none)"


def test_the_table_of_pairs_is_complete():
    assert len(PAIRS) == 7 * 6
    assert ALLOWED == {(a, b) for a in PATHS for b in allowed_next(a)}


@pytest.mark.parametrize("current,code", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_transition(current, code):
    state = state_at(current)
    if (current, code) in ALLOWED:
        new, change = report(state, code, by_agency=R1, recipient=R1, at=at(30), user="u9",
                             reason="lý do" if code == "02" else None)
        assert new.code == code and change.code == code and change.previous == current
        assert new.history[-1] == change and len(new.history) == len(state.history) + 1
        assert (change.user, change.agency, change.at) == ("u9", R1, at(30))
        assert state.code == current  # the old state is untouched
    elif current == code:
        with pytest.raises(Conflict) as err:
            report(state, code, by_agency=R1, recipient=R1, at=at(30), user="u9",
                   reason="lý do")
        assert "already at" in err.value.message and "repeating" in err.value.message
        assert err.value.field == "code"
    else:
        with pytest.raises(ValidationFailed) as err:
            report(state, code, by_agency=R1, recipient=R1, at=at(30), user="u9",
                   reason="lý do")
        assert err.value.message.startswith(f"cannot go from {label(current)} to {label(code)}: ")
        assert err.value.field == "code"


@pytest.mark.parametrize("current,rule", [
    ("01", "a document is completed only after it is accepted"),
    ("03", "a document is completed only after it is assigned (04) or being processed (05)"),
    (None, "a document is completed only after it is accepted"),
    ("02", "02 (từ chối) is final"),
])
def test_refusals_name_the_rule(current, rule):
    with pytest.raises(ValidationFailed) as err:
        report(state_at(current), "06", by_agency=R1, recipient=R1, at=at(30), user="u9")
    assert rule in err.value.message


def test_the_exact_message_for_completing_an_arrived_document():
    with pytest.raises(ValidationFailed) as err:
        report(arrived(), "06", by_agency=R1, recipient=R1, at=at(5), user="u9")
    assert err.value.message == ("cannot go from 01 (đã đến) to 06 (hoàn thành): "
                                 "a document is completed only after it is accepted")


@pytest.mark.parametrize("code", ["04", "05"])
def test_assigning_or_processing_needs_acceptance_first(code):
    with pytest.raises(ValidationFailed) as err:
        report(arrived(), code, by_agency=R1, recipient=R1, at=at(5), user="u9")
    assert "after it is accepted (03)" in err.value.message


def test_delivery_sets_01_with_a_history_line():
    state, change = delivered(DOC, R1, sender=SENDER, at=T0)
    assert (state.code, state.name, state.sender, state.recalled) == ("01", "đã đến", SENDER, False)
    assert change.previous is None and change.user == "service:routing" and change.agency == R1
    assert change.to_dict()["status"] == "đã đến"
    assert change.to_dict()["at"] == T0.isoformat()


def test_a_full_history_is_kept_in_order():
    state = arrived()
    for i, code in enumerate(["03", "04", "05", "06"]):
        state = step(state, code, minutes=i + 1)
    assert [c.code for c in state.history] == ["01", "03", "04", "05", "06"]
    assert [c.previous for c in state.history] == [None, "01", "03", "04", "05"]
    assert state.final


@pytest.mark.parametrize("who", [SENDER, R2, "000.00.00.G22"])
def test_only_the_recipient_reports_on_its_copy(who):
    with pytest.raises(Forbidden) as err:
        report(arrived(), "03", by_agency=who, recipient=R1, at=at(1), user="u9")
    assert f"only the recipient {R1} may report" in err.value.message
    assert err.value.field == "by_agency"


def test_a_report_for_another_copy_is_refused():
    with pytest.raises(ValidationFailed) as err:
        report(arrived(R1), "03", by_agency=R2, recipient=R2, at=at(1), user="u9")
    assert err.value.field == "recipient"


@pytest.mark.parametrize("reason", [None, "", "   \n\t"])
def test_returning_needs_a_reason(reason):
    with pytest.raises(ValidationFailed) as err:
        report(arrived(), "02", by_agency=R1, recipient=R1, at=at(1), user="u9", reason=reason)
    assert err.value.field == "reason"
    assert "a returned document (02 từ chối) needs a reason" in err.value.message


def test_a_reason_is_at_most_1000_characters_and_is_trimmed():
    state, change = report(arrived(), "02", by_agency=R1, recipient=R1, at=at(1), user="u9",
                           reason="  " + "x" * 1000 + " ")
    assert change.reason == "x" * 1000 and state.code == "02"
    with pytest.raises(ValidationFailed) as err:
        report(arrived(), "02", by_agency=R1, recipient=R1, at=at(1), user="u9",
               reason="x" * 1001)
    assert "at most 1000" in err.value.message


def test_a_description_on_other_codes_is_optional():
    _, change = report(arrived(), "03", by_agency=R1, recipient=R1, at=at(1), user="u9",
                       reason="Số đến 125")
    assert change.reason == "Số đến 125"


@pytest.mark.parametrize("code", ["13", "15", "16"])
def test_recall_codes_are_not_processing_statuses(code):
    with pytest.raises(ValidationFailed) as err:
        report(arrived(), code, by_agency=R1, recipient=R1, at=at(1), user="u9")
    assert "recall negotiation" in err.value.message


@pytest.mark.parametrize("code", ["07", "1", 3, None, "00"])
def test_unknown_codes_are_refused(code):
    with pytest.raises(ValidationFailed) as err:
        report(arrived(), code, by_agency=R1, recipient=R1, at=at(1), user="u9")
    assert err.value.field == "code" and "unknown status code" in err.value.message


def test_times_must_be_aware():
    with pytest.raises(ValidationFailed) as err:
        report(arrived(), "03", by_agency=R1, recipient=R1, at=datetime(2025, 3, 3, 9),
               user="u9")
    assert err.value.field == "at"


# --- recall -----------------------------------------------------------------------------


def ask(delivery, business_type=1, current=None, by=SENDER, replacement=None, minutes=60):
    return request_recall(delivery, current, business_type=business_type, by_agency=by,
                          at=at(minutes), user="sender-clerk",
                          replacement_document_id=replacement)


def answer(request, delivery, code, by=None, reason=None, minutes=90):
    return answer_recall(request, delivery, code, by_agency=by or request.recipient,
                         at=at(minutes), user="recipient-clerk", reason=reason)


def test_a_request_records_13_with_its_business_type():
    request, change = ask(arrived(), business_type=3, replacement=NEW_DOC)
    assert isinstance(request, RecallRequest) and request.pending
    assert (change.code, change.agency, change.business_type) == ("13", SENDER, 3)
    assert change.to_dict()["replacement_document_id"] == NEW_DOC
    assert request.replacement_document_id == NEW_DOC and request.sender == SENDER


@pytest.mark.parametrize("business_type", [0, 4, "1", None])
def test_a_request_has_a_recall_business_type(business_type):
    with pytest.raises(ValidationFailed) as err:
        ask(arrived(), business_type=business_type)
    assert err.value.field == "business_type"


@pytest.mark.parametrize("replacement", [None, "", "  ", DOC])
def test_a_replace_names_another_replacing_document(replacement):
    with pytest.raises(ValidationFailed) as err:
        ask(arrived(), business_type=3, replacement=replacement)
    assert err.value.field == "replacement_document_id"


def test_a_revoke_names_no_replacing_document():
    with pytest.raises(ValidationFailed):
        ask(arrived(), business_type=1, replacement=NEW_DOC)


@pytest.mark.parametrize("who", [R1, R2, "000.00.00.G22"])
def test_only_the_sender_may_request(who):
    with pytest.raises(Forbidden) as err:
        ask(arrived(), by=who)
    assert f"only the sender {SENDER}" in err.value.message


@pytest.mark.parametrize("delivery", [None, DeliveryStatus(DOC, R1, SENDER)])
def test_a_request_for_an_undelivered_copy_is_refused(delivery):
    with pytest.raises(Conflict) as err:
        ask(delivery)
    assert "never delivered" in err.value.message


def test_a_second_request_waits_for_the_first_answer():
    delivery = arrived()
    first, _ = ask(delivery, business_type=2)
    with pytest.raises(Conflict) as err:
        ask(delivery, business_type=1, current=first)
    assert "still waiting" in err.value.message
    refused, delivery, _ = answer(first, delivery, "16", reason="đã ban hành văn bản thực hiện")
    again, _ = ask(delivery, business_type=1, current=refused, minutes=120)
    assert again.pending and again.business_type == 1


def test_all_agree_to_a_revoke_and_every_copy_is_recalled():
    deliveries = {r: step(arrived(r), "03") for r in (R1, R2, R3)}
    requests = {r: ask(d)[0] for r, d in deliveries.items()}
    assert recall_outcome(requests.values()).state == "pending"
    for r in (R1, R2, R3):
        requests[r], deliveries[r], change = answer(requests[r], deliveries[r], "15")
        assert change.code == "15" and change.previous == "13" and change.agency == r
        assert deliveries[r].recalled and deliveries[r].final
        assert deliveries[r].history[-1] == change and deliveries[r].code == "03"
    outcome = recall_outcome(requests.values())
    assert (outcome.state, outcome.agreed, outcome.refused, outcome.pending) == \
        ("agreed", (R1, R2, R3), (), ())


def test_some_refuse_and_are_listed_even_while_others_are_pending():
    deliveries = {r: arrived(r) for r in (R1, R2, R3)}
    requests = {r: ask(d, business_type=2)[0] for r, d in deliveries.items()}
    requests[R1], d1, _ = answer(requests[R1], deliveries[R1], "15")
    assert not d1.recalled  # an agreed update does not recall the copy
    requests[R3], _, change = answer(requests[R3], deliveries[R3], "16", reason="  đã xử lý  ")
    assert change.reason == "đã xử lý"
    outcome = recall_outcome(requests.values())
    assert outcome.state == "refused"
    assert outcome.refused == ((R3, "đã xử lý"),) and outcome.refused_by == (R3,)
    assert outcome.agreed == (R1,) and outcome.pending == (R2,)


def test_an_agreed_replace_leaves_the_copy_active():
    delivery = arrived()
    request, _ = ask(delivery, business_type=3, replacement=NEW_DOC)
    request, delivery, _ = answer(request, delivery, "15")
    assert request.agreed and not delivery.recalled
    assert step(delivery, "03").code == "03"


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_refusing_needs_a_reason(reason):
    delivery = arrived()
    request, _ = ask(delivery, business_type=2)
    with pytest.raises(ValidationFailed) as err:
        answer(request, delivery, "16", reason=reason)
    assert err.value.field == "reason" and "refusing a recall (16) needs a reason" in \
        err.value.message


@pytest.mark.parametrize("reason", [None, "đã triển khai thực hiện"])
def test_a_revoke_cannot_be_refused_the_copy_is_cancelled(reason):
    """Decree 30 Art. 18(4): the recipient cancels a revoked document and reports back."""
    delivery = step(arrived(), "03")
    request, _ = ask(delivery, business_type=1)
    with pytest.raises(Conflict) as err:
        answer(request, delivery, "16", reason=reason)
    assert err.value.field == "code" and "Điều 18 khoản 4" in err.value.message
    assert request.pending and not delivery.recalled  # nothing changed
    request, delivery, change = answer(request, delivery, "15")
    assert change.code == "15" and request.agreed and delivery.recalled


@pytest.mark.parametrize("first,second", [("15", "15"), ("15", "16"), ("16", "15")])
def test_a_recipient_answers_once(first, second):
    delivery = arrived()
    request, _ = ask(delivery, business_type=2)
    request, delivery, _ = answer(request, delivery, first, reason="không đồng ý")
    with pytest.raises(Conflict) as err:
        answer(request, delivery, second, reason="x", minutes=100)
    assert "already answered" in err.value.message and "answers once" in err.value.message


@pytest.mark.parametrize("who", [SENDER, R2])
def test_only_the_addressed_recipient_answers(who):
    delivery = arrived(R1)
    request, _ = ask(delivery)
    with pytest.raises(Forbidden) as err:
        answer(request, delivery, "15", by=who)
    assert f"only the addressed recipient {R1}" in err.value.message


@pytest.mark.parametrize("code", ["13", "01", "06", "14"])
def test_an_answer_is_15_or_16(code):
    delivery = arrived()
    request, _ = ask(delivery)
    with pytest.raises(ValidationFailed) as err:
        answer(request, delivery, code)
    assert err.value.field == "code"


def test_an_answer_with_another_copys_status_is_refused():
    request, _ = ask(arrived(R1))
    with pytest.raises(ValidationFailed):
        answer(request, arrived(R2), "15", by=R1)


def test_a_recalled_copy_refuses_status_reports_and_new_requests():
    delivery = step(arrived(), "03")
    request, _ = ask(delivery)
    request, delivery, _ = answer(request, delivery, "15")
    with pytest.raises(Conflict) as err:
        report(delivery, "05", by_agency=R1, recipient=R1, at=at(200), user="u9")
    assert "was recalled" in err.value.message and "no further status reports" in \
        err.value.message
    with pytest.raises(Conflict) as err:
        ask(delivery, current=request, minutes=210)
    assert "already recalled" in err.value.message


def test_the_outcome_needs_one_request_per_recipient_of_one_document():
    delivery = arrived()
    request, _ = ask(delivery)
    with pytest.raises(ValidationFailed):
        recall_outcome([])
    with pytest.raises(ValidationFailed):
        recall_outcome([request, request])
    other, _ = ask(DeliveryStatus(NEW_DOC, R2, SENDER, code="01"))
    with pytest.raises(ValidationFailed):
        recall_outcome([request, other])
