"""The shapes of the gateway's JSON answers, for the OpenAPI document.

Each names the fields a client may rely on, with their types; the services may
add fields (``additionalProperties`` stays open), never drop or retype these.
The tests check every answer they get against these (``tests/support/openapi.py``).
"""

from marshmallow import INCLUDE, Schema, fields, validate

# Formats the answer checker enforces (tests/support/openapi.py): a time as the
# services write it (``datetime.isoformat()`` or ``...Z``), a day, an id.
_TIME = {"format": "date-time", "description": "ISO 8601 with its offset"}
_DATE = {"format": "date", "description": "a date, YYYY-MM-DD"}
_UUID = {"format": "uuid"}
_BASE64 = {"format": "byte", "description": "base64"}


class _Answer(Schema):
    class Meta:
        unknown = INCLUDE  # open: a client ignores fields it does not know
        ordered = True


def _text(required=True, nullable=False, **meta):
    return fields.String(required=required, allow_none=nullable, metadata=meta)


def _int(required=True, nullable=False, **meta):
    return fields.Integer(required=required, allow_none=nullable, metadata=meta)


def _number(required=True, nullable=False, **meta):
    return fields.Float(required=required, allow_none=nullable, metadata=meta)


def _bool(**meta):
    return fields.Boolean(required=True, metadata=meta)


def _choice(values, required=True, nullable=False, **meta):
    """A closed set of values (an ``enum`` in the document)."""
    kind = fields.Integer if all(isinstance(v, int) for v in values) else fields.String
    return kind(required=required, allow_none=nullable, validate=validate.OneOf(values),
                metadata=meta)


def _texts(**meta):
    return fields.List(fields.String(), required=True, metadata=meta)


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


class CopyAnswer(_Answer):
    copy_id = _text(**_UUID)
    document_id = _text(**_UUID)
    agency = _text(description="the copying agency's code")
    form = _choice(["SY", "SL", "TrS"], description="SY sao y, SL sao lục, TrS trích sao")
    number = _int(description="in the form's series of the agency's year, from 1")
    year = _int()
    number_notation = _text(description="01/SY-UBND")
    pages = fields.List(fields.Integer(), required=True, allow_none=True,
                        metadata={"description": "TrS: the pages copied; else null"})
    source_copy_id = _text(nullable=True, description="SL: the sao y it was made from")
    file = fields.Nested(FileAnswer, required=True)
    copied_at = _text(**_TIME)
    copied_by = _text(description="the clerk's user id")


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


class CopyVerificationAnswer(_Answer):
    document_id = _text()
    copy_id = _text()
    number_notation = _text(description="the copy's, e.g. 01/SY-UBND")
    file = fields.Nested(FileAnswer, required=True)
    ok = fields.Boolean(required=True, metadata={"description": "every check passed"})
    pdf = fields.Nested(SignaturesAnswer, required=True)


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
    data = fields.Dict(required=True, allow_none=True, metadata={
        "description": "the event's data; null once destroyed by an erasure order"
                       " (data_sha256 still commits to it)"})
    data_sha256 = _text(description="hex SHA-256 of the data the leaf commits to")


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
    erased_documents = _int(description="documents whose data an erasure order destroyed:"
                                        " not compared (the log no longer says what they"
                                        " were)")
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


class PackageSignatureAnswer(_Answer):
    signed = fields.Boolean(required=True, metadata={
        "description": "the package carried an XML signature, and it held"})
    signer = _text(nullable=True, description="the signing certificate's subject")
    agency_code = _text(nullable=True, description="the agency its certificate names")


class NotDeliveredAnswer(_Answer):
    code = _text(description="the To code, as the package gives it")
    field = _text(description="where it is in the package")
    reason = _text(description="why it is not delivered here (not on this platform)")


class ImportedAnswer(_Answer):
    signature = fields.Nested(PackageSignatureAnswer, required=True)
    not_delivered = fields.List(fields.Nested(NotDeliveredAnswer), required=False, metadata={
        "description": "recipients the package names that are not on this platform (a new"
                       " document: taken in for the others)"})
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
    document_id = _text(**_UUID)
    number_notation = _text(nullable=True)
    subject = _text(nullable=True)
    recipient = _text()
    sender = _text()
    urgency = _int()
    code = _text(nullable=True, description="the copy's latest status code")
    recalled = _bool()
    arrived_at = _text(nullable=True, **_TIME)
    accepted_at = _text(nullable=True, **_TIME)
    completed_at = _text(nullable=True, **_TIME)
    overdue_kind = _choice(["registration", "completion"], nullable=True)
    deadline = _text(nullable=True, **_TIME)
    accept_seconds = _number(nullable=True)
    complete_seconds = _number(nullable=True)


