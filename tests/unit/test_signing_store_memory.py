"""The signing store contract against the in-memory adapter."""

import pytest

from services.signing.store import MemorySigningStore
from tests.unit.signing_store_contract import SigningStoreContract


class TestMemorySigningStore(SigningStoreContract):
    @pytest.fixture
    def store(self):
        return MemorySigningStore()
