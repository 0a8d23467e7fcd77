"""The signing service's use cases on its rows: each a command transaction
(``shared.command``) under the document's row lock, where ``domain`` checks
again what the shell checked before its slow work (PAdES, S3).

They take the projection ``store`` (``services.signing.store``: PostgreSQL or
memory) and the event ``log``, and neither nameko, the PKI nor S3: the shell
signs, stores the files and passes their descriptions and certificate here.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from services.signing import domain
from shared.command import EventLog, decide_within, run_command
from shared.envelope import Actor, Event
from shared.errors import NotFound
from shared.values import checked_uuid


def _project(store: Any) -> Callable:
    def project(conn: Any, document: Any, recorded: list[Event]) -> None:
        for event in recorded:
            store.project(event, conn)
    return project


def submitted_document(store: Any, document_id: Any) -> dict:
    """The document as submitted for approval (and signed, sealed since)."""
    checked_uuid(document_id)
    with store.transaction() as conn:
        document = store.row(conn, document_id)
    if document is None:
        raise NotFound(f"document {document_id} was never submitted for approval (or"
                       " the signing service has not heard of it yet)", field="document_id")
    return document


def numbered_document(store: Any, document_id: Any, actor: Actor, wait_seconds: float,
                      sleep: Callable[[float], None]) -> dict:
    """The document the clerk seals, once the number docs gave at the signature
    has come. It normally follows the leader's signature by one event hop
    (milliseconds): wait for it up to ``wait_seconds`` (``sleep``: the shell's
    green sleep) so that a clerk sealing at once is not refused for nothing;
    then refuse, retryably (``domain.check_numbered``: "chưa cấp số")."""
    deadline = time.monotonic() + wait_seconds
    while True:
        document = submitted_document(store, document_id)
        domain.check_may_seal(document, actor)
        if document.get("numbering") or time.monotonic() >= deadline:
            domain.check_numbered(document)
            return document
        sleep(0.05)


def on_document(store: Any, log: EventLog, document_id: Any,
                decide: Callable[[dict], Event],
                within: Callable[[Any], None] | None = None) -> Event:
    """Under the row lock; ``within(conn)`` runs first in the same transaction
    (the signed file's upload intent settled)."""
    def load(conn: Any) -> dict:
        if within is not None:
            within(conn)
        document = store.row(conn, document_id, lock=True)
        if document is None:
            raise NotFound(f"document {document_id} was never submitted for approval",
                           field="document_id")
        return document
    _, [recorded] = run_command(store.writing, log, load, decide, _project(store))
    return recorded


def record_signature(store: Any, log: EventLog, document_id: Any, signed_file: dict,
                     certificate: dict, actor: Actor,
                     within: Callable[[Any], None] | None = None) -> Event:
    """The named leader's signature, still awaited under the lock."""
    def decide(document: dict) -> Event:
        domain.check_leader(document, actor)
        return domain.document_signed(document, signed_file, certificate, actor)
    return on_document(store, log, document_id, decide, within)


def return_document(store: Any, log: EventLog, document_id: Any, comment: Any,
                    actor: Actor) -> Event:
    """The named leader returns the draft for revision, saying why."""
    def decide(document: dict) -> Event:
        domain.check_leader(document, actor)
        return domain.document_returned(document, comment, actor)
    return on_document(store, log, document_id, decide)


def record_seal(store: Any, log: EventLog, document_id: Any, sealed_file: dict,
                certificate: dict, actor: Actor,
                within: Callable[[Any], None] | None = None) -> Event:
    """The agency's signature, by a clerk of the issuing agency, after the leader's."""
    def decide(document: dict) -> Event:
        domain.check_may_seal(document, actor)
        domain.check_numbered(document)
        return domain.document_sealed(document, sealed_file, certificate, actor)
    return on_document(store, log, document_id, decide, within)


def finalize(conn: Any, store: Any, log: EventLog, document: dict, number_notation: str,
             attachments: list, manifest: dict, manifest_signature: dict,
             certificate: dict, cause: Event) -> Event:
    """In docs' ``DocumentIssued`` consumer's transaction: the appendices as sent
    and the signed manifest (``document``: its row, locked by the caller)."""
    _, [recorded] = decide_within(conn, log, lambda conn: document, lambda document: (
        domain.document_finalized(document, number_notation, attachments, manifest,
                                  manifest_signature, certificate, cause)), _project(store))
    return recorded
