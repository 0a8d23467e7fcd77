"""Status reports a recipient sends back about its copy, and the recall negotiation.

Pure: the standard library and ``shared.errors`` only. Every function takes the
current state and returns a new state plus the change to record; nothing is
mutated and nothing is stored here.

Processing statuses, one ``DeliveryStatus`` per (document, recipient)::

    (none) -> 01 đã đến        set by the delivery (the routing service)
    01 -> 02 từ chối           returned to the sender; a reason is required; final
    01 -> 03 tiếp nhận         accepted and registered
    03 -> 04 phân công         assigned to a handling unit
    03, 04 -> 05 đang xử lý    processing
    04, 05 -> 06 hoàn thành    completed; final

Repeating the current status is refused as a conflict: idempotent retries are
the caller's business (report ids), so a repeat here is a plain error.

Recall / update / replace, one ``RecallRequest`` per (document, recipient):
the sender asks (13) with a business type 1 revoke, 2 update or 3 replace; the
addressed recipient answers once, 15 agree or 16 refuse (a reason is required).
An agreed revoke marks the recipient's copy ``recalled``: it then accepts no
further status report. ``recall_outcome`` folds the answers of all recipients.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.errors import Conflict, Forbidden, ValidationFailed

STATUS = {
    "01": "đã đến",
    "02": "từ chối",
    "03": "tiếp nhận",
    "04": "phân công",
    "05": "đang xử lý",
    "06": "hoàn thành",
    "13": "lấy lại",
    "15": "đồng ý lấy lại/cập nhật",
    "16": "từ chối lấy lại/cập nhật",
}

STATUS_EN = {
    "01": "arrived, not yet handled",
    "02": "rejected / returned to the sender",
    "03": "accepted and registered",
    "04": "assigned to a handling unit",
    "05": "being processed",
    "06": "completed",
    "13": "the sender asks to recall, update or replace",
    "15": "the recipient agrees to the recall, update or replace",
    "16": "the recipient refuses the recall, update or replace",
}

ARRIVED, RETURNED, ACCEPTED, ASSIGNED, PROCESSING, COMPLETED = "01", "02", "03", "04", "05", "06"
RECALL_REQUESTED, RECALL_AGREED, RECALL_REFUSED = "13", "15", "16"

PROCESSING_CODES = (ARRIVED, RETURNED, ACCEPTED, ASSIGNED, PROCESSING, COMPLETED)
RECALL_CODES = (RECALL_REQUESTED, RECALL_AGREED, RECALL_REFUSED)
FINAL_CODES = frozenset({RETURNED, COMPLETED})

# from code (None: nothing yet) -> the codes that may follow it.
TRANSITIONS = {
    None: frozenset({ARRIVED}),
    ARRIVED: frozenset({RETURNED, ACCEPTED}),
    RETURNED: frozenset(),
    ACCEPTED: frozenset({ASSIGNED, PROCESSING}),
    ASSIGNED: frozenset({PROCESSING, COMPLETED}),
    PROCESSING: frozenset({COMPLETED}),
    COMPLETED: frozenset(),
}

# Business types of a package (edXML "Bussiness" block).
NEW, REVOKE, UPDATE, REPLACE = 0, 1, 2, 3
BUSINESS_TYPES = {NEW: "new", REVOKE: "revoke (thu hồi)", UPDATE: "update (cập nhật)",
                  REPLACE: "replace (thay thế)"}
RECALL_BUSINESS_TYPES = (REVOKE, UPDATE, REPLACE)

MAX_REASON = 1000

# What the rule for reaching each code says, for the refusal message.
_RULE_TO = {
    ARRIVED: "01 (đã đến) is set once, when the document is delivered",
    RETURNED: "a document can be returned only right after it arrived (01), before it is accepted",
    ACCEPTED: "a document can be accepted only right after it arrived (01)",
    ASSIGNED: "a document is assigned only after it is accepted (03)",
    PROCESSING: "a document is processed only after it is accepted (03)",
}


def label(code):
    """``"03 (tiếp nhận)"``; ``"(none)"`` for no status yet."""
    return "(none)" if code is None else f"{code} ({STATUS.get(code, '?')})"


@dataclass(frozen=True)
class StatusChange:
    """One line of history: who set which code when, and why."""

    document_id: str
    recipient: str
    code: str
    previous: str | None
    at: datetime
    user: str
    agency: str
    reason: str | None = None
    business_type: int | None = None
    replacement_document_id: str | None = None

    @property
    def name(self):
        return STATUS[self.code]

    def to_dict(self):
        data = {"document_id": self.document_id, "recipient": self.recipient,
                "code": self.code, "status": STATUS[self.code], "previous": self.previous,
                "at": self.at.isoformat(), "user": self.user, "agency": self.agency,
                "reason": self.reason}
        if self.business_type is not None:
            data["business_type"] = self.business_type
            data["replacement_document_id"] = self.replacement_document_id
        return data


@dataclass(frozen=True)
class DeliveryStatus:
    """The processing status of one recipient's copy of one document."""

    document_id: str
    recipient: str
    sender: str
    code: str | None = None
    history: tuple = ()
    recalled: bool = False

    @property
    def name(self):
        return None if self.code is None else STATUS[self.code]

    @property
    def final(self):
        return self.recalled or self.code in FINAL_CODES


