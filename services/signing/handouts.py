"""Hand-outs: a leader's signature prepared by the server, awaiting the digest's
signature from the leader's own device (``interrupted``).

A row keeps what completing needs (the PDF prepared, the signed attributes and
their digest), for whom (the document, its round, the leader and the
certificate named in the signed attributes) and until when. It is completed
once, in the transaction that records the signature.
"""

import uuid
from datetime import UTC, datetime, timedelta

from services.signing.interrupted import Prepared
from shared.errors import Conflict, Forbidden, NotFound
from shared.values import checked_uuid

DDL = """
CREATE TABLE IF NOT EXISTS handouts (
    handout_id         uuid PRIMARY KEY,
    document_id        uuid NOT NULL,
    round              integer NOT NULL,
    leader             text NOT NULL,
    certificate_serial text NOT NULL,
    digest             bytea NOT NULL,
    signed_attrs       bytea NOT NULL,
    document_digest    bytea NOT NULL,
    reserved_start     bigint NOT NULL,
    reserved_end       bigint NOT NULL,
    prepared           bytea NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    completed_at       timestamptz
);
CREATE INDEX IF NOT EXISTS handouts_document ON handouts (document_id);
"""

_COLUMNS = ("handout_id", "document_id", "round", "leader", "certificate_serial", "digest",
            "signed_attrs", "document_digest", "reserved_start", "reserved_end", "prepared",
            "expires_at", "completed_at")


def create(conn, document, leader, serial, prepared, seconds):
    """A new hand-out of ``prepared`` to ``leader``, valid ``seconds``."""
    handout_id = str(uuid.uuid4())
    expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
    conn.execute(
        "INSERT INTO handouts (handout_id, document_id, round, leader, certificate_serial,"
        " digest, signed_attrs, document_digest, reserved_start, reserved_end, prepared,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (handout_id, document["document_id"], document["round"], leader, serial,
         prepared.digest, prepared.signed_attrs, prepared.document_digest,
         *prepared.reserved, prepared.pdf, expires_at))
    return {"handout_id": handout_id, "expires_at": expires_at}


def usable(conn, handout_id, actor, now=None):
    """The hand-out, if ``actor`` may complete it now: theirs, open, not expired."""
    checked_uuid(handout_id, field="handout_id")
    found = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM handouts WHERE handout_id = %s",
                         (handout_id,)).fetchone()
    if found is None:
        raise NotFound(f"handout_id: no hand-out {handout_id}", field="handout_id")
    row = dict(zip(_COLUMNS, found))
    if row["leader"] != actor.user_id:
        raise Forbidden(f"handout_id: hand-out {handout_id} was given to another leader",
                        field="handout_id")
    if row["completed_at"] is not None:
        raise Conflict(f"handout_id: hand-out {handout_id} was completed on"
                       f" {row['completed_at'].isoformat()}", field="handout_id")
    if (now or datetime.now(UTC)) > row["expires_at"]:
        raise Forbidden(f"handout_id: hand-out {handout_id} expired on"
                        f" {row['expires_at'].isoformat()}; prepare the signature again",
                        field="handout_id")
    return row


def prepared(row):
    """The :class:`Prepared` signature a hand-out row keeps."""
    return Prepared(bytes(row["prepared"]), bytes(row["document_digest"]),
                    (row["reserved_start"], row["reserved_end"]), bytes(row["signed_attrs"]),
                    bytes(row["digest"]))


def complete(conn, handout_id):
    """Mark it used, in the transaction recording the signature: once only."""
    if conn.execute("UPDATE handouts SET completed_at = now() WHERE handout_id = %s"
                    " AND completed_at IS NULL AND expires_at >= now() RETURNING handout_id",
                    (handout_id,)).fetchone() is None:
        raise Conflict(f"handout_id: hand-out {handout_id} was completed or expired"
                       " meanwhile", field="handout_id")
