"""The clerk's registers (Decree 30/2020/NĐ-CP, Appendix IV) as CSV and PDF.

Three registers: outgoing documents (sổ đăng ký văn bản đi), incoming
documents (sổ đăng ký văn bản đến) and the follow-up of incoming documents
(sổ theo dõi giải quyết văn bản đến). A register is a list of rows; a row is a
dict keyed by column ids, with str, int, ``datetime.date`` or None values
(a missing key prints as an empty cell).

Pure: no framework, database or server. The PDF needs reportlab and a Unicode
TrueType font (DejaVu Serif) on disk, found by path in ``FONT_DIR``.
"""

import codecs
import csv
import datetime
import io
import unicodedata
from collections import namedtuple
from xml.sax.saxutils import escape

from services.docs.domain import vietnam_time
from shared.documents import DOCUMENT_TYPES
from shared import fonts
from shared.errors import ValidationFailed

Column = namedtuple("Column", "id heading width")  # width: relative, for the PDF

OUTGOING = (
    Column("number_notation", "Số, ký hiệu văn bản", 1.4),
    Column("document_date", "Ngày, tháng văn bản", 1.2),
    Column("type_and_subject", "Tên loại và trích yếu nội dung văn bản", 3.0),
    Column("signer", "Người ký", 1.2),
    Column("recipients", "Nơi nhận văn bản", 1.6),
    Column("archive_unit", "Đơn vị, người nhận bản lưu", 1.3),
    Column("copies", "Số lượng bản", 0.8),
    Column("transfer_date", "Ngày chuyển", 1.2),
    Column("receipt", "Ký nhận", 0.9),
    Column("note", "Ghi chú", 0.9),
)
INCOMING = (
    Column("arrival_date", "Ngày đến", 1.2),
    Column("arrival_number", "Số đến", 0.7),
    Column("author", "Tác giả", 1.8),
    Column("number_notation", "Số, ký hiệu", 1.1),
    Column("document_date", "Ngày tháng văn bản", 1.2),
    Column("type_and_subject", "Tên loại và trích yếu nội dung", 2.6),
    Column("transfer_date", "Ngày chuyển", 1.0),
    Column("handling_unit", "Đơn vị hoặc người nhận", 1.4),
    Column("receipt", "Ký nhận", 0.9),
    Column("note", "Ghi chú", 0.9),
)
FOLLOW_UP = (
    Column("arrival_number", "Số đến", 0.7),
    Column("arrival_date", "Ngày đến", 1.2),
    Column("author_number_date", "Tác giả, số, ký hiệu, ngày tháng văn bản", 2.0),
    Column("type_and_subject", "Tên loại và trích yếu nội dung", 3.0),
    Column("handling_unit", "Đơn vị hoặc người nhận", 1.4),
    Column("due_date", "Thời hạn giải quyết", 1.2),
    Column("progress", "Tiến độ giải quyết", 1.4),
    Column("reply_number", "Số, ký hiệu văn bản trả lời", 1.2),
    Column("note", "Ghi chú", 0.9),
)

# The copies an agency made (Decree 30 Art. 25-28): not one of Appendix IV's
# registers; kept like the outgoing one, a line per copy, numbered per form.
COPIES = (
    Column("number_notation", "Số, ký hiệu bản sao", 1.3),
    Column("copy_date", "Ngày sao", 1.0),
    Column("form", "Hình thức sao", 1.0),
    Column("source", "Số, ký hiệu, ngày văn bản được sao; cơ quan ban hành", 2.4),
    Column("type_and_subject", "Tên loại và trích yếu nội dung văn bản", 2.6),
    Column("pages", "Trang sao", 0.8),
    Column("copied_by", "Người sao", 1.0),
    Column("note", "Ghi chú", 0.8),
)

REGISTERS = {
    "outgoing": {"title": "SỔ ĐĂNG KÝ VĂN BẢN ĐI", "columns": OUTGOING},
    "incoming": {"title": "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN", "columns": INCOMING},
    "follow_up": {"title": "SỔ THEO DÕI GIẢI QUYẾT VĂN BẢN ĐẾN", "columns": FOLLOW_UP},
    "copies": {"title": "SỔ ĐĂNG KÝ BẢN SAO VĂN BẢN", "columns": COPIES},
}

# Register numbers print with at least two digits, as in the book: 1 -> "01".
TWO_DIGIT_COLUMNS = frozenset({"arrival_number", "number_notation", "reply_number"})

# A spreadsheet runs a cell starting with one of these as a formula (CSV
# injection); such a cell gets a leading apostrophe, shown as text by Excel.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def register(kind):
    try:
        return REGISTERS[kind]
    except (KeyError, TypeError):
        raise ValidationFailed(f"kind: unknown register {kind!r}, expected one of "
                               f"{', '.join(REGISTERS)}", field="kind") from None


