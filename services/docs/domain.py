"""The docs service's pure core: code tables and the rules of registration.

Imports no framework, driver or SDK: tested without any server.
"""

from shared.envelope import Actor, new_event
from shared.errors import Forbidden, ValidationFailed

SERVICE = "docs"

# Decree 30/2020 Art. 7: document types and their notation abbreviations.
# Công văn and Thư công have none (Công văn's notation is agency + drafting unit).
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

# 0 Thường, 1 Khẩn, 2 Thượng khẩn, 3 Hỏa tốc.
URGENCY = {0: "Thường", 1: "Khẩn", 2: "Thượng khẩn", 3: "Hỏa tốc"}


def stream_of(document_id):
    return f"document-{document_id}"


def file_key(document_id):
    return f"documents/{document_id}/main.pdf"


def check_registration(command, actor: Actor):
    """Rules checked before any byte of the file is read or stored."""
    if actor.role != "clerk":
        raise Forbidden("only a clerk (văn thư) registers documents", field="role")
    if actor.agency in command["recipients"]:
        raise ValidationFailed("recipients: an agency does not send a document to itself",
                               field="recipients")


def document_registered(document_id, command, stored_file, actor: Actor):
    """The ``DocumentRegistered`` event for a checked command and its stored file."""
    return new_event(
        "DocumentRegistered",
        {
            "document_id": document_id,
            "subject": command["subject"],
            "document_type": command["document_type"],
            "urgency": command["urgency"],
            "issuing_agency": actor.agency,
            "recipients": sorted(command["recipients"]),
            "file": stored_file.to_dict(),
        },
        actor=actor, producer=SERVICE, stream_id=stream_of(document_id),
    )


def may_read(document, actor: Actor):
    """A clerk sees documents sent from or delivered to their agency; auditors see all."""
    if actor.role == "auditor":
        return True
    return (actor.agency == document["issuing_agency"]
            or actor.agency in document["delivered_to"])
