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
