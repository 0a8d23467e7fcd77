"""The docs service's pure core: code tables, a document's life, numbering and
the incoming register.

Imports no framework, driver or SDK: tested without any server.

A document's life (Decree 30/2020)::

    draft --submit--> submitted --sign (leader)--> signed --seal (clerk)--> sealed
      ^  \\               |                        number and date          |
      |   revise          return (leader, with a comment)                  issue
      |                   v                                                 v
      +--revise/submit-- returned                                        issued --send--> sent
                                                     issued/sent --recall--> recalled (frozen)
                                                     issued/sent --replace-> replaced (frozen)

The leader's decisions and the seal arrive as the signing service's events.
The number and date are given when docs learns of the leader's signature, in
the transaction that records it (``DocumentNumbered``), so that the agency's
signature, applied after, covers them on the page (Decree 30 Art. 14); the
issue then publishes the document under that number.
"""

import unicodedata
from datetime import date, datetime, timedelta

from shared.envelope import Actor, new_event, system_actor
from shared.errors import Conflict, Forbidden, ServiceUnavailable, ValidationFailed
from shared.values import VIETNAM
from shared.workdays import aware, end_of_next_working_day

SERVICE = "docs"
# Công văn and Thư công have no type in their notation (agency + drafting unit).
WITHOUT_TYPE_IN_NOTATION = frozenset({"CV", "THC"})

# 0 Thường, 1 Khẩn, 2 Thượng khẩn, 3 Hỏa tốc.
URGENCY = {0: "Thường", 1: "Khẩn", 2: "Thượng khẩn", 3: "Hỏa tốc"}
# Kept apart from urgency. Anything but 0 is a state secret: no e-exchange.
SECRECY = {0: "Thường", 1: "Mật", 2: "Tối mật", 3: "Tuyệt mật"}
STEERING = {0: "không chỉ đạo", 1: "chỉ đạo", 2: "báo cáo chỉ đạo"}

DRAFT, SUBMITTED, RETURNED, SIGNED, SEALED = "draft", "submitted", "returned", "signed", "sealed"
ISSUED, SENT, RECALLED, REPLACED = "issued", "sent", "recalled", "replaced"
# Issued, and routing refused its first delivery (an addressee the directory no
# longer holds on the day of issue): the clerk sends it to the right agencies.
UNDELIVERABLE = "undeliverable"
# Issued outside the platform and imported by routing (edXML): outside the lifecycle below.
EXTERNAL = "external"
STATES = (DRAFT, SUBMITTED, RETURNED, SIGNED, SEALED, ISSUED, SENT, RECALLED, REPLACED,
          UNDELIVERABLE)

# command -> (states it may start from, state it leads to; None keeps the state)
TRANSITIONS = {
    "revise": ((DRAFT, RETURNED), DRAFT),
    "submit": ((DRAFT, RETURNED), SUBMITTED),
    "return": ((SUBMITTED,), RETURNED),
    "sign": ((SUBMITTED,), SIGNED),
    "seal": ((SIGNED,), SEALED),
    "issue": ((SEALED,), ISSUED),
    "refuse_delivery": ((ISSUED,), UNDELIVERABLE),
    "send": ((ISSUED, SENT, UNDELIVERABLE), SENT),
    "amend": ((ISSUED, SENT), None),
    "recall": ((ISSUED, SENT), RECALLED),
    "replace": ((ISSUED, SENT), REPLACED),
}
FROZEN = (RECALLED, REPLACED)
# An urgent document is issued "at once": within this interval of the signature.
URGENT_ISSUE_WITHIN = timedelta(hours=2)
# Signed and not yet issued: the states in which the issue deadline runs.
AWAITING_ISSUE = (SIGNED, SEALED)

# Incoming copies at a recipient agency.
ARRIVED, ACCEPTED, RETURNED_TO_SENDER, WITHDRAWN = "arrived", "accepted", "returned", "withdrawn"
INCOMING_TRANSITIONS = {
    "accept": ((ARRIVED,), ACCEPTED),
    "return": ((ARRIVED,), RETURNED_TO_SENDER),
    "withdraw": ((ARRIVED, ACCEPTED, RETURNED_TO_SENDER), WITHDRAWN),
}


def stream_of(document_id):
    return f"document-{document_id}"


def incoming_stream_of(document_id, agency):
    return f"incoming-{document_id}-{agency}"


