"""The routing service's pure core: when a document may be delivered, and to whom.

A document is delivered once both facts are known, in whichever order they
arrive: it was registered (recipients, file hash) and it was signed (a
signature over that same hash).
"""

from services.signing.domain import signed_message
from services.signing.keys import verify_signature
from shared.envelope import new_event, system_actor

SERVICE = "routing"


def stream_of(document_id):
    return f"delivery-{document_id}"


def deliveries_for(registered, signed, causation):
    """The events to record for a registered and signed document.

    One ``DocumentDelivered`` per recipient, or a single ``DeliveryRefused``
    when the signature does not cover the registered file.
    """
    document_id = registered["document_id"]
    actor = system_actor(SERVICE)
    reason = _signature_problem(registered, signed)
    if reason:
        return [new_event("DeliveryRefused", {"document_id": document_id, "reason": reason},
                          actor=actor, producer=SERVICE, stream_id=stream_of(document_id),
                          causation=causation)]
    return [
        new_event("DocumentDelivered",
                  {"document_id": document_id, "recipient": agency,
                   "sender": registered["issuing_agency"],
                   "sha256": registered["file"]["sha256"], "urgency": registered["urgency"]},
                  actor=actor, producer=SERVICE, stream_id=stream_of(document_id),
                  causation=causation)
        for agency in registered["recipients"]
    ]


def _signature_problem(registered, signed):
    if signed["sha256"] != registered["file"]["sha256"]:
        return "the signature covers a different file than the one registered"
    message = signed_message(registered["document_id"], signed["sha256"])
    if not verify_signature(signed["public_key"], signed["signature"], message):
        return "the signature does not verify"
    return None
