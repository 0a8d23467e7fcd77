"""What the signatures look like on the page, as Decree 30/2020 Appendix I draws them.

- The leader's signature (:func:`leader_style`), in the signer block: the
  competence and position lines, the signature image (blue, a transparent
  image) centred between them and the full name, and the signing time.
- The agency's signature (:func:`seal_style`): the agency's seal, red, at
  about a seal's real size, over the left third of the leader's image: a
  double ring with the agency's name around it and a star in the middle.
- The number and date the clerk gives once the leader has signed
  (:func:`add_number_fields` in the leader's revision, :func:`fill_number_fields`
  in the seal's)
  and, on an appendix in its own file, the number and signing time at the
  top right of page one (:func:`write_top_right`).

Every text is set in an embedded subset of a Unicode TrueType font
(``shared.fonts``: DejaVu Serif) with a ToUnicode map, so Vietnamese renders
everywhere and is extracted, searched and copied as written ("Đ" is U+0110);
the seal's name, set glyph by glyph around the ring, also carries its whole
text as /ActualText. Shapes are vector paths; only the handwriting-like
signature is an image, drawn once per name and kept compressed
(:class:`ImageStreams`).
"""

import contextlib
import hashlib
import io
import math
import random
import unicodedata
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from fontTools import subset, ttLib
from fontTools.ttLib.scaleUpem import scale_upem
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.rw_common import find_inherited_value_in_tree
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

from shared import fonts
from shared.green import os_thread_lock

BLUE = (0, 51, 204, 255)
RED = (214, 18, 24, 235)
BLACK = (0, 0, 0, 255)
_PX_PER_PT = 4  # the signature image is drawn at 288 dpi


# -- the embedded font ----------------------------------------------------------------

class Lru:
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


# What the embedded font keeps: Latin (Vietnamese included: Latin Extended
# Additional), combining marks, punctuation and the đồng sign.
CHARACTERS = frozenset([*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x300, 0x370),
                        *range(0x1E00, 0x1F00), *range(0x2010, 0x2050), 0x20AB])


class _Font:
    """One TrueType font, cut and scaled once per process (:func:`_prepared`).

    Each text set in it is encoded as glyph ids (Identity-H) from the font's
    cmap, with the font's advances; Vietnamese in NFC needs no shaping (every
    letter has its precomposed glyph). What a PDF embeds is a subset holding
    the characters its texts use and the digits (:class:`_Subset`), made once
    per such set: a signature reuses the subset its signer's last one made.
    """

    _lock = os_thread_lock()  # fonts are made in run_cpu's real threads

    def __init__(self, bold):
        self.name = "LienThongSerif-Bold" if bold else "LienThongSerif"
        self._font = None
        self.subsets = Lru(64)

    @property
    def font(self):
        with self._lock:
            if self._font is None:
                font = ttLib.TTFont(io.BytesIO(_prepared(fonts.find_fonts()[self.name])))
                self.cmap = font.getBestCmap()
                self.advances = font["hmtx"].metrics
                self._font = font
            return self._font

    def glyphs(self, text):
        """(glyph id, advance in thousandths of an em) of each character of ``text``."""
        font = self.font
        out = []
        for char in text:
            name = self.cmap.get(ord(char), ".notdef")
            out.append((font.getGlyphID(name), self.advances[name][0]))
        return out

    def subset(self, characters):
        """The embeddable subset for ``characters`` (and the digits), made once."""
        key = frozenset(characters) | DIGITS
        return self.subsets.get(key, lambda: _Subset(self, key))


DIGITS = frozenset("0123456789:-+/., ")


