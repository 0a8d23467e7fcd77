import pytest

from tests.support.client import Client
from tests.support.directory import wait_for_docs_directory
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
        def add(self, name, instance, **env):
            """Another process of service ``name`` (key ``name-instance``) on the same
            vhost, database and bucket; ``env`` overrides its settings (its own ports)."""
            key = f"{name}-{instance}"
            self[key] = ServiceProcess(name, {**platform.service_env(name), **env},
                                       platform.log_dir, instance=instance)
            return self[key]

        def start(self, *names, failpoints=None):
            for name in names or self:
                self[name].start(failpoints=failpoints)
            for name in names or self:
                self[name].wait_ready(client, client.token("auditor"))
            if "docs" in (names or self) and self["routing"].proc is not None:
                wait_for_docs_directory(platform)  # routing seeds it at start
            return self

    s = Stack(processes)
    yield s
    ServiceProcess.stop_all(s.values())
