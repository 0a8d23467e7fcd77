"""A document's life across the four processes: returned and revised, issued with
its number, accepted or returned by each recipient, in the registers, under WORM
retention, recalled; and numbers given by several docs processes at once."""

import csv
import hashlib
import io
import threading
from datetime import datetime

import pytest
import requests

from infra.stack import free_port
from shared.errors import Conflict, Forbidden
from shared.multipart import encode
from shared.values import VIETNAM
from tests.support.client import DIRECTIVE, DISTRICT_1, DISTRICT_2, PROVINCE, wait_for
from tests.support.db import query, scalar
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e


def state_of(client, document_id, agency=PROVINCE):
    with client.rpc(client.token("clerk", agency=agency)) as rpc:
        return rpc.docs.get_document(document_id)["state"]


def revise(client, document_id, pdf):
    headers, body = encode({}, "v2.pdf", io.BytesIO(pdf), len(pdf))
    headers.update(client.docs_headers(client.token("clerk"), "revise_file"))
    return requests.put(f"{client.docs_url}/v1/documents/{document_id}/file", data=body,
                        headers=headers, timeout=60)


def download(client, token, path):
    """A register from docs' own HTTP endpoint (``register_http``)."""
    return requests.get(f"{client.docs_url}{path}",
                        headers=client.docs_headers(token, "register_http"), timeout=60)