class _Subset:
    """The font's glyphs for ``characters`` (glyph ids kept), as the PDF objects
    of a Type 0 font: compressed once, added to each writer that uses them."""

    def __init__(self, font, characters):
        cut = ttLib.TTFont(io.BytesIO(_font_bytes(font.font)))
        options = subset.Options()
        options.retain_gids = True
        options.notdef_outline = True
        options.layout_features = []
        cutter = subset.Subsetter(options)
        cutter.populate(unicodes=[ord(c) for c in characters])
        cutter.subset(cut)
        program = _font_bytes(cut)
        self.program, self.length = zlib.compress(program), len(program)
        used = sorted({(font.glyphs(char)[0][0], char) for char in characters} - {(0, "")})
        used = [(gid, char) for gid, char in used if gid]
        self.widths = [(gid, font.glyphs(char)[0][1]) for gid, char in used]
        self.to_unicode = zlib.compress(_to_unicode(used))
        head, hhea, os2 = font.font["head"], font.font["hhea"], font.font["OS/2"]
        self.ps_name = font.font["name"].getDebugName(6) or font.name
        # the subset's tag: six capitals from its content (PDF 32000-1, 9.6.4)
        digest = hashlib.sha256(self.program).digest()
        self.tag = "".join(chr(65 + b % 26) for b in digest[:6]) + "+" + self.ps_name
        self.descriptor = {
            "/Flags": 262178 if "Bold" in font.name else 34, "/ItalicAngle": 0,
            "/FontBBox": [head.xMin, head.yMin, head.xMax, head.yMax],
            "/Ascent": hhea.ascent, "/Descent": hhea.descent,
            "/CapHeight": getattr(os2, "sCapHeight", hhea.ascent), "/StemV": 80}

    def add_to(self, writer):
        """The Type 0 font, its descendant, descriptor, program and ToUnicode map."""
        name = generic.pdf_name
        program = writer.add_object(generic.StreamObject(
            {name("/Length1"): generic.NumberObject(self.length),
             name("/Filter"): name("/FlateDecode")}, encoded_data=self.program))
        descriptor = writer.add_object(generic.DictionaryObject({
            name("/Type"): name("/FontDescriptor"), name("/FontName"): name("/" + self.tag),
            name("/FontFile2"): program,
            **{name(k): _pdf(v) for k, v in self.descriptor.items()}}))
        widths = generic.ArrayObject()
        for gid, width in self.widths:
            widths += [generic.NumberObject(gid),
                       generic.ArrayObject([generic.NumberObject(width)])]
        cid_font = writer.add_object(generic.DictionaryObject({
            name("/Type"): name("/Font"), name("/Subtype"): name("/CIDFontType2"),
            name("/BaseFont"): name("/" + self.tag), name("/CIDToGIDMap"): name("/Identity"),
            name("/CIDSystemInfo"): generic.DictionaryObject({
                name("/Registry"): generic.pdf_string("Adobe"),
                name("/Ordering"): generic.pdf_string("Identity"),
                name("/Supplement"): generic.NumberObject(0)}),
            name("/FontDescriptor"): descriptor, name("/W"): widths,
            name("/DW"): generic.NumberObject(0)}))
        to_unicode = writer.add_object(generic.StreamObject(
            {name("/Filter"): name("/FlateDecode")}, encoded_data=self.to_unicode))
        return writer.add_object(generic.DictionaryObject({
            name("/Type"): name("/Font"), name("/Subtype"): name("/Type0"),
            name("/BaseFont"): name("/" + self.tag), name("/Encoding"): name("/Identity-H"),
            name("/DescendantFonts"): generic.ArrayObject([cid_font]),
            name("/ToUnicode"): to_unicode}))


def _pdf(value):
    if isinstance(value, list):
        return generic.ArrayObject([generic.NumberObject(v) for v in value])
    return generic.NumberObject(value)


def _font_bytes(font):
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _to_unicode(used):
    """A ToUnicode CMap: each glyph id to its character (UTF-16BE)."""
    lines = [f"<{gid:04X}> <{char.encode('utf-16-be').hex().upper()}>" for gid, char in used]
    chunks = [lines[i:i + 100] for i in range(0, len(lines), 100)]
    body = "\n".join(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar"
                     for chunk in chunks)
    return ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            f"{body}\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
            ).encode("ascii")


def _prepared(path):
    """The font at ``path`` cut to :data:`CHARACTERS` and scaled to 1000 units per
    em, PDF's glyph space (its widths are written as the font has them)."""
    font = ttLib.TTFont(path)
    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.drop_tables += ["FFTM", "GPOS", "GSUB", "GDEF", "kern"]
    options.notdef_outline = True
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=CHARACTERS)
    cutter.subset(font)
    scale_upem(font, 1000)
    return _font_bytes(font)


REGULAR, BOLD = _Font(bold=False), _Font(bold=True)


# -- drawing into an appearance stream -----------------------------------------------

def _rgb(colour):
    return b"%.3f %.3f %.3f" % tuple(c / 255 for c in colour[:3])


