"""Documents that come from outside the platform, as edXML packages from the
national document axis: what a package must carry to be taken in, and the
record routing delivers from it. Pure: no I/O.

An imported document is delivered like one issued here: a ``ConsignmentSent``
with the recipients resolved today, then one ``DocumentDelivered`` per
recipient. The consignment also carries the document itself (``document``),
because docs has never seen it: docs keeps it and registers each arrival from
that one event.
"""

import uuid
from datetime import datetime, time

from services.routing import domain, edxml
from shared.documents import DOCUMENT_TYPES
from shared.envelope import new_event
from shared.errors import Conflict, LienThongError, ValidationFailed
from shared.values import VIETNAM

ORIGIN = "edxml"
# Fixed: the same package (sender, edXML DocumentId) always gets the same id.
NAMESPACE = uuid.UUID("5b0c1f8e-6a53-4c2e-9d0e-6c1e0f1a2b3c")

HEADER = "edXMLHeader/MessageHeader"
BUSINESS = "edXMLHeader/TraceHeaderList/Bussiness"
BUSINESS_TYPE = f"{BUSINESS}/BussinessDocType"
REVOKE, UPDATE, REPLACE = 1, 2, 3
_NAMES = {name.casefold(): code for code, name in DOCUMENT_TYPES.items()}
# The SDKs write DocumentType/Type as an integer: the type's place in Decree 30's
# list (Art. 7, Appendix III), as their examples show (18 Công văn, 19 Công điện).
NUMBERS = {code: n for n, code in enumerate(DOCUMENT_TYPES, 1)}
_BY_NUMBER = {str(n): code for code, n in NUMBERS.items()}


def edxml_document_id(package):
    """The package's ``DocumentId``, or the one the standard builds from its header."""
    return package.document_id or edxml.document_id(
        package.from_agency.id, package.promulgation_date, package.code_number,
        package.code_notation)


def document_id_of(package):
    """Our id for the document a package carries: the same on every re-import."""
    return imported_id(package.from_agency.id, edxml_document_id(package))


def imported_id(sender, edxml_id):
    """Our id for the document ``sender`` sent as edXML ``DocumentId`` ``edxml_id``."""
    return str(uuid.uuid5(NAMESPACE, f"{sender}|{edxml_id}"))


def is_recall(package):
    """A revocation (1) or update (2) of a document imported before: no new
    document, a recall request (13) to every copy of that one."""
    return package.business is not None and package.business.doc_type in (REVOKE, UPDATE)


def recalled_documents(package):
    """The edXML ``DocumentId`` of every earlier document a revocation, update or
    replacement (1, 2, 3) names: ``Bussiness/DocumentId`` and, for a replacement,
    each ``ReplacementInfo/DocumentId``; in order, without repeats."""
    business = package.business
    if business is None or business.doc_type == 0:
        return []
    named = [business.document_id] if business.document_id else []
    if business.doc_type == REPLACE:
        named += [r.document_id for r in business.replacements]
    named = list(dict.fromkeys(named))
    if not named:
        what = edxml.BUSINESS_DOC_TYPES[business.doc_type]
        raise ValidationFailed(
            f"{BUSINESS}/DocumentId: a package of type {business.doc_type} ({what}) names the"
            " document it concerns (Bussiness/DocumentId or ReplacementInfo/DocumentId)",
            field=f"{BUSINESS}/DocumentId")
    if edxml_document_id(package) in named and business.doc_type == REPLACE:
        raise ValidationFailed(f"{BUSINESS}/DocumentId: a document cannot replace itself",
                               field=f"{BUSINESS}/DocumentId")
    return named


def not_applied(package):
    """What of a revocation/update/replacement's payload the platform records but
    does not carry out (said in the import's answer)."""
    business = package.business
    left = []
    if business is None:
        return left
    if business.document_info is not None:
        left.append(f"{BUSINESS}/BussinessDocumentInfo: the changed details and receivers"
                    " are not applied; the recipients are asked to agree (13) to the update")
    if any(r.organ_ids for r in business.replacements):
        left.append(f"{BUSINESS}/ReplacementInfoList/ReplacementInfo/OrganIdList: every copy"
                    " of the replaced document is asked, not only those listed")
    if business.doc_type in (REVOKE, UPDATE) and package.attachments:
        left.append("AttachmentEncoded: the files of a revocation or update are not stored")
    return left


def edxml_document_type(code):
    """The ``DocumentType`` the SDKs write for a Decree 30 code."""
    return edxml.DocumentType(type=str(NUMBERS[code]), name=DOCUMENT_TYPES[code])


def document_type_code(document_type):
    """The Decree 30 code (``QĐ``, ``CV``...) a package's ``DocumentType`` names:
    by its name first, else by a textual code (our older packages), else by the
    SDKs' integer ``Type`` (its place in Decree 30's list) when no name is given."""
    name = (document_type.name or "").strip()
    code = _NAMES.get(name.casefold())
    if code:
        return code
    for text in (document_type.type, document_type.detail):
        if text in DOCUMENT_TYPES:
            return text
    if not name and document_type.type.lstrip("0") in _BY_NUMBER:
        return _BY_NUMBER[document_type.type.lstrip("0")]
    raise ValidationFailed(
        f"{HEADER}/DocumentType: {document_type.type or document_type.name!r} is not a Decree"
        " 30 document type; give its code (QĐ, CV, ...) or its name (Quyết định, ...)",
        field=f"{HEADER}/DocumentType")


