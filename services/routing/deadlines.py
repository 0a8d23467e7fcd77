"""Working days and the Decree 30 deadlines for incoming documents.

Pure but for the ``holidays`` package's calendar data and its override file.

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

Holidays: the ``holidays`` package's Vietnam calendar, any year, corrected by
``holidays.json`` (see :class:`HolidayOverrides`).
"""

import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from shared.errors import ValidationFailed
from shared.values import VIETNAM

VN_TZ = VIETNAM

URGENT_WITHIN = timedelta(hours=2)
END_OF_DAY = time(23, 59, 59, 999000)
URGENCY_LEVELS = {0: "Thường", 1: "Khẩn", 2: "Thượng khẩn", 3: "Hỏa tốc",
                  4: "Hỏa tốc hẹn giờ"}


# --- holidays ---------------------------------------------------------------------------

# The days off of state bodies come from the ``holidays`` package (its Vietnam
# calendar: the lunar holidays, the Tết break, the days swapped and the
# Saturdays worked in exchange, the compensating days of the Labour Code),
# for any year; each year's government decisions it does not know yet go in
# an override file (``holidays.json`` beside this module, or the
# ``HOLIDAYS_FILE`` a deployment names).
OVERRIDES_FILE = Path(__file__).with_name("holidays.json")


@dataclass(frozen=True)
class HolidayOverrides:
    """Corrections to the package's calendar, each with its reason.

    ``days_off`` and ``working_days`` add days (a decision giving an extra day
    off, a Saturday to be worked); ``not_days_off`` removes days the package
    counts; ``excluded`` removes every day whose package name contains one of
    these words (a holiday the law does not give yet), for all years."""

    days_off: dict = field(default_factory=dict)
    not_days_off: dict = field(default_factory=dict)
    working_days: dict = field(default_factory=dict)
    excluded: tuple = ()

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise ValidationFailed("holidays: a JSON object", field="holidays")
        unknown = set(data) - {"note", "days_off", "not_days_off", "working_days", "excluded"}
        if unknown:
            raise ValidationFailed(f"holidays: unknown keys {sorted(unknown)}",
                                   field="holidays")
        days = {}
        for key in ("days_off", "not_days_off", "working_days"):
            entries = data.get(key, {})
            if not isinstance(entries, dict):
                raise ValidationFailed(f"holidays.{key}: an object of date: reason",
                                       field=f"holidays.{key}")
            days[key] = {}
            for text, reason in entries.items():
                try:
                    day = date.fromisoformat(text)
                except (TypeError, ValueError):
                    raise ValidationFailed(f"holidays.{key}: {text!r} is not a date YYYY-MM-DD",
                                           field=f"holidays.{key}") from None
                if not isinstance(reason, str) or not reason.strip():
                    raise ValidationFailed(f"holidays.{key}.{text}: say why (the decision)",
                                           field=f"holidays.{key}")
                days[key][day] = reason
        both = set(days["days_off"]) & set(days["working_days"])
        if both:
            raise ValidationFailed(
                "holidays: a day cannot be both a day off and a working day: "
                + ", ".join(d.isoformat() for d in sorted(both)), field="holidays")
        excluded = data.get("excluded", {})
        if not isinstance(excluded, dict) or not all(
                isinstance(v, str) and v.strip() for v in excluded.values()):
            raise ValidationFailed("holidays.excluded: an object of name: reason",
                                   field="holidays.excluded")
        return cls(excluded=tuple(excluded), **days)

    @classmethod
    def load(cls, path=None):
        with open(path or OVERRIDES_FILE, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))


class VietnamHolidays:
    """Days off and make-up working days of one year, computed when first asked."""

    def __init__(self, overrides=None):
        self.overrides = overrides if overrides is not None else HolidayOverrides.load()
        self._years = {}
        self._lock = threading.Lock()

    def year(self, year):
        """``(days off, weekend days worked)`` of ``year``."""
        with self._lock:
            if year not in self._years:
                self._years[year] = self._compute(year)
            return self._years[year]

    def _compute(self, year):
        import holidays as package

        calendar = package.Vietnam(years=year)
        o = self.overrides
        days_off = {d for d, name in calendar.items()
                    if not any(word in name for word in o.excluded)}
        days_off |= {d for d in o.days_off if d.year == year}
        days_off -= set(o.not_days_off)
        worked = {d for d in calendar.weekend_workdays if d.year == year}
        worked |= {d for d in o.working_days if d.year == year}
        return frozenset(days_off - worked), frozenset(worked)


# --- the calendar -----------------------------------------------------------------------


class WorkingCalendar:
    """Which days are working days: not a weekend day, not a holiday.

    By default Vietnam's days off (:class:`VietnamHolidays`, any year) and its
    Saturdays worked in exchange. ``holidays`` and ``working_days`` given as
    sets replace them (tests, another country's calendar).
    """

    def __init__(self, holidays=None, weekend=(5, 6), working_days=None, overrides=None):
        weekend = frozenset(weekend)
        if not weekend <= set(range(7)) or len(weekend) == 7:
            raise ValidationFailed("weekend days are weekday numbers 0 (Monday) to 6 (Sunday), "
                                   "and not all seven", field="weekend")
        self.weekend = weekend
        self.vietnam = VietnamHolidays(overrides) if holidays is None else None
        self.holidays = frozenset(holidays or ())
        self.working_days = frozenset(working_days or ())
        both = self.holidays & self.working_days
        if both:
            raise ValidationFailed(
                "a day cannot be both a holiday and a working day: "
                + ", ".join(d.isoformat() for d in sorted(both)), field="working_days")

    def is_working_day(self, d):
        d = _day(d)
        holidays, working_days = self.holidays, self.working_days
        if self.vietnam is not None:
            holidays, worked = self.vietnam.year(d.year)
            working_days = working_days | worked
        if d in working_days:
            return True
        return d not in holidays and d.weekday() not in self.weekend

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
