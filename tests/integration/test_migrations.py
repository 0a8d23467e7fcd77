"""Versioned schema migrations against PostgreSQL: a database the previous
release made (release 1dddd56, its DDL in ``tests/fixtures/release_1dddd56``)
is adopted with its rows, a later migration reaches it, and two instances
starting at once apply it once."""

import pathlib

import eventlet
import psycopg
import pytest

from services.audit.dependencies import SCHEMA as AUDIT_SCHEMA
from services.docs.service import DocsService
from services.gateway.service import GatewayService
from services.routing.service import RoutingService
from services.signing.service import SigningService
from shared.migrations import Component, Migration, applied_versions, migrate

pytestmark = pytest.mark.integration

RELEASE = pathlib.Path(__file__).parents[1] / "fixtures" / "release_1dddd56"

# What each service applies at start, taken from its nameko class.
COMPONENTS = {
    "docs": DocsService.events.schema_components("docs"),
    "signing": SigningService.events.schema_components("signing"),
    "routing": RoutingService.events.schema_components("routing"),
    "gateway": GatewayService.events.schema_components("gateway"),
    "audit": list(AUDIT_SCHEMA),
}
EXPECTED = {
    "docs": ["eventstore", "quarantine", "uploads", "docs"],
    "signing": ["eventstore", "quarantine", "uploads", "signing"],
    "routing": ["eventstore", "quarantine", "routing"],
    "gateway": ["eventstore", "quarantine", "gateway"],
    "audit": ["quarantine", "audit", "dashboard"],  # the dashboard's projection
}
# The migrations after the first, which an old database gets too.
# signing 2: certificates.key_held, hand-outs; 3: remote credentials; 4: certificate
# requests (issue 16); 5: documents.numbering (the number given at the signature, issue 15).
LATER = {"signing": [("signing", 2), ("signing", 3), ("signing", 4), ("signing", 5)],
         # issue_deadlines; directory_changes; incoming.handed_to/handed_at; unnumbered
         # arrivals; documents.delivery_refused (issue 15); copies (SY, SL, TrS)
         "docs": [("docs", 2), ("docs", 3), ("docs", 4), ("docs", 5), ("docs", 6),
                  ("docs", 7)],
         # recipient_groups (issue 17); web_sessions (the idle timeout)
         "gateway": [("gateway", 2), ("gateway", 3)],
         # erase_document_data: an operator's recorded erasure order (issue 15)
         "audit": [("audit", 2)]}
# The version a test's own extra docs migration takes: the one after the released ones.
NEXT = len(COMPONENTS["docs"][-1].migrations) + 1


@pytest.fixture
def database(pg_server):
    from tests.support import servers

    dsn, drop = servers.create_database(pg_server)
    yield dsn
    drop()


def make_previous_release(dsn, schema):
    """The schema exactly as release 1dddd56's start-up made it, with a row kept
    in the quarantine (every service has one) and one in a table of its own."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET LOCAL search_path = "{schema}", public')
        conn.execute((RELEASE / f"{schema}.sql").read_text(encoding="utf-8"))
        conn.execute("INSERT INTO quarantine (consumer, reason, payload)"
                     " VALUES ('x.on_y', 'lý do cũ', '{}')")


def one(dsn, schema, sql, params=()):
    with psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}") as conn:
        return conn.execute(sql, params).fetchone()


@pytest.mark.parametrize("service", sorted(COMPONENTS))
def test_a_database_of_the_previous_release_is_adopted_with_its_rows(database, service):
    assert [c.name for c in COMPONENTS[service]] == EXPECTED[service]
    make_previous_release(database, service)

    applied = migrate(database, service, COMPONENTS[service])

    # Each component's migrations in order, one component after the other.
    assert applied == [key for name in EXPECTED[service] for key in
                       [(name, 1)] + [m for m in LATER.get(service, []) if m[0] == name]]
    assert sorted((c, v) for c, v, _ in applied_versions(database, service)) == sorted(applied)
    assert one(database, service, "SELECT consumer, reason FROM quarantine") == \
        ("x.on_y", "lý do cũ")
    assert migrate(database, service, COMPONENTS[service]) == []  # the next start


def test_a_gateway_user_of_the_previous_release_can_still_be_read(database):
    make_previous_release(database, "gateway")
    with psycopg.connect(database, autocommit=True, options="-c search_path=gateway") as conn:
        conn.execute("INSERT INTO users (user_id, agency, role, full_name, password_phc,"
                     " token_epoch) VALUES ('cu', '000.00.00.G22', 'clerk', 'Người Cũ',"
                     " '$argon2id$x', 3)")
    migrate(database, "gateway", COMPONENTS["gateway"])
    assert one(database, "gateway", "SELECT full_name, token_epoch FROM users") == \
        ("Người Cũ", 3)


def with_note_column(component):
    """A test-only second migration of docs' own tables."""
    return component.then(NEXT, "documents: a test note",
                          "SELECT pg_sleep(0.3); ALTER TABLE documents ADD COLUMN note text;")


def test_a_second_migration_reaches_an_existing_database(database):
    make_previous_release(database, "docs")
    migrate(database, "docs", COMPONENTS["docs"])
    upgraded = [*COMPONENTS["docs"][:-1], with_note_column(COMPONENTS["docs"][-1])]

    assert migrate(database, "docs", upgraded) == [("docs", NEXT)]

    assert one(database, "docs", "SELECT count(*) FROM information_schema.columns"
               " WHERE table_schema = 'docs' AND table_name = 'documents'"
               " AND column_name = 'note'") == (1,)
    assert ("docs", NEXT, "documents: a test note") in applied_versions(database, "docs")


def test_two_instances_starting_at_once_apply_a_migration_once(database):
    make_previous_release(database, "docs")
    upgraded = [*COMPONENTS["docs"][:-1], with_note_column(COMPONENTS["docs"][-1])]

    runs = [eventlet.spawn(migrate, database, "docs", upgraded) for _ in range(2)]
    results = [run.wait() for run in runs]

    applied = sorted(results, key=len)
    assert applied[0] == []  # the second waited for the lock and found all done
    assert ("docs", NEXT) in applied[1] and ("docs", 1) in applied[1]
    assert one(database, "docs", "SELECT count(*) FROM schema_migrations"
               " WHERE component = 'docs'") == (NEXT,)


def test_a_failing_migration_leaves_nothing_behind(database):
    make_previous_release(database, "docs")
    broken = Component("docs", COMPONENTS["docs"][-1].migrations + (
        Migration(NEXT, "broken", "ALTER TABLE documents ADD COLUMN half text; SELECT 1/0;"),))

    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(database, "docs", [*COMPONENTS["docs"][:-1], broken])

    assert one(database, "docs", "SELECT count(*) FROM information_schema.columns"
               " WHERE table_name = 'documents' AND column_name = 'half'") == (0,)
    assert ("docs", NEXT) not in [(c, v) for c, v, _ in applied_versions(database, "docs")]
    assert ("docs", 1) in [(c, v) for c, v, _ in applied_versions(database, "docs")]


def test_a_changed_released_migration_is_refused(database):
    migrate(database, "docs", COMPONENTS["docs"])
    renamed = Component("docs", (Migration(1, "something else", "SELECT 1"),))
    with pytest.raises(RuntimeError, match="docs migration 1 was applied as"):
        migrate(database, "docs", [renamed])


