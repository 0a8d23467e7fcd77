"""The dashboard's projection in PostgreSQL: the rows of ``dashboard.Projection``.

Kept up to date after the log's appends, not inside them (the append path
stays as fast as the log alone): :func:`catch_up` folds the entries after its
cursor (``dashboard_cursor``, the last leaf index projected) in one
transaction with the cursor's move, so each entry is projected once, by one
instance at a time (the cursor row is locked). The service catches up on a
timer and before every dashboard it answers, so an answer reflects every
event logged before it was asked. :func:`rebuild` folds the whole log again
under the log's append lock and replaces the rows and the cursor: the same
fold over the same events in the same order gives the same rows
(``tests/integration/test_audit_dashboard.py``).

Unlike the log, these tables are not append-only (a row changes as its copy
is accepted, completed...): the append-only role may update and delete them,
and nothing else of the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from services.audit import dashboard
from services.audit.leaves import stored_event
from services.audit.log import APP_ROLE, LOG_LOCK
from shared.migrations import initial

DDL = f"""
CREATE TABLE IF NOT EXISTS dashboard_sent (
    document_id     text PRIMARY KEY,
    agency          text,
    sent_at         timestamptz,
    urgency         integer NOT NULL DEFAULT 0,
    number_notation text,
    subject         text,
    signed          boolean NOT NULL DEFAULT false,
    sealed          boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS dashboard_sent_agency ON dashboard_sent (agency, sent_at);
CREATE TABLE IF NOT EXISTS dashboard_copies (
    document_id          text NOT NULL,
    recipient            text NOT NULL,
    sender               text,
    arrived_at           timestamptz,
    urgency              integer NOT NULL DEFAULT 0,
    code                 text,
    accepted_at          timestamptz,
    returned_at          timestamptz,
    completed_at         timestamptz,
    overdue_registration timestamptz,
    overdue_completion   timestamptz,
    recalled             boolean NOT NULL DEFAULT false,
    PRIMARY KEY (document_id, recipient)
);
CREATE INDEX IF NOT EXISTS dashboard_copies_recipient
    ON dashboard_copies (recipient, arrived_at);
-- The last leaf index folded into the rows above (-1: none yet).
CREATE TABLE IF NOT EXISTS dashboard_cursor (
    id  integer PRIMARY KEY CHECK (id = 1),
    idx bigint NOT NULL
);
INSERT INTO dashboard_cursor VALUES (1, -1) ON CONFLICT DO NOTHING;
GRANT SELECT, INSERT, UPDATE, DELETE ON dashboard_sent, dashboard_copies TO {APP_ROLE};
GRANT SELECT, UPDATE ON dashboard_cursor TO {APP_ROLE};
"""
MIGRATIONS = initial("dashboard", DDL)

WRITE_BATCH = 5000  # rows per statement (a rebuild writes every row)
_SENT = ", ".join(dashboard.SENT_COLUMNS)
_COPY = ", ".join(dashboard.COPY_COLUMNS)


# Each column's SQL type: a batch's rows are written in one statement, as arrays.
_TYPES = {"document_id": "text", "agency": "text", "sent_at": "timestamptz",
          "urgency": "integer", "number_notation": "text", "subject": "text",
          "signed": "boolean", "sealed": "boolean", "recipient": "text", "sender": "text",
          "arrived_at": "timestamptz", "code": "text", "accepted_at": "timestamptz",
          "returned_at": "timestamptz", "completed_at": "timestamptz",
          "overdue_registration": "timestamptz", "overdue_completion": "timestamptz",
          "recalled": "boolean"}


def _upsert(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """One INSERT of every row (``unnest`` of one array per column), each
    replacing its stored row: far cheaper than a statement per row."""
    changing = [c for c in columns if c not in keys]
    arrays = ", ".join(f"%s::{_TYPES[c]}[]" for c in columns)
    return (f"INSERT INTO {table} ({', '.join(columns)})"
            f" SELECT * FROM unnest({arrays})"
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in changing))


_UPSERT_SENT = _upsert("dashboard_sent", dashboard.SENT_COLUMNS, ("document_id",))
_UPSERT_COPY = _upsert("dashboard_copies", dashboard.COPY_COLUMNS,
                       ("document_id", "recipient"))


def _sent(row: tuple) -> dashboard.Sent:
    return dashboard.Sent(*row)


def _copy(row: tuple) -> dashboard.Copy:
    return dashboard.Copy(*row)


CATCH_UP_BATCH = 5000  # entries folded per transaction


def catch_up(db: Any, batch: int = CATCH_UP_BATCH) -> int:
    """Fold the entries logged after the cursor into the rows, a batch per
    transaction with the cursor's move; the number of entries passed."""
    passed = 0
    while True:
        with db.transaction() as conn:
            after = conn.execute(
                "SELECT idx FROM dashboard_cursor WHERE id = 1 FOR UPDATE").fetchone()[0]
            found = conn.execute(
                "SELECT e.idx, e.event_type, e.leaf_entry, p.data FROM entries e"
                " LEFT JOIN payloads p USING (event_id)"
                " WHERE e.idx > %s ORDER BY e.idx LIMIT %s", (after, batch)).fetchall()
            if not found:
                return passed
            apply(conn, [stored_event(bytes(entry), data) for _, kind, entry, data in found
                         if kind in dashboard.EVENT_TYPES])
            conn.execute("UPDATE dashboard_cursor SET idx = %s WHERE id = 1",
                         (found[-1][0],))
        passed += len(found)
        if len(found) < batch:
            return passed


def apply(conn: Any, events: Sequence[Any]) -> None:
    """Project ``events`` (in log order) in the caller's transaction: the rows
    of the documents they touch are loaded, folded, and written back."""
    wanted = [e for e in events if e.event_type in dashboard.EVENT_TYPES
              and e.data.get("document_id") is not None]
    if not wanted:
        return
    ids = sorted({str(e.data["document_id"]) for e in wanted})
    projection = dashboard.Projection(
        [_sent(r) for r in conn.execute(
            f"SELECT {_SENT} FROM dashboard_sent WHERE document_id = ANY(%s)", (ids,))],
        [_copy(r) for r in conn.execute(
            f"SELECT {_COPY} FROM dashboard_copies WHERE document_id = ANY(%s)", (ids,))])
    for event in wanted:
        projection.apply(event)
    _write(conn, projection)


def _write(conn: Any, projection: dashboard.Projection) -> None:
    sent = [_values(projection.sent[k], dashboard.SENT_COLUMNS)
            for k in sorted(projection.dirty_sent)]
    copies = [_values(projection.copies[k], dashboard.COPY_COLUMNS)
              for k in sorted(projection.dirty_copies)]
    for statement, rows in ((_UPSERT_SENT, sent), (_UPSERT_COPY, copies)):
        for start in range(0, len(rows), WRITE_BATCH):
            chunk = rows[start:start + WRITE_BATCH]
            conn.execute(statement, [list(column) for column in zip(*chunk)])


def _values(row: Any, columns: Sequence[str]) -> tuple:
    # Not dataclasses.astuple: it deep-copies every field, half a batch's cost.
    return tuple(getattr(row, c) for c in columns)


def erased(conn: Any, document_id: str) -> None:
    """An erasure order destroyed the document's data in the log: the dashboard
    forgets the subject it copied from it (its figures, which are not the
    document's content, stay). The cursor's lock first: a catch-up that read the
    data before the order finishes before this; the next one finds it gone."""
    conn.execute("SELECT idx FROM dashboard_cursor WHERE id = 1 FOR UPDATE")
    conn.execute("UPDATE dashboard_sent SET subject = NULL WHERE document_id = %s",
                 (document_id,))


def rebuild(db: Any) -> dict:
    """Fold the whole log again and replace the projection with what it gives,
    in one transaction under the log's append lock (appends wait meanwhile)."""
    with db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOG_LOCK,))
        conn.execute("SELECT idx FROM dashboard_cursor WHERE id = 1 FOR UPDATE")
        projection = dashboard.Projection()
        with conn.cursor(name="dashboard_rebuild") as cur:
            cur.itersize = 5000
            cur.execute("SELECT e.leaf_entry, p.data FROM entries e"
                        " LEFT JOIN payloads p USING (event_id)"
                        " WHERE e.event_type = ANY(%s) ORDER BY e.idx",
                        (sorted(dashboard.EVENT_TYPES),))
            for entry, data in cur:
                projection.apply(stored_event(bytes(entry), data))
        conn.execute("DELETE FROM dashboard_sent")
        conn.execute("DELETE FROM dashboard_copies")
        _write(conn, projection)
        conn.execute("UPDATE dashboard_cursor SET idx ="
                     " (SELECT coalesce(max(idx), -1) FROM entries) WHERE id = 1")
    return {"sent": len(projection.sent), "copies": len(projection.copies)}


