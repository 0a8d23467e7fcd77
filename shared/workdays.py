"""The working-day calendar of Vietnam's state bodies, for the Decree 30 deadlines.

Pure but for the ``holidays`` package's calendar data and its override file
(``holidays.json`` beside this module). Shared by routing (incoming
documents: ``services/routing/deadlines.py``) and docs (the issue of outgoing
ones): a day is taken in Vietnam time (UTC+7); "at the latest the next
working day" ends at 23:59:59.999 Vietnam time of the first working day
strictly after it (:func:`end_of_next_working_day`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from shared.errors import ValidationFailed
from shared.values import VIETNAM

VN_TZ = VIETNAM
END_OF_DAY = time(23, 59, 59, 999000)


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
    def from_dict(cls, data: Mapping[str, Any]) -> HolidayOverrides:
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
    def load(cls, path: str | Path | None = None) -> HolidayOverrides:
        with open(path or OVERRIDES_FILE, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))


class VietnamHolidays:
    """Days off and make-up working days of one year, computed when first asked."""

    def __init__(self, overrides: HolidayOverrides | None = None):
        self.overrides = overrides if overrides is not None else HolidayOverrides.load()
        self._years = {}
        self._lock = threading.Lock()

    def year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
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

    def __init__(self, holidays: Iterable[date] | None = None,
                 weekend: Iterable[int] = (5, 6), working_days: Iterable[date] | None = None,
                 overrides: HolidayOverrides | None = None):
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

    def is_working_day(self, d: date | datetime) -> bool:
        d = day_of(d)
        holidays, working_days = self.holidays, self.working_days
        if self.vietnam is not None:
            holidays, worked = self.vietnam.year(d.year)
            working_days = working_days | worked
        if d in working_days:
            return True
        return d not in holidays and d.weekday() not in self.weekend

    def next_working_day(self, d: date | datetime) -> date:
        """The first working day strictly after ``d``."""
        return self.add_working_days(d, 1)

    def add_working_days(self, d: date | datetime, n: int) -> date:
        """The ``n``-th working day after ``d`` (before it for a negative ``n``).

        ``d`` itself is not counted, working day or not; ``n == 0`` gives ``d``.
        """
        d = day_of(d)
        if not isinstance(n, int) or isinstance(n, bool):
            raise ValidationFailed("a number of working days is an integer", field="n")
        step = timedelta(days=1 if n >= 0 else -1)
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, start: date | datetime, end: date | datetime) -> int:
        """Working days in ``(start, end]``: how many days late ``end`` is after ``start``."""
        start, end = day_of(start), day_of(end)
        if end <= start:
            return 0
        return sum(1 for i in range(1, (end - start).days + 1)
                   if self.is_working_day(start + timedelta(days=i)))


DEFAULT_CALENDAR = WorkingCalendar()


# --- Vietnam time -----------------------------------------------------------------------


def vietnam_time(moment: datetime) -> datetime:
    """``moment`` (aware) in Vietnam time."""
    check_aware(moment, "moment")
    return moment.astimezone(VN_TZ)


def end_of_day(d: date | datetime) -> datetime:
    """23:59:59.999 Vietnam time on the date ``d``."""
    return datetime.combine(day_of(d), END_OF_DAY, tzinfo=VN_TZ)


def end_of_next_working_day(moment: datetime,
                            calendar: WorkingCalendar | None = None) -> datetime:
    """The end (Vietnam time) of the first working day strictly after the
    Vietnam-time day of ``moment`` (aware): "at the latest the next working day"."""
    calendar = calendar or DEFAULT_CALENDAR
    day = vietnam_time(check_aware(moment, "moment")).date()
    return end_of_day(calendar.next_working_day(day))


# --- checks -----------------------------------------------------------------------------


def day_of(d: date | datetime) -> date:
    """The date ``d``, or the Vietnam-time date of an aware datetime."""
    if isinstance(d, datetime):
        return vietnam_time(d).date()
    if not isinstance(d, date):
        raise ValidationFailed(f"a day is a date, got {d!r}", field="date")
    return d


def aware(value: datetime | str, name: str) -> datetime:
    """``value`` (an aware datetime, or ISO 8601 text with an offset) as a datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)  # 3.11 reads a trailing Z
        except ValueError:
            raise ValidationFailed(f"{name} is ISO 8601, got {value!r}", field=name) from None
    return check_aware(value, name)


def check_aware(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(f"{name} is a time-zone-aware datetime "
                               "(naive times have no agreed zone)", field=name)
    return value
