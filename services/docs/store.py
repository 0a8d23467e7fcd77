"""The docs service's projection: its tables, row readers and ``project``.

Two adapters with one interface: :class:`DocsStore` (PostgreSQL, the
service's schema) and :class:`MemoryDocsStore` (unit tests, no server); the
contract both keep is ``tests/unit/docs_store_contract.py``. ``conn`` is the
open transaction's connection (from :meth:`transaction` or a consumer's inbox
transaction); the memory adapter ignores it.

``project(event, conn)`` updates the rows from one of docs' own events; a
``DocumentStateChanged`` caused by another service's event takes the signed
or sealed file and the time of sending from that ``cause``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from services.docs import domain
from shared.envelope import Event, thaw
from shared.errors import NotFound
from shared.migrations import initial

DDL = """
CREATE TABLE IF NOT EXISTS documents (
    document_id    uuid PRIMARY KEY,
    issuing_agency text NOT NULL,
    state          text NOT NULL,
    round          integer NOT NULL DEFAULT 0,
    metadata       jsonb NOT NULL,
    recipients     text[] NOT NULL,
    file           jsonb NOT NULL,
    attachments    jsonb NOT NULL,
    registered_at  timestamptz NOT NULL,
    number         integer,
    number_notation text,
    year           integer,
    issued_at      timestamptz,
    sent_at        timestamptz,
    UNIQUE (issuing_agency, year, number_notation)
);
-- One row per (agency, year, series): the last number given. Taking a number
-- locks the row until the transaction that records it ends, so numbers are
-- given one at a time and a rolled-back issue gives its number back.
CREATE TABLE IF NOT EXISTS number_series (
    agency      text NOT NULL,
    year        integer NOT NULL,
    series      text NOT NULL,
    last_number integer NOT NULL,
    PRIMARY KEY (agency, year, series)
);
CREATE TABLE IF NOT EXISTS deliveries (
    document_id uuid NOT NULL,
    agency      text NOT NULL,
    PRIMARY KEY (document_id, agency)
);
CREATE TABLE IF NOT EXISTS incoming (
    document_id    uuid NOT NULL,
    agency         text NOT NULL,
    arrival_number integer NOT NULL,
    year           integer NOT NULL,
    arrived_at     timestamptz NOT NULL,
    state          text NOT NULL,
    reason         text,
    sender         text NOT NULL,
    number_notation text NOT NULL,
    document_year  integer NOT NULL,
    PRIMARY KEY (document_id, agency),
    UNIQUE (agency, year, arrival_number),
    UNIQUE (agency, sender, document_year, number_notation)
);
"""
# The issue deadline of each document its leader signed (Decree 30 Art. 18(1)):
# one row per document, so an overdue issue is recorded once (``overdue_at``).
ISSUE_DEADLINES_DDL = """
CREATE TABLE IF NOT EXISTS issue_deadlines (
    document_id    uuid PRIMARY KEY,
    issuing_agency text NOT NULL,
    urgency        smallint NOT NULL,
    signed_at      timestamptz NOT NULL,
    issue_by       timestamptz NOT NULL,
    issued_at      timestamptz,
    overdue_at     timestamptz
);
CREATE INDEX IF NOT EXISTS issue_deadlines_open ON issue_deadlines (issue_by) WHERE issued_at IS NULL;
"""
# docs' copy of routing's agency directory: each DirectoryChanged event's
# changes, by its place in routing's ``directory`` stream (``version``).
DIRECTORY_DDL = """
CREATE TABLE IF NOT EXISTS directory_changes (
    version integer PRIMARY KEY,
    changes jsonb NOT NULL
);
"""
# To whom the accepting clerk passed an incoming document, and when (the
# incoming register's "Đơn vị hoặc người nhận" and "Ngày chuyển").
HANDED_TO_DDL = """
ALTER TABLE incoming ADD COLUMN IF NOT EXISTS handed_to text;
ALTER TABLE incoming ADD COLUMN IF NOT EXISTS handed_at timestamptz;
"""
# The arrival number is given when the clerk accepts the copy (Decree 30 Art.
# 21-22), not on arrival: an arrived or returned copy has none.
UNNUMBERED_ARRIVALS_DDL = "ALTER TABLE incoming ALTER COLUMN arrival_number DROP NOT NULL;"
DELIVERY_REFUSED_DDL = "ALTER TABLE documents ADD COLUMN IF NOT EXISTS delivery_refused text;"
# Copies made by an agency (Decree 30 Art. 25-28): its copy register. Each
# form's number is unique per agency and year, as a document's is.
COPIES_DDL = """
CREATE TABLE IF NOT EXISTS copies (
    copy_id         uuid PRIMARY KEY,
    document_id     uuid NOT NULL,
    agency          text NOT NULL,
    form            text NOT NULL,
    number          integer NOT NULL,
    year            integer NOT NULL,
    number_notation text NOT NULL,
    pages           integer[],
    source_copy_id  uuid,
    file            jsonb NOT NULL,
    copied_at       timestamptz NOT NULL,
    copied_by       text NOT NULL,
    UNIQUE (agency, year, number_notation)
);
CREATE INDEX IF NOT EXISTS copies_of_document ON copies (document_id);
"""
# Versioned: a change to these tables is a new migration (shared.migrations).
MIGRATIONS = initial("docs", DDL).then(
    2, "issue_deadlines: the issue deadline of signed documents", ISSUE_DEADLINES_DDL).then(
    3, "directory_changes: routing's agency directory, as its events carry it", DIRECTORY_DDL
).then(4, "incoming: the unit or person an accepted document is passed to, and when",
       HANDED_TO_DDL).then(
    5, "incoming: the arrival number given at acceptance, none before",
    UNNUMBERED_ARRIVALS_DDL).then(
    6, "documents: why routing refused the first delivery, for the sender",
    DELIVERY_REFUSED_DDL).then(
    7, "copies: the copies (SY, SL, TrS) an agency made, its copy register", COPIES_DDL)
COPY_COLUMNS = ("copy_id", "document_id", "agency", "form", "number", "year",
                "number_notation", "pages", "source_copy_id", "file", "copied_at", "copied_by")
_COPY_SELECT = f"SELECT {', '.join(COPY_COLUMNS)} FROM copies"
ISSUE_COLUMNS = ("document_id", "issuing_agency", "urgency", "signed_at", "issue_by",
                 "issued_at", "overdue_at", "state", "subject", "document_type")
_ISSUE_SELECT = ("SELECT t.document_id, t.issuing_agency, t.urgency, t.signed_at, t.issue_by,"
                 " t.issued_at, t.overdue_at, d.state, d.metadata->>'subject',"
                 " d.metadata->>'document_type'"
                 " FROM issue_deadlines t JOIN documents d USING (document_id)")

DOCUMENT_COLUMNS = ("document_id, issuing_agency, state, round, metadata, recipients, file,"
                    " attachments, registered_at, number, number_notation, year, issued_at,"
                    " sent_at, delivery_refused")
# Set by its registration; the rest later, by events that change the document.
_INSERTED_COLUMNS = DOCUMENT_COLUMNS.rsplit(",", 1)[0]

# The columns each of docs' own events sets on the document's row.
_ROW_CHANGES = {
    "DocumentRevised": ("state", "file"),
    "DocumentSubmitted": ("state", "round"),
    "DocumentIssued": ("state", "number", "number_notation", "year", "issued_at"),
    "DocumentStateChanged": ("state",),
    # the register entry given once the leader signed; ``issued_at`` holds the
    # document's date (ngày ban hành, written on it), here the numbering's
    "DocumentNumbered": ("number", "number_notation", "year", "numbered_at"),
}
_COLUMN_OF = {"numbered_at": "issued_at"}
_INCOMING_CHANGES = ("IncomingAccepted", "IncomingReturned", "IncomingWithdrawn")
_SIGNED_FILE = {"sign": "signed_file", "seal": "sealed_file"}


def missing(document_id: Any) -> NotFound:
    return NotFound(f"document {document_id} does not exist", field="document_id")


def _registered_row(event: Event) -> dict:
    """A new document's row, from its ``DocumentRegistered`` or
    ``ExternalDocumentRecorded`` event."""
    data = thaw(event.data)
    return {**domain.metadata_of(data), "document_id": data["document_id"],
            "issuing_agency": data["issuing_agency"], "state": data["state"], "round": 0,
            "recipients": list(data["recipients"]), "file": data["file"],
            "attachments": data["attachments"], "registered_at": event.occurred_at,
            "number": data.get("number"), "number_notation": data.get("number_notation"),
            "year": data.get("year"), "issued_at": data.get("issued_at"),
            "sent_at": event.occurred_at if event.event_type == "ExternalDocumentRecorded"
            else None, "delivery_refused": None}


def _contiguous(versions: list[int]) -> int:
    """The last of ``versions`` (sorted) reached from 1 without a gap (0: none)."""
    last = 0
    for version in versions:
        if version != last + 1:
            break
        last = version
    return last


def _changes(event: Event, cause: Event | None) -> dict:
    """The row's columns that ``event`` (of a document already registered) sets."""
    data = thaw(event.data)
    changes = {_COLUMN_OF.get(name, name): data[name]
               for name in _ROW_CHANGES[event.event_type]}
    if event.event_type == "DocumentStateChanged" and data["command"] == "refuse_delivery":
        changes["delivery_refused"] = data["reason"]
    if event.event_type == "DocumentStateChanged" and cause is not None:
        signed = cause.data.get(_SIGNED_FILE.get(data["command"], ""))
        if signed:  # the leader's and the agency's signatures make new PDFs
            changes["file"] = thaw(signed)
        if data["command"] == "send":
            changes["sent_at"] = cause.occurred_at
    return changes


