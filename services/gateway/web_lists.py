"""The web application's lists: Chờ ký, Văn bản đi, Văn bản đến, a page at a
time with search (trích yếu, số ký hiệu, a date range). docs' SQL pages and
filters (``services/docs/queries.py``); here the query string is passed on and
the pager's links are made."""

import json
import logging
from math import ceil
from urllib.parse import urlencode

from shared.edge.outages import unavailable
from shared.errors import LienThongError, ValidationFailed

log = logging.getLogger(__name__)

SEARCH_FIELDS = ("q", "start", "end", "page", "size")
OUTGOING_STATES = ("draft", "submitted", "returned", "signed", "sealed", "issued", "sent",
                   "undeliverable", "recalled", "replaced")
HOME_SIZE = 10  # Việc cần làm: the first few of each group, and how many in all


def search_of(args):
    """The search a query string asks for (docs checks each value)."""
    return {name: args[name] for name in SEARCH_FIELDS if args.get(name)}


def page_links(path, args, listing):
    """Where "Trang trước" and "Trang sau" lead (None at either end), the number
    of pages, and the rows shown (``first``..``last`` of ``total``)."""
    page, size, total = listing["page"], listing["size"], listing["total"]
    pages = max(1, ceil(total / size))
    kept = [(k, v) for k in args for v in args.getlist(k) if k not in ("page", "ok")]

    def link(number):
        return f"{path}?{urlencode(kept + [('page', number)])}"
    first = (page - 1) * size + 1 if listing["items"] else 0
    return {"previous": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < pages else None,
            "page": page, "pages": pages, "total": total, "first": first,
            "last": first + len(listing["items"]) - 1 if listing["items"] else 0}


# page -> (the API endpoint whose roles apply, title, how docs lists it)
LISTS = {
    "queue": ("sign", "queue",
              lambda docs, args, search: docs.awaiting_signature(search)),
    "outgoing": ("get_document", "outgoing",
                 lambda docs, args, search: docs.outgoing_documents(
                     [s for s in args.getlist("state") if s] or None, search)),
    "inbox": ("inbox", "incoming",
              lambda docs, args, search: docs.arrivals(
                  [s for s in args.getlist("state") if s] or None, search)),
}


def list_page(ctx, kind):
    endpoint, title, call = LISTS[kind]
    ctx.allow(endpoint)
    args = ctx.request.args
    search = search_of(args)
    context = {"title": ctx.t(title), "kind": kind, "states": args.getlist("state"),
               "search": search, "state_choices": OUTGOING_STATES}
    try:
        listing = ctx.call(lambda: call(ctx.service.docs, args, search))
    except ValidationFailed as err:  # a bad search: said on the list's own page
        return ctx.error(err, template="list.html", documents=[], links=None, **context)
    overdue = overdue_of(ctx) if kind == "inbox" else \
        issue_overdue_of(ctx) if kind == "outgoing" and ctx.actor.role in OVERDUE_READERS \
        else {}
    return ctx.render("list.html", documents=listing["items"], overdue=overdue,
                      links=page_links(ctx.request.path, args, listing), **context)


def overdue_of(ctx):
    """routing's overdue findings for the caller's agency (its deadline rules),
    the earliest per document; None when routing could not say."""
    try:
        findings = ctx.service.routing.overdue()
    except Exception as err:
        if not isinstance(unavailable(err) or err, LienThongError):
            raise
        log.warning("overdue findings unavailable for the inbox: %s", err)
        return None
    earliest = {}
    for finding in findings:
        earliest.setdefault(finding["document_id"], finding)
    return earliest


# Who may ask docs which outgoing documents are past their issue deadline.
OVERDUE_READERS = ("clerk", "leader", "auditor")


def issue_overdue_of(ctx):
    """docs' documents signed and not issued by their issue deadline (Decree 30
    Art. 18(1)), as the table marks them; None when docs could not say."""
    try:
        late = ctx.service.docs.overdue_outgoing()
    except Exception as err:
        if not isinstance(unavailable(err) or err, LienThongError):
            raise
        log.warning("issue deadlines unavailable for the outgoing list: %s", err)
        return None
    return {t["document_id"]: {"document_id": t["document_id"], "kind": "issue",
                               "deadline": t["issue_by"]} for t in late}


def home_groups(ctx):
    """Việc cần làm: ``(title key, a page of documents, total, the full list's
    link)`` per group of the user's role, each counted by docs' SQL."""
    docs, role, first = ctx.service.docs, ctx.actor.role, {"size": HOME_SIZE}
    wanted = []
    if role == "leader":
        wanted.append(("todo_sign", "/web/queue", lambda: docs.awaiting_signature(first)))
    if role == "clerk":
        for key, states in (("todo_drafts", ["draft", "returned"]), ("todo_seal", ["signed"]),
                            ("todo_issue", ["sealed"])):
            wanted.append((key, "/web/outgoing?" + urlencode([("state", s) for s in states]),
                           lambda states=states: docs.outgoing_documents(states, first)))
        wanted.append(("todo_arrivals", "/web/inbox?state=arrived",
                       lambda: docs.arrivals(["arrived"], first)))
    groups = []
    for key, link, call in wanted:
        listing = ctx.call(call)
        groups.append((key, listing["items"], listing["total"], link))
    return groups


# -- the registers (sổ đăng ký văn bản đi / đến, sổ theo dõi giải quyết) -------------

REGISTERS = ("outgoing", "incoming", "follow_up")
REGISTER_FILTERS = ("year", "start", "end")


def register_filters(args, today):
    """The year and days a register is asked for; this year's when none is."""
    filters = {name: args[name] for name in REGISTER_FILTERS if args.get(name)}
    return filters or {"year": str(today.year)}


def register_page(ctx, kind, today):
    """A register on screen, a page at a time, as docs prints it (Appendix IV)."""
    ctx.allow("registers")
    args = ctx.request.args
    filters = register_filters(args, today)
    context = {"kind": kind, "kinds": REGISTERS, "filters": filters,
               "exports": {fmt: f"/web/registers/{kind}/{fmt}?{urlencode(filters)}"
                           for fmt in ("csv", "pdf")}}
    try:
        view = ctx.call(lambda: ctx.service.docs.register_view(
            kind, filters.get("year"), filters.get("start"), filters.get("end"),
            {k: args[k] for k in ("page", "size") if args.get(k)}))
    except ValidationFailed as err:
        return ctx.error(err, template="register.html", view=None, links=None, **context)
    return ctx.render("register.html", view=view, **context,
                      links=page_links(ctx.request.path, args, view))


def register_export(ctx, kind, fmt, today):
    """The register as CSV (UTF-8 with a BOM) or PDF: docs' answer streamed through."""
    ctx.allow("registers")
    filters = register_filters(ctx.request.args, today)
    answer = ctx.service._through_docs(ctx.request, "register_http", "GET",
                                       f"/v1/registers/{kind}",
                                       params={**filters, "format": fmt})
    if answer.status_code != 200:
        raise docs_refusal(answer)
    return ctx.finish(answer)


def docs_refusal(answer):
    """docs' JSON error answer (to an HTTP call streamed through) as an error."""
    try:
        error = json.loads(answer.get_data() or b"{}").get("error", {})
    except ValueError:
        error = {}
    err = LienThongError(error.get("message", f"docs answered {answer.status_code}"),
                         error.get("field"))
    err.code, err.http_status = error.get("code", "error"), answer.status_code
    return err
