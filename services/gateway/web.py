"""The web application: server-rendered pages for clerks and leaders, in
Vietnamese by default (``?lang=en`` switches to English).

It lives in the gateway, which already logs people in (passwords, back-off),
holds the sessions (its bearer tokens, revocation) and is the one public port.
A page calls the services through the same RPCs, with the same per-call
assertion, as the JSON API: every rule about who may see or do what is the
services' own, and the gateway's role table (``routes.ENDPOINTS``) is applied
to each page and action as to the API call it stands for.

Sessions: the login form gives a cookie holding the gateway's bearer token
(HttpOnly, SameSite=Strict, Path=/, Secure behind TLS or when configured),
which expires with the token and is revoked at logout. Every POST form
carries a synchronizer token tied to that session (``csrf_token``); without
it nothing is done.
"""

import hmac
import json
import logging
import os
import re
import secrets
import unicodedata
from datetime import date, datetime, timezone
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from werkzeug.wrappers import Response

from services.gateway import schemas as login_schema
from services.gateway import web_admin, web_audit, web_dashboard, web_directory, web_lists
from services.gateway.domain import authorize
from services.gateway.routes import ENDPOINTS
from services.gateway.web_text import DEFAULT, LANGUAGES, TEXT
from shared.documents import DOCUMENT_TYPES
from shared.edge.outages import unavailable
from shared.errors import (
    Forbidden, LienThongError, NotFound, PayloadTooLarge, TooManyRequests, Unauthenticated,
    ValidationFailed,
)
from shared.multipart import CHUNK, MultipartStream
from shared.values import VIETNAM, checked_uuid

log = logging.getLogger(__name__)

SESSION_COOKIE = "lt_session"
LOGIN_COOKIE = "lt_login"   # the login form's anti-forgery token (no session yet)
LANG_COOKIE = "lt_lang"
FORM_BYTES = 16 * 1024      # a urlencoded form (a reason, a comment) is small
FIELDS_BYTES = 64 * 1024    # the compose form's fields, before its files
HERE = os.path.dirname(__file__)
STATIC = {"app.css": ("text/css; charset=utf-8", os.path.join(HERE, "static", "app.css")),
          "picker.js": ("text/javascript; charset=utf-8",
                        os.path.join(HERE, "static", "picker.js")),
          "upload.js": ("text/javascript; charset=utf-8",
                        os.path.join(HERE, "static", "upload.js"))}
DENIALS = (Unauthenticated, Forbidden, NotFound)

_env = Environment(loader=FileSystemLoader(os.path.join(HERE, "templates")),
                   autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True)


# -- pure helpers (unit-tested) ---------------------------------------------------------

def pick_language(args, cookies):
    """``?lang=`` first, then the cookie, then Vietnamese; and whether to remember it."""
    asked = args.get("lang")
    if asked in LANGUAGES:
        return asked, asked != cookies.get(LANG_COOKIE)
    remembered = cookies.get(LANG_COOKIE)
    return (remembered if remembered in LANGUAGES else DEFAULT), False


def translator(lang):
    """``t(key, **values)`` in ``lang``; a missing key is a bug, shown as the key."""
    table = TEXT[lang]

    def t(key, **values):
        text = table.get(key, key)
        return text.format(**values) if values else text
    return t


def format_date(value, with_time=False):
    """dd/mm/yyyy (and HH:mm, 24 h) in Vietnam time, from a date or an ISO text."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = (datetime.fromisoformat(value) if "T" in value or " " in value
                 else date.fromisoformat(value))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(VIETNAM)
        return value.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")
    return value.strftime("%d/%m/%Y")


def format_number(value, lang=DEFAULT):
    """1.234 in Vietnamese, 1,234 in English."""
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


def helpers(lang):
    """What every page's template may use, in ``lang``."""
    t = translator(lang)

    def event_name(event_type):  # an event type the words do not know: as logged
        key = "event_" + event_type
        return t(key) if key in TEXT[lang] else event_type
    return {"t": t, "lang": lang, "other_lang": "en" if lang == "vi" else "vi",
            "date": format_date, "number": lambda n: format_number(n, lang),
            "event_name": event_name, "doc_types": DOCUMENT_TYPES}


