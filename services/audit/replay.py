"""Replaying the audit log: a document's history, its state at any moment, and
a reconciliation of that state with what the services themselves report.

Pure: no framework, no database. The input is the log's events in log order,
as ``(index, event)`` pairs (``index`` is the event's leaf index in the log;
``event`` an :class:`~shared.envelope.Event` or its envelope as a dict).

The fold knows the event types that change what services report about a
document (registration and revision, signature, issue, deliveries and
refusals). Any other type is kept in the history, summarised, and ignored by
the fold,
so the log can grow new event types without breaking replay. Events may be
logged in any order (the services publish independently): a document's state
is created on the first event seen about it and completed as the others come.
"""

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from shared.envelope import Event, format_time
from shared.wire import event_from_dict

REGISTERED = "DocumentRegistered"
SIGNED = "DocumentSigned"
DELIVERED = "DocumentDelivered"
REFUSED = "DeliveryRefused"
REVISED = "DocumentRevised"
ISSUED = "DocumentIssued"
NUMBERED = "DocumentNumbered"  # number and date, given once the leader signed
SEALED = "DocumentSealed"
SUBMITTED = "DocumentSubmitted"
# A document issued outside the platform: routing took it in (edXML), docs kept it.
IMPORTED, RECORDED = "ExternalDocumentReceived", "ExternalDocumentRecorded"
EXTERNAL = (IMPORTED, RECORDED)
KNOWN_TYPES = (REGISTERED, SIGNED, DELIVERED, REFUSED, REVISED, ISSUED, SEALED, SUBMITTED,
               NUMBERED, *EXTERNAL)


# -- input ----------------------------------------------------------------------


def _pairs(events):
    """``(index, Event)`` pairs from pairs of index and Event or envelope dict."""
    for index, event in events:
        if not isinstance(event, Event):
            event = event_from_dict(dict(event))
        yield index, event


class Fact(NamedTuple):
    """What the fold reads of one event. The audit service reads facts straight
    from the log's index columns (``TransparencyLog.facts``), with no leaf to
    parse and no envelope to build; verify checks those columns against the
    signed leaves."""

    event_type: str
    occurred_at: datetime
    user_id: str
    data: Mapping[str, Any]


def _facts(events):
    """``(index, Fact)`` pairs from pairs of index and Fact, Event or envelope dict."""
    for index, event in events:
        if not isinstance(event, Fact):
            if not isinstance(event, Event):
                event = event_from_dict(dict(event))
            event = Fact(event.event_type, event.occurred_at, event.actor.user_id, event.data)
        yield index, event


