"""nameko entrypoints of the signing service."""

import base64
import uuid

from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from services.signing import domain
from services.signing.keys import DevSigner
from shared.auth import require_role
from shared.errors import ConcurrencyConflict, Conflict, NotFound, ValidationFailed
from shared.green import run_cpu
from shared.nameko_ext import Health, Authenticator, EventStoreProvider

DDL = """
CREATE TABLE IF NOT EXISTS documents (
    document_id    uuid PRIMARY KEY,
    issuing_agency text NOT NULL,
    sha256         text NOT NULL
);
"""


class SigningKey(DependencyProvider):
    """Config: ``SIGNING_KEY_FILE`` (encrypted PEM) and ``SIGNING_KEY_PASSPHRASE``."""

    def setup(self):
        c = self.container.config
        self.signer = DevSigner.load_or_create(c["SIGNING_KEY_FILE"],
                                               str(c["SIGNING_KEY_PASSPHRASE"]))

    def get_dependency(self, worker_ctx):
        return self.signer


class SigningService(Health):
    name = domain.SERVICE

    events = EventStoreProvider(ddl=DDL)
    auth = Authenticator()
    signer = SigningKey()

    @event_handler("docs", "DocumentRegistered", requeue_on_error=True)
    def on_document_registered(self, payload):
        def effects(event, conn):
            conn.execute("INSERT INTO documents VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                         (event.data["document_id"], event.data["issuing_agency"],
                          event.data["file"]["sha256"]))

        self.events.handle_once("signing.on_document_registered", payload, effects)

    @rpc
    def sign_document(self, document_id):
        """The leader signs the document's SHA-256; once per document."""
        actor = self.auth.actor()
        document = self._document(document_id)
        domain.check_may_sign(document, actor)
        message = domain.signed_message(document["document_id"], document["sha256"])
        signature = base64.b64encode(run_cpu(self.signer.sign, message)).decode()
        event = domain.document_signed(document, self.signer, signature, actor)
        try:
            [recorded] = self.events.append(event.stream_id, 0, [event])
        except ConcurrencyConflict:
            raise Conflict(f"document {document_id} is already signed",
                           field="document_id") from None
        return {"document_id": document_id, "event_id": recorded.event_id,
                "key_id": self.signer.key_id, "signature": signature}

    @rpc
    def public_key(self):
        self.auth.actor()
        return {"algorithm": self.signer.algorithm, "key_id": self.signer.key_id,
                "public_key": self.signer.public_key_b64}

    @rpc
    def state_summary(self):
        """Every document as this service knows it, sorted by id (auditors only).

        A document is signed when its ``signature-<id>`` stream exists; the
        key id is the one its ``DocumentSigned`` event names.
        """
        require_role(self.auth.actor(), "auditor")
        prefix = domain.stream_of("")
        with self.events.transaction() as conn:
            documents = {str(r[0]): r for r in conn.execute(
                "SELECT document_id, issuing_agency, sha256 FROM documents")}
            signatures = {}
            for stream_id, key_id in conn.execute(
                    "SELECT stream_id, envelope->'data'->>'key_id' FROM events"
                    " WHERE starts_with(stream_id, %s) AND stream_version = 1", (prefix,)):
                signatures[stream_id[len(prefix):]] = key_id
        summary = []
        for document_id in sorted(set(documents) | set(signatures)):
            row = documents.get(document_id)
            summary.append({
                "document_id": document_id,
                "issuing_agency": row[1] if row else None,
                "sha256": row[2] if row else None,
                "signed": document_id in signatures,
                "key_id": signatures.get(document_id),
            })
        return summary

    def _document(self, document_id):
        try:
            uuid.UUID(str(document_id))
        except ValueError:
            raise ValidationFailed("document_id: not a UUID", field="document_id") from None
        with self.events.transaction() as conn:
            row = conn.execute("SELECT issuing_agency, sha256 FROM documents"
                               " WHERE document_id = %s", (document_id,)).fetchone()
        if row is None:
            raise NotFound(f"document {document_id} is not registered (or not yet known"
                           " to the signing service)", field="document_id")
        return {"document_id": str(document_id), "issuing_agency": row[0], "sha256": row[1]}