# -- the state machine ------------------------------------------------------------

def next_state(state, command, table=None):
    """The state ``command`` leads to from ``state``, or a Conflict saying why not."""
    table = table or TRANSITIONS
    if command not in table:
        raise ValueError(f"unknown command {command!r}")
    allowed, target = table[command]
    if state not in allowed:
        raise Conflict(f"state: a document that is {state} cannot be {_past(command)};"
                       f" only one that is {' or '.join(allowed)}", field="state")
    return state if target is None else target


def _past(command):
    return {"submit": "submitted", "return": "returned", "sign": "signed",
            "seal": "sealed", "issue": "issued", "send": "sent", "recall": "recalled",
            "replace": "replaced", "revise": "revised", "amend": "amended",
            "refuse_delivery": "refused delivery",
            "accept": "accepted", "withdraw": "withdrawn"}[command]


# -- who may do what --------------------------------------------------------------

def check_registration(command, actor: Actor, today):
    """Rules checked before any byte of a file is read or stored."""
    _clerk_of(actor, None)
    if actor.agency in command["recipients"]:
        raise ValidationFailed("recipients: an agency does not send a document to itself",
                               field="recipients")
    if command["secrecy"] and command["recipients"]:
        raise ValidationFailed(
            f"secrecy: a {SECRECY[command['secrecy']]} document is a state secret and is"
            " excluded from electronic exchange (send it on paper)", field="secrecy")
    if not command["secrecy"] and not command["recipients"]:
        raise ValidationFailed("recipients: at least one recipient agency is required",
                               field="recipients")
    due = command.get("due_date")
    if due is not None and due < today:
        raise ValidationFailed(f"due_date: {due.isoformat()} is in the past (today is"
                               f" {today.isoformat()} in Vietnam)", field="due_date")


def check_recipients(recipients, directory, on):
    """Each recipient is an agency of the directory (docs' copy of routing's,
    ``shared.directory.Directory``) effective on ``on`` (Vietnam's today): a
    code nobody uses, one retired (by the 2025 reform, say) or not yet
    effective is refused here, before anything is stored, instead of the
    document being numbered and its delivery refused after issue. Every bad
    code is named (``errors``), the first one in the message and ``field``."""
    if directory is None:
        raise ServiceUnavailable("recipients: the agency directory has not reached docs yet"
                                 " (routing sends it); try again shortly", field="recipients")
    problems = {}
    for i, code in enumerate(recipients):
        why = recipient_problem(directory, code, on)
        if why:
            problems[i] = f"recipients.{i}: {why}"
    if problems:
        first = min(problems)
        raise ValidationFailed("; ".join(problems[i] for i in sorted(problems)),
                               field=f"recipients.{first}",
                               errors={"recipients": {i: [m] for i, m in problems.items()}})


def recipient_problem(directory, code, on):
    """Why ``code`` cannot receive a document on ``on``, or None."""
    if not directory.knows(code):
        return f"agency {code} is not in the directory"
    versions = directory.history(code)
    if any(v.effective_on(on) for v in versions):
        return None
    if on < versions[0].valid_from:
        return f"agency {code} is not effective until {versions[0].valid_from.isoformat()}"
    last = versions[-1]
    if last.successors:
        return (f"agency {code} ({last.name}) ceased on {last.valid_to.isoformat()};"
                f" address its successor {', '.join(last.successors)}")
    return (f"agency {code} ({last.name}) was dissolved on {last.valid_to.isoformat()}"
            " with no successor")


def agency_name(directory, code, on):
    """The name ``code`` had on ``on`` (a date), as registers print it: else the
    name it last had; the code itself for one the directory never had."""
    if directory is None or not directory.knows(code):
        return code
    versions = directory.history(code)
    found = next((v for v in reversed(versions) if v.effective_on(on)), versions[-1])
    return found.name


# The unit names (and their common short forms) that precede a place's own name.
_UNIT_PREFIXES = ("ủy ban nhân dân", "uỷ ban nhân dân", "ubnd", "hội đồng nhân dân", "hđnd")
_UNIT_WORDS = ("thành phố", "thị xã", "thị trấn", "tỉnh", "huyện", "quận", "xã", "phường",
               "đặc khu")
# Ministries and central bodies (codes ending in Gnn) sit in Hà Nội.
CENTRAL_PLACE = "Hà Nội"


