"""Copies through the gateway (Decree 30 Art. 25-28): a sao y and a trích sao of an
issued document, numbered per form from 01, registered, downloaded and checked
(pyHanko: the original signatures intact beside the agency's new one); a
refused request changes nothing and uses no number."""

import hashlib
import io
import subprocess
import uuid

import pytest
import requests
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.e2e.test_gateway import USERS, until_ok
from tests.support.client import DISTRICT_1, PROVINCE
from tests.support.gateway import Api, seed_file
from tests.support.pdf import make_pdf
from tests.e2e.test_web import post, session

pytestmark = pytest.mark.e2e


@pytest.fixture
def gateway(stack, platform, tmp_path):
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start()
    return Api(platform.gateway_url)


def issued_document(api):
    registered = api.register("van.thu", make_pdf("Chi thi se duoc sao"))
    assert registered.status_code == 201, registered.text
    doc = f"/v1/documents/{registered.json()['document_id']}"
    assert api.post("van.thu", doc + "/submit", {"signer_user": "chu.tich"}).status_code == 200
    until_ok(lambda: api.post("chu.tich", doc + "/sign"), "signing to receive the submission")
    until_ok(lambda: api.post("van.thu", doc + "/seal"), "signing to learn the number")
    issued = until_ok(lambda: api.post("van.thu", doc + "/issue"), "docs to learn of the seal")
    return doc, issued.json()["number_notation"]


def download(api, doc, made):
    url = api.get("van.thu", f"{doc}/copies/{made['copy_id']}/file")
    assert url.status_code == 200, url.text
    data = requests.get(url.json()["url"], timeout=30).content
    assert hashlib.sha256(data).hexdigest() == made["file"]["sha256"]
    return data


def text_of(pdf, tmp_path):
    path = tmp_path / "copy.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout


def signatures(api, pdf):
    """{field: pyHanko's status}, against the platform's root (the trust anchor)."""
    anchor = api.get("van.thu", "/v1/trust-anchor").json()
    _, _, der = pem.unarmor(anchor["root_certificate"].encode())
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(der)],
                                allow_fetching=False, revocation_mode="soft-fail")
    reader = PdfFileReader(io.BytesIO(pdf))
    return {s.field_name: validate_pdf_signature(s, context)
            for s in reader.embedded_regular_signatures}


