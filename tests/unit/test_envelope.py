"""shared.envelope: ids, canonical bytes; shared.wire: validation at the boundary."""

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import pytest

from shared.envelope import (
    Actor, Event, canonical_bytes, canonical_json, event_from_stored, new_event,
)
from shared.errors import ValidationFailed
from shared.wire import event_from_dict

CLERK = Actor("u1", "000.00.00.H41", "clerk")


def _event(data=None, **kwargs):
    return new_event("DocumentRegistered", data if data is not None else {"subject": "Công văn"},
                     actor=CLERK, producer="docs", stream_id="document-1", **kwargs)


def _stored(data=None, **kwargs):
    return _event(data, **kwargs).at(1, 1)


# -- new_event ---------------------------------------------------------------

def test_new_event_without_causation_starts_a_correlation_of_its_own():
    event = _event()
    assert str(uuid.UUID(event.event_id)) == event.event_id
    assert event.correlation_id == event.event_id
    assert event.causation_id is None
    assert event.stream_version == 0 and event.position is None
    assert event.occurred_at.tzinfo is not None


def test_new_event_gives_each_event_a_distinct_id():
    assert len({_event().event_id for _ in range(50)}) == 50


def test_new_event_with_causation_carries_its_correlation_and_names_it_as_cause():
    first = _event()
    second = _event(causation=first)
    third = new_event("DocumentDelivered", {}, actor=CLERK, producer="routing",
                      stream_id="delivery-1", causation=second)
    assert second.causation_id == first.event_id
    assert second.correlation_id == first.correlation_id
    assert third.causation_id == second.event_id
    assert third.correlation_id == first.event_id
    assert third.event_id not in (first.event_id, second.event_id)


def test_new_event_causation_overrides_an_explicit_correlation_id():
    cause = _event()
    event = _event(causation=cause, correlation_id=str(uuid.uuid4()))
    assert event.correlation_id == cause.correlation_id


def test_new_event_keeps_an_explicit_correlation_id_when_there_is_no_cause():
    correlation = str(uuid.uuid4())
    assert _event(correlation_id=correlation).correlation_id == correlation


def test_new_event_data_is_frozen_and_detached_from_the_callers_dict():
    data = {"recipients": ["000.00.00.H42"], "file": {"size": 1}}
    event = _event(data)
    data["recipients"].append("000.00.00.H43")
    data["file"]["size"] = 2
    assert isinstance(event.data, MappingProxyType)
    assert event.data["recipients"] == ("000.00.00.H42",)
    assert event.data["file"]["size"] == 1
    with pytest.raises(TypeError):
        event.data["new"] = 1


# -- canonical bytes -----------------------------------------------------------

def test_canonical_bytes_known_answer():
    event = Event(
        event_id="11111111-1111-4111-8111-111111111111",
        event_type="DocumentRegistered",
        schema_version=1,
        stream_id="document-abc",
        stream_version=1,
        # 03:04:05.000006 in Hà Nội (UTC+7) is the previous day in UTC.
        occurred_at=datetime(2024, 3, 5, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=7))),
        producer="docs",
        actor=Actor("u1", "000.00.00.H41", "clerk"),
        correlation_id="22222222-2222-4222-8222-222222222222",
        causation_id=None,
        data={"subject": "Quyết định", "n": 3, "tags": ["a", "b"], "ok": True, "none": None,
              "b": 1, "B": 2, "é": 3},
        position=99,
    )
    expected = (
        '{"actor":{"agency":"000.00.00.H41","role":"clerk","user_id":"u1"},'
        '"causation_id":null,'
        '"correlation_id":"22222222-2222-4222-8222-222222222222",'
        '"data":{"B":2,"b":1,"n":3,"none":null,"ok":true,"subject":"Quyết định",'
        '"tags":["a","b"],"é":3},'
        '"event_id":"11111111-1111-4111-8111-111111111111",'
        '"event_type":"DocumentRegistered",'
        '"occurred_at":"2024-03-04T20:04:05.000006Z",'
        '"producer":"docs",'
        '"schema_version":1,'
        '"stream_id":"document-abc",'
        '"stream_version":1}'
    ).encode("utf-8")
    assert canonical_bytes(event) == expected


def test_canonical_bytes_sorts_keys_and_has_no_whitespace():
    raw = canonical_json({"b": {"y": 1, "x": [1, 2]}, "a": "text with spaces"})
    assert raw == b'{"a":"text with spaces","b":{"x":[1,2],"y":1}}'