class Canvas:
    """PDF content for one appearance or page, in points from its bottom left.

    ``resources(category, name, value)`` records what the content uses (a
    font, an image) where it will be drawn. The fonts are embedded when the
    content is rendered, each a subset of the characters drawn in it.
    """

    def __init__(self, writer, resources):
        self.writer = writer
        self._resources = resources
        self._fonts = {}  # font -> (resource name, characters drawn)
        self.ops = []

    def _use(self, font, text):
        if font not in self._fonts:
            self._fonts[font] = (f"/LT{len(self._fonts)}", set())
        name, characters = self._fonts[font]
        characters.update(text)
        return name.encode()

    @staticmethod
    def width(text, size, font=REGULAR):
        """The width of ``text`` set at ``size`` points."""
        return sum(advance for _, advance in font.glyphs(_nfc(text))) * size / 1000

    def fitted(self, text, size, width, font=REGULAR, smallest=5):
        """``size``, made smaller (to ``smallest``) until ``text`` fits in ``width``."""
        natural = self.width(text, 1, font)
        return max(smallest, min(size, width / natural if natural else size))

    def text(self, text, x, y, size, *, font=REGULAR, colour=BLACK, align="left"):
        """One line from baseline ``(x, y)``; ``align`` left, centre or right of x."""
        text = _nfc(text)
        name = self._use(font, text)
        if align != "left":
            x -= self.width(text, size, font) / (2 if align == "centre" else 1)
        self.ops.append(b"BT %s rg %s %.3f Tf %.3f %.3f Td %s Tj ET" % (
            _rgb(colour), name, size, x, y, _glyph_string(font, text)))

    def ring_text(self, text, cx, cy, radius, size, *, font=BOLD, colour=RED, spread=300):
        """``text`` clockwise around ``(cx, cy)``, centred on the top, each letter
        upright towards the outside, its baseline on ``radius``; marked with the
        whole text as /ActualText, so it is extracted as one line."""
        text = _nfc(text)
        name = self._use(font, text)
        advances = [advance * size / 1000 for _, advance in font.glyphs(text)]
        middle = radius + size * 0.35  # the letters' mid-height
        total = sum(advances)
        gap = max(0.0, (math.radians(spread) * middle - total) / max(len(text), 1))
        angle = math.pi / 2 + (total + gap * (len(text) - 1)) / (2 * middle)  # the start
        ops = []
        for char, advance in zip(text, advances):
            theta = angle - advance / (2 * middle)  # the letter's centre
            cos, sin = math.cos(theta), math.sin(theta)
            # the baseline runs clockwise (sin, -cos), up is outwards (cos, sin)
            x = cx + radius * cos - sin * advance / 2
            y = cy + radius * sin + cos * advance / 2
            ops.append(b"%.4f %.4f %.4f %.4f %.3f %.3f Tm %s Tj" % (
                sin, -cos, cos, sin, x, y, _glyph_string(font, char)))
            angle -= (advance + gap) / middle
        self.ops.append(b"/Span << /ActualText %s >> BDC BT %s rg %s %.3f Tf %s ET EMC" % (
            _text_string(text), _rgb(colour), name, size, b" ".join(ops)))

    def circle(self, cx, cy, r, line_width, colour):
        k = 0.5523 * r  # a circle from four Bézier curves
        self.ops.append(
            b"%s RG %.2f w %.2f %.2f m %.2f %.2f %.2f %.2f %.2f %.2f c"
            b" %.2f %.2f %.2f %.2f %.2f %.2f c %.2f %.2f %.2f %.2f %.2f %.2f c"
            b" %.2f %.2f %.2f %.2f %.2f %.2f c S" % (
                _rgb(colour), line_width, cx + r, cy,
                cx + r, cy + k, cx + k, cy + r, cx, cy + r,
                cx - k, cy + r, cx - r, cy + k, cx - r, cy,
                cx - r, cy - k, cx - k, cy - r, cx, cy - r,
                cx + k, cy - r, cx + r, cy - k, cx + r, cy))

    def polygon(self, points, colour):
        (x0, y0), rest = points[0], points[1:]
        self.ops.append(b"%s rg %.2f %.2f m %s h f" % (
            _rgb(colour), x0, y0, b" ".join(b"%.2f %.2f l" % p for p in rest)))

    def image(self, streams, x, y, width, height):
        """An image (:class:`ImageStreams`) in the box ``(x, y, width, height)``."""
        name = generic.pdf_name(f"/LTImg{len(self.ops)}")
        self._resources(ResourceType.XOBJECT, name, streams.add_to(self.writer))
        self.ops.append(b"q %.3f 0 0 %.3f %.3f %.3f cm %s Do Q" % (
            width, height, x, y, name.encode()))

    def render(self):
        """The content stream; the fonts it uses added to the writer."""
        for font, (name, characters) in self._fonts.items():
            self._resources(ResourceType.FONT, generic.pdf_name(name),
                            font.subset(characters).add_to(self.writer))
        return b"q " + b" ".join(self.ops) + b" Q"


