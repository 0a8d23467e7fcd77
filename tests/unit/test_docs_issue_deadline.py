"""The issue deadline of an outgoing document (Decree 30/2020 Art. 18(1)), pure:
issued on the day the leader signs it, at the latest the next working day
(Vietnam time, weekends and Tết skipped); an urgent one at once (two hours
unless configured)."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.docs import domain
from shared.envelope import Actor, new_event
from shared.errors import ValidationFailed
from shared.workdays import WorkingCalendar
from tests.support.vietnam import eod, vn

VN = timezone(timedelta(hours=7))
LEADER = Actor("chu.tich", "000.00.00.H41", "leader")


@pytest.mark.parametrize("signed_at, due", [
    (vn(2026, 11, 17, 10), eod(2026, 11, 18)),   # Tuesday -> end of Wednesday
    (vn(2026, 11, 20, 21), eod(2026, 11, 23)),   # Friday night -> end of Monday
    (vn(2026, 11, 21, 9), eod(2026, 11, 23)),    # Saturday -> end of Monday
    (vn(2026, 11, 22, 23, 59), eod(2026, 11, 23)),  # Sunday night -> end of Monday
    # Thursday 20:00 UTC is Friday 03:00 in Hà Nội: the Vietnam day counts.
    (datetime(2026, 11, 19, 20, tzinfo=timezone.utc), eod(2026, 11, 23)),
    (vn(2026, 2, 13, 15), eod(2026, 2, 23)),     # the Friday before Tết 2026
    (vn(2026, 2, 18, 8), eod(2026, 2, 23)),      # during Tết
    (vn(2025, 4, 25, 16), eod(2025, 4, 26)),     # Friday -> the Saturday worked in exchange
    (vn(2026, 12, 31, 10), eod(2027, 1, 4)),     # New Year's Day, then the weekend
])
def test_a_normal_document_is_issued_by_the_end_of_the_next_working_day(signed_at, due):
    assert domain.issue_deadline(signed_at, 0) == due
    assert domain.issue_deadline(signed_at, None) == due  # no urgency given: Thường


@pytest.mark.parametrize("urgency", [1, 2, 3])
def test_an_urgent_document_is_issued_at_once_whatever_the_day(urgency):
    sunday_night = vn(2026, 11, 22, 23)
    assert domain.issue_deadline(sunday_night, urgency) == vn(2026, 11, 23, 1)
    assert domain.issue_deadline(sunday_night, urgency, timedelta(minutes=30)) == \
        vn(2026, 11, 22, 23, 30)
    # given in Vietnam time, whatever zone the signature came in
    utc = datetime(2026, 11, 22, 16, tzinfo=timezone.utc)
    assert domain.issue_deadline(utc, urgency).utcoffset() == timedelta(hours=7)


def test_another_calendar_can_be_given():
    no_holidays = WorkingCalendar(holidays=set())
    assert domain.issue_deadline(vn(2026, 2, 13, 15), 0, calendar=no_holidays) == \
        eod(2026, 2, 16)


@pytest.mark.parametrize("args, field", [
    ((datetime(2026, 11, 17, 10), 0), "signed_at"),          # naive: no agreed zone
    (("hôm qua", 0), "signed_at"),
    ((vn(2026, 11, 17), "khẩn"), "urgency"),
    ((vn(2026, 11, 17), True), "urgency"),
    ((vn(2026, 11, 17), -1), "urgency"),
    ((vn(2026, 11, 17), 1, timedelta(0)), "urgent_issue_within"),
    ((vn(2026, 11, 17), 1, 120), "urgent_issue_within"),
])
def test_bad_inputs_are_refused_naming_the_field(args, field):
    with pytest.raises(ValidationFailed) as refused:
        domain.issue_deadline(*args)
    assert refused.value.field == field


def _signature(document_id, at):
    return new_event("DocumentSigned", {"document_id": document_id}, actor=LEADER,
                     producer="signing", stream_id=f"signature-{document_id}", occurred_at=at)


def _document(urgency=0, state=domain.SUBMITTED):
    return {"document_id": str(uuid.uuid4()), "state": state, "urgency": urgency,
            "issuing_agency": "000.00.00.H41"}


def test_the_leaders_signature_fixes_the_issue_deadline_in_its_event():
    document = _document()
    event = domain.state_changed(document, "sign",
                                 _signature(document["document_id"], vn(2026, 11, 20, 21)))
    assert event.data["state"] == domain.SIGNED
    assert event.data["signed_at"] == "2026-11-20T21:00:00+07:00"
    assert event.data["issue_by"] == "2026-11-23T23:59:59.999000+07:00"
    urgent = domain.state_changed(_document(urgency=3), "sign", _signature(
        document["document_id"], vn(2026, 11, 20, 21)), urgent_issue_within=timedelta(hours=1))
    assert urgent.data["issue_by"] == "2026-11-20T22:00:00+07:00"
    sealed = domain.state_changed({**document, "state": domain.SIGNED}, "seal",
                                  _signature(document["document_id"], vn(2026, 11, 21)))
    assert "issue_by" not in sealed.data  # only the signature starts the clock


def _tracked(**changes):
    return {"document_id": str(uuid.uuid4()), "issuing_agency": "000.00.00.H41",
            "urgency": 0, "state": domain.SIGNED, "signed_at": vn(2026, 11, 20, 21),
            "issue_by": eod(2026, 11, 23), "issued_at": None, "overdue_at": None, **changes}


def test_a_document_is_overdue_once_past_its_deadline_and_not_issued():
    deadline = eod(2026, 11, 23)
    assert not domain.issue_overdue_now(_tracked(), deadline)       # at the deadline: in time
    late = deadline + timedelta(milliseconds=1)
    assert domain.issue_overdue_now(_tracked(), late)
    assert domain.issue_overdue_now(_tracked(state=domain.SEALED), late)
    assert not domain.issue_overdue_now(_tracked(issued_at=late), late)
    assert not domain.issue_overdue_now(_tracked(state=domain.ISSUED), late)
    assert not domain.issue_overdue_now(_tracked(overdue_at=late), late)  # recorded already
    assert not domain.issue_overdue_now(None, late)


def test_the_overdue_event_says_which_deadline_and_how_late():
    tracked = _tracked(urgency=1)
    event = domain.issue_overdue(tracked, datetime(2026, 11, 24, 3, tzinfo=timezone.utc))
    assert event.event_type == "IssueOverdue" and event.producer == "docs"
    assert event.stream_id == domain.stream_of(tracked["document_id"])
    assert event.data["issue_by"] == "2026-11-23T23:59:59.999000+07:00"
    assert event.data["overdue_at"] == "2026-11-24T10:00:00+07:00"
    assert event.data["overdue_by_seconds"] == 10 * 3600  # 10:00 the next morning
    assert event.data["urgency"] == 1 and event.data["state"] == domain.SIGNED


def test_an_issue_records_its_deadline_and_whether_it_was_met():
    deadline = eod(2026, 11, 23)
    assert domain.issue_timeliness(deadline, vn(2026, 11, 23, 17)) == {
        "issue_by": "2026-11-23T23:59:59.999000+07:00", "issued_on_time": True}
    assert domain.issue_timeliness(deadline, vn(2026, 11, 24, 8))["issued_on_time"] is False
    assert domain.issue_timeliness(None, vn(2026, 11, 24, 8)) == {}  # signed before tracking
