"""Entrypoints mixed into the audit service: what an operator's erasure order
needs to know before the gateway records it.

The erasure itself happens where the order is appended (``log.py``:
``erase_document_data``, in the appending transaction): an order is an event
of the log like any other, and its data (the legal decision, the reason) is
never destroyed.
"""

from services.audit.log import ERASURE_PRODUCER, ERASURE_TYPE
from shared.auth import require_role
from shared.edge.rpc import rpc
from shared.values import checked_uuid


class Erasures:
    """Mixed into ``AuditService`` (``self.audit``, ``self.auth``)."""

    @rpc
    def erasure_check(self, document_id):
        """For an operator about to order an erasure: how many entries the log
        holds about ``document_id``, how many still have data an order would
        destroy (an earlier order's is kept), and the
        decisions already ordered for it (no data of the entries themselves)."""
        require_role(self.auth.actor(), "operator")
        document_id = checked_uuid(document_id, "document_id")
        with self.audit.db.connection() as conn:
            entries, kept = conn.execute(
                "SELECT count(*), count(p.event_id) FILTER (WHERE NOT (e.producer = %s"
                " AND e.event_type = %s)) FROM entries e LEFT JOIN payloads p USING (event_id)"
                " WHERE e.document_id = %s",
                (ERASURE_PRODUCER, ERASURE_TYPE, document_id)).fetchone()
            decisions = [r[0] for r in conn.execute(
                "SELECT p.data ->> 'decision' FROM entries e JOIN payloads p USING (event_id)"
                " WHERE e.document_id = %s AND e.producer = %s AND e.event_type = %s"
                " ORDER BY e.idx", (document_id, ERASURE_PRODUCER, ERASURE_TYPE))]
        return {"document_id": document_id, "entries": entries,
                "entries_with_data": kept, "decisions": decisions}


def erased_documents(db):
    """The documents an erasure order was appended for (their earlier data gone)."""
    with db.connection() as conn:
        return [r[0] for r in conn.execute(
            "SELECT DISTINCT document_id FROM entries WHERE producer = %s"
            " AND event_type = %s AND document_id IS NOT NULL",
            (ERASURE_PRODUCER, ERASURE_TYPE))]