def test_returned_revised_issued_accepted_returned_and_registered(stack, platform, client):
    stack.start()
    first = make_pdf("Chi thi - du thao 1")
    registered = client.register(client.token("clerk"), first).json()
    document_id = registered["document_id"]
    with client.rpc(client.token("clerk")) as rpc:
        rpc.docs.submit(document_id, f"leader@{PROVINCE}")
    with client.rpc(client.token("leader")) as rpc:
        wait_for(lambda: rpc.signing.return_document(document_id, "Bổ sung căn cứ pháp lý"),
                 what="signing to receive the submission")
    wait_for(lambda: state_of(client, document_id) == "returned", what="docs to follow")

    second = make_pdf("Chi thi - du thao 2")
    response = revise(client, document_id, second)
    assert response.status_code == 200, response.text
    revised = response.json()["file"]
    assert revised["version_id"] != registered["file"]["version_id"]
    assert revised["sha256"] == hashlib.sha256(second).hexdigest()
    issued = client.sign_seal_issue(document_id)
    assert issued["number"] == 1 and issued["number_notation"] == "01/CT-UBND"

    # Both draft versions are kept; the issued file (the sealed PDF) is under
    # COMPLIANCE retention: even its owner cannot delete that version.
    store = platform.object_store()
    with client.rpc(client.token("clerk")) as rpc:
        issued_file = rpc.docs.get_document(document_id)["file"]
    assert issued_file["key"].endswith("/sealed.pdf")
    with pytest.raises(Exception, match="(?i)retention|lock|denied"):
        store.delete(issued_file["key"], version_id=issued_file["version_id"])
    old = store.open(revised["key"], version_id=registered["file"]["version_id"])
    assert hashlib.sha256(old.read()).hexdigest() == registered["file"]["sha256"]
    old.close()
    with client.rpc(client.token("clerk")) as rpc:
        with pytest.raises(Conflict):
            rpc.docs.issue(document_id)  # issued once: no second number

    for agency in (DISTRICT_1, DISTRICT_2):
        with client.rpc(client.token("clerk", agency=agency)) as rpc:
            wait_for(rpc.docs.incoming, what=f"{agency}'s incoming register")
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        assert rpc.docs.accept_incoming(document_id)["state"] == "accepted"
        with pytest.raises(Conflict):
            rpc.docs.accept_incoming(document_id)
    with client.rpc(client.token("clerk", agency=DISTRICT_2)) as rpc:
        assert rpc.docs.return_incoming(document_id, "Không thuộc thẩm quyền")["state"] \
            == "returned"

    def sender_sees():
        with client.rpc(client.token("clerk")) as rpc:
            return {s["recipient"]: s["status"] for s in rpc.routing.statuses(document_id)}
    wait_for(lambda: sender_sees() == {DISTRICT_1: "03", DISTRICT_2: "02"},
             what="routing to tell the sender 03 and 02")
    wait_for(lambda: state_of(client, document_id) == "sent", what="docs to see it sent")

    outgoing = download(client, client.token("clerk"), "/v1/registers/outgoing?format=csv")
    assert outgoing.status_code == 200, outgoing.text
    rows = list(csv.reader(io.StringIO(outgoing.content.decode("utf-8-sig"))))
    assert rows[2][0] == "01/CT-UBND" and "Chỉ thị" in rows[2][2]
    # Agencies by name, as Appendix IV prints them (docs' copy of the directory).
    assert rows[2][4] == "UBND huyện Diễn Châu, UBND huyện Yên Thành"
    incoming = download(client, client.token("clerk", agency=DISTRICT_2),
                        "/v1/registers/incoming?format=csv")
    rows = list(csv.reader(io.StringIO(incoming.content.decode("utf-8-sig"))))
    # Returned, so never numbered: số đến is given at registration (Art. 21-22).
    assert rows[2][1] == "" and rows[2][3] == "01/CT-UBND"
    assert rows[2][2] == "UBND tỉnh Nghệ An (mẫu)"
    assert "Không thuộc thẩm quyền" in rows[2][-1]
    pdf = download(client, client.token("clerk"), "/v1/registers/follow_up?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    bad = download(client, client.token("clerk"), "/v1/registers/outgoing?start=2026-13-01")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "start"


def test_a_recall_freezes_the_sender_and_takes_the_agreeing_copy_out_of_use(stack, client):
    stack.start()
    issued = client.issue(client.token("clerk"), client.token("leader"), make_pdf("thu hoi"))
    document_id = issued["document_id"]
    for agency in (DISTRICT_1, DISTRICT_2):
        with client.rpc(client.token("clerk", agency=agency)) as rpc:
            wait_for(rpc.docs.incoming, what=f"{agency}'s incoming register")
    with client.rpc(client.token("clerk")) as rpc:
        rpc.routing.request_recall(document_id, 1, "Sai thẩm quyền ban hành")
    wait_for(lambda: state_of(client, document_id) == "recalled", what="the sender's freeze")
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        rpc.routing.answer_recall(document_id, True)
    with client.rpc(client.token("clerk", agency=DISTRICT_2)) as rpc:
        # a revoke is not refused (Decree 30 Art. 18(4)): D2 has not cancelled its copy yet
        with pytest.raises(Conflict) as err:
            rpc.routing.answer_recall(document_id, False, "Đã triển khai thực hiện")
        assert err.value.field == "code"

    def withdrawn():
        with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
            return rpc.docs.incoming()[0]["state"] == "withdrawn"
    wait_for(withdrawn, what="D1's copy to go out of use")
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        with pytest.raises(Forbidden) as err:
            rpc.docs.file_url(document_id)
        assert err.value.field == "state"
    with client.rpc(client.token("clerk", agency=DISTRICT_2)) as rpc:
        assert rpc.docs.file_url(document_id).startswith("http")  # not answered yet
    with client.rpc(client.token("clerk")) as rpc:
        assert rpc.docs.file_url(document_id).startswith("http")  # the frozen original
        with pytest.raises(Conflict):
            rpc.docs.submit(document_id, f"leader@{PROVINCE}")


def test_several_docs_processes_numbering_at_once_give_no_gap_and_no_duplicate(
        stack, platform, client):
    """Numbers are given as docs learns of the leaders' signatures (Decree 30 Art.
    14): twelve signed at once, followed by three docs processes, then issued
    at once under the numbers given."""
    stack.start()
    extra = []
    for n in range(2):  # two more docs processes on the same queues and database
        extra.append(stack.add("docs", f"x{n}",
                               LIENTHONG_DOCS_HTTP=f"127.0.0.1:{free_port()}").start())
    try:
        for p in extra:
            p.wait_ready(client, client.token("auditor"))
        documents = []
        for n in range(12):
            documents.append(client.register(client.token("clerk"),
                                             make_pdf(f"so {n}")).json()["document_id"])
            with client.rpc(client.token("clerk")) as rpc:
                rpc.docs.submit(documents[-1], f"leader@{PROVINCE}")
        errors = []

        def run(step, document_id):
            try:
                step(document_id)
            except Exception as err:  # reported below
                errors.append(err)

        def at_once(step):
            threads = [threading.Thread(target=run, args=(step, d)) for d in documents]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert errors == []

        def sign(document_id):
            with client.rpc(client.token("leader")) as rpc:
                wait_for(lambda: rpc.signing.sign_document(document_id), what="the submission")

        at_once(sign)
        with client.rpc(client.token("clerk")) as rpc:
            given = {d: wait_for(lambda d=d: rpc.docs.get_document(d)["number"],
                                 what="the number given at the signature") for d in documents}
        assert sorted(given.values()) == list(range(1, 13))
        issued = {}

        def seal_and_issue(document_id):
            with client.rpc(client.token("clerk")) as rpc:
                wait_for(lambda: rpc.signing.seal_document(document_id), what="the number")
                issued[document_id] = wait_for(lambda: rpc.docs.issue(document_id),
                                               what="docs to follow the seal")["number"]

        at_once(seal_and_issue)
        assert issued == given  # published under the numbers given: none taken again
        assert scalar(platform.pg_dsn, "docs", "SELECT last_number FROM number_series"
                      " WHERE agency = %s AND series = 'regular'", (PROVINCE,)) == 12
        stored = query(platform.pg_dsn, "docs", "SELECT number_notation FROM documents")
        assert sorted(n for (n,) in stored) == [f"{n:02d}/CT-UBND" for n in range(1, 13)]
    finally:
        for p in extra:
            p.stop()


def test_a_replacing_document_freezes_the_one_it_replaces_when_issued(stack, client):
    stack.start()
    first = client.issue(client.token("clerk"), client.token("leader"), make_pdf("ban dau"))
    metadata = {**DIRECTIVE, "replaces": first["document_id"]}
    # Another agency cannot replace the province's document.
    other = client.register(client.token("clerk", agency=DISTRICT_1), make_pdf("x"),
                            metadata={**metadata, "recipients": [DISTRICT_2]})
    assert other.status_code == 400 and other.json()["error"]["field"] == "replaces"
    second = client.issue(client.token("clerk"), client.token("leader"), make_pdf("thay the"),
                          metadata=metadata)
    assert second["number"] == first["number"] + 1
    assert state_of(client, first["document_id"]) == "replaced"
    with client.rpc(client.token("clerk")) as rpc:
        assert rpc.docs.get_document(second["document_id"])["replaces"] == \
            first["document_id"]
        with pytest.raises(Conflict):  # a replaced document is frozen
            rpc.docs.issue(first["document_id"])


def test_a_recipient_dissolved_before_the_issue_makes_the_document_undeliverable(
        stack, platform, client):
    """Checked at registration, the recipient is dissolved (a dated directory
    change) before the issue: routing refuses the first delivery, and the
    sender's clerk sees the document undeliverable with routing's reason, then
    sends it to an agency that exists."""
    stack.start()
    today = datetime.now(VIETNAM).date().isoformat()
    operator = client.token("operator")
    new_code = "000.09.00.H41"
    with client.rpc(operator) as rpc:
        rpc.routing.change_directory([{"op": "create", "code": new_code, "on": today,
                                       "name": "Ban Quản lý dự án thử", "level": "department",
                                       "parent": PROVINCE}])
    clerk = client.token("clerk")
    metadata = {**DIRECTIVE, "recipients": [new_code]}
    response = wait_for(lambda: (lambda r: r if r.status_code == 201 else None)(
        client.register(clerk, make_pdf("Gui toi ban moi"), metadata=metadata)),
        what="docs to know the new agency")
    document_id = response.json()["document_id"]
    with client.rpc(operator) as rpc:
        rpc.routing.change_directory([{"op": "dissolve", "code": new_code, "on": today}])
    client.sign_seal_issue(document_id)

    wait_for(lambda: state_of(client, document_id) == "undeliverable",
             what="docs to learn that routing refused the delivery")
    with client.rpc(clerk) as rpc:  # what the gateway's GET /v1/documents/{id} forwards
        answer = rpc.docs.get_document(document_id)
    assert answer["state"] == "undeliverable" and new_code in answer["delivery_refused"]
    assert scalar(platform.pg_dsn, "routing", "SELECT count(*) FROM events WHERE"
                  " event_type = 'DeliveryRefused' AND envelope->'data'->>'document_id' = %s",
                  (document_id,)) == 1

    with client.rpc(clerk) as rpc:
        sent = rpc.routing.send(document_id, {"agencies": [DISTRICT_1]}, "again-after-refusal")
    assert sent["recipients"] == [DISTRICT_1]
    wait_for(lambda: state_of(client, document_id) == "sent", what="docs to follow the send")
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        assert rpc.docs.get_document(document_id)["number_notation"]