def place_of(directory, code, on):
    """The place name (địa danh) written before the date (Decree 30 Appendix I):
    the administrative unit where the agency sits, from the directory: the
    agency itself if it is a province's, district's or commune's People's
    Committee, else the nearest such ancestor (a department: its province),
    its name without "UBND tỉnh" and the like ("UBND tỉnh Nghệ An" → "Nghệ
    An"); a central body (``...Gnn``): Hà Nội; another agency with no such
    unit: its top's name; one the directory does not know: "" (the date alone)."""
    version, original = None, str(code or "")
    seen = set()
    while directory is not None and code and directory.knows(code) and code not in seen:
        seen.add(code)
        versions = directory.history(code)
        version = next((v for v in reversed(versions) if v.effective_on(on)), versions[-1])
        if version.level in ("province", "district", "commune"):
            return _unit_name(version.name)
        code = version.parent
    if original[-3:-2] == "G":
        return CENTRAL_PLACE
    return "" if version is None else _unit_name(version.name)


def _unit_name(name):
    name = unicodedata.normalize("NFC", name).strip()
    if name.endswith(")") and "(" in name:  # "(mẫu)": a note, not part of the name
        name = name[:name.rindex("(")].strip()
    lowered = name.lower()
    for prefix in _UNIT_PREFIXES:
        if lowered.startswith(prefix + " "):
            name, lowered = name[len(prefix) + 1:].strip(), lowered[len(prefix) + 1:].strip()
            break
    for word in _UNIT_WORDS:
        if lowered.startswith(word + " "):
            return name[len(word) + 1:].strip()
    return name


def check_clerk_of_issuer(document, actor: Actor):
    _clerk_of(actor, document["issuing_agency"])


def _clerk_of(actor, agency):
    if actor.role != "clerk":
        raise Forbidden("role: only a clerk (văn thư) does this", field="role")
    if agency is not None and actor.agency != agency:
        raise Forbidden("agency: only a clerk of the issuing agency does this",
                        field="agency")


def check_link(kind, linked, actor: Actor):
    """An amending or replacing document links to an issued one of the same agency."""
    if linked is None:
        raise ValidationFailed(f"{kind}: no such document", field=kind)
    if linked["issuing_agency"] != actor.agency:
        raise ValidationFailed(f"{kind}: a document of another agency cannot be"
                               " amended or replaced by yours", field=kind)
    next_state(linked["state"], "amend" if kind == "amends" else "replace")


def may_read(document, actor: Actor):
    """The sender's staff and the recipients' see a document; auditors see all."""
    if actor.role == "auditor":
        return True
    return (actor.agency == document["issuing_agency"]
            or actor.agency in document["delivered_to"])


def may_download(document, actor: Actor, incoming_state=None):
    """Files of a recalled copy are out of use at the recipient; auditors keep access."""
    if not may_read(document, actor):
        return False
    if actor.role == "auditor" or actor.agency == document["issuing_agency"]:
        return True
    return incoming_state != WITHDRAWN


# -- numbering ----------------------------------------------------------------------

def vietnam_time(instant: datetime):
    if instant.tzinfo is None:
        raise ValueError("instant: a time-zone aware datetime is required")
    return instant.astimezone(VIETNAM)


def series_year(instant: datetime):
    """Numbers restart at 01 on 1 January, Vietnam time."""
    return vietnam_time(instant).year


def vietnam_today(instant: datetime) -> date:
    return vietnam_time(instant).date()


def series_of(secrecy, separate_secret_series):
    return "secret" if secrecy and separate_secret_series else "regular"


def format_number(number):
    """Arabic numerals; below 10 with a leading zero (01 ... 09, 10, 11, ...)."""
    if not isinstance(number, int) or number < 1:
        raise ValueError("number: a positive integer")
    return f"{number:02d}"


def notation(document_type, agency_abbreviation, unit_abbreviation=None):
    """``QĐ-UBND``; for Công văn and Thư công the agency then the drafting unit: ``UBND-VP``."""
    if document_type in WITHOUT_TYPE_IN_NOTATION:
        if not unit_abbreviation:
            raise ValidationFailed("drafting_unit_abbreviation: required for a Công văn,"
                                   " whose notation is agency-unit",
                                   field="drafting_unit_abbreviation")
        return f"{agency_abbreviation}-{unit_abbreviation}"
    return f"{document_type}-{agency_abbreviation}"


def number_notation(number, document_notation):
    return f"{format_number(number)}/{document_notation}"


