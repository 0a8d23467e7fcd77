"""services.routing.deadlines: working days and the Decree 30 handling deadlines."""

from datetime import date, datetime, timedelta, timezone

import pytest

from services.routing.deadlines import handling_deadline, overdue, overdue_by_agency
from shared.workdays import WorkingCalendar, end_of_day
from shared.errors import ValidationFailed
from tests.support.vietnam import eod, vn

VN = timezone(timedelta(hours=7))
CAL = WorkingCalendar()


# --- handling deadlines -----------------------------------------------------------------


def test_a_normal_document_on_a_working_day_is_due_the_next_working_day():
    d = handling_deadline(vn(2025, 3, 4, 10), 0)
    assert d.register_by == eod(2025, 3, 5) and d.complete_by is None and not d.urgent
    assert d.register_by.tzinfo is not None
    assert d.register_by.utcoffset() == timedelta(hours=7)


def test_a_friday_evening_arrival_is_due_monday_night():
    assert handling_deadline(vn(2025, 3, 7, 21, 30), 0).register_by == eod(2025, 3, 10)


def test_a_saturday_arrival_is_due_monday_night():
    assert handling_deadline(vn(2025, 3, 8, 9), 0).register_by == eod(2025, 3, 10)
    assert handling_deadline(vn(2025, 3, 9, 23, 59), 0).register_by == eod(2025, 3, 10)


def test_the_arrival_day_is_the_vietnam_day():
    # Thursday 16:30 UTC is Thursday 23:30 in Vietnam: due Friday.
    thursday = datetime(2025, 3, 6, 16, 30, tzinfo=timezone.utc)
    assert handling_deadline(thursday, 0).register_by == eod(2025, 3, 7)
    # Thursday 17:30 UTC is already Friday 00:30 in Vietnam: due Monday.
    friday = datetime(2025, 3, 6, 17, 30, tzinfo=timezone.utc)
    assert handling_deadline(friday, 0).register_by == eod(2025, 3, 10)


def test_an_arrival_before_tet_is_due_after_tet():
    assert handling_deadline(vn(2025, 1, 24, 16), 0).register_by == eod(2025, 2, 3)
    assert handling_deadline(vn(2026, 2, 18, 8), 0).register_by == eod(2026, 2, 23)


@pytest.mark.parametrize("urgency", [1, 2, 3, 4])
def test_an_urgent_document_is_due_immediately(urgency):
    arrived = vn(2025, 3, 8, 22, 15)  # a Saturday night: urgency ignores the calendar
    d = handling_deadline(arrived, urgency)
    assert d.urgent and d.register_by == arrived + timedelta(hours=2)
    shorter = handling_deadline(arrived, urgency, urgent_within=timedelta(minutes=30))
    assert shorter.register_by == vn(2025, 3, 8, 22, 45)


def test_an_urgent_deadline_is_given_in_vietnam_time():
    d = handling_deadline(datetime(2025, 3, 7, 3, 0, tzinfo=timezone.utc), 3)
    assert d.register_by == vn(2025, 3, 7, 12) and d.register_by.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize("due", [date(2025, 3, 20), "2025-03-20"])
def test_a_due_date_sets_the_completion_deadline(due):
    d = handling_deadline(vn(2025, 3, 4, 10), 0, due)
    assert d.complete_by == eod(2025, 3, 20) == end_of_day(date(2025, 3, 20))
    assert handling_deadline(vn(2025, 3, 4, 10), 2, due).complete_by == eod(2025, 3, 20)


@pytest.mark.parametrize("kwargs,field", [
    ({"arrived_at": datetime(2025, 3, 4, 10), "urgency": 0}, "arrived_at"),
    ({"arrived_at": vn(2025, 3, 4), "urgency": 5}, "urgency"),
    ({"arrived_at": vn(2025, 3, 4), "urgency": True}, "urgency"),
    ({"arrived_at": vn(2025, 3, 4), "urgency": "0"}, "urgency"),
    ({"arrived_at": vn(2025, 3, 4), "urgency": 0, "due_date": "20/03/2025"}, "due_date"),
    ({"arrived_at": vn(2025, 3, 4), "urgency": 0, "due_date": vn(2025, 3, 20)}, "due_date"),
    ({"arrived_at": vn(2025, 3, 4), "urgency": 1, "urgent_within": timedelta(hours=-1)},
     "urgent_within"),
])
def test_bad_deadline_inputs(kwargs, field):
    with pytest.raises(ValidationFailed) as err:
        handling_deadline(**kwargs)
    assert err.value.field == field


# --- overdue ----------------------------------------------------------------------------

H42, H43 = "000.00.00.H42", "000.00.00.H43"


