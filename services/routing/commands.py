"""The routing service's use cases: load, let the core decide, append, project.

Each takes the projection ``store`` (``services.routing.store``: PostgreSQL or
memory) and the event ``log`` (``shared.eventstore``), so it runs the same
in the nameko shell and in a unit test without servers. The rules are the
core's: ``domain`` (consignments), ``statuses`` (status reports and the
recall negotiation), ``directory`` (who an addressing stands for),
``deadlines`` and ``inbound`` (what the national axis sends). The ones that
follow another service's event take ``conn``, the consumer's inbox
transaction. Files in S3 are the connector's (``connector``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from services.routing import deadlines, domain, edxml, inbound
from services.routing import statuses as st
from shared.directory import Directory
from shared.command import EventLog, decide_within, retrying, run_command
from shared.envelope import Actor, Event, new_event, system_actor, thaw
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.failpoints import failpoint
from shared.workdays import WorkingCalendar

DIRECTORY_STREAM = "directory"


def jsonable(value: Any) -> Any:
    """``value`` as JSON gives it back (times as ISO 8601 text)."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat()))


def _project(store: Any, within: Callable[[Any], None] | None = None) -> Callable:
    def project(conn: Any, state: Any, recorded: list[Event]) -> None:
        store.project_all(recorded, conn)
        if within is not None and recorded:
            within(conn)
    return project


def conflict() -> Conflict:
    return Conflict("the document changed meanwhile; try again", field="document_id")


def _run(store: Any, log_: EventLog, load: Callable, decide: Callable,
         within: Callable[[Any], None] | None = None) -> tuple[Any, list[Event]]:
    """One command transaction on routing's rows (``within(conn)``: after the
    projection of new events, before the commit)."""
    return run_command(store.transaction, log_, load, decide, _project(store, within),
                       conflict=conflict)


def _change_event(event_type: str, change: st.StatusChange, actor: Actor) -> Event:
    return new_event(event_type, jsonable(change.to_dict()), actor=actor,
                     producer=domain.SERVICE, stream_id=domain.stream_of(change.document_id))


def check_exchangeable(document: dict) -> None:
    """A state secret (secrecy other than 0, "Thường") never goes out electronically."""
    if document.get("secrecy") != 0:
        raise ValidationFailed(f"secrecy: document {document['document_id']} is a state"
                               f" secret (level {document.get('secrecy')}) and is excluded"
                               " from electronic exchange", field="secrecy")


def _copy(store: Any, conn: Any, document_id: str, recipient: str) -> st.DeliveryStatus:
    state = store.copy(conn, document_id, recipient, lock=True)
    if state is None:
        raise NotFound(f"document {document_id} was not delivered to {recipient}",
                       field="document_id")
    return state


# -- the first consignment, from docs' and signing's events --------------------------

def follow_issue(conn: Any, store: Any, log_: EventLog, event: Event, half: str,
                 directory: Callable[[], Directory], today: date,
                 now: datetime) -> list[Event]:
    """docs' ``DocumentIssued`` (``registered``) or signing's ``DocumentFinalized``
    (``signed``): once both are known, the first consignment to the addressees
    (as the directory resolves them ``today``), or its refusal."""
    def decide(row: dict) -> list[Event]:
        if row["registered"] is None or row["signed"] is None or row["dispatched"]:
            return []
        document = row["registered"]["data"]
        try:
            check_exchangeable(document)
            recipients = directory().address({"agencies": list(document["recipients"])}, today)
        except (ValidationFailed, NotFound) as err:
            return [domain.refused(document["document_id"], str(err), event)]
        return domain.initial_delivery(document, row["signed"]["data"], recipients, set(),
                                       now, causation=event)
    _, recorded = decide_within(conn, log_, lambda c: store.follow(event, half, c), decide,
                                _project(store))
    return recorded


# -- sending to more agencies, idempotent on a consignment id ------------------------

