"""services.docs.registers: the clerk's registers as CSV and PDF (no server)."""

import csv
import datetime
import io
import unicodedata

import pytest
from pypdf import PdfReader

from services.docs import registers
from services.docs.registers import (
    REGISTERS,
    FontMissing,
    csv_bytes,
    filter_rows,
    format_cell,
    render_pdf,
    write_csv,
)
from shared.errors import ValidationFailed

AGENCY = "Ủy ban nhân dân tỉnh Hà Giang"
SUBJECT = "Quyết định về việc điều động cán bộ đến công tác tại Sở Nội vụ"
D = datetime.date


def incoming(n, day=D(2024, 3, 5), **extra):  # noqa: B008 (an immutable date)
    return {"arrival_date": day, "arrival_number": n, "author": "Bộ Nội vụ",
            "number_notation": "15/QĐ-BNV", "document_date": D(2024, 3, 1),
            "type_and_subject": SUBJECT, "handling_unit": "Phòng Tổ chức", **extra}


def parse(kind, rows):
    out = io.StringIO(newline="")
    write_csv(kind, rows, out)
    return list(csv.reader(io.StringIO(out.getvalue(), newline="")))


def nfc(text):
    return unicodedata.normalize("NFC", text)


# --- the column tables -------------------------------------------------------

def test_three_registers_with_their_columns():
    ids = {kind: [c.id for c in spec["columns"]] for kind, spec in REGISTERS.items()}
    assert ids == {
        "outgoing": ["number_notation", "document_date", "type_and_subject", "signer",
                     "recipients", "archive_unit", "copies", "transfer_date", "receipt",
                     "note"],
        "incoming": ["arrival_date", "arrival_number", "author", "number_notation",
                     "document_date", "type_and_subject", "transfer_date", "handling_unit",
                     "receipt", "note"],
        "follow_up": ["arrival_number", "arrival_date", "author_number_date",
                      "type_and_subject", "handling_unit", "due_date", "progress",
                      "reply_number", "note"],
        # the agency's copies (Decree 30 Art. 25-28), beside Appendix IV's three
        "copies": ["number_notation", "copy_date", "form", "source", "type_and_subject",
                   "pages", "copied_by", "note"],
    }
    assert REGISTERS["follow_up"]["title"] == "SỔ THEO DÕI GIẢI QUYẾT VĂN BẢN ĐẾN"
    assert all(c.width > 0 for spec in REGISTERS.values() for c in spec["columns"])


# --- cells -------------------------------------------------------------------

def test_dates_print_day_month_year_and_numbers_two_digits():
    assert format_cell("arrival_date", D(2024, 3, 5)) == "05/03/2024"
    assert format_cell("due_date", datetime.datetime(2024, 12, 31, 23, 59)) == "31/12/2024"
    assert format_cell("arrival_number", 1) == "01"
    assert format_cell("number_notation", 7) == "07"
    assert format_cell("arrival_number", 1234) == "1234"
    assert format_cell("copies", 3) == "3"
    assert format_cell("note", None) == ""


def test_a_value_of_another_type_names_its_column():
    with pytest.raises(ValidationFailed) as caught:
        format_cell("copies", 2.5)
    assert caught.value.field == "copies"


def test_unknown_register_names_the_kind():
    with pytest.raises(ValidationFailed) as caught:
        csv_bytes("minutes", [])
    assert caught.value.field == "kind"


# --- filtering ---------------------------------------------------------------

ROWS = [incoming(1, D(2023, 12, 31)), incoming(2, D(2024, 1, 1)), incoming(3, D(2024, 6, 15)),
        incoming(4, D(2024, 12, 31)), incoming(5, D(2025, 1, 1)), incoming(6, None)]


def numbers(rows):
    return [r["arrival_number"] for r in rows]


def test_filter_by_year():
    assert numbers(filter_rows(ROWS, "arrival_date", year=2024)) == [2, 3, 4]


