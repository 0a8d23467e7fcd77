"""docs' read-only lists for the web (``services/docs/queries.py``) on real
PostgreSQL and RabbitMQ: each caller sees what ``get_document`` lets them see,
a leader's queue holds only what was submitted to that leader, urgent first;
every list is a page of a stable order, with its total and a search."""

from datetime import datetime, timedelta

import pytest

from services.docs.service import DocsService
from shared.errors import NotFound, ValidationFailed
from tests.support.client import DIRECTIVE, DISTRICT_1, PROVINCE, Client, urgent_dispatch
from shared.values import VIETNAM
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
        submitted = rpc.docs.outgoing_documents("submitted")["items"]
        everything = rpc.docs.outgoing_documents()["items"]
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
        queue = rpc.docs.awaiting_signature()["items"]
    assert [d["document_id"] for d in queue] == [urgent, ordinary]  # Hỏa tốc first
    assert queue[0]["urgency"] == 3
    with client.rpc(client.token("leader", PROVINCE, user="pho.chu.tich")) as rpc:
        assert rpc.docs.awaiting_signature()["items"] == []
    with client.rpc(clerk) as rpc:
        assert rpc.docs.awaiting_signature() == {  # a clerk signs nothing
            "items": [], "total": 0, "page": 1, "size": 20}

    outsider = client.token("clerk", DISTRICT_1, user="van.thu.h1")
    with client.rpc(outsider) as rpc:
        assert rpc.docs.outgoing_documents()["items"] == []
        assert rpc.docs.arrivals()["total"] == 0  # nothing was issued yet
        with pytest.raises(NotFound):
            rpc.docs.timeline(ordinary)
    with client.rpc(client.token("auditor", "000.00.00.G22", user="thanh.tra")) as rpc:
        assert {d["document_id"] for d in rpc.docs.outgoing_documents()["items"]} == {
            ordinary, urgent, draft}
        assert len(rpc.docs.timeline(urgent)) == 2


def test_lists_come_a_page_at_a_time_and_search_in_sql(run_container, platform):
    run_container(DocsService)
    client = Client(platform)
    clerk = client.token("clerk", PROVINCE, user="van.thu")
    subjects = [f"Kế hoạch phòng chống lũ số {n}" for n in range(4)] + ["Báo cáo 50% tiến độ"]
    made = [client.register(clerk, make_pdf(f"Trang {n}"), metadata={
        **DIRECTIVE, "subject": subject}).json()["document_id"]
        for n, subject in enumerate(subjects)]
    today = datetime.now(VIETNAM).date()
    with client.rpc(clerk) as rpc:
        pages = [rpc.docs.outgoing_documents(None, {"size": "2", "page": str(n)})
                 for n in (1, 2, 3, 4)]
        found = rpc.docs.outgoing_documents(None, {"q": "PHÒNG CHỐNG lũ"})
        literal = rpc.docs.outgoing_documents("draft", {"q": "50%"})
        underscore = rpc.docs.outgoing_documents(None, {"q": "_"})
        to_today = rpc.docs.outgoing_documents(None, {"start": today.isoformat(),
                                                      "end": today.isoformat()})
        tomorrow = rpc.docs.outgoing_documents(None, {"start": str(today + timedelta(1))})
        several = rpc.docs.outgoing_documents(["submitted", "draft"], {"size": 1})
        with pytest.raises(ValidationFailed) as refused:
            rpc.docs.outgoing_documents(None, {"page": "0"})
        with pytest.raises(ValidationFailed) as bad_state:
            rpc.docs.arrivals(["arrived", "lost"])
    # Newest first, two a page, no page overlapping another, the total on each.
    assert [d["document_id"] for p in pages for d in p["items"]] == made[::-1]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert {p["total"] for p in pages} == {5} and pages[1]["page"] == 2
    # Search: case and accents as written, % and _ are letters, not wildcards.
    assert found["total"] == 4 and made[4] not in {d["document_id"] for d in found["items"]}
    assert [d["document_id"] for d in literal["items"]] == [made[4]]
    assert underscore["total"] == 0
    assert to_today["total"] == 5 and tomorrow["total"] == 0
    assert several["total"] == 5 and len(several["items"]) == 1
    assert refused.value.field == "page" and bad_state.value.field == "state"
