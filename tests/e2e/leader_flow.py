"""The steps the leader-device tests share: a document submitted to the
leader, and, once they have signed it, sealed, issued, delivered and checked
by the recipient with our verifier (pyHanko) and poppler's pdfsig."""

import subprocess

import requests

from tests.e2e.test_signatures import tool
from tests.support.client import DISTRICT_1, wait_for
from tests.support.pdf import make_pdf


def submitted(client, leader="chu.tich"):
    """A draft registered by the clerk and submitted to ``leader``."""
    response = client.register(client.token("clerk"), make_pdf("Chi thi"))
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    with client.rpc(client.token("clerk")) as rpc:
        rpc.docs.submit(document_id, leader)
    return document_id


def issued_and_verified(client, document_id, tmp_path, leader_name="Nguyễn Văn An"):
    """The clerk seals and issues the signed document; the recipient's copy
    verifies, the leader's signature first, and pdfsig accepts both."""
    with client.rpc(client.token("clerk")) as rpc:
        wait_for(lambda: rpc.docs.get_document(document_id)["state"] == "signed",
                 what="docs to follow the signature")
        wait_for(lambda: rpc.signing.seal_document(document_id),
                 what="signing to learn the number given at the signature")
        wait_for(lambda: rpc.docs.get_document(document_id)["state"] == "sealed",
                 what="docs to follow the seal")
        rpc.docs.issue(document_id)
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        url = wait_for(lambda: rpc.docs.file_url(document_id), what="the delivery")
        verdict = rpc.signing.verify_document(document_id)   # pyHanko, the platform CA
    assert verdict["ok"], verdict
    leader_signature = verdict["pdf"]["signatures"][0]
    assert leader_signature["role"] == "leader" and leader_name in leader_signature["signer"]
    pdf = tmp_path / "signed.pdf"
    pdf.write_bytes(requests.get(url, timeout=30).content)
    out = subprocess.run([tool("pdfsig", "poppler-utils"), str(pdf)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.count("Signature is Valid") == 2 and "LeaderSignature" in out, out
    return verdict