def test_canonical_bytes_keep_vietnamese_as_utf8_not_escapes():
    subject = "Quyết định về việc điều động cán bộ"
    raw = canonical_bytes(_event({"subject": subject}))
    assert subject.encode("utf-8") in raw
    assert b"\\u" not in raw
    assert json.loads(raw.decode("utf-8"))["data"]["subject"] == subject


def test_canonical_bytes_do_not_depend_on_insertion_order():
    a = _event({"x": 1, "y": {"p": 1, "q": 2}}, event_id=str(uuid.uuid4()))
    b = Event(**{**a.__dict__, "data": MappingProxyType({"y": {"q": 2, "p": 1}, "x": 1})})
    assert canonical_bytes(a) == canonical_bytes(b)


def test_canonical_bytes_leave_out_the_log_position():
    event = _stored()
    assert canonical_bytes(event) == canonical_bytes(event.at(1, 12345))
    assert b"position" not in canonical_bytes(event)


def test_canonical_bytes_identical_after_wire_round_trip():
    event = new_event(
        "DocumentRegistered",
        {"subject": "Tờ trình số 12", "recipients": ["000.00.00.H42", "000.00.01.H42"],
         "file": {"sha256": "ab" * 32, "size": 1024, "version_id": None}, "urgency": 3},
        actor=CLERK, producer="docs", stream_id="document-9",
        occurred_at=datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=7))),
    ).at(1, 7)
    wire = json.loads(json.dumps(event.to_wire(), ensure_ascii=False))
    loaded = event_from_dict(wire)
    assert canonical_bytes(loaded) == canonical_bytes(event)
    assert loaded.position == 7
    assert loaded.occurred_at == event.occurred_at
    assert loaded.occurred_at.utcoffset() == timedelta(0)


def test_canonical_bytes_of_a_caused_event_survive_the_round_trip():
    cause = _stored()
    event = _event(causation=cause).at(2, 2)
    loaded = event_from_dict(event.to_wire())
    assert loaded.causation_id == cause.event_id
    assert canonical_bytes(loaded) == canonical_bytes(event)


@pytest.mark.parametrize("data, path", [
    ({"amount": 1.5}, "$.data.amount"),
    ({"file": {"size": 2.0}}, "$.data.file.size"),
    ({"values": [1, 2, 0.5]}, "$.data.values[2]"),
])
def test_canonical_bytes_reject_floats_naming_the_path(data, path):
    with pytest.raises(ValueError) as err:
        canonical_bytes(_event(data))
    assert str(err.value).startswith(f"{path}:")
    assert "float" in str(err.value)


def test_canonical_json_rejects_a_top_level_float():
    with pytest.raises(ValueError, match=r"^\$:"):
        canonical_json(1.0)


def test_canonical_json_rejects_non_string_keys():
    with pytest.raises(ValueError, match="keys must be strings"):
        canonical_json({"a": {1: "x"}})


def test_canonical_bytes_refuse_a_naive_time():
    event = Event(**{**_stored().__dict__, "occurred_at": datetime(2024, 1, 1)})
    with pytest.raises(ValueError, match="naive"):
        canonical_bytes(event)


_CHILD = """
import json, sys
from shared.envelope import canonical_json
keys = json.loads(sys.stdin.read())
value = {k: {"nested": {k2: [k, len(k2)] for k2 in set(keys)}} for k in set(keys)}
sys.stdout.write(json.dumps(list(value)) + "\\n")
sys.stdout.flush()
sys.stdout.buffer.write(canonical_json(value))
"""


def _child(seed, keys):
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    result = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(keys).encode(),
                            capture_output=True, env=env, timeout=60, check=True)
    order, _, raw = result.stdout.partition(b"\n")
    return json.loads(order), raw


def test_canonical_bytes_are_identical_across_processes_with_different_hash_seeds():
    keys = ["điều", "động", "cán", "bộ", "văn", "thư", "lãnh", "đạo"] + [f"k{i}" for i in range(24)]
    order_1, raw_1 = _child(1, keys)
    order_2, raw_2 = _child(2, keys)
    # The two processes built their dicts in different orders (set iteration
    # depends on the hash seed), so equal bytes mean the sort did its job.
    assert order_1 != order_2
    assert raw_1 == raw_2
    # The same value built here, in this process's order: the same bytes.
    here = canonical_json({k: {"nested": {k2: [k, len(k2)] for k2 in reversed(keys)}}
                           for k in keys})
    assert here == raw_1


# -- event_from_dict -----------------------------------------------------------

