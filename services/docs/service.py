"""nameko entrypoints of the docs service: thin, the rules live in ``domain``.

Files go over HTTP (streamed multipart); every other command is an RPC. Each
command locks its document's row, checks the state machine, appends its event
and updates the row in one transaction.
"""

import io
import json
import logging
import uuid
from datetime import date, timedelta

from nameko.dependency_providers import Config


from werkzeug.wrappers import Response

from services.docs import domain, queries, registers
from services.docs.pdfcheck import refuse_if_signed
from services.docs.schemas import MAX_ATTACHMENTS, check_declared, load_register
from shared.auth import require_role
from shared.documents import attachment_key, document_prefix, file_key
from shared.envelope import thaw, utc_now
from shared.errors import Forbidden, NotFound, PayloadTooLarge, StorageError, ValidationFailed
from shared.failpoints import failpoint
from shared.multipart import MultipartStream
from shared.nameko_ext import (
    Authenticator, DeadLetters, EventStoreProvider, Health, ObjectStoreProvider,
    event_handler, json_http, json_response, rpc,
)
from shared.objectstore import AttachmentCheck, UnsignedPdfCheck
from shared import uploads
from shared.uploads import SweepsUploads

log = logging.getLogger(__name__)

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
""" + uploads.DDL

DOCUMENT_COLUMNS = ("document_id, issuing_agency, state, round, metadata, recipients, file,"
                    " attachments, registered_at, number, number_notation, year, issued_at,"
                    " sent_at")


class DocsService(Health, DeadLetters, SweepsUploads):
    name = domain.SERVICE

    events = EventStoreProvider(ddl=DDL)
    files = ObjectStoreProvider()
    auth = Authenticator()
    config = Config()

    # -- registration and files -------------------------------------------------------

    @json_http("POST", "/v1/documents")
    def register_document(self, request):
        """Register a draft: a ``metadata`` JSON field, the main PDF ``file``, then any
        ``attachment`` parts.

        Everything that can be checked is checked before a file is read; files
        are streamed to the bucket; if anything fails after that, every object
        stored so far is removed and no event is stored.
        """
        # The role before any byte of the body is read (the agency rules need the metadata).
        actor = require_role(self.auth.actor(request), "clerk")
        form = self._multipart(request)
        part = form.next_part()
        if part is None or part[:2] != ("field", "metadata"):
            raise ValidationFailed("metadata: required, as the first form field",
                                   field="metadata")
        command = load_register(form.read_field())
        domain.check_registration(command, actor, domain.vietnam_today(utc_now()))
        for kind in ("amends", "replaces"):
            if command[kind]:
                domain.check_link(kind, self._find(command[kind]), actor)
        document_id = str(uuid.uuid4())
        stored, names = [], []
        upload = self.uploads.begin(document_prefix(document_id), domain.stream_of(document_id))
        try:
            while (part := form.next_part()) is not None:
                index = len(stored)
                if part[0] != "file" or part[1] != ("file" if index == 0 else "attachment"):
                    raise ValidationFailed(
                        "file: the main PDF comes first, as the form field 'file', then"
                        " attachments as 'attachment'", field="file")
                if index > MAX_ATTACHMENTS:
                    raise ValidationFailed(f"attachments: at most {MAX_ATTACHMENTS}",
                                           field="attachments")
                key = (file_key(document_id) if index == 0
                       else attachment_key(document_id, index - 1))
                check = (UnsignedPdfCheck() if index == 0
                         else AttachmentCheck(f"attachments.{index - 1}"))
                stored.append(self.files.put_stream(key, form.file_stream(),
                                                    max_size=self._limit(), check=check))
                if index == 0 and check.suspect:
                    refuse_if_signed(self.files, stored[-1])
                check_declared(command["files"], index, stored[-1])
                names.append(_file_name(part[2], index))
            if not stored:
                raise ValidationFailed("file: required, as the form field after metadata",
                                       field="file")
            if command["files"] is not None and len(command["files"]) != len(stored):
                raise ValidationFailed(f"files: {len(command['files'])} declared,"
                                       f" {len(stored)} uploaded", field="files")
            command["attachment_names"] = names[1:]
            event = domain.document_registered(document_id, command, stored, actor)
            failpoint("docs.register.before_commit")  # files stored, no event yet
            with self.events.transaction() as conn:
                self.uploads.settle(conn, upload)
                [recorded] = self.events.append(event.stream_id, 0, [event], conn=conn)
                conn.execute(
                    "INSERT INTO documents (document_id, issuing_agency, state, metadata,"
                    " recipients, file, attachments, registered_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (document_id, actor.agency, domain.DRAFT,
                     json.dumps(domain.metadata_of(command), ensure_ascii=False),
                     list(event.data["recipients"]), json.dumps(thaw(event.data["file"])),
                     json.dumps(thaw(event.data["attachments"]), ensure_ascii=False),
                     event.occurred_at))
        except BaseException as err:
            # If the S3 server failed, what it holds under this new document's
            # prefix is unknown (a hung server may finish the upload later).
            clean = self._remove(stored) and not isinstance(err, StorageError)
            self.uploads.end(upload, clean)
            raise
        return json_response({"document_id": document_id, "event_id": recorded.event_id,
                              "state": domain.DRAFT, "file": stored[0].to_dict(),
                              "attachments": thaw(event.data["attachments"])}, status=201)

    @json_http("PUT", "/v1/documents/<document_id>/file")
    def revise_file(self, request, document_id):
        """A new version of the main PDF, for a draft or a returned document.

        The bucket is versioned: the earlier version stays, nothing is overwritten.
        """
        actor = self.auth.actor(request)
        document = self._readable(document_id, actor)
        domain.check_clerk_of_issuer(document, actor)
        domain.next_state(document["state"], "revise")
        form = self._multipart(request)
        part = form.next_part()
        if part is None or part[:2] != ("file", "file"):
            raise ValidationFailed("file: required, as the form field 'file'", field="file")
        check = UnsignedPdfCheck()
        upload = self.uploads.begin(file_key(document_id), domain.stream_of(document_id))
        stored = []
        try:
            stored.append(self.files.put_stream(file_key(document_id), form.file_stream(),
                                                max_size=self._limit(), check=check))
            if check.suspect:
                refuse_if_signed(self.files, stored[0])

            def attempt(conn, document):
                self.uploads.settle(conn, upload)
                event = domain.document_revised(document, stored[0], actor)
                return event, {"state": event.data["state"],
                               "file": json.dumps(stored[0].to_dict())}
            recorded = self._command(document_id, attempt)
        except BaseException as err:
            self.uploads.end(upload, self._remove(stored) and not isinstance(err, StorageError))
            raise
        return json_response({"document_id": document_id, "state": recorded.data["state"],
                              "file": stored[0].to_dict()})

    @json_http("GET", "/v1/documents/<document_id>")
    def get_document_http(self, request, document_id):
        return json_response(self._readable(document_id, self.auth.actor(request)))

    @json_http("GET", "/v1/documents/<document_id>/file")
    def file_url_http(self, request, document_id):
        return json_response({"url": self._file_url(document_id, self.auth.actor(request))})

    @json_http("GET", "/v1/documents/<document_id>/attachments/<int:index>")
    def attachment_url_http(self, request, document_id, index):
        return json_response({"url": self._file_url(document_id, self.auth.actor(request),
                                                     attachment=index)})

    @json_http("GET", "/v1/registers/<kind>")
    def register_http(self, request, kind):
        """The outgoing, incoming or follow-up register as CSV or a printable PDF."""
        actor = self.auth.actor(request)
        args = request.args
        rows, year = self._register(actor, kind, args.get("year"), args.get("start"),
                                    args.get("end"))
        fmt = args.get("format", "csv")
        if fmt == "csv":
            return Response(registers.csv_bytes(kind, rows), mimetype="text/csv",
                            headers={"Content-Disposition":
                                     f'attachment; filename="{kind}-{year or "all"}.csv"'})
        if fmt == "pdf":
            out = io.BytesIO()
            registers.render_pdf(kind, rows, actor.agency,
                                 year or domain.series_year(utc_now()), out)
            return Response(out.getvalue(), mimetype="application/pdf")
        raise ValidationFailed("format: csv or pdf", field="format")

    # -- the life of an outgoing document ----------------------------------------------

    @rpc
    def submit(self, document_id, signer_user):
        """The clerk submits a draft for approval, naming the leader who signs it."""
        actor = self.auth.actor()
        if not isinstance(signer_user, str) or not 1 <= len(signer_user) <= 200:
            raise ValidationFailed("signer_user: the user id of the leader who signs",
                                   field="signer_user")

        def attempt(conn, document):
            domain.check_clerk_of_issuer(document, actor)
            event = domain.document_submitted(document, signer_user, actor)
            return event, {"state": event.data["state"], "round": event.data["round"]}

        recorded = self._command(document_id, attempt)
        return {"document_id": str(document_id), "state": recorded.data["state"],
                "round": recorded.data["round"], "event_id": recorded.event_id}

    @rpc
    def issue(self, document_id):
        """The clerk issues a sealed document: the system gives its number and time.

        The number comes from the agency's series for the year (Vietnam time),
        taken in the transaction that records the issue: no gap, no duplicate.
        """
        actor = self.auth.actor()
        separate = str(self.config.get("SEPARATE_SECRET_SERIES", "false")).lower() == "true"
        retention_days = int(self.config.get("RETENTION_DAYS", 3650))

        def attempt(conn, document):
            domain.check_clerk_of_issuer(document, actor)
            domain.next_state(document["state"], "issue")
            issued_at = utc_now()
            series = domain.series_of(document["secrecy"], separate)
            number = _take_number(conn, document["issuing_agency"],
                                  domain.series_year(issued_at), series)
            failpoint("docs.issue.after_number")  # an issue that fails holding its number
            event = domain.document_issued(document, number, series, issued_at, actor)
            if document["replaces"]:  # the replaced document is frozen in the same transaction
                old = self._lock(conn, document["replaces"])
                replaced = domain.state_changed(old, "replace", event, actor)
                self._append(conn, old, [replaced])
                self._update(conn, old["document_id"], {"state": replaced.data["state"]})
            return event, {"state": event.data["state"], "number": number,
                           "number_notation": event.data["number_notation"],
                           "year": event.data["year"], "issued_at": issued_at}

        recorded = self._command(document_id, attempt)
        self._lock_files([recorded.data["file"], *recorded.data["attachments"]],
                         retention_days)
        return {"document_id": str(document_id), "state": recorded.data["state"],
                "number": recorded.data["number"],
                "number_notation": recorded.data["number_notation"],
                "issued_at": recorded.data["issued_at"]}

    @rpc
    def get_document(self, document_id):
        return self._readable(document_id, self.auth.actor())

    @rpc
    def file_url(self, document_id, attachment=None):
        """A short-lived pre-signed URL, for the sender, the recipients and auditors."""
        return self._file_url(document_id, self.auth.actor(), attachment=attachment)

    # -- incoming documents -------------------------------------------------------------

    @rpc
    def incoming(self, year=None):
        """The caller's agency's incoming documents, newest arrival first."""
        actor = self.auth.actor()
        with self.events.transaction() as conn:
            rows = conn.execute(
                "SELECT document_id, arrival_number, year, arrived_at, state, reason, sender,"
                " number_notation FROM incoming WHERE agency = %s"
                " AND (%s::int IS NULL OR year = %s::int) ORDER BY arrived_at DESC",
                (actor.agency, year, year)).fetchall()
        return [{"document_id": str(r[0]), "arrival_number": r[1], "year": r[2],
                 "arrived_at": r[3].isoformat(), "state": r[4], "reason": r[5],
                 "sender": r[6], "number_notation": r[7]} for r in rows]

    @rpc
    def accept_incoming(self, document_id):
        return self._decide_incoming(document_id, "accept", None)

    @rpc
    def return_incoming(self, document_id, reason):
        return self._decide_incoming(document_id, "return", reason)

    @rpc
    def register(self, kind, year=None, start=None, end=None):
        """A register's rows (see ``registers``) for the caller's agency."""
        rows, _ = self._register(self.auth.actor(), kind, year, start, end)
        return [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
                for row in rows]

    @rpc
    def state_summary(self):
        """Every document as this service knows it, sorted by id (auditors only).

        For the audit's reconciliation with the log: issuing agency, recipients,
        the main file's SHA-256, the state, the number and the agencies it was
        delivered to.
        """
        require_role(self.auth.actor(), "auditor")
        with self.events.transaction() as conn:
            documents = {str(r[0]): r for r in conn.execute(
                "SELECT document_id, issuing_agency, recipients, file, state, number_notation"
                " FROM documents")}
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
                "state": row[4] if row else None,
                "number_notation": row[5] if row else None,
                "delivered_to": sorted(delivered.get(document_id, [])),
            })
        return summary

    # -- other services' events ---------------------------------------------------------

    @event_handler("signing", "DocumentSigned", requeue_on_error=True)
    def on_document_signed(self, payload):
        self._follow("docs.on_document_signed", payload, "sign")

    @event_handler("signing", "DocumentReturned", requeue_on_error=True)
    def on_document_returned(self, payload):
        self._follow("docs.on_document_returned", payload, "return")

    @event_handler("signing", "DocumentSealed", requeue_on_error=True)
    def on_document_sealed(self, payload):
        self._follow("docs.on_document_sealed", payload, "seal")

    @event_handler("signing", "DocumentFinalized", requeue_on_error=True)
    def on_document_finalized(self, payload):
        """The appendices as sent (PDFs sealed with the number) replace the drafts'."""
        retention_days = int(self.config.get("RETENTION_DAYS", 3650))

        def effects(event, conn):
            attachments = thaw(event.data["attachments"])
            conn.execute("UPDATE documents SET attachments = %s WHERE document_id = %s",
                         (json.dumps(attachments, ensure_ascii=False),
                          event.data["document_id"]))
            until = utc_now() + timedelta(days=retention_days)
            for stored in attachments:  # idempotent: safe again on a redelivery
                self.files.lock(stored["key"], stored["version_id"], until)

        self.events.handle_once("docs.on_document_finalized", payload, effects)

    @event_handler("routing", "ConsignmentSent", requeue_on_error=True)
    def on_consignment_sent(self, payload):
        """The document is sent, and arrives at every new recipient: their
        arrivals are registered in this one transaction (a broadcast's thousands
        share one commit; routing's per-recipient ``DocumentDelivered`` events
        are for its own inboxes and the audit log). One imported from outside
        comes with the consignment and was never ours to send."""
        def effects(event, conn):
            data = event.data
            arrivals = self._claim_deliveries(conn, data["document_id"], data["new_recipients"])
            if data.get("document"):
                document = self._record_external(conn, data["document"], event)
            else:
                document = self._apply(conn, event, "send")
            self._register_arrivals(conn, data["document_id"], document, arrivals, event)

        self.events.handle_once("docs.on_consignment_sent", payload, effects)

    @event_handler("routing", "RecallRequested", requeue_on_error=True)
    def on_recall_requested(self, payload):
        def effects(event, conn):
            if int(event.data.get("business_type", 0)) == 1:  # revoke, not update/replace
                self._apply(conn, event, "recall")

        self.events.handle_once("docs.on_recall_requested", payload, effects)

    @event_handler("routing", "RecallAnswered", requeue_on_error=True)
    def on_recall_answered(self, payload):
        def effects(event, conn):
            data = event.data
            if data.get("code") != "15" or int(data.get("business_type", 0)) != 1:
                return
            incoming = self._incoming(conn, data["document_id"], data["recipient"])
            if incoming is None or incoming["state"] == domain.WITHDRAWN:
                return
            withdrawn = domain.incoming_withdrawn(incoming, event)
            self._append_incoming(conn, incoming, withdrawn)

        self.events.handle_once("docs.on_recall_answered", payload, effects)

    @staticmethod
    def _claim_deliveries(conn, document_id, agencies):
        """Record who got the document; the agencies it had not reached before."""
        rows = conn.execute(
            "INSERT INTO deliveries SELECT %s, agency FROM unnest(%s::text[]) AS agency"
            " ON CONFLICT (document_id, agency) DO NOTHING RETURNING agency",
            (document_id, sorted(set(agencies)))).fetchall()
        return [agency for (agency,) in rows]

    def _register_arrivals(self, conn, document_id, document, arrivals, cause):
        """The receiving agencies' registers: an arrival number each."""
        if document is None or document["number_notation"] is None:
            if arrivals:
                log.warning("delivery of %s, which docs has not issued", document_id)
            return
        for agency in arrivals:
            arrived_at = utc_now()
            number = _take_number(conn, agency, domain.series_year(arrived_at), "incoming")
            registered = domain.incoming_registered(document, agency, number, arrived_at,
                                                    cause)
            self.events.append(registered.stream_id, 0, [registered], conn=conn)
            conn.execute(
                "INSERT INTO incoming VALUES (%s, %s, %s, %s, %s, %s, NULL, %s, %s, %s)",
                (document["document_id"], agency, number, registered.data["year"],
                 arrived_at, domain.ARRIVED, document["issuing_agency"],
                 document["number_notation"], document["year"]))

    def _record_external(self, conn, document, cause):
        """Keep a document imported from outside (the copy its consignment
        carries), once: a redelivered consignment finds the row."""
        recorded = domain.external_recorded(thaw(document), cause)
        data = thaw(recorded.data)
        metadata = domain.metadata_of(data)
        inserted = conn.execute(
            f"INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES"
            " (%s, %s, %s, 0, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING document_id",
            (data["document_id"], data["issuing_agency"], domain.EXTERNAL,
             json.dumps(metadata, ensure_ascii=False), data["recipients"],
             json.dumps(data["file"]), json.dumps(data["attachments"]),
             cause.occurred_at, data["number"], data["number_notation"], data["year"],
             data["issued_at"], cause.occurred_at)).fetchone()
        if inserted:
            self.events.append(recorded.stream_id, 0, [recorded], conn=conn)
        return self._row(conn, data["document_id"])

    # -- helpers ------------------------------------------------------------------------

    def _remove(self, stored):
        """Remove the versions a failed command stored; False if one could not be.
        The caller must see the failure itself, so a removal that fails too (the
        S3 server is down) is logged; a registration then sweeps its new
        document's prefix later, a revision leaves an unused version of the file."""
        removed = True
        for obj in stored:
            try:
                self.files.delete(obj.key, version_id=obj.version_id)
            except Exception:
                log.exception("could not remove %s after a failed command", obj.key)
                removed = False
        return removed

    def _limit(self):
        return int(self.config.get("MAX_UPLOAD_BYTES", 50 * 1024 * 1024))

    def _multipart(self, request):
        limit = self._limit() * (MAX_ATTACHMENTS + 1)
        if request.content_length and request.content_length > limit + 64 * 1024:
            raise PayloadTooLarge(f"file: larger than the limit of {limit} bytes", field="file")
        if request.mimetype != "multipart/form-data":
            raise ValidationFailed("request: send multipart/form-data", field="content-type")
        return MultipartStream(request.stream, request.mimetype_params.get("boundary"))

    def _follow(self, consumer, payload, command):
        self.events.handle_once(consumer, payload,
                                lambda event, conn: self._apply(conn, event, command))

    def _apply(self, conn, event, command):
        """Move a document on because of another service's event; a repeat is a
        no-op. The document as it was (its row, locked)."""
        document = self._lock(conn, event.data["document_id"])
        if document["state"] == domain.TRANSITIONS[command][1]:
            return document  # e.g. a second consignment: the document is sent already
        changed = domain.state_changed(document, command, event)
        self._append(conn, document, [changed])
        # The leader's signature and the agency's make new PDFs: the document is now that file.
        signed = event.data.get({"sign": "signed_file", "seal": "sealed_file"}.get(command, ""))
        conn.execute("UPDATE documents SET state = %s, sent_at = COALESCE(sent_at, %s),"
                     " file = COALESCE(%s, file) WHERE document_id = %s",
                     (changed.data["state"], event.occurred_at if command == "send" else None,
                      json.dumps(thaw(signed)) if signed else None, document["document_id"]))
        return document

    def _command(self, document_id, attempt):
        """Lock the row, let ``attempt`` build the event, append it, update the row."""
        _check_uuid(document_id)
        with self.events.transaction() as conn:
            document = self._lock(conn, document_id)
            event, changes = attempt(conn, document)
            [recorded] = self._append(conn, document, [event])
            self._update(conn, document_id, changes)
        return recorded

    def _append(self, conn, document, events):
        stream = domain.stream_of(document["document_id"])
        return self.events.append(stream, self.events.store.stream_version(stream, conn=conn),
                                  events, conn=conn)

    @staticmethod
    def _update(conn, document_id, changes):
        columns = ", ".join(f"{name} = %s" for name in changes)
        conn.execute(f"UPDATE documents SET {columns} WHERE document_id = %s",
                     (*changes.values(), document_id))

    def _lock(self, conn, document_id):
        document = self._row(conn, document_id, lock=True)
        if document is None:
            raise NotFound(f"document {document_id} does not exist", field="document_id")
        return document

    def _row(self, conn, document_id, lock=False):
        row = conn.execute(f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE document_id = %s"
                           + (" FOR UPDATE" if lock else ""), (document_id,)).fetchone()
        return _document(row) if row else None

    def _find(self, document_id):
        with self.events.transaction() as conn:
            return self._row(conn, document_id)

    def _incoming(self, conn, document_id, agency):
        row = conn.execute("SELECT arrival_number, state, number_notation FROM incoming"
                           " WHERE document_id = %s AND agency = %s FOR UPDATE",
                           (document_id, agency)).fetchone()
        if row is None:
            return None
        return {"document_id": str(document_id), "agency": agency, "arrival_number": row[0],
                "state": row[1], "number_notation": row[2]}

    def _append_incoming(self, conn, incoming, event):
        stream = event.stream_id
        self.events.append(stream, self.events.store.stream_version(stream, conn=conn),
                           [event], conn=conn)
        conn.execute("UPDATE incoming SET state = %s, reason = COALESCE(%s, reason)"
                     " WHERE document_id = %s AND agency = %s",
                     (event.data["state"], event.data.get("reason"), incoming["document_id"],
                      incoming["agency"]))

    def _decide_incoming(self, document_id, command, reason):
        actor = self.auth.actor()
        _check_uuid(document_id)
        with self.events.transaction() as conn:
            incoming = self._incoming(conn, document_id, actor.agency)
            if incoming is None:
                raise NotFound(f"document {document_id} has not arrived at {actor.agency}",
                               field="document_id")
            event = domain.incoming_decided(incoming, command, actor, reason)
            self._append_incoming(conn, incoming, event)
        return {"document_id": str(document_id), "state": event.data["state"],
                "arrival_number": incoming["arrival_number"]}

    def _load(self, document_id):
        _check_uuid(document_id)
        with self.events.transaction() as conn:
            document = self._row(conn, document_id)
            if document is None:
                raise NotFound(f"document {document_id} does not exist", field="document_id")
            document["delivered_to"] = [r[0] for r in conn.execute(
                "SELECT agency FROM deliveries WHERE document_id = %s ORDER BY agency",
                (document_id,))]
            document["incoming"] = {r[0]: r[1] for r in conn.execute(
                "SELECT agency, state FROM incoming WHERE document_id = %s", (document_id,))}
        return document

    def _readable(self, document_id, actor):
        document = self._load(document_id)
        if not domain.may_read(document, actor):
            # Same answer as for a missing document: do not confirm it exists.
            raise NotFound(f"document {document_id} does not exist", field="document_id")
        return _jsonable(document)

    def _file_url(self, document_id, actor, attachment=None):
        document = self._readable(document_id, actor)
        if actor.role not in ("clerk", "leader", "auditor"):
            raise Forbidden("role: this role does not download files", field="role")
        if not domain.may_download(document, actor, document["incoming"].get(actor.agency)):
            raise Forbidden("state: the sender recalled this document; your copy is out of"
                            " use", field="state")
        if attachment is None:
            stored = document["file"]
        else:
            if not isinstance(attachment, int) or not 0 <= attachment < len(
                    document["attachments"]):
                raise NotFound(f"attachment {attachment} does not exist", field="attachment")
            stored = document["attachments"][attachment]
        return self.files.presigned_get(stored["key"], version_id=stored["version_id"])

    def _lock_files(self, files, days):
        """Issued files go under WORM retention. Done after the commit: the lock
        is idempotent, and a failure here leaves an issued, unlocked file that a
        retry of ``issue`` (refused as a state conflict) does not fix, so log it."""
        until = utc_now() + timedelta(days=days)
        for stored in files:
            try:
                self.files.lock(stored["key"], stored["version_id"], until)
            except Exception:
                log.exception("could not put %s under retention", stored["key"])

    def _register(self, actor, kind, year, start, end):
        if kind not in registers.REGISTERS:
            raise NotFound(f"kind: no register {kind!r}; use one of"
                           f" {', '.join(registers.REGISTERS)}", field="kind")
        year = _int_or_none(year, "year")
        start, end = _date_or_none(start, "start"), _date_or_none(end, "end")
        with self.events.transaction() as conn:
            if kind == "outgoing":
                rows = conn.execute(
                    f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE issuing_agency = %s"
                    " AND number IS NOT NULL ORDER BY year, number", (actor.agency,)).fetchall()
                entries = [_document(r) for r in rows]
                rows = [registers.outgoing_row(d) for d in entries]
                date_column = "document_date"
            else:
                found = conn.execute(
                    f"SELECT i.arrival_number, i.arrived_at, i.state, i.reason,"
                    f" {', '.join('d.' + c.strip() for c in DOCUMENT_COLUMNS.split(','))}"
                    " FROM incoming i JOIN documents d USING (document_id)"
                    " WHERE i.agency = %s ORDER BY i.year, i.arrival_number",
                    (actor.agency,)).fetchall()
                make = registers.incoming_row if kind == "incoming" else registers.follow_up_row
                rows = [make({"arrival_number": r[0], "arrived_at": r[1], "state": r[2],
                              "reason": r[3]}, _document(r[4:])) for r in found]
                date_column = "arrival_date"
        return registers.filter_rows(rows, date_column, year=year, start=start, end=end), year

    # -- read-only lists for the web application (the SQL: ``queries``) --------------

    @rpc
    def outgoing_documents(self, state=None):
        with self.events.transaction() as conn:
            return queries.outgoing(conn, self.auth.actor(), state)

    @rpc
    def awaiting_signature(self):
        with self.events.transaction() as conn:
            return queries.awaiting_signature(conn, self.auth.actor())

    @rpc
    def arrivals(self):
        with self.events.transaction() as conn:
            return queries.arrivals(conn, self.auth.actor())

    @rpc
    def timeline(self, document_id):
        """The document's events, for whoever may read it (``get_document``'s rule)."""
        actor = self.auth.actor()
        self._readable(document_id, actor)
        with self.events.transaction() as conn:
            return queries.timeline(conn, document_id, actor)


def _take_number(conn, agency, year, series):
    return conn.execute(
        "INSERT INTO number_series VALUES (%s, %s, %s, 1) ON CONFLICT (agency, year, series)"
        " DO UPDATE SET last_number = number_series.last_number + 1 RETURNING last_number",
        (agency, year, series)).fetchone()[0]


def _document(row):
    (document_id, issuing_agency, state, round_, metadata, recipients, file, attachments,
     registered_at, number, number_notation, year, issued_at, sent_at) = row
    return {**metadata, "document_id": str(document_id), "issuing_agency": issuing_agency,
            "state": state, "round": round_, "recipients": list(recipients), "file": file,
            "attachments": attachments, "registered_at": registered_at, "number": number,
            "number_notation": number_notation, "year": year, "issued_at": issued_at,
            "sent_at": sent_at}


def _jsonable(document):
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in document.items()}


def _file_name(name, index):
    name = (name or "").strip().replace("/", "_")[:200]
    return name or ("main.pdf" if index == 0 else f"attachment-{index}")


def _int_or_none(value, field):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field}: a year such as 2026", field=field) from None


def _date_or_none(value, field):
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{field}: a date such as 2026-01-31", field=field) from None


def _check_uuid(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed("document_id: not a UUID", field="document_id") from None
