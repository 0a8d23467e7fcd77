"""routing's ``send`` decides what may go out from docs' and signing's events,
never from the caller: an unissued, unsealed or secret document is refused by
its rule and nothing is sent."""

import uuid
from dataclasses import replace
from types import MappingProxyType

import pytest

from shared.errors import Conflict, NotFound, ValidationFailed
from tests.integration.test_routing import routing  # noqa: F401  (the fixture)
from tests.integration.test_state_summaries import issued_event, sealed_event
from tests.support.client import DISTRICT_1

pytestmark = pytest.mark.integration


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

    def send(document_id):
        with routing.rpc() as rpc:
            return rpc.routing.send(document_id, {"agencies": [DISTRICT_1]},
                                    f"c-{uuid.uuid4()}")

    def sent():
        return routing.events("ConsignmentSent") + routing.events("DocumentDelivered")

    with pytest.raises(NotFound, match="only an issued document is sent") as raised:
        send(unissued)
    assert raised.value.field == "document_id"
    with pytest.raises(Conflict, match="not sealed yet") as raised:
        send(unsealed)
    assert raised.value.field == "document_id"
    with pytest.raises(ValidationFailed, match="state secret") as raised:
        send(secret)
    assert raised.value.field == "secrecy"
    assert sent() == 0

    # The same clerk sends an issued, sealed, ordinary document.
    assert send(ready)["recipients"] == [DISTRICT_1]
    assert sent() == 2