def send(store: Any, log_: EventLog, directory: Callable[[], Directory], document_id: str,
         addressing: Any, consignment_id: str, actor: Actor, today: date,
         now: datetime) -> dict:
    """A signed document to the agencies ``addressing`` stands for ``today``;
    the same ``consignment_id`` again returns the first answer, sends nothing."""
    domain.check_consignment_id(consignment_id)
    if not isinstance(addressing, dict):
        raise ValidationFailed("addressing: an object such as {\"agencies\": [...]}",
                               field="addressing")
    resolved = directory()

    def load(conn: Any) -> dict:
        done = store.sent(conn, consignment_id)
        if done is not None:
            return {"done": done}
        # What may go out is learnt from docs' DocumentIssued and signing's
        # DocumentFinalized, never from the caller.
        return {"row": store.consignment(conn, document_id),
                "already": store.delivered_to(conn, document_id)}

    def decide(loaded: dict) -> list[Event]:
        if "done" in loaded:
            if loaded["done"]["document_id"] != document_id:
                raise Conflict(f"consignment {consignment_id} was used for another"
                               " document", field="consignment_id")
            return []
        row = loaded["row"]
        if row is None or row["registered"] is None:
            raise NotFound(f"document {document_id} is not known to routing: only an"
                           " issued document is sent", field="document_id")
        document = row["registered"]["data"]
        if actor.agency != document["issuing_agency"]:
            raise Forbidden("only the issuing agency's clerk sends its documents",
                            field="agency")
        check_exchangeable(document)
        if row["signed"] is None:
            raise Conflict("the document is not sealed yet (no DocumentFinalized):"
                           " it cannot be sent", field="document_id")
        recipients = [r for r in resolved.address(addressing, today)
                      if r != document["issuing_agency"]]
        return domain.consignment_events(document, consignment_id, thaw(addressing),
                                         recipients, loaded["already"], actor, now)

    loaded, recorded = _run(store, log_, load, decide,
                            lambda conn: failpoint("routing.send.before_commit"))
    if "done" in loaded:
        done = loaded["done"]
        return {"consignment_id": consignment_id, "recipients": done["recipients"],
                "new_recipients": done["new_recipients"], "repeated": True}
    sent = recorded[0].data
    return jsonable({"consignment_id": consignment_id, "recipients": thaw(sent["recipients"]),
                     "new_recipients": thaw(sent["new_recipients"]), "repeated": False})


# -- the recipient's side ----------------------------------------------------------------

def _reported(code: str, *, agency: str, at: datetime, user: str, reason: Any,
              actor: Actor) -> Callable[[st.DeliveryStatus], Event]:
    """The decision: ``agency`` reports ``code`` on its copy, by ``st.report``'s
    rules; one ``StatusReported`` (recorded by ``actor``)."""
    def decide(state: st.DeliveryStatus) -> Event:
        _, change = st.report(state, code, by_agency=agency, recipient=agency, at=at,
                              user=user, reason=reason)
        return _change_event("StatusReported", change, actor)
    return decide


def report_within(conn: Any, store: Any, log_: EventLog, document_id: str, code: str, *,
                  agency: str, at: datetime, user: str, reason: Any, actor: Actor) -> dict:
    """A status report in the caller's transaction (a package from the axis): the change."""
    _, [recorded] = decide_within(
        conn, log_, lambda c: _copy(store, c, document_id, agency),
        _reported(code, agency=agency, at=at, user=user, reason=reason, actor=actor),
        _project(store))
    return thaw(recorded.data)


def report_status(store: Any, log_: EventLog, document_id: str, code: Any, reason: Any,
                  actor: Actor, now: datetime) -> dict:
    """The recipient's clerk reports 02 returned, 03 accepted, 04 assigned, 05, 06."""
    _, [recorded] = _run(store, log_, lambda conn: _copy(store, conn, document_id,
                                                         actor.agency),
                         _reported(str(code), agency=actor.agency, at=now,
                                   user=actor.user_id, reason=reason, actor=actor))
    return thaw(recorded.data)