def format_cell(column_id, value):
    """One cell as printed: dates dd/mm/yyyy, register numbers two digits, text NFC."""
    if value is None:
        return ""
    if isinstance(value, datetime.date):  # a datetime prints its date only
        return value.strftime("%d/%m/%Y")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:02d}" if column_id in TWO_DIGIT_COLUMNS else str(value)
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    raise ValidationFailed(f"{column_id}: expected text, a whole number or a date, "
                           f"got {type(value).__name__}", field=column_id)


def row_cells(columns, row):
    return [format_cell(c.id, row.get(c.id)) for c in columns]


# --- filtering ---------------------------------------------------------------

def _as_date(value, field):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    raise ValidationFailed(f"{field}: expected a date, got {type(value).__name__}",
                           field=field)


def _check_year(year):
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9999:
        raise ValidationFailed(f"year: expected a year, got {year!r}", field="year")


def filter_rows(rows, date_column, year=None, start=None, end=None):
    """The rows whose ``date_column`` falls in ``year`` and in [start, end].

    Each bound is optional; with none, every row is kept. A row without a date
    in that column is left out as soon as any bound is given.
    """
    if year is not None:
        _check_year(year)
    start = None if start is None else _as_date(start, "start")
    end = None if end is None else _as_date(end, "end")
    if start and end and start > end:
        raise ValidationFailed(f"start: {start:%d/%m/%Y} is after end {end:%d/%m/%Y}",
                               field="start")
    if year is None and start is None and end is None:
        return list(rows)
    kept = []
    for row in rows:
        value = row.get(date_column)
        if value is None:
            continue
        day = _as_date(value, date_column)
        if ((year is None or day.year == year) and (start is None or day >= start)
                and (end is None or day <= end)):
            kept.append(row)
    return kept


# --- CSV ---------------------------------------------------------------------

def _csv_safe(text):
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(kind, rows):
    """The CSV's rows of cells: the Vietnamese headings, the column numbers
    (1), (2)..., then one line per row. A cell starting with = + - @ (or tab /
    CR) gets a leading apostrophe, so a spreadsheet shows it as text rather
    than running it as a formula."""
    columns = register(kind)["columns"]
    yield [c.heading for c in columns]
    yield [f"({n})" for n in range(1, len(columns) + 1)]
    for row in rows:
        yield [_csv_safe(cell) for cell in row_cells(columns, row)]


def write_csv(kind, rows, out):
    """Write the register as CSV to the text stream ``out``, one row at a time.

    Open a file with ``newline=""`` (the csv module writes CRLF itself).
    """
    csv.writer(out).writerows(csv_rows(kind, rows))


def csv_chunks(kind, rows, lines=100):
    """The CSV as UTF-8 with a BOM (so Excel reads the Vietnamese correctly),
    in chunks of ``lines`` lines: an answer streams it, never holding it whole."""
    register(kind)  # an unknown register is refused before anything is sent
    yield codecs.BOM_UTF8
    out = io.StringIO()
    writer = csv.writer(out)
    for n, cells in enumerate(csv_rows(kind, rows), 1):
        writer.writerow(cells)
        if n % lines == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def csv_bytes(kind, rows):
    """The whole CSV (``csv_chunks`` joined)."""
    return b"".join(csv_chunks(kind, rows))


def view(kind, rows, page, size):
    """A page of the register as the screen shows it: its title, its columns'
    headings, each row's cells as printed, and how many rows in all."""
    spec = register(kind)
    first = (page - 1) * size
    return {"title": spec["title"],
            "columns": [{"id": c.id, "heading": c.heading} for c in spec["columns"]],
            "items": [row_cells(spec["columns"], row) for row in rows[first:first + size]],
            "total": len(rows), "page": page, "size": size}


# --- PDF ---------------------------------------------------------------------

FONT_DIR = fonts.FONT_DIR
FONT_FILES = fonts.FONT_FILES
FontMissing = fonts.FontMissing


def find_fonts(directory=None):
    """{font name: path} of the fonts the PDF embeds (``shared.fonts``), in ``FONT_DIR``."""
    return fonts.find_fonts(FONT_DIR if directory is None else directory)


_registered = {}  # font name -> path registered with reportlab (parsed once)


def _register_fonts():
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for name, path in find_fonts().items():
        if _registered.get(name) != path:
            pdfmetrics.registerFont(TTFont(name, path))
            _registered[name] = path


