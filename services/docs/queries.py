"""Read-only lists of the docs service, for the web application's pages.

Each takes an open connection and the caller (``shared.auth.Actor``) and
applies the same visibility as ``get_document`` (``domain.may_read``): a
clerk or leader sees the documents of their agency and those delivered to it;
an auditor reads everything; a leader's work queue holds the documents
submitted to that leader. Plain SQL, no state change: each list is a page
(LIMIT/OFFSET in a stable order) and its total, never every row.
"""

import unicodedata
from datetime import date, datetime, time, timedelta

from services.docs import domain
from shared.errors import ValidationFailed
from shared.values import VIETNAM

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_QUERY = 200
ARRIVAL_STATES = ("arrived", "accepted", "returned", "withdrawn")
_COLUMNS = ("d.document_id, d.issuing_agency, d.state, d.metadata->>'subject',"
            " d.metadata->>'document_type', COALESCE((d.metadata->>'urgency')::int, 0),"
            " d.registered_at, d.number_notation, d.issued_at")
_FIELDS = ("document_id", "issuing_agency", "state", "subject", "document_type", "urgency",
           "registered_at", "number_notation", "issued_at")
# Trích yếu or số, ký hiệu holds the words searched for (``q``: a LIKE pattern).
_TEXT = ("(%(q)s::text IS NULL OR d.metadata->>'subject' ILIKE %(q)s"
         " OR d.number_notation ILIKE %(q)s)")
# A moment of ``column`` on a day from ``from`` to the day before ``until``.
_DAYS = ("(%(from)s::timestamptz IS NULL OR {column} >= %(from)s::timestamptz)"
         " AND (%(until)s::timestamptz IS NULL OR {column} < %(until)s::timestamptz)")


def _rows(rows, fields=_FIELDS):
    return [{k: (v.isoformat() if isinstance(v, (date, datetime)) else
                 str(v) if k == "document_id" else v) for k, v in zip(fields, r)}
            for r in rows]


def page_request(search=None):
    """The checked search and page of a list: ``q`` (words of the trích yếu or
    the số, ký hiệu), ``start``/``end`` (days, yyyy-mm-dd, in Vietnam time,
    both included), ``page`` (from 1), ``size`` (1..100). Values may be text,
    as a query string gives them; a bad one is refused naming its field."""
    search = dict(search or {})
    unknown = set(search) - {"q", "start", "end", "page", "size"}
    if unknown:
        raise ValidationFailed(f"search: unknown field {sorted(unknown)[0]!r}",
                               field=sorted(unknown)[0])
    q = unicodedata.normalize("NFC", str(search.get("q") or "")).strip()
    if len(q) > MAX_QUERY:
        raise ValidationFailed(f"q: at most {MAX_QUERY} characters", field="q")
    days = {name: _day(search.get(name), name) for name in ("start", "end")}
    if days["start"] and days["end"] and days["start"] > days["end"]:
        raise ValidationFailed(f"start: {days['start']:%d/%m/%Y} is after end"
                               f" {days['end']:%d/%m/%Y}", field="start")
    page = _whole(search.get("page"), "page", 1, 1, 10**6)
    size = _whole(search.get("size"), "size", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return {"q": like if q else None, "words": q,
            "from": _midnight(days["start"]),
            "until": _midnight(days["end"] + timedelta(days=1)) if days["end"] else None,
            "page": page, "size": size, "offset": (page - 1) * size}


def _day(value, field):
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{field}: a date (yyyy-mm-dd)", field=field) from None


def _midnight(day):
    return datetime.combine(day, time(), VIETNAM) if day else None


def _whole(value, field, default, low, high):
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field}: a whole number", field=field) from None
    if not low <= number <= high:
        raise ValidationFailed(f"{field}: between {low} and {high}", field=field)
    return number


def _page(conn, sql, params, order, fields=_FIELDS, extra=""):
    """One page of ``sql`` (FROM ... WHERE ...) in ``order`` (ending on a unique
    column, so pages never overlap), and how many rows match in all."""
    total = conn.execute(f"SELECT count(*) {sql}", params).fetchone()[0]
    rows = conn.execute(f"SELECT {_COLUMNS}{extra} {sql} ORDER BY {order}"
                        " LIMIT %(size)s OFFSET %(offset)s", params).fetchall()
    return {"items": _rows(rows, fields), "total": total, "page": params["page"],
            "size": params["size"]}