def session_cookie(token, max_age, secure):
    """The session cookie's settings (``Response.set_cookie`` arguments)."""
    return {"key": SESSION_COOKIE, "value": token, "max_age": max(0, int(max_age)),
            "path": "/", "httponly": True, "secure": bool(secure), "samesite": "Strict"}


def same_token(given, expected):
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def split_fields(stream, boundary, limit=FIELDS_BYTES):
    """Read the compose form's raw body up to its ``file`` part: ``(fields part
    bytes, the bytes read past them)``; the files are not read here."""
    marker = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"'
    head = b""
    while (at := head.find(marker)) < 0:
        if len(head) > limit + len(marker):
            raise ValidationFailed(f"body: the form's fields are over {limit} bytes, or the"
                                   " main file is missing", field="file")
        chunk = stream.read(CHUNK)
        if not chunk:
            raise ValidationFailed("file: required (the main PDF)", field="file")
        head += chunk
    return head[:at], head[at:]


def read_fields(raw, boundary):
    """The text fields of a multipart prefix (ending before a delimiter)."""
    form = MultipartStream(_Bytes(raw + b"--" + boundary + b"--\r\n"), boundary.decode())
    fields = {}
    while (part := form.next_part()) is not None:
        if part[0] != "field":
            raise ValidationFailed("file: the files come after the form's fields", field="file")
        value = form.read_field().decode("utf-8", "replace")
        fields[part[1]] = unicodedata.normalize("NFC", value).strip()
    return fields


def trim_empty_attachment(tail, boundary):
    """An empty ``attachment`` input (no file chosen) still sends a part; docs
    would refuse an empty file. The last such part is cut and the body closed
    before it, padded with an epilogue, so its length does not change."""
    b = re.escape(boundary)
    found = re.search(rb"\r\n--" + b + rb'\r\nContent-Disposition: form-data; name="attachment";'
                      rb' filename=""\r\n(?:Content-Type: [^\r\n]*\r\n)?\r\n\r\n--' + b
                      + rb"--\r\n\Z", tail)
    if not found:
        return tail
    closing = b"\r\n--" + boundary + b"--\r\n"
    cut = tail[found.start():]
    return tail[:found.start()] + closing + b" " * (len(cut) - len(closing))


def metadata_of(fields):
    """The docs service's registration metadata from the compose form's fields
    (docs checks every rule; here only what must be a number)."""
    def number(name, default):
        value = fields.get(name) or default
        try:
            return int(value)
        except ValueError:
            raise ValidationFailed(f"{name}: a whole number", field=name) from None

    signer = {"competence": fields.get("competence", ""),
              "position": fields.get("position", ""), "full_name": fields.get("full_name", "")}
    for name in ("on_behalf_of", "deputy_for"):
        if fields.get(name):
            signer[name] = fields[name]
    metadata = {"subject": fields.get("subject", ""),
                "document_type": fields.get("document_type", ""),
                "urgency": number("urgency", 0), "secrecy": number("secrecy", 0),
                "agency_abbreviation": fields.get("agency_abbreviation", ""),
                "signer": signer, "page_count": number("page_count", 1),
                "recipients": [code for code in re.split(r"[\s,;]+",
                                                         fields.get("recipients", "")) if code]}
    for optional in ("due_date", "drafting_unit_abbreviation"):
        if fields.get(optional):
            metadata[optional] = fields[optional]
    return metadata


class _Bytes:
    def __init__(self, data):
        self.data, self.at = data, 0

    def read(self, n=-1):
        end = len(self.data) if n < 0 else self.at + n
        out, self.at = self.data[self.at:end], min(end, len(self.data))
        return out


# -- responses ------------------------------------------------------------------------

def redirect(location, status=303):
    return Response("", status=status, headers={"Location": location})


def _security_headers(response):
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self';"
        " connect-src 'self'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