def _glyph_string(font, text):
    return b"<" + "".join(f"{gid:04X}" for gid, _ in font.glyphs(text)).encode() + b">"


def _text_string(text):
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def _nfc(text):
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class DrawnStyle(BaseStampStyle):
    """A pyHanko stamp style whose content ``paint(canvas, width, height)`` draws."""

    paint: Callable = None
    border_width: int = 0

    def create_stamp(self, writer, box, text_params):
        return _DrawnStamp(writer, self, box)


class _DrawnStamp(BaseStamp):
    def _render_inner_content(self):
        canvas = Canvas(self.writer, self.set_resource)
        self.style.paint(canvas, self.box.width, self.box.height)
        return [canvas.render()]


# -- the leader's signature -------------------------------------------------------------

def leader_style(lines, full_name, signing_time):
    """The leader's box: position lines, the blue signature, the name, the time.

    ``signing_time``: when the signature is made (the CMS time stamp says
    exactly), shown ISO 8601 in Vietnam time as Decree 30 writes signing times.
    """
    stamp = f"Thời gian ký: {signing_time.isoformat(timespec='seconds')}"

    def paint(canvas, width, height):
        line = 11.5
        y = height - line
        for text in lines:
            size = canvas.fitted(text, 10, width - 4, BOLD)
            canvas.text(text, width / 2, y, size, font=BOLD, align="centre")
            y -= line
        name_y, time_y = 14, 3
        size = canvas.fitted(full_name, 11, width - 4, BOLD)
        canvas.text(full_name, width / 2, name_y, size, font=BOLD, align="centre")
        canvas.text(stamp, width / 2, time_y, canvas.fitted(stamp, 6.5, width - 4),
                    align="centre")
        top, bottom = y + line - 4, name_y + size + 2
        if top - bottom > 4:
            image_width = width * 0.7
            canvas.image(signature_streams(full_name, (image_width, top - bottom)),
                         (width - image_width) / 2, bottom, image_width, top - bottom)

    return DrawnStyle(paint=paint)


def signature_image(full_name, size=(600, 200)):
    """A handwriting-like blue signature on a transparent background.

    Drawn from a seed derived from the name, so the same name gives the
    same image. (A real leader's scanned signature would replace it.)
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


def signature_streams(full_name, size_pt):
    """The signature image for a box of ``size_pt``, drawn once (:data:`DRAWN`)."""
    px = tuple(max(1, round(v * _PX_PER_PT)) for v in size_pt)
    return DRAWN.get((full_name, px), lambda: ImageStreams(signature_image(full_name, px)))


# -- the agency's seal ------------------------------------------------------------------

def seal_style(agency_name):
    """A red round seal: double ring, the agency's name (upper case) around it, a star."""
    name = _nfc(agency_name).upper()

    def paint(canvas, width, height):
        r = min(width, height) / 2
        cx, cy = width / 2, height / 2
        canvas.circle(cx, cy, r * 0.96, r * 0.06, RED)
        canvas.circle(cx, cy, r * 0.62, r * 0.02, RED)
        baseline = r * 0.68
        # letters (and their marks: Ỷ, Ệ) between the rings, the name within 300 degrees
        size = min(r * 0.2, math.radians(290) * (baseline + r * 0.07)
                   / max(canvas.width(name, 1, BOLD), 1e-6))
        canvas.ring_text(name, cx, cy, baseline, size)
        star = r * 0.34
        canvas.polygon([(cx + (star if k % 2 == 0 else star * 0.4)
                         * math.cos(math.radians(90 + 36 * k)),
                         cy + (star if k % 2 == 0 else star * 0.4)
                         * math.sin(math.radians(90 + 36 * k))) for k in range(10)], RED)

    return DrawnStyle(paint=paint)