def _document_id(event):
    value = event.data.get("document_id")
    return _norm_id(value) if value is not None else None


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _norm_id(value):
    """One text form per document id (UUIDs lower-case, hyphenated)."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value  # already the one form (what the services write)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


# -- history --------------------------------------------------------------------


def history(events, document_id=None):
    """The events of one document in log order, each as a plain dict.

    Pass the document's events, or all events with ``document_id`` to pick
    them out. Every event is kept, whatever its type.
    """
    wanted = _norm_id(document_id) if document_id is not None else None
    entries = []
    for index, event in _pairs(events):
        if wanted is not None and _document_id(event) != wanted:
            continue
        entries.append({
            "index": index,
            "event_id": event.event_id,
            "occurred_at": format_time(event.occurred_at),
            "event_type": event.event_type,
            "producer": event.producer,
            "actor": event.actor.user_id,
            "agency": event.actor.agency,
            "role": event.actor.role,
            "summary": summary(event),
        })
    return entries


def summary(event):
    """A short sentence saying what the event records."""
    data, who = event.data, event.actor.user_id
    if event.event_type == REGISTERED:
        recipients = ", ".join(sorted(data.get("recipients") or ())) or "no recipient"
        return f"registered by {who} for {recipients}"
    if event.event_type == SIGNED:
        key_id = data.get("key_id") or "?"
        return f"signed by {who} (key {key_id[:8]}…)"
    if event.event_type == DELIVERED:
        return f"delivered to {data.get('recipient', '?')}"
    if event.event_type == IMPORTED:
        return (f"số {data.get('number_notation', '?')} of {data.get('issuing_agency', '?')}"
                f" imported from the national axis by {who}")
    if event.event_type == RECORDED:
        return "kept by docs for the agencies it reached"
    if event.event_type == REFUSED:
        return f"delivery refused: {data.get('reason', 'no reason given')}"
    if event.event_type == "ConsignmentSent":
        return (f"sent as consignment {data.get('consignment_id', '?')} to"
                f" {len(data.get('recipients') or ())} agencies")
    if event.event_type == "StatusReported":
        return (f"{data.get('recipient', '?')} reported {data.get('code', '?')}"
                f" ({data.get('status', '?')})")
    if event.event_type in ("RecallRequested", "RecallAnswered"):
        return f"{event.event_type} {data.get('code', '?')} for {data.get('recipient', '?')}"
    return _lifecycle_summary(event, data, who)


def _lifecycle_summary(event, data, who):
    agency = data.get("agency", "?")
    texts = {
        "DocumentSubmitted": lambda: f"submitted by {who} to {data.get('signer_user')} for"
                                     f" approval (round {data.get('round')})",
        "DocumentReturned": lambda: f"returned by {who}: {data.get('comment')}",
        "DocumentSealed": lambda: f"agency signature applied by {who}",
        "DocumentRevised": lambda: f"new version of the file by {who}",
        "DocumentNumbered": lambda: f"numbered số {data.get('number_notation')},"
                                    f" {data.get('place') or '?'}, {data.get('numbered_at')}",
        "DocumentIssued": lambda: f"issued as số {data.get('number_notation')} by {who}",
        "DocumentStateChanged": lambda: f"{data.get('from')} → {data.get('state')}"
                                        f" ({data.get('because_of')})",
        # Before Art. 21-22 was kept, the number came on arrival; now on acceptance.
        "IncomingRegistered": lambda: f"arrived at {agency}" + (
            f": số đến {data['arrival_number']}" if data.get("arrival_number") else ""),
        "IncomingAccepted": lambda: f"accepted into {agency}'s register by {who}" + (
            f", số đến {data['arrival_number']}" if data.get("arrival_number") else ""),
        "IncomingReturned": lambda: f"returned by {agency}: {data.get('reason')}",
        "IncomingDuplicateFlagged": lambda: f"arrived again at {agency}: flagged, not"
                                            " registered twice",
        "IncomingWithdrawn": lambda: f"{agency}'s copy taken out of use (recall)",
        "IssueOverdue": lambda: f"not issued by its deadline {data.get('issue_by')}"
                                " (Decree 30 Art. 18(1))",
        "DocumentDataErasureOrdered": lambda: f"the data of the earlier entries destroyed"
                                              f" by {who} under {data.get('decision')}:"
                                              f" {data.get('reason')}",
    }
    text = texts.get(event.event_type)
    return text() if text else f"{event.event_type} from {event.producer}, by {who}"


# -- state ----------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentState:
    """What the log says about one document."""

    document_id: str
    issuing_agency: str | None = None
    subject: str | None = None
    document_type: str | None = None
    recipients: tuple = ()
    sha256: str | None = None
    registered: bool = False
    registered_at: datetime | None = None
    registered_by: str | None = None
    submitted: bool = False  # sent to a leader for approval (signing learns of it then)
    signed: bool = False
    signed_at: datetime | None = None
    signed_by: str | None = None
    key_id: str | None = None
    delivered_to: tuple = ()
    delivery_refused: str | None = None
    number_notation: str | None = None
    issued: bool = False  # published (routing learns of it then)
    sealed: bool = False
    external: bool = False  # issued outside the platform: never signed here
    last_event_at: datetime | None = None
    # The file's SHA-256 at each stage that makes one: registered (or revised),
    # signed, sealed. ``sha256`` is the latest.
    files: dict = field(default_factory=dict, compare=False)

    def to_dict(self):
        def plain(value):
            if isinstance(value, datetime):
                return format_time(value)
            if isinstance(value, tuple):
                return list(value)
            return value

        return {name: plain(getattr(self, name)) for name in self.__dataclass_fields__}


def fold(events):
    """``{document_id: DocumentState}`` from ``(index, event)`` pairs in log order."""
    # Each document's state is a working dict while the log is folded, frozen
    # once at the end: a dataclass ``replace`` per event cost most of a replay.
    drafts = {}
    for _, event in _facts(events):
        if event.event_type not in KNOWN_TYPES:
            continue  # kept in the history, not interpreted
        document_id = _document_id(event)
        if document_id is None:
            continue
        draft = drafts.get(document_id)
        if draft is None:
            draft = drafts[document_id] = _draft(document_id)
        _apply(draft, event)
    return {document_id: _frozen(draft) for document_id, draft in drafts.items()}


def state_at(events, moment):
    """The states as they were at ``moment``: only events that occurred by then."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError("moment: a time-zone aware datetime is required")
    return fold((index, event) for index, event in _facts(events)
                if event.occurred_at <= moment)


