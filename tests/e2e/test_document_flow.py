"""One document from clerk to leader to recipients to auditor, across four processes."""

import hashlib
import re
import subprocess
from datetime import date

import pytest
import requests
from shared.errors import NotFound

from tests.e2e.test_signatures import tool
from tests.support.client import DISTRICT_1, DISTRICT_2, OUTSIDER, PROVINCE, wait_for
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e


# What the log holds about one document once its two recipients registered it.
FLOW = [("DocumentRegistered", None), ("DocumentSubmitted", None), ("DocumentSigned", None),
        ("DocumentStateChanged", None), ("DocumentNumbered", None),
        ("DocumentSealed", None), ("DocumentStateChanged", None),
        ("DocumentIssued", None), ("DocumentFinalized", None), ("ConsignmentSent", None),
        ("DocumentStateChanged", None),
        ("DocumentDelivered", DISTRICT_1), ("DocumentDelivered", DISTRICT_2),
        ("IncomingRegistered", None), ("IncomingRegistered", None)]


def history_types(client, document_id):
    with client.rpc(client.token("auditor", agency="000.00.00.G22")) as rpc:
        return [(e["event_type"], e["data"].get("recipient")) for e in rpc.audit.history(document_id)]


def _numbered_on_the_page(client, document_id, body, issued, tmp_path):
    """Decree 30 Art. 8 and 14: the delivered PDF's page one reads the number and
    the place-and-date line the outgoing register gave at the signature, under
    the agency's signature; the leader's signature holds (form filling only)."""
    path = tmp_path / "delivered.pdf"
    path.write_bytes(body)
    text = subprocess.run([tool("pdftotext", "poppler-utils"), "-layout", "-f", "1", "-l", "1",
                           str(path), "-"], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    with client.rpc(client.token("clerk")) as rpc:
        [entry] = [r for r in rpc.docs.register("outgoing")
                   if r["number_notation"] == issued["number_notation"]]
        verdict = rpc.signing.verify_document(document_id)
    assert f"Số: {entry['number_notation']}" in text, text
    day = date.fromisoformat(entry["document_date"])
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    assert re.search(rf"\S+( \S+)*, ngày {day.day:02d} tháng {month} năm {day.year}", text), text
    assert verdict["ok"], verdict
    checks = {(c["check"], c["signature"]): c for c in verdict["pdf"]["checks"]}
    assert "modification level: form filling" in checks[("integrity", "LeaderSignature")][
        "detail"]
    assert checks[("number", None)]["ok"], checks[("number", None)]
    out = subprocess.run([tool("pdfsig", "poppler-utils"), str(path)], capture_output=True,
                         text=True, timeout=60).stdout
    assert out.count("Signature is Valid") == 2, out


def test_a_registered_document_is_signed_delivered_to_both_recipients_and_logged(stack, client,
                                                                                  tmp_path):
    stack.start()
    pdf = make_pdf("Chi thi so 1", padding=300_000)

    response = client.register(client.token("clerk"), pdf)
    assert response.status_code == 201, response.text
    registered = response.json()
    document_id = registered["document_id"]
    assert registered["file"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert registered["file"]["size"] == len(pdf)

    issued = client.sign_seal_issue(document_id)
    assert issued["number_notation"] == "01/CT-UBND"

    def logged():
        types = history_types(client, document_id)
        return sorted(types, key=str) == sorted(FLOW, key=str) and types
    types = wait_for(logged, timeout=30, what="the audit log to show the whole flow")
    # Each service logs in its own order; the causal order holds within each.
    order = [t for t, _ in types]
    assert order.index("DocumentRegistered") < order.index("DocumentSubmitted") \
        < order.index("DocumentIssued")
    assert order.index("DocumentSigned") < order.index("DocumentSealed")
    assert order.index("DocumentNumbered") < order.index("DocumentIssued")  # docs' own order
    assert order.index("ConsignmentSent") < order.index("DocumentDelivered")

    for agency in (DISTRICT_1, DISTRICT_2):
        with client.rpc(client.token("clerk", agency=agency)) as rpc:
            inbox = wait_for(rpc.routing.inbox, what=f"{agency}'s inbox")
            assert [item["document_id"] for item in inbox] == [document_id]
            url = wait_for(lambda: rpc.docs.file_url(document_id),
                           what=f"docs to know of the delivery to {agency}")
            document = rpc.docs.get_document(document_id)
        body = requests.get(url, timeout=30).content
        # What arrives is the issued file: the draft with both signatures added.
        assert hashlib.sha256(body).hexdigest() == document["file"]["sha256"]
        assert document["file"]["key"].endswith("/sealed.pdf")
        assert body.startswith(pdf[:200]) and len(body) > len(pdf)  # incremental updates

    _numbered_on_the_page(client, document_id, body, issued, tmp_path)

    with client.rpc(client.token("clerk", agency=OUTSIDER)) as rpc:
        with pytest.raises(NotFound):
            rpc.docs.file_url(document_id)
        assert rpc.routing.inbox() == []

    for agency in (DISTRICT_1, DISTRICT_2):
        with client.rpc(client.token("clerk", agency=agency)) as rpc:
            [arrival] = rpc.docs.incoming()
        assert (arrival["document_id"], arrival["arrival_number"], arrival["sender"]) == \
            (document_id, None, PROVINCE)  # số đến: given when the clerk accepts it

    with client.rpc(client.token("auditor", agency="000.00.00.G22")) as rpc:
        verdict = rpc.audit.verify()
    assert verdict["ok"] and verdict["entries"] == len(FLOW) + 1, verdict  # + the directory


def test_an_auditor_replays_reconciles_and_verifies_a_bundle_offline(stack, client, tmp_path):
    import json
    import subprocess
    import sys

    stack.start()
    response = client.register(client.token("clerk"), make_pdf("Chi thi so 2"))
    document_id = response.json()["document_id"]
    client.sign_seal_issue(document_id)
    auditor = client.token("auditor", agency="000.00.00.G22")

    def bundle_ready():
        with client.rpc(auditor) as rpc:
            bundle = rpc.audit.evidence_bundle(document_id)
        return len(bundle["entries"]) == len(FLOW) and bundle
    bundle = wait_for(bundle_ready, timeout=30, what="a checkpoint covering the whole flow")

    with client.rpc(auditor) as rpc:
        status = rpc.audit.status()
        verdict = rpc.audit.verify()
        reconciled = rpc.audit.reconcile()
        now = rpc.audit.document_state(document_id)
        registered_at = now["history"][0]["occurred_at"]
        before_signing = rpc.audit.document_state(document_id, at=registered_at)
        everything_then = rpc.audit.replay(at=registered_at)
    assert verdict["ok"] and verdict["entries"] == len(FLOW) + 1, verdict  # + the directory
    assert reconciled == {"documents": 1, "erased_documents": 0, "differences": []}
    assert now["state"]["signed"] and now["state"]["delivered_to"] == [DISTRICT_1, DISTRICT_2]
    assert not before_signing["state"]["signed"]
    assert [d["signed"] for d in everything_then["documents"]] == [False]
    assert before_signing["state"]["delivered_to"] == []
    assert now["state"]["signed_by"] == "leader@000.00.00.H41"
    with client.rpc(auditor) as rpc:
        [signing_row] = rpc.signing.state_summary()
    assert signing_row["key_id"] == now["state"]["key_id"] and signing_row["sealed"]

    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    offline = [sys.executable, "-m", "services.audit.verify_bundle", str(path),
               "--log-key", status["verifier_key"]]
    good = subprocess.run(offline, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "DocumentSigned" in good.stdout

    signed = next(e for e in bundle["entries"] if "signed_file" in e["data"])
    signed["data"]["key_id"] = "forged"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    bad = subprocess.run(offline, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert f"leaf {signed['leaf_index']}: data" in bad.stdout