def item(doc, recipient, arrived_at, urgency, status, due_date=None, **extra):
    return {"document_id": doc, "recipient": recipient, "arrived_at": arrived_at,
            "urgency": urgency, "status": status, "due_date": due_date, **extra}


ITEMS = [
    item("A", H42, vn(2025, 3, 7, 21), 0, "01"),                       # due Mon 10 end
    item("B", H42, vn(2025, 3, 10, 10), 3, "01"),                      # urgent: 12:00
    item("C", H43, vn(2025, 3, 10, 8), 0, "03", date(2025, 3, 12)),    # complete by 12 end
    item("D", H43, vn(2025, 3, 10, 8), 0, "06", date(2025, 3, 11)),    # done
    item("E", H42, vn(2025, 3, 10, 8), 0, "02", date(2025, 3, 11)),    # returned
    item("F", H43, "2025-03-10T02:00:00+00:00", 0, "01", "2025-03-10"),  # due today
    item("G", H42, vn(2025, 3, 3, 8), 0, "01", recalled=True),         # recalled copy
    item("H", H42, vn(2025, 3, 10, 9), 1, "03"),                       # urgent, accepted
]


def kinds(findings):
    return [(f["document_id"], f["kind"]) for f in findings]


def test_nothing_is_overdue_before_the_first_deadline():
    assert overdue(ITEMS, vn(2025, 3, 10, 11)) == []
    assert overdue(ITEMS, vn(2025, 3, 10, 12)) == []  # exactly at the deadline: not yet


def test_an_urgent_document_is_overdue_after_its_short_interval():
    findings = overdue(ITEMS, vn(2025, 3, 10, 12, 30))
    assert findings == [{"document_id": "B", "recipient": H42, "kind": "registration",
                         "deadline": vn(2025, 3, 10, 12), "overdue_by_seconds": 1800.0}]


def test_at_midnight_the_day_deadlines_have_passed():
    findings = overdue(ITEMS, vn(2025, 3, 11))
    assert kinds(findings) == [("B", "registration"), ("A", "registration"),
                               ("F", "completion")]
    assert findings[1]["deadline"] == eod(2025, 3, 10)
    assert findings[1]["overdue_by_seconds"] == pytest.approx(0.001)


def test_days_later_everything_late_is_listed_by_deadline():
    now = datetime(2025, 3, 13, 2, 0, tzinfo=timezone.utc)  # 09:00 in Vietnam
    findings = overdue(ITEMS, now)
    assert kinds(findings) == [("B", "registration"), ("A", "registration"),
                               ("F", "completion"), ("F", "registration"),
                               ("C", "completion")]
    c = findings[-1]
    assert c["deadline"] == eod(2025, 3, 12)
    assert c["overdue_by_seconds"] == pytest.approx(9 * 3600 + 0.001)


def test_a_configured_urgent_interval_applies_to_overdue():
    findings = overdue(ITEMS, vn(2025, 3, 10, 10, 45), urgent_within=timedelta(minutes=30))
    assert kinds(findings) == [("B", "registration")]


def test_completing_or_returning_clears_a_completion_finding():
    late = vn(2025, 4, 1)
    done = [dict(i, status="06") for i in ITEMS]
    assert overdue(done, late) == []
    returned = [dict(i, status="02") for i in ITEMS]
    assert overdue(returned, late) == []


def test_overdue_by_agency_groups_by_recipient():
    grouped = overdue_by_agency(ITEMS, vn(2025, 3, 13, 9))
    assert list(grouped) == [H42, H43]
    assert kinds(grouped[H42]) == [("B", "registration"), ("A", "registration")]
    assert kinds(grouped[H43]) == [("F", "completion"), ("F", "registration"),
                                   ("C", "completion")]
    assert overdue_by_agency(ITEMS, vn(2025, 3, 10, 9)) == {}


def test_overdue_with_another_calendar():
    # With 10 March as a holiday, A is due Tuesday night instead.
    cal = WorkingCalendar(holidays={date(2025, 3, 10)})
    assert kinds(overdue(ITEMS[:1], vn(2025, 3, 11, 12), cal)) == []
    assert kinds(overdue(ITEMS[:1], vn(2025, 3, 12), cal)) == [("A", "registration")]


def test_overdue_wants_aware_times():
    with pytest.raises(ValidationFailed) as err:
        overdue(ITEMS, datetime(2025, 3, 13, 9))
    assert err.value.field == "now"
    with pytest.raises(ValidationFailed) as err:
        overdue([item("X", H42, "2025-03-10T09:00:00", 0, "01")], vn(2025, 3, 13))
    assert err.value.field == "arrived_at"
