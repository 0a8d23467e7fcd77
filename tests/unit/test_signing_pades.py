"""PAdES signing (leader, agency seal, appendix) and offline verification.

Real certificates from the dev PKI, real PDFs, and a real RFC 3161 TSA
answering over HTTP on localhost.
"""

import io
import re
import shutil
import subprocess
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import SignatureCoverageLevel

from infra.samples import make_appendix_pdf, make_decree_pdf, make_pdf
from services.signing import appearance as looks
from services.signing import pades, pki, tsa, verification
from shared.errors import Conflict, ValidationFailed

NOW = datetime.now(UTC)
CODE = "000.00.00.H41"
AGENCY = "Ủy ban nhân dân tỉnh Nghệ An"


@pytest.fixture(scope="module")
def tsa_ca():
    return pki.create_root_ca("TSA Root (test)", NOW - timedelta(days=365),
                              NOW + timedelta(days=3650))


def _tsa_server(tsa_ca, clock=None):
    identity = tsa.issue_tsa_cert(tsa_ca, valid_from=NOW - timedelta(days=60))
    return tsa.TsaServer(tsa.TimeStampAuthority(identity, clock=clock))


@pytest.fixture(scope="module")
def tsa_url(tsa_ca):
    with _tsa_server(tsa_ca) as server:
        yield server.url


class CountingAuthority:
    """A TSA that counts the requests it answers."""

    def __init__(self, authority):
        self.authority = authority
        self.requests = 0

    def respond(self, request_der):
        self.requests += 1
        return self.authority.respond(request_der)


class Agency:
    """An agency's CA, its leader, its clerk and its own certificate."""

    def __init__(self, tsa_ca, code=CODE, name=AGENCY, **leader_validity):
        self.tsa_ca = tsa_ca
        self.ca = pki.create_root_ca(f"CA {code}", NOW - timedelta(days=365),
                                     NOW + timedelta(days=3650), crl_url="http://ca.test/crl")
        self.leader = pki.issue_personal_cert(self.ca, "Nguyễn Văn An", code, "leader",
                                              agency_name=name, **leader_validity)
        self.clerk = pki.issue_personal_cert(self.ca, "Lê Thị Bình", code, "clerk",
                                             agency_name=name)
        self.org = pki.issue_organisation_cert(self.ca, code, name)

    def verify(self, pdf, expected=None, crls=True, **kw):
        crl_list = [self.ca.crl(NOW + timedelta(days=7)),
                    self.tsa_ca.crl(NOW + timedelta(days=7))] if crls else []
        return verification.verify_pdf(pdf, [self.ca.certificate, self.tsa_ca.certificate],
                                       crl_list, expected or {"agency_code": CODE}, **kw)


@pytest.fixture
def agency(tsa_ca):
    return Agency(tsa_ca)


def _leader_signed(agency, tsa_url, pdf=None):
    return pades.sign_as_leader(pdf or make_pdf("Quyet dinh so 12"), agency.leader,
                                "Phó Chủ tịch", "Nguyễn Văn An", "KT.",
                                on_behalf_of="Chủ tịch", timestamper_url=tsa_url)


def _sealed(agency, tsa_url):
    return pades.seal_as_agency(_leader_signed(agency, tsa_url), agency.org,
                                timestamper_url=tsa_url)


def _failed(report):
    return {(c["check"], c["signature"]): c["detail"] for c in report["checks"] if not c["ok"]}


def test_leader_signature_then_agency_seal_verifies(agency, tsa_url):
    report = agency.verify(_sealed(agency, tsa_url))
    assert report["ok"], _failed(report)
    assert [(s["field"], s["role"]) for s in report["signatures"]] == [
        ("LeaderSignature", "leader"), ("AgencySeal", "agency")]
    assert all(s["time_source"] == "signature time stamp" for s in report["signatures"])
    per_signature = {c["check"] for c in report["checks"] if c["signature"] == "AgencySeal"}
    assert per_signature == {"integrity", "timestamp", "chain", "validity", "revocation",
                             "key_usage", "signer", "validation"}
    [order] = [c for c in report["checks"] if c["check"] == "order"]
    assert "LeaderSignature (leader) then AgencySeal (agency)" in order["detail"]


