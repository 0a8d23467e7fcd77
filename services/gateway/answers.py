"""The shapes of the gateway's JSON answers, for the OpenAPI document.

Each names the fields a client may rely on, with their types; the services may
add fields (``additionalProperties`` stays open), never drop or retype these.
The tests check every answer they get against these (``tests/support/openapi.py``).
"""

from marshmallow import INCLUDE, Schema, fields

_TIME = {"description": "ISO 8601 with its offset"}


class _Answer(Schema):
    class Meta:
        unknown = INCLUDE  # open: a client ignores fields it does not know
        ordered = True


def _text(required=True, nullable=False, **meta):
    return fields.String(required=required, allow_none=nullable, metadata=meta)


def _int(required=True, nullable=False, **meta):
    return fields.Integer(required=required, allow_none=nullable, metadata=meta)


class FileAnswer(_Answer):
    key = _text()
    sha256 = _text(description="hex SHA-256 of the bytes")
    size = _int()
    content_type = _text()


class LoggedOutAnswer(_Answer):
    logged_out = fields.Boolean(required=True)


class PasswordChangedAnswer(_Answer):
    user_id = _text()
    password_changed = fields.Boolean(required=True)


class UserDisabledAnswer(_Answer):
    user_id = _text()
    disabled_at = _text(**_TIME)


class UserAnswer(_Answer):
    user_id = _text()
    agency = _text()
    role = _text()
    full_name = _text()
    disabled_at = _text(required=False, nullable=True, **_TIME)


class RegisteredAnswer(_Answer):
    document_id = _text()
    event_id = _text()
    state = _text()
    file = fields.Nested(FileAnswer, required=True)
    attachments = fields.List(fields.Nested(FileAnswer), required=True)


class RevisedAnswer(_Answer):
    document_id = _text()
    state = _text()
    file = fields.Nested(FileAnswer, required=True)


class DocumentAnswer(_Answer):
    document_id = _text()
    state = _text(description="draft, submitted, signed, returned, sealed, issued, sent,"
                              " undeliverable, recalled, replaced, ...")
    issuing_agency = _text()
    document_type = _text()
    subject = _text()
    urgency = _int()
    recipients = fields.List(fields.String(), required=True)
    file = fields.Nested(FileAnswer, required=True)
    attachments = fields.List(fields.Nested(FileAnswer), required=True)
    registered_at = _text(**_TIME)
    number = _int(nullable=True)
    number_notation = _text(nullable=True, description="e.g. 01/QĐ-UBND, given once the"
                                                       " leader has signed")
    issued_at = _text(nullable=True, **_TIME)
    delivery_refused = _text(nullable=True, description="why routing refused the first"
                             " delivery (the state is then undeliverable), else null")


class StateAnswer(_Answer):
    document_id = _text()
    state = _text()


class CertificateAnswer(_Answer):
    serial = _text()
    subject = _text()
    issuer = _text()
    sha256 = _text()


class SignedAnswer(_Answer):
    document_id = _text()
    event_id = _text()
    key_id = _text()
    certificate = fields.Nested(CertificateAnswer, required=True)
    signed_file = fields.Nested(FileAnswer, required=True)


class SealedAnswer(_Answer):
    document_id = _text()
    event_id = _text()
    key_id = _text()
    sealed_file = fields.Nested(FileAnswer, required=True)


class IssuedAnswer(_Answer):
    document_id = _text()
    state = _text()
    number = _int()
    number_notation = _text()
    issued_at = _text(**_TIME)


class SignatureCheckAnswer(_Answer):
    check = _text()
    ok = fields.Boolean(required=True)
    detail = _text()


class SignatureAnswer(_Answer):
    field = _text()
    signer = _text()
    kind = _text(description="personal (a leader) or organisation (the agency's seal)")
    signing_time = _text(nullable=True, **_TIME)


class SignaturesAnswer(_Answer):
    ok = fields.Boolean(required=True)
    signatures = fields.List(fields.Nested(SignatureAnswer), required=True)
    checks = fields.List(fields.Nested(SignatureCheckAnswer), required=True)


class VerificationAnswer(_Answer):
    document_id = _text()
    ok = fields.Boolean(required=True, metadata={"description": "every check passed"})
    pdf = fields.Nested(SignaturesAnswer, required=True)
    manifest = fields.Nested(SignaturesAnswer, required=True, allow_none=True)


class InboxItemAnswer(_Answer):
    document_id = _text()
    sender = _text()
    status = _text(description="the latest status code (01 received ... 06 completed)")
    recalled = fields.Boolean(required=True)
    delivered_at = _text(**_TIME)


