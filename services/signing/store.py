"""The signing service's projection: its table, row reader and ``project``.

Two adapters, one interface: :class:`SigningStore` (PostgreSQL) and
:class:`MemorySigningStore` (unit tests); ``tests/unit/signing_store_contract.py``
holds both to it. ``project(event, conn)`` updates a document's row from one
of signing's own events alone; ``submitted`` keeps the copy of a document docs
submitted (a later round replaces an earlier one). The PKI's tables are
``authority``'s.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Iterator
from typing import Any

from services.signing import authority, domain, enrolment, handouts, remote_credentials
from shared.envelope import Event, thaw
from shared.migrations import initial

DDL = """
CREATE TABLE IF NOT EXISTS documents (
    document_id    uuid PRIMARY KEY,
    issuing_agency text NOT NULL,
    sha256         text NOT NULL,
    signer_user    text NOT NULL,
    signer         jsonb NOT NULL,
    round          integer NOT NULL,
    state          text NOT NULL,
    file           jsonb NOT NULL,
    attachments    jsonb NOT NULL,
    signed_file    jsonb,
    sealed_file    jsonb,
    manifest       jsonb,
    manifest_signature jsonb
);
""" + authority.DDL
# What docs' register gave the document once its leader signed (its
# ``DocumentNumbered``): number_notation, numbered_at, place. The seal waits for it.
NUMBERING_DDL = "ALTER TABLE documents ADD COLUMN IF NOT EXISTS numbering jsonb;"
# Versioned: a change to these tables is a new migration (shared.migrations).
MIGRATIONS = initial("signing", DDL).then(
    2, "leaders' own keys (certificates.key_held) and signature hand-outs",
    authority.KEY_HELD_DDL + handouts.DDL).then(
    3, "leaders' credentials at remote signing services (CSC API)", remote_credentials.DDL).then(
    4, "certificate requests (CSRs of leaders' tokens) and their decisions", enrolment.DDL).then(
    5, "documents.numbering: the number, date and place docs gave once the leader signed",
    NUMBERING_DDL)

COLUMNS = ("issuing_agency", "sha256", "signer_user", "signer", "round", "state", "file",
           "attachments", "signed_file", "sealed_file", "manifest", "manifest_signature",
           "numbering")

# The columns each of signing's events sets, and the state it leaves.
_CHANGES = {
    "DocumentSigned": (domain.SIGNED, ("signed_file",)),
    "DocumentReturned": (domain.RETURNED, ()),
    "DocumentSealed": (domain.SEALED, ("sealed_file",)),
    "DocumentFinalized": (None, ("attachments", "manifest", "manifest_signature")),
}


def _changes(event: Event) -> dict:
    """The row's columns that one of signing's own events sets, from it alone."""
    if event.event_type not in _CHANGES:
        raise ValueError(f"signing does not project {event.event_type}")
    state, columns = _CHANGES[event.event_type]
    data = thaw(event.data)
    changes = {name: data[name] for name in columns}
    if state is not None:
        changes["state"] = state
    return changes


def _submitted_row(event: Event) -> dict:
    d = thaw(event.data)
    return {"document_id": d["document_id"], "issuing_agency": d["issuing_agency"],
            "sha256": d["sha256"], "signer_user": d["signer_user"], "signer": d["signer"],
            "round": d["round"], "state": domain.SUBMITTED, "file": d["file"],
            "attachments": d["attachments"], "signed_file": None, "sealed_file": None,
            "manifest": None, "manifest_signature": None, "numbering": None}


def _numbering(event: Event) -> dict:
    """What the seal writes on the page, from docs' ``DocumentNumbered``."""
    d = thaw(event.data)
    return {"number_notation": d["number_notation"], "numbered_at": d["numbered_at"],
            "place": d.get("place") or ""}


