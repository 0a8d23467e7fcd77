"""nameko entrypoints of the docs service: thin, the rules live in ``domain``.

Files go over HTTP (streamed multipart); every other command is an RPC. The
use cases are in ``commands`` (each one command transaction: lock the row,
let ``domain`` decide, append, project), the tables in ``store``; this shell
parses requests, streams files to S3 and shapes the answers.
"""

import io
import logging
import uuid
from datetime import date, timedelta

from werkzeug.wrappers import Response

from services.docs import commands, domain, intake, queries, registers
from services.docs.copying import CopiesDocuments
from services.docs.dependencies import IssueOverdueWatch, KnownAgencies
from services.docs.pdfcheck import refuse_if_signed
from services.docs.schemas import date_or_none, load_register, year_or_none
from services.docs.settings import DocsSettings
from services.docs.store import MIGRATIONS, DocsStore, missing
from shared.auth import require_role
from shared.config import SettingsProvider
from shared.documents import document_prefix, file_key
from shared.edge.authenticator import Authenticator
from shared.edge.handlers import event_handler
from shared.edge.http import json_http, json_response
from shared.edge.mixins import DeadLetters, Health
from shared.edge.providers import EventStoreProvider, ObjectStoreProvider, SweepsUploads
from shared.edge.rpc import rpc
from shared import clock
from shared.envelope import thaw, utc_now
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.failpoints import failpoint
from shared.objectstore import UnsignedPdfCheck
from shared.uploads import MIGRATIONS as UPLOADS_MIGRATIONS

log = logging.getLogger(__name__)


