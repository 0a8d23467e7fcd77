"""docs' read-only lists for the web (``services/docs/queries.py``) on real
PostgreSQL and RabbitMQ: each caller sees what ``get_document`` lets them see,
a leader's queue holds only what was submitted to that leader, urgent first."""

import pytest

from services.docs.service import DocsService
from shared.errors import NotFound, ValidationFailed
from tests.support.client import DIRECTIVE, DISTRICT_1, PROVINCE, Client, urgent_dispatch
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.integration


def test_lists_keep_to_the_callers_view(run_container, platform):
    run_container(DocsService)
    client = Client(platform)
    clerk = client.token("clerk", PROVINCE, user="van.thu")
    ordinary = client.register(clerk, make_pdf("Thuong")).json()["document_id"]
    urgent = client.register(clerk, make_pdf("Hoa toc"),
                             metadata=urgent_dispatch(DISTRICT_1)).json()["document_id"]
    draft = client.register(clerk, make_pdf("Du thao")).json()["document_id"]
    with client.rpc(clerk) as rpc:
        rpc.docs.submit(ordinary, "chu.tich")
        rpc.docs.submit(urgent, "chu.tich")
        submitted = rpc.docs.outgoing_documents("submitted")
        everything = rpc.docs.outgoing_documents()
        with pytest.raises(ValidationFailed) as refused:
            rpc.docs.outgoing_documents("bogus")
        timeline = rpc.docs.timeline(ordinary)
    assert {d["document_id"] for d in submitted} == {ordinary, urgent}
    assert [d["document_id"] for d in everything] == [draft, urgent, ordinary]  # newest first
    assert everything[2]["subject"] == DIRECTIVE["subject"]
    assert refused.value.field == "state"
    assert [e["event_type"] for e in timeline] == ["DocumentRegistered", "DocumentSubmitted"]
    assert timeline[1]["actor"]["user_id"] == "van.thu"
    assert timeline[1]["data"]["signer_user"] == "chu.tich"

    with client.rpc(client.token("leader", PROVINCE, user="chu.tich")) as rpc:
        queue = rpc.docs.awaiting_signature()
    assert [d["document_id"] for d in queue] == [urgent, ordinary]  # Hỏa tốc first
    assert queue[0]["urgency"] == 3
    with client.rpc(client.token("leader", PROVINCE, user="pho.chu.tich")) as rpc:
        assert rpc.docs.awaiting_signature() == []
    with client.rpc(clerk) as rpc:
        assert rpc.docs.awaiting_signature() == []  # a clerk signs nothing

    outsider = client.token("clerk", DISTRICT_1, user="van.thu.h1")
    with client.rpc(outsider) as rpc:
        assert rpc.docs.outgoing_documents() == []
        assert rpc.docs.arrivals() == []  # nothing was issued yet
        with pytest.raises(NotFound):
            rpc.docs.timeline(ordinary)
    with client.rpc(client.token("auditor", "000.00.00.G22", user="thanh.tra")) as rpc:
        assert {d["document_id"] for d in rpc.docs.outgoing_documents()} == {
            ordinary, urgent, draft}
        assert len(rpc.docs.timeline(urgent)) == 2