def delivered(document_id, recipient, *, sender, at, user="service:routing", agency=None):
    """The copy's first status, 01 (đã đến), as the delivery sets it.

    Returns ``(state, change)``. ``agency`` defaults to the recipient: the copy
    arrived at the recipient, whoever observed it.
    """
    state = DeliveryStatus(document_id=document_id, recipient=recipient, sender=sender)
    return report(state, ARRIVED, by_agency=agency or recipient, recipient=recipient, at=at,
                  user=user)


def report(state, code, *, by_agency, recipient, at, user, reason=None):
    """Apply the status ``code`` the ``recipient`` reports on its copy.

    Returns ``(new_state, change)``. Raises ``ValidationFailed`` for an unknown
    code or a transition the table does not allow, ``Forbidden`` when anyone but
    the recipient reports, ``Conflict`` for a repeat of the current status or a
    report on a recalled copy.
    """
    if not isinstance(state, DeliveryStatus):
        raise ValidationFailed("a status is reported on a delivered copy (DeliveryStatus)",
                               field="state")
    if code in RECALL_CODES:
        raise ValidationFailed(
            f"{label(code)} belongs to the recall negotiation, not to the processing "
            "statuses: use request_recall / answer_recall", field="code")
    if code not in PROCESSING_CODES:
        raise ValidationFailed(
            f"unknown status code {code!r}: the processing statuses are "
            + ", ".join(label(c) for c in PROCESSING_CODES), field="code")
    _check_time(at)
    if recipient != state.recipient:
        raise ValidationFailed(
            f"this status record is for the copy of {state.recipient}, not of {recipient}",
            field="recipient")
    if by_agency != state.recipient:
        raise Forbidden(
            f"only the recipient {state.recipient} may report the status of its copy, "
            f"not {by_agency}", field="by_agency")
    if state.recalled:
        raise Conflict(
            f"the copy of document {state.document_id} at {state.recipient} was recalled by "
            "the sender (revoke agreed with 15): no further status reports are accepted",
            field="code")
    if code == state.code:
        raise Conflict(
            f"the copy is already at {label(code)}: repeating the current status is refused",
            field="code")
    if code not in TRANSITIONS[state.code]:
        raise ValidationFailed(
            f"cannot go from {label(state.code)} to {label(code)}: "
            f"{_rule(state.code, code)}", field="code")
    reason = _check_reason(reason, required=code == RETURNED,
                           rule="a returned document (02 từ chối) needs a reason")
    change = StatusChange(document_id=state.document_id, recipient=state.recipient, code=code,
                          previous=state.code, at=at, user=user, agency=by_agency,
                          reason=reason)
    return reported(state, change), change


def reported(state, change):
    """The copy after the status ``change`` (checked by ``report``): also how
    the store projects a ``StatusReported`` event."""
    return replace(state, code=change.code, history=state.history + (change,))


def _rule(current, code):
    if current in FINAL_CODES:
        return f"{label(current)} is final, no status can follow it"
    if code == COMPLETED:
        if current == ACCEPTED:
            return ("a document is completed only after it is assigned (04) "
                    "or being processed (05)")
        return "a document is completed only after it is accepted"
    if current is None:
        return "nothing can be reported before the document has arrived (01)"
    return _RULE_TO[code]


def allowed_next(code):
    """The codes that may follow ``code`` (``None``: no status yet)."""
    return TRANSITIONS[code]