class DocsService(Health, DeadLetters, SweepsUploads, CopiesDocuments):
    name = domain.SERVICE

    events = EventStoreProvider(migrations=(UPLOADS_MIGRATIONS, MIGRATIONS))
    files = ObjectStoreProvider()
    auth = Authenticator()
    settings = SettingsProvider(DocsSettings)
    issue_overdue_watch = IssueOverdueWatch()
    agencies = KnownAgencies()

    @property
    def store(self):
        """The projection's rows, in this worker's service schema."""
        return DocsStore(self.events.db, self.events.writing)

    @property
    def log(self):
        return self.events.store

    # -- registration and files -------------------------------------------------------

    @json_http("POST", "/v1/documents")
    def register_document(self, request):
        """Register a draft: a ``metadata`` JSON field, the main PDF ``file``, then
        ``attachment`` parts. All that can be checked is, before a file is read;
        files are streamed; on a later failure no object stays and no event is stored."""
        # The role before any byte of the body is read (the agency rules need the metadata).
        actor = require_role(self.auth.actor(request), "clerk")
        form = intake.multipart(request, self._limit())
        part = form.next_part()
        if part is None or part[:2] != ("field", "metadata"):
            raise ValidationFailed("metadata: required, as the first form field",
                                   field="metadata")
        command = load_register(form.read_field())
        today = domain.vietnam_today(utc_now())
        domain.check_registration(command, actor, today)
        domain.check_recipients(command["recipients"], self.agencies.load(self.store), today)
        for kind in ("amends", "replaces"):
            if command[kind]:
                domain.check_link(kind, self._find(command[kind]), actor)
        document_id = str(uuid.uuid4())
        stored = []
        upload = self.uploads.begin(document_prefix(document_id), domain.stream_of(document_id))
        try:
            intake.receive_files(self.files, form, document_id, command, stored, self._limit())
            failpoint("docs.register.before_commit")  # files stored, no event yet
            recorded = commands.register(self.store, self.log, document_id, command, stored,
                                         actor, within=self._settle(upload))
        except BaseException as err:
            # If the S3 server failed, what it holds under this new document's
            # prefix is unknown (a hung server may finish the upload later).
            self.uploads.abandon([upload], stored, err)
            raise
        return json_response({"document_id": document_id, "event_id": recorded.event_id,
                              "state": domain.DRAFT, "file": stored[0].to_dict(),
                              "attachments": thaw(recorded.data["attachments"])}, status=201)

    @json_http("PUT", "/v1/documents/<document_id>/file")
    def revise_file(self, request, document_id):
        """A new version of the main PDF, for a draft or a returned document.

        The bucket is versioned: the earlier version stays, nothing is overwritten.
        """
        actor = self.auth.actor(request)
        document = self._readable(document_id, actor)
        domain.check_clerk_of_issuer(document, actor)
        domain.next_state(document["state"], "revise")
        form = intake.multipart(request, self._limit())
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
            recorded = commands.revise(self.store, self.log, document_id, stored[0], actor,
                                       within=self._settle(upload))
        except BaseException as err:
            self.uploads.abandon([upload], stored, err)
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
            return Response(registers.csv_chunks(kind, rows), mimetype="text/csv",
                            headers={"Content-Disposition":
                                     f'attachment; filename="{kind}-{year or "all"}.csv"'})
        if fmt == "pdf":
            out = io.BytesIO()
            name = domain.agency_name(self.agencies.load(self.store), actor.agency,
                                      domain.vietnam_today(utc_now()))
            registers.render_pdf(kind, rows, name, year or domain.series_year(utc_now()), out)
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
        recorded = commands.submit(self.store, self.log, document_id, signer_user, actor)
        return {"document_id": str(document_id), "state": recorded.data["state"],
                "round": recorded.data["round"], "event_id": recorded.event_id}

    @rpc
    def issue(self, document_id):
        """The clerk publishes a sealed document under the number given at its signature."""
        actor = self.auth.actor()
        recorded = commands.issue(self.store, self.log, document_id, actor,
                                  self.settings.separate_secret_series)
        self._lock_files([recorded.data["file"], *recorded.data["attachments"]],
                         self.settings.retention_days)
        return {"document_id": str(document_id), "state": recorded.data["state"],
                "number": recorded.data["number"],
                "number_notation": recorded.data["number_notation"],
                "issued_at": recorded.data["issued_at"]}

    @rpc
    def overdue_outgoing(self):
        """Documents signed and not issued by their issue deadline (Decree 30
        Art. 18(1)): the caller's agency's (every agency's for an auditor)."""
        found = commands.overdue_issues(self.store, self.auth.actor(), utc_now())
        return [_jsonable(t) for t in found]

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
        with self.store.transaction() as conn:
            rows = self.store.arrivals(conn, actor.agency, year)
        return [{**r, "arrived_at": r["arrived_at"].isoformat()} for r in rows]

    @rpc
    def accept_incoming(self, document_id, handed_to=None):
        """Into the register; ``handed_to``: the unit or person it goes to."""
        return self._decide_incoming(document_id, "accept", None, handed_to)

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
    def register_view(self, kind, year=None, start=None, end=None, search=None):
        """A page of a register as printed (``registers.view``), for the web."""
        rows, _ = self._register(self.auth.actor(), kind, year, start, end)
        wanted = queries.page_request(search)
        return registers.view(kind, rows, wanted["page"], wanted["size"])

    @rpc
    def state_summary(self):
        """Every document as this service knows it, sorted by id (auditors only), for
        the audit's reconciliation: issuing agency, recipients, the main file's
        SHA-256, the state, the number and the agencies it was delivered to."""
        require_role(self.auth.actor(), "auditor")
        with self.store.transaction() as conn:
            documents, delivered = self.store.summary(conn)
        # A delivery of a document this service has no row for is shown too.
        return [domain.summary_row(document_id, documents.get(document_id),
                                      delivered.get(document_id, []))
                for document_id in sorted(set(documents) | set(delivered))]

    # -- other services' events ---------------------------------------------------------

    @event_handler("signing", "DocumentSigned", requeue_on_error=True)
    def on_document_signed(self, payload):
        """Signed, numbered and dated in one transaction (``commands.signed``)."""
        directory = self.agencies.load(self.store)  # the place name (địa danh)
        self._handle("docs.on_document_signed", payload, lambda conn, store, log_, e: (
            commands.signed(conn, store, log_, e, self.settings.separate_secret_series,
                            directory, timedelta(minutes=self.settings.urgent_issue_minutes))))

    @event_handler("signing", "DocumentReturned", requeue_on_error=True)
    def on_document_returned(self, payload):
        self._follow("docs.on_document_returned", payload, "return")

    @event_handler("signing", "DocumentSealed", requeue_on_error=True)
    def on_document_sealed(self, payload):
        self._follow("docs.on_document_sealed", payload, "seal")

    @event_handler("signing", "DocumentFinalized", requeue_on_error=True)
    def on_document_finalized(self, payload):
        """The appendices as sent (PDFs sealed with the number) replace the drafts'."""
        until = clock.retained_until(self.settings.retention_days)

        def effects(event, conn):
            attachments = thaw(event.data["attachments"])
            self.store.set_attachments(conn, event.data["document_id"], attachments)
            for stored in attachments:  # idempotent: safe again on a redelivery
                self.files.lock(stored["key"], stored["version_id"], until)

        self.events.handle_once("docs.on_document_finalized", payload, effects)

    @event_handler("routing", "ConsignmentSent", requeue_on_error=True)
    def on_consignment_sent(self, payload):
        """Sent: every new recipient's arrival registered in this one transaction."""
        self._handle("docs.on_consignment_sent", payload, commands.consignment_sent)

    @event_handler("routing", "DeliveryRefused", requeue_on_error=True)
    def on_delivery_refused(self, payload):
        self._handle("docs.on_delivery_refused", payload, commands.delivery_refused)

    @event_handler("routing", "RecallRequested", requeue_on_error=True)
    def on_recall_requested(self, payload):
        self._handle("docs.on_recall_requested", payload, commands.recall_requested)

    @event_handler("routing", "RecallAnswered", requeue_on_error=True)
    def on_recall_answered(self, payload):
        self._handle("docs.on_recall_answered", payload, commands.recall_answered)

    @event_handler("routing", "DirectoryChanged", requeue_on_error=True)
    def on_directory_changed(self, payload):
        """routing's agency directory, kept to check recipients and name agencies."""
        self._handle("docs.on_directory_changed", payload, commands.directory_changed)

    # -- helpers ------------------------------------------------------------------------

    def _settle(self, upload):
        return lambda conn: self.uploads.settle(conn, upload)

    def _limit(self):
        return self.settings.max_upload_bytes

    def _handle(self, consumer, payload, use_case):
        self.events.handle_once(consumer, payload, lambda event, conn: use_case(
            conn, self.store, self.log, event))

    def _follow(self, consumer, payload, command):
        within = timedelta(minutes=self.settings.urgent_issue_minutes)
        self._handle(consumer, payload, lambda conn, store, log_, event: commands.follow(
            conn, store, log_, event, command, urgent_issue_within=within))

    def _decide_incoming(self, document_id, command, reason, handed_to=None):
        incoming, event = commands.decide_incoming(self.store, self.log, document_id, command,
                                                   self.auth.actor(), reason, handed_to)
        return {"document_id": str(document_id), "state": event.data["state"],
                "arrival_number": event.data["arrival_number"]}

    def _find(self, document_id):
        with self.store.transaction() as conn:
            return self.store.document(conn, document_id)

    def _readable(self, document_id, actor):
        document = commands.load(self.store, document_id)
        if not domain.may_read(document, actor):
            # Same answer as for a missing document: do not confirm it exists.
            raise missing(document_id)
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
        until = clock.retained_until(days)
        for stored in files:
            try:
                self.files.lock(stored["key"], stored["version_id"], until)
            except Exception:
                log.exception("could not put %s under retention", stored["key"])

    def _register(self, actor, kind, year, start, end):
        return commands.register_rows(self.store, actor.agency, kind, year_or_none(year),
                                      date_or_none(start, "start"), date_or_none(end, "end"),
                                      self.agencies.load(self.store))

    # -- read-only lists for the web application (the SQL: ``queries``) --------------

    @rpc
    def outgoing_documents(self, state=None, search=None):
        """A page (``{items, total, page, size}``): ``queries.page_request``'s search."""
        return self._query(queries.outgoing, self.auth.actor(), state, search)

    @rpc
    def awaiting_signature(self, search=None):
        return self._query(queries.awaiting_signature, self.auth.actor(), search)

    @rpc
    def arrivals(self, state=None, search=None):
        return self._query(queries.arrivals, self.auth.actor(), state, search)

    @rpc
    def timeline(self, document_id):
        """The document's events, for whoever may read it (``get_document``'s rule)."""
        actor = self.auth.actor()
        self._readable(document_id, actor)
        return self._query(queries.timeline, document_id, actor)

    def _query(self, query, *args):
        with self.events.transaction() as conn:
            return query(conn, *args)


def _jsonable(document):
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in document.items()}