def check_importable(package, is_platform_agency):
    """Refuse what the platform cannot take in, naming the element.

    ``is_platform_agency(code)``: whether the directory knows ``code``. A
    sender on the platform exchanges directly, never through the axis: taking
    its package in would register its document twice.
    """
    business = package.business
    if business is not None and business.doc_type not in (0, REPLACE):
        raise ValidationFailed(
            f"{BUSINESS_TYPE}: {business.doc_type}"
            f" ({edxml.BUSINESS_DOC_TYPES[business.doc_type]}) is not a document to take in;"
            " it asks the recipients of an earlier one to agree (see is_recall)",
            field=BUSINESS_TYPE)
    sender = package.from_agency.id
    if is_platform_agency(sender):
        raise Conflict(f"{HEADER}/From/OrganId: {sender} is an agency of this platform; its"
                       " documents are sent directly, not imported", field=f"{HEADER}/From/OrganId")
    if not package.attachments:
        raise ValidationFailed("edXMLBody: the package carries no file; the document itself"
                               " comes first", field="edXMLBody")
    for n, attachment in enumerate(package.attachments, 1):
        if attachment.by_reference:
            path = f"{edxml.FILE}[{n}]"
            raise ValidationFailed(
                f"{path}: a file by reference ({attachment.uri}) cannot be fetched from"
                " outside the platform; inline it (AttachmentEncoded)", field=path)
    document_type_code(package.document_type)


def resolve_recipients(package, resolve, elsewhere=None):
    """The platform agencies the package's ``To`` list stands for today, sorted.

    ``resolve(code)`` returns the codes one ``To`` resolves to (a merged
    commune gives its successor) or raises; the error then names ``To[n]``.
    With a list ``elsewhere``, a ``To`` that is not on the platform does not
    refuse the package while another one is (the axis delivers to many
    agencies; we take in what is ours): it is appended there as
    ``{"code", "field", "reason"}``. None of them on the platform: the first
    one's error.
    """
    found, missed = set(), []
    for n, agency in enumerate(package.to_agencies, 1):
        try:
            found.update(resolve(agency.id))
        except LienThongError as err:
            path = f"{HEADER}/To[{n}]/OrganId"
            message = err.message.split(": ", 1)[-1] if err.message.startswith("code") \
                else err.message
            if elsewhere is None:
                raise type(err)(f"{path}: {message}", field=path) from None
            missed.append((type(err), {"code": agency.id, "field": path, "reason": message,
                                       "said": f"not an agency of this platform ({message})"}))
    if missed and not found:
        kind, first = missed[0]
        raise kind(f"{first['field']}: {first['reason']}", field=first["field"])
    if elsewhere is not None:
        elsewhere.extend({"code": e["code"], "field": e["field"], "reason": e["said"]}
                         for _, e in missed)
    return sorted(found)


def record(package, document_id, recipients, files, received_at):
    """The imported document, shaped as docs' ``DocumentIssued`` data so that
    everything downstream (deliveries, statuses, edXML status packages,
    deadlines) treats it as any issued document.

    ``files``: the stored objects of ``package.attachments``, in order; the
    first is the document itself.
    """
    signer = package.signer or edxml.Signer()
    number = package.code_number
    issued_at = datetime.combine(package.promulgation_date, time(0), VIETNAM)
    traces = [{"agency": t.organ_id, "at": t.timestamp.isoformat()} for t in package.traces]
    return {
        "document_id": document_id,
        "origin": ORIGIN,
        "edxml_document_id": edxml_document_id(package),
        "issuing_agency": package.from_agency.id,
        "issuing_agency_name": package.from_agency.name,
        "number": int(number) if number.isdigit() else None,
        "number_notation": f"{number}/{package.code_notation}",
        "year": package.promulgation_date.year,
        "issued_at": issued_at.isoformat(),
        "document_type": document_type_code(package.document_type),
        "subject": package.subject,
        "urgency": package.priority,
        "secrecy": 0,
        "steering_type": package.steering_type,
        "due_date": package.due_date.isoformat() if package.due_date else None,
        "signer": {"competence": signer.competence, "position": signer.position,
                   "full_name": signer.full_name},
        "page_count": package.page_amount,
        "appendices": list(package.appendixes),
        "addressed": [a.id for a in package.to_agencies],
        "recipients": list(recipients),
        "file": files[0],
        "attachments": list(files[1:]),
        "traces": traces,
        "received_at": received_at.isoformat(),
        # A replacement (3): the imported documents it replaces (asked to agree, 13).
        "replaces": [imported_id(package.from_agency.id, named)
                     for named in recalled_documents(package)],
    }


def received_events(document, actor, now):
    """``ExternalDocumentReceived``, then its delivery to every recipient."""
    stream = domain.stream_of(document["document_id"])
    received = new_event("ExternalDocumentReceived", document, actor=actor,
                         producer=domain.SERVICE, stream_id=stream)
    return [received, *domain.consignment_events(
        document, domain.initial_consignment(document["document_id"]),
        {"agencies": document["addressed"]}, document["recipients"], set(), actor, now,
        causation=received)]


def answer(document, repeated):
    """What ``import_edxml`` returns: the same for the first import and a repeat."""
    return {"document_id": document["document_id"], "edxml_document_id":
            document["edxml_document_id"], "from": document["issuing_agency"],
            "number_notation": document["number_notation"], "subject": document["subject"],
            "recipients": document["recipients"], "replaces": document.get("replaces", []),
            "repeated": repeated}
