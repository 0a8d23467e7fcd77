"""PAdES signatures the way Decree 30/2020 lays them out.

A document is valid with two signatures, in this order:

1. :func:`sign_as_leader` — the leader's personal signature, visible: the
   competence and position lines, a blue signature image, the full name and
   the signing time. It certifies the document allowing form filling only
   (DocMDP P=2), with the seal's field made, empty, in the same revision;
2. :func:`seal_as_agency` — the agency's signature, added by the clerk as
   an incremental update only on a document the leader has signed; its
   appearance is a red round seal with the agency's name, over the left
   third of the leader's box. Given the number and issue time, the same
   revision writes them into the document's number and date fields.

What they look like is drawn by :mod:`services.signing.appearance`.

An appendix in its own file gets only the agency's signature, invisible
(:func:`seal_appendix`), with the number/notation and the signing time
written at the top right of page one.

Every signature is PAdES B-T: CMS with the certificate chain embedded and a
signature time stamp (RFC 3161) from the TSA at the given URL. Given
``long_term`` (:class:`longterm.LongTerm`: the trust roots and the current
CRLs) it is PAdES B-LT, its revision holding in the document's security store
(DSS) the signer's chain, the CRLs and the TSA's chain; with ``archive=True``
(the agency's seal, the last signature before the document is issued, and an
appendix's) a document time stamp follows: PAdES B-LTA (see
:mod:`services.signing.longterm`). Keys sit
behind pyHanko's :class:`~pyhanko.sign.signers.Signer` interface: pass a
:class:`~services.signing.pki.Identity` (wrapped in :class:`KeySigner`) or
any other ``Signer`` (a PKCS#11 one, say). These are plain synchronous,
CPU-bound functions: call them through a thread pool.

What is kept between calls, in bounded LRU maps (safe across the threads
the service signs from): one time stamper per TSA URL, with its HTTP
client's SSL context made once per process; the space a signature needs in
the PDF, measured once per (TSA URL, certificate), so each signature asks
the TSA once (pyHanko otherwise fetches a dummy token to size every
signature); and each leader's signature image drawn and compressed once
(``appearance``, which draws what the signatures look like). One process signs on one core (the GIL): more cores take
more signing processes (several instances of the service).
"""

import asyncio
import contextlib
import hashlib
import io
import ssl
from datetime import UTC, datetime

import aiohttp
import certifi
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko_certvalidator.errors import PathError as CertPathError
from pyhanko_certvalidator.errors import ValidationError as CertValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from services.signing import appearance as looks
from services.signing import longterm
from services.signing.pki import Identity, check_valid_at, describe
from shared.documents import COPY_FORMS
from shared.errors import Conflict, ValidationFailed
from shared.signers import signature_lines
from shared.values import VIETNAM

VN_TZ = VIETNAM
LEADER_FIELD = "LeaderSignature"
SEAL_FIELD = "AgencySeal"
APPENDIX_FIELD = "AgencySealAppendix"
# Bottom right of the last page, in PDF points (x1, y1, x2, y2).
DEFAULT_BOX = (330, 80, 550, 200)


class KeySigner(signers.Signer):
    """A pyHanko signer over an :class:`Identity`'s in-memory key.

    Only ``async_sign_raw`` touches the key, so another key holder (an HSM
    through PKCS#11) replaces this class without changing the callers.
    """

    def __init__(self, identity):
        der = serialization.Encoding.DER
        super().__init__(
            signing_cert=asn1_x509.Certificate.load(identity.certificate.public_bytes(der)),
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_x509.Certificate.load(c.public_bytes(der)) for c in identity.chain]),
        )
        self._key = identity.private_key

    def __repr__(self):
        return f"KeySigner({self.signing_cert.subject.human_friendly!r})"

    async def async_sign_raw(self, data, digest_algorithm, dry_run=False):
        digest = get_pyca_cryptography_hash(digest_algorithm)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(digest))
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), digest)
        raise TypeError(f"unsupported key type {type(self._key).__name__}")


