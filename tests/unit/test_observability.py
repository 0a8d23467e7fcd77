"""Structured logs: the JSON formatter, the correlation id and where it comes from."""

import json
import logging
import uuid
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from nameko.events import EventHandler
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler

from shared.observability import (
    CorrelationFilter,
    JsonFormatter,
    bind_correlation_id,
    correlation_id_for,
    current_correlation_id,
    parse_address,
    reset_correlation_id,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("docs", "signing", "routing", "audit")


def record(message="hello %s", args=("world",), level=logging.INFO, exc_info=None):
    return logging.LogRecord("lienthong.test", level, __file__, 1, message, args, exc_info)


def test_a_record_is_one_json_object_with_the_fields():
    line = JsonFormatter(service="docs").format(record())
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["service"] == "docs"
    assert entry["logger"] == "lienthong.test" and entry["message"] == "hello world"
    assert entry["time"].endswith("Z") and entry["time"][10] == "T"
    assert "correlation_id" not in entry and "exc_info" not in entry


def test_an_exception_is_in_the_entry_as_text():
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter(service="docs").format(record("failed", (), logging.ERROR,
                                                                   exc_info)))
    assert entry["level"] == "ERROR"
    assert "Traceback" in entry["exc_info"] and "ValueError: boom" in entry["exc_info"]


def test_the_service_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("LIENTHONG_SERVICE", "routing")
    assert json.loads(JsonFormatter().format(record()))["service"] == "routing"


def test_non_ascii_messages_stay_readable():
    line = JsonFormatter(service="docs").format(record("Chỉ thị %s", ("số 1",)))
    assert "Chỉ thị số 1" in line


def test_the_filter_adds_the_bound_correlation_id_and_service():
    tokens = bind_correlation_id("corr-123", "audit")
    try:
        assert current_correlation_id() == "corr-123"
        rec = record()
        assert CorrelationFilter().filter(rec) is True
        assert rec.correlation_id == "corr-123" and rec.service == "audit"
        entry = json.loads(JsonFormatter(service="docs").format(rec))
        assert entry["correlation_id"] == "corr-123" and entry["service"] == "audit"
    finally:
        reset_correlation_id(tokens)
    assert current_correlation_id() is None
    rec = record()
    CorrelationFilter().filter(rec)
    assert rec.correlation_id is None
    assert "correlation_id" not in json.loads(JsonFormatter(service="docs").format(rec))


def entrypoint(cls):
    return cls.__new__(cls)


def worker_ctx(ep, args=(), data=None):
    return SimpleNamespace(entrypoint=ep, args=args, data=dict(data or {}),
                           call_id="routing.health.0d9e")


def test_an_event_handler_takes_the_envelopes_correlation_id():
    ctx = worker_ctx(entrypoint(EventHandler), ({"correlation_id": "c-event-1"},))
    assert correlation_id_for(ctx) == "c-event-1"


def test_an_rpc_takes_the_callers_context_data_else_a_new_uuid():
    rpc = entrypoint(Rpc)
    assert correlation_id_for(worker_ctx(rpc, data={"correlation_id": "c-rpc"})) == "c-rpc"
    fresh = correlation_id_for(worker_ctx(rpc))
    assert str(uuid.UUID(fresh)) == fresh  # events the call records can carry it


def test_http_takes_the_header_else_a_new_uuid():
    http = entrypoint(HttpRequestHandler)
    request = SimpleNamespace(headers={"X-Correlation-Id": "c-http-7"})
    assert correlation_id_for(worker_ctx(http, (request,))) == "c-http-7"
    fresh = correlation_id_for(worker_ctx(http, (SimpleNamespace(headers={}),)))
    assert len(fresh) == 36 and fresh.count("-") == 4


def test_a_malformed_correlation_id_is_replaced_not_logged():
    http = entrypoint(HttpRequestHandler)
    forged = SimpleNamespace(headers={"X-Correlation-Id": 'x"}\n{"level": "ERROR'})
    assert "\n" not in correlation_id_for(worker_ctx(http, (forged,)))


@pytest.mark.parametrize("text, address", [("127.0.0.1:9100", ("127.0.0.1", 9100)),
                                           (":0", ("0.0.0.0", 0)),
                                           ("[::1]:9100", ("::1", 9100))])
def test_metrics_address(text, address):
    assert parse_address(text) == address


def test_a_metrics_address_without_a_port_is_refused():
    with pytest.raises(ValueError):
        parse_address("localhost")


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_logs_json_with_the_correlation_filter(service):
    with open(ROOT / "services" / service / "config.yml", encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    # Off unless its environment variable is set (nameko substitutes ${VAR:default}).
    assert config["METRICS_ADDRESS"] in (None, "", f"${{LIENTHONG_{service.upper()}_METRICS:}}")
    logging_config = config["LOGGING"]
    console = logging_config["handlers"]["console"]
    formatter = logging_config["formatters"][console["formatter"]]
    assert formatter["()"] == "shared.observability.JsonFormatter"
    assert formatter["service"] == service
    [name] = console["filters"]
    assert logging_config["filters"][name]["()"] == "shared.observability.CorrelationFilter"