# -- text written on the page itself ----------------------------------------------------

def write_top_right(writer, lines, size=10, top=18, right=28):
    """Right-aligned lines at the top right of page one (an appendix's number and
    time), in the embedded font, in ``writer``'s next revision.

    They sit in the top margin, ``top`` points down from the page's edge and
    ``right`` from its right edge: Decree 30 Appendix I keeps 20-25 mm (57 pt
    and more) free at the top, so two lines of 10 pt cover no text (the
    national motto, the agency's name) of a page laid out as it says."""
    page_ref, _ = writer.find_page_for_modification(0)
    box = find_inherited_value_in_tree(page_ref.get_object(), "/MediaBox", "/Parent")
    x1, y1 = float(box[2]), float(box[3])
    resources = generic.DictionaryObject()

    def add(category, name, value):
        resources.setdefault(generic.pdf_name(category.value), generic.DictionaryObject())[
            name] = value

    canvas = Canvas(writer, add)
    right_aligned_lines(canvas, lines, x1 - right, y1 - top, size)
    # Wrap the page's own content in q ... Q so its graphics state cannot move our text.
    writer.add_stream_to_page(0, writer.add_object(generic.StreamObject(stream_data=b"q\n")),
                              prepend=True)
    writer.add_stream_to_page(0, writer.add_object(
        generic.StreamObject(stream_data=b"Q " + canvas.render())), resources=resources)


def right_aligned_lines(canvas, lines, right, first_baseline, size):
    """``lines`` right-aligned at ``right``, the first on ``first_baseline``, each
    next 1.2 lines lower: the appendix's number and time, a copy's mark."""
    for i, line in enumerate(lines):
        canvas.text(line, right, first_baseline - i * size * 1.2, size, align="right")


def top_right_style(lines, size):
    """A signature's appearance holding ``lines`` as :func:`write_top_right` sets
    them: right-aligned in the box, the first line at its top (a copy's mark,
    Decree 30 Appendix I part II: the form, the copying agency, its number, the time)."""
    def paint(canvas, width, height):
        right_aligned_lines(canvas, lines, width, height - size, size)

    return DrawnStyle(paint=paint)


def lines_height(count, size):
    """How tall :func:`right_aligned_lines` sets ``count`` lines of ``size`` points
    (the last line's descent included)."""
    return size + (count - 1) * size * 1.2 + size * 0.3


# -- the number and date the clerk gives -----------------------------------------------

# A template reserves SoKyHieu ("Số: ...") and NgayBanHanh (the date, its place
# printed before it); a document without them gets SoKyHieu and DiaDanhNgay
# (place and date) from the leader's revision (:func:`add_number_fields`).
NUMBER_FIELD, DATE_FIELD, PLACE_DATE_FIELD = "SoKyHieu", "NgayBanHanh", "DiaDanhNgay"
# Where those go on page one of a document that reserves nothing: in the top
# margin, which Decree 30 Appendix I keeps free (20-25 mm, 57 pt and more):
# the number at the left, the place and date at the right, each a field this
# many points high whose top is MARGIN_TOP below the page's top edge.
MARGIN_TOP, FIELD_HEIGHT, SIDE, FIELD_WIDTH = 20, 18, 42, 250


def date_line(day):
    """``ngày 05 tháng 3 năm 2026``: Decree 30 Appendix I writes days below 10 and
    January, February with a leading zero (so no digit can be added by hand)."""
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def place_date_line(place, day):
    """``Nghệ An, ngày 05 tháng 12 năm 2026`` (the date line alone without a place)."""
    place = _nfc(place or "").strip()
    return f"{place}, {date_line(day)}" if place else date_line(day)


def _form_fields(writer):
    form = writer.root.get("/AcroForm")
    found = {}
    for ref in (form.get_object().get("/Fields", ()) if form is not None else ()):
        field = ref.get_object()
        found[str(field.get("/T"))] = (ref, field)
    return found


