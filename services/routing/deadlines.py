"""Working days and the Decree 30 deadlines for incoming documents.

Pure: the standard library and ``shared.errors`` only.

The rule implemented for "register, issue or pass on the same day, at latest
the next working day" (Decree 30/2020/NĐ-CP):

* The arrival's calendar day is taken in Vietnam time (UTC+7).
* A normal document (urgency 0, Thường) must leave 01 (đã đến) by the end of
  the first working day strictly after that day: 23:59:59.999 Vietnam time.
  Arrived Tuesday at 10:00 -> end of Wednesday; Friday at 21:00 -> end of
  Monday; Saturday or Sunday -> end of Monday too (the weekend arrival is
  handled "on the same day" as the Friday one would be); arrived the day
  before Tết -> end of the first working day after Tết.
* An urgent document (urgency >= 1: Khẩn, Thượng khẩn, Hỏa tốc, and the legacy
  4 Hỏa tốc hẹn giờ) must be handled "immediately": the arrival time plus a
  short interval, two hours unless configured, whatever the day or hour.
* A document with a due date (a ``date``, the DueDate of the envelope) must
  be completed (06) by the end of that day, Vietnam time.

Holidays: ``VN_HOLIDAY_YEARS`` holds 2025-2027 as data. See the notes there on
what is certain and what is not.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from shared.errors import ValidationFailed
from shared.values import VIETNAM

VN_TZ = VIETNAM

URGENT_WITHIN = timedelta(hours=2)
END_OF_DAY = time(23, 59, 59, 999000)
URGENCY_LEVELS = {0: "Thường", 1: "Khẩn", 2: "Thượng khẩn", 3: "Hỏa tốc",
                  4: "Hỏa tốc hẹn giờ"}


# --- holidays ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HolidayYear:
    """One year's public holidays for state bodies, as the government set them.

    ``tet`` is the announced Tết break, first and last day inclusive (weekend
    days inside it are fine). ``national_day_adjacent`` is the day the
    government adds next to 2 September (1 or 3 September). ``swaps`` are
    (extra day off, make-up working day) pairs, the make-up day usually a
    Saturday. ``culture_day`` adds 24 November (Ngày Văn hóa Việt Nam).
    """

    year: int
    tet: tuple
    hung_kings: date
    national_day_adjacent: date
    swaps: tuple = ()
    culture_day: bool = False
    confirmed: bool = True
    note: str = ""


# The lunar holidays (Tết, Hùng Kings' day on 10/3 lunar) cannot be computed
# from the Gregorian calendar with the standard library, so they are data.
# Sources and certainty, honestly:
# * 2025: Tết break 25 Jan - 2 Feb (Sat-Sun, the five working days 27-31 Jan),
#   Hùng Kings 7 Apr, 2 May off in exchange for Saturday 26 Apr, 1-2 Sep.
#   Matches the announcements as remembered and the `holidays` package's data.
# * 2026: Tết break 14-22 Feb (working days 16-20 Feb), Hùng Kings Sunday
#   26 Apr (so Monday 27 Apr is given in compensation), 1-2 Sep with 31 Aug off
#   in exchange for Saturday 22 Aug, and 24 Nov Vietnam Culture Day (a new
#   holiday from 2026). Cross-checked against the `holidays` package (0.105),
#   not against the official texts, which were not read.
# * 2027: NOT confirmed. Lunar New Year is Saturday 6 Feb 2027; the break
#   4-10 Feb and 2-3 Sep are the `holidays` package's expectation, not an
#   announcement; Hùng Kings 16 Apr 2027 is its lunar computation. Replace
#   this entry when the government announces the 2027 schedule.
VN_HOLIDAY_YEARS = {
    2025: HolidayYear(
        year=2025, tet=(date(2025, 1, 25), date(2025, 2, 2)),
        hung_kings=date(2025, 4, 7), national_day_adjacent=date(2025, 9, 1),
        swaps=((date(2025, 5, 2), date(2025, 4, 26)),)),
    2026: HolidayYear(
        year=2026, tet=(date(2026, 2, 14), date(2026, 2, 22)),
        hung_kings=date(2026, 4, 26), national_day_adjacent=date(2026, 9, 1),
        swaps=((date(2026, 8, 31), date(2026, 8, 22)),), culture_day=True),
    2027: HolidayYear(
        year=2027, tet=(date(2027, 2, 4), date(2027, 2, 10)),
        hung_kings=date(2027, 4, 16), national_day_adjacent=date(2027, 9, 3),
        culture_day=True, confirmed=False,
        note="provisional: the 2027 schedule was not announced when this was written"),
}


def vietnam_holidays(years=None, weekend=(5, 6)):
    """``(days off, make-up working days)`` for the given ``HolidayYear`` values.

    Days off: 1 Jan, 30 Apr, 1 May, 2 Sep and its adjacent day, Hùng Kings'
    day, 24 Nov where set, the Tết break, the swapped days off; and, as the
    Labour Code (2019, art. 112) gives, a compensating day off on the next
    working day for each of those single holidays that falls on a weekend.
    """
    years = VN_HOLIDAY_YEARS.values() if years is None else (
        years.values() if isinstance(years, dict) else years)
    weekend = frozenset(weekend)
    days_off, makeup, singles = set(), set(), []
    for y in years:
        if y.national_day_adjacent not in (date(y.year, 9, 1), date(y.year, 9, 3)):
            raise ValidationFailed(
                f"the day added to National Day is 1 or 3 September, got "
                f"{y.national_day_adjacent}", field="national_day_adjacent")
        singles += [date(y.year, 1, 1), y.hung_kings, date(y.year, 4, 30), date(y.year, 5, 1),
                    date(y.year, 9, 2), y.national_day_adjacent]
        if y.culture_day:
            singles.append(date(y.year, 11, 24))
        first, last = y.tet
        if last < first:
            raise ValidationFailed(f"Tết {y.year} ends before it starts", field="tet")
        days_off.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        for off, work in y.swaps:
            days_off.add(off)
            makeup.add(work)
    days_off.update(singles)
    for day in sorted(singles):
        if day.weekday() in weekend:
            substitute = day + timedelta(days=1)
            while substitute.weekday() in weekend or substitute in days_off:
                substitute += timedelta(days=1)
            days_off.add(substitute)
    return frozenset(days_off), frozenset(makeup)


VN_HOLIDAYS, VN_MAKEUP_WORKING_DAYS = vietnam_holidays()


# --- the calendar -----------------------------------------------------------------------


class WorkingCalendar:
    """Which days are working days: not a weekend day, not a holiday.

    ``holidays`` defaults to ``VN_HOLIDAYS`` (2025-2027 only: before and after,
    just weekends count). ``working_days`` are weekend days declared working
    (make-up days for a swap); they default to ``VN_MAKEUP_WORKING_DAYS`` when
    the default holidays are used, and to none when ``holidays`` is given.
    """

    def __init__(self, holidays=None, weekend=(5, 6), working_days=None):
        if holidays is None:
            holidays = VN_HOLIDAYS
            if working_days is None:
                working_days = VN_MAKEUP_WORKING_DAYS
        weekend = frozenset(weekend)
        if not weekend <= set(range(7)) or len(weekend) == 7:
            raise ValidationFailed("weekend days are weekday numbers 0 (Monday) to 6 (Sunday), "
                                   "and not all seven", field="weekend")
        self.holidays = frozenset(holidays)
        self.weekend = weekend
        self.working_days = frozenset(working_days or ())
        both = self.holidays & self.working_days
        if both:
            raise ValidationFailed(
                "a day cannot be both a holiday and a working day: "
                + ", ".join(d.isoformat() for d in sorted(both)), field="working_days")

    def is_working_day(self, d):
        d = _day(d)
        if d in self.working_days:
            return True
        return d not in self.holidays and d.weekday() not in self.weekend

    def next_working_day(self, d):
        """The first working day strictly after ``d``."""
        return self.add_working_days(d, 1)

    def add_working_days(self, d, n):
        """The ``n``-th working day after ``d`` (before it for a negative ``n``).

        ``d`` itself is not counted, working day or not; ``n == 0`` gives ``d``.
        """
        d = _day(d)
        if not isinstance(n, int) or isinstance(n, bool):
            raise ValidationFailed("a number of working days is an integer", field="n")
        step = timedelta(days=1 if n >= 0 else -1)
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, start, end):
        """Working days in ``(start, end]``: how many days late ``end`` is after ``start``."""
        start, end = _day(start), _day(end)
        if end <= start:
            return 0
        return sum(1 for i in range(1, (end - start).days + 1)
                   if self.is_working_day(start + timedelta(days=i)))


DEFAULT_CALENDAR = WorkingCalendar()


# --- deadlines --------------------------------------------------------------------------


@dataclass(frozen=True)
class HandlingDeadline:
    """``register_by``: leave 01 by then; ``complete_by``: reach 06 by then, if due."""

    register_by: datetime
    complete_by: datetime | None
    urgent: bool


def vietnam_time(moment):
    """``moment`` (aware) in Vietnam time."""
    _check_aware(moment, "moment")
    return moment.astimezone(VN_TZ)


def end_of_day(d):
    """23:59:59.999 Vietnam time on the date ``d``."""
    return datetime.combine(_day(d), END_OF_DAY, tzinfo=VN_TZ)


def handling_deadline(arrived_at, urgency, due_date=None, calendar=None, *,
                      urgent_within=URGENT_WITHIN):
    """The deadlines for a document that arrived at ``arrived_at`` (see the module doc)."""
    calendar = calendar or DEFAULT_CALENDAR
    arrived_at = vietnam_time(_check_aware(arrived_at, "arrived_at"))
    if isinstance(urgency, bool) or urgency not in URGENCY_LEVELS:
        raise ValidationFailed(
            f"urgency is one of {sorted(URGENCY_LEVELS)} (0 Thường ... 3 Hỏa tốc), "
            f"got {urgency!r}", field="urgency")
    if not isinstance(urgent_within, timedelta) or urgent_within < timedelta(0):
        raise ValidationFailed("the urgent interval is a non-negative timedelta",
                               field="urgent_within")
    urgent = urgency >= 1
    if urgent:
        register_by = arrived_at + urgent_within
    else:
        register_by = end_of_day(calendar.next_working_day(arrived_at.date()))
    complete_by = None if due_date is None else end_of_day(_due(due_date))
    return HandlingDeadline(register_by=register_by, complete_by=complete_by, urgent=urgent)


REGISTRATION, COMPLETION = "registration", "completion"


def overdue(items, now, calendar=None, *, urgent_within=URGENT_WITHIN):
    """The overdue findings among ``items`` at ``now``, earliest deadline first.

    Each item: ``{document_id, recipient, arrived_at, urgency, status, due_date}``
    (``arrived_at`` an aware datetime or ISO 8601 text with an offset,
    ``due_date`` a date, ``"YYYY-MM-DD"`` or None; an optional ``recalled``
    true leaves the item out). Findings:

    * ``registration``: still 01 (đã đến) after the handling deadline;
    * ``completion``: has a due date, not 06 (hoàn thành) after its end, and
      not returned (02), which ends the recipient's duty.

    Each finding is ``{document_id, recipient, kind, deadline,
    overdue_by_seconds}``, the last a float (now - deadline).
    """
    now = _check_aware(now, "now")
    findings = []
    for item in items:
        if item.get("recalled"):
            continue
        status = item.get("status")
        deadline = handling_deadline(_aware(item.get("arrived_at"), "arrived_at"),
                                     item.get("urgency"), item.get("due_date"), calendar,
                                     urgent_within=urgent_within)
        if status == "01" and now > deadline.register_by:
            findings.append(_finding(item, REGISTRATION, deadline.register_by, now))
        if (deadline.complete_by is not None and status not in ("02", "06")
                and now > deadline.complete_by):
            findings.append(_finding(item, COMPLETION, deadline.complete_by, now))
    findings.sort(key=lambda f: (f["deadline"], f["document_id"], f["recipient"], f["kind"]))
    return findings


def overdue_by_agency(items, now, calendar=None, *, urgent_within=URGENT_WITHIN):
    """``overdue`` grouped by recipient agency: ``{agency: [findings]}``, agencies sorted."""
    grouped = {}
    for finding in overdue(items, now, calendar, urgent_within=urgent_within):
        grouped.setdefault(finding["recipient"], []).append(finding)
    return dict(sorted(grouped.items()))


def _finding(item, kind, deadline, now):
    return {"document_id": item.get("document_id"), "recipient": item.get("recipient"),
            "kind": kind, "deadline": deadline,
            "overdue_by_seconds": (now - deadline).total_seconds()}


# --- checks -----------------------------------------------------------------------------


def _day(d):
    if isinstance(d, datetime):
        return vietnam_time(d).date()
    if not isinstance(d, date):
        raise ValidationFailed(f"a day is a date, got {d!r}", field="date")
    return d


def _due(value):
    if isinstance(value, datetime):
        raise ValidationFailed("a due date is a date, not a datetime", field="due_date")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationFailed(f"a due date is YYYY-MM-DD, got {value!r}",
                                   field="due_date") from None
    if not isinstance(value, date):
        raise ValidationFailed(f"a due date is a date, got {value!r}", field="due_date")
    return value


def _aware(value, name):
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)  # 3.11 reads a trailing Z
        except ValueError:
            raise ValidationFailed(f"{name} is ISO 8601, got {value!r}", field=name) from None
    return _check_aware(value, name)


def _check_aware(value, name):
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(f"{name} is a time-zone-aware datetime "
                               "(naive times have no agreed zone)", field=name)
    return value