# --- recall, update, replace ------------------------------------------------------------


@dataclass(frozen=True)
class RecallRequest:
    """The sender's request (13) to one recipient, and that recipient's answer."""

    document_id: str
    recipient: str
    sender: str
    business_type: int
    requested_at: datetime
    requested_by: str
    replacement_document_id: str | None = None
    reason: str | None = None
    answer: str | None = None  # None while pending, else "15" or "16"
    answered_at: datetime | None = None
    answered_by: str | None = None
    answer_reason: str | None = None
    history: tuple = field(default=())

    @property
    def pending(self):
        return self.answer is None

    @property
    def agreed(self):
        return self.answer == RECALL_AGREED

    @property
    def refused(self):
        return self.answer == RECALL_REFUSED


def request_recall(delivery, current=None, *, business_type, by_agency, at, user,
                   replacement_document_id=None, reason=None):
    """The sender asks one recipient (13) to accept a revoke, update or replace.

    ``delivery`` is that recipient's ``DeliveryStatus`` (``None`` if the
    document never reached it); ``current`` the latest ``RecallRequest`` for
    the same copy, if any. Returns ``(request, change)``.
    """
    _check_time(at)
    if business_type not in RECALL_BUSINESS_TYPES:
        raise ValidationFailed(
            f"business type {business_type!r} is not a recall: use 1 revoke, 2 update "
            "or 3 replace", field="business_type")
    if delivery is None or delivery.code is None:
        raise Conflict("the document was never delivered to this recipient: there is nothing "
                       "to recall, update or replace", field="recipient")
    if by_agency != delivery.sender:
        raise Forbidden(
            f"only the sender {delivery.sender} may ask to recall, update or replace "
            f"document {delivery.document_id}, not {by_agency}", field="by_agency")
    if business_type == REPLACE:
        if not isinstance(replacement_document_id, str) or not replacement_document_id.strip():
            raise ValidationFailed("a replace (business type 3) names the replacing document",
                                   field="replacement_document_id")
        if replacement_document_id == delivery.document_id:
            raise ValidationFailed("a document cannot replace itself",
                                   field="replacement_document_id")
    elif business_type == REVOKE and replacement_document_id is not None:
        raise ValidationFailed("a revoke (business type 1) names no replacing document: "
                               "use replace (3)", field="replacement_document_id")
    if delivery.recalled:
        raise Conflict(f"the copy of document {delivery.document_id} at {delivery.recipient} "
                       "is already recalled", field="document_id")
    if current is not None:
        _same_copy(current, delivery)
        if current.pending:
            raise Conflict(
                f"a recall request ({BUSINESS_TYPES[current.business_type]}) to "
                f"{delivery.recipient} is still waiting for its answer", field="document_id")
    reason = _check_reason(reason, required=False, rule="")
    change = StatusChange(document_id=delivery.document_id, recipient=delivery.recipient,
                          code=RECALL_REQUESTED, previous=None, at=at, user=user,
                          agency=by_agency, reason=reason, business_type=business_type,
                          replacement_document_id=replacement_document_id)
    return requested(change), change


def requested(change):
    """The request a ``RecallRequested`` change makes (its agency is the
    sender: ``request_recall`` allows no other)."""
    return RecallRequest(document_id=change.document_id, recipient=change.recipient,
                         sender=change.agency, business_type=change.business_type,
                         requested_at=change.at, requested_by=change.user,
                         replacement_document_id=change.replacement_document_id,
                         reason=change.reason, history=(change,))