def test_the_seal_is_an_incremental_update_over_the_left_third_of_the_leader_box(
        agency, tsa_url):
    leader_signed = _leader_signed(agency, tsa_url)
    sealed = pades.seal_as_agency(leader_signed, agency.org, timestamper_url=tsa_url)
    assert sealed.startswith(leader_signed)  # the leader's revision is untouched
    reader = PdfFileReader(io.BytesIO(sealed))
    page = reader.find_page_for_modification(0)[0].get_object()
    rects = {a.get_object()["/T"]: [float(v) for v in a.get_object()["/Rect"]]
             for a in page["/Annots"]}
    lx1, _, lx2, _ = rects["LeaderSignature"]
    sx1, _, sx2, _ = rects["AgencySeal"]
    assert [lx1, lx2] == [pades.DEFAULT_BOX[0], pades.DEFAULT_BOX[2]]
    assert sx1 < lx1 < sx2 <= lx1 + (lx2 - lx1) / 3 + 1


def test_one_changed_byte_fails_integrity(agency, tsa_url):
    sealed = _sealed(agency, tsa_url)
    at = sealed.index(b"Quyet dinh so 12")
    tampered = sealed[:at] + b"q" + sealed[at + 1:]
    report = agency.verify(tampered)
    failed = _failed(report)
    assert not report["ok"]
    assert "the file was changed" in failed[("integrity", "LeaderSignature")]
    assert "the file was changed" in failed[("integrity", "AgencySeal")]


def test_certificate_revoked_before_signing_fails_revocation(agency, tsa_url):
    sealed = _sealed(agency, tsa_url)
    agency.ca.revoke(agency.leader.certificate.serial_number, NOW - timedelta(hours=1))
    report = agency.verify(sealed)
    failed = _failed(report)
    assert "revoked on" in failed[("revocation", "LeaderSignature")]
    assert "before the signing time" in failed[("revocation", "LeaderSignature")]
    assert ("revocation", "AgencySeal") not in failed


def test_certificate_revoked_after_signing_keeps_the_signature(agency, tsa_url):
    sealed = _sealed(agency, tsa_url)
    agency.ca.revoke(agency.leader.certificate.serial_number, datetime.now(UTC)
                     + timedelta(seconds=5))
    report = agency.verify(sealed)
    assert report["ok"], _failed(report)
    [check] = [c for c in report["checks"]
               if c["check"] == "revocation" and c["signature"] == "LeaderSignature"]
    assert "after the signing time" in check["detail"]


def test_without_crls_revocation_cannot_pass(agency, tsa_url):
    failed = _failed(agency.verify(_sealed(agency, tsa_url), crls=False))
    assert "no CRL signed by" in failed[("revocation", "LeaderSignature")]


def test_untrusted_root_fails_the_chain(agency, tsa_url, tsa_ca):
    stranger = Agency(tsa_ca)
    failed = _failed(stranger.verify(_sealed(agency, tsa_url)))
    assert "no path to a trusted root" in failed[("chain", "LeaderSignature")]


@pytest.mark.parametrize("validity, reason", [
    ({"valid_from": NOW - timedelta(days=20), "valid_to": NOW - timedelta(days=1)},
     "expired on"),
    ({"valid_from": NOW + timedelta(days=1), "valid_to": NOW + timedelta(days=20)},
     "not yet valid"),
])
def test_expired_or_not_yet_valid_certificate_is_refused_at_signing(
        tsa_ca, tsa_url, validity, reason):
    agency = Agency(tsa_ca, **validity)
    with pytest.raises(ValidationFailed, match=reason) as caught:
        _leader_signed(agency, tsa_url)
    assert caught.value.field == "certificate"


@pytest.mark.parametrize("shift, reason", [
    (timedelta(days=10), "had expired at the signing time"),
    (timedelta(days=-10), "was not yet valid at the signing time"),
])
def test_certificate_invalid_at_the_time_stamp_is_flagged(tsa_ca, shift, reason):
    # The TSA's clock says another day: the time stamp, not the wall clock,
    # is the signing time the verifier judges by.
    agency = Agency(tsa_ca, valid_from=NOW - timedelta(days=1), valid_to=NOW + timedelta(days=1))
    with _tsa_server(tsa_ca, clock=lambda: datetime.now(UTC) + shift) as server:
        signed = _leader_signed(agency, server.url)
    failed = _failed(agency.verify(signed, {"agency_code": CODE, "roles": ["leader"]}))
    assert reason in failed[("validity", "LeaderSignature")]


