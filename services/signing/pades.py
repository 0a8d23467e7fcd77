"""PAdES signatures the way Decree 30/2020 lays them out.

A document is valid with two signatures, in this order:

1. :func:`sign_as_leader` — the leader's personal signature, visible: the
   competence and position lines, a blue signature image, the full name;
2. :func:`seal_as_agency` — the agency's signature, added by the clerk as
   an incremental update only on a document the leader has signed; its
   appearance is a red round seal over the left third of the leader's box.

An appendix in its own file gets only the agency's signature, invisible
(:func:`seal_appendix`), with the number/notation and the signing time
written at the top right of page one.

Every signature is PAdES B-T: CMS with the certificate chain embedded and a
signature time stamp (RFC 3161) from the TSA at the given URL. Keys sit
behind pyHanko's :class:`~pyhanko.sign.signers.Signer` interface: pass a
:class:`~services.signing.pki.Identity` (wrapped in :class:`KeySigner`) or
any other ``Signer`` (a PKCS#11 one, say). These are plain synchronous,
CPU-bound functions: call them through a thread pool.

What is kept between calls, in bounded LRU maps (safe across the threads
the service signs from): one time stamper per TSA URL, with its HTTP
client's SSL context made once per process; the space a signature needs in
the PDF, measured once per (TSA URL, certificate), so each signature asks
the TSA once (pyHanko otherwise fetches a dummy token to size every
signature); and each appearance (a leader's box, an agency's seal) drawn and
compressed once. One process signs on one core (the GIL): more cores take
more signing processes (several instances of the service).
"""

import asyncio
import contextlib
import hashlib
import io
import math
import os
import random
import ssl
import unicodedata
import zlib
from collections import OrderedDict
from datetime import UTC, datetime

import aiohttp
import certifi
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from PIL import Image, ImageDraw, ImageFont
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import find_inherited_value_in_tree
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from services.signing.pki import Identity, check_valid_at, describe
from shared.errors import Conflict, ValidationFailed
from shared.values import VIETNAM

VN_TZ = VIETNAM
COMPETENCES = ("", "TM.", "Q.", "KT.", "TL.", "TUQ.")
LEADER_FIELD = "LeaderSignature"
SEAL_FIELD = "AgencySeal"
APPENDIX_FIELD = "AgencySealAppendix"
# Bottom right of the last page, in PDF points (x1, y1, x2, y2).
DEFAULT_BOX = (330, 80, 550, 200)
BLUE = (0, 51, 204, 255)
RED = (214, 18, 24, 235)
_PX_PER_PT = 4  # appearance images are drawn at 288 dpi
# Fonts with Vietnamese glyphs, searched in this order; Pillow's own font
# (ASCII only) is the last resort, with diacritics folded away.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)


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


def signature_lines(position, competence="", on_behalf_of=None):
    """The text above a leader's signature, upper case, as Decree 30 shows it.

    ``KT.``, ``TM.``, ``TL.`` and ``TUQ.`` sign for someone else, named by
    ``on_behalf_of`` ("KT. CHỦ TỊCH" then "PHÓ CHỦ TỊCH"); ``Q.`` (acting)
    prefixes the position itself; ``""`` is a direct signature.
    """
    if competence not in COMPETENCES:
        raise ValidationFailed(f"competence: must be one of {COMPETENCES}", field="competence")
    if not position or not position.strip():
        raise ValidationFailed("position: required", field="position")
    position = position.strip().upper()
    if competence in ("", "Q."):
        return [f"{competence} {position}".strip()]
    if not on_behalf_of:
        raise ValidationFailed(f"on_behalf_of: required with competence {competence}",
                               field="on_behalf_of")
    return [f"{competence} {on_behalf_of.strip().upper()}", position]


def sign_as_leader(pdf, signer, position, full_name, competence="", *, timestamper_url,
                   on_behalf_of=None, page=-1, box=DEFAULT_BOX, field_name=LEADER_FIELD,
                   reason=None, location=None):
    """The leader's visible PAdES B-T signature; returns the signed PDF bytes.

    Refuses (:class:`ValidationFailed`, field ``certificate``) a certificate
    that is not a leader's personal one or is not valid now.
    """
    signer = _signer(signer)
    info = _check_certificate(signer, kind="personal", role="leader")
    lines = signature_lines(position, competence, on_behalf_of)
    data = _read(pdf)
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    page_index = _page_index(writer, page)
    x1, y1, x2, y2 = box
    size = (x2 - x1, y2 - y1)
    appearance = _APPEARANCES.get(("leader", tuple(lines), full_name, size),
                                  lambda: _Appearance(leader_appearance(lines, full_name, size)))
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256", name=full_name, location=location,
        reason=reason or f"{' '.join(lines)} — {info['agency_name']}")
    return _sign(writer, lambda: IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer,
                 timestamper_url, appearance.style(),
                 fields.SigFieldSpec(field_name, on_page=page_index, box=tuple(box)))