class SummaryAnswer(_Answer):
    """The figures of a period, a bucket of the trend or an agency."""
    sent = _int()
    sent_signed = _int(description="sent with both signatures (leader's and seal)")
    signed_share = _number(nullable=True, description="0..1; null when nothing was sent")
    sent_urgent = _int()
    received = _int()
    recalled = _int()
    on_time = _int()
    overdue = _int()
    pending = _int()
    returned = _int()
    on_time_share = _number(nullable=True, description="0..1; null when nothing was handled")
    median_accept_seconds = _number(nullable=True)
    median_complete_seconds = _number(nullable=True)
    received_urgent = _int()
    urgent_overdue = _int()
    urgent_median_accept_seconds = _number(nullable=True)
    urgent_median_complete_seconds = _number(nullable=True)


class TrendBucketAnswer(SummaryAnswer):
    bucket = _text(format="date", description="the bucket's first day, YYYY-MM-DD")


class AgencySummaryAnswer(SummaryAnswer):
    agency = _text()


class DashboardAnswer(_Answer):
    agency = _text()
    agency_count = _int(description="the agency and every agency under it")
    names = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                        required=True)
    start = _text(format="date", description="a date, YYYY-MM-DD (Vietnam)")
    end = _text(format="date", description="a date, YYYY-MM-DD (Vietnam), included")
    granularity = _choice(["day", "week", "month"])
    totals = fields.Nested(SummaryAnswer, required=True,
                           metadata={"description": "the period's figures"})
    trend = fields.List(fields.Nested(TrendBucketAnswer), required=True,
                        metadata={"description": "the same figures per day, week or month"})
    agencies = fields.List(fields.Nested(AgencySummaryAnswer), required=True)
    overdue_total = _int()
    overdue = fields.List(fields.Nested(ListedCopyAnswer), required=True)
    urgent_total = _int()
    urgent = fields.List(fields.Nested(ListedCopyAnswer), required=True)


# -- signing with a device (hand-outs), the manifest, the trust anchor

class HandoutCertificateAnswer(CertificateAnswer):
    pem = _text(description="the leader's certificate, PEM")


class HandoutAnswer(_Answer):
    handout_id = _text(**_UUID)
    document_id = _text(**_UUID)
    digest = _text(format="byte", description="base64: what the leader's device signs")
    digest_algorithm = _choice(["sha256"])
    certificate = fields.Nested(HandoutCertificateAnswer, required=True)
    expires_at = _text(**_TIME)


class CompletedSignatureAnswer(_Answer):
    document_id = _text(**_UUID)
    event_id = _text(**_UUID)
    key_id = _text()
    signed_file = fields.Nested(FileAnswer, required=True)


class ManifestAnswer(_Answer):
    json = _text(format="uri", description="5-minute URL of the signed manifest (JSON)")
    p7s = _text(format="uri", description="5-minute URL of its detached CMS signature")


class TrustAnchorAnswer(_Answer):
    root_certificate = _text(description="the platform CA's root certificate, PEM")
    crl = _text(format="byte", description="its current CRL, base64 DER")
    tsa_url = _text(nullable=True, description="the time-stamping authority's URL")


# -- statuses, sending, recall

class StatusChangeRecordAnswer(_Answer):
    """One change of a recipient's copy, as its event records it."""
    document_id = _text(**_UUID)
    recipient = _text()
    code = _text()
    status = _text(description="the code's name, in Vietnamese")
    previous = _text(nullable=True, description="the code before (null: none)")
    at = _text(**_TIME)
    user = _text()
    agency = _text(description="the agency that set the code")
    reason = _text(nullable=True)


class StatusReportedAnswer(StatusChangeRecordAnswer):
    code = _choice(["01", "02", "03", "04", "05", "06"])


class StatusImportedAnswer(StatusReportedAnswer):
    signature = fields.Nested(PackageSignatureAnswer, required=True)