class Page:
    """One request of the web application: its language, its user, its service."""

    def __init__(self, service, request):
        self.service, self.request = service, request
        self.lang, self.remember_lang = pick_language(request.args, request.cookies)
        self.t = translator(self.lang)
        self.actor = self.claims = None
        self.csrf = ""
        self.secure = self._secure()

    def _secure(self):
        setting = self.service.settings.web_secure_cookies  # auto, true or false
        if setting == "auto":
            return self.request.scheme == "https"
        return setting == "true"

    # sessions

    def log_in_from_cookie(self):
        """The session's user, or Unauthenticated (recorded only if a cookie was shown)."""
        token = self.request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated("no session", field="session")
        identity = self.service.identity
        users = self.service.events.users
        try:
            self.actor = identity.authenticate_token(token, users)
        except Unauthenticated as err:
            self.service._deny(self.request, None, f"{err.code}: web session: {err.message}")
            raise
        self.claims = identity.claims
        idle = self.service.settings.web_idle_seconds
        if not users.use_web_session(self.claims, idle):
            # Unused too long: over for good (its token revoked), whoever holds the cookie.
            users.revoke(self.claims)
            self.service._deny(self.request, self.actor, "unauthenticated: web session idle"
                               f" for more than {idle} s (or not opened by a web login):"
                               " logged out")
            raise SessionIdle()
        self.csrf = identity.csrf_token()

    def check_csrf(self, given):
        if not same_token(given, self.csrf):
            self.service._deny(self.request, self.actor, "forbidden: web form without a"
                               " valid anti-forgery token")
            raise _CsrfRefused()

    def allow(self, endpoint):
        """The role the API's ``endpoint`` needs (refusals recorded, as the API's)."""
        try:
            authorize(self.actor, ENDPOINTS[endpoint].roles)
        except Forbidden as err:
            self.service._deny(self.request, self.actor, f"{err.code}: {err.message}")
            raise

    def call(self, fn):
        """A service call as the user; refusals recorded as the API's are."""
        try:
            return fn()
        except DENIALS as err:
            self.service._deny(self.request, self.actor, f"{err.code}: {err.message}")
            raise

    def form(self):
        """A small urlencoded form (refused unread past ``FORM_BYTES``)."""
        if self.request.content_length is None or self.request.content_length > FORM_BYTES:
            raise PayloadTooLarge(f"body: at most {FORM_BYTES} bytes", field="body")
        self.request.max_form_memory_size = FORM_BYTES
        # Text is kept in one form (NFC), trimmed; a password exactly as typed,
        # as the API takes it.
        return {k: v if k == "password" else unicodedata.normalize("NFC", v).strip()
                for k, v in self.request.form.items()}

    # rendering

    def render(self, template, status=200, **context):
        path = self.request.path
        html = _env.get_template(template).render(
            **helpers(self.lang), actor=self.actor, csrf=self.csrf, path=path,
            flash=self._flash(), **context)
        response = Response(html, status=status, content_type="text/html; charset=utf-8")
        return self.finish(response)

    def _flash(self):
        """The outcome a redirect after a POST names (``?ok=sign``), in words."""
        key = "ok_" + self.request.args.get("ok", "")
        return self.t(key) if key in TEXT[self.lang] else None

    def finish(self, response):
        if self.remember_lang:
            response.set_cookie(LANG_COOKIE, self.lang, max_age=365 * 86400, path="/",
                                httponly=True, secure=self.secure, samesite="Lax")
        return _security_headers(response)

    def error(self, err, status=None, template="error.html", **context):
        err = unavailable(err) or err
        if not isinstance(err, LienThongError):
            raise err
        field = err.field
        response = self.render(
            template, status=status or err.http_status, error={
                "headline": self.t("error_" + err.code) if "error_" + err.code in TEXT[
                    self.lang] else self.t("error_error"),
                "field": self.t(field) if field in TEXT[self.lang] else field,
                "detail": err.message}, **context)
        if isinstance(err, TooManyRequests):
            response.headers["Retry-After"] = str(err.retry_after)
        return response