def seal_as_agency(pdf, signer, *, timestamper_url, leader_field=LEADER_FIELD,
                   field_name=SEAL_FIELD, reason=None):
    """The agency's seal signature over a leader-signed PDF, as an incremental update.

    Refuses with :class:`Conflict` (field ``pdf``) a PDF whose last
    signature is not an intact leader signature of this same agency.
    """
    signer = _signer(signer)
    info = _check_certificate(signer, kind="organisation")
    data = _read(pdf)
    reader = PdfFileReader(io.BytesIO(data))
    _check_leader_signed(reader, info["agency_code"], leader_field)
    page_index, rect = _field_rect(reader, leader_field)
    x1, y1, x2, y2 = rect
    # The seal is a circle as tall as the leader's box (140 pt at most), its right edge a
    # third of the way into that box, so it covers the box's left third.
    diameter = round(min(y2 - y1, 140))
    right = round(x1 + (x2 - x1) / 3)
    bottom = round((y1 + y2 - diameter) / 2)
    seal_box = (right - diameter, bottom, right, bottom + diameter)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256", name=info["agency_name"],
        reason=reason or f"Chữ ký số của cơ quan {info['agency_name']}")
    agency = info["agency_name"]
    appearance = _APPEARANCES.get(("seal", agency), lambda: _Appearance(seal_image(agency)))
    # The writer extends the reader that checked the leader's signature: one parse.
    return _sign(IncrementalPdfFileWriter.from_reader(reader),
                 lambda: IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer,
                 timestamper_url, appearance.style(),
                 fields.SigFieldSpec(field_name, on_page=page_index, box=seal_box))


def seal_appendix(pdf, signer, number_notation, signing_time=None, *, timestamper_url,
                  field_name=APPENDIX_FIELD, reason=None):
    """The agency's invisible signature on an appendix; returns the signed PDF bytes.

    Before signing, writes ``number_notation`` and ``signing_time`` (ISO
    8601 in Vietnam time, +07:00) at the top right of page one in
    Times-Roman 10, in the same revision the signature covers.
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
        _write_top_right(writer, [number_notation.strip(), stamp])
        return writer

    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256", name=info["agency_name"],
        reason=reason or f"Phụ lục {number_notation.strip()}")
    return _sign(writer(), writer, meta, signer, timestamper_url, None,
                 fields.SigFieldSpec(field_name, on_page=0))


# -- appearance images -------------------------------------------------------

def signature_image(full_name, size=(600, 200)):
    """A handwriting-like blue signature on a transparent background.

    Drawn from a seed derived from the name, so the same name gives the
    same image.
    """
    width, height = size
    rng = random.Random(hashlib.sha256(full_name.encode()).digest())
    image = Image.new("RGBA", size, (*BLUE[:3], 0))
    draw = ImageDraw.Draw(image)
    stroke = max(2, height // 28)
    # A prolate trochoid: a line moving right while circling, which loops
    # like joined-up handwriting; the seed varies loops, size and slant.
    loops, slant = rng.randint(4, 6), rng.uniform(0.05, 0.15)
    points = []
    for step in range(400):
        t = step / 399
        turn = 2 * math.pi * loops * t
        swell = 0.6 + 0.4 * math.sin(math.pi * t + rng.random() * 0.05)
        x = width * (0.08 + 0.8 * t + 0.05 * math.sin(turn))
        y = height * (0.45 - slant * t - 0.25 * swell * math.cos(turn))
        points.append((x, y))
    draw.line(points, fill=BLUE, width=stroke, joint="curve")
    # the flourish underneath
    draw.arc((width * 0.15, height * 0.55, width * 0.95, height * 0.95),
             start=200, end=340, fill=BLUE, width=stroke)
    return image


def leader_appearance(lines, full_name, box_size):
    """The leader's box: position lines, the blue signature, then the name."""
    width, height = (round(v * _PX_PER_PT) for v in box_size)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    line_px = round(10.5 * _PX_PER_PT)
    y = line_px // 4  # room for the marks above capitals (Ủ, Ồ)
    for line in lines:
        y = _centred_text(draw, line, y, width, line_px) + line_px // 4
    name_font, name_text = _fit_font(full_name, width, round(11 * _PX_PER_PT))
    name_height = name_font.getbbox(name_text)[3]
    name_top = height - name_height - _PX_PER_PT
    signature_height = max(name_top - y - _PX_PER_PT * 2, 1)
    signature = signature_image(full_name, (round(width * 0.7), signature_height))
    image.alpha_composite(signature, (round(width * 0.15), y + _PX_PER_PT))
    _centred_text(draw, full_name, name_top, width, round(11 * _PX_PER_PT))
    return image


