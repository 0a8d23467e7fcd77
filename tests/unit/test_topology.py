"""Every event handler of every service has its queue declared by the outbox relay.

nameko publishes without ``mandatory``: an event published before its
consumer's queue exists is dropped. The relay declares the queues listed in
``shared.topology``, so a handler missing from that list loses events.
"""

from nameko.events import EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.audit.service import AuditService
from services.docs.service import DocsService
from services.gateway.service import GatewayService
from services.routing.service import RoutingService
from services.signing.service import SigningService
from shared.topology import SUBSCRIPTIONS, Subscription


def handlers_of(service_class):
    for name in dir(service_class):
        for entrypoint in getattr(getattr(service_class, name), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, EventHandler):
                yield Subscription(entrypoint.source_service, entrypoint.event_type,
                                   service_class.name, name)


def test_the_topology_lists_exactly_the_services_event_handlers():
    handlers = {h for cls in (DocsService, SigningService, RoutingService, AuditService,
                                     GatewayService)
                for h in handlers_of(cls)}
    assert handlers == set(SUBSCRIPTIONS)


def test_a_dead_letter_goes_back_to_the_queue_of_its_consumer():
    from shared.topology import queue_of

    assert queue_of("docs.on_consignment_sent", "routing", "ConsignmentSent") == \
        "evt-routing-ConsignmentSent--docs.on_consignment_sent"
    # A wildcard subscription takes any event type of its source.
    assert queue_of("audit.on_docs_event", "docs", "DocumentIssued") == \
        "evt-docs-#--audit.on_docs_event"
    assert queue_of("docs.on_consignment_sent", "signing", "ConsignmentSent") is None
    assert queue_of("docs.no_such_method", "routing", "ConsignmentSent") is None