class SessionIdle(Unauthenticated):
    """A web session unused for longer than ``WEB_IDLE_SECONDS``."""

    def __init__(self):
        super().__init__("web session idle: logged out", field="session")


class _CsrfRefused(Exception):
    pass


# -- the pages ------------------------------------------------------------------------

def handle(service, request, page):
    """Answer one request of ``/web/<page>``."""
    if page.startswith("static/"):
        return _static(page[len("static/"):])
    ctx = Page(service, request)
    try:
        if page == "login":
            return _login(ctx)
        try:
            ctx.log_in_from_cookie()
        except Unauthenticated as err:
            said = {"lang": ctx.lang, **({"ok": "idle"} if isinstance(err, SessionIdle) else {})}
            response = redirect("/web/login?" + urlencode(said))
            if request.cookies.get(SESSION_COOKIE):
                response.delete_cookie(SESSION_COOKIE, path="/")
            return ctx.finish(response)
        if request.method == "POST":
            # The compose form is multipart: its token is read from the stream.
            if page != "new":
                ctx.check_csrf(ctx.form().get("csrf"))
        return _route(ctx, page)
    except _CsrfRefused:
        return ctx.render("error.html", status=403, error={
            "headline": ctx.t("error_csrf"), "field": None, "detail": None})
    except LienThongError as err:
        return ctx.error(err)
    except Exception as err:  # a timeout, a lost service: said in the user's words
        if unavailable(err) is not None:
            return ctx.error(err)
        log.exception("unexpected error in the web page /web/%s", page)
        return ctx.render("error.html", status=500, error={
            "headline": ctx.t("error_internal"), "field": None, "detail": None})


def _route(ctx, page):
    method = ctx.request.method
    if page == "" and method == "GET":
        return _home(ctx)
    if page == "logout" and method == "POST":
        return _logout(ctx)
    if page in web_lists.LISTS and method == "GET":
        return web_lists.list_page(ctx, page)
    if page == "new":
        ctx.allow("register")
        if method == "GET":  # back from the picker: its fields as the clerk left them
            return ctx.render("compose.html",
                              values=web_directory.compose_values(ctx.request.args))
        return _compose(ctx)
    if page == "dashboard" and method == "GET":
        return web_dashboard.handle(ctx, datetime.now(VIETNAM).date())
    parts = page.split("/")
    if parts[0] == "audit" and method == "GET":
        return web_audit.handle(ctx, parts[1:])
    if parts[0] == "admin":
        return web_admin.handle(ctx, parts[1:])
    if parts[0] == "directory":
        return web_directory.handle(ctx, parts[1:])
    if parts[0] == "registers" and method == "GET" and len(parts) in (2, 3) \
            and parts[1] in web_lists.REGISTERS:
        today = datetime.now(VIETNAM).date()
        if len(parts) == 2:
            return web_lists.register_page(ctx, parts[1], today)
        if parts[2] in ("csv", "pdf"):
            return web_lists.register_export(ctx, parts[1], parts[2], today)
    if len(parts) in (2, 3) and parts[0] == "documents":
        document_id = checked_uuid(parts[1])
        if len(parts) == 2 and method == "GET":
            return _document(ctx, document_id)
        if len(parts) == 3 and parts[2] == "file" and method == "GET":
            ctx.allow("file")
            return redirect(ctx.call(lambda: ctx.service.docs.file_url(document_id)), 302)
        if len(parts) == 3 and method == "POST" and parts[2] in ACTIONS:
            return _act(ctx, document_id, parts[2])
    if len(parts) == 5 and parts[0] == "documents" and parts[2] == "copies" \
            and parts[4] == "file" and method == "GET":
        document_id, copy_id = checked_uuid(parts[1]), checked_uuid(parts[3], "copy_id")
        ctx.allow("copy_file")
        return redirect(ctx.call(lambda: ctx.service.docs.copy_file_url(document_id, copy_id)),
                        302)
    raise NotFound(f"page: no page /web/{page}", field="page")


