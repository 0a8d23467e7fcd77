"""Every event type, and the one service allowed to produce it.

A consumer applies an event only if its producer is the one named here (and
its signature verifies with that producer's provisioned key, see
``shared.eventsig``); ``shared.topology``'s subscriptions must agree with it
(tests/unit/test_catalogue.py checks both, and that each service's code only
makes the types listed for it). A new event type is added here first, and
the data its consumers rely on in ``shared.events`` (checked at the same edge).
"""

from types import MappingProxyType

_PRODUCED_BY = {
    "docs": (
        "DocumentRegistered", "ExternalDocumentRecorded", "DocumentRevised",
        "DocumentSubmitted", "DocumentNumbered", "DocumentIssued", "DocumentStateChanged",
        "IncomingRegistered", "IncomingAccepted", "IncomingReturned", "IncomingWithdrawn",
        "IssueOverdue", "DocumentCopied",
    ),
    "signing": ("DocumentSigned", "DocumentReturned", "DocumentSealed", "DocumentFinalized",
                "CertificateRequested", "CertificateRequestApproved",
                "CertificateRequestRejected"),
    "routing": (
        "ConsignmentSent", "DocumentDelivered", "DeliveryRefused", "DeliveryOverdue",
        "DirectoryChanged", "StatusReported", "RecallRequested", "RecallAnswered",
        "ExternalDocumentReceived",
    ),
    "gateway": ("LoginFailed", "LoginFailuresSummarised", "RequestDenied",
                "DocumentDataErasureOrdered"),
}

# {event type: producer}
CATALOGUE = MappingProxyType({event_type: producer
                              for producer, types in _PRODUCED_BY.items()
                              for event_type in types})
# The services that sign events, each with a key of its own.
PRODUCERS = tuple(_PRODUCED_BY)


def producer_of(event_type: str) -> str | None:
    """The service that produces ``event_type``, or None for a type nobody produces."""
    return CATALOGUE.get(event_type)


def types_of(producer: str) -> tuple[str, ...]:
    return _PRODUCED_BY.get(producer, ())


def origin_problem(producer: str, event_type: str) -> str | None:
    """Why ``producer`` may not have produced ``event_type`` (None: it may)."""
    owner = producer_of(event_type)
    if owner is None:
        return f"event type {event_type} is not in the event catalogue"
    if owner != producer:
        return f"{event_type} is produced by {owner} only, not by {producer}"
    return None