class IncomingAnswer(_Answer):
    document_id = _text()
    sender = _text()
    state = _text(description="arrived, accepted, returned, withdrawn")
    arrival_number = _int(nullable=True, description="số đến, once registered")
    arrived_at = _text(**_TIME)


class AcceptedAnswer(_Answer):
    document_id = _text()
    state = _text()
    arrival_number = _int()


class StatusChangeAnswer(_Answer):
    code = _text()
    at = _text(**_TIME)
    agency = _text()
    reason = _text(nullable=True)


class RecipientStatusAnswer(_Answer):
    recipient = _text()
    sender = _text()
    status = _text()
    recalled = fields.Boolean(required=True)
    history = fields.List(fields.Nested(StatusChangeAnswer), required=True)
    next = fields.List(fields.String(), required=True, metadata={
        "description": "the codes the recipient may report next"})
    recall = fields.Dict(required=True, allow_none=True, metadata={
        "description": "the latest recall request to this recipient and its answer"})


class ActorAnswer(_Answer):
    user_id = _text()
    agency = _text()
    role = _text()


class LogEntryAnswer(_Answer):
    index = _int(description="the entry's leaf index in the audit log")
    event_id = _text()
    event_type = _text()
    producer = _text()
    occurred_at = _text(**_TIME)
    actor = fields.Nested(ActorAnswer, required=True)
    data = fields.Dict(required=True)


class LogVerificationAnswer(_Answer):
    ok = fields.Boolean(required=True)
    entries = _int()
    checkpoints = _int()
    covered = _int(description="entries covered by a signed checkpoint in WORM storage")
    first_problem = fields.Dict(required=True, allow_none=True)
    problems = fields.List(fields.Dict(), required=True)
    notes = fields.List(fields.String(), required=True)


class DifferenceAnswer(_Answer):
    document_id = _text()
    service = _text(description="docs, signing or routing")
    field = _text()


class ReconcileAnswer(_Answer):
    documents = _int(description="documents the replay of the log found")
    differences = fields.List(fields.Nested(DifferenceAnswer), required=True)


class AgencyAnswer(_Answer):
    code = _text()
    name = _text()
    level = _text()
    parent = _text(nullable=True)
    valid_from = _text(nullable=True, description="a date, YYYY-MM-DD")
    valid_to = _text(nullable=True, description="a date, YYYY-MM-DD")


class CertificateRecordAnswer(_Answer):
    serial = _text()
    holder = _text(description="the user id the certificate was issued to")
    agency = _text()
    role = _text()
    not_before = _text(**_TIME)
    not_after = _text(**_TIME)
    revoked_at = _text(nullable=True, **_TIME)
    reason = _text(nullable=True, description="RFC 5280 revocation reason")


class RevokedAnswer(_Answer):
    serial = _text()
    revoked_at = _text(**_TIME)
    reason = _text()


class PasswordResetAnswer(_Answer):
    user_id = _text()
    password_reset = fields.Boolean(required=True)


class DirectoryChangeAnswer(_Answer):
    applied = _int(description="how many changes were applied")


class DashboardRebuiltAnswer(_Answer):
    sent = _int(description="documents sent, folded again from the log")
    copies = _int(description="copies received, folded again from the log")


class ImportedAnswer(_Answer):
    document_id = _text()
    number_notation = _text()
    subject = _text()
    recipients = fields.List(fields.String(), required=True)
    repeated = fields.Boolean(required=True, metadata={
        "description": "the same package came before: nothing was taken in again"})


class QuarantinedAnswer(_Answer):
    id = _int()
    consumer = _text()
    reason = _text()
    event_id = _text(nullable=True)
    producer = _text(nullable=True)
    event_type = _text(nullable=True)
    received_at = _text(**_TIME)


class ListedCopyAnswer(_Answer):
    document_id = _text()
    recipient = _text()
    sender = _text()
    urgency = _int()
    arrived_at = _text(nullable=True, **_TIME)


class DashboardAnswer(_Answer):
    agency = _text()
    agency_count = _int(description="the agency and every agency under it")
    names = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                        required=True)
    start = _text(description="a date, YYYY-MM-DD (Vietnam)")
    end = _text(description="a date, YYYY-MM-DD (Vietnam), included")
    granularity = _text()
    totals = fields.Dict(required=True, metadata={"description": "the period's figures"})
    trend = fields.List(fields.Dict(), required=True,
                        metadata={"description": "the same figures per day, week or month"})
    agencies = fields.List(fields.Dict(), required=True)
    overdue_total = _int()
    overdue = fields.List(fields.Nested(ListedCopyAnswer), required=True)
    urgent_total = _int()
    urgent = fields.List(fields.Nested(ListedCopyAnswer), required=True)
