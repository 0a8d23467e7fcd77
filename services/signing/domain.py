"""The signing service's pure core: who may approve, return, sign and seal what.

A document reaches signing when the docs service submits it for approval,
naming the leader who signs. Only that leader, of the issuing agency, signs it
or returns it with a comment; once signed, only a clerk of the issuing agency
applies the agency's signature (the seal), never before the leader's.
"""

from shared.envelope import canonical_json, new_event
from shared.errors import Conflict, Forbidden, ValidationFailed

SERVICE = "signing"
SUBMITTED, RETURNED, SIGNED, SEALED = "submitted", "returned", "signed", "sealed"


def stream_of(document_id):
    return f"signature-{document_id}"


def signed_message(document_id, sha256):
    """The bytes a leader signs: the document's id and its file's SHA-256."""
    return canonical_json({"document_id": document_id, "sha256": sha256})


def seal_message(document_id, sha256, leader_signature):
    """The bytes the agency signs: the document, its file and the leader's signature."""
    return canonical_json({"document_id": document_id, "sha256": sha256,
                           "leader_signature": leader_signature, "purpose": "seal"})


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


def document_signed(document, signer, signature_b64, actor):
    return new_event(
        "DocumentSigned",
        {
            "document_id": document["document_id"],
            "round": document["round"],
            "sha256": document["sha256"],
            "signer": document["signer"],
            "algorithm": signer.algorithm,
            "key_id": signer.key_id,
            "public_key": signer.public_key_b64,
            "signature": signature_b64,
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


def document_sealed(document, agency_signer, signature_b64, actor):
    return new_event("DocumentSealed", {
        "document_id": document["document_id"], "sha256": document["sha256"],
        "agency": document["issuing_agency"], "algorithm": agency_signer.algorithm,
        "key_id": agency_signer.key_id, "public_key": agency_signer.public_key_b64,
        "signature": signature_b64}, actor=actor, producer=SERVICE,
        stream_id=stream_of(document["document_id"]))