class RecallAnsweredAnswer(StatusChangeRecordAnswer):
    code = _choice(["15", "16"], description="15 agreed, 16 refused")
    business_type = _choice([1, 2, 3], description="1 revoke, 2 update, 3 replace")
    replacement_document_id = _text(nullable=True)


class SentAnswer(_Answer):
    consignment_id = _text()
    recipients = _texts(description="every agency the addressing stood for")
    new_recipients = _texts(description="those it had not been delivered to before")
    repeated = _bool(description="the same consignment id came before: nothing sent again")


class RecallRequestedAnswer(_Answer):
    document_id = _text(**_UUID)
    requested_from = _texts(description="the recipients asked (13)")


class RecallOutcomeAnswer(_Answer):
    document_id = _text(**_UUID)
    state = _choice(["pending", "agreed", "refused"])
    agreed = _texts()
    refused = fields.List(fields.List(fields.String(allow_none=True),
                                      validate=validate.Length(2, 2)), required=True,
                          metadata={"description": "[recipient, reason] pairs"})
    pending = _texts()


class OverdueIssueAnswer(_Answer):
    document_id = _text(**_UUID)
    issuing_agency = _text()
    urgency = _int()
    signed_at = _text(**_TIME)
    issue_by = _text(format="date-time", description="the issue deadline, ISO 8601")
    issued_at = _text(nullable=True, **_TIME)
    overdue_at = _text(nullable=True, **_TIME)
    state = _choice(["signed", "sealed"])
    subject = _text(nullable=True)
    document_type = _text(nullable=True)
    overdue_by_seconds = _int()
    reported = _bool(description="its DocumentIssueOverdue event was recorded")


# -- the registers (Decree 30, Appendix IV), one row schema per kind

_NOTES = ["Đã thu hồi", "Đã bị thay thế"]


class OutgoingRowAnswer(_Answer):
    number_notation = _text(nullable=True)
    document_date = _text(nullable=True, **_DATE)
    type_and_subject = _text()
    signer = _text()
    recipients = _text(description="the recipients' names, comma-separated")
    archive_unit = _text(nullable=True)
    copies = _int()
    transfer_date = _text(nullable=True, **_DATE)
    note = _choice(_NOTES, nullable=True)


class IncomingRowAnswer(_Answer):
    arrival_date = _text(nullable=True, **_DATE)
    arrival_number = _int(nullable=True, description="số đến; none for a returned copy")
    author = _text()
    number_notation = _text(nullable=True)
    document_date = _text(nullable=True, **_DATE)
    type_and_subject = _text()
    transfer_date = _text(nullable=True, **_DATE)
    handling_unit = _text(nullable=True)
    note = _text(nullable=True)


class FollowUpRowAnswer(_Answer):
    arrival_number = _int(nullable=True)
    arrival_date = _text(nullable=True, **_DATE)
    author_number_date = _text()
    type_and_subject = _text()
    handling_unit = _text(nullable=True)
    due_date = _text(nullable=True, **_DATE)
    progress = _choice(["Chưa xử lý", "Đã tiếp nhận", "Đã trả lại", "Đã thu hồi"])
    note = _text(nullable=True)


class CopyRowAnswer(_Answer):
    """A line of the agency's copy register (Decree 30 Art. 25-28)."""
    number_notation = _text(description="01/SY-UBND")
    copy_date = _text(**_DATE)
    form = _choice(["Sao y", "Sao lục", "Trích sao"])
    source = _text(description="the copied document's number, date and issuing agency")
    type_and_subject = _text()
    pages = _text(description="Toàn văn, or the pages of a trích sao")
    copied_by = _text()


# -- audit

class AlertAnswer(_Answer):
    kind = _text()
    detail = _text()
    raised_at = _text(**_TIME)


class AuditStatusAnswer(_Answer):
    origin = _text(description="the log's name in its checkpoints")
    verifier_key = _text(description="the key that checks its checkpoints (note format)")
    size = _int(description="entries in the log")
    checkpoint_size = _int()
    checkpoint_age_seconds = _number(nullable=True)
    checkpoint_timestamp = _choice(["stamped", "unstamped"], nullable=True)
    checkpoint_timestamp_label = _text(nullable=True)
    uploaded_size = _int(description="entries in WORM storage")
    entries_not_checkpointed = _int()
    entries_not_in_worm = _int()
    quarantined = _int()
    alerts = fields.List(fields.Nested(AlertAnswer), required=True,
                         metadata={"description": "the latest 20, newest first"})


