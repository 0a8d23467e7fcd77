"""The event envelope every service writes and every consumer reads.

An :class:`Event` is immutable and carries who did what, when, in which
stream, and why (correlation and causation ids). :func:`canonical_bytes`
gives one byte string per event, identical in every process and Python
version, for hashing and signing: JSON with sorted keys, no whitespace,
UTF-8, and no floats (their text form is not stable across languages).
Its wire schemas, which validate an envelope from outside, are in
``shared.wire``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from shared import clock

ROLES = ("clerk", "leader", "auditor", "admin", "operator", "system")
# Mã định danh: XXX.XX.XX.Ynn, read right to left (Ynn is the top level).
AGENCY_CODE = re.compile(r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9]{2}$")
EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]+$")


def utc_now() -> datetime:
    """The services' time (``shared.clock``): the real time, or in development
    mode the development clock's."""
    return clock.now()


def format_time(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: one text form per instant."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in an event is time-zone aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Actor:
    user_id: str
    agency: str
    role: str

    def to_dict(self) -> dict[str, str]:
        return {"user_id": self.user_id, "agency": self.agency, "role": self.role}


SYSTEM_AGENCY = "000.00.00.G00"


def system_actor(service: str) -> Actor:
    """The actor for what a service does on its own (a delivery, a log append)."""
    return Actor(user_id=f"service:{service}", agency=SYSTEM_AGENCY, role="system")


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    schema_version: int
    stream_id: str
    stream_version: int
    occurred_at: datetime
    producer: str
    actor: Actor
    correlation_id: str
    causation_id: str | None
    data: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    # The producing service's signature over signing_bytes(): {"key_id", "value"}.
    signature: MappingProxyType | None = None
    # Assigned by the store: the event's place in its service's log, in commit
    # order. Not part of the canonical bytes (it is where, not what).
    position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "occurred_at": format_time(self.occurred_at),
            "producer": self.producer,
            "actor": self.actor.to_dict(),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "data": thaw(self.data),
        }

    def to_wire(self) -> dict[str, Any]:
        """What travels on the broker: the envelope, its signature and log position."""
        return {**self.to_dict(), "signature": thaw(self.signature),
                "position": self.position}

    def at(self, stream_version: int, position: int | None = None) -> Event:
        return replace(self, stream_version=stream_version, position=position)


def new_event(event_type: str, data: Mapping[str, Any], *, actor: Actor, producer: str,
              stream_id: str, correlation_id: str | None = None,
              causation: Event | None = None, schema_version: int = 1,
              occurred_at: datetime | None = None, event_id: str | None = None) -> Event:
    """A new event, not yet stored; the store gives it its stream version.

    ``causation`` is the event that caused this one: its id becomes the
    causation id and its correlation id is carried on. Without a cause, the
    event joins the correlation of the request being handled (the one its
    logs carry), when that is a UUID; else it starts its own.
    """
    event_id = event_id or str(uuid.uuid4())
    if causation is not None:
        correlation_id = causation.correlation_id
    elif correlation_id is None:
        correlation_id = _ambient_correlation_id()
    return Event(
        event_id=event_id,
        event_type=event_type,
        schema_version=schema_version,
        stream_id=stream_id,
        stream_version=0,
        occurred_at=occurred_at or utc_now(),
        producer=producer,
        actor=actor,
        correlation_id=correlation_id or event_id,
        causation_id=causation.event_id if causation is not None else None,
        data=_freeze(data),
    )


def _ambient_correlation_id():
    from shared.observability import current_correlation_id  # the framework edge's

    value = current_correlation_id()
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


def _freeze(value):
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists from an event's frozen data."""
    if isinstance(value, (dict, MappingProxyType)):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """Canonical bytes of a JSON value: sorted keys, no spaces, UTF-8, no floats."""
    _reject_floats(value, "$")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_bytes(event: Event) -> bytes:
    return canonical_json(event.to_dict())


def data_digest(data: Any) -> str:
    """SHA-256 (hex) of the data's canonical bytes."""
    return hashlib.sha256(canonical_json(thaw(data))).hexdigest()


def signing_bytes(event: Event) -> bytes:
    """What a producer signs and the audit log's leaf commits to: the envelope
    with its data replaced by the data's SHA-256. Destroying a recalled
    document's data later leaves every signature and proof checkable."""
    content = event.to_dict()
    content["data_sha256"] = data_digest(content.pop("data"))
    return canonical_json(content)


def _reject_floats(value, path):
    if isinstance(value, float):
        raise ValueError(f"{path}: floats have no canonical form; use an integer or a string")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{path}: object keys must be strings")
            _reject_floats(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _reject_floats(v, f"{path}[{i}]")


def event_from_stored(payload: Mapping[str, Any]) -> Event:
    """An envelope a service's own store wrote, loaded without validating it again.

    Every event is validated where it enters (``shared.wire.event_from_dict``
    at the broker and the API) and made by our own code otherwise; re-checking
    each row a service reads back from its own table cost most of a replay's
    time (issue 18). Never use it on bytes from outside the service's database.
    """
    actor = payload["actor"]
    signature = payload.get("signature")
    return Event(
        event_id=payload["event_id"],
        event_type=payload["event_type"],
        schema_version=payload["schema_version"],
        stream_id=payload["stream_id"],
        stream_version=payload["stream_version"],
        occurred_at=datetime.fromisoformat(payload["occurred_at"]).astimezone(timezone.utc),
        producer=payload["producer"],
        actor=Actor(actor["user_id"], actor["agency"], actor["role"]),
        correlation_id=payload["correlation_id"],
        causation_id=payload["causation_id"],
        data=_freeze(payload["data"]),
        signature=_freeze(signature) if signature is not None else None,
        position=payload.get("position"),
    )