class DocsStore:
    """The PostgreSQL adapter (``db``: a :class:`shared.db.Database` on docs' schema)."""

    def __init__(self, db: Any, writing: Any = None) -> None:
        self.db = db
        self._writing = writing or db.transaction

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self.db.transaction()

    def writing(self) -> contextlib.AbstractContextManager[Any]:
        """A command's transaction: it records events (in the service's commit
        group, ``shared.groupcommit``, when it has one)."""
        return self._writing()

    # -- documents ----------------------------------------------------------------------

    def document(self, conn: Any, document_id: Any, lock: bool = False) -> dict | None:
        row = conn.execute(f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE document_id = %s"
                           + (" FOR UPDATE" if lock else ""), (document_id,)).fetchone()
        return _document(row) if row else None

    def lock(self, conn: Any, document_id: Any) -> dict:
        document = self.document(conn, document_id, lock=True)
        if document is None:
            raise missing(document_id)
        return document

    def numbered(self, conn: Any, agency: str, year: Any, number_notation: Any) -> bool:
        """Whether the agency has a document of that number and notation that year."""
        return conn.execute(
            "SELECT 1 FROM documents WHERE issuing_agency = %s AND year = %s"
            " AND number_notation = %s", (agency, year, number_notation)).fetchone() is not None

    def deliveries(self, conn: Any, document_id: Any) -> list[str]:
        return [r[0] for r in conn.execute(
            "SELECT agency FROM deliveries WHERE document_id = %s ORDER BY agency",
            (document_id,))]

    def incoming_states(self, conn: Any, document_id: Any) -> dict[str, str]:
        return {r[0]: r[1] for r in conn.execute(
            "SELECT agency, state FROM incoming WHERE document_id = %s", (document_id,))}

    def take_number(self, conn: Any, agency: str, year: int, series: str) -> int:
        return take_number(conn, agency, year, series)

    def take_numbers(self, conn: Any, agencies: list[str], year: int,
                     series: str) -> dict[str, int]:
        """The next number of each agency's series, in one statement; the rows
        are locked in the agencies' order (sorted: no deadlock between two)."""
        rows = conn.execute(
            "INSERT INTO number_series SELECT agency, %s, %s, 1"
            " FROM unnest(%s::text[]) AS agency ORDER BY agency"
            " ON CONFLICT (agency, year, series)"
            " DO UPDATE SET last_number = number_series.last_number + 1"
            " RETURNING agency, last_number",
            (year, series, sorted(set(agencies)))).fetchall()
        return dict(rows)

    def claim_deliveries(self, conn: Any, document_id: Any, agencies: list[str]) -> list[str]:
        """Record who got the document; the agencies it had not reached before."""
        rows = conn.execute(
            "INSERT INTO deliveries SELECT %s, agency FROM unnest(%s::text[]) AS agency"
            " ON CONFLICT (document_id, agency) DO NOTHING RETURNING agency",
            (document_id, sorted(set(agencies)))).fetchall()
        return [agency for (agency,) in rows]

    def set_attachments(self, conn: Any, document_id: Any, attachments: list) -> None:
        conn.execute("UPDATE documents SET attachments = %s WHERE document_id = %s",
                     (json.dumps(attachments, ensure_ascii=False), document_id))

    def outgoing(self, conn: Any, agency: str) -> list[dict]:
        """The agency's numbered documents, by year and number."""
        rows = conn.execute(
            f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE issuing_agency = %s"
            " AND number IS NOT NULL ORDER BY year, number", (agency,)).fetchall()
        return [_document(r) for r in rows]

    # -- issue deadlines -----------------------------------------------------------------

    def issue_tracking(self, conn: Any, document_id: Any, lock: bool = False) -> dict | None:
        """The document's issue deadline row (``ISSUE_COLUMNS``), None if it was not
        signed here; ``lock``: held until the transaction ends."""
        row = conn.execute(_ISSUE_SELECT + " WHERE t.document_id = %s"
                           + (" FOR UPDATE OF t" if lock else ""), (document_id,)).fetchone()
        return _issue_row(row) if row else None

    def overdue_issues(self, conn: Any, agency: str | None, now: datetime) -> list[dict]:
        """Signed, not issued, past the issue deadline at ``now``: of ``agency`` (or
        every agency), the earliest deadline first."""
        rows = conn.execute(
            _ISSUE_SELECT + " WHERE t.issued_at IS NULL AND t.issue_by < %s"
            " AND d.state = ANY(%s) AND (%s::text IS NULL OR t.issuing_agency = %s)"
            " ORDER BY t.issue_by, t.document_id",
            (now, list(domain.AWAITING_ISSUE), agency, agency)).fetchall()
        return [_issue_row(r) for r in rows]

    # -- incoming -----------------------------------------------------------------------

    def incoming(self, conn: Any, document_id: Any, agency: str) -> dict | None:
        """The agency's arrival of the document, locked; None if it did not arrive."""
        row = conn.execute("SELECT arrival_number, state, number_notation FROM incoming"
                           " WHERE document_id = %s AND agency = %s FOR UPDATE",
                           (document_id, agency)).fetchone()
        if row is None:
            return None
        return {"document_id": str(document_id), "agency": agency, "arrival_number": row[0],
                "state": row[1], "number_notation": row[2]}

    def arrivals(self, conn: Any, agency: str, year: int | None = None) -> list[dict]:
        """The agency's incoming documents, newest arrival first."""
        rows = conn.execute(
            "SELECT document_id, arrival_number, year, arrived_at, state, reason, sender,"
            " number_notation FROM incoming WHERE agency = %s"
            " AND (%s::int IS NULL OR year = %s::int) ORDER BY arrived_at DESC",
            (agency, year, year)).fetchall()
        return [{"document_id": str(r[0]), "arrival_number": r[1], "year": r[2],
                 "arrived_at": r[3], "state": r[4], "reason": r[5], "sender": r[6],
                 "number_notation": r[7]} for r in rows]

    def incoming_register(self, conn: Any, agency: str) -> list[tuple[dict, dict]]:
        """``(arrival, document)`` of the agency's incoming, by year and arrival number."""
        found = conn.execute(
            f"SELECT i.arrival_number, i.arrived_at, i.state, i.reason, i.handed_to,"
            f" i.handed_at, {', '.join('d.' + c.strip() for c in DOCUMENT_COLUMNS.split(','))}"
            " FROM incoming i JOIN documents d USING (document_id)"
            " WHERE i.agency = %s ORDER BY i.year, i.arrival_number, i.arrived_at",
            (agency,)).fetchall()
        return [({"arrival_number": r[0], "arrived_at": r[1], "state": r[2], "reason": r[3],
                  "handed_to": r[4], "handed_at": r[5]}, _document(r[6:])) for r in found]

    def summary(self, conn: Any) -> tuple[dict[str, dict], dict[str, list[str]]]:
        """Every document's row and every delivery, for the audit's reconciliation."""
        documents = {str(r[0]): {"issuing_agency": r[1], "recipients": list(r[2]),
                                 "file": r[3], "state": r[4], "number_notation": r[5]}
                     for r in conn.execute(
                         "SELECT document_id, issuing_agency, recipients, file, state,"
                         " number_notation FROM documents")}
        delivered: dict[str, list[str]] = {}
        for document_id, agency in conn.execute("SELECT document_id, agency FROM deliveries"):
            delivered.setdefault(str(document_id), []).append(agency)
        return documents, delivered

    # -- the agency directory (routing's, from its DirectoryChanged events) -------------

    def record_directory_changes(self, conn: Any, version: int, changes: list) -> None:
        """One ``DirectoryChanged`` event's changes, at its ``version`` (once)."""
        conn.execute("INSERT INTO directory_changes (version, changes) VALUES (%s, %s)"
                     " ON CONFLICT (version) DO NOTHING",
                     (version, json.dumps(changes, ensure_ascii=False)))

    def directory_version(self, conn: Any) -> int:
        """How many of the directory's events docs holds, from the first without a gap."""
        held, top = conn.execute("SELECT count(*), coalesce(max(version), 0)"
                                 " FROM directory_changes").fetchone()
        if held == top:
            return top  # no gap (each registration asks: one aggregate, no rows)
        versions = [r[0] for r in conn.execute(
            "SELECT version FROM directory_changes ORDER BY version")]
        return _contiguous(versions)

    def directory_changes(self, conn: Any, upto: int) -> list:
        """Every change of the directory's events 1 to ``upto``, oldest first."""
        return [c for (changes,) in conn.execute(
            "SELECT changes FROM directory_changes WHERE version <= %s ORDER BY version",
            (upto,)) for c in changes]

    # -- the projection -----------------------------------------------------------------

    # -- copies -------------------------------------------------------------------------

    def copy(self, conn: Any, copy_id: Any) -> dict | None:
        row = conn.execute(_COPY_SELECT + " WHERE copy_id = %s", (copy_id,)).fetchone()
        return _copy(row) if row else None

    def copies_of(self, conn: Any, document_id: Any, agency: str | None) -> list[dict]:
        """The copies of a document an agency made (every agency's with None)."""
        return [_copy(r) for r in conn.execute(
            _COPY_SELECT + " WHERE document_id = %s AND (%s::text IS NULL OR agency = %s)"
            " ORDER BY copied_at, number_notation", (document_id, agency, agency))]

    def copies_register(self, conn: Any, agency: str) -> list[tuple[dict, dict]]:
        """The agency's copies, oldest first, each with its document's row."""
        copies = [_copy(r) for r in conn.execute(
            _COPY_SELECT + " WHERE agency = %s ORDER BY copied_at, number_notation",
            (agency,))]
        return [(c, self.document(conn, c["document_id"])) for c in copies]

    def project_all(self, events: list[Event], conn: Any, cause: Event | None = None) -> None:
        """:meth:`project` each event in order; a broadcast's arrivals (every
        event an ``IncomingRegistered``) in one pipelined statement."""
        if len(events) < 2 or any(e.event_type != "IncomingRegistered" for e in events):
            for event in events:
                self.project(event, conn, cause=cause)
            return
        with conn.cursor() as cur:
            cur.executemany(_INSERT_INCOMING, [_incoming_row(e.data) for e in events])

    def project(self, event: Event, conn: Any, cause: Event | None = None) -> None:
        kind = event.event_type
        _track_issue(conn, event)
        if kind == "IssueOverdue":
            return  # its deadline row only (above)
        if kind in ("DocumentRegistered", "ExternalDocumentRecorded"):
            row = _registered_row(event)
            metadata = {k: row[k] for k in domain.METADATA_FIELDS}
            conn.execute(
                f"INSERT INTO documents ({_INSERTED_COLUMNS}) VALUES"
                " (%s, %s, %s, 0, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (row["document_id"], row["issuing_agency"], row["state"],
                 json.dumps(metadata, ensure_ascii=False), row["recipients"],
                 json.dumps(row["file"]), json.dumps(row["attachments"], ensure_ascii=False),
                 row["registered_at"], row["number"], row["number_notation"], row["year"],
                 row["issued_at"], row["sent_at"]))
        elif kind in _ROW_CHANGES:
            changes = _changes(event, cause)
            if "file" in changes:
                changes["file"] = json.dumps(changes["file"])
            if "sent_at" in changes:
                # A document is sent once: a second consignment keeps the first time.
                conn.execute("UPDATE documents SET sent_at = COALESCE(sent_at, %s)"
                             " WHERE document_id = %s",
                             (changes.pop("sent_at"), event.data["document_id"]))
            conn.execute(f"UPDATE documents SET {', '.join(f'{k} = %s' for k in changes)}"
                         " WHERE document_id = %s",
                         (*changes.values(), event.data["document_id"]))
        elif kind == "IncomingRegistered":
            conn.execute(_INSERT_INCOMING, _incoming_row(event.data))
        elif kind == "DocumentCopied":
            data = event.data
            conn.execute(
                f"INSERT INTO copies ({', '.join(COPY_COLUMNS)}) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (data["copy_id"], data["document_id"], data["agency"], data["form"],
                 data["number"], data["year"], data["number_notation"],
                 list(data["pages"]) if data.get("pages") else None,
                 data.get("source_copy_id"), json.dumps(thaw(data["file"])),
                 data["copied_at"], data["copied_by"]))
        elif kind in _INCOMING_CHANGES:
            data = event.data
            handed_to = data.get("handed_to")  # absent from events before it existed
            conn.execute("UPDATE incoming SET state = %s, reason = COALESCE(%s, reason),"
                         " handed_to = COALESCE(%s, handed_to),"
                         " handed_at = CASE WHEN %s::text IS NULL THEN handed_at ELSE %s END,"
                         " arrival_number = COALESCE(%s, arrival_number),"
                         " year = COALESCE(%s, year)"
                         " WHERE document_id = %s AND agency = %s",
                         (data["state"], data.get("reason"), handed_to, handed_to,
                          event.occurred_at, data.get("arrival_number"), data.get("year"),
                          data["document_id"], data["agency"]))
        else:
            raise ValueError(f"docs does not project {kind}")


