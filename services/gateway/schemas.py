"""Wire schemas of the gateway (marshmallow at the edge only).

The same schemas validate request bodies and describe them in the OpenAPI
document (``openapi.py``).
"""

import json

from marshmallow import Schema, ValidationError, fields, validate

from services.gateway.domain import (DECISION_LENGTH, MIN_PASSWORD_LENGTH, REASON_LENGTH,
                                     ROLES)
from shared.envelope import AGENCY_CODE
from shared.errors import ValidationFailed
from shared.text import check_storable


class _Strict(Schema):
    class Meta:
        ordered = True  # unknown fields are refused (marshmallow's default: RAISE)


class LoginSchema(_Strict):
    user_id = fields.String(required=True, validate=validate.Length(1, 200))
    password = fields.String(required=True, validate=validate.Length(1, 1024))


class PasswordChangeSchema(_Strict):
    old_password = fields.String(required=True, load_only=True,
                                 validate=validate.Length(1, 1024))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(
        MIN_PASSWORD_LENGTH, 1024, error=f"at least {MIN_PASSWORD_LENGTH} characters"))


class TokenSchema(Schema):
    token = fields.String(required=True)
    expires_at = fields.String(required=True, metadata={"description": "UTC, ISO 8601"})


class NewUserSchema(_Strict):
    user_id = fields.String(required=True, validate=validate.Length(1, 200))
    agency = fields.String(required=True, validate=validate.Regexp(
        AGENCY_CODE, error="not an agency code of the form XXX.XX.XX.Ynn"))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    full_name = fields.String(required=True, validate=validate.Length(1, 200))
    password = fields.String(required=True, load_only=True, validate=validate.Length(
        MIN_PASSWORD_LENGTH, 1024, error=f"at least {MIN_PASSWORD_LENGTH} characters"))


class PasswordResetSchema(_Strict):
    password = fields.String(required=True, load_only=True, validate=validate.Length(
        MIN_PASSWORD_LENGTH, 1024, error=f"at least {MIN_PASSWORD_LENGTH} characters"),
        metadata={"description": "the user's new password; their earlier tokens stop"})


class EnrollSchema(_Strict):
    holder = fields.String(required=True, validate=validate.Length(1, 200),
                           metadata={"description": "a user id, or the agency code (its seal)"})
    role = fields.String(required=True, validate=validate.OneOf(["leader", "clerk", "agency"]))
    full_name = fields.String(required=True, validate=validate.Length(1, 200))
    public_key = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(1, 20000),
                               metadata={"description": "PEM of a key only the holder has"
                                         " (their token); without it the platform keeps one"})


class CertificateRequestSchema(_Strict):
    csr = fields.String(required=True, validate=validate.Length(1, 20000),
                        metadata={"description": "the PKCS#10 request (PEM) the token made,"
                                  " signed by its key"})


class RejectionSchema(_Strict):
    reason = fields.String(required=True, validate=validate.Length(1, 2000),
                           metadata={"description": "why the request is rejected"})


class ErasureSchema(_Strict):
    document_id = fields.UUID(required=True, metadata={
        "description": "the document whose data the audit log destroys"})
    decision = fields.String(required=True, validate=validate.Length(1, DECISION_LENGTH),
                             metadata={"description": "the number and date of the legal"
                                       " decision, e.g. 12/QĐ-UBND ngày 01/12/2026"})
    reason = fields.String(required=True, validate=validate.Length(1, REASON_LENGTH),
                           metadata={"description": "the legal reason (lý do), kept in the"
                                     " log with the decision"})


class RevocationSchema(_Strict):
    reason = fields.String(load_default="keyCompromise", validate=validate.Length(1, 100),
                           metadata={"description": "an RFC 5280 reason, e.g. keyCompromise,"
                                     " affiliationChanged, superseded, cessationOfOperation"})


class DirectoryChangesSchema(_Strict):
    changes = fields.List(fields.Dict(), required=True, validate=validate.Length(1, 1000),
                          metadata={"description": "dated changes (op: create, rename, move,"
                                    " merge, split, dissolve; on: yyyy-mm-dd), all or none"})


class UserSchema(Schema):
    user_id = fields.String(required=True)
    agency = fields.String(required=True)
    role = fields.String(required=True)
    full_name = fields.String(required=True)
    created_at = fields.String(required=True)


class SubmitSchema(_Strict):
    signer_user = fields.String(required=True, validate=validate.Length(1, 200),
                                metadata={"description": "user id of the leader who signs"})


class CompleteSignatureSchema(_Strict):
    signature = fields.String(required=True, validate=validate.Length(1, 20000),
                              metadata={"description": "the token's signature, base64 DER"})
    certificate = fields.String(required=True, validate=validate.Length(1, 20000),
                                metadata={"description": "the leader's certificate, PEM"})