def _draft(document_id):
    draft = dict(vars(DocumentState(document_id=document_id)))
    draft["files"], draft["delivered_to"] = {}, set()
    return draft


def _frozen(draft):
    return DocumentState(**{**draft, "delivered_to": tuple(sorted(draft["delivered_to"]))})


def _apply(s, event):
    data, at = event.data, event.occurred_at
    if s["last_event_at"] is None or at > s["last_event_at"]:
        s["last_event_at"] = at
    _fold_one(s, event, data, at)
    # The document is its latest file: sealed, else leader-signed, else registered
    # or revised. Services log independently, so these may arrive in any order.
    files = s["files"]
    s["sha256"] = (files.get("sealed") or files.get("signed") or files.get("registered")
                   or s["sha256"])


def _with_file(s, stage, stored):
    sha256 = (stored or {}).get("sha256")
    if sha256:
        s["files"][stage] = sha256


def _fold_one(s, event, data, at):
    kind = event.event_type
    if kind == REGISTERED:
        if s["registered"]:
            return  # a document is registered once; the first one stands
        s.update(registered=True,
                 issuing_agency=data.get("issuing_agency", s["issuing_agency"]),
                 subject=data.get("subject"), document_type=data.get("document_type"),
                 recipients=tuple(sorted(data.get("recipients") or ())),
                 registered_at=at, registered_by=event.user_id)
        if "registered" not in s["files"]:
            _with_file(s, "registered", data.get("file"))
    elif kind == SIGNED:
        if s["signed"]:
            return
        s.update(signed=True, signed_at=at, signed_by=event.user_id,
                 key_id=data.get("key_id"), sha256=s["sha256"] or data.get("sha256"))
        _with_file(s, "signed", data.get("signed_file"))
    elif kind == DELIVERED:
        if data.get("recipient") is not None:
            s["delivered_to"].add(data["recipient"])
        s["issuing_agency"] = s["issuing_agency"] or data.get("sender")
        s["sha256"] = s["sha256"] or data.get("sha256")
    elif kind in EXTERNAL:
        if s["external"]:
            return  # routing's import and docs' record carry the same document
        s.update(external=True, registered_at=at, registered_by=event.user_id,
                 issuing_agency=data.get("issuing_agency"), subject=data.get("subject"),
                 document_type=data.get("document_type"),
                 recipients=tuple(sorted(data.get("recipients") or ())),
                 number_notation=data.get("number_notation"))
        _with_file(s, "registered", data.get("file"))
    elif kind == REFUSED:
        s["delivery_refused"] = data.get("reason") or "no reason given"
    elif kind == REVISED:
        _with_file(s, "registered", data.get("file"))
    elif kind == ISSUED:
        s["number_notation"] = data.get("number_notation")
        s["issued"] = True
    elif kind == NUMBERED:  # the register's number, before the seal and the issue
        s["number_notation"] = s["number_notation"] or data.get("number_notation")
    elif kind == SEALED:
        s["sealed"] = True
        _with_file(s, "sealed", data.get("sealed_file"))
    elif kind == SUBMITTED:
        s["submitted"] = True


# -- reconciliation -------------------------------------------------------------

ABSENT = "absent"
PRESENT = "present"

