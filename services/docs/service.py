"""nameko entrypoints of the docs service: thin, the rules live in ``domain``."""

import json
import uuid

from nameko.dependency_providers import Config
from nameko.events import event_handler
from nameko.rpc import rpc

from services.docs import domain
from services.docs.schemas import load_register
from shared.auth import require_role
from shared.errors import Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from shared.multipart import MultipartStream
from shared.nameko_ext import (
    Health,
    Authenticator, EventStoreProvider, ObjectStoreProvider, json_http, json_response,
)

DDL = """
CREATE TABLE IF NOT EXISTS documents (
    document_id    uuid PRIMARY KEY,
    issuing_agency text NOT NULL,
    recipients     text[] NOT NULL,
    subject        text NOT NULL,
    file           jsonb NOT NULL,
    registered_at  timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    document_id uuid NOT NULL,
    agency      text NOT NULL,
    PRIMARY KEY (document_id, agency)
);
"""


class DocsService(Health):
    name = domain.SERVICE

    events = EventStoreProvider(ddl=DDL)
    files = ObjectStoreProvider()
    auth = Authenticator()
    config = Config()

    @json_http("POST", "/v1/documents")
    def register_document(self, request):
        """Register a document: a ``metadata`` JSON field, then the PDF ``file``.

        Everything that can be checked is checked before the file is read; the
        file is streamed to the bucket; if anything fails after that, the
        object is removed and no event is stored.
        """
        actor = self.auth.actor(request)
        limit = int(self.config.get("MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
        if request.content_length and request.content_length > limit + 64 * 1024:
            raise PayloadTooLarge(f"file: larger than the limit of {limit} bytes", field="file")
        if request.mimetype != "multipart/form-data":
            raise ValidationFailed("request: send multipart/form-data (metadata, then file)",
                                   field="content-type")
        form = MultipartStream(request.stream, request.mimetype_params.get("boundary"))
        part = form.next_part()
        if part is None or part[:2] != ("field", "metadata"):
            raise ValidationFailed("metadata: required, as the first form field",
                                   field="metadata")
        command = load_register(form.read_field())
        domain.check_registration(command, actor)
        part = form.next_part()
        if part is None or part[:2] != ("file", "file"):
            raise ValidationFailed("file: required, as the form field after metadata",
                                   field="file")

        document_id = _new_id()
        key = domain.file_key(document_id)
        stored = self.files.put_stream(key, form.file_stream(), max_size=limit)
        try:
            event = domain.document_registered(document_id, command, stored, actor)
            with self.events.transaction() as conn:
                [recorded] = self.events.append(event.stream_id, 0, [event], conn=conn)
                conn.execute(
                    "INSERT INTO documents VALUES (%s, %s, %s, %s, %s, %s)",
                    (document_id, actor.agency, list(event.data["recipients"]),
                     command["subject"], json.dumps(stored.to_dict()), event.occurred_at))
        except BaseException:
            self.files.delete(key, version_id=stored.version_id)
            raise
        return json_response({"document_id": document_id, "event_id": recorded.event_id,
                              "file": stored.to_dict()}, status=201)

    @json_http("GET", "/v1/documents/<document_id>")
    def get_document_http(self, request, document_id):
        return json_response(self._readable(document_id, self.auth.actor(request)))

    @json_http("GET", "/v1/documents/<document_id>/file")
    def file_url_http(self, request, document_id):
        return json_response({"url": self._file_url(document_id, self.auth.actor(request))})

    @rpc
    def get_document(self, document_id):
        return self._readable(document_id, self.auth.actor())

    @rpc
    def file_url(self, document_id):
        """A short-lived pre-signed URL, for the sender, the recipients and auditors."""
        return self._file_url(document_id, self.auth.actor())

    @rpc
    def state_summary(self):
        """Every document as this service knows it, sorted by id (auditors only).

        For the audit's reconciliation with the log: issuing agency, recipients,
        the stored file's SHA-256 and the agencies it was delivered to.
        """
        require_role(self.auth.actor(), "auditor")
        with self.events.transaction() as conn:
            documents = {str(r[0]): r for r in conn.execute(
                "SELECT document_id, issuing_agency, recipients, file FROM documents")}
            delivered = {}
            for document_id, agency in conn.execute(
                    "SELECT document_id, agency FROM deliveries"):
                delivered.setdefault(str(document_id), []).append(agency)
        summary = []
        # A delivery of a document this service has no row for is shown too.
        for document_id in sorted(set(documents) | set(delivered)):
            row = documents.get(document_id)
            summary.append({
                "document_id": document_id,
                "issuing_agency": row[1] if row else None,
                "recipients": sorted(row[2]) if row else [],
                "sha256": row[3].get("sha256") if row else None,
                "delivered_to": sorted(delivered.get(document_id, [])),
            })
        return summary

    @event_handler("routing", "DocumentDelivered", requeue_on_error=True)
    def on_document_delivered(self, payload):
        def effects(event, conn):
            conn.execute("INSERT INTO deliveries VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (event.data["document_id"], event.data["recipient"]))

        self.events.handle_once("docs.on_document_delivered", payload, effects)

    # -- helpers --------------------------------------------------------------

    def _load(self, document_id):
        _check_uuid(document_id)
        with self.events.transaction() as conn:
            row = conn.execute(
                "SELECT issuing_agency, recipients, subject, file, registered_at"
                " FROM documents WHERE document_id = %s", (document_id,)).fetchone()
            if row is None:
                raise NotFound(f"document {document_id} does not exist", field="document_id")
            delivered = [r[0] for r in conn.execute(
                "SELECT agency FROM deliveries WHERE document_id = %s ORDER BY agency",
                (document_id,))]
        return {"document_id": document_id, "issuing_agency": row[0], "recipients": row[1],
                "subject": row[2], "file": row[3], "registered_at": row[4].isoformat(),
                "delivered_to": delivered}

    def _readable(self, document_id, actor):
        document = self._load(document_id)
        if not domain.may_read(document, actor):
            # Same answer as for a missing document: do not confirm it exists.
            raise NotFound(f"document {document_id} does not exist", field="document_id")
        return document

    def _file_url(self, document_id, actor):
        document = self._readable(document_id, actor)
        if actor.role not in ("clerk", "leader", "auditor"):
            raise Forbidden("this role does not download files", field="role")
        return self.files.presigned_get(document["file"]["key"],
                                        version_id=document["file"]["version_id"])


def _new_id():
    return str(uuid.uuid4())


def _check_uuid(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed("document_id: not a UUID", field="document_id") from None
