"""A small history of a province's documents as the log holds it: docs issues,
signing signs and seals, routing sends, delivers and follows the recipients'
statuses and deadlines. For the dashboard's tests (unit and integration)."""

import json
from datetime import datetime, timedelta, timezone

from services.routing import deadlines
from shared.envelope import Actor, new_event, system_actor

PROVINCE, D1, D2, C11 = "000.00.00.H41", "000.01.00.H41", "000.02.00.H41", "001.01.00.H41"
# Monday 2 November 2026, 09:00 Vietnam time.
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
TREE = [{"code": D1, "parent": PROVINCE}, {"code": D2, "parent": PROVINCE},
        {"code": C11, "parent": D1}]


def ev(producer, kind, data, at, actor=None):
    return new_event(kind, data, actor=actor or system_actor(producer), producer=producer,
                     stream_id=f"s-{data['document_id']}", occurred_at=at)


def sent_document(doc, recipients, at, urgency=0, signed=True):
    """docs issues, signing signs and seals, routing sends and delivers."""
    clerk = Actor("clerk", PROVINCE, "clerk")
    events = [ev("docs", "DocumentIssued", {
        "document_id": doc, "issuing_agency": PROVINCE, "recipients": recipients,
        "urgency": urgency, "number_notation": f"{doc[:2]}/CT-UBND",
        "subject": f"Văn bản {doc[:2]}"}, at, clerk)]
    if signed:
        events.append(ev("signing", "DocumentSigned", {"document_id": doc}, at))
    events.append(ev("signing", "DocumentSealed", {"document_id": doc}, at))
    events.append(ev("routing", "ConsignmentSent", {
        "document_id": doc, "sender": PROVINCE, "recipients": recipients,
        "new_recipients": recipients, "urgency": urgency}, at, clerk))
    events += [ev("routing", "DocumentDelivered", {
        "document_id": doc, "recipient": r, "sender": PROVINCE, "urgency": urgency}, at)
        for r in recipients]
    return events


def status(doc, recipient, code, at):
    return ev("routing", "StatusReported", {
        "document_id": doc, "recipient": recipient, "code": code, "at": at.isoformat(),
        "agency": recipient}, at, Actor("clerk", recipient, "clerk"))


def overdue(doc, recipient, arrived_at, urgency=0, seen_at=None):
    """routing's ``DeliveryOverdue`` for a copy still at 01: the finding its own
    deadline rules make (``services.routing.deadlines``), with the data as
    routing records it (times as ISO text). Seen two days after the arrival
    unless ``seen_at`` says when routing's check ran."""
    seen_at = seen_at or arrived_at + timedelta(days=2)
    [finding] = deadlines.overdue([{"document_id": doc, "recipient": recipient,
                                    "arrived_at": arrived_at, "urgency": urgency,
                                    "status": "01", "due_date": None}], seen_at)
    data = json.loads(json.dumps(finding, default=lambda v: v.isoformat()))
    data["overdue_by_seconds"] = int(data["overdue_by_seconds"])
    return ev("routing", "DeliveryOverdue", data, seen_at)


def history():
    """Two documents of the province in week 50, one urgent, one without the
    leader's signature; a third in week 51."""
    a, b, c = "aa" + "0" * 34, "bb" + "0" * 34, "cc" + "0" * 34
    h = timedelta(hours=1)
    events = sent_document(a, [D1, D2, C11], T0)
    events += [status(a, D1, "03", T0 + 2 * h), status(a, D1, "04", T0 + 3 * h),
               status(a, D1, "06", T0 + 50 * h)]
    # Due by the end of Tuesday in Vietnam (T0 + 39 h); routing finds it overdue
    # an hour later, and the clerk accepts it after that.
    events += [overdue(a, D2, T0, seen_at=T0 + 40 * h), status(a, D2, "03", T0 + 41 * h)]
    # C11 never answers: pending.
    events += sent_document(b, [D1], T0 + 24 * h, urgency=3, signed=False)
    events += [status(b, D1, "03", T0 + 24.5 * h), status(b, D1, "05", T0 + 25 * h),
               status(b, D1, "06", T0 + 28 * h)]
    events += sent_document(c, [D2], T0 + 7 * 24 * h)
    events += [status(c, D2, "02", T0 + 7 * 24 * h + h)]
    return events, (a, b, c)
