"""A recipient whose copy was recalled (it agreed) gets its bytes by no route:
docs' file and attachment URLs, routing's edXML export with files inline,
signing's manifest URLs. A recipient that refused the recall keeps them all."""

import base64

import pytest

from services.routing import edxml
from shared.errors import Conflict, Forbidden
from tests.support.client import DIRECTIVE, DISTRICT_1, DISTRICT_2, wait_for
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e


def routes(rpc, document_id):
    """Each route to a file of the document, or to its URL."""
    return {
        "file URL": lambda: rpc.docs.file_url(document_id),
        "attachment URL": lambda: rpc.docs.file_url(document_id, attachment=0),
        "edXML inline": lambda: rpc.routing.export_edxml(document_id, True),
        "manifest URLs": lambda: rpc.signing.manifest_urls(document_id),
    }


def test_a_recalled_copy_is_unreadable_by_every_route(stack, client):
    stack.start()
    clerk, leader = client.token("clerk"), client.token("leader")
    registered = client.register_files(clerk, DIRECTIVE, [
        ("file", "document.pdf", make_pdf("thu hoi"), "application/pdf"),
        ("attachment", "phu-luc.pdf", make_pdf("phu luc"), "application/pdf")])
    assert registered.status_code == 201, registered.text
    document_id = registered.json()["document_id"]
    client.approve_and_issue(clerk, leader, document_id)
    for agency in (DISTRICT_1, DISTRICT_2):
        with client.rpc(client.token("clerk", agency=agency)) as rpc:
            wait_for(rpc.docs.incoming, what=f"{agency}'s incoming register")
            for name, route in routes(rpc, document_id).items():
                assert route(), name  # before the recall: each route serves
    with client.rpc(clerk) as rpc:
        rpc.routing.request_recall(document_id, 1, "Sai thẩm quyền ban hành")
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        wait_for(lambda: rpc.routing.answer_recall(document_id, True),
                 what="the recall request at D1")
        wait_for(lambda: rpc.docs.incoming()[0]["state"] == "withdrawn",
                 what="D1's copy to go out of use")
        for name, route in routes(rpc, document_id).items():
            with pytest.raises(Forbidden) as raised:
                route()
            assert raised.value.field == "state", name
        # By reference (no bytes), the package still says what the document was.
        assert edxml.import_package(base64.b64decode(
            rpc.routing.export_edxml(document_id))).attachments[0].by_reference
    with client.rpc(client.token("clerk", agency=DISTRICT_2)) as rpc:
        with pytest.raises(Conflict) as raised:  # a revoke is not refused (Art. 18(4))
            rpc.routing.answer_recall(document_id, False, "Đã triển khai thực hiện")
        assert raised.value.field == "code"
        for name, route in routes(rpc, document_id).items():
            assert route(), name  # not answered yet: its copy stays in use until then
    with client.rpc(client.token("auditor")) as rpc:
        assert rpc.signing.manifest_urls(document_id)["json"].startswith("http")
