"""The leaders' dashboard (bảng điều hành): a pure fold of the log's events
into one row per document sent and one per copy received, and the figures a
leader reads from those rows (per agency, per day, week or month).

Why rows, not per-day counters: medians (arrival → acceptance, → completion)
cannot be added up across days or agencies, and a copy's outcome (accepted
on time, overdue, completed) arrives days after it was counted as received.
So the projection keeps the facts each figure needs, one row per document
sent (``Sent``) and per copy delivered (``Copy``), and :func:`figures`
aggregates the rows of a subtree and a period when asked.

What counts, and when (Vietnam days):

* **sent**: a document the agency sent (routing's first ``ConsignmentSent``
  of it, by its ``sender``), on the day of that sending; **signed** when the
  log holds both its leader's signature (``DocumentSigned``) and the
  agency's (``DocumentSealed`` or ``DocumentFinalized``).
* **received**: a copy delivered to the agency (``DocumentDelivered``), on
  its arrival day; its handling is counted on that day too, whenever it
  happened (a cohort: "of what arrived in week 23, how much was handled on
  time").
* **overdue**: routing's deadline rules decided it (``DeliveryOverdue``,
  registration or completion): nothing is recomputed here. **on time**: the
  copy left 01 (accepted 03, or returned 02) and routing never found it
  overdue. **pending**: neither yet. A copy whose sender's recall the
  recipient agreed to (15 on a revoke) is out of the handling figures.
* **times**: from the arrival to status 03 (acceptance) and to 06
  (completion), as routing's ``StatusReported`` says (docs' acceptance
  becomes routing's 03; only routing's is read, so it is counted once).
* **urgent**: urgency 1 (Khẩn) or more.

The same fold serves the live projection (``dashboard_store.apply``, in the
append's transaction) and its rebuild from the whole log.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from shared.errors import ValidationFailed
from shared.values import VIETNAM

GRANULARITIES = ("day", "week", "month")
MAX_DAYS = 3 * 366            # the longest period asked at once
MAX_DAY_BUCKETS = 92          # per-day figures only for a quarter at most
MAX_LISTED = 200              # rows of the overdue and urgent lists
URGENT = 1
HANDLED = ("02", "03", "04", "05", "06")
REVOKE, AGREED = 1, "15"


@dataclass
class Sent:
    document_id: str
    agency: str | None = None
    sent_at: datetime | None = None
    urgency: int = 0
    number_notation: str | None = None
    subject: str | None = None
    signed: bool = False      # the leader's signature (DocumentSigned)
    sealed: bool = False      # the agency's (DocumentSealed / DocumentFinalized)


@dataclass
class Copy:
    document_id: str
    recipient: str
    sender: str | None = None
    arrived_at: datetime | None = None
    urgency: int = 0
    code: str | None = None
    accepted_at: datetime | None = None
    returned_at: datetime | None = None
    completed_at: datetime | None = None
    overdue_registration: datetime | None = None   # the deadline routing found passed
    overdue_completion: datetime | None = None
    recalled: bool = False

    @property
    def overdue(self) -> bool:
        return self.overdue_registration is not None or self.overdue_completion is not None

    @property
    def handled(self) -> bool:
        return self.code in HANDLED


SENT_COLUMNS = tuple(f.name for f in fields(Sent))
COPY_COLUMNS = tuple(f.name for f in fields(Copy))


class Projection:
    """The rows the events make. Feed events in log order with :meth:`apply`;
    ``dirty_sent`` / ``dirty_copies`` name the rows changed since loading."""

    def __init__(self, sent: Iterable[Sent] = (), copies: Iterable[Copy] = ()) -> None:
        self.sent = {s.document_id: s for s in sent}
        self.copies = {(c.document_id, c.recipient): c for c in copies}
        self.dirty_sent: set[str] = set()
        self.dirty_copies: set[tuple[str, str]] = set()

    def apply(self, event: Any) -> None:
        handler = _HANDLERS.get((event.producer, event.event_type))
        data = event.data
        if handler is not None and data.get("document_id") is not None:
            handler(self, str(data["document_id"]), data, event.occurred_at)

    def _sent(self, document_id: str) -> Sent:
        self.dirty_sent.add(document_id)
        return self.sent.setdefault(document_id, Sent(document_id))

    def _copy(self, document_id: str, recipient: str) -> Copy:
        key = (document_id, recipient)
        self.dirty_copies.add(key)
        return self.copies.setdefault(key, Copy(document_id, recipient))

    # -- the events ------------------------------------------------------------------

    def _issued(self, document_id, data, at):
        row = self._sent(document_id)
        row.agency = row.agency or data.get("issuing_agency")
        row.urgency = _urgency(data.get("urgency"), row.urgency)
        row.number_notation = data.get("number_notation") or row.number_notation
        row.subject = data.get("subject") or row.subject

    def _signed(self, document_id, data, at):
        self._sent(document_id).signed = True

    def _sealed(self, document_id, data, at):
        self._sent(document_id).sealed = True

    def _consignment(self, document_id, data, at):
        row = self._sent(document_id)
        if data.get("document"):  # a document from outside travels with it
            self._issued(document_id, data["document"], at)
        row.agency = row.agency or data.get("sender")
        row.urgency = _urgency(data.get("urgency"), row.urgency)
        if row.sent_at is None:
            row.sent_at = at

    def _delivered(self, document_id, data, at):
        if not data.get("recipient"):
            return
        row = self._copy(document_id, data["recipient"])
        row.sender = data.get("sender") or row.sender
        row.urgency = _urgency(data.get("urgency"), row.urgency)
        if row.arrived_at is None:
            row.arrived_at = at
        row.code = row.code or "01"

    def _status(self, document_id, data, at):
        code, recipient = data.get("code"), data.get("recipient")
        if not recipient or code not in ("01",) + HANDLED:
            return
        row = self._copy(document_id, recipient)
        row.code = code
        when = _moment(data.get("at")) or at
        attribute = {"03": "accepted_at", "02": "returned_at", "06": "completed_at"}.get(code)
        if attribute and getattr(row, attribute) is None:
            setattr(row, attribute, when)

    def _overdue(self, document_id, data, at):
        if not data.get("recipient"):
            return
        row = self._copy(document_id, data["recipient"])
        deadline = _moment(data.get("deadline")) or at
        if data.get("kind") == "completion":
            row.overdue_completion = row.overdue_completion or deadline
        else:
            row.overdue_registration = row.overdue_registration or deadline

    def _recall_answered(self, document_id, data, at):
        if data.get("code") == AGREED and data.get("business_type") == REVOKE \
                and data.get("recipient"):
            self._copy(document_id, data["recipient"]).recalled = True


_HANDLERS = {
    ("docs", "DocumentIssued"): Projection._issued,
    ("signing", "DocumentSigned"): Projection._signed,
    ("signing", "DocumentSealed"): Projection._sealed,
    ("signing", "DocumentFinalized"): Projection._sealed,
    ("routing", "ConsignmentSent"): Projection._consignment,
    ("routing", "DocumentDelivered"): Projection._delivered,
    ("routing", "StatusReported"): Projection._status,
    ("routing", "DeliveryOverdue"): Projection._overdue,
    ("routing", "RecallAnswered"): Projection._recall_answered,
}
# The event types the projection reads (the store loads rows only for these).
EVENT_TYPES = frozenset(t for _, t in _HANDLERS)


def fold(events: Iterable[Any]) -> Projection:
    projection = Projection()
    for event in events:
        projection.apply(event)
    return projection


def _urgency(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _moment(value: Any) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("$dt")  # routing's stored form of a time
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# -- the question: which agency, which period, how fine --------------------------------

@dataclass(frozen=True)
class Period:
    start: date     # Vietnam days, both included
    end: date
    granularity: str

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants, ``[from, to)``."""
        begin = datetime.combine(self.start, datetime.min.time(), VIETNAM)
        after = datetime.combine(self.end + timedelta(days=1), datetime.min.time(), VIETNAM)
        return begin.astimezone(timezone.utc), after.astimezone(timezone.utc)

    def buckets(self) -> list[date]:
        """The first day of each bucket that meets the period, in order."""
        found, day = [], bucket_of(self.start, self.granularity)
        while day <= self.end:
            found.append(day)
            day = _next_bucket(day, self.granularity)
        return found


