"""Versioned schema migrations, applied at a service's start.

A service's schema is made of *components*: the shared tables (the event store
with its outbox cursor and inbox, the quarantine and dead letters, the upload
intents) and the service's own. Each component is an ordered list of numbered
migrations; the schema's ``schema_migrations`` table records which
(component, version) have been applied. At start-up :func:`migrate` applies
the missing ones, in order, each in its own transaction together with its
record, under an advisory lock: several instances starting at once apply each
migration once, the others wait and find it done.

Migration 1 of every component is the DDL the release before migrations made
with ``CREATE ... IF NOT EXISTS``: it is idempotent, so a database that
release made is adopted as it is. Every later change is a new migration with
the next number (never edit one that was released): an ``ALTER TABLE`` then
reaches every existing database, once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg

from shared.green import make_psycopg_cooperative

log = logging.getLogger(__name__)

VERSION_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component  text NOT NULL,
    version    integer NOT NULL,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
);
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class Component:
    """A named, ordered list of migrations (versions 1, 2, 3 ... without gaps)."""

    name: str
    migrations: tuple[Migration, ...]

    def __post_init__(self) -> None:
        versions = [m.version for m in self.migrations]
        if versions != list(range(1, len(versions) + 1)):
            raise ValueError(f"migrations of {self.name}: versions must be 1, 2, 3 ... in"
                             f" order, got {versions}")

    def then(self, version: int, name: str, sql: str) -> Component:
        """This component with one more migration (the next number)."""
        return Component(self.name, self.migrations + (Migration(version, name, sql),))


def initial(name: str, ddl: str) -> Component:
    """A component whose migration 1 is ``ddl`` (idempotent: it adopts old databases)."""
    return Component(name, (Migration(1, "initial schema (adopts CREATE IF NOT EXISTS)",
                                      ddl),))


def migrate(dsn: str, schema: str, components: Iterable[Component],
            connect_timeout: int = 5) -> list[tuple[str, int]]:
    """Apply the migrations ``schema`` lacks; returns the (component, version) applied."""
    components = list(components)
    names = [c.name for c in components]
    if len(set(names)) != len(names):
        raise ValueError(f"a component is named twice: {names}")
    applied: list[tuple[str, int]] = []
    make_psycopg_cooperative()  # waiting for the lock must not freeze the hub
    with psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout) as conn:
        # The same key the earlier ensure_schema took per transaction: an old
        # instance starting beside a new one waits too.
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (schema,))
        try:
            _ensure_schema(conn, schema)
            done = _applied(conn, schema)
            for component in components:
                for migration in component.migrations:
                    key = (component.name, migration.version)
                    if key in done:
                        _check_same(done[key], component, migration)
                        continue
                    _apply(conn, schema, component.name, migration)
                    applied.append(key)
            _warn_unknown(done, components, schema)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (schema,))
    return applied


def applied_versions(dsn: str, schema: str) -> list[tuple[str, int, str]]:
    """What ``schema_migrations`` records, in order (component, version, name)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(
            f'SELECT component, version, name FROM "{schema}".schema_migrations'
            " ORDER BY applied_at, component, version")]


def _ensure_schema(conn: psycopg.Connection, schema: str) -> None:
    # A service's own login owns its provisioned schema but may not create
    # schemas: only make it when it is missing.
    with conn.transaction():
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                        (schema,)).fetchone() is None:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET LOCAL search_path = "{schema}", public')
        conn.execute(VERSION_TABLE_DDL)


def _applied(conn: psycopg.Connection, schema: str) -> dict[tuple[str, int], str]:
    rows = conn.execute(f'SELECT component, version, name FROM "{schema}".schema_migrations')
    return {(c, v): n for c, v, n in rows}


def _apply(conn: psycopg.Connection, schema: str, component: str,
           migration: Migration) -> None:
    log.info("schema %s: applying %s migration %d (%s)", schema, component,
             migration.version, migration.name)
    with conn.transaction():
        conn.execute(f'SET LOCAL search_path = "{schema}", public')
        conn.execute(migration.sql)
        conn.execute("INSERT INTO schema_migrations (component, version, name)"
                     " VALUES (%s, %s, %s)", (component, migration.version, migration.name))


def _check_same(recorded_name: str, component: Component, migration: Migration) -> None:
    if recorded_name != migration.name:
        raise RuntimeError(
            f"{component.name} migration {migration.version} was applied as"
            f" {recorded_name!r} but this release calls it {migration.name!r}:"
            " a released migration was changed; add a new one instead")


def _warn_unknown(done: dict[tuple[str, int], str], components: Sequence[Component],
                  schema: str) -> None:
    known = {(c.name, m.version) for c in components for m in c.migrations}
    newer = sorted(k for k in done if k not in known and k[0] in {c.name for c in components})
    if newer:  # a newer release ran here (a rolling upgrade): this one may lag behind
        log.warning("schema %s has migrations this release does not know: %s", schema, newer)
