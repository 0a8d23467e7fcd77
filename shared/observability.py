"""Operations: structured JSON logs with a correlation id, health and metrics.

- :class:`JsonFormatter` writes one JSON object per log line: ``time`` (ISO
  8601, UTC), ``level``, ``service``, ``logger``, ``message``,
  ``correlation_id`` (when known) and ``exc_info`` (the traceback text, when
  there is one). Only the record's message is written: never headers, tokens
  or keys.
- :class:`Correlation` (a nameko dependency) sets the correlation id of the
  work a worker does: an event's envelope ``correlation_id``; an RPC caller's
  ``correlation_id`` context data, else the nameko call id; an HTTP request's
  ``X-Correlation-Id`` header, else a new uuid. It is kept in a context
  variable (one per greenthread) that :class:`CorrelationFilter` adds to log
  records, and in the worker's context data, so that RPC calls the worker
  makes carry it on.
- :class:`Metrics` (a nameko dependency) times every entrypoint into its own
  Prometheus registry and, when ``METRICS_ADDRESS`` (``host:port``; port 0
  picks a free one) is set, serves ``/metrics`` and ``/health`` there.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import eventlet
from eventlet import wsgi
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from shared.green import os_thread_rlock

if TYPE_CHECKING:
    from nameko.containers import WorkerContext

log = logging.getLogger(__name__)

CORRELATION_KEY = "correlation_id"  # the envelope field and the RPC context data key
CORRELATION_HEADER = "X-Correlation-Id"
METRICS_CONFIG_KEY = "METRICS_ADDRESS"

# What a caller may hand us as a correlation id: short, and nothing that could
# forge a log line. Anything else is replaced by a fresh id.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "lienthong_correlation_id", default=None)
_service: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "lienthong_service", default=None)

# What bind_correlation_id returns and reset_correlation_id takes back.
_Tokens = tuple[contextvars.Token[str | None], contextvars.Token[str | None] | None]
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def current_correlation_id() -> str | None:
    """The correlation id of the work this greenthread does, or None."""
    return _correlation.get()


def bind_correlation_id(correlation_id: str | None, service: str | None = None) -> _Tokens:
    """Set the correlation id (and service) for this greenthread; returns a reset token."""
    return (_correlation.set(correlation_id),
            _service.set(service) if service is not None else None)


def reset_correlation_id(tokens: _Tokens) -> None:
    correlation_token, service_token = tokens
    _correlation.reset(correlation_token)
    if service_token is not None:
        _service.reset(service_token)


def safe_id(value: object) -> str | None:
    """``value`` if it is a well-formed correlation id, else None."""
    if isinstance(value, str) and _SAFE_ID.match(value):
        return value
    return None


def new_correlation_id() -> str:
    return str(uuid.uuid4())


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id`` (and the worker's ``service``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = _correlation.get()
        if getattr(record, "service", None) is None:
            record.service = _service.get()
        return True


class StreamHandler(logging.StreamHandler):
    """logging's StreamHandler under an OS thread lock. Records also come from
    run_cpu's real threads (pyHanko, fontTools); the lock a handler makes after
    eventlet's monkey patch is green, and a real thread blocking on it makes the
    hub fail ("Cannot switch to a different thread")."""

    def createLock(self) -> None:
        self.lock = os_thread_rlock()


class JsonFormatter(logging.Formatter):
    """One JSON object per line.

    ``service`` is, in order: the record's (set by :class:`CorrelationFilter`
    inside a worker), the ``service`` given here (the logging config), the
    ``LIENTHONG_SERVICE`` environment variable.
    """

    def __init__(self, service: str | None = None, fmt: str | None = None,
                 datefmt: str | None = None, style: Literal["%", "{", "$"] = "%",
                 **kwargs: Any):
        super().__init__(fmt=fmt, datefmt=datefmt, style=style, **kwargs)
        self.service = service or os.environ.get("LIENTHONG_SERVICE") or None

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "service": getattr(record, "service", None) or _service.get() or self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation_id = getattr(record, "correlation_id", None) or _correlation.get()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def correlation_id_for(worker_ctx: WorkerContext) -> str:
    """The correlation id of the work ``worker_ctx`` is about to do."""
    entrypoint = worker_ctx.entrypoint
    args = worker_ctx.args
    if isinstance(entrypoint, HttpRequestHandler):
        request = args[0] if args else None
        headers = getattr(request, "headers", None)
        found = safe_id(headers.get(CORRELATION_HEADER)) if headers is not None else None
        return found or new_correlation_id()
    if isinstance(entrypoint, EventHandler) or (args and isinstance(args[0], dict)
                                                and not isinstance(entrypoint, Rpc)):
        payload = args[0] if args else None
        found = safe_id(payload.get(CORRELATION_KEY)) if isinstance(payload, dict) else None
        return found or safe_id(worker_ctx.data.get(CORRELATION_KEY)) or new_correlation_id()
    if isinstance(entrypoint, Rpc):
        # A fresh UUID rather than nameko's call id: events the call records carry it.
        return safe_id(worker_ctx.data.get(CORRELATION_KEY)) or new_correlation_id()
    # Timers and anything else: work of its own.
    return safe_id(worker_ctx.data.get(CORRELATION_KEY)) or new_correlation_id()


class _CorrelationHandle:
    def __init__(self, worker_ctx):
        self._worker_ctx = worker_ctx

    @property
    def id(self):
        return self._worker_ctx.data.get(CORRELATION_KEY)


class Correlation(DependencyProvider):
    """``self.correlation.id`` in a worker; sets the id logs and RPC calls carry."""

    def setup(self) -> None:
        self._tokens = {}

    def get_dependency(self, worker_ctx: WorkerContext) -> _CorrelationHandle:
        return _CorrelationHandle(worker_ctx)

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        correlation_id = correlation_id_for(worker_ctx)
        # ``context_data`` is a copy: ``data`` is what nameko's RPC proxies send on.
        worker_ctx.data[CORRELATION_KEY] = correlation_id
        self._tokens[id(worker_ctx)] = bind_correlation_id(correlation_id,
                                                           worker_ctx.service_name)

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        tokens = self._tokens.pop(id(worker_ctx), None)
        if tokens is not None:
            try:
                reset_correlation_id(tokens)
            except ValueError:  # set in another context: that greenthread ends anyway
                pass


def parse_address(text: object) -> tuple[str, int]:
    """``host:port`` → (host, port); port 0 picks a free one."""
    host, sep, port = str(text).strip().rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{METRICS_CONFIG_KEY} must be host:port, not {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class Metrics(DependencyProvider):
    """Prometheus metrics of one container, in a registry of its own.

    Config ``METRICS_ADDRESS`` (``host:port``, empty: no server) is where
    ``GET /metrics`` (Prometheus text format) and ``GET /health`` answer.
    """

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

    def setup(self) -> None:
        self.service = self.container.service_name
        self.registry = CollectorRegistry(auto_describe=True)
        self.entrypoint_seconds = Histogram(
            "lienthong_entrypoint_seconds", "Time spent in an entrypoint's worker",
            ["service", "entrypoint", "outcome"], buckets=self.BUCKETS, registry=self.registry)
        self.entrypoint_errors = Counter(
            "lienthong_entrypoint_errors_total", "Workers that ended in an exception",
            ["service", "entrypoint", "error"], registry=self.registry)
        self.workers_in_flight = Gauge(
            "lienthong_workers_in_flight", "Workers running now", ["service"],
            registry=self.registry)
        self.workers_in_flight.labels(self.service).set(0)
        self.max_workers = Gauge(
            "lienthong_max_workers", "The container's worker pool size", ["service"],
            registry=self.registry)
        self.max_workers.labels(self.service).set(self.container.max_workers)
        self.started_at = Gauge(
            "lienthong_service_start_time_seconds", "When the container started (Unix time)",
            ["service"], registry=self.registry)
        # Events a consumer refused (malformed, unsigned, forged, wrong producer): alert on > 0.
        self.events_quarantined = Counter(
            "lienthong_events_quarantined_total", "Consumed events refused into quarantine",
            ["service", "consumer"], registry=self.registry)
        ProcessCollector(registry=self.registry)
        self._started = {}
        self.address = None
        self._sock = self._server = self._accept_gt = None
        self._pool = eventlet.GreenPool()

    # ---- worker hooks

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        self._started[id(worker_ctx)] = time.perf_counter()
        self.workers_in_flight.labels(self.service).inc()

    def worker_result(self, worker_ctx: WorkerContext, result: Any = None,
                      exc_info: _ExcInfo | None = None) -> None:
        started = self._started.pop(id(worker_ctx), None)
        if started is None:
            return
        self.workers_in_flight.labels(self.service).dec()
        entrypoint = worker_ctx.entrypoint.method_name
        outcome = "ok" if exc_info is None else "error"
        self.entrypoint_seconds.labels(self.service, entrypoint, outcome).observe(
            time.perf_counter() - started)
        if exc_info is not None:
            self.entrypoint_errors.labels(self.service, entrypoint,
                                          exc_info[0].__name__).inc()

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        # worker_result always runs first; this only catches a worker that broke before.
        if self._started.pop(id(worker_ctx), None) is not None:
            self.workers_in_flight.labels(self.service).dec()

    # ---- the HTTP endpoint

    def start(self) -> None:
        self.started_at.labels(self.service).set(time.time())
        address = str(self.container.config.get(METRICS_CONFIG_KEY) or "").strip()
        if not address:
            return
        self._sock = eventlet.listen(parse_address(address))
        self._sock.settimeout(None)
        self.address = self._sock.getsockname()[:2]
        self._server = wsgi.Server(self._sock, self.address, self.wsgi_app, log=log,
                                   log_output=False, debug=False, keepalive=False,
                                   socket_timeout=30)
        self._accept_gt = eventlet.spawn(self._accept)
        log.info("%s: metrics and health on http://%s:%d/metrics", self.service, *self.address)

    def _accept(self):
        while True:
            try:
                conn, client = self._sock.accept()
            except OSError:
                if self._sock is None or self._sock.fileno() == -1:
                    return  # closed: stopping
                log.exception("metrics endpoint: accept failed")
                eventlet.sleep(0.1)
                continue
            conn.settimeout(self._server.socket_timeout)
            self._pool.spawn(self._serve, conn, client)

    def _serve(self, conn, client):
        try:
            self._server.process_request([client, conn, wsgi.STATE_IDLE])
        except Exception:  # a client that went away; never the service's problem
            log.debug("metrics endpoint: request from %s failed", client, exc_info=True)

    def wsgi_app(self, environ: dict[str, Any],
                 start_response: Callable[..., object]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self._respond(start_response, "405 Method Not Allowed", b"",
                                 "text/plain; charset=utf-8")
        if path == "/metrics":
            return self._respond(start_response, "200 OK", generate_latest(self.registry),
                                 CONTENT_TYPE_LATEST)
        if path == "/health":
            body = json.dumps({"status": "ok", "service": self.service}).encode()
            return self._respond(start_response, "200 OK", body, "application/json")
        return self._respond(start_response, "404 Not Found", b"not found\n",
                             "text/plain; charset=utf-8")

    @staticmethod
    def _respond(start_response, status, body, content_type):
        start_response(status, [("Content-Type", content_type),
                                ("Content-Length", str(len(body)))])
        return [body]

    def _close(self):
        if self._accept_gt is not None:
            self._accept_gt.kill()
            self._accept_gt = None
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()
        for gt in list(self._pool.coroutines_running):
            gt.kill()

    def stop(self) -> None:
        self._close()

    def kill(self) -> None:
        self._close()

    def get_dependency(self, worker_ctx: WorkerContext) -> Metrics:
        return self