def _static(name):
    if name not in STATIC:
        return Response("", status=404)
    content_type, path = STATIC[name]
    with open(path, "rb") as fh:
        response = Response(fh.read(), content_type=content_type)
    response.headers["Cache-Control"] = "max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _login(ctx):
    request = ctx.request
    if request.method == "GET":
        token = secrets.token_urlsafe(32)
        response = ctx.render("login.html", login_csrf=token, user_id="")
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/web/login",
                            httponly=True, secure=ctx.secure, samesite="Strict")
        return response
    form = ctx.form()
    if not same_token(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
        ctx.service._deny(request, None, "forbidden: web login without a valid"
                          " anti-forgery token")
        raise _CsrfRefused()
    again = {"login_csrf": request.cookies.get(LOGIN_COOKIE), "user_id": form.get("user_id", "")}
    try:
        try:  # the API's bounds on a login's fields
            command = login_schema.load(login_schema.LoginSchema, json.dumps({
                "user_id": form.get("user_id", ""), "password": form.get("password", "")
            }).encode())
        except ValidationFailed:
            raise Unauthenticated("user id or password out of bounds", field="password") from None
        token, claims = ctx.service._log_in(command["user_id"], command["password"],
                                            request.remote_addr)
    except TooManyRequests as err:
        response = ctx.render("login.html", status=429, error=ctx.t(
            "error_throttled", seconds=err.retry_after), **again)
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    except Unauthenticated:
        return ctx.render("login.html", status=401, error=ctx.t("error_login"), **again)
    ctx.service.events.users.open_web_session(claims)
    max_age = claims["exp"] - datetime.now(timezone.utc).timestamp()
    response = redirect("/web/")
    response.set_cookie(**session_cookie(token, max_age, ctx.secure))
    response.delete_cookie(LOGIN_COOKIE, path="/web/login")
    return ctx.finish(response)


def _logout(ctx):
    ctx.service.events.users.revoke(ctx.claims)
    response = redirect("/web/login?ok=logout")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=ctx.secure,
                           samesite="Strict")
    return ctx.finish(response)


def _home(ctx):
    groups = web_lists.home_groups(ctx)
    overdue = web_lists.overdue_of(ctx) if ctx.actor.role == "clerk" else {}
    note = {"auditor": "todo_auditor"}.get(ctx.actor.role)
    return ctx.render("home.html", groups=groups, note=note, overdue=overdue)


def _document(ctx, document_id):
    ctx.allow("get_document")
    docs = ctx.service.docs
    document = ctx.call(lambda: docs.get_document(document_id))
    timeline = ctx.call(lambda: docs.timeline(document_id))
    leaders = []
    if ctx.actor.role == "clerk" and document["state"] in ("draft", "returned"):
        leaders = [u for u in ctx.service.events.users.all()
                   if u["agency"] == ctx.actor.agency and u["role"] == "leader"
                   and u["disabled_at"] is None]
    statuses, outcome = [], None
    if document["state"] in ("issued", "sent", "undeliverable", "recalled", "replaced"):
        try:  # routing's, per recipient: the sender sees all, a recipient its own
            statuses = ctx.service.routing.statuses(document_id)
        except NotFound:
            statuses = []
    if may(ctx.actor.role, "recall_outcome") and any(s.get("recall") for s in statuses):
        try:  # the sender's (and auditors'): routing says whose
            outcome = ctx.service.routing.recall_outcome(document_id)
        except NotFound:
            outcome = None
    copies = []
    if may(ctx.actor.role, "copies") and ctx.actor.role != "auditor" \
            and document["state"] in (*COPYABLE, "recalled", "replaced"):
        copies = ctx.call(lambda: docs.copies(document_id))
    return ctx.render("document.html", document=document, timeline=timeline, leaders=leaders,
                      copies=copies, copyable=document["state"] in COPYABLE,
                      arrival=document.get("incoming", {}).get(ctx.actor.agency),
                      **routing_view(ctx.actor.role, ctx.actor.agency, statuses, outcome))


