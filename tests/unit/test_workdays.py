"""shared.workdays: the working-day calendar of Vietnam's state bodies (holidays,
Tết, the Saturdays worked in exchange, the override file), shared by routing's
incoming deadlines and docs' issue deadline."""

from datetime import date, datetime, timedelta, timezone

import pytest

from shared.errors import ValidationFailed
from shared.workdays import (
    VN_TZ, HolidayOverrides, WorkingCalendar, end_of_next_working_day,
)
from tests.support.vietnam import eod, vn

VN = timezone(timedelta(hours=7))
CAL = WorkingCalendar()


# --- the calendar -----------------------------------------------------------------------


def test_vietnam_time_is_utc_plus_7():
    assert datetime(2025, 6, 1, tzinfo=VN_TZ).utcoffset() == timedelta(hours=7)
    assert datetime(2025, 12, 1, tzinfo=VN_TZ).utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize("day,working", [
    (date(2025, 3, 7), True),     # Friday
    (date(2025, 3, 8), False),    # Saturday
    (date(2025, 3, 9), False),    # Sunday
    (date(2025, 1, 1), False),    # New Year
    (date(2025, 1, 27), False),   # Tết 2025
    (date(2025, 1, 31), False),
    (date(2025, 2, 3), True),     # back after Tết
    (date(2025, 4, 7), False),    # Hùng Kings 2025
    (date(2025, 4, 26), True),    # Saturday worked in exchange for 2 May
    (date(2025, 5, 2), False),
    (date(2025, 9, 1), False),    # the day added to National Day
    (date(2025, 9, 2), False),
    (date(2025, 9, 3), True),
    (date(2026, 2, 16), False),   # Tết 2026
    (date(2026, 2, 20), False),
    (date(2026, 2, 23), True),
    (date(2026, 4, 27), False),   # Hùng Kings fell on Sunday 26 Apr: Monday off
    (date(2026, 8, 22), True),    # Saturday worked in exchange for 31 Aug
    (date(2026, 8, 31), False),
    (date(2026, 11, 24), True),   # Culture Day: not a day off until the law gives it
    (date(2027, 2, 8), False),    # Tết 2027
    (date(2027, 5, 3), False),    # 1 May 2027 is a Saturday: Monday off
    (date(2027, 9, 3), False),
    (date(2027, 9, 1), True),
    (date(2028, 1, 3), False),    # 1 Jan 2028 is a Saturday: Monday off
    (date(2028, 1, 26), False),   # Tết 2028: no year limit any more
    (date(2040, 2, 13), False),   # Tết 2040
    (date(2040, 2, 20), True),
])
def test_working_days(day, working):
    assert CAL.is_working_day(day) is working


def test_an_aware_datetime_counts_by_its_vietnam_date():
    # Friday 18:00 UTC is Saturday 01:00 in Hà Nội.
    assert not CAL.is_working_day(datetime(2025, 3, 7, 18, 0, tzinfo=timezone.utc))
    with pytest.raises(ValidationFailed):
        CAL.is_working_day(datetime(2025, 3, 7, 18, 0))


@pytest.mark.parametrize("day,expected", [
    (date(2025, 3, 6), date(2025, 3, 7)),     # Thursday -> Friday
    (date(2025, 3, 7), date(2025, 3, 10)),    # Friday -> Monday
    (date(2025, 3, 8), date(2025, 3, 10)),    # Saturday -> Monday
    (date(2025, 1, 24), date(2025, 2, 3)),    # across Tết 2025
    (date(2025, 1, 29), date(2025, 2, 3)),    # during Tết
    (date(2026, 2, 13), date(2026, 2, 23)),   # across Tết 2026
    (date(2025, 4, 29), date(2025, 5, 5)),    # 30/4, 1/5, swapped 2/5, weekend
    (date(2025, 4, 25), date(2025, 4, 26)),   # Friday -> the make-up Saturday
    (date(2026, 4, 24), date(2026, 4, 28)),   # Hùng Kings compensated on Monday
    (date(2027, 4, 29), date(2027, 5, 4)),    # 30/4 Fri, 1/5 Sat compensated on 3/5
    (date(2024, 12, 31), date(2025, 1, 2)),   # across the year
])
def test_next_working_day(day, expected):
    assert CAL.next_working_day(day) == expected


@pytest.mark.parametrize("day,n,expected", [
    (date(2025, 3, 3), 0, date(2025, 3, 3)),
    (date(2025, 3, 8), 0, date(2025, 3, 8)),    # n = 0 is the day itself, even a Saturday
    (date(2025, 3, 3), 5, date(2025, 3, 10)),
    (date(2025, 3, 7), 1, date(2025, 3, 10)),
    (date(2025, 1, 23), 2, date(2025, 2, 3)),   # Friday, then Monday after Tết
    (date(2025, 1, 23), 10, date(2025, 2, 13)),
    (date(2025, 2, 3), -1, date(2025, 1, 24)),
    (date(2025, 3, 10), -5, date(2025, 3, 3)),
])
def test_add_working_days(day, n, expected):
    assert CAL.add_working_days(day, n) == expected