# -- events -------------------------------------------------------------------------

def _event(event_type, data, actor, document_id, causation=None):
    return new_event(event_type, data, actor=actor, producer=SERVICE,
                     stream_id=stream_of(document_id), causation=causation)


def document_registered(document_id, command, files, actor: Actor):
    """``DocumentRegistered``: a draft, with every metadata field and its files."""
    main, attachments = files[0], files[1:]
    return _event("DocumentRegistered", {
        "document_id": document_id,
        "state": DRAFT,
        "issuing_agency": actor.agency,
        **metadata_of(command),
        "recipients": sorted(command["recipients"]),
        "file": main.to_dict(),
        "attachments": [dict(a.to_dict(), name=name)
                        for a, name in zip(attachments, command["attachment_names"])],
    }, actor, document_id)


def external_recorded(document, cause):
    """``ExternalDocumentRecorded``: a document issued outside the platform, as
    routing took it in from the national axis and delivered it here. docs keeps
    it, read-only, for the agencies it reached."""
    return _event("ExternalDocumentRecorded", {
        "document_id": document["document_id"], "state": EXTERNAL,
        "origin": document["origin"], "edxml_document_id": document["edxml_document_id"],
        "issuing_agency": document["issuing_agency"],
        **metadata_of(document),
        "recipients": sorted(document["recipients"]), "file": document["file"],
        "attachments": list(document["attachments"]), "number": document["number"],
        "number_notation": document["number_notation"], "year": document["year"],
        "issued_at": document["issued_at"],
    }, system_actor(SERVICE), document["document_id"], causation=cause)


METADATA_FIELDS = (
    "subject", "document_type", "urgency", "secrecy", "steering_type", "due_date",
    "agency_abbreviation", "drafting_unit", "drafting_unit_abbreviation", "signer",
    "response_for", "appendices", "page_count", "language", "amends", "replaces")


def metadata_of(command):
    data = {k: command.get(k) for k in METADATA_FIELDS}
    if isinstance(data["due_date"], date):
        data["due_date"] = data["due_date"].isoformat()
    return data


def document_revised(document, stored, actor: Actor):
    """A new version of the main file; the state goes back to draft."""
    return _event("DocumentRevised", {
        "document_id": document["document_id"], "state": next_state(document["state"], "revise"),
        "file": stored.to_dict(), "previous_version_id": document["file"].get("version_id")},
        actor, document["document_id"])


def document_submitted(document, signer_user, actor: Actor):
    return _event("DocumentSubmitted", {
        "document_id": document["document_id"],
        "state": next_state(document["state"], "submit"),
        "issuing_agency": document["issuing_agency"],
        "signer_user": signer_user,
        "signer": document["signer"],
        "round": document["round"] + 1,
        "sha256": document["file"]["sha256"],
        "file": document["file"],
        "attachments": document["attachments"],
    }, actor, document["document_id"])


def document_numbered(document, number, series, numbered_at: datetime, place, cause):
    """``DocumentNumbered``: the number, notation and date (with the place, địa
    danh) the outgoing register gives the document its leader signed, in the
    transaction that follows the signature (Decree 30 Art. 14: number and
    date, registration, then the agency's signature). signing writes them on
    the page under the agency's signature; the issue publishes under them."""
    text = number_notation(number, notation(document["document_type"],
                                            document["agency_abbreviation"],
                                            document["drafting_unit_abbreviation"]))
    return _event("DocumentNumbered", {
        "document_id": document["document_id"], "issuing_agency": document["issuing_agency"],
        "number": number, "series": series, "year": series_year(numbered_at),
        "number_notation": text, "numbered_at": vietnam_time(numbered_at).isoformat(),
        "place": place,
    }, system_actor(SERVICE), document["document_id"], causation=cause)


