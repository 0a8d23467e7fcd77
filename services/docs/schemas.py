"""Wire schemas of the docs service (marshmallow at the edge only)."""

import json
import unicodedata

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from services.docs.domain import DOCUMENT_TYPES, URGENCY
from shared.envelope import AGENCY_CODE
from shared.errors import ValidationFailed


class RegisterDocumentSchema(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=500))
    document_type = fields.String(required=True, validate=validate.OneOf(
        list(DOCUMENT_TYPES), error="unknown document type; use a Decree 30 code such as QĐ"))
    urgency = fields.Integer(load_default=0, strict=True, validate=validate.OneOf(list(URGENCY)))
    recipients = fields.List(
        fields.String(validate=validate.Regexp(
            AGENCY_CODE, error="not an agency code of the form XXX.XX.XX.Ynn")),
        required=True, validate=validate.Length(min=1, max=1000))

    @pre_load
    def normalise(self, data, **kwargs):
        # Vietnamese text arrives composed or decomposed; store one form (NFC).
        if isinstance(data, dict) and isinstance(data.get("subject"), str):
            data = {**data, "subject": unicodedata.normalize("NFC", data["subject"]).strip()}
        return data


def load_register(raw_bytes):
    try:
        payload = json.loads(raw_bytes)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("metadata: not valid JSON", field="metadata") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("metadata: must be a JSON object", field="metadata")
    try:
        command = RegisterDocumentSchema().load(payload)
    except ValidationError as err:
        raise ValidationFailed.from_marshmallow(err) from None
    if len(set(command["recipients"])) != len(command["recipients"]):
        raise ValidationFailed("recipients: an agency is listed twice", field="recipients")
    return command