def sign_as_leader(pdf, signer, position, full_name, competence="", *, timestamper_url,
                   on_behalf_of=None, deputy_for=None, page=-1, box=DEFAULT_BOX, field_name=LEADER_FIELD,
                   reason=None, location=None, long_term=None):
    """The leader's visible PAdES B-T signature (B-LT with ``long_term``); returns the
    signed PDF bytes.

    Refuses (:class:`ValidationFailed`, field ``certificate``) a certificate
    that is not a leader's personal one or is not valid now.
    """
    signer = _signer(signer)
    writer, meta, style, field_spec = leader_plan(
        pdf, signer, position, full_name, competence, on_behalf_of=on_behalf_of,
        deputy_for=deputy_for, page=page, box=box, field_name=field_name, reason=reason, location=location,
        long_term=long_term)
    return _sign(writer(), writer, meta, signer, timestamper_url, style, field_spec)


def leader_plan(pdf, signer, position, full_name, competence="", *, on_behalf_of=None,
                deputy_for=None, page=-1, box=DEFAULT_BOX, field_name=LEADER_FIELD, reason=None,
                location=None, long_term=None):
    """How the leader's signature is laid out, for :func:`sign_as_leader` and for a
    signature a device makes (``interrupted``): (a function making the writer, the
    metadata, the stamp style, the field)."""
    info = _check_certificate(signer, kind="personal", role="leader")
    lines = signature_lines(position, competence, on_behalf_of, deputy_for)
    data = _read(pdf)
    page_index = _page_index(IncrementalPdfFileWriter(io.BytesIO(data)), page)

    def writer():
        # The seal's field is made empty in the revision the leader certifies: after a
        # certification only existing fields may be filled and signed (ISO 32000-1 12.8.2.2).
        writer = IncrementalPdfFileWriter(io.BytesIO(data))
        fields.append_signature_field(writer, fields.SigFieldSpec(
            SEAL_FIELD, on_page=page_index, box=_seal_box(box)))
        # Likewise the number's and the date's, empty, unless the document reserves
        # them: the clerk fills them after the signature (Decree 30 Art. 14).
        looks.add_number_fields(writer)
        return writer

    # A certification signature allowing form filling (DocMDP P=2): after it, only the
    # clerk's number and date in their fields, and the seal in its field.
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256", name=full_name, location=location, certify=True,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        reason=reason or f"{' '.join(lines)} — {info['agency_name']}")
    meta = longterm.signature_metadata(meta, long_term)
    return (writer, meta, looks.leader_style(lines, full_name, datetime.now(VN_TZ)),
            fields.SigFieldSpec(field_name, on_page=page_index, box=tuple(box)))


def _seal_box(leader_box):
    """The seal: a circle as tall as the leader's box (140 pt at most), its right
    edge a third of the way into that box, so it covers the box's left third."""
    x1, y1, x2, y2 = leader_box
    diameter = round(min(y2 - y1, 140))
    right = round(x1 + (x2 - x1) / 3)
    bottom = round((y1 + y2 - diameter) / 2)
    return (right - diameter, bottom, right, bottom + diameter)