def test_filter_by_inclusive_range():
    kept = filter_rows(ROWS, "arrival_date", start=D(2024, 1, 1), end=D(2024, 6, 15))
    assert numbers(kept) == [2, 3]
    assert numbers(filter_rows(ROWS, "arrival_date", start=D(2024, 6, 15))) == [3, 4, 5]
    assert numbers(filter_rows(ROWS, "arrival_date", year=2024, end=D(2024, 6, 14))) == [2]


def test_no_bound_keeps_every_row():
    assert filter_rows(ROWS, "arrival_date") == ROWS


def test_start_after_end_names_start():
    with pytest.raises(ValidationFailed) as caught:
        filter_rows(ROWS, "arrival_date", start=D(2024, 2, 1), end=D(2024, 1, 1))
    assert caught.value.field == "start"
    assert caught.value.code == "validation_failed"


@pytest.mark.parametrize("year", ["2024", 0, True])
def test_a_bad_year_names_year(year):
    with pytest.raises(ValidationFailed) as caught:
        filter_rows(ROWS, "arrival_date", year=year)
    assert caught.value.field == "year"


def test_a_bound_that_is_not_a_date_names_it():
    with pytest.raises(ValidationFailed) as caught:
        filter_rows(ROWS, "arrival_date", end="2024-01-01")
    assert caught.value.field == "end"


# --- CSV ---------------------------------------------------------------------

def test_csv_headings_then_column_numbers():
    table = parse("outgoing", [])
    assert table[0][:3] == ["Số, ký hiệu văn bản", "Ngày, tháng văn bản",
                            "Tên loại và trích yếu nội dung văn bản"]
    assert table[1] == [f"({n})" for n in range(1, 11)]
    assert len(table) == 2


def test_csv_row_in_column_order_with_missing_keys_empty():
    table = parse("incoming", [incoming(1)])
    assert table[2] == ["05/03/2024", "01", "Bộ Nội vụ", "15/QĐ-BNV", "01/03/2024",
                        SUBJECT, "", "Phòng Tổ chức", "", ""]


def test_csv_quotes_commas_quotes_and_newlines():
    tricky = 'Công văn "khẩn", về việc A,\nB và C'
    out = io.StringIO(newline="")
    write_csv("incoming", [incoming(1, note=tricky)], out)
    assert '"Công văn ""khẩn"", về việc A,\nB và C"' in out.getvalue()
    assert parse("incoming", [incoming(1, note=tricky)])[2][-1] == tricky


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)"])
def test_csv_formula_injection_gets_an_apostrophe(value):
    assert parse("incoming", [incoming(1, note=value)])[2][-1] == "'" + value


def test_csv_leaves_ordinary_text_dates_and_numbers_alone():
    row = parse("outgoing", [{"number_notation": 3, "copies": 2, "note": "a = b",
                              "transfer_date": D(2024, 1, 2)}])[2]
    assert row[0] == "03" and row[6] == "2" and row[7] == "02/01/2024" and row[9] == "a = b"


def test_csv_bytes_start_with_a_bom_and_round_trip_vietnamese_as_nfc():
    decomposed = unicodedata.normalize("NFD", SUBJECT)
    data = csv_bytes("incoming", [incoming(1, type_and_subject=decomposed)])
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert table[0][0] == "Ngày đến"
    assert table[2][5] == SUBJECT == nfc(SUBJECT)
    assert data.count(b"\xef\xbb\xbf") == 1


def test_csv_streams_row_by_row():
    out = io.StringIO(newline="")

    def rows():
        for n in range(1, 4):
            yield incoming(n)
            # the row just given is on the stream before the next is asked for
            assert out.getvalue().count("Bộ Nội vụ") == n

    write_csv("incoming", rows(), out)
    assert out.getvalue().count("\r\n") == 5


# --- PDF ---------------------------------------------------------------------