def may(role, endpoint):
    """Whether ``role`` may do what the API's ``endpoint`` does (the gateway's
    role table): a page offers a form or not by it."""
    return role in ENDPOINTS[endpoint].roles


def routing_view(role, agency, statuses, outcome=None):
    """What the document page shows of routing's answers to a ``role`` of
    ``agency``: every copy's status and recall, its own copy (the progress it
    may report next, the recall it has to answer), the recall's outcome."""
    own = next((s for s in statuses if s["recipient"] == agency), None)
    return {"statuses": statuses, "outcome": outcome, "own": own,
            "may": lambda endpoint: may(role, endpoint), "recall_types": RECALL_TYPES,
            "progress": [c for c in (own or {}).get("next", ()) if c in PROGRESS],
            "recall_pending": any(s.get("recall") and s["recall"]["answer"] is None
                                  for s in statuses)}


# The progress a recipient reports on the page, once it accepted (docs' Tiếp
# nhận gives 03, its Từ chối tiếp nhận 02): 04 assigned, 05 in progress, 06 done.
PROGRESS = ("04", "05", "06")
# The recalls a sender asks for on the page: 1 revoke (thu hồi), 2 update
# (đính chính); a replace (3) names its replacing document, which the API's
# body does not carry.
RECALL_TYPES = (1, 2)


# action in the URL -> (the API endpoint whose roles apply, the call, the form field it needs)
ACTIONS = {
    "submit": ("submit", lambda s, d, f: s.docs.submit(d, f.get("signer_user")), "signer_user"),
    "sign": ("sign", lambda s, d, f: s.signing.sign_document(d), None),
    "return": ("return_document", lambda s, d, f: s.signing.return_document(d, f.get("comment")),
               "comment"),
    "seal": ("seal", lambda s, d, f: s.signing.seal_document(d), None),
    "issue": ("issue", lambda s, d, f: s.docs.issue(d), None),
    "accept": ("accept_incoming",
               lambda s, d, f: s.docs.accept_incoming(d, f.get("handed_to") or None), None),
    "refuse": ("return_incoming", lambda s, d, f: s.docs.return_incoming(d, f.get("reason")),
               "reason"),
    # A copy (Decree 30 Art. 25-28): the form's fields read as the API's body (copy_request).
    "copy": ("copy", lambda s, d, f: s.docs.copy_document(d, copy_request(f)), "copy_form"),
    # Routing's, on a sent document; their fields are read as the API's bodies (BODIES).
    "progress": ("report_status",
                 lambda s, d, f: s.routing.report_status(d, f["code"], f["reason"]),
                 "status_code"),
    "recall": ("recall", lambda s, d, f: s.routing.request_recall(
        d, f["business_type"], f["reason"]), "recall_reason"),
    "answer-recall": ("answer_recall", lambda s, d, f: s.routing.answer_recall(
        d, f["agree"], f["reason"]), "agree"),
}

# action -> (the API's body schema, its fields' names on the page's form): the
# form is held to the API's bounds, and an error names the field as the form
# does (routing's ``code`` of a recall answer is the form's ``agree``).
BODIES = {
    "progress": (login_schema.StatusSchema, {"code": "status_code"}),
    "recall": (login_schema.RecallSchema, {"business_type": "business_type",
                                           "reason": "recall_reason"}),
    "answer-recall": (login_schema.RecallAnswerSchema, {"agree": "agree",
                                                        "reason": "answer_reason"}),
}
ERROR_FIELDS = {"copy": {"form": "copy_form", "pages": "copy_pages",
                         "agency_abbreviation": "copy_abbreviation"},
                "progress": {"code": "status_code"},
                "recall": {"reason": "recall_reason"},
                "answer-recall": {"code": "agree", "reason": "answer_reason"}}


# A copy's form on the page: its fields -> the API's body (CopySchema).
COPY_FIELDS = {"form": "copy_form", "pages": "copy_pages", "source_copy": "source_copy",
               "agency_abbreviation": "copy_abbreviation"}