class MemoryDocsStore:
    """The in-memory adapter: same interface, no server. A transaction holds one
    lock for the whole store and puts every row back if it fails."""

    def __init__(self) -> None:
        self.documents: dict[str, dict] = {}
        self.numbers: dict[tuple, int] = {}
        self.delivered: dict[str, set[str]] = {}
        self.arrived: dict[tuple[str, str], dict] = {}  # (document_id, agency) -> row
        self.deadlines: dict[str, dict] = {}  # document_id -> issue deadline row
        self.directory: dict[int, list] = {}  # routing's directory stream version -> changes
        self.copies: dict[str, dict] = {}  # copy_id -> row
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            saved = copy.deepcopy((self.documents, self.numbers, self.delivered, self.arrived,
                                   self.deadlines, self.directory, self.copies))
            try:
                yield None
            except BaseException:
                (self.documents, self.numbers, self.delivered, self.arrived,
                 self.deadlines, self.directory, self.copies) = saved
                raise

    writing = transaction

    def document(self, conn: Any, document_id: Any, lock: bool = False) -> dict | None:
        found = self.documents.get(str(document_id))
        return copy.deepcopy(found) if found else None

    def lock(self, conn: Any, document_id: Any) -> dict:
        document = self.document(conn, document_id)
        if document is None:
            raise missing(document_id)
        return document

    def numbered(self, conn: Any, agency: str, year: Any, number_notation: Any) -> bool:
        return any((d["issuing_agency"], d["year"], d["number_notation"])
                   == (agency, year, number_notation) for d in self.documents.values())

    def deliveries(self, conn: Any, document_id: Any) -> list[str]:
        return sorted(self.delivered.get(str(document_id), ()))

    def incoming_states(self, conn: Any, document_id: Any) -> dict[str, str]:
        return {agency: row["state"] for (doc, agency), row in self.arrived.items()
                if doc == str(document_id)}

    def take_number(self, conn: Any, agency: str, year: int, series: str) -> int:
        key = (agency, year, series)
        self.numbers[key] = self.numbers.get(key, 0) + 1
        return self.numbers[key]

    def take_numbers(self, conn: Any, agencies: list[str], year: int,
                     series: str) -> dict[str, int]:
        return {agency: self.take_number(conn, agency, year, series)
                for agency in sorted(set(agencies))}

    def claim_deliveries(self, conn: Any, document_id: Any, agencies: list[str]) -> list[str]:
        known = self.delivered.setdefault(str(document_id), set())
        new = sorted(set(agencies) - known)
        known.update(new)
        return new

    def set_attachments(self, conn: Any, document_id: Any, attachments: list) -> None:
        self.documents[str(document_id)]["attachments"] = copy.deepcopy(attachments)

    def outgoing(self, conn: Any, agency: str) -> list[dict]:
        found = [d for d in self.documents.values()
                 if d["issuing_agency"] == agency and d["number"] is not None]
        return copy.deepcopy(sorted(found, key=lambda d: (d["year"], d["number"])))

    def issue_tracking(self, conn: Any, document_id: Any, lock: bool = False) -> dict | None:
        row = self.deadlines.get(str(document_id))
        if row is None:
            return None
        document = self.documents[row["document_id"]]
        return {**copy.deepcopy(row), "state": document["state"],
                "subject": document["subject"], "document_type": document["document_type"]}

    def overdue_issues(self, conn: Any, agency: str | None, now: datetime) -> list[dict]:
        found = [self.issue_tracking(conn, doc) for doc, row in self.deadlines.items()
                 if row["issued_at"] is None and row["issue_by"] < now
                 and self.documents[doc]["state"] in domain.AWAITING_ISSUE
                 and agency in (None, row["issuing_agency"])]
        return sorted(found, key=lambda r: (r["issue_by"], r["document_id"]))

    def incoming(self, conn: Any, document_id: Any, agency: str) -> dict | None:
        row = self.arrived.get((str(document_id), agency))
        if row is None:
            return None
        return {"document_id": str(document_id), "agency": agency,
                "arrival_number": row["arrival_number"], "state": row["state"],
                "number_notation": row["number_notation"]}

    def arrivals(self, conn: Any, agency: str, year: int | None = None) -> list[dict]:
        rows = [{"document_id": doc, **{k: row[k] for k in (
                    "arrival_number", "year", "arrived_at", "state", "reason", "sender",
                    "number_notation")}}
                for (doc, at), row in self.arrived.items()
                if at == agency and (year is None or row["year"] == year)]
        return sorted(rows, key=lambda r: r["arrived_at"], reverse=True)

    def incoming_register(self, conn: Any, agency: str) -> list[tuple[dict, dict]]:
        found = sorted(((doc, row) for (doc, at), row in self.arrived.items()
                        if at == agency and doc in self.documents),
                       key=lambda item: (item[1]["year"], item[1]["arrival_number"] is None,
                                         item[1]["arrival_number"] or 0,
                                         item[1]["arrived_at"]))
        return [({**{k: row[k] for k in ("arrival_number", "arrived_at", "state", "reason")},
                  "handed_to": row.get("handed_to"), "handed_at": row.get("handed_at")},
                 copy.deepcopy(self.documents[doc])) for doc, row in found]

    def summary(self, conn: Any) -> tuple[dict[str, dict], dict[str, list[str]]]:
        documents = {doc: {"issuing_agency": d["issuing_agency"],
                           "recipients": list(d["recipients"]), "file": d["file"],
                           "state": d["state"], "number_notation": d["number_notation"]}
                     for doc, d in self.documents.items()}
        return documents, {doc: sorted(agencies) for doc, agencies in self.delivered.items()
                           if agencies}

    def record_directory_changes(self, conn: Any, version: int, changes: list) -> None:
        self.directory.setdefault(version, copy.deepcopy(list(changes)))

    def directory_version(self, conn: Any) -> int:
        return _contiguous(sorted(self.directory))

    def directory_changes(self, conn: Any, upto: int) -> list:
        return [copy.deepcopy(c) for v in sorted(self.directory) if v <= upto
                for c in self.directory[v]]

    def _numbered(self, agency: str, year: int, number: int) -> bool:
        return any((at, row["year"], row["arrival_number"]) == (agency, year, number)
                   for (_, at), row in self.arrived.items())

    def _track_issue(self, event: Event) -> None:
        """``_track_issue`` of the PostgreSQL adapter, on the dict."""
        kind, data = event.event_type, event.data
        doc = data.get("document_id")
        if kind == "DocumentStateChanged" and data.get("issue_by"):
            if doc not in self.deadlines:
                document = self.documents[doc]
                self.deadlines[doc] = {
                    "document_id": doc, "issuing_agency": document["issuing_agency"],
                    "urgency": document["urgency"] or 0,
                    "signed_at": _instant(data["signed_at"]),
                    "issue_by": _instant(data["issue_by"]), "issued_at": None,
                    "overdue_at": None}
        elif kind == "DocumentIssued" and doc in self.deadlines:
            self.deadlines[doc]["issued_at"] = _instant(data.get("released_at")
                                                        or data["issued_at"])
        elif kind == "IssueOverdue" and doc in self.deadlines:
            self.deadlines[doc]["overdue_at"] = _instant(data["overdue_at"])

    def _check_unique_notation(self, agency: str, changes: dict, document_id: str) -> None:
        """The table's UNIQUE (issuing_agency, year, number_notation)."""
        if any((d["issuing_agency"], d["year"], d["number_notation"])
               == (agency, changes["year"], changes["number_notation"])
               for doc, d in self.documents.items() if doc != document_id):
            raise ValueError(f"{changes['number_notation']} of {agency} is given already")

    def copy(self, conn: Any, copy_id: Any) -> dict | None:
        found = self.copies.get(str(copy_id))
        return copy.deepcopy(found) if found else None

    def copies_of(self, conn: Any, document_id: Any, agency: str | None) -> list[dict]:
        return copy.deepcopy(sorted(
            (c for c in self.copies.values() if c["document_id"] == str(document_id)
             and agency in (None, c["agency"])),
            key=lambda c: (c["copied_at"], c["number_notation"])))

    def copies_register(self, conn: Any, agency: str) -> list[tuple[dict, dict]]:
        return [(c, self.document(conn, c["document_id"])) for c in sorted(
            (c for c in copy.deepcopy(list(self.copies.values())) if c["agency"] == agency),
            key=lambda c: (c["copied_at"], c["number_notation"]))]

    def project_all(self, events: list[Event], conn: Any = None,
                    cause: Event | None = None) -> None:
        for event in events:
            self.project(event, conn, cause=cause)

    def project(self, event: Event, conn: Any = None, cause: Event | None = None) -> None:
        kind, data = event.event_type, thaw(event.data)
        self._track_issue(event)
        if kind == "IssueOverdue":
            return
        if kind in ("DocumentRegistered", "ExternalDocumentRecorded"):
            row = _registered_row(event)
            if row["document_id"] in self.documents:
                raise ValueError(f"document {row['document_id']} exists")  # a primary key
            row["issued_at"] = _instant(row["issued_at"])
            self.documents[row["document_id"]] = row
        elif kind in _ROW_CHANGES:
            row = self.documents[data["document_id"]]
            changes = _changes(event, cause)
            if "sent_at" in changes and row["sent_at"] is not None:
                del changes["sent_at"]
            if "issued_at" in changes:
                changes["issued_at"] = _instant(changes["issued_at"])
            if "number_notation" in changes:
                self._check_unique_notation(row["issuing_agency"], changes,
                                            data["document_id"])
            row.update(changes)
        elif kind == "IncomingRegistered":
            key = (data["document_id"], data["agency"])
            if key in self.arrived or data["document_id"] not in self.documents or (
                    data.get("arrival_number") is not None and self._numbered(
                        data["agency"], data["year"], data["arrival_number"])):
                raise ValueError(f"incoming {key} or its arrival number exists, or its"
                                 " document does not")
            self.arrived[key] = {
                "arrival_number": data.get("arrival_number"), "year": data["year"],
                "arrived_at": _instant(data["arrived_at"]), "state": data["state"],
                "reason": None, "sender": data["sender"],
                "number_notation": data["number_notation"],
                "document_year": self.documents[data["document_id"]]["year"]}
        elif kind == "DocumentCopied":
            if data["copy_id"] in self.copies or any(
                    (c["agency"], c["year"], c["number_notation"])
                    == (data["agency"], data["year"], data["number_notation"])
                    for c in self.copies.values()):
                raise ValueError(f"copy {data['copy_id']} or its number exists")
            self.copies[data["copy_id"]] = {
                **{k: data.get(k) for k in COPY_COLUMNS},
                "copied_at": _instant(data["copied_at"])}
        elif kind in _INCOMING_CHANGES:
            row = self.arrived[(data["document_id"], data["agency"])]
            row["state"] = data["state"]
            if data.get("reason") is not None:
                row["reason"] = data["reason"]
            if data.get("handed_to") is not None:
                row["handed_to"], row["handed_at"] = data["handed_to"], event.occurred_at
            if data.get("arrival_number") is not None and row["arrival_number"] is None:
                year = data.get("year", row["year"])
                if self._numbered(data["agency"], year, data["arrival_number"]):
                    raise ValueError(f"arrival number {data['arrival_number']} exists")
                row["arrival_number"], row["year"] = data["arrival_number"], year
        else:
            raise ValueError(f"docs does not project {kind}")