def pdf(kind, rows, year=2024):
    out = io.BytesIO()
    render_pdf(kind, rows, AGENCY, year, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def many_pages():
    data = pdf("incoming", [incoming(n) for n in range(1, 201)])
    reader = PdfReader(io.BytesIO(data))
    return data, [nfc(page.extract_text()) for page in reader.pages]


def test_pdf_is_a_pdf(many_pages):
    data, _ = many_pages
    assert data.startswith(b"%PDF-")


def test_pdf_spreads_many_rows_over_numbered_pages(many_pages):
    _, pages = many_pages
    assert len(pages) > 1
    for number, text in enumerate(pages, start=1):
        assert f"Trang {number}" in text
        assert "Số đến" in text and "(10)" in text  # the header repeats
    assert "200" in pages[-1] and "200" not in "".join(pages[:-1])


def test_pdf_title_block_and_vietnamese_text_are_extractable(many_pages):
    _, pages = many_pages
    first = pages[0]
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in first
    assert "Năm 2024" in first
    assert nfc(AGENCY).upper() in first
    assert "Quyết định về việc điều động" in first
    assert "05/03/2024" in first


@pytest.mark.parametrize("kind", sorted(REGISTERS))
def test_pdf_of_each_register_fits_a_few_rows_on_one_page(kind):
    reader = PdfReader(io.BytesIO(pdf(kind, [{"type_and_subject": SUBJECT, "note": "<b>&"}])))
    assert len(reader.pages) == 1
    text = nfc(reader.pages[0].extract_text())
    assert REGISTERS[kind]["title"] in text and "<b>&" in text


def test_pdf_of_an_empty_register_still_prints_its_headings():
    reader = PdfReader(io.BytesIO(pdf("outgoing", [])))
    assert "Ký nhận" in nfc(reader.pages[0].extract_text())


def test_pdf_cell_longer_than_a_page_continues_on_the_next():
    reader = PdfReader(io.BytesIO(pdf("outgoing", [{"type_and_subject": "trích yếu " * 3000}])))
    assert len(reader.pages) > 1


def test_missing_font_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(registers, "FONT_DIR", str(tmp_path))
    with pytest.raises(FontMissing) as caught:
        pdf("incoming", [incoming(1)])
    message = str(caught.value)
    assert str(tmp_path / "DejaVuSerif.ttf") in message
    assert "apt-get install fonts-dejavu-core" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_pdf_needs_a_year():
    with pytest.raises(ValidationFailed) as caught:
        pdf("incoming", [], year=None)
    assert caught.value.field == "year"


def test_the_csv_streams_in_chunks_that_join_to_the_whole():
    rows = [incoming(n) for n in range(1, 251)]
    chunks = list(registers.csv_chunks("incoming", rows, lines=100))
    # The BOM, then lines 1-100, 101-200, and the rest (two header lines + 250 rows).
    assert chunks[0] == b"\xef\xbb\xbf" and len(chunks) == 4
    assert b"".join(chunks) == csv_bytes("incoming", rows)
    assert [len(c.decode().splitlines()) for c in chunks[1:]] == [100, 100, 52]
    parsed = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"), newline="")))
    assert parsed[0][0] == "Ngày đến" and parsed[-1][1] == "250"
    with pytest.raises(ValidationFailed):
        next(registers.csv_chunks("minutes", rows))


def test_the_screen_shows_a_page_of_cells_as_printed():
    rows = [incoming(n) for n in range(1, 26)]
    page = registers.view("incoming", rows, 2, 10)
    assert page["title"] == "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" and page["total"] == 25
    assert page["columns"][1] == {"id": "arrival_number", "heading": "Số đến"}
    assert [cells[1] for cells in page["items"]] == [str(n) for n in range(11, 21)]
    assert page["items"][0][0] == "05/03/2024"
    assert registers.view("incoming", rows[:3], 1, 10)["items"][0][1] == "01"
    assert registers.view("incoming", rows, 4, 10)["items"] == []
