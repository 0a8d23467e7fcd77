import pytest

from tests.support.client import Client
from infra.stack import SERVICES, ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(platform):
    return Client(platform)


@pytest.fixture
def stack(platform, client):
    """The five services (gateway included), each its own process; stopped (or killed)
    afterwards."""
    processes = {name: ServiceProcess(name, platform.service_env(name), platform.log_dir)
                 for name in SERVICES}

    class Stack(dict):
        def start(self, *names, failpoints=None):
            for name in names or self:
                self[name].start(failpoints=failpoints)
            for name in names or self:
                self[name].wait_ready(client, client.token("auditor"))
            return self

    s = Stack(processes)
    yield s
    for p in processes.values():  # all asked at once: each takes a couple of seconds to end
        if p.proc is not None and p.proc.poll() is None:
            p.proc.terminate()
    for p in processes.values():
        p.stop()
