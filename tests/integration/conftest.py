import contextlib

import pytest
from nameko.containers import ServiceContainer

pytestmark = pytest.mark.integration


@pytest.fixture
def run_container(platform):
    """Start a service class in this process against the test's servers."""
    started = []

    def run(service_cls, **overrides):
        container = ServiceContainer(service_cls, {**platform.config(service_cls.name),
                                                     **overrides})
        container.start()
        started.append(container)
        return container

    run.started = started
    yield run
    for container in reversed(started):
        with contextlib.suppress(Exception):
            container.stop()