def rows(db: Any, agencies: Iterable[str], bounds: tuple[datetime, datetime]
         ) -> tuple[list[dashboard.Sent], list[dashboard.Copy]]:
    """The rows of ``agencies`` whose sending or arrival falls in ``bounds``."""
    codes = sorted(set(agencies))
    with db.connection() as conn:
        sent = [_sent(r) for r in conn.execute(
            f"SELECT {_SENT} FROM dashboard_sent WHERE agency = ANY(%s)"
            " AND sent_at >= %s AND sent_at < %s", (codes, *bounds))]
        copies = [_copy(r) for r in conn.execute(
            f"SELECT {_COPY} FROM dashboard_copies WHERE recipient = ANY(%s)"
            " AND arrived_at >= %s AND arrived_at < %s", (codes, *bounds))]
    return sent, copies


def labels(db: Any, document_ids: Iterable[str]) -> dict[str, dict]:
    """``{document_id: {number_notation, subject}}`` of the listed documents."""
    ids = sorted(set(document_ids))
    if not ids:
        return {}
    with db.connection() as conn:
        return {r[0]: {"number_notation": r[1], "subject": r[2]} for r in conn.execute(
            "SELECT document_id, number_notation, subject FROM dashboard_sent"
            " WHERE document_id = ANY(%s)", (ids,))}


def snapshot(conn: Any) -> tuple[list[tuple], list[tuple]]:
    """Every row, in key order (to compare a rebuilt projection with the live one)."""
    return (conn.execute(f"SELECT {_SENT} FROM dashboard_sent ORDER BY document_id").fetchall(),
            conn.execute(f"SELECT {_COPY} FROM dashboard_copies"
                         " ORDER BY document_id, recipient").fetchall())
