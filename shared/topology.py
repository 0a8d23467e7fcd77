"""Who listens to what: every subscription between the services.

nameko names an event handler's queue ``evt-{source}-{type}--{service}.{method}``
and binds it to the topic exchange ``{source}.events``. nameko publishes
without ``mandatory``, so an event published before its consumer ever started
would be dropped. The outbox relay therefore declares every queue listed here
before it publishes, and the broker keeps events for consumers not yet up.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ALL = "#"  # topic wildcard: every event type of a source

# Every subscriber queue is declared alike by the relay and by the consumer,
# of the deployment's queue type (config ``QUEUE_TYPE``):
# - classic (the default): a priority queue on one broker node; an urgent
#   document's events overtake normal ones waiting in the same queue
#   (0 Thường ... 3 Hỏa tốc);
# - quorum: replicated on a RabbitMQ cluster (Raft), so a node may die without
#   losing a confirmed event; RabbitMQ 3.x quorum queues have no priorities,
#   so urgent events then wait their turn.
MAX_PRIORITY = 3
QUEUE_TYPES = ("classic", "quorum")


def queue_arguments(queue_type: str = "classic") -> dict[str, Any]:
    if queue_type == "classic":
        return {"x-max-priority": MAX_PRIORITY}
    if queue_type == "quorum":
        return {"x-queue-type": "quorum"}
    raise ValueError(f"QUEUE_TYPE: one of {', '.join(QUEUE_TYPES)}, got {queue_type!r}")


def queue_type_of(config: Mapping[str, Any]) -> str:
    return str(config.get("QUEUE_TYPE") or "classic").strip().lower()


QUEUE_ARGUMENTS = queue_arguments()


def priority_of(data: Any) -> int:
    """An event's priority: the urgency it carries, if any (0 to 3)."""
    urgency = data.get("urgency") if hasattr(data, "get") else None
    if isinstance(urgency, int) and not isinstance(urgency, bool):
        return max(0, min(MAX_PRIORITY, urgency))
    return 0


@dataclass(frozen=True)
class Subscription:
    source: str
    event_type: str
    consumer: str
    method: str

    @property
    def queue(self) -> str:
        return f"evt-{self.source}-{self.event_type}--{self.consumer}.{self.method}"


SUBSCRIPTIONS = (
    Subscription("docs", "DocumentSubmitted", "signing", "on_document_submitted"),
    Subscription("signing", "DocumentSigned", "docs", "on_document_signed"),
    Subscription("signing", "DocumentReturned", "docs", "on_document_returned"),
    Subscription("signing", "DocumentSealed", "docs", "on_document_sealed"),
    Subscription("docs", "DocumentNumbered", "signing", "on_document_numbered"),
    Subscription("docs", "DocumentIssued", "routing", "on_document_issued"),
    Subscription("docs", "DocumentIssued", "signing", "on_document_issued"),
    Subscription("signing", "DocumentFinalized", "routing", "on_document_finalized"),
    Subscription("signing", "DocumentFinalized", "docs", "on_document_finalized"),
    Subscription("routing", "ConsignmentSent", "docs", "on_consignment_sent"),
    Subscription("routing", "DeliveryRefused", "docs", "on_delivery_refused"),
    Subscription("routing", "RecallRequested", "docs", "on_recall_requested"),
    Subscription("routing", "RecallAnswered", "docs", "on_recall_answered"),
    Subscription("routing", "DirectoryChanged", "docs", "on_directory_changed"),
    Subscription("docs", "IncomingAccepted", "routing", "on_incoming_accepted"),
    Subscription("docs", "IncomingReturned", "routing", "on_incoming_returned"),
    Subscription("docs", ALL, "audit", "on_docs_event"),
    Subscription("signing", ALL, "audit", "on_signing_event"),
    Subscription("routing", ALL, "audit", "on_routing_event"),
    Subscription("gateway", ALL, "audit", "on_gateway_event"),
)


# Subscriptions of earlier releases, no longer made: a service removes their
# queues at start if empty (shared.broker_upgrade), never their messages.
RETIRED = (
    Subscription("routing", "DocumentDelivered", "docs", "on_document_delivered"),
)


def queue_of(consumer: str, source: str | None, event_type: str | None) -> str | None:
    """The queue of ``consumer`` (``service.method``, as the inbox names it) that
    receives ``source``'s ``event_type``, or None."""
    service, _, method = consumer.partition(".")
    for sub in SUBSCRIPTIONS:
        if (sub.consumer, sub.method, sub.source) == (service, method, source) \
                and sub.event_type in (event_type, ALL):
            return sub.queue
    return None


def subscriptions_of(source: str) -> list[Subscription]:
    return [s for s in SUBSCRIPTIONS if s.source == source]


def exchange_name(source: str) -> str:
    return f"{source}.events"