def test_wrong_agency_or_role_fails_naming_it(agency, tsa_url):
    sealed = _sealed(agency, tsa_url)
    failed = _failed(agency.verify(sealed, {"agency_code": "000.00.01.H41"}))
    assert "is not the document's agency 000.00.01.H41" in failed[("signer", "LeaderSignature")]
    failed = _failed(agency.verify(sealed, {"agency_code": CODE, "roles": ["agency", "leader"]}))
    assert "should be by the agency, but its certificate is a leader's" in failed[
        ("signer", "LeaderSignature")]
    assert "expected agency then leader" in failed[("order", None)]


def test_seal_without_a_leader_signature_is_refused(agency, tsa_url):
    with pytest.raises(Conflict, match="no signature") as caught:
        pades.seal_as_agency(make_pdf("Chua ky"), agency.org, timestamper_url=tsa_url)
    assert caught.value.field == "pdf"


def test_seal_over_another_agencys_leader_is_refused(agency, tsa_url, tsa_ca):
    other = Agency(tsa_ca, code="000.00.02.H41", name="Sở Tư pháp")
    with pytest.raises(Conflict, match="not for 000.00.02.H41"):
        pades.seal_as_agency(_leader_signed(agency, tsa_url), other.org, timestamper_url=tsa_url)


def test_seal_twice_is_refused_the_last_signature_must_be_the_leaders(agency, tsa_url):
    with pytest.raises(Conflict, match="is not the leader's"):
        pades.seal_as_agency(_sealed(agency, tsa_url), agency.org, timestamper_url=tsa_url)


def test_wrong_certificate_kinds_are_refused(agency, tsa_url):
    with pytest.raises(ValidationFailed, match="only a leader signs"):
        pades.sign_as_leader(make_pdf(), agency.clerk, "Chánh Văn phòng", "Lê Thị Bình",
                             timestamper_url=tsa_url)
    with pytest.raises(ValidationFailed, match="needs an organisation one"):
        pades.seal_as_agency(_leader_signed(agency, tsa_url), agency.leader,
                             timestamper_url=tsa_url)


@pytest.mark.parametrize("algorithm", ["rsa-2048", "rsa-3072"])
def test_rsa_keys_sign_and_verify_in_well_under_a_second(tsa_ca, tsa_url, algorithm):
    agency = Agency(tsa_ca, key_algorithm=algorithm)
    # RSA-3072 took 5-20 s in most signatures (asn1crypto, see asn1_dump): ten leader
    # signatures and seals would have taken minutes; they take about a second.
    started = time.process_time()
    for _ in range(10):
        sealed = _sealed(agency, tsa_url)
    assert time.process_time() - started < 20, "RSA signing is slow again"
    report = agency.verify(sealed)
    assert report["ok"], _failed(report)


def test_the_signature_image_is_blue_on_transparent():
    signature = looks.signature_image("Nguyễn Văn An")
    assert signature.mode == "RGBA" and signature.getpixel((0, 0))[3] == 0
    inked = [p for p in signature.get_flattened_data() if p[3] > 16]  # visible ink
    assert inked and all(p[2] > p[0] for p in inked)  # blue


def _tool(name):
    if shutil.which(name) is None:
        pytest.fail(f"{name} is missing: apt-get install poppler-utils")
    return name


