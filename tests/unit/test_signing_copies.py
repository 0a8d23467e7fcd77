"""Electronic copies (Decree 30 Art. 25-28): sao y, sao lục, trích sao.

Real certificates from the dev PKI, real PDFs, a real RFC 3161 TSA on
localhost; the mark read back with pdftotext, the signatures with pyHanko.
"""

import io
from datetime import UTC, datetime, timedelta

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from infra.samples import make_decree_pdf, make_pdf
from services.signing import pades, verification
from services.signing import pki
from shared.errors import ValidationFailed
from tests.unit.test_signing_pades import CODE, NOW, Agency, _run, _tsa_server, _words

WHEN = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam


@pytest.fixture(scope="module")
def tsa_ca():
    return pki.create_root_ca("TSA Root (test)", NOW - timedelta(days=365),
                              NOW + timedelta(days=3650))


@pytest.fixture(scope="module")
def tsa_url(tsa_ca):
    with _tsa_server(tsa_ca) as server:
        yield server.url


@pytest.fixture(scope="module")
def agency(tsa_ca):
    return Agency(tsa_ca)


@pytest.fixture(scope="module")
def final(agency, tsa_url):
    """An issued document: the leader's signature, then the seal over number and date."""
    signed = pades.sign_as_leader(make_decree_pdf(), agency.leader, "Chủ tịch",
                                  "Nguyễn Văn An", timestamper_url=tsa_url)
    return pades.seal_as_agency(signed, agency.org, timestamper_url=tsa_url,
                                number_notation="12/QĐ-UBND", issued_at=WHEN,
                                place="Nghệ An")


ACROBAT = verification.ACROBAT_DIFF_POLICY


def _statuses(agency, pdf, diff_policy=None):
    roots = [agency.ca.certificate, agency.tsa_ca.certificate]
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(
        c.public_bytes(serialization.Encoding.DER)) for c in roots],
        allow_fetching=False, revocation_mode="soft-fail")
    reader = PdfFileReader(io.BytesIO(pdf))
    return {sig.field_name: validate_pdf_signature(sig, context, diff_policy=diff_policy)
            for sig in reader.embedded_regular_signatures}


def test_a_sao_y_keeps_the_original_signatures_and_adds_the_agencys(agency, tsa_url, final,
                                                                    tmp_path):
    copy = pades.copy_document(final, agency.org, "SY", "01/SY-UBND", WHEN,
                               timestamper_url=tsa_url)
    assert copy.startswith(final)  # an incremental update: the original's bytes untouched
    statuses = _statuses(agency, copy)
    assert list(statuses) == ["LeaderSignature", "AgencySeal", "BanSao"]
    for name, status in statuses.items():
        assert status.intact and status.valid, name
    # the copy's signature covers the whole file; the seal's revision is only added to
    # by a signature (form filling, what the leader's certification allows)
    assert statuses["BanSao"].modification_level == ModificationLevel.NONE
    assert statuses["AgencySeal"].modification_level == ModificationLevel.FORM_FILLING
    assert statuses["AgencySeal"].docmdp_ok
    # The leader's certification (form filling): kept as Acrobat reads it; pyHanko's
    # strict default counts the copy's visible field as a change of another kind.
    leader = _statuses(agency, copy, ACROBAT)["LeaderSignature"]
    assert leader.docmdp_ok and leader.modification_level == ModificationLevel.FORM_FILLING
    assert statuses["LeaderSignature"].modification_level == ModificationLevel.OTHER
    # The platform's verification of a copy reads it so, and names each signer.
    expected = {"agencies": [CODE] * 3, "roles": ["leader", "agency", "agency"]}
    report = agency.verify(copy, {**expected, "new_visible_fields": True})
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    strict = agency.verify(copy, expected)
    assert [(c["check"], c["signature"]) for c in strict["checks"] if not c["ok"]] == [
        ("integrity", "LeaderSignature"), ("validation", "LeaderSignature")]
    path = tmp_path / "copy.pdf"
    path.write_bytes(copy)
    lines = [line.strip() for line in _run("pdftotext", "-layout", str(path), "-").splitlines()]
    top = lines.index("SAO Y")
    assert lines[top:top + 4] == ["SAO Y", "Ủy ban nhân dân tỉnh Nghệ An", "Số: 01/SY-UBND",
                                  "2026-12-05T10:00:00+07:00"], lines[:8]