def period(start: Any, end: Any, granularity: Any = "week") -> Period:
    """The period asked, checked: ISO dates, ``start <= end``, a known granularity."""
    if granularity not in GRANULARITIES:
        raise ValidationFailed(f"granularity: one of {', '.join(GRANULARITIES)}",
                               field="granularity")
    days = {}
    for name, value in (("start", start), ("end", end)):
        try:
            days[name] = date.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValidationFailed(f"{name}: a date YYYY-MM-DD", field=name) from None
    if days["end"] < days["start"]:
        raise ValidationFailed("end: on or after start", field="end")
    span = (days["end"] - days["start"]).days + 1
    if span > MAX_DAYS:
        raise ValidationFailed(f"end: a period of at most {MAX_DAYS} days", field="end")
    if granularity == "day" and span > MAX_DAY_BUCKETS:
        raise ValidationFailed(f"granularity: per day for at most {MAX_DAY_BUCKETS} days;"
                               " choose week or month", field="granularity")
    return Period(days["start"], days["end"], granularity)


def bucket_of(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())   # Monday
    if granularity == "month":
        return day.replace(day=1)
    return day


def _next_bucket(day: date, granularity: str) -> date:
    if granularity == "week":
        return day + timedelta(days=7)
    if granularity == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


def local_day(moment: datetime) -> date:
    return moment.astimezone(VIETNAM).date()


