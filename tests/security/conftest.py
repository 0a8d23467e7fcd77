"""The security tests use both in-process containers and the processes of the stack."""

from tests.e2e.conftest import client, stack  # noqa: F401
from tests.integration.conftest import run_container  # noqa: F401
