"""The audit log in PostgreSQL: an RFC 9162 Merkle tree of every event.

Tables are append-only: the application's role may only SELECT and INSERT,
and triggers refuse UPDATE, DELETE and TRUNCATE to everyone but a superuser
who disables them. Appends are serialised by an advisory lock, so leaf
indexes are one total order. Every completed perfect subtree is stored
(``nodes``), so any root or proof needs O(log n) rows, fetched in one query.
"""

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from services.audit import merkle
from services.audit.leaves import leaf_entry
from services.audit.replay import Fact
from shared.events import data_problem
from shared.migrations import initial

log = logging.getLogger(__name__)

APP_ROLE = "lienthong_audit_app"
LOG_LOCK = 0x4C54_4155  # pg_advisory_xact_lock key of the log's append lock
CHECKPOINT_LOCK = 0x4C54_4350  # pg_try_advisory_lock key: one checkpointer at a time

# Custom plans: a generic plan made while the log was small (psycopg prepares
# on the 5th use) turned the duplicate check into a full scan of a large log.
DB_SETTINGS = {"plan_cache_mode": "force_custom_plan"}
# A replay's read (TransparencyLog.facts): the index columns the fold needs, and
# the data ('{}' where it was destroyed), for the event types asked.
FACTS_QUERY = ("SELECT e.idx, e.event_type, e.occurred_at, e.actor_user,"
               " coalesce(p.data, '{}'::jsonb) FROM entries e LEFT JOIN payloads p"
               " USING (event_id) WHERE e.event_type = ANY(%s) ORDER BY e.idx")

APPEND_ONLY = ("entries", "nodes", "checkpoints", "timestamps", "uploads", "cosignatures")

LOG_DDL = """
CREATE TABLE IF NOT EXISTS entries (
    idx          bigint PRIMARY KEY CHECK (idx >= 0),
    event_id     uuid NOT NULL UNIQUE,
    producer     text NOT NULL,
    event_type   text NOT NULL,
    stream_id    text NOT NULL,
    document_id  text,
    occurred_at  timestamptz NOT NULL,
    actor_user   text NOT NULL,
    actor_agency text NOT NULL,
    actor_role   text NOT NULL,
    leaf_entry   bytea NOT NULL,
    appended_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS entries_document ON entries (document_id, idx);
CREATE INDEX IF NOT EXISTS entries_time ON entries (occurred_at);
-- The events' data, apart from the leaves: destroyable after a recall.
CREATE TABLE IF NOT EXISTS payloads (
    event_id uuid PRIMARY KEY,
    data     jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    level smallint NOT NULL,
    idx   bigint NOT NULL,
    hash  bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    size       bigint PRIMARY KEY,
    root       bytea NOT NULL,
    note       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The RFC 3161 token over each checkpoint's note (services/audit/timestamp.py);
-- a checkpoint without one was made while the TSA was down: unstamped.
CREATE TABLE IF NOT EXISTS timestamps (
    size      bigint PRIMARY KEY,
    token     bytea NOT NULL,
    stamped_at timestamptz NOT NULL DEFAULT now()
);
-- Which checkpoints (and the leaves they add) reached WORM object storage.
CREATE TABLE IF NOT EXISTS uploads (
    size        bigint PRIMARY KEY,
    leaves_from bigint NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS cosignatures (
    size     bigint NOT NULL,
    witness  text NOT NULL,
    note     text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (size, witness)
);
CREATE TABLE IF NOT EXISTS alerts (
    id        bigserial PRIMARY KEY,
    kind      text NOT NULL,
    detail    text NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
""" + "".join(f"""
CREATE OR REPLACE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t}
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
""" for t in APPEND_ONLY) + f"""
-- Made here for a superuser owner; provisioned beforehand (a login) otherwise.
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
GRANT USAGE ON SCHEMA audit TO {APP_ROLE};
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA audit TO {APP_ROLE};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA audit TO {APP_ROLE};
"""
# The one way the application destroys data: an operator's recorded order
# (gateway's DocumentDataErasureOrdered, with its legal decision and reason),
# applied in the transaction that appends it. The function runs as the schema's
# owner (SECURITY DEFINER, search_path pinned to this schema), finds the order in
# the log itself and deletes the payloads of the document's earlier entries,
# never another order's; the application's role may execute it but still has no
# DELETE on payloads. Returns how many it destroyed.
ERASURE_TYPE = "DocumentDataErasureOrdered"
ERASURE_PRODUCER = "gateway"
ERASE_DDL = f"""
DO $do$ BEGIN
EXECUTE format($fn$
CREATE OR REPLACE FUNCTION erase_document_data(erasure uuid) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = %I, pg_temp AS $body$
DECLARE
    doc text;
    at bigint;
    erased integer;
BEGIN
    SELECT document_id, idx INTO doc, at FROM entries
     WHERE event_id = erasure AND producer = '{ERASURE_PRODUCER}'
       AND event_type = '{ERASURE_TYPE}';
    IF doc IS NULL THEN
        RAISE EXCEPTION 'no erasure order %% about a document in the log', erasure
            USING ERRCODE = 'no_data_found';
    END IF;
    DELETE FROM payloads p USING entries e
     WHERE p.event_id = e.event_id AND e.document_id = doc AND e.idx < at
       AND NOT (e.producer = '{ERASURE_PRODUCER}' AND e.event_type = '{ERASURE_TYPE}');
    GET DIAGNOSTICS erased = ROW_COUNT;
    RETURN erased;
END $body$$fn$, current_schema());
END $do$;
REVOKE ALL ON FUNCTION erase_document_data(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_document_data(uuid) TO {APP_ROLE};
"""
# Versioned: a change is a new migration (shared.migrations), ending with the
# grants above again so that the append-only role reads and appends new tables.
MIGRATIONS = initial("audit", LOG_DDL).then(
    2, "erase_document_data: an operator's recorded erasure order", ERASE_DDL)


