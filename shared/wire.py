"""The envelope's wire schemas (marshmallow): an event from outside a service
(the broker, the API) is loaded and validated here, every field checked and a
refusal naming the field (:func:`event_from_dict`)."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from shared.envelope import (AGENCY_CODE, EVENT_TYPE, ROLES, Actor, Event, _freeze,
                             canonical_bytes)
from shared.errors import ValidationFailed


class ActorSchema(Schema):
    user_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    agency = fields.String(required=True, validate=validate.Regexp(
        AGENCY_CODE, error="not an agency code of the form XXX.XX.XX.Ynn"))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Actor:
        return Actor(**data)


class SignatureSchema(Schema):
    key_id = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{16}$"))
    value = fields.String(required=True, validate=validate.Length(min=1, max=200))


class EventSchema(Schema):
    """Validates an envelope at every boundary (broker in, database out)."""

    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True, validate=validate.Regexp(
        EVENT_TYPE, error="event types are PastTense CamelCase names"))
    schema_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    stream_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    stream_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    producer = fields.String(required=True, validate=validate.Length(min=1, max=50))
    actor = fields.Nested(ActorSchema, required=True)
    correlation_id = fields.UUID(required=True)
    causation_id = fields.UUID(required=True, allow_none=True)
    data = fields.Dict(keys=fields.String(), required=True)
    signature = fields.Nested(SignatureSchema, allow_none=True, load_default=None)
    position = fields.Integer(strict=True, allow_none=True, load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Event:
        data["event_id"] = str(data["event_id"])
        data["correlation_id"] = str(data["correlation_id"])
        if data["causation_id"] is not None:
            data["causation_id"] = str(data["causation_id"])
        data["occurred_at"] = data["occurred_at"].astimezone(timezone.utc)
        data["data"] = _freeze(data["data"])
        data["signature"] = _freeze(data["signature"])
        return Event(**data)


_event_schema = EventSchema()


def event_from_dict(payload: Any) -> Event:
    """Load and validate an envelope; raises :class:`ValidationFailed` naming the field."""
    try:
        event = _event_schema.load(payload)
    except ValidationError as err:
        raise ValidationFailed.from_marshmallow(err) from None
    try:
        canonical_bytes(event)
    except ValueError as err:
        raise ValidationFailed(str(err), field="data") from None
    return event