def _states(state, known, field="state"):
    """None (every state), or the list of states asked for (one, or several)."""
    if state in (None, "", []):
        return None
    states = [state] if isinstance(state, str) else list(state)
    for one in states:
        if one not in known:
            raise ValidationFailed(f"{field}: one of {', '.join(known)}", field=field)
    return states


_ISSUED_OR_MADE = _DAYS.format(column="COALESCE(d.issued_at, d.registered_at)")


def outgoing(conn, actor, state=None, search=None):
    """A page of the documents the caller's agency issues (all of them for an
    auditor), newest first; in the given state(s) only, matching the search."""
    params = {**page_request(search), "states": _states(state, domain.STATES),
              "everyone": actor.role == "auditor", "agency": actor.agency,
              "external": domain.EXTERNAL}
    return _page(conn, "FROM documents d WHERE (%(everyone)s OR d.issuing_agency = %(agency)s)"
                 " AND d.state <> %(external)s"
                 " AND (%(states)s::text[] IS NULL OR d.state = ANY(%(states)s::text[]))"
                 f" AND {_TEXT} AND {_ISSUED_OR_MADE}",
                 params, "d.registered_at DESC, d.document_id DESC")


def awaiting_signature(conn, actor, search=None):
    """A page of the documents submitted to the caller (a leader) and not yet
    signed or returned: the most urgent first, then the oldest."""
    params = {**page_request(search), "state": domain.SUBMITTED, "agency": actor.agency,
              "user": actor.user_id}
    if actor.role != "leader":
        return {"items": [], "total": 0, "page": params["page"], "size": params["size"]}
    return _page(conn, "FROM documents d"
                 " JOIN LATERAL (SELECT e.envelope FROM events e"
                 "   WHERE e.stream_id = 'document-' || d.document_id::text"
                 "   AND e.event_type = 'DocumentSubmitted'"
                 "   ORDER BY e.stream_version DESC LIMIT 1) s ON true"
                 " WHERE d.state = %(state)s AND d.issuing_agency = %(agency)s"
                 " AND s.envelope->'data'->>'signer_user' = %(user)s"
                 f" AND {_TEXT} AND {_DAYS.format(column='d.registered_at')}",
                 params, "6 DESC, d.registered_at, d.document_id")


def arrivals(conn, actor, state=None, search=None):
    """A page of the documents delivered to the caller's agency: the most
    urgent first, then the newest arrival; with the arrival's number and state
    (``state``: only arrivals in that state, or those states)."""
    params = {**page_request(search), "agency": actor.agency,
              "states": _states(state, ARRIVAL_STATES)}
    return _page(conn, "FROM incoming i JOIN documents d USING (document_id)"
                 " WHERE i.agency = %(agency)s"
                 " AND (%(states)s::text[] IS NULL OR i.state = ANY(%(states)s::text[]))"
                 f" AND {_TEXT} AND {_DAYS.format(column='i.arrived_at')}",
                 params, "6 DESC, i.arrived_at DESC, d.document_id",
                 _FIELDS + ("arrival_number", "arrived_at", "arrival_state", "reason"),
                 ", i.arrival_number, i.arrived_at, i.state, i.reason")


def timeline(conn, document_id, actor):
    """The document's own events in order, and the caller's agency's arrival
    events (every agency's for an auditor): what, when, by whom. The caller
    must already have been found allowed to read the document."""
    streams = [domain.stream_of(document_id)]
    pattern = f"incoming-{document_id}-" + ("%" if actor.role == "auditor" else actor.agency)
    rows = conn.execute(
        "SELECT event_type, occurred_at, envelope->'actor', envelope->'data'"
        " FROM events WHERE stream_id = ANY(%s) OR stream_id LIKE %s"
        " ORDER BY position", (streams, pattern)).fetchall()
    keep = ("state", "from", "command", "because_of", "reason", "signer_user",
            "number_notation", "agency", "arrival_number")
    return [{"event_type": r[0], "occurred_at": r[1].isoformat(),
             "actor": {k: r[2].get(k) for k in ("user_id", "agency", "role")},
             "data": {k: r[3][k] for k in keep if r[3].get(k) is not None}} for r in rows]