def seal_as_agency(pdf, signer, *, timestamper_url, number_notation=None, issued_at=None,
                   place=None, leader_field=LEADER_FIELD, field_name=SEAL_FIELD, reason=None, long_term=None,
                   archive=False):
    """The agency's seal signature over a leader-signed PDF, as an incremental update:
    B-T, B-LT with ``long_term``, and B-LTA (an archive time stamp after it) with
    ``archive`` too.

    With ``number_notation`` and ``issued_at`` (what the clerk's register gave
    once the leader signed) and ``place`` (địa danh), the same revision writes
    ``Số: 12/QĐ-UBND`` and ``Nghệ An, ngày 05 tháng 12 năm 2026`` into the
    document's number and date fields, so the agency's signature covers them
    (Decree 30 Art. 14: number and date first, then the agency's signature);
    filling fields is what the leader's certification (form filling) allows.

    Refuses with :class:`Conflict` (field ``pdf``) a PDF whose last
    signature is not an intact leader signature of this same agency, or that
    has no field for the number or the date.
    """
    signer = _signer(signer)
    info = _check_certificate(signer, kind="organisation")
    data = _read(pdf)
    reader = PdfFileReader(io.BytesIO(data))
    _check_leader_signed(reader, info["agency_code"], leader_field)
    page_index, rect = _field_rect(reader, leader_field)
    # the empty field the leader's revision made for the seal (none before certification)
    made = any(name == field_name for name, _, _ in fields.enumerate_sig_fields(
        reader, filled_status=False))
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256", name=info["agency_name"],
        reason=reason or f"Chữ ký số của cơ quan {info['agency_name']}")
    meta = longterm.signature_metadata(meta, long_term, archive)

    def numbered(writer):
        if number_notation is not None:
            _write_number(writer, number_notation, issued_at, place)
        return writer

    # The writer extends the reader that checked the leader's signature: one parse.
    return _sign(numbered(IncrementalPdfFileWriter.from_reader(reader)),
                 lambda: numbered(IncrementalPdfFileWriter(io.BytesIO(data))), meta, signer,
                 timestamper_url, looks.seal_style(info["agency_name"]),
                 None if made else fields.SigFieldSpec(field_name, on_page=page_index,
                                                      box=_seal_box(rect)))


def _write_number(writer, number_notation, issued_at, place=None):
    if not number_notation or not str(number_notation).strip():
        raise ValidationFailed("number_notation: required", field="number_notation")
    if issued_at is None or issued_at.tzinfo is None:
        raise ValidationFailed("issued_at: the issue time, with its time zone",
                               field="issued_at")
    try:
        looks.fill_number_fields(writer, str(number_notation).strip(),
                                 issued_at.astimezone(VN_TZ).date(), place)
    except LookupError as missing:
        raise Conflict(f"the document has no field {missing} for its number and date (Decree"
                       f" 30 Art. 8): its template must reserve {looks.NUMBER_FIELD} and"
                       f" {looks.DATE_FIELD}, or the leader's signature make them (signed"
                       " before the platform numbered at signature?)", field="pdf") from None


def seal_appendix(pdf, signer, number_notation, signing_time=None, *, timestamper_url,
                  field_name=APPENDIX_FIELD, reason=None, long_term=None, archive=False):
    """The agency's invisible signature on an appendix; returns the signed PDF bytes
    (B-LT, B-LTA: as :func:`seal_as_agency`).

    Before signing, writes ``number_notation`` and ``signing_time`` (ISO
    8601 in Vietnam time, +07:00) at the top right of page one, 10 pt in
    the embedded Unicode font, in the same revision the signature covers.
    """
    signer = _signer(signer)
    info = _check_certificate(signer, kind="organisation")
    if not number_notation or not number_notation.strip():
        raise ValidationFailed("number_notation: required", field="number_notation")
    signing_time = signing_time or datetime.now(UTC)
    if signing_time.tzinfo is None:
        raise ValidationFailed("signing_time: must carry a time zone", field="signing_time")
    stamp = signing_time.astimezone(VN_TZ).isoformat(timespec="seconds")
    data = _read(pdf)

    def writer():
        writer = IncrementalPdfFileWriter(io.BytesIO(data))
        looks.write_top_right(writer, [number_notation.strip(), stamp])
        return writer

    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256", name=info["agency_name"],
        reason=reason or f"Phụ lục {number_notation.strip()}")
    meta = longterm.signature_metadata(meta, long_term, archive)
    return _sign(writer(), writer, meta, signer, timestamper_url, None,
                 fields.SigFieldSpec(field_name, on_page=0))