def document_issued(document, number, series, issued_at: datetime, actor: Actor,
                    issue_by=None, released_at: datetime | None = None):
    """``DocumentIssued``: the number, notation and date of the document
    (``issued_at``: the date it carries, given with its number), published at
    ``released_at`` (the issue: when the clerk released it, which the issue
    deadline judges; a document numbered at issue, as before numbering moved
    to the signature, has one time for both); with the issue deadline
    (``issue_by``, if any) and whether it was met."""
    released_at = released_at or issued_at
    text = number_notation(number, notation(document["document_type"],
                                            document["agency_abbreviation"],
                                            document["drafting_unit_abbreviation"]))
    data = {k: document[k] for k in ("document_id", "issuing_agency", "subject",
                                     "document_type", "urgency", "secrecy", "steering_type",
                                     "due_date", "signer", "response_for", "appendices",
                                     "page_count", "language", "amends", "replaces",
                                     "recipients", "file", "attachments")}
    return _event("DocumentIssued", {
        **data, "state": next_state(document["state"], "issue"),
        "number": number, "series": series, "year": series_year(issued_at),
        "number_notation": text, "issued_at": vietnam_time(issued_at).isoformat(),
        "released_at": vietnam_time(released_at).isoformat(),
        **issue_timeliness(issue_by, released_at),
    }, actor, document["document_id"])


def state_changed(document, command, cause, actor=None, *,
                  urgent_issue_within=URGENT_ISSUE_WITHIN, calendar=None):
    """``DocumentStateChanged`` when another service's event moves the document.
    The leader's signature (``sign``) also fixes the issue deadline
    (:func:`issue_deadline`): ``signed_at`` and ``issue_by``."""
    data = {"document_id": document["document_id"], "command": command,
            "from": document["state"], "state": next_state(document["state"], command),
            "because_of": cause.event_type}
    if command == "sign":
        data["signed_at"] = vietnam_time(cause.occurred_at).isoformat()
        data["issue_by"] = issue_deadline(cause.occurred_at, document.get("urgency"),
                                          urgent_issue_within, calendar).isoformat()
    if command == "refuse_delivery":  # routing's DeliveryRefused: why, for the sender
        data["reason"] = cause.data["reason"]
    return _event("DocumentStateChanged", data, actor or system_actor(SERVICE),
                  document["document_id"], causation=cause)


# -- the issue deadline (Decree 30/2020 Art. 18(1)) ----------------------------------

def issue_deadline(signed_at, urgency, urgent_within=URGENT_ISSUE_WITHIN, calendar=None):
    """When a document the leader signed at ``signed_at`` must be issued (numbered,
    registered, sent), in Vietnam time.

    Normal (urgency 0, Thường): on the day of the signature, at the latest the
    next working day: the end (23:59:59.999) of the first working day after the
    signature's Vietnam-time day; signed Friday, issued by Monday night; signed
    before Tết, by the first working day after it. Urgent (1 Khẩn and above): at
    once, ``signed_at + urgent_within``, whatever the day or hour.
    """
    signed_at = aware(signed_at, "signed_at")
    urgency = 0 if urgency is None else urgency
    if isinstance(urgency, bool) or not isinstance(urgency, int) or urgency < 0:
        raise ValidationFailed(f"urgency: 0 (Thường) to 3 (Hỏa tốc), got {urgency!r}",
                               field="urgency")
    if not isinstance(urgent_within, timedelta) or urgent_within <= timedelta(0):
        raise ValidationFailed("urgent_issue_within: a positive interval",
                               field="urgent_issue_within")
    if urgency >= 1:
        return vietnam_time(signed_at + urgent_within)
    return end_of_next_working_day(signed_at, calendar)


def issue_overdue_now(tracked, now):
    """Whether ``tracked`` (a row of the store's ``issue_deadlines``: ``state``,
    ``issue_by``, ``issued_at``, ``overdue_at``) is newly past its issue deadline
    at ``now``: signed, not issued, the deadline passed, not yet recorded."""
    return (tracked is not None and tracked["state"] in AWAITING_ISSUE
            and tracked["issued_at"] is None and tracked["overdue_at"] is None
            and aware(now, "now") > aware(tracked["issue_by"], "issue_by"))


def issue_overdue(tracked, now):
    """``IssueOverdue``: the document was not issued by its deadline (recorded once)."""
    now, issue_by = aware(now, "now"), aware(tracked["issue_by"], "issue_by")
    return _event("IssueOverdue", {
        "document_id": tracked["document_id"], "issuing_agency": tracked["issuing_agency"],
        "urgency": tracked["urgency"], "state": tracked["state"],
        "signed_at": vietnam_time(aware(tracked["signed_at"], "signed_at")).isoformat(),
        "issue_by": vietnam_time(issue_by).isoformat(),
        "overdue_at": vietnam_time(now).isoformat(),
        "overdue_by_seconds": int((now - issue_by).total_seconds()),
    }, system_actor(SERVICE), tracked["document_id"])


