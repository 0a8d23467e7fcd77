"""The inspector's (thanh tra) screens: the log's status and its witnesses,
a full verification, the log replayed and reconciled with what docs,
signing and routing hold, one document's history from the log and its state at a
chosen moment (the audit service's replay), and its evidence bundle with the
command that checks it offline. Read-only: every page is a GET, and each is
the audit service's own RPC, which checks the auditor role again."""

import json
from datetime import datetime

from werkzeug.wrappers import Response

from services.gateway.web_text import TEXT
from shared.errors import NotFound, ValidationFailed
from shared.values import VIETNAM, checked_uuid

VERIFY_COMMAND = "python -m services.audit.verify_bundle {file} --log-key '{key}'"
# What the log says of a document, in the order the page lists it.
STATE_FIELDS = ("number_notation", "subject", "issuing_agency", "registered_at",
                "registered_by", "submitted", "signed_at", "signed_by", "sealed",
                "delivered_to", "delivery_refused", "sha256", "last_event_at")


def moment_of(text):
    """A moment typed in a datetime-local field (Vietnam time) as ISO 8601 with
    its offset, or None when none is given."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("at: a date and time (yyyy-mm-ddThh:mm)", field="at") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VIETNAM)
    return moment.isoformat()


def signers_of(note):
    """The names that signed a checkpoint note: the log first, then witnesses."""
    block = note[note.rfind("\n\n") + 2:] if "\n\n" in note else ""
    return [line[2:].split(" ", 1)[0] for line in block.splitlines()
            if line.startswith("\u2014 ")]


def handle(ctx, parts):
    """``/web/audit[/verify | /reconcile | /documents/ID[/evidence]]`` (GET only)."""
    if parts == []:
        return _status(ctx)
    if parts == ["reconcile"]:
        return _reconcile(ctx)
    if parts == ["verify"]:
        ctx.allow("audit_verify")
        return ctx.render("audit_verify.html", report=ctx.call(ctx.service.audit.verify))
    if parts == ["documents"]:  # the status page's "open a document" form
        ctx.allow("audit_history")
        document_id = checked_uuid(ctx.request.args.get("document_id", "").strip())
        return ctx.finish(Response("", status=303, headers={
            "Location": f"/web/audit/documents/{document_id}"}))
    if len(parts) in (2, 3) and parts[0] == "documents":
        document_id = checked_uuid(parts[1])
        if len(parts) == 2:
            return _document(ctx, document_id)
        if parts[2] == "evidence":
            return _evidence(ctx, document_id)
    raise NotFound(f"page: no page /web/audit/{'/'.join(parts)}", field="page")


def _status(ctx):
    ctx.allow("audit_status")
    audit = ctx.service.audit
    status = ctx.call(audit.status)
    try:
        checkpoint = ctx.call(audit.checkpoint)
    except NotFound:  # nothing signed yet
        checkpoint = None
    signers = signers_of(checkpoint["note"]) if checkpoint else []
    return ctx.render("audit.html", log_status=status, checkpoint=checkpoint,
                      log_signer=signers[0] if signers else None, witnesses=signers[1:])


def _reconcile(ctx):
    ctx.allow("audit_reconcile")
    found = ctx.call(ctx.service.audit.reconcile)
    return ctx.render("audit_reconcile.html", documents=found["documents"],
                      differences=[difference_row(d, ctx.lang) for d in found["differences"]])


def difference_row(difference, lang):
    """One difference in words: its service and field named, a document's
    presence said (``present``/``absent``), lists joined; a name the words do
    not know is shown as audit gives it."""
    table = TEXT[lang]

    def word(prefix, name):
        return table.get(f"{prefix}_{name}", name)

    def value(v):
        if isinstance(v, list):
            return ", ".join(str(x) for x in v) or "—"
        if isinstance(v, bool):
            return table["yes"] if v else table["no"]
        if v in ("present", "absent") and difference["field"] == "document":
            return word("value", v)
        return "—" if v is None else str(v)
    return {"document_id": difference["document_id"],
            "service": word("service", difference["service"]),
            "field": word("rfield", difference["field"]),
            "log_value": value(difference["log_value"]),
            "service_value": value(difference["service_value"])}


def _document(ctx, document_id):
    ctx.allow("audit_history")
    at = ctx.request.args.get("at", "")
    moment = moment_of(at)
    found = ctx.call(lambda: ctx.service.audit.document_state(document_id, moment))
    status = ctx.call(ctx.service.audit.status)
    state = found["state"] or {}
    return ctx.render("audit_document.html", document_id=document_id, at=at, moment=moment,
                      state=[(name, state.get(name)) for name in STATE_FIELDS if state],
                      history=found["history"], command=VERIFY_COMMAND.format(
                          file=f"evidence-{document_id}.json", key=status["verifier_key"]))


def _evidence(ctx, document_id):
    ctx.allow("audit_evidence")
    bundle = ctx.call(lambda: ctx.service.audit.evidence_bundle(document_id))
    response = Response(json.dumps(bundle, ensure_ascii=False, indent=1),
                        content_type="application/json; charset=utf-8")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="evidence-{document_id}.json"')
    return ctx.finish(response)