# -- shared steps ------------------------------------------------------------------

def _signer(signer):
    if isinstance(signer, Identity):
        return KeySigner(signer)
    if isinstance(signer, signers.Signer):
        return signer
    raise TypeError("signer: an Identity or a pyhanko Signer")


class _TimeStamper(HTTPTimeStamper):
    """pyHanko's HTTP time stamper, its SSL context made once per process.

    pyHanko makes an aiohttp session per request, each with a new SSL
    context loading certifi's bundle: about 20 ms of a 30 ms time stamp, for
    any URL, https or not. A session cannot outlive its call (each signature
    runs its own event loop); the context can.
    """

    @contextlib.asynccontextmanager
    async def _acquire_session(self):
        connector = aiohttp.TCPConnector(ssl=_ssl_context())
        async with aiohttp.ClientSession(connector=connector) as session:
            yield session


_SSL = []


def _ssl_context():
    """The verifying SSL context pyHanko uses (certifi's roots), made once."""
    if not _SSL:
        _SSL.append(ssl.create_default_context(cafile=certifi.where()))
    return _SSL[0]


# One time stamper per TSA URL: it keeps its dummy token and the TSA's certificates.
_TIMESTAMPERS = looks.Lru(16)
# Hex digits to reserve for a signature, by (TSA URL, signing certificate).
_RESERVED = looks.Lru(1024)


def _timestamper(timestamper_url):
    if isinstance(timestamper_url, TimeStamper):
        return timestamper_url
    if not timestamper_url:
        raise ValidationFailed("timestamper_url: required (PAdES B-T needs a time stamp)",
                               field="timestamper_url")
    return _TIMESTAMPERS.get(timestamper_url, lambda: _TimeStamper(timestamper_url))


def _reserved_key(timestamper_url, signer):
    """What the size of a signature's CMS depends on, or None (not kept: a
    TimeStamper object passed in sizes its signatures itself)."""
    if not isinstance(timestamper_url, str):
        return None
    return timestamper_url, hashlib.sha256(signer.signing_cert.dump()).digest()


async def _measure(signer, timestamper):
    """The space a signature by ``signer`` takes, as pyHanko measures it: a dry-run
    CMS with the TSA's dummy token, in hex, plus pyHanko's 50 % margin (TSAs'
    tokens vary)."""
    cms = await signer.async_sign(
        hashes.Hash(hashes.SHA256()).finalize(), "sha256", dry_run=True, use_pades=True,
        timestamper=timestamper,
        signed_attr_settings=PdfCMSSignedAttributes(signing_time=datetime.now(UTC)))
    hex_digits = len(cms.dump()) * 2
    return hex_digits + 2 * (hex_digits // 4)


def _check_certificate(signer, kind, role=None):
    """The certificate's binding (see :func:`describe`), or ValidationFailed."""
    certificate = x509.load_der_x509_certificate(signer.signing_cert.dump())
    info = describe(certificate)
    who = certificate.subject.rfc4514_string()
    if info["kind"] != kind:
        raise ValidationFailed(f"certificate {who} is an {info['kind']} certificate;"
                               f" this signature needs an {kind} one", field="certificate")
    if role and info["role"] != role:
        raise ValidationFailed(f"certificate {who} is a {info['role']}'s; only a {role}"
                               " signs here", field="certificate")
    try:
        check_valid_at(certificate, datetime.now(UTC))
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="certificate") from None
    return info


def _refuse_invalid(exc, signer):
    """A B-LT signature's certificate that does not validate against the trust roots
    and CRLs given (revoked, say): ValidationFailed naming why."""
    # pyHanko's own failure to validate the signer's chain, by its cause (the same
    # message text also reports other failures, such as an archive time stamp's).
    cause = exc.__cause__
    if isinstance(cause, (CertPathError, CertValidationError)):
        raise ValidationFailed(f"certificate {signer.signing_cert.subject.human_friendly}"
                               f" does not validate against the trust roots and the CRL"
                               f" given: {cause}", field="certificate") from None


