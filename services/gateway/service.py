"""nameko entrypoints of the HTTP gateway: thin.

The gateway logs users in (with a back-off on failures, ``LoginFailures``),
then for every call checks the bearer token (and that its user still exists,
is not disabled and has not logged it out) and
the role the endpoint needs (``routes.ENDPOINTS``), records each refusal as a
``RequestDenied`` event, and calls the service with a short-lived assertion
it signs for that one method (``shared.auth``): the bearer token never leaves
the gateway, and each service checks the caller again. Registration with
files is streamed through to docs over HTTP, never held in memory.
"""

import json
from datetime import datetime, timezone
from urllib.parse import quote

from nameko.timer import timer
from nameko.web.handlers import http

from services.gateway import domain, erasures, recipients, users, web, web_dashboard
from services.gateway.forward import CHUNK, chunks, send, streamed_back
from services.gateway import schemas as s
from services.gateway.dependencies import GatewayIdentity, GatewayStore
from services.gateway.routes import ENDPOINTS, consumer, openapi_spec
from services.gateway.settings import GatewaySettings
from shared.config import SettingsProvider
from shared.edge.http import json_http, json_response
from shared.edge.mixins import Health
from shared.errors import (
    Forbidden, NotFound, PayloadTooLarge, Unauthenticated,
    ValidationFailed,
)
from shared.green import run_cpu
from shared.values import VIETNAM

# JSON bodies are read whole, so each has a limit: a login's fields fit in a
# few KiB (1224 characters, even JSON-escaped); a send may list many agencies.
LOGIN_BODY_BYTES = 16 * 1024
JSON_BODY_BYTES = 1024 * 1024
SWEEP_SECONDS = 5  # how often the audit windows of failed logins are closed
# What the caller was refused: recorded as RequestDenied (a 404 too: it may
# hide a document of another agency).
DENIALS = (Unauthenticated, Forbidden, NotFound)


def route(name):
    """``@json_http`` with the method and path of ``ENDPOINTS[name]``."""
    endpoint = ENDPOINTS[name]
    return json_http(endpoint.method, endpoint.rule)