def follow_status(conn: Any, store: Any, log_: EventLog, event: Event, code: str) -> None:
    """docs' ``IncomingAccepted`` (03) or ``IncomingReturned`` (02) on the copy."""
    data, actor = event.data, event.actor

    def decide(state: st.DeliveryStatus) -> list[Event]:
        if state.code == code:
            return []  # the clerk reported it here already
        _, change = st.report(state, code, by_agency=actor.agency, recipient=data["agency"],
                              at=event.occurred_at, user=actor.user_id,
                              reason=data.get("reason"))
        return [_change_event("StatusReported", change, actor)]
    decide_within(conn, log_, lambda c: _copy(store, c, data["document_id"], data["agency"]),
                  decide, _project(store))


# -- recall, update, replace ---------------------------------------------------------

def _recall_pairs(store: Any, conn: Any, document_id: str) -> list[tuple]:
    """Each copy of the document with its latest recall request, both locked."""
    return [(_copy(store, conn, document_id, c.recipient),
             store.recall(conn, document_id, c.recipient, lock=True))
            for c in store.copies(conn, document_id)]


def _recall_requests(pairs: list[tuple], *, business_type: Any, by_agency: str,
                     at: datetime, user: str, reason: Any, replacement_document_id: Any,
                     actor: Actor) -> list[Event]:
    """One ``RecallRequested`` per copy, by ``st.request_recall``."""
    return [_change_event("RecallRequested", st.request_recall(
        copy_, current, business_type=business_type, by_agency=by_agency, at=at, user=user,
        reason=reason, replacement_document_id=replacement_document_id)[1], actor)
        for copy_, current in pairs]


def request_recall(store: Any, log_: EventLog, document_id: str, business_type: Any,
                   reason: Any, replacement_document_id: Any, actor: Actor,
                   now: datetime) -> dict:
    """The sender asks every recipient (13) to agree to a revoke (1), update (2)
    or replace (3)."""
    def decide(pairs: list[tuple]) -> list[Event]:
        if not pairs:
            raise Conflict(f"document {document_id} was never sent: nothing to recall",
                           field="document_id")
        return _recall_requests(pairs, business_type=business_type, by_agency=actor.agency,
                                at=now, user=actor.user_id, reason=reason, actor=actor,
                                replacement_document_id=replacement_document_id)
    _, recorded = _run(store, log_, lambda conn: _recall_pairs(store, conn, document_id),
                       decide)
    return {"document_id": document_id,
            "requested_from": [e.data["recipient"] for e in recorded]}


def answer_recall(store: Any, log_: EventLog, document_id: str, agree: Any, reason: Any,
                  actor: Actor, now: datetime) -> dict:
    """The recipient agrees (15) or refuses (16, reason required)."""
    def load(conn: Any) -> tuple:
        request = store.recall(conn, document_id, actor.agency, lock=True)
        if request is None:
            raise NotFound("no recall request is addressed to your agency for this"
                           " document", field="document_id")
        return request, _copy(store, conn, document_id, actor.agency)

    def decide(loaded: tuple) -> Event:
        _, _, change = st.answer_recall(
            *loaded, st.RECALL_AGREED if agree else st.RECALL_REFUSED,
            by_agency=actor.agency, at=now, user=actor.user_id, reason=reason)
        return _change_event("RecallAnswered", change, actor)
    _, [recorded] = _run(store, log_, load, decide)
    return thaw(recorded.data)


# -- deadlines -----------------------------------------------------------------------

def record_overdue(store: Any, log_: EventLog, now: datetime) -> int:
    """One ``DeliveryOverdue`` per copy and kind newly past its deadline."""
    with store.transaction() as conn:
        items = store.for_deadlines(conn, None)
    recorded = 0
    for finding in deadlines.overdue(items, now, WorkingCalendar()):
        def decide(reported: bool, finding: dict = finding) -> list[Event]:
            if reported:
                return []
            data = {**jsonable(finding),
                    "overdue_by_seconds": int(finding["overdue_by_seconds"])}
            return [new_event("DeliveryOverdue", data, actor=system_actor(domain.SERVICE),
                              producer=domain.SERVICE,
                              stream_id=domain.stream_of(finding["document_id"]))]
        _, stored = run_command(store.transaction, log_, lambda conn, f=finding:
                                store.overdue_reported(conn, f["document_id"],
                                                       f["recipient"], f["kind"]),
                                decide, _project(store))
        recorded += len(stored)
    return recorded