# The states in which a document's page offers its copy (docs decides).
COPYABLE = ("issued", "sent", "undeliverable", "external")


def copy_request(form):
    """The copy form as the API's body: pages typed "1, 3" become [1, 3]; blank
    fields left out; held to the API's bounds, errors naming the form's field."""
    raw = {api: form[name].strip() for api, name in COPY_FIELDS.items()
           if (form.get(name) or "").strip()}
    if "pages" in raw:
        pages = [p for p in re.split(r"[\s,;]+", raw["pages"]) if p]
        if not all(p.isdigit() for p in pages):
            raise ValidationFailed("pages: page numbers, such as 1, 3", field="copy_pages")
        raw["pages"] = [int(p) for p in pages]
    try:
        body = web_admin.loaded(login_schema.CopySchema, raw)
    except ValidationFailed as err:
        err.field = (err.field or "").split(".")[0]  # pages.0: the form's one field
        raise _renamed(err, "copy") from None
    return {k: (str(v) if k == "source_copy" else v) for k, v in body.items()
            if v is not None}


def body_of(action, form):
    """The API's body of a routing action from its form (blank fields left out),
    or ValidationFailed naming the form's field."""
    schema, names = BODIES[action]
    raw = {api: form[name] for api, name in names.items() if form.get(name)}
    try:
        return web_admin.loaded(schema, raw)
    except ValidationFailed as err:
        raise _renamed(err, action) from None


def _renamed(err, action):
    err.field = ERROR_FIELDS.get(action, {}).get(err.field, err.field)
    return err


def _act(ctx, document_id, action):
    endpoint, call, needs = ACTIONS[action]
    ctx.allow(endpoint)
    form = ctx.form()
    if needs and not form.get(needs):
        raise ValidationFailed(f"{needs}: required", field=needs)
    if action in BODIES:
        form = body_of(action, form)
    try:
        ctx.call(lambda: call(ctx.service, document_id, form))
    except LienThongError as err:
        raise _renamed(err, action)
    return ctx.finish(redirect(f"/web/documents/{quote(document_id)}?ok={action}"))


def _compose(ctx):
    """The compose form, streamed: its fields (the anti-forgery token first) are
    read, turned into docs' ``metadata`` part, and the files follow to docs as
    they arrive, in the browser's own parts, never held whole."""
    request = ctx.request
    if request.mimetype != "multipart/form-data" or not request.mimetype_params.get("boundary"):
        raise ValidationFailed("request: send the form as multipart/form-data",
                               field="content-type")
    if request.content_length is None:
        raise ValidationFailed("request: a Content-Length is required", field="body")
    boundary = request.mimetype_params["boundary"].encode("latin-1")
    stream = request.stream
    raw_fields, rest = split_fields(stream, boundary)
    fields = read_fields(raw_fields, boundary)
    ctx.check_csrf(fields.get("csrf"))
    try:
        metadata = metadata_of(fields)
    except ValidationFailed as err:
        return ctx.error(err, template="compose.html", values=fields)
    prefix = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="metadata"\r\n'
              b"Content-Type: application/json; charset=utf-8\r\n\r\n"
              + json.dumps(metadata, ensure_ascii=False).encode("utf-8") + b"\r\n")
    length = len(prefix) + request.content_length - len(raw_fields)

    def body(tail=1024):
        yield prefix
        pending = rest
        while chunk := stream.read(CHUNK):
            pending += chunk
            if len(pending) > 2 * tail:
                yield pending[:-tail]
                pending = pending[-tail:]
        yield trim_empty_attachment(pending, boundary)

    answer = ctx.service._through_docs(
        request, "register_document", "POST", "/v1/documents",
        body=(f"multipart/form-data; boundary={boundary.decode('latin-1')}", length, body()))
    if answer.status_code != 201:
        return ctx.error(web_lists.docs_refusal(answer), template="compose.html",
                         values=fields)
    payload = json.loads(answer.get_data() or b"{}")
    return ctx.finish(redirect(f"/web/documents/{quote(payload['document_id'])}?ok=created"))
