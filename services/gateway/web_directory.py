"""Chọn nơi nhận: the directory as the compose form's recipient picker.

Without JavaScript it is a page of its own, ``/web/directory``, whose every
form is a GET carrying its whole state in the query string: the recipients
chosen so far (``recipients``), the compose form's other fields as typed
(``DRAFT_FIELDS``, so nothing typed is lost on the way), the search (``q``)
and the branch shown (``parent``). Its buttons add the agencies ticked
(``add``), an agency with every agency under it (``subtree``: a province and
its communes, as routing's ``resolve_addressing`` expands it today) or a saved
group (``group``), or take one out (``remove``); "Xong" goes back to
``/web/new`` with the state, which the compose form shows. The compose form
enters the picker by POST (its anti-forgery token stays out of URLs).

With JavaScript (``static/picker.js``), the compose form searches the same
listing as JSON (``/web/directory/json``) and fills the field in place.

Saved groups (nhóm nơi nhận) are the caller's agency's (``recipients.py``).
Every read goes through routing's ``browse_agencies``, a page at a time.
"""

from urllib.parse import parse_qsl, urlencode

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from services.gateway import recipients, web_lists
from shared.edge.http import json_response
from shared.errors import LienThongError, NotFound, ValidationFailed

PAGE = 20
# The compose form's fields the picker carries back (never the token, never files).
DRAFT_FIELDS = ("subject", "document_type", "urgency", "secrecy", "due_date",
                "agency_abbreviation", "drafting_unit_abbreviation", "competence",
                "on_behalf_of", "deputy_for", "position", "full_name", "page_count")
ACTIONS = ("add", "remove", "subtree", "group")
# The server reads request lines up to 8 KiB (eventlet's limit): the state's
# query string is kept under this, which leaves room for the ticked boxes and
# a page number (about 450 agencies with a short draft; more: with JavaScript,
# which fills the field itself, or with the API).
QUERY_LIMIT = 7000


# -- pure helpers (unit-tested) ---------------------------------------------------------

def state_of(args):
    """The picker's state from a query string or a form: ``{draft, recipients, q, parent}``."""
    draft = {k: args.get(k, "") for k in DRAFT_FIELDS if args.get(k)}
    return {"draft": draft, "recipients": recipients.codes_of(args.getlist("recipients")),
            "q": args.get("q", "").strip(), "parent": args.get("parent", "").strip()}


def query(state, **more):
    """The query string of ``state`` (and ``more``), as the picker's links carry it."""
    pairs = list(state["draft"].items())
    if state["recipients"]:
        pairs.append(("recipients", " ".join(state["recipients"])))
    for key in ("q", "parent"):
        if state[key]:
            pairs.append((key, state[key]))
    pairs += [(k, v) for k, v in more.items() if v not in (None, "")]
    return urlencode(pairs)


def carried(state, **more):
    """``query(state, **more)``, or ValidationFailed naming ``recipients`` when it
    would be too long for a URL."""
    text = query(state, **more)
    if len(text) > QUERY_LIMIT:
        raise ValidationFailed(
            f"recipients: {len(state['recipients'])} agencies are too many for the picker"
            " without JavaScript; choose fewer, or use the search on the compose form with"
            " JavaScript on", field="recipients")
    return text


def compose_values(args):
    """What ``/web/new`` shows when the picker sends the clerk back: the
    draft's fields and the recipients (with any ticked as the clerk left)."""
    state = state_of(args)
    codes = recipients.chosen(state["recipients"], args.getlist("add"))
    return {**state["draft"], "recipients": "\n".join(codes)} if (
        state["draft"] or codes) else {}


# -- pages ------------------------------------------------------------------------------

