"""The object store contract against the real S3 server (a versioned,
object-locked bucket of its own)."""

import pytest

from tests.unit.objectstore_contract import ObjectStoreContract

pytestmark = pytest.mark.integration


class TestS3ObjectStore(ObjectStoreContract):
    @pytest.fixture
    def store(self, platform):
        return platform.object_store()