def _row_get(nodes):
    def get(level, idx):
        return nodes[(level, idx)]
    return get


class TransparencyLog:
    def __init__(self, db: Any, after_erasure: Any = None) -> None:
        """``after_erasure(conn, document_id)``, if given, runs in the transaction
        that applies an erasure order (the projections forget what they copied)."""
        self.db, self.after_erasure = db, after_erasure

    # -- writing --------------------------------------------------------------

    def append(self, events: Sequence[Any]) -> list[int | None]:
        """Append each event not yet in the log; returns its leaf index or None.

        One transaction for the batch. Events are expected to be verified.
        """
        results = []
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOG_LOCK,))
            size = self.size(conn)
            present = {str(r[0]) for r in conn.execute(
                "SELECT event_id FROM entries WHERE event_id = ANY(%s)",
                ([e.event_id for e in events],))}
            cache = self._fetch(conn, _frontier(size))
            get = _row_get(cache)
            entries, nodes, payloads, erasures = [], [], [], []
            for event in events:
                if event.event_id in present:
                    results.append(None)
                    continue
                present.add(event.event_id)
                entry = leaf_entry(event)
                for level, idx, value in merkle.completed_nodes(size, merkle.leaf_hash(entry), get):
                    cache[(level, idx)] = value
                    nodes.append((level, idx, value))
                entries.append((size, event.event_id, event.producer, event.event_type,
                                event.stream_id, _document_of(event), event.occurred_at,
                                event.actor.user_id, event.actor.agency, event.actor.role,
                                entry))
                payloads.append((event.event_id,
                                 json.dumps(event.to_dict()["data"], ensure_ascii=False)))
                results.append(size)
                size += 1
                if _is_erasure_order(event):
                    erasures.append(event)
            if entries:
                # COPY: the log's write path, about twice as fast as executemany.
                with conn.cursor() as cur:
                    _copy(cur, "entries (idx, event_id, producer, event_type, stream_id,"
                               " document_id, occurred_at, actor_user, actor_agency,"
                               " actor_role, leaf_entry)", entries)
                    _copy(cur, "nodes (level, idx, hash)", nodes)
                    _copy(cur, "payloads (event_id, data)", payloads)
                for event in erasures:
                    erased = conn.execute("SELECT erase_document_data(%s)",
                                          (event.event_id,)).fetchone()[0]
                    log.info("erasure order %s: the data of %d entries about document %s"
                             " destroyed", event.event_id, erased, event.data["document_id"])
                    if self.after_erasure is not None:
                        self.after_erasure(conn, str(event.data["document_id"]))
        return results

    def add_checkpoint(self, size: int, root: bytes, note: str,
                       token: bytes | None = None) -> None:
        """The signed note, and its time-stamp token if the TSA gave one."""
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO checkpoints (size, root, note) VALUES (%s, %s, %s)"
                         " ON CONFLICT DO NOTHING", (size, root, note))
            if token is not None:
                conn.execute("INSERT INTO timestamps (size, token) VALUES (%s, %s)"
                             " ON CONFLICT DO NOTHING", (size, token))

    def record_upload(self, size: int, leaves_from: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO uploads (size, leaves_from) VALUES (%s, %s)"
                         " ON CONFLICT DO NOTHING", (size, leaves_from))

    def add_cosignature(self, size: int, witness: str, note: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO cosignatures (size, witness, note) VALUES (%s, %s, %s)"
                         " ON CONFLICT DO NOTHING", (size, witness, note))

    @contextlib.contextmanager
    def checkpoint_turn(self) -> Iterator[bool]:
        """True while this process is the one audit process checkpointing (several
        may run): two checkpointers reading the same last upload would store
        overlapping WORM leaf ranges, repeating each other's uploads. (Verification
        accepts an overlap only if it repeats the committed leaves exactly, as after
        a crash between an upload and its record.)"""
        with self.db.connection() as conn:
            mine = conn.execute("SELECT pg_try_advisory_lock(%s)",
                                (CHECKPOINT_LOCK,)).fetchone()[0]
            try:
                yield mine
            finally:
                if mine:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_LOCK,))

    def alert(self, kind: str, detail: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO alerts (kind, detail) VALUES (%s, %s)", (kind, detail))

    # -- reading --------------------------------------------------------------

    def size(self, conn: Any = None) -> int:
        with self._conn(conn) as c:
            return c.execute("SELECT coalesce(max(idx) + 1, 0) FROM entries").fetchone()[0]

    def root(self, size: int) -> bytes:
        return self._compute(merkle.root, size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self._compute(merkle.inclusion_path, index, size)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return self._compute(merkle.consistency_path, old, new)

    def _compute(self, fn, *args):
        """Run a tree computation with every node it needs fetched in one query."""
        keys = merkle.needed_nodes(fn, *args)
        with self.db.connection() as conn:
            nodes = self._fetch(conn, keys)
        return fn(*args, get=_row_get(nodes))

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        with self.db.connection() as conn:
            rows = conn.execute("SELECT idx, hash FROM nodes WHERE level = 0 AND idx >= %s"
                                " AND idx < %s ORDER BY idx", (start, end)).fetchall()
        if [r[0] for r in rows] != list(range(start, end)):
            raise LookupError(f"leaf hashes {start}..{end} are not all stored")
        return [bytes(r[1]) for r in rows]

    def facts(self, types: Sequence[str]) -> Iterator[tuple[int, Fact]]:
        """``(index, Fact)`` of every entry of ``types`` in log order, streamed from
        a server-side cursor. Read from the columns the log indexes each entry by,
        which :func:`services.audit.verify.verify_entries` checks against the
        signed leaves: no leaf JSON parsed, no envelope built (issue 18)."""
        with self.db.connection() as conn:
            with conn.transaction(), conn.cursor(name="facts") as cur:
                cur.itersize = 5000
                cur.execute(FACTS_QUERY, (list(types),))
                for idx, event_type, occurred_at, user_id, data in cur:
                    yield idx, Fact(event_type, occurred_at, user_id, data)

    def entry(self, event_id: Any) -> tuple[int, bytes] | None:
        with self.db.connection() as conn:
            row = conn.execute("SELECT idx, leaf_entry FROM entries WHERE event_id = %s",
                               (str(event_id),)).fetchone()
        return (row[0], bytes(row[1])) if row else None

    # (size, root, note, created_at, time-stamp token or None)
    _CHECKPOINT = ("SELECT c.size, c.root, c.note, c.created_at, t.token FROM checkpoints c"
                   " LEFT JOIN timestamps t USING (size)")

    def latest_checkpoint(self) -> tuple | None:
        with self.db.connection() as conn:
            return conn.execute(self._CHECKPOINT + " ORDER BY c.size DESC LIMIT 1").fetchone()

    def checkpoint(self, size: int) -> tuple | None:
        with self.db.connection() as conn:
            return conn.execute(self._CHECKPOINT + " WHERE c.size = %s", (size,)).fetchone()

    def cosignatures(self, size: int) -> list[str]:
        with self.db.connection() as conn:
            return [r[0] for r in conn.execute(
                "SELECT note FROM cosignatures WHERE size = %s ORDER BY witness", (size,))]

    def last_upload(self) -> int:
        with self.db.connection() as conn:
            row = conn.execute("SELECT max(size) FROM uploads").fetchone()
        return row[0] or 0

    @staticmethod
    def _fetch(conn, keys):
        keys = list(keys)
        if not keys:
            return {}
        rows = conn.execute(
            "SELECT n.level, n.idx, n.hash FROM nodes n"
            " JOIN unnest(%s::smallint[], %s::bigint[]) AS k(level, idx)"
            " ON n.level = k.level AND n.idx = k.idx",
            ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
        return {(r[0], r[1]): bytes(r[2]) for r in rows}

    def _conn(self, conn):
        import contextlib

        return contextlib.nullcontext(conn) if conn is not None else self.db.connection()


def _copy(cur, target, rows):
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _frontier(size):
    """The perfect subtrees that make up a tree of ``size`` leaves (left siblings to come)."""
    return {(level, (size >> level) - 1) for level in range(size.bit_length())
            if (size >> level) & 1}


def _document_of(event):
    value = event.data.get("document_id")
    return str(value) if value is not None else None


def _is_erasure_order(event):
    """An authentic erasure order whose data holds what it must (the document, the
    decision, the reason): only such an order destroys anything. (Events reach
    the log authenticated: signed by a key of the producer the catalogue names.)"""
    return (event.event_type == ERASURE_TYPE and event.producer == ERASURE_PRODUCER
            and data_problem(ERASURE_TYPE, event.data) is None)