def subtree(agency: str, tree: Iterable[dict]) -> list[str]:
    """``agency`` and every agency under it, from routing's ``agencies`` rows
    (each with ``code`` and ``parent``; rows outside the subtree are ignored)."""
    children: dict[str, list[str]] = {}
    for row in tree:
        children.setdefault(row.get("parent"), []).append(row["code"])
    found, pending = set(), [agency]
    while pending:
        code = pending.pop()
        if code not in found:
            found.add(code)
            pending.extend(children.get(code, ()))
    return sorted(found)


# -- the figures -----------------------------------------------------------------------

def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _seconds(row: Copy, attribute: str) -> float | None:
    end = getattr(row, attribute)
    if end is None or row.arrived_at is None:
        return None
    return max(0.0, (end - row.arrived_at).total_seconds())


def _summary(sent: list[Sent], copies: list[Copy], timing: dict) -> dict:
    """The figures of these rows; ``timing`` holds each copy's (to acceptance,
    to completion) seconds, computed once for all the summaries it is in."""
    followed = [c for c in copies if not c.recalled]
    on_time = sum(1 for c in followed if c.handled and not c.overdue)
    overdue = sum(1 for c in followed if c.overdue)
    urgent = [c for c in followed if c.urgency >= URGENT]
    signed = sum(1 for s in sent if s.signed and s.sealed)

    def times(rows, which):
        return [t for t in (timing[(c.document_id, c.recipient)][which] for c in rows)
                if t is not None]
    return {
        "sent": len(sent), "sent_signed": signed, "signed_share": _share(signed, len(sent)),
        "sent_urgent": sum(1 for s in sent if s.urgency >= URGENT),
        "received": len(copies), "recalled": len(copies) - len(followed),
        "on_time": on_time, "overdue": overdue,
        "pending": sum(1 for c in followed if not c.handled and not c.overdue),
        "returned": sum(1 for c in followed if c.code == "02"),
        "on_time_share": _share(on_time, on_time + overdue),
        "median_accept_seconds": _median(times(followed, 0)),
        "median_complete_seconds": _median(times(followed, 1)),
        "received_urgent": len(urgent),
        "urgent_overdue": sum(1 for c in urgent if c.overdue),
        "urgent_median_accept_seconds": _median(times(urgent, 0)),
        "urgent_median_complete_seconds": _median(times(urgent, 1)),
    }