class GatewayService(Health):
    name = domain.SERVICE

    events = GatewayStore()
    identity = GatewayIdentity()
    settings = SettingsProvider(GatewaySettings)

    # The services, called as the admitted user (a fresh assertion per call).
    docs = property(lambda self: self.identity.rpc("docs"))
    signing = property(lambda self: self.identity.rpc("signing"))
    routing = property(lambda self: self.identity.rpc("routing"))
    audit = property(lambda self: self.identity.rpc("audit"))

    # -- identity ------------------------------------------------------------------------

    @route("login")
    def login(self, request):
        command = s.load(s.LoginSchema, _read_body(request, LOGIN_BODY_BYTES))
        token, claims = self._log_in(command["user_id"], command["password"],
                                     request.remote_addr)
        expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
        return json_response({"token": token, "expires_at": expires.isoformat()})

    def _log_in(self, user_id, password, address):
        """``(token, claims)`` for a good password; the API's and the web's login."""
        # Refused (429) before any hashing while the user id or the address is
        # in back-off; otherwise the try is counted first, then checked.
        keys = domain.throttle_keys(user_id, address)
        self.events.logins.admit(keys, _now())
        user = self.events.users.find(user_id)
        try:
            actor = run_cpu(domain.check_login, user, password)
        except Unauthenticated as err:
            self.events.logins.failed(keys, _now(), domain.login_failed(
                user_id, err.reason, address))
            raise
        if user["disabled_at"] is not None:
            self.events.logins.failed(keys, _now(), domain.login_failed(
                user_id, "disabled", address))
            raise Unauthenticated(domain.LOGIN_FAILED, field="password")
        self.events.logins.succeeded(keys, _now())
        if upgraded := run_cpu(domain.upgraded_hash, user, password):
            self.events.users.set_password(user["user_id"], upgraded)
        return self.identity.issue(actor, user["token_epoch"])

    @route("logout")
    def logout(self, request):
        """The caller's token stops working now (revoked until it would expire)."""
        self._admit(request, "logout")
        self.events.users.revoke(self.identity.claims)
        return json_response({"logged_out": True})

    @route("change_password")
    def change_password(self, request):
        """With the old password; every token of the user issued before stops working."""
        actor = self._admit(request, "change_password")
        command = self._body(request, s.PasswordChangeSchema)
        user = self.events.users.find(actor.user_id)
        if not run_cpu(domain.verify_password, command["old_password"], user):
            raise ValidationFailed("old_password: not the user's password",
                                   field="old_password")
        if command["new_password"] == command["old_password"]:
            raise ValidationFailed("new_password: must differ from the old one",
                                   field="new_password")
        self.events.users.change_password(
            actor.user_id, run_cpu(domain.hash_password, command["new_password"]))
        return json_response({"user_id": actor.user_id, "password_changed": True})

    # User administration: services/gateway/users.py (the web pages use it too).

    @route("disable_user")
    def disable_user(self, request, user_id):
        """The user can no longer log in, and their tokens stop working at once."""
        actor = self._admit(request, "disable_user")
        disabled_at = users.disable(self, request, actor, user_id)
        return json_response({"user_id": user_id, "disabled_at": disabled_at.isoformat()})

    @route("reset_password")
    def reset_password(self, request, user_id):
        actor = self._admit(request, "reset_password")
        password = self._body(request, s.PasswordResetSchema)["password"]
        return json_response(users.reset_password(self, request, actor, user_id, password))

    @route("create_user")
    def create_user(self, request):
        actor = self._admit(request, "create_user")
        created = users.create(self, request, actor, self._body(request, s.NewUserSchema))
        return json_response(_jsonable(created), status=201)

    @route("list_users")
    def list_users(self, request):
        """Operators see every user; an agency admin its own agency's."""
        actor = self._admit(request, "list_users")
        return json_response([_jsonable(domain.user_view(u)) for u in
                              users.visible(actor, self.events.users.all())])

    @route("openapi")
    def openapi(self, request):
        return json_response(openapi_spec())

    # -- the web application (services/gateway/web.py) -----------------------------------

    @http("GET", "/")
    def web_root(self, request):
        return web.redirect("/web/")

    @http("GET,POST", "/web/")
    def web_home(self, request):
        return web.handle(self, request, "")

    @http("GET,POST", "/web/<path:page>")
    def web_page(self, request, page):
        return web.handle(self, request, page)

    @json_http("GET,POST,PUT,PATCH,DELETE", "/<path:unknown>")
    def unknown(self, request, unknown):
        """Any other URL: the same JSON error format as everywhere else."""
        raise NotFound(f"path: no endpoint {request.method} /{unknown}; see /v1/openapi.json",
                       field="path")

    # -- outgoing documents --------------------------------------------------------------

    @route("register")
    def register(self, request):
        """Stream the multipart body to docs in 64 KiB chunks; answer with docs' answer."""
        self._admit(request, "register")
        return self._through_docs(request, "register_document", "POST", "/v1/documents",
                                  upload=True)

    @route("revise_file")
    def revise_file(self, request, document_id):
        """A new version of a draft's main PDF, streamed to docs like ``register``."""
        self._admit(request, "revise_file")
        return self._through_docs(request, "revise_file", "PUT",
                                  f"/v1/documents/{quote(document_id, safe='')}/file",
                                  upload=True)

    @route("get_document")
    def get_document(self, request, document_id):
        return self._call(request, "get_document", lambda: self.docs.get_document(document_id))

    @route("submit")
    def submit(self, request, document_id):
        return self._call(request, "submit", lambda: self.docs.submit(
            document_id, self._body(request, s.SubmitSchema)["signer_user"]))

    @route("sign")
    def sign(self, request, document_id):
        return self._call(request, "sign", lambda: self.signing.sign_document(document_id))

    @route("prepare_signature")
    def prepare_signature(self, request, document_id):
        return self._call(request, "prepare_signature",
                          lambda: self.signing.prepare_signature(document_id))

    @route("complete_signature")
    def complete_signature(self, request, handout_id):
        def call():
            body = self._body(request, s.CompleteSignatureSchema)
            return self.signing.complete_signature(handout_id, body["signature"],
                                                   body["certificate"])
        return self._call(request, "complete_signature", call)

    @route("sign_remotely")
    def sign_remotely(self, request, document_id):
        return self._call(request, "sign_remotely", lambda: self.signing.sign_remotely(
            document_id, self._body(request, s.RemoteSignatureSchema)["otp"]))

    @route("return_document")
    def return_document(self, request, document_id):
        return self._call(request, "return_document", lambda: self.signing.return_document(
            document_id, self._body(request, s.CommentSchema)["comment"]))

    @route("seal")
    def seal(self, request, document_id):
        return self._call(request, "seal", lambda: self.signing.seal_document(document_id))

    @route("issue")
    def issue(self, request, document_id):
        return self._call(request, "issue", lambda: self.docs.issue(document_id))

    @route("copy")
    def copy(self, request, document_id):
        def call():
            body = self._body(request, s.CopySchema)
            wanted = {k: (str(v) if k == "source_copy" and v is not None else v)
                      for k, v in body.items() if v is not None}
            return self.docs.copy_document(document_id, wanted)
        return self._call(request, "copy", call)

    @route("copies")
    def copies(self, request, document_id):
        return self._call(request, "copies", lambda: self.docs.copies(document_id))

    @route("copy_file")
    def copy_file(self, request, document_id, copy_id):
        return self._call(request, "copy_file", lambda: {
            "url": self.docs.copy_file_url(document_id, copy_id)})

    @route("copy_verify")
    def copy_verify(self, request, document_id, copy_id):
        return self._call(request, "copy_verify",
                          lambda: self.signing.verify_copy(document_id, copy_id))

    @route("verify")
    def verify(self, request, document_id):
        return self._call(request, "verify",
                          lambda: self.signing.verify_document(document_id))

    @route("manifest")
    def manifest(self, request, document_id):
        return self._call(request, "manifest", lambda: self.signing.manifest_urls(document_id))

    @route("trust_anchor")
    def trust_anchor(self, request):
        return self._call(request, "trust_anchor", lambda: self.signing.trust_anchor())

    @route("file")
    def file(self, request, document_id):
        return self._call(request, "file", lambda: {"url": self.docs.file_url(document_id)})

    @route("attachment")
    def attachment(self, request, document_id, index):
        return self._call(request, "attachment", lambda: {"url": self.docs.file_url(
            document_id, attachment=_int_value(index, "index"))})

    @route("statuses")
    def statuses(self, request, document_id):
        return self._call(request, "statuses", lambda: self.routing.statuses(document_id))

    @route("report_status")
    def report_status(self, request, document_id):
        def call():
            body = self._body(request, s.StatusSchema)
            return self.routing.report_status(document_id, body["code"], body["reason"])
        return self._call(request, "report_status", call)

    @route("send")
    def send(self, request, document_id):
        def call():
            body = self._body(request, s.SendSchema)
            return self.routing.send(document_id, body["addressing"], body["consignment_id"])
        return self._call(request, "send", call)

    @route("recall")
    def recall(self, request, document_id):
        def call():
            body = self._body(request, s.RecallSchema)
            return self.routing.request_recall(document_id, body["business_type"],
                                               body["reason"])
        return self._call(request, "recall", call)

    @route("answer_recall")
    def answer_recall(self, request, document_id):
        def call():
            body = self._body(request, s.RecallAnswerSchema)
            return self.routing.answer_recall(document_id, body["agree"], body["reason"])
        return self._call(request, "answer_recall", call)

    @route("overdue_outgoing")
    def overdue_outgoing(self, request):
        return self._call(request, "overdue_outgoing", lambda: self.docs.overdue_outgoing())

    @route("recall_outcome")
    def recall_outcome(self, request, document_id):
        return self._call(request, "recall_outcome",
                          lambda: self.routing.recall_outcome(document_id))

    # -- registers -----------------------------------------------------------------------

    @route("registers")
    def registers(self, request, kind):
        """JSON rows by RPC; CSV and PDF as docs renders them, streamed through."""
        fmt = request.args.get("format", "json")
        if fmt != "json":
            self._admit(request, "registers")
            if fmt not in ("csv", "pdf"):
                raise ValidationFailed("format: json, csv or pdf", field="format")
            params = {name: request.args[name] for name in ("year", "start", "end")
                      if name in request.args}
            return self._through_docs(request, "register_http", "GET",
                                      f"/v1/registers/{quote(kind, safe='')}",
                                      params={**params, "format": fmt})
        return self._call(request, "registers", lambda: self.docs.register(
            kind, _int_arg(request, "year"), request.args.get("start"),
            request.args.get("end")))

    # -- incoming ------------------------------------------------------------------------

    @route("inbox")
    def inbox(self, request):
        return self._call(request, "inbox", lambda: self.routing.inbox())

    @route("incoming")
    def incoming(self, request):
        return self._call(request, "incoming", lambda: self.docs.incoming(
            _int_arg(request, "year")))

    @route("accept_incoming")
    def accept_incoming(self, request, document_id):
        return self._call(request, "accept_incoming", lambda: self.docs.accept_incoming(
            document_id, self._body(request, s.AcceptSchema)["handed_to"]))

    @route("return_incoming")
    def return_incoming(self, request, document_id):
        return self._call(request, "return_incoming", lambda: self.docs.return_incoming(
            document_id, self._body(request, s.ReasonSchema)["reason"]))

    # -- the national document axis (edXML) ----------------------------------------------

    @route("edxml_export")
    def edxml_export(self, request, document_id):
        inline, signed = _bool_arg(request, "inline"), _bool_arg(request, "signed", None)
        return self._call(request, "edxml_export", lambda: {
            "package": self.routing.export_edxml(document_id, inline, signed)})

    @route("edxml_status_export")
    def edxml_status_export(self, request, document_id):
        return self._call(request, "edxml_status_export", lambda: {
            "package": self.routing.export_status_edxml(
                document_id, request.args.get("recipient"), _bool_arg(request, "signed", None))})

    @route("edxml_import")
    def edxml_import(self, request):
        return self._call(request, "edxml_import", lambda: self.routing.import_edxml(
            self._package(request)))

    @route("edxml_status_import")
    def edxml_status_import(self, request):
        return self._call(request, "edxml_status_import",
                          lambda: self.routing.import_status_edxml(self._package(request)))

    def _package(self, request):
        """The base64 package of the body, refused unread when larger than a
        package may be (two files' worth, base64 grows it by a third)."""
        limit = self.settings.package_limit
        if request.content_length is None:
            raise ValidationFailed("package: send the body with a Content-Length",
                                   field="package")
        if request.content_length > limit + 1024:
            raise PayloadTooLarge(f"package: larger than the limit of {limit} bytes"
                                  " (base64)", field="package")
        return self._body(request, s.EdxmlSchema, limit + 1024)["package"]

    # -- choosing recipients (services/gateway/recipients.py) ---------------------------

    @route("directory")
    def directory(self, request):
        args = request.args
        return self._call(request, "directory", lambda: self.routing.browse_agencies(
            args.get("parent") or None, args.get("q", ""), args.get("page", 1),
            args.get("size", 50)))

    @route("recipient_groups")
    def recipient_groups(self, request):
        return self._call(request, "recipient_groups",
                          lambda: recipients.listed(self, self.identity.actor))

    @route("save_recipient_group")
    def save_recipient_group(self, request):
        def call():
            body = self._body(request, s.RecipientGroupSchema)
            return recipients.save(self, self.identity.actor, body["name"], body["recipients"])
        return self._call(request, "save_recipient_group", call)

    @route("delete_recipient_group")
    def delete_recipient_group(self, request, group_id):
        return self._call(request, "delete_recipient_group",
                          lambda: recipients.delete(self, self.identity.actor, group_id))

    # -- audit and administration --------------------------------------------------------

    @route("audit_history")
    def audit_history(self, request, document_id):
        return self._call(request, "audit_history", lambda: self.audit.history(document_id))

    @route("audit_status")
    def audit_status(self, request):
        return self._call(request, "audit_status", lambda: self.audit.status())

    @route("audit_verify")
    def audit_verify(self, request):
        return self._call(request, "audit_verify", lambda: self.audit.verify())

    @route("order_erasure")
    def order_erasure(self, request):
        """An operator's order to destroy a document's data in the audit log."""
        return self._call(request, "order_erasure", lambda: erasures.order(
            self, self.identity.actor, self._body(request, s.ErasureSchema)))

    @route("dashboard")
    def dashboard(self, request):
        asked = web_dashboard.asked(request.args, datetime.now(VIETNAM).date())
        return self._call(request, "dashboard", lambda: self.audit.dashboard(*asked))

    @route("audit_reconcile")
    def audit_reconcile(self, request):
        return self._call(request, "audit_reconcile", lambda: self.audit.reconcile())

    @route("audit_evidence")
    def audit_evidence(self, request, document_id):
        return self._call(request, "audit_evidence",
                          lambda: self.audit.evidence_bundle(document_id))

    @route("agencies")
    def agencies(self, request):
        return self._call(request, "agencies", lambda: self.routing.agencies())

    @route("certificates")
    def certificates(self, request):
        return self._call(request, "certificates",
                          lambda: self.signing.certificates(request.args.get("agency")))

    @route("enroll")
    def enroll(self, request):
        def call():
            body = self._body(request, s.EnrollSchema)
            return self.signing.enroll(body["holder"], self.identity.actor.agency, body["role"],
                                       body["full_name"], body.get("public_key"))
        return self._call(request, "enroll", call)

    @route("request_certificate")
    def request_certificate(self, request):
        def call():
            csr = self._body(request, s.CertificateRequestSchema)["csr"]
            # The certificate names the leader as their user record does.
            user = self.events.users.find(self.identity.actor.user_id)
            return self.signing.request_certificate(csr, user["full_name"])
        return self._call(request, "request_certificate", call)

    @route("certificate_requests")
    def certificate_requests(self, request):
        state = request.args.get("state", "pending")
        return self._call(request, "certificate_requests", lambda: (
            self.signing.certificate_requests(None if state == "all" else state,
                                              request.args.get("agency"))))

    @route("approve_certificate_request")
    def approve_certificate_request(self, request, request_id):
        return self._call(request, "approve_certificate_request",
                          lambda: self.signing.approve_certificate_request(request_id))

    @route("reject_certificate_request")
    def reject_certificate_request(self, request, request_id):
        return self._call(request, "reject_certificate_request", lambda: (
            self.signing.reject_certificate_request(
                request_id, self._body(request, s.RejectionSchema)["reason"])))

    @route("revoke_certificate")
    def revoke_certificate(self, request, serial):
        return self._call(request, "revoke_certificate", lambda: self.signing.revoke_certificate(
            serial, self._body(request, s.RevocationSchema)["reason"]))

    @route("agency_history")
    def agency_history(self, request, code):
        return self._call(request, "agency_history", lambda: self.routing.agency_history(code))

    @route("change_directory")
    def change_directory(self, request):
        return self._call(request, "change_directory", lambda: self.routing.change_directory(
            self._body(request, s.DirectoryChangesSchema)["changes"]))

    @route("dead_letters")
    def dead_letters(self, request, service):
        return self._call(request, "dead_letters",
                          lambda: consumer(self, service).dead_letters())

    @route("replay_dead_letter")
    def replay_dead_letter(self, request, service, letter_id):
        letter = _int_value(letter_id, "letter_id")
        return self._call(request, "replay_dead_letter",
                          lambda: consumer(self, service).replay_dead_letter(letter))

    @route("quarantined")
    def quarantined(self, request, service):
        # audit keeps no dead letters (it never gives an event up) but quarantines too.
        return self._call(request, "quarantined", lambda: (
            self.audit if service == "audit" else consumer(self, service)).quarantined())

    @route("rebuild_dashboard")
    def rebuild_dashboard(self, request):
        return self._call(request, "rebuild_dashboard", lambda: self.audit.rebuild_dashboard())

    # -- the checks every call goes through ----------------------------------------------

    def _through_docs(self, request, entrypoint, method, path, params=None, upload=False,
                      body=None):
        """Forward the call to docs' own HTTP endpoint ``entrypoint``, with an
        assertion for it.

        With ``upload``, the request body (multipart) is streamed up in 64 KiB
        chunks; ``body``, ``(content type, length, chunks)``, is a body the
        gateway made (the web's form, turned into docs' parts); docs' answer is
        streamed back as docs gives it (status, content type, body). A refusal
        by docs (401, 403, 404) is recorded.
        """
        headers = {"Authorization": f"Bearer {self.identity.assertion('docs', entrypoint)}"}
        data, length = None, None
        if upload:
            headers["Content-Type"] = request.headers.get("Content-Type", "")
            length, data = request.content_length, chunks(request.stream)
        if body is not None:
            headers["Content-Type"], length, data = body
        url = f"{self.settings.docs_url.rstrip('/')}{path}"
        session, answer = send(url, method, params, data, headers, length)
        if answer.status_code in (401, 403, 404):
            self._deny(request, self.identity.actor, _error_message(answer))
        return streamed_back(session, answer)

    def _call(self, request, name, call):
        """Admit the caller, make ``call()`` as them, answer its result as JSON.

        A refusal by the service (401, 403, 404) is recorded like the gateway's own.
        """
        actor = self._admit(request, name)
        try:
            result = call()
        except DENIALS as err:
            self._deny(request, actor, f"{err.code}: {err.message}")
            raise
        return json_response(result, status=ENDPOINTS[name].status)

    def _admit(self, request, name):
        """The caller's actor if their token verifies and their role may call ``name``."""
        actor = None
        try:
            actor = self.identity.authenticate(request, self.events.users)
            domain.authorize(actor, ENDPOINTS[name].roles)
        except (Unauthenticated, Forbidden) as err:
            self._deny(request, actor, f"{err.code}: {err.message}")
            raise
        return actor

    def _deny(self, request, actor, reason):
        self._record(domain.request_denied(actor, request.method, request.path, reason))

    def _record(self, event):
        self.events.append(event.stream_id, 0, [event])

    @staticmethod
    def _body(request, schema, limit=None):
        return s.load(schema, _read_body(request, limit or JSON_BODY_BYTES))

    @timer(interval=SWEEP_SECONDS)
    def sweep_login_failures(self):
        """Close the audit windows of failed logins: one summary event each."""
        self.events.logins.sweep(_now())


def _now():
    return datetime.now(timezone.utc)


def _read_body(request, limit):
    """The request body, refused (413) unread when its Content-Length is over
    ``limit`` bytes, and never read past ``limit`` + 1 bytes otherwise."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body: larger than the limit of {limit} bytes", field="body")
    parts, size = [], 0
    while size <= limit and (chunk := request.stream.read(min(CHUNK, limit + 1 - size))):
        parts.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(f"body: larger than the limit of {limit} bytes", field="body")
    return b"".join(parts)


def _int_arg(request, name):
    value = request.args.get(name)
    if value is None:
        return None
    return _int_value(value, name)


def _bool_arg(request, name, default=False):
    value = request.args.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ValidationFailed(f"{name}: true or false", field=name)
    return value.lower() == "true"


def _int_value(value, name):
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed(f"{name}: an integer", field=name) from None


def _error_message(answer):
    try:
        error = answer.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status_code}"


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: v.isoformat()))
