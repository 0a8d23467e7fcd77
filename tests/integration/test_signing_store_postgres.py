"""The signing store contract against PostgreSQL (signing's schema in a fresh database)."""

import pytest

from services.signing.store import MIGRATIONS, SigningStore
from shared.command import append_next
from shared.db import Database
from shared.eventstore import EVENT_STORE_DDL, PostgresEventStore
from tests.unit.signing_store_contract import SigningStoreContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_signing_store(pg_server):
    from tests.support import servers

    dsn, drop = servers.create_database(pg_server)
    db = Database(dsn, "signing", max_size=4)
    db.ensure_schema(EVENT_STORE_DDL + "".join(m.sql for m in MIGRATIONS.migrations))
    yield SigningStore(db)
    db.close()
    drop()


class TestPostgresSigningStore(SigningStoreContract):
    @pytest.fixture
    def store(self, pg_signing_store):
        return pg_signing_store

    def recorded(self, store, event, conn):
        append_next(PostgresEventStore(store.db), [event], conn=conn)
