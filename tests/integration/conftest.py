import contextlib

import pytest
from nameko.containers import ServiceContainer

from tests.support.directory import give_docs_the_directory

pytestmark = pytest.mark.integration


@pytest.fixture
def run_container(platform):
    """Start a service class in this process against the test's servers."""
    started = []

    def run(service_cls, directory=True, **overrides):
        """``directory``: a docs container is given the sample directory, as
        routing's seed would give it (False: docs knows no agency yet)."""
        container = ServiceContainer(service_cls, {**platform.config(service_cls.name),
                                                     **overrides})
        container.start()
        started.append(container)
        if directory and service_cls.name == "docs":
            give_docs_the_directory(container, platform)
        return container

    run.started = started
    yield run
    for container in reversed(started):
        with contextlib.suppress(Exception):
            container.stop()