def _check_leader_signed(reader, agency_code, leader_field):
    signatures = reader.embedded_regular_signatures
    if not signatures:
        raise Conflict("the document carries no signature: the agency seal goes only on a"
                       " document its leader has signed", field="pdf")
    last = signatures[-1]
    signer_info = describe(x509.load_der_x509_certificate(last.signer_cert.dump()))
    if last.field_name != leader_field or signer_info["role"] != "leader":
        raise Conflict(f"the last signature ({last.field_name}) is not the leader's"
                       f" ({leader_field}): the agency seal follows the leader's signature",
                       field="pdf")
    if signer_info["agency_code"] != agency_code:
        raise Conflict(f"the leader signed for agency {signer_info['agency_code']}, not for"
                       f" {agency_code}", field="pdf")
    intact, valid = validate_sig_integrity(last.signer_info, last.signer_cert, "data",
                                           last.compute_digest())
    if not (intact and valid):
        raise Conflict("the leader's signature does not match the document's bytes",
                       field="pdf")


def _field_rect(reader, name):
    """(page index, rect) of the widget of signature field ``name``."""
    for index in range(int(reader.root["/Pages"]["/Count"])):
        page_ref, _ = reader.find_page_for_modification(index)
        for annot in page_ref.get_object().get("/Annots", ()):
            annot = annot.get_object()
            if annot.get("/T") == name or annot.get("/Parent", {}).get("/T") == name:
                return index, [float(v) for v in annot["/Rect"]]
    raise Conflict(f"no visible signature field {name!r} to place the seal by", field="pdf")


def _page_index(writer, page):
    total = writer.root["/Pages"]["/Count"]
    index = page if page >= 0 else total + page
    if not 0 <= index < total:
        raise ValidationFailed(f"page: {page} is outside a {total}-page document",
                               field="page")
    return index


def _read(pdf):
    data = pdf if isinstance(pdf, (bytes, bytearray)) else pdf.read()
    if not bytes(data[:1024]).lstrip().startswith(b"%PDF-"):
        raise ValidationFailed("pdf: not a PDF file", field="pdf")
    return bytes(data)


def _sign(writer, fresh_writer, meta, signer, timestamper_url, style, field_spec):
    """Sign ``writer``'s document, asking the TSA once; ``fresh_writer()`` makes the
    document again should the space kept for the signature be too small."""
    timestamper = _timestamper(timestamper_url)
    key = _reserved_key(timestamper_url, signer)
    reserved = None if key is None else _RESERVED.get(
        key, lambda: asyncio.run(_measure(signer, timestamper)))
    pdf_signer = signers.PdfSigner(meta, signer, timestamper=timestamper,
                                   stamp_style=style, new_field_spec=field_spec)
    try:
        return pdf_signer.sign_pdf(writer, bytes_reserved=reserved).getvalue()
    except SigningError as exc:
        _refuse_invalid(exc, signer)
        if reserved is None or "larger than expected" not in str(exc):
            raise
    # The CMS outgrew the space measured (the TSA's tokens grew: a new certificate,
    # say). Forget the size and the time stamper's dummy token; this once, pyHanko
    # sizes the signature itself, on the document as it was.
    _RESERVED.pop(key)
    _TIMESTAMPERS.pop(timestamper_url)
    pdf_signer = signers.PdfSigner(meta, signer, timestamper=_timestamper(timestamper_url),
                                   stamp_style=style, new_field_spec=field_spec)
    return pdf_signer.sign_pdf(fresh_writer()).getvalue()


# -- copies (Decree 30 Art. 25-28, Appendix I part II) --------------------------------

COPY_FIELD = "BanSao"
COPY_MARK_SIZE = 7
# The mark's box: this far from the page's top and right edges (the top margin).
COPY_TOP, COPY_RIGHT = 4, 28


