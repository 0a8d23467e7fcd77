"""The Decree 30 deadlines for incoming documents, on the working days of ``shared.workdays``.

Pure but for the calendar's data (the ``holidays`` package and its override file).

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
``shared/holidays.json`` (the working-day calendar is ``shared.workdays``).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.errors import ValidationFailed
# The working-day calendar is shared with docs (the issue deadline of outgoing documents).
from shared.workdays import DEFAULT_CALENDAR, aware, check_aware, end_of_day, vietnam_time

URGENT_WITHIN = timedelta(hours=2)
URGENCY_LEVELS = {0: "Thường", 1: "Khẩn", 2: "Thượng khẩn", 3: "Hỏa tốc",
                  4: "Hỏa tốc hẹn giờ"}


# --- deadlines --------------------------------------------------------------------------


@dataclass(frozen=True)
class HandlingDeadline:
    """``register_by``: leave 01 by then; ``complete_by``: reach 06 by then, if due."""

    register_by: datetime
    complete_by: datetime | None
    urgent: bool


def handling_deadline(arrived_at, urgency, due_date=None, calendar=None, *,
                      urgent_within=URGENT_WITHIN):
    """The deadlines for a document that arrived at ``arrived_at`` (see the module doc)."""
    calendar = calendar or DEFAULT_CALENDAR
    arrived_at = vietnam_time(check_aware(arrived_at, "arrived_at"))
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
    now = check_aware(now, "now")
    findings = []
    for item in items:
        if item.get("recalled"):
            continue
        status = item.get("status")
        deadline = handling_deadline(aware(item.get("arrived_at"), "arrived_at"),
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
