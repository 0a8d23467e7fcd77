"""The routing store contract against PostgreSQL (routing's schema in a fresh database)."""

import pytest

from services.routing.store import DDL, RoutingStore
from shared.command import append_next
from shared.db import Database
from shared.eventstore import EVENT_STORE_DDL, PostgresEventStore
from tests.unit.routing_store_contract import RoutingStoreContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_routing_store(pg_server):
    from tests.support import servers

    dsn, drop = servers.create_database(pg_server)
    db = Database(dsn, "routing", max_size=4)
    db.ensure_schema(EVENT_STORE_DDL + DDL)
    yield RoutingStore(db)
    db.close()
    drop()


class TestPostgresRoutingStore(RoutingStoreContract):
    @pytest.fixture
    def store(self, pg_routing_store):
        return pg_routing_store

    def recorded(self, store, event, conn):
        # routing's own events go in its log (the summary reads refusals there).
        if event.producer == "routing":
            append_next(PostgresEventStore(store.db), [event], conn=conn)