def answer_recall(request, delivery, code, *, by_agency, at, user, reason=None):
    """The addressed recipient answers a recall request: 15 agree or 16 refuse;
    a revoke (business type 1) only 15, the copy cancelled (Decree 30 Art. 18(4)).

    Returns ``(request, delivery, change)``; ``delivery`` comes back marked
    ``recalled`` (with the answer in its history) when a revoke is agreed, and
    unchanged otherwise.
    """
    if not isinstance(request, RecallRequest):
        raise ValidationFailed("there is no recall request to answer", field="request")
    if code not in (RECALL_AGREED, RECALL_REFUSED):
        raise ValidationFailed(
            f"a recall request is answered with {label(RECALL_AGREED)} or "
            f"{label(RECALL_REFUSED)}, not {code!r}", field="code")
    _check_time(at)
    if delivery is not None:
        _same_copy(request, delivery)
    if by_agency != request.recipient:
        raise Forbidden(
            f"only the addressed recipient {request.recipient} may answer this recall "
            f"request, not {by_agency}", field="by_agency")
    if not request.pending:
        raise Conflict(
            f"the recall request was already answered with {label(request.answer)}: "
            "a recipient answers once", field="code")
    if code == RECALL_REFUSED and request.business_type == REVOKE:
        # Decree 30/2020 Art. 18(4): on a revocation the recipient cancels its copy and
        # reports back; only an update or a replacement is negotiated (15/16).
        raise Conflict(
            f"a revoked document is not refused: the recipient cancels its copy and reports"
            f" {label(RECALL_AGREED)} (Nghị định 30/2020/NĐ-CP, Điều 18 khoản 4); "
            f"{label(RECALL_REFUSED)} answers only an update or a replacement", field="code")
    reason = _check_reason(reason, required=code == RECALL_REFUSED,
                           rule="refusing a recall (16) needs a reason")
    change = StatusChange(document_id=request.document_id, recipient=request.recipient,
                          code=code, previous=RECALL_REQUESTED, at=at, user=user,
                          agency=by_agency, reason=reason,
                          business_type=request.business_type,
                          replacement_document_id=request.replacement_document_id)
    return answered(request, change), after_answer(delivery, change), change


def answered(request, change):
    """The request after its answer ``change`` (15 or 16)."""
    return replace(request, answer=change.code, answered_at=change.at, answered_by=change.user,
                   answer_reason=change.reason, history=request.history + (change,))


def after_answer(delivery, change):
    """The copy after an answer: recalled when a revoke is agreed, else as it was."""
    if delivery is not None and change.code == RECALL_AGREED and change.business_type == REVOKE:
        return replace(delivery, recalled=True, history=delivery.history + (change,))
    return delivery


def _same_copy(request, delivery):
    if (request.document_id, request.recipient) != (delivery.document_id, delivery.recipient):
        raise ValidationFailed(
            f"the recall request is for document {request.document_id} at "
            f"{request.recipient}, the status for document {delivery.document_id} at "
            f"{delivery.recipient}", field="document_id")


PENDING, AGREED, REFUSED = "pending", "agreed", "refused"


@dataclass(frozen=True)
class RecallOutcome:
    """The requests' answers folded: ``state`` is pending, agreed or refused."""

    document_id: str
    state: str
    agreed: tuple
    refused: tuple  # (recipient, reason) pairs
    pending: tuple

    @property
    def refused_by(self):
        return tuple(recipient for recipient, _ in self.refused)


def recall_outcome(requests):
    """Fold the requests of one document to all its recipients.

    ``refused`` as soon as any recipient refused (who and why are listed, even
    while others are still pending); else ``pending`` while any has not
    answered; else ``agreed`` (by all).
    """
    requests = list(requests)
    if not requests:
        raise ValidationFailed("no recall request to aggregate", field="requests")
    documents = {r.document_id for r in requests}
    if len(documents) != 1:
        raise ValidationFailed("a recall outcome is about one document, got "
                               + ", ".join(sorted(documents)), field="requests")
    recipients = [r.recipient for r in requests]
    if len(set(recipients)) != len(recipients):
        raise ValidationFailed("one request per recipient: pass each recipient's latest "
                               "request once", field="requests")
    ordered = sorted(requests, key=lambda r: r.recipient)
    agreed = tuple(r.recipient for r in ordered if r.agreed)
    refused = tuple((r.recipient, r.answer_reason) for r in ordered if r.refused)
    pending = tuple(r.recipient for r in ordered if r.pending)
    state = REFUSED if refused else PENDING if pending else AGREED
    return RecallOutcome(document_id=documents.pop(), state=state, agreed=agreed,
                         refused=refused, pending=pending)


# --- checks -----------------------------------------------------------------------------


def _check_time(at):
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValidationFailed("the time of a status change is a time-zone-aware datetime",
                               field="at")


def _check_reason(reason, *, required, rule):
    if reason is not None and not isinstance(reason, str):
        raise ValidationFailed("a reason is text", field="reason")
    text = (reason or "").strip()
    if required and not text:
        raise ValidationFailed(f"{rule}: the reason is empty", field="reason")
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            f"a reason is at most {MAX_REASON} characters, got {len(text)}", field="reason")
    return text or None