def issue_timeliness(issue_by, issued_at):
    """What ``DocumentIssued`` records of its deadline: ``issue_by`` and whether it
    was met (``issued_on_time``); nothing for a document without one (signed
    before deadlines were tracked)."""
    if issue_by is None:
        return {}
    issue_by = aware(issue_by, "issue_by")
    return {"issue_by": vietnam_time(issue_by).isoformat(),
            "issued_on_time": aware(issued_at, "issued_at") <= issue_by}


# -- incoming documents -------------------------------------------------------------

def incoming_registered(document, agency, arrived_at: datetime, cause):
    """A copy arrived at ``agency``, not yet numbered: the receiving clerk checks
    it first (Decree 30 Art. 21-22); the number comes with ``IncomingAccepted``.
    (Events stored before this rule carry an ``arrival_number``.)"""
    return new_event("IncomingRegistered", {
        "document_id": document["document_id"], "agency": agency,
        "year": series_year(arrived_at),
        "arrived_at": vietnam_time(arrived_at).isoformat(), "state": ARRIVED,
        "sender": document["issuing_agency"], "number_notation": document["number_notation"],
    }, actor=system_actor(SERVICE), producer=SERVICE,
        stream_id=incoming_stream_of(document["document_id"], agency), causation=cause)


def incoming_decided(incoming, command, actor: Actor, reason=None, handed_to=None,
                     numbered=None):
    """The receiving clerk accepts the document into the register, or returns it.
    Accepting, the clerk may say to which unit or person it goes (``handed_to``,
    the incoming register's "Đơn vị hoặc người nhận"; its "Ngày chuyển" is the
    event's date). ``numbered``: the arrival number and its year, taken for an
    accepted copy that has none yet."""
    if actor.role != "clerk" or actor.agency != incoming["agency"]:
        raise Forbidden("agency: only a clerk of the receiving agency accepts or returns"
                        " its incoming documents", field="agency")
    reason = (reason or "").strip()
    if command == "return" and not reason:
        raise ValidationFailed("reason: required when returning a document to its sender",
                               field="reason")
    if len(reason) > 1000:
        raise ValidationFailed("reason: at most 1000 characters", field="reason")
    handed_to = _handed_to(handed_to, command)
    state = next_state(incoming["state"], command, INCOMING_TRANSITIONS)
    event_type = "IncomingAccepted" if command == "accept" else "IncomingReturned"
    return new_event(event_type, {
        "document_id": incoming["document_id"], "agency": incoming["agency"], "state": state,
        "reason": reason or None,
        "arrival_number": numbered[0] if numbered else incoming["arrival_number"],
        **({"year": numbered[1]} if numbered else {}),
        **({"handed_to": handed_to} if handed_to else {}),
    }, actor=actor, producer=SERVICE,
        stream_id=incoming_stream_of(incoming["document_id"], incoming["agency"]))


def _handed_to(handed_to, command):
    if handed_to is None:
        return None
    if not isinstance(handed_to, str) or len(handed_to.strip()) > 200:
        raise ValidationFailed("handed_to: the unit or person the document goes to, at most"
                               " 200 characters", field="handed_to")
    handed_to = unicodedata.normalize("NFC", handed_to.strip())
    if handed_to and command != "accept":
        raise ValidationFailed("handed_to: only an accepted document is passed on",
                               field="handed_to")
    return handed_to or None


def incoming_withdrawn(incoming, cause):
    """A recall the recipient agreed to: its copy goes out of use."""
    return new_event("IncomingWithdrawn", {
        "document_id": incoming["document_id"], "agency": incoming["agency"],
        "state": next_state(incoming["state"], "withdraw", INCOMING_TRANSITIONS),
    }, actor=system_actor(SERVICE), producer=SERVICE,
        stream_id=incoming_stream_of(incoming["document_id"], incoming["agency"]),
        causation=cause)


def summary_row(document_id, row, delivered_to):
    """One line of ``state_summary`` (the audit's reconciliation): ``row`` as the
    store's ``summary`` gives it, None for a delivery of a document not kept here."""
    row = row or {}
    return {"document_id": document_id, "issuing_agency": row.get("issuing_agency"),
            "recipients": sorted(row.get("recipients", [])),
            "sha256": row["file"].get("sha256") if row else None,
            "state": row.get("state"), "number_notation": row.get("number_notation"),
            "delivered_to": sorted(delivered_to)}
