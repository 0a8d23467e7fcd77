"""Wire schemas of the docs service (marshmallow at the edge only)."""

import json
import re
import unicodedata
from datetime import date

from marshmallow import (
    Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema,
)

from services.docs.domain import SECRECY, STEERING, URGENCY
from shared.documents import DOCUMENT_TYPES
from shared.envelope import AGENCY_CODE
from shared.errors import ValidationFailed
from shared.signers import COMPETENCES, authority_lines
from shared.text import check_storable

ABBREVIATION = re.compile(r"^[A-ZĐ][A-Za-zĐđ0-9&]{0,19}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_ATTACHMENTS = 20


def _agency(**kwargs):
    return fields.String(validate=validate.Regexp(
        AGENCY_CODE, error="not an agency code of the form XXX.XX.XX.Ynn"), **kwargs)


def _abbreviation(**kwargs):
    return fields.String(validate=validate.Regexp(
        ABBREVIATION, error="an abbreviation such as UBND or VP (letters and digits)"),
        **kwargs)


def _nfc(value):
    return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


class _Text(Schema):
    """Vietnamese text arrives composed or decomposed; keep one form (NFC), trimmed."""

    @pre_load
    def normalise(self, data, **kwargs):
        if isinstance(data, dict):
            data = {k: _nfc(v) for k, v in data.items()}
        return data


class SignerSchema(_Text):
    competence = fields.String(load_default="", validate=validate.OneOf(
        COMPETENCES, error="one of TM., Q., KT., TL., TUQ. or empty (signs directly)"))
    # Whom a TM./KT./TL./TUQ. signature is for: "Ủy ban nhân dân", "Chủ tịch", ...
    on_behalf_of = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    # Under TM. or TL., the head a deputy signs KT. for: "Chủ tịch" (Art. 13).
    deputy_for = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    position = fields.String(required=True, validate=validate.Length(min=1, max=200))
    full_name = fields.String(required=True, validate=validate.Length(min=1, max=100))

    @validates_schema
    def lines_by_the_rule(self, data, **kwargs):
        try:  # the rule the PDF appearance and edXML's Competence follow too
            authority_lines(data.get("competence", ""), data.get("on_behalf_of"),
                            data.get("deputy_for"))
        except ValidationFailed as err:
            raise ValidationError(err.message.split(": ", 1)[-1],
                                  field_name=err.field) from None

    @post_load
    def deputy_only_if_named(self, data, **kwargs):
        if data.get("deputy_for") is None:
            data.pop("deputy_for", None)
        return data


class ResponseForSchema(_Text):
    issuing_agency = _agency(required=True)
    number_notation = fields.String(required=True, validate=validate.Length(min=3, max=60))
    document_date = fields.Date(required=True)


class DeclaredFileSchema(Schema):
    sha256 = fields.String(required=True, validate=validate.Regexp(
        SHA256_HEX, error="64 lower-case hexadecimal digits"))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class RegisterDocumentSchema(_Text):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=500))
    document_type = fields.String(required=True, validate=validate.OneOf(
        list(DOCUMENT_TYPES), error="unknown document type; use a Decree 30 code such as QĐ"))
    urgency = fields.Integer(load_default=0, strict=True, validate=validate.OneOf(list(URGENCY)))
    secrecy = fields.Integer(load_default=0, strict=True, validate=validate.OneOf(list(SECRECY)))
    steering_type = fields.Integer(load_default=0, strict=True,
                                   validate=validate.OneOf(list(STEERING)))
    due_date = fields.Date(load_default=None)
    agency_abbreviation = _abbreviation(required=True)
    drafting_unit = fields.String(load_default=None, validate=validate.Length(max=200))
    drafting_unit_abbreviation = _abbreviation(load_default=None)
    signer = fields.Nested(SignerSchema, required=True)
    recipients = fields.List(_agency(), load_default=list, validate=validate.Length(max=1000))
    response_for = fields.List(fields.Nested(ResponseForSchema), load_default=list,
                               validate=validate.Length(max=50))
    appendices = fields.List(fields.String(validate=validate.Length(min=1, max=500)),
                             load_default=list, validate=validate.Length(max=50))
    page_count = fields.Integer(load_default=1, strict=True,
                                validate=validate.Range(min=1, max=100_000))
    language = fields.String(load_default="vi", validate=validate.Regexp(
        r"^[a-z]{2}$", error="a two-letter language code such as vi"))
    amends = fields.UUID(load_default=None)
    replaces = fields.UUID(load_default=None)
    files = fields.List(fields.Nested(DeclaredFileSchema), load_default=None,
                        validate=validate.Length(min=1, max=MAX_ATTACHMENTS + 1))


def load_json_object(raw_bytes, field):
    try:
        payload = json.loads(raw_bytes)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(f"{field}: not valid JSON", field=field) from None
    if not isinstance(payload, dict):
        raise ValidationFailed(f"{field}: must be a JSON object", field=field)
    return check_storable(payload)


def load_register(raw_bytes):
    payload = load_json_object(raw_bytes, "metadata")
    try:
        command = RegisterDocumentSchema().load(payload)
    except ValidationError as err:
        raise ValidationFailed.from_marshmallow(err) from None
    if len(set(command["recipients"])) != len(command["recipients"]):
        raise ValidationFailed("recipients: an agency is listed twice", field="recipients")
    if command["amends"] and command["replaces"]:
        raise ValidationFailed("replaces: a document amends or replaces another, not both",
                               field="replaces")
    for key in ("amends", "replaces"):
        if command[key] is not None:
            command[key] = str(command[key])
    return command


def check_declared(declared, index, stored):
    """A file's SHA-256 and size must be what the metadata declared for it."""
    if declared is None:
        return
    field = "file" if index == 0 else f"attachments.{index - 1}"
    if index >= len(declared):
        raise ValidationFailed(f"files: {field} was uploaded but not declared", field="files")
    want = declared[index]
    if stored.size != want["size"]:
        raise ValidationFailed(f"{field}: {stored.size} bytes arrived, {want['size']} were"
                               " declared", field=field)
    if stored.sha256 != want["sha256"]:
        raise ValidationFailed(f"{field}: its SHA-256 is {stored.sha256}, not the declared"
                               f" {want['sha256']}", field=field)


def file_name(name, index):
    """The name a file part gave, made safe; a default if it gave none."""
    name = (name or "").strip().replace("/", "_")[:200]
    return name or ("main.pdf" if index == 0 else f"attachment-{index}")


def year_or_none(value, field="year"):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field}: a year such as 2026", field=field) from None


def date_or_none(value, field):
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{field}: a date such as 2026-01-31", field=field) from None