# -- the agency directory ------------------------------------------------------------

def directory_event(changes: list, actor: Actor | None) -> Event:
    return new_event("DirectoryChanged", {"changes": changes},
                     actor=actor or system_actor(domain.SERVICE), producer=domain.SERVICE,
                     stream_id=DIRECTORY_STREAM)


def directory_of(log_: Any, conn: Any = None) -> Directory:
    """The directory as the ``directory`` stream's changes make it."""
    changes = [c for e in log_.read_stream(DIRECTORY_STREAM, conn=conn)
               for c in e.data["changes"]]
    return Directory.from_changes(thaw(changes))


def change_directory(store: Any, log_: EventLog,
                     load: Callable[[Any], tuple[Directory, int]],
                     changes: Any, actor: Actor) -> dict:
    """Dated changes applied to the directory ``load(conn)`` gives (with the
    stream's version it is of): all or none. Appended at that version; if
    another change came first, loaded and checked again (the command
    transaction of :func:`shared.command.retrying`)."""
    if not isinstance(changes, list) or not changes:
        raise ValidationFailed("changes: a non-empty list of changes", field="changes")

    def body(conn: Any) -> dict:
        directory, version = load(conn)
        trial = Directory.from_changes(directory.changes)
        for i, change in enumerate(changes):
            try:
                trial.apply(change)
            except (ValidationFailed, NotFound, Conflict) as err:
                raise type(err)(f"changes.{i}: {err}", field=f"changes.{i}") from None
        applied = trial.changes[len(directory.changes):]
        log_.append(DIRECTORY_STREAM, version, [directory_event(applied, actor)], conn=conn)
        return {"applied": len(applied)}

    return retrying(store.transaction, body, conflict=lambda: Conflict(
        "the directory changed meanwhile; try again", field="changes"))


# -- documents from the national axis --------------------------------------------------

def imported(store: Any, conn: Any, document_id: str, package: Any,
             lock: bool = False) -> dict | None:
    """The answer of an earlier import of this package, or None. Another
    package with the same sender, year and number is a conflict. One query,
    so one snapshot: a concurrent import that commits meanwhile is seen
    either wholly or not at all, never as "another package"."""
    if lock:
        store.lock_import(conn, document_id)
    notation = f"{package.code_number}/{package.code_notation}"
    year = package.promulgation_date.year
    rows = store.numbered(conn, package.from_agency.id, notation, or_id=document_id)
    for doc, registered in rows:
        if doc == document_id:
            return inbound.answer(registered["data"], repeated=True)
    clash = [doc for doc, registered in rows if registered["data"].get("year") == year]
    if clash:
        path = "edXMLHeader/MessageHeader/Code"
        raise Conflict(f"{path}: {notation} of {package.from_agency.id} in {year} was"
                       f" imported already, as document {clash[0]}, from another"
                       " package", field=path)
    return None


def ask_recall(store: Any, conn: Any, edxml_id: str, package: Any, actor: Actor,
               now: datetime, replacement_document_id: str | None = None) -> list[Event]:
    """Recall requests (13) from the package's sender to every copy of the
    document it imported before as ``edxml_id``; errors name
    ``Bussiness/DocumentId``."""
    path = f"{inbound.BUSINESS}/DocumentId"
    business = package.business
    document_id = inbound.imported_id(package.from_agency.id, edxml_id)
    pairs = _recall_pairs(store, conn, document_id)
    if not pairs:
        raise NotFound(f"{path}: no document {edxml_id} from {package.from_agency.id} was"
                       " taken in from the axis; nothing to"
                       f" {edxml.BUSINESS_DOC_TYPES[business.doc_type]}", field=path)
    user = (business.staff_info.staff if business.staff_info else "") or actor.user_id
    try:
        return _recall_requests(pairs, business_type=business.doc_type,
                                by_agency=package.from_agency.id, at=now, user=user,
                                reason=business.reason or None, actor=actor,
                                replacement_document_id=replacement_document_id)
    except (Conflict, Forbidden, ValidationFailed) as err:
        raise type(err)(f"{path}: {err.message}", field=path) from None


