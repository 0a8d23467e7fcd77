"""routing's ``send`` decides what may go out from docs' and signing's events,
never from the caller: an unissued, unsealed or secret document is refused by
its rule and nothing is sent."""

import uuid
from dataclasses import replace
from types import MappingProxyType

import pytest
from nameko.testing.services import entrypoint_hook

from services.routing.service import RoutingService
from shared.errors import Conflict, NotFound, ValidationFailed
from tests.integration.test_state_summaries import issued_event, sealed_event
from tests.support.client import DISTRICT_1, PROVINCE, Client
from tests.support.db import scalar
from tests.support.events import signed

pytestmark = pytest.mark.integration


@pytest.fixture
def routing(run_container, platform):
    container = run_container(RoutingService)
    client = Client(platform)

    class Routing:
        def hand(self, entrypoint, event):  # signed by its producer, as on the broker
            with entrypoint_hook(container, entrypoint) as handle:
                handle(signed(platform, event))

        def send(self, document_id):
            with client.rpc(client.token("clerk", agency=PROVINCE)) as rpc:
                return rpc.routing.send(document_id, {"agencies": [DISTRICT_1]},
                                        f"c-{uuid.uuid4()}")

        def sent(self):
            return scalar(platform.pg_dsn, "routing", "SELECT count(*) FROM events WHERE"
                          " event_type IN ('ConsignmentSent', 'DocumentDelivered')")

    return Routing()


def _issued(document_id, secrecy=0):
    event = issued_event(document_id, recipients=())
    return replace(event, data=MappingProxyType({**event.data, "secrecy": secrecy}))


def test_a_clerk_cannot_send_an_unissued_an_unsealed_or_a_secret_document(routing):
    unissued, unsealed, secret, ready = (str(uuid.uuid4()) for _ in range(4))
    routing.hand("on_document_finalized", sealed_event(unissued))
    routing.hand("on_document_issued", _issued(unsealed))
    for document_id, secrecy in ((secret, 2), (ready, 0)):
        routing.hand("on_document_issued", _issued(document_id, secrecy))
        routing.hand("on_document_finalized", sealed_event(document_id))

    with pytest.raises(NotFound, match="only an issued document is sent") as raised:
        routing.send(unissued)
    assert raised.value.field == "document_id"
    with pytest.raises(Conflict, match="not sealed yet") as raised:
        routing.send(unsealed)
    assert raised.value.field == "document_id"
    with pytest.raises(ValidationFailed, match="state secret") as raised:
        routing.send(secret)
    assert raised.value.field == "secrecy"
    assert routing.sent() == 0

    # The same clerk sends an issued, sealed, ordinary document.
    assert routing.send(ready)["recipients"] == [DISTRICT_1]
    assert routing.sent() == 2
