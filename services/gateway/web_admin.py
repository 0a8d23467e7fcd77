"""The administrators' screens: Người dùng and Chứng thư số for an agency's
administrator (quản trị đơn vị, role ``admin``), Danh mục cơ quan, đơn vị
(readable by admins, changed by the system administrator) and Thông điệp lỗi
(dead letters) for the system administrator (quản trị hệ thống, ``operator``).

No rule lives here. Each page and form applies the role of the JSON API
endpoint it stands for (``routes.ENDPOINTS``, through ``Page.allow``); users
are created, disabled and given a new password by ``users.py``, the very code
the API runs (the domain's rules, ``shared.scope``); certificates, the
directory and dead letters are the services' own RPCs, which check the caller
again. A refusal is shown on the page, naming the field the domain names,
and changes nothing.
"""

import json
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Response

from services.gateway import domain, schemas, users, web_lists
from services.gateway.routes import CONSUMERS, consumer
from shared import scope
from shared.errors import Forbidden, LienThongError, NotFound, Unauthenticated, ValidationFailed

AGENCIES_PAGE = 50
# What the directory form may do, and the fields each change takes from it.
DIRECTORY_OPS = {"create": ("code", "name", "level", "parent"),
                 "rename": ("code", "new_name"),
                 "dissolve": ("code", "successor")}
REVOCATION_REASONS = ("keyCompromise", "affiliationChanged", "superseded",
                      "cessationOfOperation", "privilegeWithdrawn")
ENROL_ROLES = ("leader", "clerk", "agency")


# -- pure helpers (unit-tested) ---------------------------------------------------------

def loaded(schema, fields):
    """A form's fields loaded by the API's own schema (its bounds, its messages)."""
    return schemas.load(schema, json.dumps(fields).encode())


def directory_change(form):
    """The dated change the directory form asks for (routing checks every rule)."""
    op = form.get("op", "")
    if op not in DIRECTORY_OPS:
        raise ValidationFailed(f"op: one of {', '.join(DIRECTORY_OPS)}", field="op")
    change = {"op": op, "on": form.get("on", "")}
    for name in DIRECTORY_OPS[op]:
        value = form.get(name) or None
        if value is not None or name == "parent":  # no parent: a root
            change[name] = value
    return change


# -- dispatch ---------------------------------------------------------------------------

def handle(ctx, parts):
    """``/web/admin/...``: GET a page, POST one of its forms."""
    method = ctx.request.method
    key = (parts[0] if parts else "", method)
    if key in ROUTES and len(parts) == 1:
        return ROUTES[key](ctx)
    if len(parts) == 2 and parts[0] == "agencies":
        if parts[1] == "changes" and method == "POST":
            return _change_directory(ctx)
        if method == "GET":
            return _agency(ctx, parts[1])
    if len(parts) == 3 and method == "POST":
        if parts[0] == "users" and parts[2] in ("disable", "password"):
            return _user_action(ctx, parts[1], parts[2])
        if parts[0] == "certificates" and parts[2] == "revoke":
            return _revoke(ctx, parts[1])
    if len(parts) == 4 and parts[:2] == ["certificates", "requests"] and method == "POST" \
            and parts[3] in ("approve", "reject"):
        return _decide_request(ctx, parts[2], parts[3])
    if len(parts) == 4 and parts[0] == "dead-letters" and parts[3] == "replay" \
            and method == "POST":
        return _replay(ctx, parts[1], parts[2])
    raise NotFound(f"page: no page /web/admin/{'/'.join(parts)}", field="page")


def _done(ctx, location, outcome):
    """After a form: back to the page, which says what was done (``?ok=``)."""
    sep = "&" if "?" in location else "?"
    return ctx.finish(Response("", status=303, headers={
        "Location": f"{location}{sep}ok={outcome}"}))


def _refused(ctx, err, template, context):
    """A refusal on the page it came from: the domain's message, naming the field.
    A missing role or another agency's user is the error page's (and recorded)."""
    if isinstance(err, (Unauthenticated, Forbidden)) or not isinstance(err, LienThongError):
        raise err
    return ctx.error(err, template=template, **context)


# -- Người dùng -------------------------------------------------------------------------

def _users_context(ctx, values=None):
    listed = [{**domain.user_view(u), "disabled_at": u["disabled_at"]}  # never a hash
              for u in users.visible(ctx.actor, ctx.service.events.users.all())]
    roles = scope.ADMIN_GRANTS if ctx.actor.role == scope.ADMIN else domain.ROLES
    return {"users": listed, "roles": roles, "values": values or {}}


def _users(ctx):
    ctx.allow("list_users")
    return ctx.render("admin_users.html", **_users_context(ctx))


def _create_user(ctx):
    ctx.allow("create_user")
    form = ctx.form()
    fields = {name: form.get(name, "") for name in ("user_id", "role", "full_name", "password")}
    fields["agency"] = (form.get("agency", "") if ctx.actor.role == "operator"
                        else ctx.actor.agency)
    try:
        users.create(ctx.service, ctx.request, ctx.actor, loaded(schemas.NewUserSchema, fields))
    except LienThongError as err:
        fields.pop("password")
        return _refused(ctx, err, "admin_users.html", _users_context(ctx, fields))
    return _done(ctx, "/web/admin/users", "user_created")


def _user_action(ctx, user_id, action):
    endpoint = {"disable": "disable_user", "password": "reset_password"}[action]
    ctx.allow(endpoint)
    form = ctx.form()
    try:
        if action == "disable":
            users.disable(ctx.service, ctx.request, ctx.actor, user_id)
        else:
            password = loaded(schemas.PasswordResetSchema,
                              {"password": form.get("password", "")})["password"]
            users.reset_password(ctx.service, ctx.request, ctx.actor, user_id, password)
    except LienThongError as err:
        return _refused(ctx, err, "admin_users.html", _users_context(ctx))
    return _done(ctx, "/web/admin/users", "user_" + action)


