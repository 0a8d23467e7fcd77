"""The signing service's pure core: who may sign what, and what is signed."""

from shared.envelope import canonical_json, new_event
from shared.errors import Forbidden

SERVICE = "signing"


def stream_of(document_id):
    return f"signature-{document_id}"


def signed_message(document_id, sha256):
    """The bytes a leader signs: the document's id and its file's SHA-256."""
    return canonical_json({"document_id": document_id, "sha256": sha256})


def check_may_sign(document, actor):
    if actor.role != "leader":
        raise Forbidden("only a leader (lãnh đạo) signs documents", field="role")
    if actor.agency != document["issuing_agency"]:
        raise Forbidden("a leader signs only documents of their own agency", field="agency")


def document_signed(document, signer, signature_b64, actor):
    return new_event(
        "DocumentSigned",
        {
            "document_id": document["document_id"],
            "sha256": document["sha256"],
            "algorithm": signer.algorithm,
            "key_id": signer.key_id,
            "public_key": signer.public_key_b64,
            "signature": signature_b64,
        },
        actor=actor, producer=SERVICE, stream_id=stream_of(document["document_id"]),
    )