def handle(ctx, parts):
    """``/web/directory[/...]``."""
    method = ctx.request.method
    ctx.allow("register")  # the compose form's picker: who may compose
    if not parts and method == "POST":  # from the compose form: its fields, then GETs
        return _back(ctx, state_of(MultiDict(ctx.form())))
    if not parts and method == "GET":
        return _page(ctx)
    if parts == ["json"] and method == "GET":
        return _json(ctx)
    if parts == ["groups"] and method == "POST":
        return _save_group(ctx)
    if len(parts) == 3 and parts[0] == "groups" and parts[2] == "delete" and method == "POST":
        return _delete_group(ctx, parts[1])
    raise NotFound(f"page: no page /web/directory/{'/'.join(parts)}", field="page")


def _back(ctx, state, ok=None):
    return ctx.finish(Response("", status=303, headers={
        "Location": "/web/directory?" + carried(state, ok=ok)}))


def _page(ctx):
    """A page of the directory with the selection; an action (add, remove,
    subtree, group) is applied, then the clean state is shown (a redirect)."""
    args = ctx.request.args
    state = state_of(args)
    if any(args.getlist(a) for a in ACTIONS):
        state["recipients"] = _applied(ctx, state["recipients"], args)
        return _back(ctx, state)
    return ctx.render("directory.html", **_context(ctx, state))


def _applied(ctx, current, args):
    added = list(args.getlist("add"))
    if args.get("subtree"):
        added += ctx.call(lambda: recipients.subtree(ctx.service, ctx.actor, args["subtree"]))
    if args.get("group"):
        added += ctx.call(lambda: recipients.group(ctx.service, ctx.actor,
                                                    args["group"]))["recipients"]
    codes = recipients.chosen(current, added, args.getlist("remove"))
    if len(codes) > recipients.MAX_RECIPIENTS:
        raise ValidationFailed(f"recipients: at most {recipients.MAX_RECIPIENTS} agencies",
                               field="recipients")
    return codes


def _context(ctx, state, values=None):
    args = ctx.request.args
    listing = ctx.call(lambda: ctx.service.routing.browse_agencies(
        state["parent"] or None, state["q"], args.get("page") or 1, PAGE))
    groups = recipients.listed(ctx.service, ctx.actor)
    return {"state": state, "agencies": listing["items"], "names": listing["names"],
            "links": web_lists.page_links("/web/directory",
                                          MultiDict(parse_qsl(query(state))), listing),
            "link": lambda parent="": "/web/directory?" + query(
                {**state, "q": "", "parent": parent}),
            "known": {**listing["names"], **{a["code"]: a["name"] for a in listing["items"]}},
            "groups": groups, "values": values or {}}


def _json(ctx):
    """For ``picker.js``: a page of the listing, a subtree's codes or a group's."""
    args = ctx.request.args
    if args.get("subtree"):
        return ctx.finish(json_response({"recipients": ctx.call(
            lambda: recipients.subtree(ctx.service, ctx.actor, args["subtree"]))}))
    if args.get("group"):
        return ctx.finish(json_response(ctx.call(
            lambda: recipients.group(ctx.service, ctx.actor, args["group"]))))
    listing = ctx.call(lambda: ctx.service.routing.browse_agencies(
        args.get("parent") or None, args.get("q", ""), args.get("page") or 1, PAGE))
    return ctx.finish(json_response({**listing, "groups": [
        {"name": g["name"], "recipients": g["recipients"]}
        for g in recipients.listed(ctx.service, ctx.actor)]}))


def _save_group(ctx):
    form = MultiDict(ctx.form())
    state = state_of(form)
    try:
        recipients.save(ctx.service, ctx.actor, form.get("name", ""), state["recipients"])
    except LienThongError as err:
        if not isinstance(err, (ValidationFailed, NotFound)):
            raise
        return ctx.error(err, template="directory.html",
                         **_context(ctx, state, {"name": form.get("name", "")}))
    return _back(ctx, state, ok="group_saved")


def _delete_group(ctx, group_id):
    state = state_of(MultiDict(ctx.form()))
    ctx.call(lambda: recipients.delete(ctx.service, ctx.actor, group_id))
    return _back(ctx, state, ok="group_deleted")
