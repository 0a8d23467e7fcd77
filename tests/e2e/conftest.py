import os

import pytest

from tests.support.client import Client
from tests.support.directory import wait_for_docs_directory
from infra.stack import SERVICES, ServiceProcess

pytestmark = pytest.mark.e2e


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    """A headless Chromium (Debian's, driven by Selenium through chromium-driver:
    nothing downloaded at run time); the test fails (never skips) without one."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
                    " (infra/lib.sh ensure_system_packages does it)")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--lang=vi"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


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
