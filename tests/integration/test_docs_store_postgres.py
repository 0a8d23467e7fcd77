"""The docs store contract against PostgreSQL (docs' schema in a fresh database)."""

import pytest

from services.docs.store import MIGRATIONS, DocsStore
from shared.db import Database
from tests.unit.docs_store_contract import DocsStoreContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_docs_store(pg_server):
    from tests.support import servers

    dsn, drop = servers.create_database(pg_server)
    db = Database(dsn, "docs", max_size=4)
    db.ensure_schema("".join(m.sql for m in MIGRATIONS.migrations))  # every migration
    yield DocsStore(db)
    db.close()
    drop()


class TestPostgresDocsStore(DocsStoreContract):
    @pytest.fixture
    def store(self, pg_docs_store):
        return pg_docs_store