def seal_image(agency_name, diameter=600):
    """A red round seal: double ring, the agency's name around it, a star inside."""
    image = Image.new("RGBA", (diameter, diameter), (*RED[:3], 0))
    draw = ImageDraw.Draw(image)
    r = diameter / 2
    ring = max(3, diameter // 60)
    draw.ellipse((ring, ring, diameter - ring, diameter - ring), outline=RED, width=ring * 2)
    inner = r * 0.64
    draw.ellipse((r - inner, r - inner, r + inner, r + inner), outline=RED, width=ring)
    name = agency_name.upper()
    font, name = _fit_font(name, 10**6, round(diameter * 0.07))
    radius = r * 0.79  # between the rings, clear of both
    # The name runs clockwise, centred on the top; a dot closes the ring below.
    step = 360 / (len(name) + 3)
    for i, char in enumerate(name + "  •"):
        angle = -90 + (i - (len(name) - 1) / 2) * step
        # a transparent *red* canvas, so the rotated edges blend to red, not black
        glyph = Image.new("RGBA", (font.size * 2, font.size * 2), (*RED[:3], 0))
        ImageDraw.Draw(glyph).text((font.size, font.size), char, font=font, fill=RED,
                                   anchor="mm")
        glyph = glyph.rotate(-(angle + 90), resample=Image.Resampling.BICUBIC,
                             fillcolor=(*RED[:3], 0))
        cx = r + radius * math.cos(math.radians(angle))
        cy = r + radius * math.sin(math.radians(angle))
        image.alpha_composite(glyph, (round(cx - font.size), round(cy - font.size)))
    star = r * 0.34
    draw.polygon([(r + (star if k % 2 == 0 else star * 0.4) * math.cos(math.radians(-90 + 36 * k)),
                   r + (star if k % 2 == 0 else star * 0.4) * math.sin(math.radians(-90 + 36 * k)))
                  for k in range(10)], fill=RED)
    return image


def _centred_text(draw, text, top, width, size_px):
    font, text = _fit_font(text, width, size_px)
    draw.text((width / 2, top), text, font=font, fill=(0, 0, 0, 255), anchor="ma")
    return top + font.getbbox(text)[3]


def _fit_font(text, width, size_px):
    """The largest font up to ``size_px`` that fits ``text`` in ``width``, and the text."""
    path = next((p for p in FONT_CANDIDATES if os.path.isfile(p)), None)
    if path is None:
        text = _fold_diacritics(text)
    while True:
        font = (ImageFont.truetype(path, size_px) if path
                else ImageFont.load_default(size=size_px))
        if font.getlength(text) <= width * 0.98 or size_px <= 8:
            return font, text
        size_px -= 2


def _fold_diacritics(text):
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if not unicodedata.combining(c)).encode("ascii", "replace").decode()


class _Lru:
    """A bounded map, least recently used out first.

    Safe across threads without a lock: each OrderedDict operation is atomic
    under the GIL, and a race costs at most one value made twice. (A lock
    made here would be eventlet's green one in the service, and the signing
    runs in tpool's OS threads, where blocking on a green lock is not safe.)
    """

    def __init__(self, size):
        self.size = size
        self._items = OrderedDict()

    def get(self, key, make):
        """The value for ``key``, made by ``make()`` if absent."""
        try:
            value = self._items[key]
        except KeyError:
            pass
        else:
            with contextlib.suppress(KeyError):  # another thread may just have evicted it
                self._items.move_to_end(key)
            return value
        value = self._items[key] = make()
        while len(self._items) > self.size:
            try:
                self._items.popitem(last=False)
            except KeyError:
                break
        return value

    def pop(self, key):
        self._items.pop(key, None)

    def __len__(self):
        return len(self._items)


class _Appearance:
    """An appearance image drawn once, kept as the PDF image streams it becomes.

    pyHanko's :func:`~pyhanko.pdf_utils.images.pil_image` splits an RGBA image
    into an RGB image and its alpha channel (/SMask) and compresses both on
    every signature (10-12 ms for ours); this does it once, the same way.
    """

    def __init__(self, image):
        if image.mode != "RGBA":
            raise ValueError(f"appearance images are RGBA, not {image.mode}")
        # Only the compressed streams are kept (tens of KB), not the image (1.5 MB).
        self.width, self.height = image.size
        self.rgb = zlib.compress(image.convert("RGB").tobytes())
        self.alpha = zlib.compress(image.getchannel("A").tobytes())

    def style(self):
        """A stamp style for one signature (pyHanko's content objects hold state)."""
        return StaticStampStyle(
            background=_EncodedImage(self), border_width=0, background_opacity=1.0,
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MID, margins=layout.Margins.uniform(0)))

    def add_to(self, writer):
        """The image XObject, with its soft mask, added to ``writer``."""
        def stream(colour_space, encoded, **more):
            return writer.add_object(generic.StreamObject({
                generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Image"),
                generic.pdf_name("/Width"): generic.NumberObject(self.width),
                generic.pdf_name("/Height"): generic.NumberObject(self.height),
                generic.pdf_name("/ColorSpace"): generic.pdf_name(colour_space),
                generic.pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode"),
                **more}, encoded_data=encoded))
        mask = stream("/DeviceGray", self.alpha)
        return stream("/DeviceRGB", self.rgb, **{generic.pdf_name("/SMask"): mask})


