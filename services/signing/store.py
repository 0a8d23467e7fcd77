"""The signing service's projection: its table, row reader and ``project``.

``project(event, conn)`` updates a document's row from one of signing's own
events alone; ``submitted`` keeps the copy of a document docs submitted (a
later round replaces an earlier one). The PKI's tables are ``authority``'s.
"""

from __future__ import annotations

import json
from typing import Any

from services.signing import authority, domain
from shared.envelope import Event, thaw

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

COLUMNS = ("issuing_agency", "sha256", "signer_user", "signer", "round", "state", "file",
           "attachments", "signed_file", "sealed_file", "manifest", "manifest_signature")

# The columns each of signing's events sets, and the state it leaves.
_CHANGES = {
    "DocumentSigned": (domain.SIGNED, ("signed_file",)),
    "DocumentReturned": (domain.RETURNED, ()),
    "DocumentSealed": (domain.SEALED, ("sealed_file",)),
    "DocumentFinalized": (None, ("attachments", "manifest", "manifest_signature")),
}


def row(conn: Any, document_id: Any, lock: bool = False) -> dict | None:
    found = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM documents WHERE document_id = %s"
                         + (" FOR UPDATE" if lock else ""), (document_id,)).fetchone()
    return dict(zip(COLUMNS, found), document_id=str(document_id)) if found else None


def manifest_files(conn: Any, document_id: Any) -> tuple[dict | None, dict | None]:
    found = conn.execute("SELECT manifest, manifest_signature FROM documents"
                         " WHERE document_id = %s", (document_id,)).fetchone()
    return (found[0], found[1]) if found else (None, None)


def submitted(event: Event, conn: Any) -> None:
    """docs' ``DocumentSubmitted``: the document to approve, this round."""
    d = thaw(event.data)
    conn.execute(
        "INSERT INTO documents VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (document_id) DO UPDATE SET sha256 = EXCLUDED.sha256,"
        " signer_user = EXCLUDED.signer_user, signer = EXCLUDED.signer,"
        " round = EXCLUDED.round, state = EXCLUDED.state, file = EXCLUDED.file,"
        " attachments = EXCLUDED.attachments WHERE documents.round < EXCLUDED.round",
        (d["document_id"], d["issuing_agency"], d["sha256"], d["signer_user"],
         json.dumps(d["signer"], ensure_ascii=False), d["round"], domain.SUBMITTED,
         json.dumps(d["file"]), json.dumps(d["attachments"], ensure_ascii=False)))


def project(event: Event, conn: Any) -> None:
    if event.event_type not in _CHANGES:
        raise ValueError(f"signing does not project {event.event_type}")
    state, columns = _CHANGES[event.event_type]
    data = thaw(event.data)
    changes = {name: json.dumps(data[name], ensure_ascii=False) for name in columns}
    if state is not None:
        changes["state"] = state
    conn.execute(f"UPDATE documents SET {', '.join(f'{k} = %s' for k in changes)}"
                 " WHERE document_id = %s", (*changes.values(), data["document_id"]))