def _run(*args):
    return subprocess.run([_tool(args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=60, check=True).stdout


def _embedded_fonts(path):
    """{font name: embedded?} as pdffonts lists them."""
    rows = _run("pdffonts", str(path)).splitlines()[2:]
    return {row.split()[0]: row.split()[-5] == "yes" for row in rows}


def test_the_seal_is_red_with_the_agency_name_in_an_embedded_font(agency, tsa_url, tmp_path):
    path = tmp_path / "sealed.pdf"
    path.write_bytes(_sealed(agency, tsa_url))
    text = _run("pdftotext", "-layout", str(path), "-")
    # the agency's name around the seal and the leader's lines, diacritics included
    assert "ỦY BAN NHÂN DÂN TỈNH NGHỆ AN" in text
    assert "KT. CHỦ TỊCH" in text and "PHÓ CHỦ TỊCH" in text and "Nguyễn Văn An" in text
    assert re.search(r"Thời gian ký: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", text)
    ours = {name: embedded for name, embedded in _embedded_fonts(path).items()
            if "DejaVuSerif" in name}
    assert ours and all(ours.values()), ours
    # the page at 72 dpi: one pixel a point, y from the top
    _run("pdftoppm", "-r", "72", "-png", "-singlefile", str(path), str(tmp_path / "page"))
    page = Image.open(tmp_path / "page.png").convert("RGB")
    reader = PdfFileReader(io.BytesIO(path.read_bytes()))
    rects = {a.get_object()["/T"]: [float(v) for v in a.get_object()["/Rect"]]
             for a in reader.find_page_for_modification(0)[0].get_object()["/Annots"]}
    height = page.height

    def pixels(rect):
        x1, y1, x2, y2 = (round(v) for v in rect)
        return list(page.crop((x1, height - y2, x2, height - y1)).get_flattened_data())

    def red(p):
        return p[0] > 150 and p[1] < 90 and p[2] < 90

    def blue(p):
        return p[2] > 150 and p[0] < 90

    seal, leader = pixels(rects["AgencySeal"]), pixels(rects["LeaderSignature"])
    assert sum(map(red, seal)) > len(seal) * 0.08  # ring, name and star
    assert sum(map(blue, leader)) > 100  # the signature
    outside = pixels((0, 300, 595, 842))  # the page above the signer block: untouched
    assert not any(map(red, outside)) and not any(map(blue, outside))


def test_a_deputy_for_the_committee_gets_three_lines_above_the_signature(agency, tsa_url,
                                                                          tmp_path):
    signed = pades.sign_as_leader(make_pdf("Quyet dinh so 13"), agency.leader, "Phó Chủ tịch",
                                  "Trần Thị Bình", "TM.", on_behalf_of="Ủy ban nhân dân",
                                  deputy_for="Chủ tịch", timestamper_url=tsa_url)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    lines = [line.strip() for line in _run("pdftotext", "-layout", str(path), "-").splitlines()]
    top = lines.index("TM. ỦY BAN NHÂN DÂN")
    assert lines[top + 1:top + 3] == ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"], lines
    assert agency.verify(signed, {"agency_code": CODE, "roles": ["leader"]})["ok"]


def test_appendix_gets_an_invisible_seal_and_the_number_at_the_top_right(agency, tsa_url,
                                                                           tmp_path):
    when = datetime(2025, 3, 5, 7, 30, tzinfo=UTC)
    signed = pades.seal_appendix(make_pdf("Phu luc"), agency.org, "12/QĐ-UBND", when,
                                 timestamper_url=tsa_url)
    reader = PdfFileReader(io.BytesIO(signed))
    [sig] = reader.embedded_regular_signatures
    widget = reader.find_page_for_modification(0)[0].get_object()["/Annots"][0].get_object()
    assert [float(v) for v in widget["/Rect"]] == [0, 0, 0, 0]  # invisible
    assert sig.field_name == pades.APPENDIX_FIELD
    # Đ is U+0110 (it was the Icelandic Ð of WinAnsi), the time is Vietnam time, and
    # the font is embedded (it was a non-embedded Times-Roman)
    path = tmp_path / "appendix.pdf"
    path.write_bytes(signed)
    lines = _run("pdftotext", "-layout", str(path), "-").splitlines()
    assert lines[0].strip() == "12/QĐ-UBND"
    assert lines[1].strip() == "2025-03-05T14:30:00+07:00"
    assert [embedded for name, embedded in _embedded_fonts(path).items()
            if "DejaVuSerif" in name] == [True]
    # at the top right: right-aligned 28 pt from the right edge, in the top margin
    [(_, _, y1, x2, _)] = [w for w in _words(path) if w[0] == "12/QĐ-UBND"]
    assert abs(x2 - (595 - 28)) < 1 and y1 < 20
    report = agency.verify(signed, {"agency_code": CODE, "roles": ["agency"]})
    assert report["ok"], _failed(report)


def _words(path):
    """(text, x1, y1, x2, y2) of every word pdftotext finds, y from the top."""
    found = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"'
                       r' yMax="([\d.]+)">([^<]*)</word>',
                       _run("pdftotext", "-bbox", str(path), "-"))
    return [(text, *map(float, box)) for *box, text in found]


@pytest.mark.parametrize("make, top", [
    (lambda: make_decree_pdf(kind="PHỤ LỤC"), ("CỘNG", "NAM", "Độc", "phúc")),  # the motto
    (make_appendix_pdf, ("PHỤ", "LỤC", "DANH", "DÂN")),  # an appendix's own heading
], ids=["decree-page", "appendix-page"])
def test_the_appendix_marks_cover_no_text_of_a_decree_30_page(agency, tsa_url, tmp_path,
                                                              make, top):
    path, page = tmp_path / "appendix.pdf", make()
    path.write_bytes(page)
    before = _words(path)
    path.write_bytes(pades.seal_appendix(page, agency.org, "12/QĐ-UBND", ISSUED_AT,
                                         timestamper_url=tsa_url))
    marks = [w for w in _words(path) if w not in before]
    assert [w[0] for w in marks] == ["12/QĐ-UBND", "2026-12-05T10:00:00+07:00"]
    assert len([w for w in before if w[0] in top]) == 4
    for _, x1, y1, x2, y2 in marks:
        for text, a1, b1, a2, b2 in before:  # no overlap with any word of the page
            assert x2 <= a1 or a2 <= x1 or y2 <= b1 or b2 <= y1, text


def test_a_text_that_is_not_a_pdf_is_refused(agency, tsa_url):
    with pytest.raises(ValidationFailed, match="not a PDF"):
        _leader_signed(agency, tsa_url, pdf=b"hello")


def test_pdfsig_reports_both_signatures_valid(agency, tsa_url, tmp_path):
    if shutil.which("pdfsig") is None:
        pytest.fail("pdfsig is missing: apt-get install poppler-utils")
    path = tmp_path / "signed.pdf"
    path.write_bytes(_sealed(agency, tsa_url))
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert "Signature #1" in out and "Signature #2" in out
    assert "Signature Field Name: LeaderSignature" in out
    assert "Signature Field Name: AgencySeal" in out
    assert out.count("Signature is Valid") == 2


# -- what is kept between signatures ---------------------------------------------------

@pytest.fixture
def counted_tsa(tsa_ca):
    """A TSA of its own (a URL no other test used), counting its requests."""
    identity = tsa.issue_tsa_cert(tsa_ca, valid_from=NOW - timedelta(days=60))
    counting = CountingAuthority(tsa.TimeStampAuthority(identity))
    with tsa.TsaServer(counting) as server:
        yield server.url, counting


def test_one_time_stamp_per_signature(agency, counted_tsa):
    url, counting = counted_tsa
    first = _leader_signed(agency, url)
    # the first signature with this TSA and key: a dummy token sizes it, then the real one
    assert counting.requests == 2
    for n in range(3):
        signed = _leader_signed(agency, url)
        assert counting.requests == 3 + n
    sealed = pades.seal_as_agency(signed, agency.org, timestamper_url=url)
    assert counting.requests == 6  # another key: sized from the dummy token already held
    for pdf, roles in ((first, ["leader"]), (sealed, ["leader", "agency"])):
        report = agency.verify(pdf, {"agency_code": CODE, "roles": roles})
        assert report["ok"], _failed(report)
    # the space pyHanko reserves when it sizes every signature itself (give or take the
    # few bytes a dummy token's serial number and ECDSA signature vary by)
    fresh = pades.sign_as_leader(make_pdf("Quyet dinh so 12"), agency.leader, "Phó Chủ tịch",
                                 "Nguyễn Văn An", "KT.", on_behalf_of="Chủ tịch",
                                 timestamper_url=pades.HTTPTimeStamper(url))
    assert abs(_reserved(fresh) - _reserved(signed)) <= 32


def _reserved(pdf):
    [sig] = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures
    _, start, end, _ = sig.byte_range
    return end - start


def test_a_signature_outgrowing_the_space_measured_is_signed_again(agency, counted_tsa):
    url, counting = counted_tsa
    _leader_signed(agency, url)
    [key] = [k for k in pades._RESERVED._items if k[0] == url]
    pades._RESERVED.pop(key)
    pades._RESERVED.get(key, lambda: 2000)  # as if the TSA's tokens had grown
    signed = _leader_signed(agency, url)
    report = agency.verify(signed, {"agency_code": CODE, "roles": ["leader"]})
    assert report["ok"], _failed(report)
    assert _reserved(signed) > 2002
    assert pades._RESERVED.get(key, lambda: None) is None  # forgotten: measured next time


def test_signature_images_and_font_subsets_are_made_once(tsa_ca, counted_tsa, monkeypatch):
    url, _ = counted_tsa
    monkeypatch.setattr(looks, "DRAWN", looks.Lru(256))
    for font in (looks.REGULAR, looks.BOLD):
        monkeypatch.setattr(font, "subsets", looks.Lru(64))
    made = []
    draw, subset = looks.signature_image, looks._Subset
    monkeypatch.setattr(looks, "signature_image", lambda *a: (made.append("image"), draw(*a))[1])
    monkeypatch.setattr(looks, "_Subset", lambda *a: (made.append("font"), subset(*a))[1])
    agency, other = Agency(tsa_ca), Agency(tsa_ca, code="000.00.01.H41", name="Sở Nội vụ")
    for _ in range(3):  # the signing time changes, its digits are in every subset
        pades.seal_as_agency(_leader_signed(agency, url), agency.org, timestamper_url=url)
    # the leader's image, the leader's bold and regular text, the seal's name
    assert made == ["image", "font", "font", "font"]
    pades.seal_as_agency(pades.sign_as_leader(
        make_pdf("x"), other.leader, "Giám đốc", "Trần Văn Cường", timestamper_url=url),
        other.org, timestamper_url=url)
    # its own image, bold lines and seal; the time line's subset is the first one's
    assert made == ["image", "font", "font", "font"] + ["image", "font", "font"]


def test_an_appearance_is_the_image_pyhanko_would_embed():
    image = looks.signature_image("Nguyễn Văn An")
    ours = looks.ImageStreams(image).add_to(PdfFileWriter()).get_object()
    theirs = pil_image(image, PdfFileWriter()).get_object()
    for stream, mask in ((ours, ours["/SMask"].get_object()),
                         (theirs, theirs["/SMask"].get_object())):
        assert stream.data == image.convert("RGB").tobytes()
        assert mask.data == image.getchannel("A").tobytes()
    assert {k: v for k, v in ours.items() if k != "/SMask"} == {
        k: v for k, v in theirs.items() if k != "/SMask"}


def test_the_lru_keeps_the_most_recently_used():
    lru = looks.Lru(2)
    lru.get("a", lambda: 1)
    lru.get("b", lambda: 2)
    lru.get("a", lambda: "made again")  # a is now the most recent
    lru.get("c", lambda: 3)             # b goes
    assert len(lru) == 2
    assert lru.get("a", lambda: "made again") == 1
    assert lru.get("b", lambda: "made again") == "made again"


# -- the number and date, given at the leader's signature, under the agency's seal --------

ISSUED_AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam


def test_the_number_and_date_are_written_in_the_seals_revision(agency, tsa_url, tmp_path):
    signed = _leader_signed(agency, tsa_url, pdf=make_decree_pdf())
    sealed = pades.seal_as_agency(signed, agency.org, timestamper_url=tsa_url,
                                  number_notation="12/QĐ-UBND", issued_at=ISSUED_AT)
    before, after = tmp_path / "signed.pdf", tmp_path / "sealed.pdf"
    before.write_bytes(signed)
    after.write_bytes(sealed)
    text = _run("pdftotext", "-layout", str(after), "-")
    assert re.search(r"^Số: 12/QĐ-UBND +Nghệ An, ngày 05 tháng 12 năm 2026$", text, re.M), text
    leader, seal = _numbered_under_the_seal(agency, signed, sealed, before)
    assert seal.field_name == "AgencySeal"
    assert seal.signed_revision == leader.signed_revision + 1 == 2

    def values(pdf):
        return {str(f.get_object()["/T"]): str(f.get_object().get("/V", ""))
                for f in PdfFileReader(io.BytesIO(pdf)).root["/AcroForm"]["/Fields"]}
    assert values(sealed)[looks.NUMBER_FIELD] == "Số: 12/QĐ-UBND"
    assert values(sealed)[looks.DATE_FIELD] == "ngày 05 tháng 12 năm 2026"
    assert values(signed)[looks.NUMBER_FIELD] == values(signed)[looks.DATE_FIELD] == ""


def test_verification_checks_the_number_and_date_against_the_register(agency, tsa_url):
    sealed = pades.seal_as_agency(_leader_signed(agency, tsa_url, pdf=make_decree_pdf()),
                                  agency.org, timestamper_url=tsa_url,
                                  number_notation="12/QĐ-UBND", issued_at=ISSUED_AT)
    register = {"agency_code": CODE, "number_notation": "12/QĐ-UBND",
                "issued_on": date(2026, 12, 5)}
    report = agency.verify(sealed, register)
    assert report["ok"], _failed(report)
    [number] = [c for c in report["checks"] if c["check"] == "number"]
    assert number["detail"] == ("the document reads 'Số: 12/QĐ-UBND' and 'ngày 05 tháng 12"
                                " năm 2026', as the register does")
    wrong = agency.verify(sealed, {**register, "number_notation": "13/QĐ-UBND",
                                   "issued_on": date(2026, 12, 6)})
    assert not wrong["ok"]
    assert _failed(wrong) == {("number", None): (
        "the document's SoKyHieu reads 'Số: 12/QĐ-UBND', the register 'Số: 13/QĐ-UBND';"
        " the document's NgayBanHanh reads 'ngày 05 tháng 12 năm 2026', the register"
        " 'ngày 06 tháng 12 năm 2026'")}
    # sealed without its number: the fields the leader's revision made stay empty
    unnumbered = agency.verify(_sealed(agency, tsa_url), register)
    assert "the document's SoKyHieu reads ''" in _failed(unnumbered)[("number", None)]


def test_changing_the_page_after_the_leader_breaks_the_certification(agency, tsa_url):
    signed = _leader_signed(agency, tsa_url, pdf=make_decree_pdf())
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    looks.write_top_right(writer, ["Số: 13/QĐ-UBND"])  # drawn on the page, not a field
    out = io.BytesIO()
    writer.write(out)
    report = agency.verify(out.getvalue(), {"agency_code": CODE, "roles": ["leader"]})
    assert not report["ok"]
    assert ("integrity", "LeaderSignature") in _failed(report)


@pytest.mark.parametrize("month, line", [(1, "ngày 05 tháng 01 năm 2026"),
                                         (3, "ngày 05 tháng 3 năm 2026"),
                                         (11, "ngày 05 tháng 11 năm 2026")])
def test_the_date_line_as_decree_30_writes_it(month, line):
    assert looks.date_line(date(2026, month, 5)) == line


def test_a_number_without_its_fields_or_time_is_refused(agency, tsa_url, monkeypatch):
    # a leader's revision that made no number fields (signed before it did)
    monkeypatch.setattr(looks, "add_number_fields", lambda writer: [])
    signed = _leader_signed(agency, tsa_url)
    monkeypatch.undo()
    with pytest.raises(Conflict) as caught:
        pades.seal_as_agency(signed, agency.org, timestamper_url=tsa_url,
                             number_notation="12/QĐ-UBND", issued_at=ISSUED_AT)
    assert caught.value.field == "pdf" and "SoKyHieu, NgayBanHanh" in str(caught.value)
    with pytest.raises(ValidationFailed) as caught:
        pades.seal_as_agency(_leader_signed(agency, tsa_url, pdf=make_decree_pdf()),
                             agency.org, timestamper_url=tsa_url,
                             number_notation="12/QĐ-UBND", issued_at=datetime(2026, 12, 5))
    assert caught.value.field == "issued_at"


def _text_boxes(path):
    """(word, x1, y1, x2, y2) of page one's words as pdftotext sees them, in PDF
    points from the bottom left."""
    html = _run("pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-")
    height = float(re.search(r'<page width="[\d.]+" height="([\d.]+)"', html).group(1))
    return [(w, float(x1), height - float(y2), float(x2), height - float(y1))
            for x1, y1, x2, y2, w in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                r"([^<]*)</word>", html)]