def test_the_mark_is_at_the_top_right_and_covers_no_text(agency, tsa_url, final, tmp_path):
    before, after = tmp_path / "final.pdf", tmp_path / "copy.pdf"
    before.write_bytes(final)
    after.write_bytes(pades.copy_document(final, agency.org, "SY", "01/SY-UBND", WHEN,
                                          timestamper_url=tsa_url))
    words = _words(before)
    marks = [w for w in _words(after) if w not in words]
    assert " ".join(w[0] for w in marks) == ("SAO Y Ủy ban nhân dân tỉnh Nghệ An Số:"
                                             " 01/SY-UBND 2026-12-05T10:00:00+07:00")
    assert max(w[3] for w in marks) == pytest.approx(595 - pades.COPY_RIGHT, abs=1)
    assert min(w[2] for w in marks) < 10  # in the top margin
    for _, x1, y1, x2, y2 in marks:
        for text, a1, b1, a2, b2 in words:
            assert x2 <= a1 or a2 <= x1 or y2 <= b1 or b2 <= y1, text


def test_a_mark_goes_below_the_number_fields_made_in_the_top_margin(agency, tsa_url):
    signed = pades.sign_as_leader(make_pdf("Cong van"), agency.leader, "Chủ tịch",
                                  "Nguyễn Văn An", timestamper_url=tsa_url)
    sealed = pades.seal_as_agency(signed, agency.org, timestamper_url=tsa_url,
                                  number_notation="13/UBND-VP", issued_at=WHEN)
    copy = pades.copy_document(sealed, agency.org, "SY", "02/SY-UBND", WHEN,
                               timestamper_url=tsa_url)
    page = PdfFileReader(io.BytesIO(copy)).find_page_for_modification(0)[0].get_object()
    rects = {str(a.get_object().get("/T")): [float(v) for v in a.get_object()["/Rect"]]
             for a in page["/Annots"]}
    mark, place_date = rects["BanSao"], rects["DiaDanhNgay"]
    assert mark[3] <= place_date[1]  # below the place and date, not over them


def test_a_trich_sao_is_a_new_pdf_of_the_pages_chosen(agency, tsa_url, final, tmp_path):
    copy = pades.copy_document(final, agency.org, "TrS", "01/TrS-UBND", WHEN, pages=[1],
                               timestamper_url=tsa_url)
    statuses = _statuses(agency, copy)
    assert list(statuses) == ["BanSao"]  # the original's signatures do not cover an extract
    assert statuses["BanSao"].intact and statuses["BanSao"].valid
    path = tmp_path / "extract.pdf"
    path.write_bytes(copy)
    text = _run("pdftotext", "-layout", str(path), "-")
    assert "TRÍCH SAO" in text and "Số: 01/TrS-UBND" in text
    # the page as issued: its text, and the number written in its field
    assert "QUYẾT ĐỊNH" in text and "12/QĐ-UBND" in text


def test_pages_are_checked_against_the_document(agency, tsa_url, final):
    for pages, wanted in (([], "needs the pages"), ([0], "outside a 1-page"),
                          ([2], "outside a 1-page"), ([1, 1], "named twice"),
                          (["1"], "whole numbers"), (None, "needs the pages")):
        with pytest.raises(ValidationFailed, match=wanted) as refused:
            pades.copy_document(final, agency.org, "TrS", "01/TrS-UBND", WHEN, pages=pages,
                                timestamper_url=tsa_url)
        assert refused.value.field == "pages"
    with pytest.raises(ValidationFailed, match="only a trích sao") as refused:
        pades.copy_document(final, agency.org, "SY", "01/SY-UBND", WHEN, pages=[1],
                            timestamper_url=tsa_url)
    assert refused.value.field == "pages"
    with pytest.raises(ValidationFailed, match="not a copy form") as refused:
        pades.copy_document(final, agency.org, "XX", "01/XX-UBND", WHEN,
                            timestamper_url=tsa_url)
    assert refused.value.field == "form"
    with pytest.raises(ValidationFailed) as refused:  # a leader's key does not copy
        pades.copy_document(final, agency.leader, "SY", "01/SY-UBND", WHEN,
                            timestamper_url=tsa_url)
    assert refused.value.field == "certificate"


def test_a_sao_luc_is_made_from_a_sao_y(agency, tsa_url, final):
    sao_y = pades.copy_document(final, agency.org, "SY", "01/SY-UBND", WHEN,
                                timestamper_url=tsa_url)
    sao_luc = pades.copy_document(sao_y, agency.org, "SL", "01/SL-UBND", WHEN,
                                  timestamper_url=tsa_url)
    statuses = _statuses(agency, sao_luc)
    assert list(statuses) == ["LeaderSignature", "AgencySeal", "BanSao", "BanSao1"]
    assert all(s.intact and s.valid for s in statuses.values())
    page = PdfFileReader(io.BytesIO(sao_luc)).find_page_for_modification(0)[0].get_object()
    rects = {str(a.get_object().get("/T")): [float(v) for v in a.get_object()["/Rect"]]
             for a in page["/Annots"]}
    assert rects["BanSao1"][3] <= rects["BanSao"][1]  # under the sao y's mark
