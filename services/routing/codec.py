"""JSON forms of the routing core's state objects, for the projection tables."""

from dataclasses import fields
from datetime import datetime

from services.routing.statuses import DeliveryStatus, RecallRequest, StatusChange


def _encode(value):
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, StatusChange):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def _decode_change(d):
    return StatusChange(**{k: _decode(v) for k, v in d.items()})


def _decode(value):
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    return value


def to_json(state):
    return {f.name: _encode(getattr(state, f.name)) for f in fields(state)}


def status_from_json(d):
    return DeliveryStatus(**{**{k: _decode(v) for k, v in d.items()},
                             "history": tuple(_decode_change(c) for c in d["history"])})


def recall_from_json(d):
    return RecallRequest(**{**{k: _decode(v) for k, v in d.items()},
                            "history": tuple(_decode_change(c) for c in d["history"])})


def change_from_event(data):
    """The ``StatusChange`` a routing event's data holds (``StatusChange.to_dict``)."""
    return StatusChange(
        document_id=data["document_id"], recipient=data["recipient"], code=data["code"],
        previous=data["previous"], at=datetime.fromisoformat(data["at"]), user=data["user"],
        agency=data["agency"], reason=data.get("reason"),
        business_type=data.get("business_type"),
        replacement_document_id=data.get("replacement_document_id"))
