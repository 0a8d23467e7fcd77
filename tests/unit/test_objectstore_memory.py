"""The object store contract against the in-memory adapter."""

import pytest

from shared.objectstore import InMemoryObjectStore
from tests.unit.objectstore_contract import ObjectStoreContract


class TestMemoryObjectStore(ObjectStoreContract):
    @pytest.fixture
    def store(self):
        return InMemoryObjectStore()