def copy_document(pdf, signer, form, number_notation, signing_time=None, pages=None, *,
                  timestamper_url, long_term=None, archive=False):
    """An electronic copy made by the copying agency's signature (``signer``: its
    organisation certificate); returns the copy's PDF bytes.

    ``form``: ``SY`` (sao y: the whole document) or ``SL`` (sao lục: of a sao y
    copy) as an incremental update of ``pdf``, so its signatures stay as they
    were; ``TrS`` (trích sao) a new PDF of ``pages`` (1-based) of ``pdf``,
    each as it looks (its fields' and signatures' appearances drawn on it).
    Either way the copy's mark, at the top right of page one in the embedded
    font: the form (SAO Y, SAO LỤC, TRÍCH SAO), the copying agency's name, ``Số:
    <number_notation>`` and the signing time (ISO 8601, Vietnam time), is the
    appearance of the agency's signature that covers it (a new visible
    signature field: what a certification allowing form filling lets be
    added, as Acrobat reads it).
    """
    signer = _signer(signer)
    info = _check_certificate(signer, kind="organisation")
    label = COPY_FORMS.get(form)
    if label is None:
        raise ValidationFailed(f"form: {form!r} is not a copy form; one of"
                               f" {', '.join(COPY_FORMS)}", field="form")
    if not number_notation or not str(number_notation).strip():
        raise ValidationFailed("number_notation: required", field="number_notation")
    signing_time = signing_time or datetime.now(UTC)
    if signing_time.tzinfo is None:
        raise ValidationFailed("signing_time: must carry a time zone", field="signing_time")
    data = _read(pdf)
    if form == "TrS":
        data = extract_pages(data, pages)
    elif pages:
        raise ValidationFailed(f"pages: only a trích sao (TrS) takes pages, not {form}",
                               field="pages")
    notation = str(number_notation).strip()
    lines = [label, info["agency_name"], f"Số: {notation}",
             signing_time.astimezone(VN_TZ).isoformat(timespec="seconds")]
    reader = PdfFileReader(io.BytesIO(data))
    taken = {name for name, _, _ in fields.enumerate_sig_fields(reader)}
    field_name = next(name for name in (f"{COPY_FIELD}{n or ''}" for n in range(100))
                      if name not in taken)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256", name=info["agency_name"],
        reason=f"{label.capitalize()} {notation} — {info['agency_name']}")
    meta = longterm.signature_metadata(meta, long_term, archive)
    box = _copy_box(reader, lines)
    return _sign(IncrementalPdfFileWriter.from_reader(reader),
                 lambda: IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer,
                 timestamper_url, looks.top_right_style(lines, COPY_MARK_SIZE),
                 fields.SigFieldSpec(field_name, on_page=0, box=box))


def _copy_box(reader, lines, size=COPY_MARK_SIZE):
    """The mark's box at the top right of page one, in the top margin; below any
    widget already there (a number and date field the leader's revision made in
    that margin, an earlier copy's mark) rather than over it."""
    page = reader.find_page_for_modification(0)[0].get_object()
    media = [float(v) for v in page.get("/CropBox", None) or _media_box(page)]
    width = max(looks.Canvas.width(line, size) for line in lines) + 2
    height = looks.lines_height(len(lines), size) + 1
    x2 = media[2] - COPY_RIGHT
    x1, top = x2 - width, media[3] - COPY_TOP
    rects = []
    for annot in page.get("/Annots", ()):
        rect = [float(v) for v in annot.get_object().get("/Rect", (0, 0, 0, 0))]
        if rect[2] - rect[0] > 0 and rect[3] - rect[1] > 0:
            rects.append((min(rect[0], rect[2]), min(rect[1], rect[3]),
                          max(rect[0], rect[2]), max(rect[1], rect[3])))
    moved = True
    while moved:
        moved = False
        for a1, b1, a2, b2 in rects:
            if a1 < x2 and x1 < a2 and b1 < top and top - height < b2:
                top, moved = b1 - 2, True
    return (round(x1, 2), round(top - height, 2), round(x2, 2), round(top, 2))


