"""The security tests use the integration tests' in-process containers (services
run in this process against the test's own servers) and the e2e tests' stack of
service processes."""

from tests.e2e.conftest import client, stack  # noqa: F401
from tests.integration.conftest import run_container  # noqa: F401
