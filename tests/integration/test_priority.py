"""Urgent documents overtake normal ones waiting in the same queue.

Every subscriber queue is a RabbitMQ priority queue, declared alike by the
outbox relay and by the consumer, and each event is published with its
document's urgency as priority. Thirty normal consignments wait for a stopped
consumer (docs, which registers their arrivals); one Hỏa tốc consignment
arrives after them; when the consumer starts, the urgent one is handled first.
"""

import time
import uuid

import pytest

from shared.envelope import new_event, system_actor
from shared.nameko_ext import event_handler
from shared.outbox import BrokerPublisher

pytestmark = pytest.mark.integration

handled = []


class DeliveryListener:
    """Stands in for docs: it consumes the queue docs consumes."""

    name = "docs"

    @event_handler("routing", "ConsignmentSent")
    def on_consignment_sent(self, payload):
        handled.append(payload["data"]["urgency"])


def consignment(position, urgency):
    document_id = str(uuid.uuid4())
    return new_event("ConsignmentSent", {
        "document_id": document_id, "new_recipients": ["000.01.00.H41"],
        "urgency": urgency},
        actor=system_actor("routing"), producer="routing",
        stream_id=f"delivery-{document_id}").at(1, position)


def test_an_urgent_consignment_overtakes_thirty_normal_ones_waiting(run_container, amqp_uri):
    handled.clear()
    publisher = BrokerPublisher(amqp_uri, "routing")  # declares the queues, as the relay does
    try:
        publisher.publish_batch([consignment(n, 0) for n in range(1, 31)]
                                + [consignment(31, 3)])
    finally:
        publisher.close()
    run_container(DeliveryListener, max_workers=1)  # prefetch 1: one message at a time
    deadline = time.monotonic() + 30
    while len(handled) < 31 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(handled) == [0] * 30 + [3]
    assert handled.index(3) == 0, handled  # without priorities it would come last