def _media_box(page):
    from pyhanko.pdf_utils.rw_common import find_inherited_value_in_tree
    return find_inherited_value_in_tree(page, "/MediaBox", "/Parent")


def check_pages(pages, count):
    """``pages`` (1-based) of a ``count``-page document for a trích sao: a
    non-empty list of distinct page numbers within it; in ascending order."""
    if not isinstance(pages, (list, tuple)) or not pages:
        raise ValidationFailed("pages: a trích sao (TrS) needs the pages to copy, as a"
                               " list such as [1, 3]", field="pages")
    if any(isinstance(p, bool) or not isinstance(p, int) for p in pages):
        raise ValidationFailed("pages: page numbers are whole numbers, from 1",
                               field="pages")
    if len(set(pages)) != len(pages):
        raise ValidationFailed("pages: a page is named twice", field="pages")
    outside = [p for p in pages if not 1 <= p <= count]
    if outside:
        raise ValidationFailed(f"pages: {', '.join(map(str, outside))} outside a"
                               f" {count}-page document", field="pages")
    return sorted(pages)


def extract_pages(pdf, pages):
    """A new PDF of ``pages`` (1-based) of ``pdf``: each page's content with the
    appearances of its widgets (the number and date, the signatures) drawn on
    it, as the page looks; no fields, no signatures (they cover the whole
    original, not the extract)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    reader = PdfFileReader(io.BytesIO(_read(pdf)))
    count = int(reader.root["/Pages"]["/Count"])
    chosen = check_pages(pages, count)
    writer = PdfFileWriter()
    name = generic.pdf_name
    for number in chosen:
        page = reader.find_page_for_modification(number - 1)[0].get_object()
        box = [float(v) for v in _media_box(page)]
        xobjects = generic.DictionaryObject()
        ops = []
        xobjects[name("/Page")] = writer.import_page_as_xobject(reader, number - 1)
        ops.append(b"q /Page Do Q")
        for index, ref in enumerate(page.get("/Annots", ())):
            annot = ref.get_object()
            rect = [float(v) for v in annot.get("/Rect", (0, 0, 0, 0))]
            appearance = annot.get("/AP", {}).get("/N")
            if appearance is None or int(annot.get("/F", 0)) & 2 or \
                    rect[2] - rect[0] <= 0 or rect[3] - rect[1] <= 0:
                continue
            appearance = appearance.get_object()
            if not isinstance(appearance, generic.StreamObject):
                continue  # an on/off state dictionary: not a text or signature field
            bbox = [float(v) for v in appearance.get("/BBox", (0, 0, 1, 1))]
            if bbox[2] - bbox[0] <= 0 or bbox[3] - bbox[1] <= 0:
                continue
            key = f"/Annot{index}"
            xobjects[name(key)] = writer.import_object(appearance)
            sx = (rect[2] - rect[0]) / (bbox[2] - bbox[0])
            sy = (rect[3] - rect[1]) / (bbox[3] - bbox[1])
            ops.append(b"q %.4f 0 0 %.4f %.3f %.3f cm %s Do Q" % (
                sx, sy, rect[0] - bbox[0] * sx, rect[1] - bbox[1] * sy, key.encode()))
        content = writer.add_object(generic.StreamObject(stream_data=b"\n".join(ops)))
        writer.insert_page(generic.DictionaryObject({
            name("/Type"): name("/Page"),
            name("/MediaBox"): generic.ArrayObject([generic.FloatObject(v) for v in box]),
            name("/Resources"): generic.DictionaryObject({
                name("/XObject"): xobjects}),
            name("/Contents"): content}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