def render_pdf(kind, rows, agency_name, year, out_stream):
    """Write the register as a printable A4 landscape PDF to a binary stream.

    Title block on the first page (agency top-left, register title, "Năm
    {year}"), then the table; its two header rows repeat on every page, and
    the footer carries the page number.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer

    spec = register(kind)
    columns = spec["columns"]
    _check_year(year)
    _register_fonts()
    regular, bold = FONT_FILES

    def style(name, **kw):
        return ParagraphStyle(name, **{"fontName": regular, "fontSize": 9, "leading": 11, **kw})

    cell = style("cell")
    head = style("head", alignment=TA_CENTER, fontName=bold)
    number = style("number", alignment=TA_CENTER, fontSize=8)

    def para(text, st):  # escaped text with its line breaks kept
        return Paragraph(escape(text).replace("\n", "<br/>"), st)

    title = spec["title"]
    story = [
        para(unicodedata.normalize("NFC", str(agency_name)).upper(), style("agency", fontName=bold)),
        Spacer(1, 0.6 * cm),
        para(title, style("title", alignment=TA_CENTER, fontName=bold, fontSize=16, leading=20)),
        para(f"Năm {year}", style("year", alignment=TA_CENTER, fontSize=12, leading=16)),
        Spacer(1, 0.5 * cm),
    ]

    data = [[para(c.heading, head) for c in columns],
            [para(f"({n})", number) for n in range(1, len(columns) + 1)]]
    data += [[para(text, cell) for text in row_cells(columns, row)] for row in rows]

    doc = SimpleDocTemplate(out_stream, pagesize=landscape(A4), title=f"{title} - Năm {year}",
                            author=str(agency_name), leftMargin=1.5 * cm, rightMargin=1.5 * cm,
                            topMargin=1.5 * cm, bottomMargin=1.5 * cm)
    total = sum(c.width for c in columns)
    widths = [doc.width * c.width / total for c in columns]
    # splitInRow lets a cell longer than a page continue on the next one.
    table = LongTable(data, colWidths=widths, repeatRows=2, splitInRow=1, style=[
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("VALIGN", (0, 0), (-1, 0), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ])
    story.append(table)

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(regular, 9)
        canvas.drawCentredString(doc.pagesize[0] / 2, 0.8 * cm, f"Trang {doc.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)


# -- rows from the docs service's projections ---------------------------------------

def type_and_subject(document):
    """"Tên loại và trích yếu": the type's name, then the subject."""
    return f"{DOCUMENT_TYPES.get(document.get('document_type'), '')}: {document['subject']}"


def _local_date(moment):
    return vietnam_time(moment).date() if moment is not None else None


def _code(code, on):
    return code


def outgoing_row(document, name_of=_code):
    """One numbered document of the agency (numbered when its leader signed), as a
    line of the outgoing register.
    ``name_of(code, date)``: an agency's name on that date (Appendix IV prints
    names where agencies are meant, not codes)."""
    signer = document.get("signer") or {}
    state = document["state"]
    issued = _local_date(document["issued_at"])
    return {
        "number_notation": document["number_notation"],
        "document_date": _local_date(document["issued_at"]),
        "type_and_subject": type_and_subject(document),
        "signer": " ".join(p for p in (signer.get("competence"), signer.get("full_name")) if p),
        "recipients": ", ".join(name_of(code, issued) for code in document["recipients"]),
        "archive_unit": document.get("drafting_unit"),
        "copies": len(document["recipients"]),
        "transfer_date": _local_date(document.get("sent_at")),
        # numbered at the leader's signature; until issued the entry says so
        "note": {"recalled": "Đã thu hồi", "replaced": "Đã bị thay thế",
                 "signed": "Chưa phát hành", "sealed": "Chưa phát hành"}.get(state),
    }


def incoming_row(arrival, document, name_of=_code):
    """One arrival at the agency, as a line of the incoming register."""
    note = None
    if arrival["state"] == "returned":
        note = f"Trả lại: {arrival['reason']}"
    elif arrival["state"] == "withdrawn":
        note = "Bên gửi đã thu hồi"
    return {
        "arrival_date": _local_date(arrival["arrived_at"]),
        "arrival_number": arrival["arrival_number"],
        "author": name_of(document["issuing_agency"], _local_date(document["issued_at"])),
        "number_notation": document["number_notation"],
        "document_date": _local_date(document["issued_at"]),
        "type_and_subject": type_and_subject(document),
        "transfer_date": _local_date(arrival.get("handed_at")),
        "handling_unit": arrival.get("handed_to"),
        "note": note,
    }


def follow_up_row(arrival, document, name_of=_code):
    """One arrival, as a line of the register that follows its handling deadline."""
    day = _local_date(document["issued_at"])
    author = name_of(document["issuing_agency"], day)
    return {
        "arrival_number": arrival["arrival_number"],
        "arrival_date": _local_date(arrival["arrived_at"]),
        "author_number_date": f"{author}, {document['number_notation']},"
                              f" {day:%d/%m/%Y}",
        "type_and_subject": type_and_subject(document),
        "handling_unit": arrival.get("handed_to"),
        "due_date": (datetime.date.fromisoformat(document["due_date"])
                     if document.get("due_date") else None),
        "progress": {"arrived": "Chưa xử lý", "accepted": "Đã tiếp nhận",
                     "returned": "Đã trả lại", "withdrawn": "Đã thu hồi"}[arrival["state"]],
        "note": arrival.get("reason"),
    }
