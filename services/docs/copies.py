"""Copies of a document (Decree 30/2020 Art. 25-28, Appendix I part II): pure rules.

An agency copies a document it holds: one it issued (issued, sent or
undeliverable: in force), or one it received and accepted into its incoming
register. Only its clerk (văn thư) copies. Three forms (``shared.documents.
COPY_FORMS``): sao y (SY, the whole document), sao lục (SL, made from a sao y
copy the agency holds) and trích sao (TrS, chosen pages).

Numbering: each form has its own series per copying agency and calendar year
(Vietnam time), from 01: ``01/SY-UBND``, ``01/TrS-UBND``. The form is in the
notation, so one shared series would print ``01/SY``, ``02/TrS``, ``03/SY``:
numbers that skip within what the register shows for each form. The number
is taken in the transaction that records the copy (``commands.copy``):
no gap, no duplicate.

Imports no framework, driver or SDK.
"""

import uuid

from services.docs import domain, registers
from shared.documents import COPY_FORMS
from shared.envelope import Actor, new_event
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed

# The states in which an issuing agency's document is in force, and so copied.
COPYABLE = (domain.ISSUED, domain.SENT, domain.UNDELIVERABLE, domain.EXTERNAL)
REQUEST_FIELDS = frozenset({"form", "pages", "source_copy", "agency_abbreviation"})


def stream_of(copy_id):
    return f"copy-{copy_id}"


def series_of(form):
    """The numbering series of a form (``number_series``' ``series``)."""
    return f"copy-{form}"


def notation(number, form, agency_abbreviation):
    """``01/SY-UBND``: the copy's number (two digits at least), form and agency."""
    return f"{domain.format_number(number)}/{form}-{agency_abbreviation}"


def check_request(body):
    """The request's shape, before anything is read: {form, pages, source_copy,
    agency_abbreviation}, or ValidationFailed naming the field."""
    if not isinstance(body, dict):
        raise ValidationFailed("body: a JSON object such as {\"form\": \"SY\"}", field="body")
    unknown = sorted(set(body) - REQUEST_FIELDS)
    if unknown:
        raise ValidationFailed(f"{unknown[0]}: unknown field", field=unknown[0])
    form = body.get("form")
    if form not in COPY_FORMS:
        raise ValidationFailed(f"form: {form!r} is not a copy form; one of SY (sao y),"
                               " SL (sao lục), TrS (trích sao)", field="form")
    pages = body.get("pages")
    if form == "TrS":
        if not isinstance(pages, list) or not pages:
            raise ValidationFailed("pages: a trích sao (TrS) names the pages it copies,"
                                   " such as [1, 3]", field="pages")
        if any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in pages):
            raise ValidationFailed("pages: page numbers are whole numbers from 1",
                                   field="pages")
        if len(set(pages)) != len(pages):
            raise ValidationFailed("pages: a page is named twice", field="pages")
        pages = sorted(pages)
    elif pages is not None:
        raise ValidationFailed(f"pages: only a trích sao (TrS) takes pages, not {form}",
                               field="pages")
    source_copy = body.get("source_copy")
    if form == "SL":
        if source_copy is None:
            raise ValidationFailed("source_copy: a sao lục (SL) is made from a sao y"
                                   " copy: its id", field="source_copy")
        try:
            source_copy = str(uuid.UUID(str(source_copy)))
        except ValueError:
            raise ValidationFailed("source_copy: not a copy id", field="source_copy") from None
    elif source_copy is not None:
        raise ValidationFailed(f"source_copy: only a sao lục (SL) is made from a copy,"
                               f" not {form}", field="source_copy")
    abbreviation = body.get("agency_abbreviation")
    if abbreviation is not None and (not isinstance(abbreviation, str)
                                     or not abbreviation.strip() or len(abbreviation) > 20):
        raise ValidationFailed("agency_abbreviation: the copying agency's abbreviation,"
                               " such as UBND", field="agency_abbreviation")
    return {"form": form, "pages": pages, "source_copy": source_copy,
            "agency_abbreviation": abbreviation.strip() if abbreviation else None}