def _numbered_under_the_seal(agency, signed, sealed, before, register=None):
    """The checks every number-under-the-seal test makes: the signed PDF bore no
    number, the leader's revision is untouched and certified for form filling only
    (pyHanko finds only that after it: the number, the date and the seal), our
    verifier accepts the whole (against ``register``'s entry if given) and the
    seal covers the whole file. The two embedded signatures."""
    assert "12/QĐ-UBND" not in _run("pdftotext", "-layout", str(before), "-")
    assert sealed.startswith(signed)
    report = agency.verify(sealed, register) if register else agency.verify(sealed)
    assert report["ok"], _failed(report)
    integrity = {c["signature"]: c["detail"] for c in report["checks"]
                 if c["check"] == "integrity"}
    assert "modification level: form filling" in integrity["LeaderSignature"]
    leader, seal = PdfFileReader(io.BytesIO(sealed)).embedded_signatures
    assert leader.docmdp_level == MDPPerm.FILL_FORMS
    assert seal.evaluate_signature_coverage() == SignatureCoverageLevel.ENTIRE_FILE
    return leader, seal


@pytest.mark.parametrize("layout", ["plain", "decree"])
def test_any_document_gets_its_number_place_and_date_under_the_seal(agency, tsa_url, tmp_path,
                                                                     layout):
    """A document that reserves no fields (any PDF) gets them from the leader's
    revision, in page one's top margin; the seal's revision fills them: the
    leader's signature holds (form filling only), the seal covers the number,
    and nothing is drawn over the page's text."""
    pdf = make_pdf("Quyet dinh so 12") if layout == "plain" else make_decree_pdf(
        agency=("ỦY BAN NHÂN DÂN", "TỈNH NGHỆ AN"), place="Nghệ An")
    if layout == "decree":  # a laid-out page whose template reserved nothing
        pdf = _without_form(pdf)
    signed = _leader_signed(agency, tsa_url, pdf=pdf)
    sealed = pades.seal_as_agency(signed, agency.org, timestamper_url=tsa_url,
                                  number_notation="12/QĐ-UBND", issued_at=ISSUED_AT,
                                  place="Nghệ An")
    before, after, original = (tmp_path / n for n in ("signed.pdf", "sealed.pdf", "in.pdf"))
    before.write_bytes(signed)
    after.write_bytes(sealed)
    original.write_bytes(pdf)
    text = _run("pdftotext", "-layout", "-f", "1", "-l", "1", str(after), "-")
    assert "Số: 12/QĐ-UBND" in text, text
    assert "Nghệ An, ngày 05 tháng 12 năm 2026" in text, text
    _numbered_under_the_seal(agency, signed, sealed, before, {
        "agency_code": CODE, "number_notation": "12/QĐ-UBND",
        "issued_on": date(2026, 12, 5), "place": "Nghệ An"})
    pdfsig = subprocess.run([_tool("pdfsig"), str(after)], capture_output=True, text=True,
                            timeout=60).stdout
    assert pdfsig.count("Signature is Valid") == 2, pdfsig
    # the fields sit where the page has no text
    fields = {str(f.get_object()["/T"]): [float(v) for v in f.get_object()["/Rect"]]
              for f in PdfFileReader(io.BytesIO(sealed)).root["/AcroForm"]["/Fields"]}
    words = _text_boxes(original)
    assert words
    for name in (looks.NUMBER_FIELD, looks.PLACE_DATE_FIELD):
        x1, y1, x2, y2 = fields[name]
        over = [w for w, a1, b1, a2, b2 in words if a1 < x2 and x1 < a2 and b1 < y2 and y1 < b2]
        assert over == [], (name, over)


def _without_form(pdf):
    """``pdf`` with its AcroForm and widgets dropped: a page that reserves nothing."""
    from pyhanko.pdf_utils import generic

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    del writer.root["/AcroForm"]
    writer.update_root()
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    page[generic.pdf_name("/Annots")] = generic.ArrayObject()
    writer.update_container(page)
    writer.mark_update(page_ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