class _EncodedImage(PdfImage):
    """pyHanko's image content, its XObject taken from an :class:`_Appearance`."""

    def __init__(self, appearance):
        # pyHanko reads only the width and height of its "image", and has our XObject
        super().__init__(appearance, box=BoxConstraints(appearance.width, appearance.height))
        self._appearance = appearance

    @property
    def image_ref(self):
        ref = self._image_ref
        if ref is None or ref.get_pdf_handler() is not self.writer:
            self._image_ref = ref = self._appearance.add_to(self.writer)
        return ref


# Drawn appearances: a leader's box by (lines, name, size), a seal by agency name.
_APPEARANCES = _Lru(256)


# -- appendix text -------------------------------------------------------------

# Times-Roman advance widths (AFM, 1/1000 em) for ASCII 32..126, WinAnsi.
_TIMES_WIDTHS = [
    250, 333, 408, 500, 500, 833, 778, 180, 333, 333, 500, 564, 250, 333, 250, 278,
    500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 278, 278, 564, 564, 564, 444,
    921, 722, 667, 667, 722, 611, 556, 722, 722, 333, 389, 722, 611, 889, 722, 722,
    556, 722, 667, 556, 611, 722, 722, 944, 722, 722, 611, 333, 278, 333, 469, 500,
    333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500, 278, 778, 500, 500,
    500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541,
]


def _winansi(text):
    """``text`` in WinAnsi (cp1252): the standard 14 fonts have no Vietnamese.

    Đ becomes the identical-looking Ð; other letters keep as many of their
    marks as cp1252 has (ố -> ô, ạ -> a).
    """
    out = []
    for char in text.replace("Đ", "Ð"):
        try:
            out.append(char.encode("cp1252"))
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", char)
        for end in range(len(parts), 0, -1):
            try:
                out.append(unicodedata.normalize("NFC", parts[:end]).encode("cp1252"))
                break
            except UnicodeEncodeError:
                continue
        else:
            out.append(b"?")
    return b"".join(out)


def _times_width(encoded, size):
    def width(byte):
        if 32 <= byte <= 126:
            return _TIMES_WIDTHS[byte - 32]
        base = unicodedata.normalize("NFD", bytes([byte]).decode("cp1252"))[0]
        return _TIMES_WIDTHS[ord(base) - 32] if " " <= base <= "~" else 500
    return sum(width(b) for b in encoded) * size / 1000


def _write_top_right(writer, lines, size=10, margin=36):
    """Right-aligned lines in Times-Roman at the top right of page one."""
    page_ref, _ = writer.find_page_for_modification(0)
    box = find_inherited_value_in_tree(page_ref.get_object(), "/MediaBox", "/Parent")
    x1, y1 = float(box[2]), float(box[3])
    ops = [b"Q q BT /LTTimes %d Tf" % size]
    for i, line in enumerate(lines):
        encoded = _winansi(line)
        x = x1 - margin - _times_width(encoded, size)
        y = y1 - margin - size - i * size * 1.2
        literal = encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
        ops.append(b"1 0 0 1 %.2f %.2f Tm (%s) Tj" % (x, y, literal))
    ops.append(b"ET Q")
    font = generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Font"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
        generic.pdf_name("/BaseFont"): generic.pdf_name("/Times-Roman"),
        generic.pdf_name("/Encoding"): generic.pdf_name("/WinAnsiEncoding"),
    })
    resources = generic.DictionaryObject({generic.pdf_name("/Font"): generic.DictionaryObject(
        {generic.pdf_name("/LTTimes"): writer.add_object(font)})})
    # Wrap the page's own content in q ... Q so its graphics state cannot move our text.
    writer.add_stream_to_page(0, writer.add_object(generic.StreamObject(stream_data=b"q\n")),
                              prepend=True)
    writer.add_stream_to_page(0, writer.add_object(
        generic.StreamObject(stream_data=b"\n".join(ops))), resources=resources)


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
_TIMESTAMPERS = _Lru(16)
# Hex digits to reserve for a signature, by (TSA URL, signing certificate).
_RESERVED = _Lru(1024)


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
