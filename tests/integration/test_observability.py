"""Health, Prometheus metrics and the correlation id, on a service run in this process."""

import json
import logging
import uuid

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_hook

from services.routing.service import RoutingService
from shared.observability import CorrelationFilter, JsonFormatter
from tests.integration.test_state_summaries import issued_event
from tests.support import servers
from tests.support.events import signed

pytestmark = pytest.mark.integration


class Capture(logging.Handler):
    """Records as a service's console handler sees them: filtered, as JSON."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.addFilter(CorrelationFilter())
        self.setFormatter(JsonFormatter(service="test"))
        self.lines = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def captured():
    handler = Capture()
    root = logging.getLogger()
    containers = logging.getLogger("nameko.containers")
    old_root, old_containers = root.level, containers.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    containers.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(old_root)
    containers.setLevel(old_containers)


@pytest.fixture
def routing(run_container):
    port = servers.free_port()
    container = run_container(RoutingService, METRICS_ADDRESS=f"127.0.0.1:{port}")
    return container, f"http://127.0.0.1:{port}"


def sample_count(metrics_text, entrypoint, outcome="ok"):
    prefix = ('lienthong_entrypoint_seconds_count{entrypoint="%s",outcome="%s",service="routing"}'
              % (entrypoint, outcome))
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_an_rpc_and_health_answers(routing, platform):
    container, url = routing
    assert container.service_name == "routing"
    with ClusterRpcProxy(platform.config()) as rpc:
        assert rpc.routing.health() == {"service": "routing", "status": "ok"}
    with requests.Session() as http:
        metrics = http.get(f"{url}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert metrics.headers["Content-Type"].startswith("text/plain")
        assert sample_count(metrics.text, "health") >= 1
        assert "lienthong_entrypoint_seconds_bucket" in metrics.text
        assert 'lienthong_workers_in_flight{service="routing"}' in metrics.text
        health = http.get(f"{url}/health", timeout=10)
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "service": "routing"}
        assert http.get(f"{url}/nothing", timeout=10).status_code == 404


def test_an_entrypoint_that_fails_counts_as_an_error(routing):
    container, url = routing
    with entrypoint_hook(container, "statuses") as statuses:
        with pytest.raises(Exception):
            statuses(str(uuid.uuid4()))  # no caller token: refused
    text = requests.get(f"{url}/metrics", timeout=10).text
    assert sample_count(text, "statuses", "error") == 1
    assert 'lienthong_entrypoint_errors_total{entrypoint="statuses"' in text


def test_logs_in_an_event_worker_carry_the_events_correlation_id(routing, captured, platform):
    container, _ = routing
    event = signed(platform, issued_event(str(uuid.uuid4())))
    assert event["correlation_id"]
    for _ in range(2):  # the second delivery is logged as already handled
        with entrypoint_hook(container, "on_document_issued") as handle:
            handle(event)
    [again] = [line for line in captured if "already handled" in line["message"]]
    assert again["correlation_id"] == event["correlation_id"]
    assert again["service"] == "routing"
    assert again["logger"] == "shared.edge.inbox"


def test_an_rpc_callers_correlation_id_reaches_the_workers_logs(routing, platform, captured):
    correlation_id = f"test-{uuid.uuid4()}"
    with ClusterRpcProxy(platform.config(),
                         context_data={"correlation_id": correlation_id}) as rpc:
        rpc.routing.health()
    in_worker = [line for line in captured if line.get("correlation_id") == correlation_id]
    assert in_worker and all(line["service"] == "routing" for line in in_worker)


def test_no_metrics_server_without_an_address(run_container):
    container = run_container(RoutingService)
    assert container.config.get("METRICS_ADDRESS") is None
    metrics = next(d for d in container.dependencies if d.attr_name == "metrics")
    assert metrics.address is None


def test_an_event_recorded_for_a_request_carries_the_requests_correlation_id(
        run_container, platform):
    """End to end: the id a caller sends is in the event, so every consumer's logs
    (which take the event's id) carry it too."""
    import uuid

    from services.docs.service import DocsService
    from tests.support.client import Client
    from tests.support.db import query
    from tests.support.pdf import make_pdf

    run_container(DocsService)
    client = Client(platform)
    document_id = client.register(client.token("clerk"), make_pdf()).json()["document_id"]
    correlation_id = str(uuid.uuid4())
    with ClusterRpcProxy(platform.config(), context_data={
            "correlation_id": correlation_id,
            "authorization": client.assertion(client.token("clerk"), "docs", "submit")}) as rpc:
        rpc.docs.submit(document_id, "leader@000.00.00.H41")
    [(recorded,)] = query(platform.pg_dsn, "docs", "SELECT envelope->>'correlation_id'"
                          " FROM events WHERE event_type = 'DocumentSubmitted'")
    assert recorded == correlation_id