def test_a_sao_y_and_a_trich_sao_of_an_issued_document(gateway, tmp_path):
    api = gateway
    doc, notation = issued_document(api)
    original = requests.get(api.get("van.thu", doc + "/file").json()["url"], timeout=30).content

    sao_y = api.post("van.thu", doc + "/copies", {"form": "SY"})
    assert sao_y.status_code == 201, sao_y.text
    sao_y = sao_y.json()
    assert (sao_y["form"], sao_y["number"], sao_y["number_notation"]) == ("SY", 1,
                                                                          "01/SY-UBND")
    pdf = download(api, doc, sao_y)
    assert pdf.startswith(original)  # the issued file, added to
    text = text_of(pdf, tmp_path)
    assert "SAO Y" in text and "Số: 01/SY-UBND" in text and sao_y["copied_at"][:19] in text
    statuses = signatures(api, pdf)
    assert list(statuses) == ["LeaderSignature", "AgencySeal", "BanSao"]
    for field, status in statuses.items():
        assert status.intact and status.valid, (field, status.pretty_print_details())

    extract = api.post("van.thu", doc + "/copies", {"form": "TrS", "pages": [1]})
    assert extract.status_code == 201, extract.text
    extract = extract.json()
    assert (extract["number_notation"], extract["pages"]) == ("01/TrS-UBND", [1])
    pdf = download(api, doc, extract)
    text = text_of(pdf, tmp_path)
    assert "TRÍCH SAO" in text and "Số: 01/TrS-UBND" in text and notation in text
    [(field, status)] = signatures(api, pdf).items()
    assert field == "BanSao" and status.intact and status.valid

    # Refused, each naming its field: nothing stored, no number used.
    refusals = [("van.thu", {"form": "TrS", "pages": [2]}, 400, "pages"),
                ("van.thu", {"form": "XY"}, 400, "form"),
                ("van.thu", {"form": "SY", "pages": [1]}, 400, "pages"),
                ("van.thu", {"form": "SL"}, 400, "source_copy"),
                ("chu.tich", {"form": "SY"}, 403, "role"),
                ("van.thu.h3", {"form": "SY", "agency_abbreviation": "UBND"}, 404,
                 "document_id")]
    for user, body, status, field in refusals:
        refused = api.post(user, doc + "/copies", body)
        assert refused.status_code == status, (body, refused.text)
        assert refused.json()["error"]["field"] == field, refused.text
    listed = api.get("van.thu", doc + "/copies")
    assert listed.status_code == 200, listed.text
    assert [c["number_notation"] for c in listed.json()] == ["01/SY-UBND", "01/TrS-UBND"]
    again = api.post("van.thu", doc + "/copies", {"form": "TrS", "pages": [1]})
    assert again.json()["number_notation"] == "02/TrS-UBND", again.text

    # A sao lục, made from the sao y.
    sao_luc = api.post("van.thu", doc + "/copies", {"form": "SL",
                                                    "source_copy": sao_y["copy_id"]})
    assert sao_luc.status_code == 201, sao_luc.text
    assert sao_luc.json()["number_notation"] == "01/SL-UBND"
    statuses = signatures(api, download(api, doc, sao_luc.json()))
    assert list(statuses) == ["LeaderSignature", "AgencySeal", "BanSao", "BanSao1"]
    assert all(s.intact and s.valid for s in statuses.values())

    # A recipient copies once it accepted the document: its own key, its own series.
    document_id = doc.rsplit("/", 1)[1]
    early = api.post("van.thu.h1", doc + "/copies", {"form": "SY"})
    assert early.status_code in (404, 409), early.text  # not arrived, or not accepted yet
    until_ok(lambda: api.post("van.thu.h1", f"/v1/incoming/{document_id}/accept", {}),
             "the district's arrival")
    theirs = api.post("van.thu.h1", doc + "/copies", {"form": "SY"})
    assert theirs.status_code == 400, theirs.text
    assert theirs.json()["error"]["field"] == "agency_abbreviation"
    theirs = api.post("van.thu.h1", doc + "/copies",
                      {"form": "SY", "agency_abbreviation": "UBND"})
    assert theirs.status_code == 201, theirs.text
    assert (theirs.json()["number_notation"], theirs.json()["agency"]) == (
        "01/SY-UBND", DISTRICT_1)
    url = api.get("van.thu.h1", f"{doc}/copies/{theirs.json()['copy_id']}/file").json()["url"]
    statuses = signatures(api, requests.get(url, timeout=30).content)
    assert list(statuses) == ["LeaderSignature", "AgencySeal", "BanSao"]
    assert all(s.intact and s.valid for s in statuses.values())
    assert [c["agency"] for c in api.get("van.thu.h1", doc + "/copies").json()] == [DISTRICT_1]

    # The platform verifies each copy: the original's signers, then the copying agency.
    made = {c["number_notation"]: c for c in api.get("van.thu", doc + "/copies").json()}
    for notation_, count in (("01/SY-UBND", 3), ("01/TrS-UBND", 1), ("01/SL-UBND", 4)):
        verdict = api.get("van.thu", f"{doc}/copies/{made[notation_]['copy_id']}/verify")
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["ok"], [c for c in verdict.json()["pdf"]["checks"] if not c["ok"]]
        signers = [g["agency_code"] for g in verdict.json()["pdf"]["signatures"]]
        assert signers == [PROVINCE] * count, signers
    theirs_verdict = api.get("van.thu.h1", f"{doc}/copies/{theirs.json()['copy_id']}/verify")
    assert theirs_verdict.json()["ok"], theirs_verdict.text
    assert [g["agency_code"] for g in theirs_verdict.json()["pdf"]["signatures"]] == [
        PROVINCE, PROVINCE, DISTRICT_1]
    # Another agency's copy is not shown to verify, nor an unknown one.
    assert api.get("van.thu", f"{doc}/copies/{theirs.json()['copy_id']}/verify"
                   ).status_code == 404
    assert api.get("van.thu", f"{doc}/copies/{uuid.uuid4()}/verify").status_code == 404

    register = api.get("van.thu", "/v1/registers/copies")
    assert register.status_code == 200, register.text
    assert [(r["number_notation"], r["form"]) for r in register.json()] == [
        ("01/SY-UBND", "Sao y"), ("01/TrS-UBND", "Trích sao"), ("02/TrS-UBND", "Trích sao"),
        ("01/SL-UBND", "Sao lục")]


def test_the_clerk_copies_from_the_document_page(gateway, platform):
    api, url = gateway, platform.gateway_url
    doc, _ = issued_document(api)
    page_of = "/web" + doc.removeprefix("/v1")
    browser = session(url, "van.thu")
    page = browser.get(f"{url}{page_of}", timeout=30)
    assert page.status_code == 200 and "Sao văn bản" in page.text, page.text[:2000]
    refused = post(browser, url, f"{page_of}/copy", {"copy_form": "TrS", "copy_pages": "5"})
    assert refused.status_code == 400, refused.text[:2000]
    assert "Trường: Trang trích sao" in refused.text and "outside a 1-page" in refused.text
    made = post(browser, url, f"{page_of}/copy", {"copy_form": "TrS", "copy_pages": "1"})
    assert made.status_code == 303 and made.headers["Location"].endswith("?ok=copy"), made.text
    page = browser.get(f"{url}{page_of}?ok=copy", timeout=30)
    assert "Đã sao văn bản." in page.text and "01/TrS-UBND" in page.text
    [copy_id] = [c["copy_id"] for c in api.get("van.thu", doc + "/copies").json()]
    download = browser.get(f"{url}{page_of}/copies/{copy_id}/file", allow_redirects=False,
                           timeout=30)
    assert download.status_code == 302
    assert requests.get(download.headers["Location"], timeout=30).content.startswith(b"%PDF-")