class RemoteSignatureSchema(_Strict):
    otp = fields.String(required=True, load_only=True, validate=validate.Length(1, 64),
                        metadata={"description": "the code of the leader's second factor at"
                                  " their remote signing service (OTP)"})


class CopySchema(_Strict):
    """A copy (Decree 30 Art. 25-28): its form, the pages of a trích sao, the sao y
    a sao lục is made from, a recipient's own abbreviation for the notation."""
    form = fields.String(required=True, validate=validate.OneOf(["SY", "SL", "TrS"]),
                         metadata={"description": "SY sao y, SL sao lục, TrS trích sao"})
    pages = fields.List(fields.Integer(validate=validate.Range(1, 10000)),
                        load_default=None, validate=validate.Length(1, 1000),
                        metadata={"description": "TrS only: the pages copied, from 1"})
    source_copy = fields.UUID(load_default=None,
                              metadata={"description": "SL only: the sao y copied"})
    agency_abbreviation = fields.String(load_default=None, validate=validate.Length(1, 20),
                                        metadata={"description": "the copying agency's"
                                                  " abbreviation (a recipient's: required)"})


class CommentSchema(_Strict):
    comment = fields.String(required=True, validate=validate.Length(1, 2000))


class AcceptSchema(_Strict):
    # "Đơn vị hoặc người nhận" of the incoming register: to whom it is passed on.
    handed_to = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(1, 200))


class ReasonSchema(_Strict):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class StatusSchema(_Strict):
    code = fields.String(required=True, validate=validate.OneOf(["02", "03", "04", "05", "06"]))
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(1, 2000))


class SendSchema(_Strict):
    addressing = fields.Dict(required=True, metadata={
        "description": '{"agencies": [...]}, {"subtree": code, "level": n} or'
                       ' {"parents_of": code}'})
    consignment_id = fields.String(required=True, validate=validate.Length(1, 200))


class RecallSchema(_Strict):
    business_type = fields.Integer(required=True, validate=validate.OneOf([1, 2, 3]),
                                   metadata={"description": "1 revoke, 2 update, 3 replace"})
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(1, 2000))


class RecallAnswerSchema(_Strict):
    agree = fields.Boolean(required=True)
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(1, 2000))


class AgencyItemSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)
    parent = fields.String(required=True, allow_none=True)
    valid_from = fields.String(required=True, metadata={"description": "yyyy-mm-dd"})
    valid_to = fields.String(required=True, allow_none=True)
    successors = fields.List(fields.String(), required=True)
    has_children = fields.Boolean(required=True, metadata={
        "description": "agencies are under it (browse them with parent=code)"})


class DirectoryPageSchema(Schema):
    items = fields.List(fields.Nested(AgencyItemSchema), required=True)
    total = fields.Integer(required=True, metadata={"description": "matches in all"})
    page = fields.Integer(required=True)
    size = fields.Integer(required=True)
    names = fields.Dict(required=True, metadata={
        "description": "the name of each listed agency's parent (and of parent=), by code"})


class RecipientGroupSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(1, 100), metadata={
        "description": "the group's name; saving under a name the agency uses replaces it"})
    recipients = fields.List(fields.String(validate=validate.Regexp(
        AGENCY_CODE, error="not an agency code of the form XXX.XX.XX.Ynn")),
        required=True, validate=validate.Length(1, 1000),
        metadata={"description": "agency codes the directory knows today"})


class RecipientGroupAnswerSchema(Schema):
    group_id = fields.Integer(required=True)
    name = fields.String(required=True)
    recipients = fields.List(fields.String(), required=True)
    saved_by = fields.String(required=True)
    saved_at = fields.String(required=True, metadata={"description": "ISO 8601"})


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    field = fields.String(required=True, allow_none=True)
    errors = fields.Dict(metadata={"description": "every field's messages (validation)"})
    retry_after = fields.Integer(metadata={"description": "seconds to wait (429, as the"
                                           " Retry-After header)"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class EdxmlSchema(_Strict):
    package = fields.String(required=True, validate=validate.Length(min=1), metadata={
        "description": "an edXML package (QCVN 102:2016), the XML bytes base64-encoded"})


class EdxmlAnswerSchema(Schema):
    package = fields.String(required=True, metadata={"description": "base64 edXML"})


class UrlSchema(Schema):
    url = fields.String(required=True)


def load(schema_class, raw_body):
    """The request body (bytes of JSON) loaded by ``schema_class``, or ValidationFailed."""
    try:
        data = json.loads(raw_body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("request: the body is not JSON", field="body") from None
    if not isinstance(data, dict):
        raise ValidationFailed("request: the body must be a JSON object", field="body")
    check_storable(data)
    try:
        return schema_class().load(data)
    except ValidationError as err:
        raise ValidationFailed.from_marshmallow(err) from None
