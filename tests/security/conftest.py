from tests.integration.conftest import run_container  # noqa: F401  (the same fixture)
