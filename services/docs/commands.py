"""The docs service's use cases: load, let ``domain`` decide, append, project.

Each takes the projection ``store`` (``services.docs.store``: PostgreSQL or
memory) and the event ``log`` (``shared.eventstore``), so it runs the same
in the nameko shell and in a unit test without servers. The ones that follow
another service's event take ``conn``, the consumer's inbox transaction.
Files in S3 are the shell's: these see only their descriptions.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any, Callable

from services.docs import copies, domain, registers
from services.docs.store import missing
from shared.command import EventLog, decide_within, run_command
from shared.envelope import Actor, Event, thaw, utc_now
from shared.errors import Forbidden, NotFound
from shared.failpoints import failpoint
from shared.values import checked_uuid

log = logging.getLogger(__name__)


def _checked(document_id: Any) -> str:
    return checked_uuid(document_id, "document_id")


def _project(store: Any, cause: Event | None = None) -> Callable:
    def project(conn: Any, state: Any, recorded: list[Event]) -> None:
        store.project_all(recorded, conn, cause=cause)
    return project


def _on_document(store: Any, log_: EventLog, document_id: Any,
                 decide: Callable[[dict], Event | list[Event]],
                 within: Callable[[Any], None] | None = None) -> Event:
    """The command transaction on one document's row: its last event recorded.
    ``within(conn)`` runs first in the same transaction (an upload settled)."""
    document_id = _checked(document_id)

    def load(conn: Any) -> dict:
        if within is not None:
            within(conn)
        return store.lock(conn, document_id)
    _, recorded = run_command(store.writing, log_, load, decide, _project(store))
    return recorded[-1]


# -- the life of an outgoing document -------------------------------------------------

def register(store: Any, log_: EventLog, document_id: str, command: dict, files: list,
             actor: Actor, within: Callable[[Any], None] | None = None) -> Event:
    """A new draft (its files already stored: ``files``, main first); ``within(conn)``
    runs in its transaction (the files' upload intent settled)."""
    _, [recorded] = run_command(
        store.writing, log_, lambda conn: within(conn) if within else None,
        lambda _: domain.document_registered(document_id, command, files, actor),
        _project(store), new_streams=True, tries=1)
    return recorded


def revise(store: Any, log_: EventLog, document_id: Any, stored: Any, actor: Actor,
           within: Callable[[Any], None] | None = None) -> Event:
    return _on_document(store, log_, document_id,
                        lambda document: domain.document_revised(document, stored, actor),
                        within)


def submit(store: Any, log_: EventLog, document_id: Any, signer_user: str,
           actor: Actor) -> Event:
    def decide(document: dict) -> Event:
        domain.check_clerk_of_issuer(document, actor)
        return domain.document_submitted(document, signer_user, actor)
    return _on_document(store, log_, document_id, decide)


def issue(store: Any, log_: EventLog, document_id: Any, actor: Actor,
          separate_secret_series: bool, now: Callable[[], datetime] = utc_now) -> Event:
    """Publish a sealed document under the number and date its register entry
    gave when the leader signed (:func:`signed`): no second number. A document
    sealed without one (signed before numbering moved to the signature) takes
    it here, from the agency's series for the year (Vietnam time), in the
    transaction that records the issue: no gap, no duplicate. The document it
    replaces is frozen in the same transaction."""
    document_id = _checked(document_id)

    def load(conn: Any) -> dict:
        document = store.lock(conn, document_id)
        domain.check_clerk_of_issuer(document, actor)
        domain.next_state(document["state"], "issue")
        released_at = now()
        series = domain.series_of(document["secrecy"], separate_secret_series)
        if document["number"] is not None:
            number, issued_at = document["number"], document["issued_at"]
        else:
            number, issued_at = _next_number(conn, store, document, series,
                                             released_at), released_at
            failpoint("docs.issue.after_number")  # an issue that fails holding its number
        replaced = store.lock(conn, document["replaces"]) if document["replaces"] else None
        tracked = store.issue_tracking(conn, document_id)
        return {"document": document, "number": number, "series": series,
                "issued_at": domain.aware(issued_at, "issued_at"), "released_at": released_at,
                "replaced": replaced, "issue_by": tracked["issue_by"] if tracked else None}

    def decide(s: dict) -> list[Event]:
        issued = domain.document_issued(s["document"], s["number"], s["series"],
                                        s["issued_at"], actor, issue_by=s["issue_by"],
                                        released_at=s["released_at"])
        if s["replaced"] is None:
            return [issued]
        return [domain.state_changed(s["replaced"], "replace", issued, actor), issued]

    _, recorded = run_command(store.writing, log_, load, decide, _project(store))
    return recorded[-1]


# -- copies (Decree 30 Art. 25-28) -----------------------------------------------------

def copy(store: Any, log_: EventLog, document_id: Any, copy_id: str, request: dict,
         actor: Actor, make: Callable[[dict, str, datetime], dict],
         within: Callable[[Any], None] | None = None,
         now: Callable[[], datetime] = utc_now) -> Event:
    """A clerk of an agency holding the document copies it (``copies``): the
    number of the form's series for the year (Vietnam time) is taken, then
    ``make(source file, number_notation, copied_at)`` signs and stores the copy
    (its file description), and ``DocumentCopied`` registers it, all in one
    transaction: a refusal or a failure of ``make`` gives the number back (no
    gap), the series row stays locked until the commit (no duplicate): copies of
    one form by one agency are made one at a time.
    ``within(conn)`` runs first (the copy's upload intent settled)."""
    document_id = _checked(document_id)

    def load(conn: Any) -> dict:
        if within is not None:
            within(conn)
        document = store.document(conn, document_id)
        if document is not None:
            document["delivered_to"] = store.deliveries(conn, document_id)
        if document is None or not domain.may_read(document, actor):
            raise missing(document_id)  # as for a reader: its existence not confirmed
        incoming = store.incoming(conn, document_id, actor.agency)
        copies.check_holder(document, actor, incoming["state"] if incoming else None)
        abbreviation = copies.abbreviation_of(document, actor, request)
        source_copy = store.copy(conn, request["source_copy"]) \
            if request["source_copy"] else None
        source, source_copy_id = copies.source_of(document, request, source_copy, actor)
        copied_at = now()
        year = domain.series_year(copied_at)
        number = store.take_number(conn, actor.agency, year, copies.series_of(request["form"]))
        notation = copies.notation(number, request["form"], abbreviation)
        failpoint("docs.copy.after_number")  # a copy that fails holding its number
        return {"document": document, "number": number, "year": year, "notation": notation,
                "source_copy_id": source_copy_id, "copied_at": copied_at,
                "file": make(source, notation, copied_at)}

    # A transaction of its own, not the commit group's (``store.writing``): signing
    # runs inside it, and a group's writers would wait for it, holding the log head.
    # Here only the form's series row is held while signing; the log head is taken
    # at the append, just before the commit.
    _, [recorded] = run_command(
        store.transaction, log_, load,
        lambda s: [copies.document_copied(copy_id, s["document"], request, s["number"],
                                          s["year"], s["notation"], s["file"],
                                          s["source_copy_id"], s["copied_at"], actor)],
        _project(store), new_streams=True, tries=1)
    return recorded


def copies_of(store: Any, document: dict, actor: Actor) -> list[dict]:
    """The copies of a readable ``document`` the caller's agency made (every
    agency's for an auditor)."""
    with store.transaction() as conn:
        return store.copies_of(conn, document["document_id"],
                               None if actor.role == "auditor" else actor.agency)


def copy_of(store: Any, document: dict, copy_id: Any, actor: Actor) -> dict:
    """One copy of ``document`` the caller's agency made (any, for an auditor)."""
    copy_id = checked_uuid(copy_id, "copy_id")
    with store.transaction() as conn:
        found = store.copy(conn, copy_id)
    if found is None or found["document_id"] != document["document_id"] or (
            actor.role != "auditor" and found["agency"] != actor.agency):
        raise NotFound(f"copy {copy_id} of this document does not exist", field="copy_id")
    return found


# -- the issue deadline ---------------------------------------------------------------

def record_issue_overdue(store: Any, log_: EventLog, now: datetime) -> int:
    """One ``IssueOverdue`` per signed document newly past its issue deadline at
    ``now`` and not issued; how many were recorded. Each in a transaction of its
    own that locks the document's deadline row and appends at its stream's
    version: two instances checking at once record it once."""
    with store.transaction() as conn:
        late = [t["document_id"] for t in store.overdue_issues(conn, None, now)
                if t["overdue_at"] is None]
    recorded = 0
    for document_id in late:
        _, stored = run_command(
            store.writing, log_,
            lambda conn, d=document_id: store.issue_tracking(conn, d, lock=True),
            lambda tracked: [domain.issue_overdue(tracked, now)]
            if domain.issue_overdue_now(tracked, now) else [],
            _project(store))
        recorded += len(stored)
    return recorded


def overdue_issues(store: Any, actor: Actor, now: datetime) -> list[dict]:
    """Documents of the caller's agency (every agency's for an auditor) signed
    and not issued by their issue deadline, the earliest first, with how late."""
    if actor.role not in ("clerk", "leader", "auditor"):
        raise Forbidden("role: only a clerk, a leader or an auditor sees overdue issues",
                        field="role")
    with store.transaction() as conn:
        found = store.overdue_issues(conn, None if actor.role == "auditor" else actor.agency,
                                     now)
    return [{**t, "overdue_by_seconds": int((now - t["issue_by"]).total_seconds()),
             "reported": t["overdue_at"] is not None} for t in found]


# -- incoming documents ---------------------------------------------------------------

def decide_incoming(store: Any, log_: EventLog, document_id: Any, command: str,
                    actor: Actor, reason: str | None = None,
                    handed_to: str | None = None,
                    now: Callable[[], datetime] = utc_now) -> tuple[dict, Event]:
    """The receiving clerk accepts (``accept``, passing it on to ``handed_to``)
    or returns (``return``) an arrival."""
    document_id = _checked(document_id)

    def load(conn: Any) -> tuple[dict, tuple | None]:
        incoming = store.incoming(conn, document_id, actor.agency)
        if incoming is None:
            raise NotFound(f"document {document_id} has not arrived at {actor.agency}",
                           field="document_id")
        # The arrival number is given at registration, after the clerk's check
        # (Art. 21-22): an accepted copy takes the next of its agency's series
        # in this transaction; a returned one takes none. (A copy that arrived
        # numbered, before this rule, keeps its number.)
        if command != "accept" or incoming["arrival_number"] is not None \
                or incoming["state"] != domain.ARRIVED:
            return incoming, None
        year = domain.series_year(now())
        return incoming, (store.take_number(conn, actor.agency, year, "incoming"), year)

    loaded, [recorded] = run_command(
        store.writing, log_, load,
        lambda s: domain.incoming_decided(s[0], command, actor, reason, handed_to, s[1]),
        _project(store))
    return loaded[0], recorded


# -- other services' events (in the consumer's transaction ``conn``) ------------------

def follow(conn: Any, store: Any, log_: EventLog, cause: Event, command: str,
           urgent_issue_within: timedelta = domain.URGENT_ISSUE_WITHIN) -> dict:
    """Move a document on because of another service's event; a repeat is a
    no-op. The document as it was (its row, locked). The leader's signature
    fixes the issue deadline (``urgent_issue_within``: an urgent one's)."""
    document_id = cause.data["document_id"]
    document = store.lock(conn, document_id)
    if document["state"] == domain.TRANSITIONS[command][1]:
        return document  # e.g. a second consignment: the document is sent already
    decide_within(conn, log_, lambda conn: document,
                  lambda document: domain.state_changed(
                      document, command, cause, urgent_issue_within=urgent_issue_within),
                  _project(store, cause))
    return document


def _next_number(conn: Any, store: Any, document: dict, series: str, at: datetime) -> int:
    """The next number of the issuing agency's ``series`` for ``at``'s year (Vietnam
    time); its counter row stays locked until the transaction ends."""
    return store.take_number(conn, document["issuing_agency"], domain.series_year(at), series)


def signed(conn: Any, store: Any, log_: EventLog, cause: Event,
           separate_secret_series: bool, directory: Any = None,
           urgent_issue_within: timedelta = domain.URGENT_ISSUE_WITHIN,
           now: Callable[[], datetime] = utc_now) -> dict:
    """The leader signed (signing's ``DocumentSigned``): the document is signed
    and, in this same transaction, numbered and dated in the outgoing register
    (Decree 30 Art. 14: number and date, registration, then the agency's
    signature): ``DocumentNumbered``, with the place (địa danh) from
    ``directory`` (docs' copy of routing's). The number comes from the
    agency's series for the year (Vietnam time), locked until the transaction
    ends: a failure gives it back, no gap, no duplicate. A repeat is a no-op.
    A signed document is never returned (only a submitted one is), so a
    number once given stays with its document."""
    document = store.lock(conn, cause.data["document_id"])
    if document["state"] == domain.SIGNED:
        return document

    def load(conn: Any) -> tuple:
        numbered_at = now()
        if document["number"] is not None:  # numbered already: not again
            return None, None, numbered_at
        series = domain.series_of(document["secrecy"], separate_secret_series)
        number = _next_number(conn, store, document, series, numbered_at)
        failpoint("docs.number.after_number")  # a numbering that fails holding its number
        return number, series, numbered_at

    def decide(s: tuple) -> list[Event]:
        number, series, numbered_at = s
        events = [domain.state_changed(document, "sign", cause,
                                       urgent_issue_within=urgent_issue_within)]
        if number is not None:
            place = domain.place_of(directory, document["issuing_agency"],
                                    domain.vietnam_today(numbered_at))
            events.append(domain.document_numbered(document, number, series, numbered_at,
                                                   place, cause))
        return events

    decide_within(conn, log_, load, decide, _project(store, cause))
    return document


def consignment_sent(conn: Any, store: Any, log_: EventLog, event: Event) -> None:
    """The document is sent and arrives at every new recipient, whose arrivals
    are registered in this one transaction. One imported from outside comes
    with the consignment and was never ours to send."""
    data = event.data
    arrivals = store.claim_deliveries(conn, data["document_id"], data["new_recipients"])
    if data.get("document"):
        document = record_external(conn, store, log_, data["document"], event)
    else:
        document = follow(conn, store, log_, event, "send")
    if document is None or document["number_notation"] is None:
        if arrivals:
            log.warning("delivery of %s, which docs has not issued", data["document_id"])
        return
    if not arrivals:
        return

    def register(arrived_at: datetime) -> list[Event]:
        # No arrival number yet: the receiving clerk's acceptance gives it.
        return [domain.incoming_registered(document, agency, arrived_at, event)
                for agency in arrivals]

    # First deliveries (claimed above): each copy's stream is new, all in one append.
    decide_within(conn, log_, lambda conn: utc_now(), register, _project(store),
                  new_streams=True)


def delivery_refused(conn: Any, store: Any, log_: EventLog, event: Event) -> None:
    """routing refused the document's first delivery (``DeliveryRefused``): it
    becomes undeliverable, with the reason, for its sender to see and act on."""
    document = store.document(conn, event.data["document_id"])
    if document is not None and document["state"] == domain.ISSUED:
        follow(conn, store, log_, event, "refuse_delivery")


def record_external(conn: Any, store: Any, log_: EventLog, document: Any,
                    cause: Event) -> dict:
    """Keep a document imported from outside (the copy its consignment
    carries), once: a redelivered consignment finds the row. One whose number
    and notation its issuer already has here (another id) is not kept: None."""
    document = thaw(document)
    known = store.document(conn, document["document_id"])
    if known is not None:
        return known
    if store.numbered(conn, document["issuing_agency"], document["year"],
                      document["number_notation"]):
        return None
    decide_within(conn, log_, lambda conn: document,
                  lambda document: domain.external_recorded(document, cause), _project(store),
                  new_streams=True)
    return store.document(conn, document["document_id"])


def recall_requested(conn: Any, store: Any, log_: EventLog, event: Event) -> None:
    if int(event.data.get("business_type", 0)) == 1:  # revoke, not update/replace
        follow(conn, store, log_, event, "recall")


def recall_answered(conn: Any, store: Any, log_: EventLog, event: Event) -> None:
    """A recipient agreed (15) to a revoking recall: its copy goes out of use."""
    data = event.data
    if data.get("code") != "15" or int(data.get("business_type", 0)) != 1:
        return
    incoming = store.incoming(conn, data["document_id"], data["recipient"])
    if incoming is None or incoming["state"] == domain.WITHDRAWN:
        return
    decide_within(conn, log_, lambda conn: incoming,
                  lambda incoming: domain.incoming_withdrawn(incoming, event), _project(store))


def directory_changed(conn: Any, store: Any, log_: EventLog, event: Event) -> None:
    """routing's directory changed: docs' copy takes the event's changes, at the
    event's place in routing's ``directory`` stream (a redelivery is a no-op)."""
    store.record_directory_changes(conn, event.stream_version, thaw(event.data["changes"]))


# -- reading --------------------------------------------------------------------------

def load(store: Any, document_id: Any) -> dict:
    """The document's row, with the agencies it reached and their arrivals' states."""
    document_id = _checked(document_id)
    with store.transaction() as conn:
        document = store.document(conn, document_id)
        if document is None:
            raise missing(document_id)
        document["delivered_to"] = store.deliveries(conn, document_id)
        document["incoming"] = store.incoming_states(conn, document_id)
    return document


def register_rows(store: Any, agency: str, kind: str, year: int | None = None,
                  start: date | None = None, end: date | None = None,
                  directory: Any = None) -> tuple[list, int | None]:
    """The agency's outgoing, incoming or follow-up register (``registers``),
    filtered; agencies by their names in ``directory`` (docs' copy of routing's)."""

    def name_of(code: str, on: date) -> str:
        return domain.agency_name(directory, code, on)

    if kind not in registers.REGISTERS:
        raise NotFound(f"kind: no register {kind!r}; use one of"
                       f" {', '.join(registers.REGISTERS)}", field="kind")
    with store.transaction() as conn:
        if kind == "copies":
            rows = [copies.register_row(c, d, name_of)
                    for c, d in store.copies_register(conn, agency)]
            date_column = "copy_date"
        elif kind == "outgoing":
            rows = [registers.outgoing_row(d, name_of) for d in store.outgoing(conn, agency)]
            date_column = "document_date"
        else:
            make = registers.incoming_row if kind == "incoming" else registers.follow_up_row
            rows = [make(arrival, document, name_of)
                    for arrival, document in store.incoming_register(conn, agency)]
            date_column = "arrival_date"
    return registers.filter_rows(rows, date_column, year=year, start=start, end=end), year
