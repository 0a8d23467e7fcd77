"""The routing store contract against the in-memory adapter."""

import pytest

from services.routing.store import MemoryRoutingStore
from tests.unit.routing_store_contract import RoutingStoreContract


class TestMemoryRoutingStore(RoutingStoreContract):
    @pytest.fixture
    def store(self):
        return MemoryRoutingStore()