def check_import(store: Any, package: Any, document_id: str, actor: Actor,
                 now: datetime) -> dict | None:
    """Before any file is stored: the earlier import's answer, or None once the
    documents a replacement (3) names are checked (a refusal leaves nothing)."""
    with store.transaction() as conn:
        earlier = imported(store, conn, document_id, package)
        if earlier is None:
            for named in inbound.recalled_documents(package):
                ask_recall(store, conn, named, package, actor, now,
                           replacement_document_id=document_id)
    return earlier


def import_document(store: Any, log_: EventLog, package: Any, document: dict, actor: Actor,
                    now: datetime, within: Callable[[Any], None]) -> dict:
    """Record a package's document (``inbound.record``) and its delivery, and
    for a replacement (3) the recall requests to the old copies; the earlier
    answer (``repeated``) if the package was imported meanwhile.
    ``within(conn)`` runs before the events (the files put under retention)."""
    document_id = document["document_id"]

    def load(conn: Any) -> dict | None:
        earlier = imported(store, conn, document_id, package, lock=True)
        if earlier is None:
            within(conn)  # before the commit: never an unlocked import
        return earlier

    def decide(earlier: dict | None) -> list[Event]:
        return [] if earlier is not None else inbound.received_events(document, actor, now)

    def project(conn: Any, earlier: Any, recorded: list[Event]) -> None:
        _project(store)(conn, earlier, recorded)
        if earlier is None:  # a replacement (3): ask the old copies to agree
            _, asked = decide_within(conn, log_, lambda c: c, lambda c: [
                e for named in inbound.recalled_documents(package)
                for e in ask_recall(store, c, named, package, actor, now,
                                    replacement_document_id=document_id)], _project(store))
            failpoint("routing.import.before_commit")

    earlier, _ = run_command(store.transaction, log_, load, decide, project,
                             conflict=conflict)
    return jsonable(earlier if earlier is not None else inbound.answer(document, False))


def _pending_from(store: Any, conn: Any, document_id: str, package: Any) -> list | None:
    """The recipients, if every copy of ``document_id`` still awaits an answer
    to the very request this package makes (the axis resent it), else None."""
    business = package.business
    recipients = [c.recipient for c in store.copies(conn, document_id)]
    requests = [store.recall(conn, document_id, r, lock=True) for r in recipients]
    same = recipients and all(
        r is not None and r.pending and r.sender == package.from_agency.id
        and r.business_type == business.doc_type and r.replacement_document_id is None
        and (r.reason or "") == (business.reason or "").strip() for r in requests)
    return recipients if same else None


def recall_from_axis(store: Any, log_: EventLog, package: Any, directory: Directory,
                     actor: Actor, now: datetime) -> dict:
    """A revocation (1) or update (2) from the axis: every copy of the document
    it names (imported before, from the same sender) gets a recall request
    (13), as a sender's own ``request_recall`` would give; the recipients
    answer 15/16. What of its payload is not applied is said in the answer."""
    sender = package.from_agency.id
    if directory.knows(sender):
        raise Conflict(f"{inbound.HEADER}/From/OrganId: {sender} is an agency of this"
                       " platform; it recalls its documents directly",
                       field=f"{inbound.HEADER}/From/OrganId")
    asked: dict[str, list] = {}
    repeated: list[bool] = []

    def decide(conn: Any) -> list[Event]:
        asked.clear()
        repeated.clear()
        events = []
        for edxml_id in inbound.recalled_documents(package):
            document_id = inbound.imported_id(sender, edxml_id)
            earlier = _pending_from(store, conn, document_id, package)
            repeated.append(earlier is not None)
            new = [] if earlier is not None else ask_recall(store, conn, edxml_id, package,
                                                            actor, now)
            asked[document_id] = earlier if earlier is not None else [
                e.data["recipient"] for e in new]
            events += new
        return events
    _run(store, log_, lambda conn: conn, decide)
    return jsonable({"business_type": package.business.doc_type,
                     "documents": [{"document_id": doc, "requested_from": recipients}
                                   for doc, recipients in asked.items()],
                     "not_applied": inbound.not_applied(package), "repeated": all(repeated)})
