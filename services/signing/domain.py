"""The signing service's pure core: who may approve, return, sign and seal what.

A document reaches signing when the docs service submits it for approval,
naming the leader who signs. Only that leader, of the issuing agency, signs it
or returns it with a comment; once signed, only a clerk of the issuing agency
applies the agency's signature (the seal), never before the leader's.
"""

from datetime import datetime

from shared.envelope import new_event, system_actor
from shared.errors import Conflict, Forbidden, ValidationFailed
from shared.values import VIETNAM

SERVICE = "signing"
SUBMITTED, RETURNED, SIGNED, SEALED = "submitted", "returned", "signed", "sealed"


def stream_of(document_id):
    return f"signature-{document_id}"


def check_leader(document, actor):
    """The named leader of the issuing agency, on a document awaiting approval."""
    if actor.role != "leader":
        raise Forbidden("role: only a leader (lãnh đạo) approves and signs", field="role")
    if actor.agency != document["issuing_agency"]:
        raise Forbidden("agency: a leader signs only documents of their own agency",
                        field="agency")
    if document["state"] == SIGNED or document["state"] == SEALED:
        raise Conflict(f"document_id: document {document['document_id']} is already signed",
                       field="document_id")
    if document["state"] != SUBMITTED:
        raise Conflict(f"state: document {document['document_id']} is not awaiting approval"
                       f" (it is {document['state']})", field="state")
    if actor.user_id != document["signer_user"]:
        raise Forbidden(f"signer_user: the document names {document['signer_user']} as its"
                        " signer", field="signer_user")


def check_may_seal(document, actor):
    if actor.role != "clerk" or actor.agency != document["issuing_agency"]:
        raise Forbidden("role: only a clerk (văn thư) of the issuing agency applies its"
                        " signature", field="role")
    if document["state"] == SEALED:
        raise Conflict(f"document_id: document {document['document_id']} is already sealed",
                       field="document_id")
    if document["state"] != SIGNED:
        raise Conflict("state: the agency signature goes only on a document its leader has"
                       f" signed (this one is {document['state']})", field="state")


def check_numbered(document):
    """The seal goes on a document that carries its number and date (Decree 30
    Art. 14: number and date, registration, then the agency's signature): until
    docs' ``DocumentNumbered`` has reached signing, a retryable refusal."""
    if not document.get("numbering"):
        raise Conflict(f"number: chưa cấp số — document {document['document_id']} has no"
                       " number and date yet (the register gives them once docs learns of"
                       " the leader's signature; Decree 30 Art. 14: number and date before"
                       " the agency's signature); try again shortly", field="number")


def expected_number(document, own):
    """What verification expects on the page (``verification``'s ``number``
    check): the number, date and place docs' register gave (``document``: as
    docs hands it out), when ``own`` (signing's row) says the seal wrote them;
    nothing for a document sealed before the number came first."""
    if not (own and own.get("numbering") and document.get("number_notation")):
        return {}
    issued = datetime.fromisoformat(document["issued_at"]).astimezone(VIETNAM)
    return {"number_notation": document["number_notation"], "issued_on": issued.date(),
            "place": own["numbering"]["place"]}


def document_signed(document, signed_file, certificate, actor):
    """The leader's PAdES signature: ``signed_file`` is the signed PDF as stored."""
    return new_event(
        "DocumentSigned",
        {
            "document_id": document["document_id"],
            "round": document["round"],
            "sha256": document["sha256"],  # the file the leader approved
            "signed_file": signed_file,
            "signer": document["signer"],
            "algorithm": "PAdES-B-T",
            "certificate": certificate,
            "key_id": certificate["sha256"][:16],
        },
        actor=actor, producer=SERVICE, stream_id=stream_of(document["document_id"]),
    )


def document_returned(document, comment, actor):
    comment = (comment or "").strip() if isinstance(comment, str) else comment
    if not isinstance(comment, str) or not comment:
        raise ValidationFailed("comment: say what to revise when returning a draft",
                               field="comment")
    if len(comment) > 2000:
        raise ValidationFailed("comment: at most 2000 characters", field="comment")
    return new_event("DocumentReturned", {
        "document_id": document["document_id"], "round": document["round"],
        "comment": comment}, actor=actor, producer=SERVICE,
        stream_id=stream_of(document["document_id"]))


def document_sealed(document, sealed_file, certificate, actor):
    """The agency's signature over the leader-signed PDF."""
    return new_event("DocumentSealed", {
        "document_id": document["document_id"], "agency": document["issuing_agency"],
        "signed_sha256": document["signed_file"]["sha256"], "sealed_file": sealed_file,
        # the number and date written on the page under this signature
        **({"number_notation": document["numbering"]["number_notation"]}
           if document.get("numbering") else {}),
        "algorithm": "PAdES-B-T", "certificate": certificate,
        "key_id": certificate["sha256"][:16]}, actor=actor, producer=SERVICE,
        stream_id=stream_of(document["document_id"]))


def manifest_of(document, number_notation, attachments):
    """What the agency's detached signature covers: the document, its number and
    every final file's hash (the sealed PDF and each appendix as sent)."""
    sealed = document["sealed_file"]
    files = [{"name": "main.pdf", "sha256": sealed["sha256"], "size": sealed["size"]}]
    files += [{"name": a["name"], "sha256": a["sha256"], "size": a["size"]}
              for a in attachments]
    return {"version": 1, "files": files, "metadata": {
        "document_id": document["document_id"], "issuing_agency": document["issuing_agency"],
        "number_notation": number_notation, "signer": document["signer"],
        "approved_sha256": document["sha256"]}}


def document_finalized(document, number_notation, attachments, manifest, manifest_signature,
                       certificate, cause):
    """Once issued: appendices sealed with the number, and the manifest signed.

    Recorded by the service on the issuing clerk's behalf (the issue caused it).
    """
    return new_event("DocumentFinalized", {
        "document_id": document["document_id"], "agency": document["issuing_agency"],
        "number_notation": number_notation, "sealed_file": document["sealed_file"],
        "attachments": attachments, "manifest": manifest,
        "manifest_signature": manifest_signature, "certificate": certificate,
        "key_id": certificate["sha256"][:16]}, actor=system_actor(SERVICE), producer=SERVICE,
        stream_id=stream_of(document["document_id"]), causation=cause)


def summary_row(document_id, row, signatures):
    """One line of ``state_summary`` (the audit's reconciliation): ``row`` as the
    store's ``summary`` gives it (None: a signature of a document not kept),
    ``signatures`` the store's ``{document id: the leader's key id}``. ``sha256`` is the last file this service made
    (sealed, else signed), else the one submitted."""
    latest = row and (row["sealed_file"] or row["signed_file"])
    return {"document_id": document_id,
            "issuing_agency": row["issuing_agency"] if row else None,
            "sha256": latest["sha256"] if latest else (row["sha256"] if row else None),
            "signed": document_id in signatures,
            "sealed": bool(row and row["state"] == SEALED),
            "key_id": signatures.get(document_id)}