# -- Chứng thư số -----------------------------------------------------------------------

def _certificates_context(ctx, values=None):
    listed = ctx.call(lambda: ctx.service.signing.certificates(None))
    # Leaders' requests (their tokens' CSRs) awaiting a decision: the admin's agency's.
    pending = ctx.call(lambda: ctx.service.signing.certificate_requests("pending", None))
    return {"certificates": listed, "reasons": REVOCATION_REASONS, "enrol_roles": ENROL_ROLES,
            "values": values or {}, "requests": pending}


def _certificates(ctx):
    ctx.allow("certificates")
    return ctx.render("admin_certificates.html", **_certificates_context(ctx))


def _enroll(ctx):
    ctx.allow("enroll")
    form = ctx.form()
    fields = {name: form.get(name, "") for name in ("holder", "role", "full_name")}
    if form.get("public_key"):
        fields["public_key"] = form["public_key"]
    try:
        body = loaded(schemas.EnrollSchema, fields)
        issued = ctx.call(lambda: ctx.service.signing.enroll(
            body["holder"], ctx.actor.agency, body["role"], body["full_name"],
            body.get("public_key")))
    except LienThongError as err:
        return _refused(ctx, err, "admin_certificates.html", _certificates_context(ctx, fields))
    # Answered here, not redirected: the PEM issued for a token's key is shown once.
    return ctx.render("admin_certificates.html", issued=issued, **_certificates_context(ctx))


def _revoke(ctx, serial):
    ctx.allow("revoke_certificate")
    form = ctx.form()
    try:
        reason = loaded(schemas.RevocationSchema, {"reason": form.get("reason", "")})["reason"]
        ctx.call(lambda: ctx.service.signing.revoke_certificate(serial, reason))
    except LienThongError as err:
        return _refused(ctx, err, "admin_certificates.html", _certificates_context(ctx))
    return _done(ctx, "/web/admin/certificates", "revoked")


def _decide_request(ctx, request_id, decision):
    """Approve (the CA issues the certificate) or reject a leader's request."""
    endpoint = {"approve": "approve_certificate_request",
                "reject": "reject_certificate_request"}[decision]
    ctx.allow(endpoint)
    form = ctx.form()
    try:
        if decision == "approve":
            issued = ctx.call(lambda: ctx.service.signing.approve_certificate_request(
                request_id))
            return ctx.render("admin_certificates.html", issued=issued,
                              **_certificates_context(ctx))
        reason = loaded(schemas.RejectionSchema, {"reason": form.get("reason", "")})["reason"]
        ctx.call(lambda: ctx.service.signing.reject_certificate_request(request_id, reason))
    except LienThongError as err:
        return _refused(ctx, err, "admin_certificates.html", _certificates_context(ctx))
    return _done(ctx, "/web/admin/certificates", "request_rejected")


# -- Danh mục cơ quan, đơn vị -------------------------------------------------------------

def _agencies_context(ctx):
    """A page of the directory, as routing browses it (never the whole of it)."""
    args = ctx.request.args
    parent, q = args.get("parent", "").strip(), args.get("q", "").strip()
    listing = ctx.call(lambda: ctx.service.routing.browse_agencies(
        parent or None, q, args.get("page") or 1, AGENCIES_PAGE))
    return {"agencies": listing["items"], "parent": parent, "q": q,
            "names": listing["names"],
            "links": web_lists.page_links(ctx.request.path, args, listing),
            "ops": DIRECTORY_OPS, "values": {},
            "has_children": {a["code"] for a in listing["items"] if a["has_children"]}}


def _agencies(ctx):
    ctx.allow("agencies")
    return ctx.render("admin_agencies.html", **_agencies_context(ctx))


def _agency(ctx, code):
    ctx.allow("agency_history")
    history = ctx.call(lambda: ctx.service.routing.agency_history(code))
    return ctx.render("admin_agency.html", code=code, history=history)


def _change_directory(ctx):
    ctx.allow("change_directory")
    form = ctx.form()
    try:
        change = directory_change(form)
        ctx.call(lambda: ctx.service.routing.change_directory(
            loaded(schemas.DirectoryChangesSchema, {"changes": [change]})["changes"]))
    except LienThongError as err:
        context = _agencies_context(ctx)
        context["values"] = {k: v for k, v in form.items() if k != "csrf"}
        return _refused(ctx, err, "admin_agencies.html", context)
    return _done(ctx, f"/web/admin/agencies/{quote(change['code'])}", "directory_changed")


# -- Thông điệp lỗi ---------------------------------------------------------------------

def _dead_letters(ctx):
    ctx.allow("dead_letters")
    service = ctx.request.args.get("service") or CONSUMERS[0]
    proxy = consumer(ctx.service, service)
    letters = ctx.call(proxy.dead_letters)
    return ctx.render("admin_dead_letters.html", service=service, services=CONSUMERS,
                      letters=letters)


def _replay(ctx, service, letter_id):
    ctx.allow("replay_dead_letter")
    proxy = consumer(ctx.service, service)
    try:
        number = int(letter_id)
    except ValueError:
        raise ValidationFailed("letter_id: an integer", field="letter_id") from None
    ctx.call(lambda: proxy.replay_dead_letter(number))
    return _done(ctx, "/web/admin/dead-letters?" + urlencode({"service": service}), "replayed")


ROUTES = {("users", "GET"): _users, ("users", "POST"): _create_user,
          ("certificates", "GET"): _certificates, ("certificates", "POST"): _enroll,
          ("agencies", "GET"): _agencies, ("dead-letters", "GET"): _dead_letters}