def _wire(**changes):
    payload = _stored({"subject": "Công văn"}).to_wire()
    for path, value in changes.items():
        target = payload
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return payload


_DELETE = object()


def test_event_from_dict_accepts_a_valid_envelope():
    event = event_from_dict(_wire())
    assert event.actor == CLERK
    assert event.data["subject"] == "Công văn"


@pytest.mark.parametrize("missing", [
    "event_id", "event_type", "schema_version", "stream_id", "stream_version",
    "occurred_at", "producer", "actor", "correlation_id", "causation_id", "data",
])
def test_event_from_dict_names_a_missing_field(missing):
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(**{missing: _DELETE}))
    assert err.value.field == missing


@pytest.mark.parametrize("missing", ["user_id", "agency", "role"])
def test_event_from_dict_names_a_missing_actor_field(missing):
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(**{f"actor__{missing}": _DELETE}))
    assert err.value.field == f"actor.{missing}"


@pytest.mark.parametrize("agency", ["000.00.00.h41", "000.00.00.H4", "00.00.00.H41",
                                    "000-00-00-H41", "000.00.00.141", "", "000.00.00.H41 "])
def test_event_from_dict_rejects_a_bad_agency_code(agency):
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(actor__agency=agency))
    assert err.value.field == "actor.agency"


@pytest.mark.parametrize("role", ["king", "Clerk", "", None])
def test_event_from_dict_rejects_an_unknown_role(role):
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(actor__role=role))
    assert err.value.field == "actor.role"


def test_event_from_dict_rejects_a_naive_datetime():
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(occurred_at="2024-03-05T01:09:10.123456"))
    assert err.value.field == "occurred_at"


@pytest.mark.parametrize("field", ["event_id", "correlation_id", "causation_id"])
def test_event_from_dict_rejects_an_id_that_is_not_a_uuid(field):
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(**{field: "not-a-uuid"}))
    assert err.value.field == field


def test_event_from_dict_rejects_a_float_in_data_as_a_data_error():
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(data={"amount": 1.5}))
    assert err.value.field == "data"
    assert "$.data.amount" in err.value.message


@pytest.mark.parametrize("field, value", [
    ("stream_version", 0), ("stream_version", "1"), ("schema_version", 0),
    ("event_type", "documentRegistered"), ("event_type", "Document Registered"),
])
def test_event_from_dict_rejects_bad_numbers_and_type_names(field, value):
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(**{field: value}))
    assert err.value.field == field


def test_validation_failed_keeps_message_and_field_for_the_wire():
    with pytest.raises(ValidationFailed) as err:
        event_from_dict(_wire(actor__agency="bad"))
    wire = err.value.to_dict()
    assert wire["code"] == "validation_failed"
    assert wire["field"] == "actor.agency"
    assert wire["message"].startswith("actor.agency:")


def test_an_event_without_a_cause_joins_the_request_s_correlation_when_it_is_a_uuid():
    from shared.observability import bind_correlation_id, reset_correlation_id

    request = "6f1c2a7e-0000-4000-8000-0000000000c1"
    tokens = bind_correlation_id(request)
    try:
        joined = new_event("X", {}, actor=CLERK, producer="docs",
                           stream_id="s")
    finally:
        reset_correlation_id(tokens)
    assert joined.correlation_id == request
    tokens = bind_correlation_id("routing.health.0d9e")  # not a UUID: an id of its own
    try:
        alone = new_event("X", {}, actor=CLERK, producer="docs",
                          stream_id="s")
    finally:
        reset_correlation_id(tokens)
    assert alone.correlation_id == alone.event_id


# -- event_from_stored: a service's own rows, read back without the schema -----------


@pytest.mark.parametrize("signature", [None, {"key_id": "0123456789abcdef", "value": "c2ln"}])
def test_a_stored_event_reads_back_equal_to_the_validated_one(signature):
    cause = _event()
    event = _event({"subject": "Công văn", "recipients": ["000.01.00.H41"],
                    "file": {"key": "k", "size": 3}}, causation=cause)
    event = Event(**{**event.__dict__, "signature": MappingProxyType(signature)
                     if signature else None}).at(4, 17)
    wire = json.loads(json.dumps(event.to_wire(), ensure_ascii=False))
    trusted, checked = event_from_stored(wire), event_from_dict(wire)
    assert trusted == checked
    assert canonical_bytes(trusted) == canonical_bytes(event)
    assert trusted.occurred_at.tzinfo == timezone.utc and trusted.position == 17
    assert isinstance(trusted.data["recipients"], tuple)  # frozen as the schema freezes it