# Each field a service reports, and where the log's value for it comes from.
FIELDS = {
    "issuing_agency": lambda s: s.issuing_agency,
    "recipients": lambda s: sorted(s.recipients),
    "sha256": lambda s: s.sha256,
    "delivered_to": lambda s: sorted(s.delivered_to),
    "signed": lambda s: s.signed,
    "key_id": lambda s: s.key_id,
    "refused": lambda s: s.delivery_refused,
    "number_notation": lambda s: s.number_notation,
}
SERVICE_FIELDS = {
    "docs": ("issuing_agency", "recipients", "sha256", "delivered_to", "number_notation"),
    "signing": ("issuing_agency", "signed", "sha256", "key_id"),
    "routing": ("delivered_to", "refused"),
}
_LISTS = ("recipients", "delivered_to")


def expected_at(service, state):
    """Whether the log says ``service`` has heard of the document by now.

    Like with like: signing learns of a document when it is submitted,
    routing when it is issued (or comes in from outside), docs of every
    document. A draft that signing and routing do not know is no difference;
    a document a service knows before the log says it could is one.
    """
    if service == "signing":
        return state.submitted or state.signed or state.sealed
    if service == "routing":
        return (state.issued or state.external or bool(state.delivered_to)
                or state.delivery_refused is not None)
    return True


@dataclass(frozen=True)
class Difference:
    """One way a service's view of a document differs from the log's.

    ``field`` is ``"document"`` when one side does not know the document at
    all; the values are then ``"present"`` and ``"absent"``.
    """

    document_id: str
    service: str
    field: str
    log_value: object = None
    service_value: object = None

    def to_dict(self):
        return {"document_id": self.document_id, "service": self.service,
                "field": self.field, "log_value": self.log_value,
                "service_value": self.service_value}


def reconcile(replayed, reported, erased=()):
    """The differences between the log's states and each service's summary.

    ``replayed``: ``{document_id: DocumentState}`` (from :func:`fold`).
    ``reported``: ``{service: [row, ...]}``, each row a dict with a
    ``document_id`` and the fields in :data:`SERVICE_FIELDS` (a service not
    listed there is compared on whichever of :data:`FIELDS` its rows carry).
    Each service is held to what the log says it has heard of
    (:func:`expected_at`), so ``[]`` is the answer at any quiet moment, with
    drafts, submitted and returned documents about, not only when all are
    issued. ``erased``: documents whose data an erasure order destroyed in the
    log, which can no longer say what they were: not compared. Returns the
    differences sorted by document, service and field.
    """
    gone = {_norm_id(d) for d in erased}
    logged = {_norm_id(k): v for k, v in replayed.items() if _norm_id(k) not in gone}
    differences = []
    for service, rows in reported.items():
        theirs = {}
        for row in rows:
            if _norm_id(row["document_id"]) not in gone:
                theirs[_norm_id(row["document_id"])] = row
        for document_id in sorted(set(logged) | set(theirs)):
            state, row = logged.get(document_id), theirs.get(document_id)
            expected = state is not None and expected_at(service, state)
            if row is None:
                if expected:
                    differences.append(Difference(document_id, service, "document", PRESENT,
                                                  ABSENT))
                continue  # not yet its business (a draft at signing, say)
            if not expected:  # the log lacks it, or lacks what would have told the service
                differences.append(Difference(document_id, service, "document", ABSENT,
                                              PRESENT))
                continue
            for name in _fields_of(service, row):
                ours, theirs_value = _comparable(name, FIELDS[name](state)), \
                    _comparable(name, row.get(name))
                if ours != theirs_value:
                    differences.append(Difference(document_id, service, name, ours,
                                                  theirs_value))
    return sorted(differences, key=lambda d: (d.document_id, d.service, d.field))


def _fields_of(service, row):
    names = list(SERVICE_FIELDS.get(service, ()))
    names += [k for k in FIELDS if k in row and k not in names]
    return names


def _comparable(name, value):
    if name in _LISTS:
        return sorted(value or ())
    if name == "signed":
        return bool(value)
    return value


__all__ = ["FIELDS", "SERVICE_FIELDS", "Difference", "DocumentState", "Fact", "expected_at",
           "fold", "history", "reconcile", "state_at", "summary"]
