"""The routing service's pure core: consignments, deliveries and their events.

A document is delivered once both facts are known, in whichever order they
arrive: docs issued it (number, addressees, file hash) and signing sealed it
(the agency's signature, over that same file). Each sending is a consignment with an id:
the recipients it resolved to are recorded in its event and never
recomputed, and a recipient that already has the document is not sent it
again, so resending (a retry after a crash) delivers nothing twice.
"""

import re

from shared.envelope import new_event, system_actor
from shared.errors import ValidationFailed

SERVICE = "routing"
CONSIGNMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{7,99}$")


def stream_of(document_id):
    return f"delivery-{document_id}"


def initial_consignment(document_id):
    """The consignment of the addressees named at registration."""
    return f"{document_id}:initial"


def check_consignment_id(value):
    if not isinstance(value, str) or not CONSIGNMENT_ID.match(value):
        raise ValidationFailed("consignment_id: 8 to 100 letters, digits or :._- (choose one"
                               " per sending and reuse it when you retry)",
                               field="consignment_id")
    return value


def signature_problem(issued, sealed):
    """Why the agency's signature does not cover the issued file, or None.

    The signatures themselves are checked by the signing service, and by
    each recipient (``signing.verify_document``, or any PDF tool).
    """
    if sealed["sealed_file"]["sha256"] != issued["file"]["sha256"]:
        return "the agency's signature covers a different file than the one issued"
    if sealed["agency"] != issued["issuing_agency"]:
        return "the agency's signature is not the issuing agency's"
    return None


def refused(document_id, reason, causation=None):
    return new_event("DeliveryRefused", {"document_id": document_id, "reason": reason},
                     actor=system_actor(SERVICE), producer=SERVICE,
                     stream_id=stream_of(document_id), causation=causation)


def consignment_events(registered, consignment_id, addressed, recipients, already,
                       actor, now, causation=None):
    """``ConsignmentSent`` with the resolved recipients, then one
    ``DocumentDelivered`` per recipient that does not have the document yet.

    Each delivery carries its trace (edXML's TraceHeaderList): the sender,
    then the recipient, each with the time of that hop.
    """
    document_id, sender = registered["document_id"], registered["issuing_agency"]
    new = [r for r in recipients if r not in already]
    stream = stream_of(document_id)
    events = [new_event("ConsignmentSent", {
        "document_id": document_id, "consignment_id": consignment_id, "sender": sender,
        "addressed": addressed, "recipients": list(recipients), "new_recipients": new,
        "urgency": registered["urgency"],
        # A document from outside travels with its consignment (see ``inbound``).
        **({"origin": registered["origin"], "document": registered}
           if registered.get("origin") else {}),
    }, actor=actor, producer=SERVICE, stream_id=stream, causation=causation)]
    stamp = now.isoformat()
    # A document from outside carries the hops it made before it reached us.
    hops = list(registered.get("traces") or ()) or [{"agency": sender, "at": stamp}]
    for agency in new:
        events.append(new_event("DocumentDelivered", {
            "document_id": document_id, "recipient": agency, "sender": sender,
            "sha256": registered["file"]["sha256"], "urgency": registered["urgency"],
            "number_notation": registered.get("number_notation"),
            "consignment_id": consignment_id,
            "trace": [*hops, {"agency": agency, "at": stamp}],
        }, actor=system_actor(SERVICE), producer=SERVICE, stream_id=stream,
            causation=causation))
    return events


def initial_delivery(registered, signed, recipients, already, now, causation=None):
    """What to record once a document is both registered and signed: its first
    consignment to ``recipients`` (the addressees as the directory resolves
    them today), or a ``DeliveryRefused`` if the signature does not hold."""
    problem = signature_problem(registered, signed)
    if problem:
        return [refused(registered["document_id"], problem, causation)]
    return consignment_events(registered, initial_consignment(registered["document_id"]),
                              {"agencies": list(registered["recipients"])}, recipients,
                              already, system_actor(SERVICE), now, causation)