class TimestampAnswer(_Answer):
    status = _choice(["stamped", "unstamped"])
    label = _text()
    gen_time = _text(required=False, **_TIME)
    tsa = _text(required=False)
    signed_note = _text(required=False)
    token = _text(required=False, **_BASE64)
    tsa_chain = _text(required=False, description="the TSA's chain, PEM")


class LogKeysAnswer(_Answer):
    origin = _text()
    verifier_key = _text()


class BundleEntryAnswer(_Answer):
    leaf_index = _int()
    leaf_entry = _text(**_BASE64)
    inclusion_path = fields.List(fields.String(metadata=_BASE64), required=True)
    data = fields.Dict(required=True, allow_none=True,
                       metadata={"description": "the event's data, as logged"})


class EvidenceBundleAnswer(_Answer):
    format = _choice(["lienthong-evidence/1"])
    document_id = _text(**_UUID)
    generated_at = _text(**_TIME)
    log = fields.Nested(LogKeysAnswer, required=True)
    checkpoint = _text(description="the signed checkpoint (note), with cosignatures")
    checkpoint_timestamp = fields.Nested(TimestampAnswer, required=True)
    witness_keys = _texts()
    producer_keys = fields.Dict(
        keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.String(
            metadata=_BASE64)), required=True,
        metadata={"description": "each producer's event keys: {producer: {key id: key}}"})
    entries = fields.List(fields.Nested(BundleEntryAnswer), required=True)
    not_yet_covered = _int(description="the document's entries after the checkpoint")


class ErasureOrderedAnswer(_Answer):
    event_id = _text(description="the order's event in the audit log", **_UUID)
    document_id = _text(**_UUID)
    decision = _text(description="the legal decision's number and date")
    reason = _text()
    ordered_by = _text(description="the operator's user id")
    ordered_at = _text(**_TIME)
    entries = _int(description="the log's entries about the document before the order")
    entries_with_data = _int(description="of those, the ones whose data the order destroys"
                                         " (an earlier order's data is kept)")


# -- administration

class GroupDeletedAnswer(_Answer):
    deleted = _int(description="the group id deleted")


class EnrolledAnswer(CertificateAnswer):
    pem = _text(required=False, description="the certificate, PEM (when a public key was"
                                            " given, for the holder to keep)")


class CertificateRequestedAnswer(_Answer):
    request_id = _text(**_UUID)
    state = _choice(["pending"])
    full_name = _text()
    agency = _text()
    key_sha256 = _text()
    event_id = _text(**_UUID)


class CertificateRequestAnswer(_Answer):
    request_id = _text(**_UUID)
    holder = _text()
    agency = _text()
    role = _text()
    full_name = _text()
    csr = _text(description="the PKCS#10 request, PEM")
    key_sha256 = _text()
    state = _choice(["pending", "approved", "rejected"])
    requested_at = _text(**_TIME)
    decided_at = _text(nullable=True, **_TIME)
    decided_by = _text(nullable=True)
    reason = _text(nullable=True)
    serial = _text(nullable=True, description="the certificate issued, once approved")


class RequestApprovedAnswer(CertificateAnswer):
    request_id = _text(**_UUID)
    holder = _text()
    event_id = _text(**_UUID)
    pem = _text()


class RequestRejectedAnswer(_Answer):
    request_id = _text(**_UUID)
    state = _choice(["rejected"])
    reason = _text()
    event_id = _text(**_UUID)


class DeadLetterAnswer(_Answer):
    id = _int()
    consumer = _text()
    event_id = _text(**_UUID)
    error = _text()
    attempts = _int()
    failed_at = _text(**_TIME)
    replayed_at = _text(nullable=True, **_TIME)


class ReplayedAnswer(_Answer):
    id = _int()
    consumer = _text()
    queue = _text(description="the consumer's queue it went back to")


class OpenApiInfoAnswer(_Answer):
    title = _text()
    version = _text()


class OpenApiAnswer(_Answer):
    openapi = _text()
    info = fields.Nested(OpenApiInfoAnswer, required=True)
    paths = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)