_INSERT_INCOMING = ("INSERT INTO incoming SELECT %s, %s, %s, %s, %s, %s, NULL, %s, %s, year"
                    " FROM documents WHERE document_id = %s")


def _incoming_row(data: dict) -> tuple:
    return (data["document_id"], data["agency"], data.get("arrival_number"), data["year"],
            data["arrived_at"], data["state"], data["sender"], data["number_notation"],
            data["document_id"])


def take_number(conn: Any, agency: str, year: int, series: str) -> int:
    """The next number of the series, held (locked) until the transaction ends."""
    return conn.execute(
        "INSERT INTO number_series VALUES (%s, %s, %s, 1) ON CONFLICT (agency, year, series)"
        " DO UPDATE SET last_number = number_series.last_number + 1 RETURNING last_number",
        (agency, year, series)).fetchone()[0]


def _track_issue(conn: Any, event: Event) -> None:
    """The issue deadline row: made when the leader's signature fixes the
    deadline, closed by the issue, marked when the overdue issue is recorded."""
    kind, data = event.event_type, event.data
    if kind == "DocumentStateChanged" and data.get("issue_by"):
        conn.execute("INSERT INTO issue_deadlines (document_id, issuing_agency, urgency,"
                     " signed_at, issue_by) SELECT document_id, issuing_agency,"
                     " COALESCE((metadata->>'urgency')::int, 0), %s, %s FROM documents"
                     " WHERE document_id = %s ON CONFLICT (document_id) DO NOTHING",
                     (data["signed_at"], data["issue_by"], data["document_id"]))
    elif kind == "DocumentIssued":  # released then (before: ``issued_at`` was both)
        conn.execute("UPDATE issue_deadlines SET issued_at = %s WHERE document_id = %s",
                     (data.get("released_at") or data["issued_at"], data["document_id"]))
    elif kind == "IssueOverdue":
        conn.execute("UPDATE issue_deadlines SET overdue_at = %s WHERE document_id = %s",
                     (data["overdue_at"], data["document_id"]))


def _issue_row(row: tuple) -> dict:
    return {**dict(zip(ISSUE_COLUMNS, row)), "document_id": str(row[0])}


def _instant(value: Any) -> datetime | None:
    """What PostgreSQL's timestamptz gives back for an ISO time string."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _copy(row: tuple) -> dict:
    found = dict(zip(COPY_COLUMNS, row))
    found["copy_id"], found["document_id"] = str(found["copy_id"]), str(found["document_id"])
    found["source_copy_id"] = str(found["source_copy_id"]) if found["source_copy_id"] else None
    found["pages"] = list(found["pages"]) if found["pages"] else None
    return found


def _document(row: tuple) -> dict:
    (document_id, issuing_agency, state, round_, metadata, recipients, file, attachments,
     registered_at, number, number_notation, year, issued_at, sent_at, delivery_refused) = row
    return {**metadata, "document_id": str(document_id), "issuing_agency": issuing_agency,
            "state": state, "round": round_, "recipients": list(recipients), "file": file,
            "attachments": attachments, "registered_at": registered_at, "number": number,
            "number_notation": number_notation, "year": year, "issued_at": issued_at,
            "sent_at": sent_at, "delivery_refused": delivery_refused}
