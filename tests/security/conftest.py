# The services run in this process against the test's own servers, as in tests/integration.
from tests.integration.conftest import run_container  # noqa: F401