class SigningStore:
    """The PostgreSQL adapter (``db``: a :class:`shared.db.Database` on signing's
    schema). ``conn``: the open transaction's connection."""

    def __init__(self, db: Any, writing: Any = None) -> None:
        self.db = db
        self._writing = writing or db.transaction

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self.db.transaction()

    def writing(self) -> contextlib.AbstractContextManager[Any]:
        """A command's transaction: it records events (in the service's commit
        group, ``shared.groupcommit``, when it has one)."""
        return self._writing()

    def row(self, conn: Any, document_id: Any, lock: bool = False) -> dict | None:
        found = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM documents WHERE document_id = %s"
            + (" FOR UPDATE" if lock else ""), (document_id,)).fetchone()
        return dict(zip(COLUMNS, found), document_id=str(document_id)) if found else None

    def manifest_files(self, conn: Any, document_id: Any) -> tuple[dict | None, dict | None]:
        """The signed manifest and its detached signature, (None, None) before."""
        found = conn.execute("SELECT manifest, manifest_signature FROM documents"
                             " WHERE document_id = %s", (document_id,)).fetchone()
        return (found[0], found[1]) if found else (None, None)

    def summary(self, conn: Any) -> dict[str, dict]:
        """Every row's id, agency, submitted SHA-256, state, signed and sealed files."""
        return {str(r[0]): {"issuing_agency": r[1], "sha256": r[2], "state": r[3],
                            "signed_file": r[4], "sealed_file": r[5]}
                for r in conn.execute("SELECT document_id, issuing_agency, sha256, state,"
                                      " signed_file, sealed_file FROM documents")}

    def signatures(self, conn: Any) -> dict[str, str]:
        """``{document id: key id}`` of every leader's signature recorded (the
        ``DocumentSigned`` events in this service's log)."""
        prefix = domain.stream_of("")
        return {stream_id[len(prefix):]: key_id for stream_id, key_id in conn.execute(
            "SELECT stream_id, envelope->'data'->>'key_id' FROM events"
            " WHERE starts_with(stream_id, %s)"
            " AND envelope->>'event_type' = 'DocumentSigned'", (prefix,))}

    def submitted(self, event: Event, conn: Any) -> None:
        """docs' ``DocumentSubmitted``: the document to approve, this round; a later
        round (resubmitted after a return) replaces an earlier one."""
        r = _submitted_row(event)
        conn.execute(
            "INSERT INTO documents VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (document_id) DO UPDATE SET sha256 = EXCLUDED.sha256,"
            " signer_user = EXCLUDED.signer_user, signer = EXCLUDED.signer,"
            " round = EXCLUDED.round, state = EXCLUDED.state, file = EXCLUDED.file,"
            " attachments = EXCLUDED.attachments WHERE documents.round < EXCLUDED.round",
            (r["document_id"], r["issuing_agency"], r["sha256"], r["signer_user"],
             json.dumps(r["signer"], ensure_ascii=False), r["round"], r["state"],
             json.dumps(r["file"]), json.dumps(r["attachments"], ensure_ascii=False)))

    def numbered(self, event: Event, conn: Any) -> None:
        """docs' ``DocumentNumbered``: the number, date and place to write under
        the seal; once (a redelivery, or a number after the seal, changes nothing)."""
        conn.execute("UPDATE documents SET numbering = %s WHERE document_id = %s"
                     " AND numbering IS NULL",
                     (json.dumps(_numbering(event), ensure_ascii=False),
                      event.data["document_id"]))

    def project(self, event: Event, conn: Any) -> None:
        changes = {k: v if k == "state" else json.dumps(v, ensure_ascii=False)
                   for k, v in _changes(event).items()}
        conn.execute(f"UPDATE documents SET {', '.join(f'{k} = %s' for k in changes)}"
                     " WHERE document_id = %s", (*changes.values(), event.data["document_id"]))


class MemorySigningStore:
    """The in-memory adapter: same interface, no server (unit tests). A
    transaction holds one lock and puts the rows back if it fails."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.signed: dict[str, str] = {}  # document id -> key id, as the log would say
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            saved = copy.deepcopy((self.rows, self.signed))
            try:
                yield None
            except BaseException:
                self.rows, self.signed = saved
                raise

    writing = transaction

    def signatures(self, conn: Any) -> dict[str, str]:
        return dict(self.signed)

    def row(self, conn: Any, document_id: Any, lock: bool = False) -> dict | None:
        found = self.rows.get(str(document_id))
        return copy.deepcopy(found) if found else None

    def manifest_files(self, conn: Any, document_id: Any) -> tuple[dict | None, dict | None]:
        found = self.rows.get(str(document_id))
        return ((copy.deepcopy(found["manifest"]), copy.deepcopy(found["manifest_signature"]))
                if found else (None, None))

    def summary(self, conn: Any) -> dict[str, dict]:
        return {doc: {k: copy.deepcopy(r[k]) for k in (
                    "issuing_agency", "sha256", "state", "signed_file", "sealed_file")}
                for doc, r in self.rows.items()}

    def submitted(self, event: Event, conn: Any = None) -> None:
        r = _submitted_row(event)
        known = self.rows.get(r["document_id"])
        if known is None:
            self.rows[r["document_id"]] = r
        elif known["round"] < r["round"]:
            known.update({k: r[k] for k in ("sha256", "signer_user", "signer", "round",
                                             "state", "file", "attachments")})

    def numbered(self, event: Event, conn: Any = None) -> None:
        row = self.rows.get(str(event.data["document_id"]))
        if row is not None and row.get("numbering") is None:
            row["numbering"] = _numbering(event)

    def project(self, event: Event, conn: Any = None) -> None:
        row = self.rows.get(str(event.data["document_id"]))
        changes = _changes(event)
        if event.event_type == "DocumentSigned":
            self.signed[str(event.data["document_id"])] = event.data["key_id"]
        if row is not None:
            row.update(copy.deepcopy(changes))
