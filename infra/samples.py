"""Small, valid PDFs made in the tests (one page of text, correct xref table)."""

import io


def make_pdf(text="Liên thông test document", padding=0):
    """A one-page PDF 1.4; ``padding`` bytes of comment make it as large as wanted."""
    safe = text.encode("latin-1", "replace").decode("latin-1").replace("(", "").replace(")", "")
    stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    if padding:
        line = b"%" + b"x" * 78 + b"\n"
        out += line * (padding // len(line) + 1)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


# Names of the fields a document reserves for what the clerk gives at issue
# (Decree 30 Art. 8: the number and the date are format elements of the document).
NUMBER_FIELD, DATE_FIELD = "SoKyHieu", "NgayBanHanh"


def make_decree_pdf(*, agency=("ỦY BAN NHÂN DÂN", "TỈNH NGHỆ AN"), notation="QĐ-UBND",
                    place="Nghệ An", kind="QUYẾT ĐỊNH",
                    subject="Về việc ban hành quy chế công tác văn thư",
                    body=("Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của",
                          "Chính phủ về công tác văn thư;"),
                    recipients=("Như Điều 3;", "Lưu: VT."), padding=0):
    """A one-page A4 document laid out as Decree 30 Appendix I shows it, in
    Vietnamese (DejaVu Serif, embedded): the agency and the national motto at the
    top, "Số:" and the place-and-date line with empty form fields
    (:data:`NUMBER_FIELD`, :data:`DATE_FIELD`) where the number and date given
    at the leader's signature go at the seal, the type, the subject, the body,
    the recipients, and the signer block left free for the signatures
    (pades.DEFAULT_BOX). ``padding``
    random bytes in a revision of their own make it as large as wanted."""
    out, page, regular, bold = _a4_page()
    page.setFont(bold, 11)
    for i, line in enumerate(agency):
        page.drawCentredString(150, 790 - i * 14, line)
    page.drawCentredString(400, 790, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    page.drawCentredString(400, 776, "Độc lập - Tự do - Hạnh phúc")
    page.line(326, 770, 474, 770)  # under the whole motto, below its descenders
    page.line(125, 758, 175, 758)
    page.setFont(regular, 11)
    # the number and date: empty fields until issue; "Số: .../QĐ-UBND" would be typed here
    page.acroForm.textfield(name=NUMBER_FIELD, tooltip=f"Số: .../{notation}", x=60, y=735,
                            width=180, height=16, borderWidth=0, fillColor=None,
                            borderColor=None, fontSize=11, value="")
    page.drawRightString(368, 740, f"{place},")
    page.acroForm.textfield(name=DATE_FIELD, tooltip="ngày ... tháng ... năm ...", x=370,
                            y=735, width=170, height=16, borderWidth=0, fillColor=None,
                            borderColor=None, fontSize=11, value="")
    page.setFont(bold, 13)
    page.drawCentredString(297, 690, kind)
    page.setFont(bold, 11)
    page.drawCentredString(297, 674, subject)
    page.setFont(regular, 11)
    for i, line in enumerate(body):
        page.drawString(72, 640 - i * 16, line)
    page.setFont(bold, 9)
    page.drawString(60, 200, "Nơi nhận:")
    page.setFont(regular, 8)
    for i, line in enumerate(recipients):
        page.drawString(60, 188 - i * 11, f"- {line}")
    return _finished(out, page, padding)


def make_appendix_pdf(*, heading="PHỤ LỤC", title="DANH SÁCH CÁC ĐIỂM SƠ TÁN DÂN",
                      attached_to=("(Kèm theo Chỉ thị số          /CT-UBND ngày      tháng"
                                   "      năm 2026", "của Ủy ban nhân dân tỉnh Nghệ An)"),
                      columns=("STT", "Huyện", "Xã", "Điểm sơ tán", "Sức chứa (người)"),
                      rows=(("1", "Diễn Châu", "Diễn Hoa", "Trường THCS Diễn Hoa", "450"),
                            ("2", "Diễn Châu", "Diễn Phong", "Nhà văn hóa xóm 3", "200"),
                            ("3", "Yên Thành", "Bắc Thành", "Trụ sở UBND xã Bắc Thành", "300"),
                            ("4", "Quỳnh Lưu", "Quỳnh Thạch", "Trường Tiểu học Quỳnh Thạch",
                             "500")),
                      padding=0):
    """A one-page A4 appendix laid out as Decree 30 Appendix I shows one, in
    Vietnamese (DejaVu Serif, embedded): ``heading`` and ``title`` centred in
    capitals, the lines saying which document it goes with (``attached_to``:
    "(Kèm theo ...)", its number and date left blank: the appendix is drafted
    before the register numbers the document), a short rule, then a table of
    ``columns`` and ``rows``. The top margin (Decree 30: 20-25 mm) holds no text: the
    agency's invisible signature writes the number and the signing time at its
    right (pades.seal_appendix). ``padding``: as :func:`make_decree_pdf`."""
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfbase.pdfmetrics import stringWidth

    out, page, regular, bold = _a4_page()
    left, right = 85, 595 - 57  # Decree 30: 30-35 mm left, 15-20 mm right
    middle = (left + right) / 2
    page.setFont(bold, 13)
    page.drawCentredString(middle, 768, heading)
    page.setFont(bold, 12)
    y = 750
    for line in simpleSplit(title, bold, 12, right - left):
        page.drawCentredString(middle, y, line)
        y -= 15
    page.setFont(regular, 11)
    for line in attached_to:
        page.drawCentredString(middle, y, line)
        y -= 14
    page.line(middle - 40, y + 4, middle + 40, y + 4)
    # The table: each column as wide as its widest cell, the spare width shared out.
    size, pad, height = 10, 4, 18
    wanted = [max(stringWidth(cell, bold if i == 0 else regular, size) + 2 * pad
                  for i, cell in enumerate(column))
              for column in zip(columns, *rows)]
    spare = (right - left - sum(wanted)) / len(wanted)
    widths = [w + spare for w in wanted]
    edges = [left]
    for width in widths:
        edges.append(edges[-1] + width)
    top = y - 16
    for r, cells in enumerate([columns, *rows]):
        page.setFont(bold if r == 0 else regular, size)
        baseline = top - (r + 1) * height + 6
        for x1, x2, cell in zip(edges, edges[1:], cells):
            if r == 0 or cell.isdigit():
                page.drawCentredString((x1 + x2) / 2, baseline, cell)
            else:
                page.drawString(x1 + pad, baseline, cell)
    bottom = top - (len(rows) + 1) * height
    for k in range(len(rows) + 2):
        page.line(left, top - k * height, right, top - k * height)
    for x in edges:
        page.line(x, top, x, bottom)
    return _finished(out, page, padding)


def _a4_page():
    """(buffer, canvas, regular font, bold font): an A4 page to draw on, the
    Unicode fonts (shared.fonts) registered for embedding."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    from shared.fonts import find_fonts

    for name, path in find_fonts().items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, path))
    out = io.BytesIO()
    return out, canvas.Canvas(out, pagesize=(595, 842)), "LienThongSerif", "LienThongSerif-Bold"


def _finished(out, page, padding):
    page.showPage()
    page.save()
    return _padded(out.getvalue(), padding) if padding else out.getvalue()


def _padded(pdf, padding):
    """``pdf`` with an incremental revision holding an unreferenced stream of
    ``padding`` random bytes: as large as wanted, the page unchanged."""
    import os

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.add_object(generic.StreamObject(stream_data=os.urandom(padding)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
