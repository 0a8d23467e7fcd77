"""What each event carries that its consumers rely on: one schema per type.

``shared.catalogue`` says who produces each event type; this module says what
its data must hold for the services that consume it (``shared.topology``).
A field is *required* when a consumer reads it without a default (it would
fail, or do the wrong thing, without it); *optional* when a consumer reads it
only if present. Each field has a type. Producers may send more (the audit
log keeps the whole event), so unknown fields are let through.

A consumer checks an event against its type's schema at its edge
(``ServiceEvents.handle_once`` through :func:`data_problem`): an event whose
producer dropped a field is quarantined with the field's name, not applied,
and not left to fail deep in a handler.

``tests/unit/test_event_schemas.py`` checks that every catalogued type has a
schema, that each consumer's reads (found in its code) are declared, that
the producers' domain functions make events that pass, and that the table in
``docs/architecture.md`` is :func:`catalogue_table`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from marshmallow import INCLUDE, Schema, fields

from shared.catalogue import CATALOGUE, producer_of
from shared.topology import ALL, SUBSCRIPTIONS


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class StoredFileData(_Open):
    """A file as stored in the bucket (``shared.objectstore.StoredObject.to_dict``)."""

    key = fields.String(required=True)
    sha256 = fields.String(required=True)
    version_id = fields.String(allow_none=True)
    size = fields.Integer()


# Field makers, each a fresh marshmallow field (fields are not shared between schemas).
def _id() -> fields.Field:
    return fields.UUID()


def _text() -> fields.Field:
    return fields.String()


def _int() -> fields.Field:
    return fields.Integer(strict=True)


def _codes() -> fields.Field:
    return fields.List(fields.String())


def _changes() -> fields.Field:
    return fields.List(fields.Dict())


def _file() -> fields.Field:
    return fields.Nested(StoredFileData)


def _files() -> fields.Field:
    return fields.List(fields.Nested(StoredFileData))


def _object() -> fields.Field:
    return fields.Dict()


def _any() -> fields.Field:
    return fields.Raw()


@dataclass(frozen=True)
class EventData:
    """The data of one event type: the fields consumers rely on, and who reads them.

    ``needs`` names, for a consumer that relies on fewer fields than
    ``required`` lists, the ones it does rely on: it refuses an event only
    for those (signing does not refuse a ``DocumentIssued`` for lacking the
    subject only routing's edXML needs).
    """

    required: Mapping[str, Any]
    optional: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def fields(self) -> set[str]:
        return set(self.required) | set(self.optional)

    def required_by(self, consumer: str | None) -> tuple[str, ...]:
        return tuple(self.needs.get(consumer, self.required)) if consumer else \
            tuple(self.required)

    def schema(self, name: str, consumer: str | None = None) -> Schema:
        wanted = self.required_by(consumer)
        makers = {**self.optional, **self.required}
        declared = {}
        for k, make in makers.items():
            made = make()
            made.required, made.allow_none = k in wanted, k not in wanted
            declared[k] = made
        return _Open.from_dict(declared, name=f"{name}Data")()


_DOCUMENT = {"document_id": _id}
_REQUEST = {"request_id": _id, "holder": _text, "agency": _text}
# Read by the audit log only, which keeps every authentic event whole and files
# it under its document_id when it has one (it reads the rest with defaults).
AUDIT_ONLY = "audit only"

DATA: Mapping[str, EventData] = MappingProxyType({
    # -- docs --
    "DocumentRegistered": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "ExternalDocumentRecorded": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "DocumentRevised": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "DocumentSubmitted": EventData(
        {**_DOCUMENT, "issuing_agency": _text, "sha256": _text, "signer_user": _text,
         "signer": _object, "round": _int, "file": _file, "attachments": _files},
        note="signing keeps the document to approve, this round"),
    "DocumentNumbered": EventData(
        {**_DOCUMENT, "number_notation": _text, "numbered_at": _text},
        {"issuing_agency": _text, "number": _int, "series": _text, "year": _int,
         "place": _text},
        note="signing writes the number, the place and the date on the page under the"
             " agency's signature (Decree 30 Art. 14)"),
    "DocumentIssued": EventData(
        {**_DOCUMENT, "issuing_agency": _text, "recipients": _codes, "file": _file,
         "urgency": _int, "secrecy": _int, "number_notation": _text, "issued_at": _text,
         "document_type": _text, "subject": _text},
        {"attachments": _files, "signer": _object, "due_date": _text, "page_count": _int,
         "appendices": _any, "steering_type": _any, "origin": _text, "traces": _any},
        note="routing sends it (and builds its edXML); signing seals the appendices"
             " with the number",
        needs={"signing.on_document_issued": ("document_id", "number_notation")}),
    "DocumentStateChanged": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "IncomingRegistered": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "IncomingAccepted": EventData({**_DOCUMENT, "agency": _text}, {"reason": _text},
                                  note="routing reports status 03 to the sender"),
    "IncomingReturned": EventData({**_DOCUMENT, "agency": _text}, {"reason": _text},
                                  note="routing reports status 02, with the reason"),
    "IncomingWithdrawn": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "IssueOverdue": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    # a copy (SY, SL, TrS) made and registered by the copying agency's clerk
    "DocumentCopied": EventData({}, {**_DOCUMENT, "copy_id": _id, "number_notation": _text,
                                     "file": _file}, note=AUDIT_ONLY),
    # -- signing --
    "DocumentSigned": EventData({**_DOCUMENT, "signed_file": _file},
                                note="docs: signed, the signed PDF becomes the file"),
    "DocumentReturned": EventData(_DOCUMENT, note="docs: back to the drafting clerk"),
    "DocumentSealed": EventData({**_DOCUMENT, "sealed_file": _file},
                                note="docs: sealed, the sealed PDF becomes the file"),
    "DocumentFinalized": EventData(
        {**_DOCUMENT, "attachments": _files, "sealed_file": _file, "agency": _text},
        note="docs keeps the sealed appendices; routing checks the seal covers the"
             " issued file, then sends",
        needs={"docs.on_document_finalized": ("document_id", "attachments")}),
    # Enrolment (services/signing/enrolment.py): the audit log keeps who asked a
    # certificate for which key, and who approved or rejected it.
    "CertificateRequested": EventData({}, _REQUEST, note=AUDIT_ONLY),
    "CertificateRequestApproved": EventData({}, {**_REQUEST, "serial": _text},
                                            note=AUDIT_ONLY),
    "CertificateRequestRejected": EventData({}, {**_REQUEST, "reason": _text},
                                            note=AUDIT_ONLY),
    # -- routing --
    "ConsignmentSent": EventData({**_DOCUMENT, "new_recipients": _codes},
                                 {"document": _object},
                                 note="docs registers the arrivals (and keeps a document"
                                      " from outside)"),
    "DocumentDelivered": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "DeliveryRefused": EventData({**_DOCUMENT, "reason": _text},
                                 note="docs marks the document undeliverable and shows"
                                      " its sender the reason"),
    "DeliveryOverdue": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "DirectoryChanged": EventData({"changes": _changes},
                                  note="docs keeps a copy of the agency directory: recipients"
                                       " checked at registration, names in the registers"),
    "StatusReported": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    "RecallRequested": EventData(_DOCUMENT, {"business_type": _any},
                                 note="docs: a revoking recall withdraws the document"),
    "RecallAnswered": EventData({**_DOCUMENT, "recipient": _text},
                                {"code": _text, "business_type": _any},
                                note="docs: an agreed revoking recall withdraws the copy"),
    "ExternalDocumentReceived": EventData({}, _DOCUMENT, note=AUDIT_ONLY),
    # -- gateway --
    "LoginFailed": EventData({}, note=AUDIT_ONLY),
    "LoginFailuresSummarised": EventData({}, note=AUDIT_ONLY),
    "RequestDenied": EventData({}, note=AUDIT_ONLY),
    "DocumentDataErasureOrdered": EventData(
        {**_DOCUMENT, "decision": _text, "reason": _text},
        note="audit destroys the data of the document's earlier entries (the leaves,"
             " hashes only, stay); the order keeps its decision and reason"),
})

_SCHEMAS: dict[tuple[str, str | None], Schema] = {}


def schema_of(event_type: str, consumer: str | None = None) -> Schema | None:
    """The schema ``consumer`` (``service.method``; None: every consumer) checks
    ``event_type``'s data with."""
    spec = DATA.get(event_type)
    if spec is None:
        return None
    key = (event_type, consumer if consumer in spec.needs else None)
    if key not in _SCHEMAS:
        _SCHEMAS[key] = spec.schema(event_type, key[1])
    return _SCHEMAS[key]


def data_problem(event_type: str, data: Any, consumer: str | None = None) -> str | None:
    """Why ``data`` does not hold what ``event_type``'s consumers (or ``consumer``)
    rely on (None: it does), naming each field:
    ``data.signed_file: Missing data for required field.``"""
    schema = schema_of(event_type, consumer)
    if schema is None:
        return f"event type {event_type} has no schema in shared/events.py"
    if not isinstance(data, Mapping):
        return f"data: {event_type} data must be an object"
    errors = schema.validate(_plain(data))
    if not errors:
        return None
    return "; ".join(f"data.{name}: {_text_of(message)}"
                     for name, message in sorted(errors.items()))


def _plain(value: Any) -> Any:
    """Frozen mappings and tuples (``shared.envelope``) as dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _text_of(message: Any) -> str:
    if isinstance(message, list):
        return " ".join(_text_of(m) for m in message)
    if isinstance(message, dict):
        return "; ".join(f"{k}: {_text_of(v)}" for k, v in sorted(message.items(),
                                                                    key=lambda kv: str(kv[0])))
    return str(message)


def consumers_of(event_type: str) -> list[str]:
    """``service.method`` of every subscription that receives ``event_type``."""
    source = producer_of(event_type)
    return [f"{s.consumer}.{s.method}" for s in SUBSCRIPTIONS
            if s.source == source and s.event_type in (event_type, ALL)]


def catalogue_table() -> str:
    """The catalogue as a Markdown table (printed in docs/architecture.md)."""
    lines = ["| event type | producer | consumers | required data | optional data |",
             "|---|---|---|---|---|"]
    for event_type, producer in CATALOGUE.items():
        spec = DATA[event_type]
        consumers = ", ".join(
            f"`{c}`" + (f" ({', '.join(spec.needs[c])})" if c in spec.needs else "")
            for c in consumers_of(event_type))
        lines.append(f"| `{event_type}` | {producer} | {consumers} |"
                     f" {', '.join(spec.required) or '—'} |"
                     f" {', '.join(spec.optional) or '—'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m shared.events: the table for docs/architecture.md
    print(catalogue_table(), end="")
