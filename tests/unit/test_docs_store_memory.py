"""The docs store contract against the in-memory adapter."""

import pytest

from services.docs.store import MemoryDocsStore
from tests.unit.docs_store_contract import DocsStoreContract


class TestMemoryDocsStore(DocsStoreContract):
    @pytest.fixture
    def store(self):
        return MemoryDocsStore()
