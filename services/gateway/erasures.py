"""An operator's order to destroy a document's data in the audit log
(``POST /v1/audit/erasures``).

The gateway records the order (``DocumentDataErasureOrdered``: the legal
decision's number and date, the reason, the operator as its actor) in its
event store; its outbox signs and publishes it like its other events, and the
audit service, appending it, destroys in the same transaction the data of
every earlier entry about the document (``services/audit/log.py``,
``erase_document_data``). The leaves hold only the data's hash: every proof,
checkpoint and evidence bundle stays valid.

Refused before anything is recorded: a document the log holds no entry about
(404 naming ``document_id``), and a decision already ordered for the document
(409 naming ``decision``: the same order twice would add nothing).

``gateway`` is the nameko service instance (its ``audit`` proxy, ``_record``);
``actor`` is the admitted operator.
"""

from services.gateway import domain
from shared.envelope import format_time
from shared.errors import Conflict, NotFound


def order(gateway, actor, command):
    """Record the order; what it says and how many entries it reaches."""
    event = domain.data_erasure_ordered(actor, command["document_id"],
                                        command["decision"], command["reason"])
    document_id, decision = event.data["document_id"], event.data["decision"]
    held = gateway.audit.erasure_check(document_id)
    if not held["entries"]:
        raise NotFound(f"document_id: the audit log holds no entry about document"
                       f" {document_id}", field="document_id")
    if decision in held["decisions"]:
        raise Conflict(f"decision: {decision} was already ordered for document"
                       f" {document_id}", field="decision")
    gateway._record(event)
    return {"event_id": event.event_id, "document_id": document_id, "decision": decision,
            "reason": event.data["reason"], "ordered_by": actor.user_id,
            "ordered_at": format_time(event.occurred_at), "entries": held["entries"],
            "entries_with_data": held["entries_with_data"]}
