"""Read-only lists of the docs service, for the web application's pages.

Each takes an open connection and the caller (``shared.auth.Actor``) and
applies the same visibility as ``get_document`` (``domain.may_read``): a
clerk or leader sees the documents of their agency and those delivered to it;
an auditor reads everything; a leader's work queue holds the documents
submitted to that leader. Plain SQL, no state change, a bounded number of rows.
"""

from datetime import date, datetime

from services.docs import domain
from shared.errors import ValidationFailed

LIMIT = 200
_COLUMNS = ("d.document_id, d.issuing_agency, d.state, d.metadata->>'subject',"
            " d.metadata->>'document_type', COALESCE((d.metadata->>'urgency')::int, 0),"
            " d.registered_at, d.number_notation, d.issued_at")
_FIELDS = ("document_id", "issuing_agency", "state", "subject", "document_type", "urgency",
           "registered_at", "number_notation", "issued_at")


def _rows(rows, fields=_FIELDS):
    return [{k: (v.isoformat() if isinstance(v, (date, datetime)) else
                 str(v) if k == "document_id" else v) for k, v in zip(fields, r)}
            for r in rows]


def outgoing(conn, actor, state=None, limit=LIMIT):
    """Documents the caller's agency issues (all of them for an auditor), newest
    first, optionally in one ``state`` only."""
    if state is not None and state not in domain.STATES:
        raise ValidationFailed(f"state: one of {', '.join(domain.STATES)}", field="state")
    everyone = actor.role == "auditor"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM documents d WHERE (%s OR d.issuing_agency = %s)"
        " AND d.state <> %s AND (%s::text IS NULL OR d.state = %s::text)"
        " ORDER BY d.registered_at DESC LIMIT %s",
        (everyone, actor.agency, domain.EXTERNAL, state, state, limit)).fetchall()
    return _rows(rows)


def awaiting_signature(conn, actor, limit=LIMIT):
    """Documents submitted to the caller (a leader) and not yet signed or
    returned: the most urgent first, then the oldest."""
    if actor.role != "leader":
        return []
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM documents d"
        " JOIN LATERAL (SELECT e.envelope FROM events e"
        "   WHERE e.stream_id = 'document-' || d.document_id::text"
        "   AND e.event_type = 'DocumentSubmitted'"
        "   ORDER BY e.stream_version DESC LIMIT 1) s ON true"
        " WHERE d.state = %s AND d.issuing_agency = %s"
        " AND s.envelope->'data'->>'signer_user' = %s"
        " ORDER BY 6 DESC, d.registered_at LIMIT %s",
        (domain.SUBMITTED, actor.agency, actor.user_id, limit)).fetchall()
    return _rows(rows)


def arrivals(conn, actor, limit=LIMIT):
    """Documents delivered to the caller's agency: the most urgent first, then
    the newest arrival; with the arrival's number and state."""
    rows = conn.execute(
        f"SELECT {_COLUMNS}, i.arrival_number, i.arrived_at, i.state, i.reason"
        " FROM incoming i JOIN documents d USING (document_id) WHERE i.agency = %s"
        " ORDER BY 6 DESC, i.arrived_at DESC LIMIT %s", (actor.agency, limit)).fetchall()
    return _rows(rows, _FIELDS + ("arrival_number", "arrived_at", "arrival_state", "reason"))


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