def check_holder(document, actor: Actor, incoming_state=None):
    """Only a clerk of an agency that holds the document copies it: the issuing
    agency once it is issued and in force, or a recipient that accepted it."""
    if actor.role != "clerk":
        raise Forbidden("role: only a clerk (văn thư) makes copies", field="role")
    if actor.agency == document["issuing_agency"]:
        if document["state"] not in COPYABLE:
            raise Conflict(f"state: the document is {document['state']}; a copy is made of"
                           " an issued document in force", field="state")
        return
    if incoming_state is None:
        raise Forbidden("agency: your agency neither issued nor received this document",
                        field="agency")
    if incoming_state != domain.ACCEPTED or document["state"] in domain.FROZEN:
        raise Conflict(f"state: your agency's copy is {incoming_state}; a received"
                       " document is copied once accepted into the register, while in"
                       " force", field="state")


def abbreviation_of(document, actor: Actor, request):
    """The copying agency's abbreviation in the notation: as asked, else the
    document's own for its issuing agency; a recipient must say its own."""
    if request["agency_abbreviation"]:
        return request["agency_abbreviation"]
    if actor.agency == document["issuing_agency"] and document.get("agency_abbreviation"):
        return document["agency_abbreviation"]
    raise ValidationFailed("agency_abbreviation: required for a document another agency"
                           " issued (your agency's abbreviation, such as UBND)",
                           field="agency_abbreviation")


def source_of(document, request, source_copy, actor: Actor):
    """The file copied: the document's for SY and TrS, the sao y copy's for SL
    (one of this document, made by the caller's agency)."""
    if request["form"] != "SL":
        return document["file"], None
    if source_copy is None or source_copy["document_id"] != document["document_id"] \
            or source_copy["agency"] != actor.agency:
        raise NotFound(f"source_copy: {request['source_copy']} is not a copy of this"
                       " document your agency holds", field="source_copy")
    if source_copy["form"] != "SY":
        raise ValidationFailed(f"source_copy: a sao lục is made from a sao y (SY), not"
                               f" from {source_copy['number_notation']}",
                               field="source_copy")
    return source_copy["file"], source_copy["copy_id"]


def document_copied(copy_id, document, request, number, year, notation_, file,
                    source_copy_id, copied_at, actor: Actor):
    """``DocumentCopied``: a copy made and registered, in its own stream."""
    return new_event("DocumentCopied", {
        "copy_id": copy_id, "document_id": document["document_id"],
        "agency": actor.agency, "form": request["form"], "number": number, "year": year,
        "number_notation": notation_, "pages": request["pages"],
        "source_copy_id": source_copy_id, "file": file,
        "copied_at": domain.vietnam_time(copied_at).isoformat(),
        "document_number_notation": document["number_notation"],
        "issuing_agency": document["issuing_agency"], "copied_by": actor.user_id},
        actor=actor, producer=domain.SERVICE, stream_id=stream_of(copy_id))


def register_row(copy, document, name_of=lambda code, on: code):
    """One copy, as a line of the agency's copy register."""
    copied = domain.vietnam_time(copy["copied_at"]).date()
    issued = domain.vietnam_time(document["issued_at"]).date() \
        if document.get("issued_at") else None
    pages = ", ".join(map(str, copy["pages"])) if copy.get("pages") else "Toàn văn"
    return {
        "number_notation": copy["number_notation"],
        "copy_date": copied,
        "form": COPY_FORMS[copy["form"]].capitalize(),
        "source": f"{document['number_notation']} ({issued:%d/%m/%Y})"
                  f" của {name_of(document['issuing_agency'], issued)}" if issued
                  else document["number_notation"],
        "type_and_subject": registers.type_and_subject(document),
        "pages": pages,
        "copied_by": copy["copied_by"],
    }
