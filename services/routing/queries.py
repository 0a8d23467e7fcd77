"""The routing service's read-only answers: inboxes, statuses, recalls,
deadlines, the directory and the auditors' summary, with who may see what."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from services.routing import deadlines
from services.routing import statuses as st
from services.routing.commands import jsonable
from shared.directory import Directory
from shared.envelope import Actor
from shared.errors import NotFound, ValidationFailed
from shared.text import folded
from shared.workdays import WorkingCalendar


def on_date(value: Any, today: date) -> date:
    """The ``on`` argument (YYYY-MM-DD, or an ISO time) as a date; ``today`` if None."""
    if value is None:
        return today
    try:
        return datetime.fromisoformat(str(value)).date() if "T" in str(value) \
            else datetime.strptime(str(value), "%Y-%m-%d").date()
    except ValueError:
        raise ValidationFailed("on: a date as YYYY-MM-DD", field="on") from None


def inbox(store: Any, agency: str) -> list[dict]:
    with store.transaction() as conn:
        return store.inbox(conn, agency)


def statuses(store: Any, document_id: str, actor: Actor) -> list[dict]:
    """Per recipient, the current status and its history. The sender (and
    auditors) see every recipient; a recipient sees its own copy.
    Each copy also says which codes its recipient may report next (``next``)
    and the latest recall request addressed to it and its answer (``recall``,
    None if there was none): what the sender asked, what the recipient said."""
    with store.transaction() as conn:
        copies = store.copies(conn, document_id)
        recalls = {r.recipient: r for r in store.recalls(conn, document_id)}
    visible = [c for c in copies
               if actor.role == "auditor" or actor.agency in (c.recipient, c.sender)]
    if not visible:
        raise NotFound(f"no copy of document {document_id} concerns your agency",
                       field="document_id")
    # Times as ISO 8601 text, not the projection's stored form ({"$dt": ...}).
    return [{"recipient": c.recipient, "sender": c.sender, "status": c.code,
             "recalled": c.recalled, "history": jsonable([asdict(h) for h in c.history]),
             "next": [] if c.final else sorted(st.allowed_next(c.code)),
             "recall": _recall_of(recalls.get(c.recipient))} for c in visible]


def _recall_of(request: st.RecallRequest | None) -> dict | None:
    if request is None:
        return None
    return {"business_type": request.business_type, "reason": request.reason,
            "requested_at": request.requested_at.isoformat(),
            "requested_by": request.requested_by, "answer": request.answer,
            "answer_reason": request.answer_reason,
            "answered_at": request.answered_at.isoformat() if request.answered_at else None}


def recall_outcome(store: Any, document_id: str, actor: Actor) -> dict:
    with store.transaction() as conn:
        requests = store.recalls(conn, document_id)
    if not requests or (actor.role != "auditor" and actor.agency != requests[0].sender):
        raise NotFound(f"no recall of document {document_id} by your agency",
                       field="document_id")
    outcome = st.recall_outcome(requests)
    return {"document_id": document_id, "state": outcome.state,
            "agreed": list(outcome.agreed), "refused": [list(r) for r in outcome.refused],
            "pending": list(outcome.pending)}


def overdue(store: Any, actor: Actor, now: datetime) -> list[dict]:
    """Overdue copies: of the caller's agency, or of every agency for auditors."""
    with store.transaction() as conn:
        items = store.for_deadlines(conn, None if actor.role == "auditor" else actor.agency)
    return jsonable(deadlines.overdue(items, now, WorkingCalendar()))


def agencies(directory: Directory, on: date, under: Any = None, level: Any = None) -> list:
    found = directory.subtree(under, on, level=level) if under else directory.agencies(on)
    if level and not under:
        found = [a for a in found if a.level == level]
    return jsonable([a.to_dict() for a in found])


def browse(directory: Directory, on: date, parent: Any = None, q: Any = "",
           page: Any = 1, size: Any = 50) -> dict:
    """A page of the directory as ``on``: the agencies directly under ``parent``
    (the roots when none), or, with ``q``, every agency (in ``parent``'s
    subtree if given) whose name (diacritics ignored) or code holds ``q``. Each
    item says whether it has children; ``names`` names each item's parent."""
    page, size = _whole(page, "page", 1, None), _whole(size, "size", 1, 100)
    if parent is not None and not isinstance(parent, str):
        raise ValidationFailed("parent: an agency code", field="parent")
    if not isinstance(q, str) or len(q) > 200:
        raise ValidationFailed("q: at most 200 characters of text", field="q")
    if parent:
        try:
            directory.get(parent, on)
        except (NotFound, ValidationFailed) as err:
            raise type(err)(err.message.replace("code:", "parent:", 1),
                            field="parent") from None
    if q.strip():
        wanted = folded(q.strip())
        pool = directory.subtree(parent, on) if parent else directory.agencies(on)
        found = [a for a in pool if wanted in folded(a.name) or wanted in a.code.casefold()]
    elif parent:
        found = directory.children(parent, on)
    else:
        found = [a for a in directory.agencies(on) if a.parent is None]
    shown = found[(page - 1) * size:page * size]
    parents = {a.parent for a in shown if a.parent} | ({parent} if parent else set())
    return jsonable({
        "items": [{**a.to_dict(), "has_children": bool(directory.children(a.code, on))}
                  for a in shown],
        "total": len(found), "page": page, "size": size,
        "names": {code: directory.get(code, on).name for code in sorted(parents)}})


def _whole(value: Any, field: str, least: int, most: int | None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field}: a whole number", field=field) from None
    if number < least or (most is not None and number > most):
        bound = f"{least} to {most}" if most is not None else f"at least {least}"
        raise ValidationFailed(f"{field}: {bound}", field=field)
    return number


def state_summary(store: Any) -> list[dict]:
    """Every document routing knows, sorted by id: where it was delivered and,
    when delivery was refused, the reason its ``DeliveryRefused`` gives."""
    with store.transaction() as conn:
        known, delivered, refused = store.summary(conn)
    return [{"document_id": document_id,
             "delivered_to": sorted(delivered.get(document_id, [])),
             "refused": refused.get(document_id)}
            for document_id in sorted(known | set(delivered) | set(refused))]