def test_add_working_days_wants_an_integer():
    with pytest.raises(ValidationFailed):
        CAL.add_working_days(date(2025, 3, 3), 1.5)
    with pytest.raises(ValidationFailed):
        CAL.add_working_days("2025-03-03", 1)


def test_working_days_between():
    assert CAL.working_days_between(date(2025, 1, 24), date(2025, 2, 4)) == 2
    assert CAL.working_days_between(date(2025, 3, 7), date(2025, 3, 7)) == 0


def test_a_calendar_with_its_own_holidays_has_no_default_swaps():
    plain = WorkingCalendar(holidays=set())
    assert plain.is_working_day(date(2025, 1, 29))     # no Tết
    assert not plain.is_working_day(date(2025, 4, 26))  # the swap Saturday is a weekend again
    custom = WorkingCalendar(holidays={date(2025, 3, 10)}, working_days={date(2025, 3, 8)})
    assert custom.next_working_day(date(2025, 3, 7)) == date(2025, 3, 8)
    assert custom.next_working_day(date(2025, 3, 8)) == date(2025, 3, 11)


def test_another_weekend():
    sunday_only = WorkingCalendar(holidays=set(), weekend=(6,))
    assert sunday_only.next_working_day(date(2025, 3, 7)) == date(2025, 3, 8)
    with pytest.raises(ValidationFailed):
        WorkingCalendar(weekend=range(7))
    with pytest.raises(ValidationFailed):
        WorkingCalendar(weekend=(7,))


def test_a_day_cannot_be_both_holiday_and_working_day():
    with pytest.raises(ValidationFailed):
        WorkingCalendar(holidays={date(2025, 3, 8)}, working_days={date(2025, 3, 8)})


def test_each_year_s_decisions_go_in_the_override_file():
    overrides = HolidayOverrides.from_dict({
        "days_off": {"2027-02-11": "Quyết định ... (a longer Tết break)"},
        "not_days_off": {"2027-05-03": "(a test: the compensating day withdrawn)"},
        "working_days": {"2027-02-20": "Saturday worked in exchange"},
        "excluded": {}})
    cal = WorkingCalendar(overrides=overrides)
    assert not cal.is_working_day(date(2027, 2, 11))
    assert cal.is_working_day(date(2027, 5, 3))
    assert cal.is_working_day(date(2027, 2, 20))
    assert not cal.is_working_day(date(2026, 11, 24))  # nothing excluded: the package's day


@pytest.mark.parametrize("data, field", [
    ({"days_off": {"2027-02-31": "x"}}, "holidays.days_off"),
    ({"days_off": {"2027-02-11": ""}}, "holidays.days_off"),
    ({"days_off": {"2027-02-11": "a"}, "working_days": {"2027-02-11": "b"}}, "holidays"),
    ({"holiday": {}}, "holidays"),
    ({"excluded": ["Cultural Day"]}, "holidays.excluded"),
])
def test_a_wrong_override_file_is_refused_naming_the_field(data, field):
    with pytest.raises(ValidationFailed) as refused:
        HolidayOverrides.from_dict(data)
    assert refused.value.field == field


def test_the_shipped_override_file_loads_and_says_why():
    shipped = HolidayOverrides.load()
    assert shipped.excluded == ("Cultural Day",)


@pytest.mark.parametrize("moment,expected", [
    (vn(2025, 3, 4, 10), eod(2025, 3, 5)),                          # Tuesday -> Wednesday
    (vn(2025, 3, 7, 21), eod(2025, 3, 10)),                         # Friday night -> Monday
    (vn(2025, 3, 8, 9), eod(2025, 3, 10)),                          # Saturday -> Monday
    (datetime(2025, 3, 7, 18, tzinfo=timezone.utc), eod(2025, 3, 10)),  # Sat 01:00 in Hà Nội
    (vn(2025, 1, 24, 16), eod(2025, 2, 3)),                         # before Tết 2025
])
def test_the_end_of_the_next_working_day(moment, expected):
    assert end_of_next_working_day(moment) == expected
    assert end_of_next_working_day(moment).utcoffset() == timedelta(hours=7)


def test_the_end_of_the_next_working_day_wants_an_aware_time():
    with pytest.raises(ValidationFailed) as refused:
        end_of_next_working_day(datetime(2025, 3, 4, 10))
    assert refused.value.field == "moment"
