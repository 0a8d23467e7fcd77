import pytest

from tests.support.client import Client
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(platform):
    return Client(platform)


@pytest.fixture
def stack(platform, client):
    """The four services, each its own process; stopped (or killed) afterwards."""
    processes = {name: ServiceProcess(name, platform)
                 for name in ("docs", "signing", "routing", "audit")}

    class Stack(dict):
        def start(self, *names, failpoints=None):
            for name in names or self:
                self[name].start(failpoints=failpoints)
            for name in names or self:
                self[name].wait_ready(client)
            return self

    s = Stack(processes)
    yield s
    for p in processes.values():
        p.stop()