def add_number_fields(writer):
    """In the leader's revision, before the certification: empty text fields on
    page one for what the clerk gives after the signature, unless the document
    reserves them: :data:`NUMBER_FIELD` at the top left, :data:`PLACE_DATE_FIELD`
    at the top right of the top margin (a template with :data:`DATE_FIELD` prints
    its place itself). The seal's revision fills them (form filling, which the
    leader's certification allows); nothing is drawn on the page's content.
    Returns the names of the fields made. ``writer`` must have an AcroForm (the
    seal's empty field is made first)."""
    have = _form_fields(writer)
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    box = find_inherited_value_in_tree(page, "/CropBox", "/Parent") or \
        find_inherited_value_in_tree(page, "/MediaBox", "/Parent")
    x1, _, x2, y2 = (float(v) for v in box)
    top, bottom = y2 - MARGIN_TOP, y2 - MARGIN_TOP - FIELD_HEIGHT
    width = min(FIELD_WIDTH, (x2 - x1 - 2 * SIDE - 10) / 2)  # side by side, a gap between
    wanted = []
    if NUMBER_FIELD not in have:
        wanted.append((NUMBER_FIELD, (x1 + SIDE, bottom, x1 + SIDE + width, top)))
    if DATE_FIELD not in have and PLACE_DATE_FIELD not in have:
        wanted.append((PLACE_DATE_FIELD, (x2 - SIDE - width, bottom, x2 - SIDE, top)))
    if not wanted:
        return []
    fields = writer.root["/AcroForm"].get_object()["/Fields"]
    name = generic.pdf_name
    for field_name, rect in wanted:
        ref = writer.add_object(generic.DictionaryObject({
            name("/Type"): name("/Annot"), name("/Subtype"): name("/Widget"),
            name("/FT"): name("/Tx"), name("/T"): generic.TextStringObject(field_name),
            name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in rect]),
            name("/F"): generic.NumberObject(4), name("/P"): page_ref,
            name("/DA"): generic.pdf_string("/Helv 11 Tf 0 g"),
            name("/V"): generic.TextStringObject("")}))
        fields.append(ref)
        writer.register_annotation(page_ref, ref)
    writer.update_container(fields)  # a no-op for a form made in this revision
    return [n for n, _ in wanted]


def fill_number_fields(writer, number_notation, day, place=None, size=11):
    """Write ``Số: 12/QĐ-UBND`` and the date line into the document's own fields:
    :data:`NUMBER_FIELD`, and :data:`DATE_FIELD` (``ngày ...``) or
    :data:`PLACE_DATE_FIELD` (``<place>, ngày ...``, right-aligned): each field's
    value and its appearance, in the embedded font, as form filling (what the
    leader's certification allows after it). Returns the texts written, or
    raises :class:`LookupError` naming the fields the document lacks."""
    found = _form_fields(writer)
    texts = {NUMBER_FIELD: f"Số: {number_notation}"}
    if PLACE_DATE_FIELD in found and DATE_FIELD not in found:
        texts[PLACE_DATE_FIELD] = place_date_line(place, day)
    else:
        texts[DATE_FIELD] = date_line(day)
    missing = [name for name in texts if name not in found]
    if missing:
        raise LookupError(", ".join(missing))
    for name, text in texts.items():
        ref, field = found[name]
        x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
        resources = generic.DictionaryObject()

        def add(category, key, value, resources=resources):
            resources.setdefault(generic.pdf_name(category.value),
                                 generic.DictionaryObject())[key] = value

        canvas = Canvas(writer, add)
        fitted = canvas.fitted(text, size, x2 - x1)
        right = name == PLACE_DATE_FIELD
        canvas.text(text, x2 - x1 if right else 0, (y2 - y1 - fitted) / 2 + 2, fitted,
                    align="right" if right else "left")
        content = canvas.render()
        stream = generic.StreamObject({
            generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
            generic.pdf_name("/BBox"): generic.ArrayObject(
                [generic.FloatObject(v) for v in (0, 0, x2 - x1, y2 - y1)]),
            generic.pdf_name("/Resources"): resources}, stream_data=content)
        field[generic.pdf_name("/V")] = generic.TextStringObject(text)
        field[generic.pdf_name("/AP")] = generic.DictionaryObject(
            {generic.pdf_name("/N"): writer.add_object(stream)})
        writer.update_container(field)
    return texts


# -- images kept compressed ---------------------------------------------------------------

class ImageStreams:
    """An image drawn once, kept as the PDF image streams it becomes.

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


# Signature images drawn, by (name, size in pixels).
DRAWN = Lru(256)
