"""What every service knows of a document: Decree 30's types, and where its
files live in the bucket (docs stores them, routing stores imported ones,
signing stores what it signs)."""

# Decree 30/2020 Art. 7: document types and their notation abbreviations.
DOCUMENT_TYPES = {
    "NQ": "Nghị quyết", "QĐ": "Quyết định", "CT": "Chỉ thị", "QC": "Quy chế",
    "QyĐ": "Quy định", "TC": "Thông cáo", "TB": "Thông báo", "HD": "Hướng dẫn",
    "CTr": "Chương trình", "KH": "Kế hoạch", "PA": "Phương án", "ĐA": "Đề án",
    "DA": "Dự án", "BC": "Báo cáo", "BB": "Biên bản", "TTr": "Tờ trình",
    "HĐ": "Hợp đồng", "CV": "Công văn", "CĐ": "Công điện", "BGN": "Bản ghi nhớ",
    "BTT": "Bản thỏa thuận", "GUQ": "Giấy ủy quyền", "GM": "Giấy mời",
    "GGT": "Giấy giới thiệu", "GNP": "Giấy nghỉ phép", "PG": "Phiếu gửi",
    "PC": "Phiếu chuyển", "PB": "Phiếu báo", "THC": "Thư công",
}

# Copies (Decree 30 Art. 25-28, Appendix I part II): the code in a copy's
# notation (01/SY-UBND) and the form written on it. TrS is the handbook's.
COPY_FORMS = {"SY": "SAO Y", "SL": "SAO LỤC", "TrS": "TRÍCH SAO"}


def document_prefix(document_id: str) -> str:
    """Where every file of the document is kept."""
    return f"documents/{document_id}/"


def file_key(document_id: str, name: str = "main.pdf") -> str:
    return f"{document_prefix(document_id)}{name}"


def attachment_key(document_id: str, index: int) -> str:
    return f"{document_prefix(document_id)}attachments/{index:03d}"