def _in_period(moment: datetime | None, bounds: tuple[datetime, datetime]) -> bool:
    return moment is not None and bounds[0] <= moment < bounds[1]


def figures(sent: Iterable[Sent], copies: Iterable[Copy], agencies: Iterable[str],
            asked: Period) -> dict:
    """The dashboard of ``agencies`` (a subtree, aggregated) over ``asked``:
    totals, one summary per bucket (the trend), one per agency, and the
    overdue and urgent copies (at most ``MAX_LISTED`` each, the total said)."""
    codes, bounds = set(agencies), asked.bounds()
    sent = [s for s in sent if s.agency in codes and _in_period(s.sent_at, bounds)]
    copies = [c for c in copies if c.recipient in codes and _in_period(c.arrived_at, bounds)]
    timing = {(c.document_id, c.recipient): (_seconds(c, "accepted_at"),
                                             _seconds(c, "completed_at")) for c in copies}
    sent_by, copies_by = {}, {}
    for s in sent:
        sent_by.setdefault(bucket_of(local_day(s.sent_at), asked.granularity), []).append(s)
    for c in copies:
        copies_by.setdefault(bucket_of(local_day(c.arrived_at), asked.granularity),
                             []).append(c)
    sent_of, copies_of = {}, {}
    for s in sent:
        sent_of.setdefault(s.agency, []).append(s)
    for c in copies:
        copies_of.setdefault(c.recipient, []).append(c)
    per_agency = {code: _summary(sent_of.get(code, []), copies_of.get(code, []), timing)
                  for code in sorted(codes)}
    overdue = sorted((c for c in copies if c.overdue and not c.recalled),
                     key=lambda c: (c.overdue_registration or c.overdue_completion,
                                    c.document_id, c.recipient))
    urgent = sorted((c for c in copies if c.urgency >= URGENT),
                    key=lambda c: (c.arrived_at, c.document_id, c.recipient))
    return {
        "start": asked.start.isoformat(), "end": asked.end.isoformat(),
        "granularity": asked.granularity,
        "totals": _summary(sent, copies, timing),
        "trend": [{"bucket": b.isoformat(),
                   **_summary(sent_by.get(b, []), copies_by.get(b, []), timing)}
                  for b in asked.buckets()],
        "agencies": [{"agency": code, **summary} for code, summary in per_agency.items()
                     if summary["sent"] or summary["received"]],
        "overdue_total": len(overdue),
        "overdue": [_listed(c) for c in overdue[:MAX_LISTED]],
        "urgent_total": len(urgent),
        "urgent": [_listed(c) for c in urgent[:MAX_LISTED]],
    }


def _listed(row: Copy) -> dict:
    return {"document_id": row.document_id, "number_notation": None, "subject": None,
            "recipient": row.recipient, "sender": row.sender,
            "urgency": row.urgency, "code": row.code, "recalled": row.recalled,
            "arrived_at": _iso(row.arrived_at), "accepted_at": _iso(row.accepted_at),
            "completed_at": _iso(row.completed_at),
            "overdue_kind": "registration" if row.overdue_registration else
            "completion" if row.overdue_completion else None,
            "deadline": _iso(row.overdue_registration or row.overdue_completion),
            "accept_seconds": _seconds(row, "accepted_at"),
            "complete_seconds": _seconds(row, "completed_at")}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat() if moment else None


def row_dict(row: Sent | Copy) -> dict:
    return asdict(row)
