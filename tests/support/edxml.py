"""An edXML package as the national axis would send it, for tests."""

import base64
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from services.routing import edxml
from tests.support.client import DISTRICT_1, DISTRICT_2
from tests.support.pdf import make_pdf

MINISTRY = "000.00.00.G22"  # Bộ Nội vụ: on the axis, not on this platform
VIETNAM = timezone(timedelta(hours=7))
MAIN = make_pdf("Cong van cua Bo Noi vu")
APPENDIX = make_pdf("Phu luc")


def package(number="125", to=(DISTRICT_1, DISTRICT_2), on=date(2026, 11, 20), files=None,
            **changes):
    """A package as the axis would send it: the document and an appendix inline."""
    pkg = edxml.Package(
        from_agency=edxml.Agency(id=MINISTRY, name="Bộ Nội vụ"),
        to_agencies=[edxml.Agency(id=code) for code in to],
        code_number=number, code_notation="BNV-VP", promulgation_date=on,
        document_type=edxml.DocumentType(type="18", name="Công văn"),
        subject="Về việc chuyển đổi số trong công tác văn thư",
        signer=edxml.Signer(competence="KT. Bộ trưởng", position="Thứ trưởng",
                            full_name="Trần Văn Bình"),
        priority=1, due_date=date(2026, 12, 15),
        traces=[edxml.Trace(MINISTRY, datetime(2026, 11, 20, 9, 30, tzinfo=VIETNAM))],
        attachments=files if files is not None else [
            edxml.Attachment(content_id="main", name="125-BNV-VP.pdf",
                             content_type="application/pdf", content=MAIN),
            edxml.Attachment(content_id="pl1", name="phu-luc.pdf",
                             content_type="application/pdf", content=APPENDIX)])
    return base64.b64encode(edxml.export_package(replace(pkg, **changes))).decode()


def zipped(package_b64):
    """The package as the SDKs send files: each one zipped (under a UUID-like
    name, as their examples show), ``ContentType`` ``application/zip`` in
    ``AttachmentEncoded``, the manifest keeping the file's own name and type."""
    import io
    import re
    import zipfile

    envelope, files = base64.b64decode(package_b64).decode().split("</edXML:edXMLEnvelope>")

    def zip_one(match):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("3f2b8c1e-0d4a-4e57-9a61-5c7d2e8f9b10.pdf",
                             base64.b64decode(match.group(1)))
        return ("<ContentTransferEncoded>" + base64.b64encode(buffer.getvalue()).decode()
                + "</ContentTransferEncoded>")

    files = re.sub(r"<ContentTransferEncoded>([^<]*)</ContentTransferEncoded>", zip_one, files)
    files = files.replace("<ContentType>application/pdf</ContentType>",
                          "<ContentType>application/zip</ContentType>")
    text = envelope + "</edXML:edXMLEnvelope>" + files
    return base64.b64encode(text.encode()).decode()


def revocation(of_number="125", doc_type=1, on=date(2026, 11, 20), **changes):
    """A revocation (1), update (2) or replacement (3) of document ``of_number``
    that the ministry sent before."""
    target = edxml.document_id(MINISTRY, on, of_number, "BNV-VP")
    business = edxml.Business(
        doc_type=doc_type, reason="Thu hồi do sai sót" if doc_type == 1 else "Cập nhật",
        document_id=target, paper=0,
        staff_info=edxml.StaffInfo(department="Văn phòng", staff="Phạm Thu Hà"),
        document_info=changes.pop("document_info", None))
    changes.setdefault("number", "125" if doc_type != 3 else "130")
    return package(business=business, **changes)
