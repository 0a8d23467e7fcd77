"""services.routing.edxml: edXML (QCVN 102:2016) packages in and out, strictly."""

import base64
import hashlib
import io
import zipfile
from datetime import date, datetime, timedelta, timezone

import pytest

from services.routing.edxml import (
    DEFAULT_MAX_BYTES, EXT_NS, NS, STATUS_CODES, Agency, Attachment, Business,
    BusinessDocumentInfo, DocumentIdParts, DocumentType, Package, Receiver, Replacement,
    ResponseFor, Signer, StaffInfo, StatusPackage, Trace, document_id, export_package,
    export_status, import_package, import_status, organ_id_form, parse_document_id, unpack_zip,
)
from shared.errors import ValidationFailed

VN = timezone(timedelta(hours=7))
HEADER = "edXMLHeader/MessageHeader"
PDF = b"%PDF-1.7\n\xe2\x9c\x93 V\xc4\x83n b\xe1\xba\xa3n \x00\x01\xff"
SCAN = b"scanned appendix " * 64


def _full_package():
    sender = Agency(id="000.00.00.H41", name="Ủy ban nhân dân tỉnh Nghệ An",
                    in_charge="Văn phòng UBND tỉnh", address="16 Trường Thi, TP. Vinh, Nghệ An",
                    email="vanthu@nghean.gov.vn", telephone="0238 3840 000",
                    fax="0238 3843 049", website="https://nghean.gov.vn")
    return Package(
        from_agency=sender,
        to_agencies=[
            Agency(id="000.00.00.G22", name="Văn phòng Chính phủ"),
            Agency(id="000.00.18.G12", name="Tổng cục Thuế", email="tct@gdt.gov.vn"),
        ],
        code_number="12",
        code_notation="QĐ-UBND",
        promulgation_date=date(2024, 3, 5),
        document_type=DocumentType(type="2", detail="0", name="Quyết định"),
        subject="Về việc phê duyệt kế hoạch chuyển đổi số năm 2024 — trích yếu dài, có dấu",
        promulgation_place="Nghệ An",
        content="Căn cứ Nghị định 30/2020/NĐ-CP; xét đề nghị của Sở Thông tin và Truyền thông.",
        signer=Signer(competence="KT. Chủ tịch", position="Phó Chủ tịch",
                      full_name="Nguyễn Văn Đức"),
        due_date=date(2024, 3, 20),
        to_places=["Như trên", "Lưu: VT, KGVX"],
        priority=2,
        sphere="Toàn tỉnh",
        typer_notation="NVĐ",
        promulgation_amount=5,
        page_amount=3,
        appendixes=["Phụ lục I: Danh mục nhiệm vụ", "Phụ lục II: Kinh phí"],
        response_for=[ResponseFor(organ_id="000.00.00.G22", code="45/CV-VPCP",
                                  promulgation_date=date(2024, 2, 28),
                                  document_id="000.00.00.G22,2024/02/28,45/CV-VPCP")],
        steering_type=1,
        document_id="000.00.00.H41,2024/03/05,12/QĐ-UBND",
        traces=[
            Trace("000.00.00.H41", datetime(2024, 3, 5, 8, 30, 0, tzinfo=VN)),
            Trace("000.00.00.G22", datetime(2024, 3, 5, 1, 31, 15, tzinfo=timezone.utc)),
        ],
        business=Business(doc_type=3, reason="Thay thế do sai sót về số liệu",
                          document_id="000.00.00.H41,2024/03/01,10/QĐ-UBND", paper=0,
                          staff_info=StaffInfo(department="Văn phòng", staff="Trần Thị Lan",
                                               mobile="0912345678", email="lan@nghean.gov.vn"),
                          replacements=[Replacement("000.00.00.H41,2024/03/01,10/QĐ-UBND",
                                                    ["000.00.00.G22", "000.00.18.G12"])]),
        attachments=[
            Attachment(content_id="main", name="Quyết định 12.pdf",
                       content_type="application/pdf", description="Văn bản chính",
                       content=PDF),
            Attachment(content_id="phu-luc-1", name="Phụ lục I.pdf",
                       content_type="application/pdf", description="Phụ lục (by reference)",
                       uri="s3://documents/5b7f2a1e/phu-luc-1.pdf",
                       sha256=hashlib.sha256(SCAN).hexdigest(), size=len(SCAN)),
        ],
    )


def _minimal_package():
    return Package(from_agency=Agency("000.00.00.H41"), to_agencies=[Agency("000.00.00.H42")],
                   code_number="7", code_notation="UBND-VP", promulgation_date=date(2024, 1, 2),
                   document_type=DocumentType(name="Công văn"), subject="Công văn đôn đốc")


def _status(code, description="Đã nhận văn bản"):
    return StatusPackage(
        response_for=ResponseFor(organ_id="000.00.00.H41", code="12/QĐ-UBND",
                                 promulgation_date=date(2024, 3, 5),
                                 document_id="000.00.00.H41,2024/03/05,12/QĐ-UBND"),
        from_agency=Agency(id="000.00.00.G22", name="Văn phòng Chính phủ"),
        status_code=code, description=description,
        timestamp=datetime(2024, 3, 5, 9, 15, 0, tzinfo=VN),
        staff_info=StaffInfo(department="Phòng Hành chính", staff="Lê Văn Hùng",
                             mobile="0987654321", email="hung@chinhphu.vn"))


# A package as written in the wild: "edXML:" prefix, zone-less timestamps,
# yyyy/MM/dd dates, the legacy priority 4, an unknown DigitalSignature element.
SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLHeader>
    <edXML:MessageHeader>
      <edXML:From>
        <edXML:OrganId>000.00.00.H41</edXML:OrganId>
        <edXML:OrganName>UBND tỉnh Nghệ An</edXML:OrganName>
      </edXML:From>
      <edXML:To>
        <edXML:OrganId>000.00.00.G22</edXML:OrganId>
        <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
      </edXML:To>
      <edXML:To>
        <edXML:OrganId>000.00.18.G12</edXML:OrganId>
      </edXML:To>
      <edXML:Code>
        <edXML:CodeNumber>12</edXML:CodeNumber>
        <edXML:CodeNotation>CĐ-UBND</edXML:CodeNotation>
      </edXML:Code>
      <edXML:PromulgationInfo>
        <edXML:Place>Nghệ An</edXML:Place>
        <edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate>
      </edXML:PromulgationInfo>
      <edXML:DocumentType>
        <edXML:Type>19</edXML:Type>
        <edXML:TypeName>Công điện</edXML:TypeName>
      </edXML:DocumentType>
      <edXML:Subject>Về việc ứng phó bão số 3</edXML:Subject>
      <edXML:DueDate>2024-03-06T00:00:00</edXML:DueDate>
      <edXML:OtherInfo>
        <edXML:Priority>4</edXML:Priority>
        <edXML:PageAmount>2</edXML:PageAmount>
      </edXML:OtherInfo>
      <edXML:SteeringType>1</edXML:SteeringType>
      <edXML:DocumentId>000.00.00.H41,2024/03/05,12/CĐ-UBND</edXML:DocumentId>
    </edXML:MessageHeader>
    <edXML:TraceHeaderList>
      <edXML:TraceHeader>
        <edXML:OrganId>000.00.00.H41</edXML:OrganId>
        <edXML:Timestamp>2024/03/05 14:05:09</edXML:Timestamp>
      </edXML:TraceHeader>
      <edXML:TraceHeader>
        <edXML:OrganId>000.00.00.G22</edXML:OrganId>
        <edXML:Timestamp>2024-03-05T14:06:00</edXML:Timestamp>
      </edXML:TraceHeader>
      <edXML:Bussiness>
        <edXML:BussinessDocType>0</edXML:BussinessDocType>
        <edXML:BussinessDocReason>Văn bản mới</edXML:BussinessDocReason>
      </edXML:Bussiness>
    </edXML:TraceHeaderList>
    <edXML:DigitalSignature/>
  </edXML:edXMLHeader>
  <edXML:edXMLBody>
    <edXML:Attachment>
      <edXML:ContentId>cd-12</edXML:ContentId>
      <edXML:AttachmentName>cong-dien-12.pdf</edXML:AttachmentName>
      <edXML:ContentType>application/pdf</edXML:ContentType>
      <edXML:Content>
        JVBERi0xLjQK
        c29tZSBieXRlcw==
      </edXML:Content>
    </edXML:Attachment>
  </edXML:edXMLBody>
</edXML:edXMLEnvelope>
"""

STATUS_SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<edXMLEnvelope xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXMLHeader>
    <Status>
      <ResponseFor>
        <OrganId>000.00.00.H41</OrganId>
        <Code>12/QĐ-UBND</Code>
        <PromulgationDate>05/03/2024</PromulgationDate>
        <DocumentId>000.00.00.H41,2024/03/05,12/QĐ-UBND</DocumentId>
      </ResponseFor>
      <From><OrganId>000.00.00.G22</OrganId><OrganName>VPCP</OrganName></From>
      <StatusCode>03</StatusCode>
      <Description>Đã tiếp nhận</Description>
      <Timestamp>05/03/2024 15:20:00</Timestamp>
      <StaffInfo><Department>Văn thư</Department><Staff>Lê Hùng</Staff></StaffInfo>
    </Status>
  </edXMLHeader>
  <edXMLBody/>
</edXMLEnvelope>
"""


# A status package as the SDKs write it (our own fixture, after their public
# examples): the edXML root, the status fields under MessageHeader, no body.
SDK_STATUS = f"""<?xml version="1.0" encoding="utf-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
          <edXML:OrganAdd/>
        </edXML:From>
        <edXML:ResponseFor>
          <edXML:OrganId>000.00.00.H41</edXML:OrganId>
          <edXML:Code>12/QĐ-UBND</edXML:Code>
          <edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate>
          <edXML:DocumentId>000.00.00.H41,2024/03/05,12/QĐ-UBND</edXML:DocumentId>
        </edXML:ResponseFor>
        <edXML:StaffInfo>
          <edXML:Department>Văn thư</edXML:Department>
          <edXML:Staff>Lê Hùng</edXML:Staff>
          <edXML:Mobile/>
          <edXML:Email/>
        </edXML:StaffInfo>
        <edXML:StatusCode>02</edXML:StatusCode>
        <edXML:Description>Trả lại: sai thể thức</edXML:Description>
        <edXML:Timestamp>2024/03/05 15:20:00</edXML:Timestamp>
      </edXML:MessageHeader>
      <edXML:Signature/>
    </edXML:edXMLHeader>
  </edXML:edXMLEnvelope>
</edXML>
"""


def _sample(old=None, new=""):
    text = SAMPLE
    if old is not None:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode("utf-8")


def _status_sample(old, new):
    assert old in STATUS_SAMPLE, old
    return STATUS_SAMPLE.replace(old, new, 1).encode("utf-8")


def _refused(call, path):
    with pytest.raises(ValidationFailed) as caught:
        call()
    assert str(caught.value).startswith(f"{path}: "), str(caught.value)
    assert caught.value.field == path
    return str(caught.value)


# -- round trips ---------------------------------------------------------------


def test_a_full_package_round_trips():
    original = _full_package()
    again = import_package(export_package(original))
    assert again == original
    assert again.attachments[0].content == PDF
    assert again.attachments[1].by_reference and again.attachments[1].content is None
    assert again.notes == []


def test_a_minimal_package_round_trips():
    original = _minimal_package()
    assert import_package(export_package(original)) == original


def test_export_is_utf8_xml_in_the_sdk_layout():
    out = export_package(_full_package())
    assert out.startswith(f'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="{NS}"'
                          .encode())
    assert f'<edXML:edXMLEnvelope xmlns:edXML="{NS}">'.encode() in out
    assert f'xmlns:lienthong="{EXT_NS}"'.encode() in out
    assert "Ủy ban nhân dân tỉnh Nghệ An".encode() in out  # raw UTF-8, not &#...;
    assert b"<edXML:Bussiness>" in out
    assert b"<edXML:BussinessDocType>3</edXML:BussinessDocType>" in out
    assert b"<edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate>" in out
    assert b"<edXML:Type>2</edXML:Type>" in out
    # The manifest references every file; the inline one is encoded after the
    # envelope, the one by reference points with our extension.
    envelope, encoded = out.split(b"</edXML:edXMLEnvelope>")
    assert b'<edXML:edXMLManifest version="1.0">' in envelope
    assert envelope.count(b"<edXML:Reference ") == 2
    assert b'xlink:href="cid:main"' in envelope and b'xlink:href="cid:phu-luc-1"' in envelope
    assert b"<lienthong:ContentReference>" in envelope
    assert b"<AttachmentEncoded>" in encoded and encoded.count(b"<Attachment>") == 1
    assert base64.b64encode(PDF) in encoded and b"<ContentId>main</ContentId>" in encoded


def test_export_writes_times_as_the_sdks_do_in_vietnam_time():
    out = export_package(_full_package())
    assert b"<edXML:Timestamp>2024/03/05 08:30:00</edXML:Timestamp>" in out
    assert b"<edXML:Timestamp>2024/03/05 08:31:15</edXML:Timestamp>" in out  # was 01:31Z


def test_sub_seconds_are_not_written():
    pkg = _full_package()
    pkg.traces[1] = Trace("000.00.00.G22", datetime(2024, 3, 5, 8, 31, 15, 999999, tzinfo=VN))
    again = import_package(export_package(pkg))
    assert again.traces[1].timestamp == datetime(2024, 3, 5, 8, 31, 15, tzinfo=VN)


def test_a_package_without_the_reference_extension_declares_no_extension_namespace():
    out = export_package(_minimal_package())
    assert EXT_NS.encode() not in out
    assert b"<edXML:Priority>0</edXML:Priority>" in out
    assert b"AttachmentEncoded" not in out


def test_a_textual_document_type_is_not_written():
    pkg = _minimal_package()
    pkg.document_type = DocumentType(type="CV", name="Công văn")
    message = _refused(lambda: export_package(pkg), f"{HEADER}/DocumentType/Type")
    assert "integer" in message


@pytest.mark.parametrize("code", sorted(STATUS_CODES))
def test_a_status_package_round_trips_for_every_code(code):
    original = _status(code)
    out = export_status(original)
    assert f"<edXML:StatusCode>{code}</edXML:StatusCode>".encode() in out
    assert out.startswith(f'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="{NS}"'
                          .encode())
    header = out.split(b"<edXML:MessageHeader>")[1].split(b"</edXML:MessageHeader>")[0]
    assert b"<edXML:ResponseFor>" in header and b"<edXML:From>" in header
    assert b"<edXML:Timestamp>2024/03/05 09:15:00</edXML:Timestamp>" in header
    assert b"Status>" not in out and b"edXMLBody" not in out  # no body
    assert import_status(out) == original


def test_a_status_package_without_staff_info_round_trips():
    original = _status("01", description="")
    original.staff_info = None
    assert import_status(export_status(original)) == original


def test_document_id_builds_and_parses():
    text = document_id("000.00.00.H41", date(2024, 3, 5), "12", "QĐ-UBND")
    assert text == "000.00.00.H41,2024/03/05,12/QĐ-UBND"
    assert parse_document_id(text) == DocumentIdParts("000.00.00.H41", date(2024, 3, 5),
                                                      "12", "QĐ-UBND")
    # A notation may itself hold a slash (Thông tư 12/2020/TT-BTC): split at the first.
    assert parse_document_id("000.00.00.G12,2020/02/14,12/2020/TT-BTC").notation \
        == "2020/TT-BTC"


# -- import of what others write --------------------------------------------------


def test_a_hand_written_package_is_read_with_vietnam_time_and_legacy_priority():
    pkg = import_package(_sample())
    assert pkg.from_agency == Agency(id="000.00.00.H41", name="UBND tỉnh Nghệ An")
    assert [agency.id for agency in pkg.to_agencies] == ["000.00.00.G22", "000.00.18.G12"]
    assert pkg.promulgation_date == date(2024, 3, 5)
    assert pkg.due_date == date(2024, 3, 6)
    assert pkg.document_type == DocumentType(type="19", detail="", name="Công điện")
    first, second = pkg.traces
    assert first.timestamp.isoformat() == "2024-03-05T14:05:09+07:00"
    assert second.timestamp.isoformat() == "2024-03-05T14:06:00+07:00"
    assert first.timestamp.utcoffset() == timedelta(hours=7)
    assert pkg.priority == 3
    assert pkg.notes == [(f"{HEADER}/OtherInfo/Priority: legacy priority 4 "
                         "(Hỏa tốc hẹn giờ) read as 3 (Hỏa tốc)")]
    assert pkg.business == Business(doc_type=0, reason="Văn bản mới")
    assert pkg.steering_type == 1 and pkg.page_amount == 2
    assert pkg.attachments == [Attachment(content_id="cd-12", name="cong-dien-12.pdf",
                                          content_type="application/pdf",
                                          content=b"%PDF-1.4\nsome bytes")]


def test_a_hand_written_package_is_exported_in_vietnam_time_with_the_mapped_priority():
    out = export_package(import_package(_sample()))
    assert b"<edXML:Timestamp>2024/03/05 14:05:09</edXML:Timestamp>" in out
    assert b"<edXML:Priority>3</edXML:Priority>" in out
    assert import_package(out) == import_package(_sample())


def test_an_explicit_offset_is_kept_as_written():
    pkg = import_package(_sample("2024-03-05T14:06:00", "2024-03-05T07:06:00Z"))
    assert pkg.traces[1].timestamp == datetime(2024, 3, 5, 14, 6, tzinfo=VN)
    assert pkg.traces[1].timestamp.utcoffset() == timedelta(0)


def test_the_sdk_layout_with_attachment_encoded_is_read():
    payload = base64.b64encode(PDF).decode()
    text = f"""<?xml version="1.0" encoding="utf-8"?>
<edXML xmlns="{NS}">
  {SAMPLE.split("?>", 1)[1].split("<edXML:edXMLBody>")[0]}
  <edXML:edXMLBody><edXML:edXMLManifest version="1.0"/></edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentType>application/pdf</ContentType>
      <ContentId>abc</ContentId>
      <ContentTransferEncoded>{payload}</ContentTransferEncoded>
      <AttachmentName>van-ban.pdf</AttachmentName>
    </Attachment>
  </AttachmentEncoded>
</edXML>"""
    pkg = import_package(text.encode("utf-8"))
    assert pkg.subject == "Về việc ứng phó bão số 3"
    assert pkg.attachments == [Attachment(content_id="abc", name="van-ban.pdf",
                                          content_type="application/pdf", content=PDF)]


def test_a_hand_written_status_in_the_sdk_layout_is_read():
    status = import_status(SDK_STATUS.encode("utf-8"))
    assert status == StatusPackage(
        response_for=ResponseFor("000.00.00.H41", "12/QĐ-UBND", date(2024, 3, 5),
                                 "000.00.00.H41,2024/03/05,12/QĐ-UBND"),
        from_agency=Agency("000.00.00.G22", name="Văn phòng Chính phủ"),
        status_code="02", description="Trả lại: sai thể thức",
        timestamp=datetime(2024, 3, 5, 15, 20, tzinfo=VN),
        staff_info=StaffInfo(department="Văn thư", staff="Lê Hùng"))


@pytest.mark.parametrize("old, new, path", [
    ("<edXML:StatusCode>02</edXML:StatusCode>", "<edXML:StatusCode>7</edXML:StatusCode>",
     "edXMLHeader/MessageHeader/StatusCode"),
    ("<edXML:OrganId>000.00.00.G22</edXML:OrganId>", "<edXML:OrganId>G22</edXML:OrganId>",
     "edXMLHeader/MessageHeader/From/OrganId"),
    ("<edXML:Description>Trả lại: sai thể thức</edXML:Description>", "",
     "edXMLHeader/MessageHeader/Description"),
    ("<edXML:Timestamp>2024/03/05 15:20:00</edXML:Timestamp>",
     "<edXML:Timestamp>15:20 05/03</edXML:Timestamp>", "edXMLHeader/MessageHeader/Timestamp"),
    ("<edXML:edXMLEnvelope ", "<edXML:Envelope ", "edXMLEnvelope"),
])
def test_a_bad_sdk_status_names_the_element(old, new, path):
    assert old in SDK_STATUS
    text = SDK_STATUS.replace(old, new, 1)
    if new.startswith("<edXML:Envelope"):
        text = text.replace("</edXML:edXMLEnvelope>", "</edXML:Envelope>")
    _refused(lambda: import_status(text.encode("utf-8")), path)


def test_a_hand_written_status_is_read_in_vietnam_time():
    status = import_status(STATUS_SAMPLE.encode("utf-8"))
    assert status.status_code == "03"
    assert status.response_for.promulgation_date == date(2024, 3, 5)
    assert status.timestamp.isoformat() == "2024-03-05T15:20:00+07:00"
    assert status.staff_info == StaffInfo(department="Văn thư", staff="Lê Hùng")


# -- refusals: hardening --------------------------------------------------------


def test_a_doctype_is_refused():
    data = _sample('<?xml version="1.0" encoding="UTF-8"?>',
                   '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE edXMLEnvelope>')
    message = _refused(lambda: import_package(data), "edXMLEnvelope")
    assert "DOCTYPE" in message


def test_an_entity_expansion_is_refused():
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
            f'<edXMLEnvelope xmlns="{NS}"><edXMLHeader>&lol2;</edXMLHeader></edXMLEnvelope>')
    _refused(lambda: import_package(bomb.encode()), "edXMLEnvelope")
    _refused(lambda: import_status(bomb.encode()), "edXMLEnvelope")


def test_an_external_entity_is_refused():
    xxe = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           f'<edXMLEnvelope xmlns="{NS}">&xxe;</edXMLEnvelope>')
    _refused(lambda: import_package(xxe.encode()), "edXMLEnvelope")


def test_a_doctype_hidden_in_utf16_is_refused_by_the_parser():
    text = SAMPLE.replace('encoding="UTF-8"?>',
                          'encoding="UTF-16"?>\n<!DOCTYPE x [<!ENTITY a "b">]>')
    data = text.encode("utf-16")
    assert b"<!DOCTYPE" not in data  # the byte check cannot see it
    message = _refused(lambda: import_package(data), "edXMLEnvelope")
    assert "DOCTYPE" in message


def test_an_undeclared_entity_is_not_well_formed():
    message = _refused(lambda: import_package(_sample("Về việc", "&nbsp;Về việc")),
                       "edXMLEnvelope")
    assert "not well-formed" in message


def test_text_is_refused():
    with pytest.raises(TypeError):
        import_package(SAMPLE)


def test_malformed_xml_is_refused():
    _refused(lambda: import_package(b"<edXMLEnvelope><oops></edXMLEnvelope>"), "edXMLEnvelope")


def test_a_foreign_root_or_namespace_is_refused():
    message = _refused(lambda: import_package(_sample(NS, "http://example.org/other")),
                       "edXMLEnvelope")
    assert NS in message
    _refused(lambda: import_status(export_package(_minimal_package())),
             "edXMLHeader/MessageHeader/ResponseFor")


# -- refusals: required elements -------------------------------------------------


@pytest.mark.parametrize("element, old", [
    ("From", """<edXML:From>
        <edXML:OrganId>000.00.00.H41</edXML:OrganId>
        <edXML:OrganName>UBND tỉnh Nghệ An</edXML:OrganName>
      </edXML:From>"""),
    ("Code", """<edXML:Code>
        <edXML:CodeNumber>12</edXML:CodeNumber>
        <edXML:CodeNotation>CĐ-UBND</edXML:CodeNotation>
      </edXML:Code>"""),
    ("PromulgationInfo", """<edXML:PromulgationInfo>
        <edXML:Place>Nghệ An</edXML:Place>
        <edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate>
      </edXML:PromulgationInfo>"""),
    ("DocumentType", """<edXML:DocumentType>
        <edXML:Type>19</edXML:Type>
        <edXML:TypeName>Công điện</edXML:TypeName>
      </edXML:DocumentType>"""),
    ("Subject", "<edXML:Subject>Về việc ứng phó bão số 3</edXML:Subject>"),
])
def test_a_missing_required_element_is_refused(element, old):
    message = _refused(lambda: import_package(_sample(old, "")), f"{HEADER}/{element}")
    assert "required element is missing" in message


def test_a_package_without_any_recipient_is_refused():
    text = SAMPLE
    for block in text.split("<edXML:To>")[1:]:
        text = text.replace("<edXML:To>" + block.split("</edXML:To>")[0] + "</edXML:To>", "")
    assert "<edXML:To>" not in text
    _refused(lambda: import_package(text.encode()), f"{HEADER}/To")


@pytest.mark.parametrize("old, new, path", [
    ("<edXML:Subject>Về việc ứng phó bão số 3</edXML:Subject>",
     "<edXML:Subject>  </edXML:Subject>", f"{HEADER}/Subject"),
    ("<edXML:CodeNumber>12</edXML:CodeNumber>", "", f"{HEADER}/Code/CodeNumber"),
    ("<edXML:CodeNotation>CĐ-UBND</edXML:CodeNotation>", "", f"{HEADER}/Code/CodeNotation"),
    ("<edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate>", "",
     f"{HEADER}/PromulgationInfo/PromulgationDate"),
    ("<edXML:Type>19</edXML:Type>\n        <edXML:TypeName>Công điện</edXML:TypeName>",
     "<edXML:TypeDetail>1</edXML:TypeDetail>", f"{HEADER}/DocumentType"),
    ("<edXML:OrganId>000.00.00.H41</edXML:OrganId>\n        <edXML:OrganName>",
     "<edXML:OrganName>", f"{HEADER}/From/OrganId"),
    ('<edXML:edXMLBody>', '<edXML:Nobody>', "edXMLBody"),
])
def test_a_missing_or_empty_required_part_is_refused(old, new, path):
    if path == "edXMLBody":
        data = _sample(old, new).replace(b"</edXML:edXMLBody>", b"</edXML:Nobody>")
    else:
        data = _sample(old, new)
    _refused(lambda: import_package(data), path)


def test_a_repeated_single_element_is_refused():
    message = _refused(lambda: import_package(_sample(
        "<edXML:Subject>", "<edXML:Subject>Một</edXML:Subject><edXML:Subject>")),
        f"{HEADER}/Subject")
    assert "appears 2 times" in message


# -- refusals: values --------------------------------------------------------------


@pytest.mark.parametrize("old, new, path", [
    ("<edXML:OrganId>000.00.00.H41</edXML:OrganId>\n        <edXML:OrganName>UBND",
     "<edXML:OrganId>vxp.saas.03</edXML:OrganId>\n        <edXML:OrganName>UBND",
     f"{HEADER}/From/OrganId"),
    ("<edXML:OrganId>000.00.18.G12</edXML:OrganId>", "<edXML:OrganId>000.00.18.g12</edXML:OrganId>",
     f"{HEADER}/To[2]/OrganId"),
    ("<edXML:OrganId>000.00.00.G22</edXML:OrganId>\n        <edXML:Timestamp>",
     "<edXML:OrganId>G22</edXML:OrganId>\n        <edXML:Timestamp>",
     "edXMLHeader/TraceHeaderList/TraceHeader[2]/OrganId"),
])
def test_a_bad_agency_code_is_refused(old, new, path):
    message = _refused(lambda: import_package(_sample(old, new)), path)
    assert "not an agency code" in message


def test_the_brief_example_message_for_a_bad_sender():
    data = _sample("000.00.00.H41</edXML:OrganId>\n        <edXML:OrganName>UBND",
                   "41</edXML:OrganId>\n        <edXML:OrganName>UBND")
    message = _refused(lambda: import_package(data), f"{HEADER}/From/OrganId")
    assert message.startswith("edXMLHeader/MessageHeader/From/OrganId: not an agency code")


@pytest.mark.parametrize("value", ["5", "-1", "x", "2.0"])
def test_a_bad_priority_is_refused(value):
    _refused(lambda: import_package(_sample("<edXML:Priority>4</edXML:Priority>",
                                            f"<edXML:Priority>{value}</edXML:Priority>")),
             f"{HEADER}/OtherInfo/Priority")


@pytest.mark.parametrize("old, new, path", [
    ("<edXML:SteeringType>1</edXML:SteeringType>", "<edXML:SteeringType>3</edXML:SteeringType>",
     f"{HEADER}/SteeringType"),
    ("<edXML:PageAmount>2</edXML:PageAmount>", "<edXML:PageAmount>-2</edXML:PageAmount>",
     f"{HEADER}/OtherInfo/PageAmount"),
    ("<edXML:BussinessDocType>0</edXML:BussinessDocType>",
     "<edXML:BussinessDocType>4</edXML:BussinessDocType>",
     "edXMLHeader/TraceHeaderList/Bussiness/BussinessDocType"),
    ("<edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate>",
     "<edXML:PromulgationDate>2024/02/30</edXML:PromulgationDate>",
     f"{HEADER}/PromulgationInfo/PromulgationDate"),
    ("<edXML:DueDate>2024-03-06T00:00:00</edXML:DueDate>",
     "<edXML:DueDate>mai</edXML:DueDate>", f"{HEADER}/DueDate"),
    ("<edXML:Timestamp>2024/03/05 14:05:09</edXML:Timestamp>",
     "<edXML:Timestamp>14:05 5/3/2024</edXML:Timestamp>",
     "edXMLHeader/TraceHeaderList/TraceHeader[1]/Timestamp"),
])
def test_a_bad_value_is_refused(old, new, path):
    _refused(lambda: import_package(_sample(old, new)), path)


@pytest.mark.parametrize("payload", ["JVBERi0xLjQK!!!", "JVBERi0xLjQ", "Zm9v=YmFy"])
def test_bad_base64_is_refused(payload):
    data = _sample("JVBERi0xLjQK\n        c29tZSBieXRlcw==", payload)
    message = _refused(lambda: import_package(data), "edXMLBody/Attachment/Content")
    assert "not valid base64" in message


def test_an_oversized_package_is_refused():
    data = _sample()
    assert DEFAULT_MAX_BYTES == 50 * 1024 * 1024
    message = _refused(lambda: import_package(data, max_bytes=len(data) - 1), "edXMLEnvelope")
    assert f"over the limit of {len(data) - 1} bytes" in message
    assert import_package(data, max_bytes=len(data)).subject
    _refused(lambda: import_status(STATUS_SAMPLE.encode(), max_bytes=100), "edXMLEnvelope")


def test_an_oversized_inline_attachment_is_refused():
    big = _full_package()
    big.attachments = [Attachment(content_id="big", name="big.bin", content=b"\x00" * 4000)]
    data = export_package(big)
    message = _refused(lambda: import_package(data, max_attachment_bytes=3999),
                       "AttachmentEncoded/Attachment/ContentTransferEncoded")
    assert "over the limit of 3999 bytes" in message
    assert import_package(data, max_attachment_bytes=4000) == big
    # By default the package limit caps each inline file too.
    _refused(lambda: import_package(data, max_bytes=len(data) + 10, max_attachment_bytes=100),
             "AttachmentEncoded/Attachment/ContentTransferEncoded")


def _one_attachment_package(body):
    return SAMPLE.split("<edXML:edXMLBody>")[0].encode() + (
        f'<edXML:edXMLBody xmlns:x="{EXT_NS}">{body}</edXML:edXMLBody>'
        "</edXML:edXMLEnvelope>").encode()


REF = ("<x:ContentReference><x:Uri>s3://documents/a.pdf</x:Uri>"
       f"<x:Sha256>{'AB' * 32}</x:Sha256><x:Size>{{size}}</x:Size></x:ContentReference>")
NAMES = "<edXML:ContentId>a</edXML:ContentId><edXML:AttachmentName>a.pdf</edXML:AttachmentName>"


def test_a_reference_attachment_is_read_from_the_extension_namespace():
    pkg = import_package(_one_attachment_package(
        f"<edXML:Attachment>{NAMES}{REF.format(size=12)}</edXML:Attachment>"))
    assert pkg.attachments == [Attachment(content_id="a", name="a.pdf",
                                          uri="s3://documents/a.pdf", sha256="ab" * 32, size=12)]


@pytest.mark.parametrize("body, path, words", [
    (f"<edXML:Attachment>{NAMES}</edXML:Attachment>",
     "edXMLBody/Attachment", "exactly one of Content or ContentReference"),
    ((f"<edXML:Attachment>{NAMES}<edXML:Content>AA==</edXML:Content>{REF.format(size=1)}"
     "</edXML:Attachment>"), "edXMLBody/Attachment", "exactly one"),
    (f"<edXML:Attachment>{NAMES}{REF.format(size=-1)}</edXML:Attachment>",
     "edXMLBody/Attachment/ContentReference/Size", "not a byte count"),
    ((f"<edXML:Attachment>{NAMES}{REF.format(size=1).replace('AB' * 32, 'AB' * 31)}"
     "</edXML:Attachment>"), "edXMLBody/Attachment/ContentReference/Sha256", "SHA-256"),
    ((f"<edXML:Attachment>{NAMES}{REF.format(size=1).replace('s3://documents/a.pdf', '')}"
     "</edXML:Attachment>"), "edXMLBody/Attachment/ContentReference/Uri", "must not be empty"),
    (("<edXML:Attachment><edXML:ContentId>a</edXML:ContentId>"
     "<edXML:Content>AA==</edXML:Content></edXML:Attachment>"),
     "edXMLBody/Attachment/AttachmentName", "missing"),
    (f"<edXML:Attachment>{NAMES}<edXML:Content>AA==</edXML:Content></edXML:Attachment>" * 2,
     "edXMLBody/Attachment", "appears more than once"),
])
def test_a_bad_attachment_is_refused(body, path, words):
    message = _refused(lambda: import_package(_one_attachment_package(body)), path)
    assert words in message


@pytest.mark.parametrize("value", [
    "000.00.00.H41,2024-03-05,12/QĐ-UBND",  # date with dashes
    "000.00.00.H41,2024/13/05,12/QĐ-UBND",  # no such month
    "H41,2024/03/05,12/QĐ-UBND",  # not an agency code
    "000.00.00.H41,2024/03/05,12-QĐ-UBND",  # no number/notation slash
    "000.00.00.H41,2024/03/05,/QĐ-UBND",  # empty number
    "000.00.00.H41,2024/03/05,12/",  # empty notation
    "000.00.00.H41,2024/03/05,12/QĐ-UBND,extra",  # too many parts
    "000.00.00.H41;2024/03/05;12/QĐ-UBND",
])
def test_a_malformed_document_id_is_refused(value):
    _refused(lambda: parse_document_id(value), "DocumentId")
    message = _refused(lambda: import_package(_sample(
        "000.00.00.H41,2024/03/05,12/CĐ-UBND", value)), f"{HEADER}/DocumentId")
    assert "not a document id" in message
    _refused(lambda: import_status(_status_sample(
        "000.00.00.H41,2024/03/05,12/QĐ-UBND", value)), "edXMLHeader/Status/ResponseFor/DocumentId")


def test_the_document_id_helper_refuses_bad_parts():
    with pytest.raises(ValidationFailed):
        document_id("not-a-code", date(2024, 3, 5), "12", "QĐ-UBND")
    with pytest.raises(ValidationFailed):
        document_id("000.00.00.H41", date(2024, 3, 5), "12", "")


# -- refusals: status packages ----------------------------------------------------------


@pytest.mark.parametrize("code", ["00", "07", "12", "14", "17", "3", "ab", ""])
def test_an_unknown_status_code_is_refused(code):
    message = _refused(lambda: import_status(_status_sample(
        "<StatusCode>03</StatusCode>", f"<StatusCode>{code}</StatusCode>")),
        "edXMLHeader/Status/StatusCode")
    assert "unknown status code" in message


def test_a_rejection_without_a_reason_is_refused():
    data = _status_sample(
        "<StatusCode>03</StatusCode>\n      <Description>Đã tiếp nhận</Description>",
        "<StatusCode>02</StatusCode>")
    message = _refused(lambda: import_status(data), "edXMLHeader/Status/Description")
    assert "reason" in message
    _refused(lambda: export_status(_status("02", description="")),
             "edXMLHeader/MessageHeader/Description")


@pytest.mark.parametrize("old, new, path", [
    ("<From><OrganId>000.00.00.G22</OrganId>", "<From><OrganId>G22</OrganId>",
     "edXMLHeader/Status/From/OrganId"),
    ("<OrganId>000.00.00.H41</OrganId>", "<OrganId>000.00.00.H4</OrganId>",
     "edXMLHeader/Status/ResponseFor/OrganId"),
    ("<Timestamp>05/03/2024 15:20:00</Timestamp>", "", "edXMLHeader/Status/Timestamp"),
    ("<StatusCode>03</StatusCode>", "", "edXMLHeader/Status/StatusCode"),
    ("<Code>12/QĐ-UBND</Code>", "", "edXMLHeader/Status/ResponseFor/Code"),
])
def test_a_bad_status_is_refused(old, new, path):
    _refused(lambda: import_status(_status_sample(old, new)), path)


# -- export refuses what import would --------------------------------------------------------


def test_export_refuses_what_import_would():
    pkg = _full_package()
    pkg.from_agency.id = "vxp.saas.03"
    _refused(lambda: export_package(pkg), f"{HEADER}/From/OrganId")

    pkg = _full_package()
    pkg.priority = 4
    _refused(lambda: export_package(pkg), f"{HEADER}/OtherInfo/Priority")

    pkg = _full_package()
    pkg.traces[1] = Trace("000.00.00.G22", datetime(2024, 3, 5, 8, 31))
    message = _refused(lambda: export_package(pkg),
                       "edXMLHeader/TraceHeaderList/TraceHeader[2]/Timestamp")
    assert "aware" in message

    pkg = _full_package()
    pkg.subject = "Trích yếu\x00"
    _refused(lambda: export_package(pkg), f"{HEADER}/Subject")

    pkg = _full_package()
    pkg.document_id = "12/QĐ-UBND"
    _refused(lambda: export_package(pkg), f"{HEADER}/DocumentId")

    pkg = _full_package()
    pkg.attachments[1].sha256 = None
    _refused(lambda: export_package(pkg),
             "edXMLBody/edXMLManifest/Reference[2]/ContentReference/Sha256")

    status = _status("99")
    _refused(lambda: export_status(status), "edXMLHeader/MessageHeader/StatusCode")


# -- the SDK layout, as the axis SDKs write it ----------------------------------------
# Our own fixture, written after the SDKs' public examples (not copied): the edXML
# root, the prefixed envelope, a manifest of cid: references, the files after the
# envelope (one zipped, as the SDKs do), a trace hop the axis added without OrganId,
# identifiers of Decision 20/2020 Art. 5/6 among the recipients, an XML signature.

XLINK = "http://www.w3.org/1999/xlink"
ENCODED = "AttachmentEncoded/Attachment/ContentTransferEncoded"


def _zip(*entries, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _sdk_document(zipped=None, plain=PDF, business="""<edXML:Bussiness>
            <edXML:BussinessDocType>0</edXML:BussinessDocType>
            <edXML:BussinessDocReason>Văn bản điện tử mới</edXML:BussinessDocReason>
            <edXML:Paper>0</edXML:Paper>
          </edXML:Bussiness>""", to_extra="", references=None, encoded=None):
    zipped = _zip(("7f3c9a10-5b1e-4c2d-9e8f-0a1b2c3d4e5f.pdf", SCAN)) if zipped is None \
        else zipped
    references = references if references is not None else f"""
          <edXML:Reference xmlns:xlink="{XLINK}" xlink:href="cid:f1a2" xlink:type="simple">
            <edXML:Description>Văn bản chính</edXML:Description>
            <edXML:AttachmentName>CV 45.pdf</edXML:AttachmentName>
            <edXML:ContentType>application/pdf</edXML:ContentType>
          </edXML:Reference>
          <edXML:Reference xmlns:xlink="{XLINK}" xlink:href="cid:f3b4" xlink:type="simple">
            <edXML:AttachmentName>Phụ lục.pdf</edXML:AttachmentName>
            <edXML:ContentType>application/pdf</edXML:ContentType>
          </edXML:Reference>"""
    encoded = encoded if encoded is not None else f"""
    <Attachment>
      <ContentType>application/pdf</ContentType>
      <ContentId>cid:f1a2</ContentId>
      <ContentTransferEncoded>{base64.b64encode(plain).decode()}</ContentTransferEncoded>
      <AttachmentName>CV 45.pdf</AttachmentName>
    </Attachment>
    <Attachment>
      <ContentType>application/zip</ContentType>
      <ContentId>f3b4</ContentId>
      <ContentTransferEncoded>{base64.b64encode(zipped).decode()}</ContentTransferEncoded>
      <AttachmentName>Phụ lục.pdf</AttachmentName>
    </Attachment>"""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<edXML xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:From>
        <edXML:To><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:To>
        <edXML:To><edXML:OrganId>0100109106</edXML:OrganId></edXML:To>
        <edXML:To><edXML:OrganId>0100109106-001</edXML:OrganId></edXML:To>{to_extra}
        <edXML:Code>
          <edXML:CodeNumber>45</edXML:CodeNumber>
          <edXML:CodeNotation>VPCP-KSTT</edXML:CodeNotation>
        </edXML:Code>
        <edXML:PromulgationInfo>
          <edXML:Place>Hà Nội</edXML:Place>
          <edXML:PromulgationDate>2024/02/28</edXML:PromulgationDate>
        </edXML:PromulgationInfo>
        <edXML:DocumentType>
          <edXML:Type>18</edXML:Type>
          <edXML:TypeName>Công văn</edXML:TypeName>
        </edXML:DocumentType>
        <edXML:Subject>Về việc kết nối trục liên thông</edXML:Subject>
        <edXML:DueDate>2024/03/15</edXML:DueDate>
        <edXML:OtherInfo><edXML:Priority>0</edXML:Priority></edXML:OtherInfo>
        <edXML:SteeringType>0</edXML:SteeringType>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:Timestamp>2024/02/28 16:40:05</edXML:Timestamp>
        </edXML:TraceHeader>
        <edXML:TraceHeader>
          <edXML:Timestamp>2024/02/28 16:40:07</edXML:Timestamp>
        </edXML:TraceHeader>
        {business}
      </edXML:TraceHeaderList>
      <edXML:Signature><edXML:SignatureValue>AAAA</edXML:SignatureValue></edXML:Signature>
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">{references}
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>{encoded}
  </AttachmentEncoded>
</edXML>
""".encode("utf-8")


def test_an_sdk_document_package_is_taken_in():
    pkg = import_package(_sdk_document())
    assert [a.id for a in pkg.to_agencies] == ["000.00.00.H41", "0100109106", "0100109106-001"]
    assert pkg.promulgation_date == date(2024, 2, 28) and pkg.due_date == date(2024, 3, 15)
    assert pkg.document_type == DocumentType(type="18", name="Công văn")
    assert pkg.traces == [Trace("000.00.00.G22", datetime(2024, 2, 28, 16, 40, 5, tzinfo=VN)),
                          Trace("", datetime(2024, 2, 28, 16, 40, 7, tzinfo=VN))]
    assert pkg.business == Business(doc_type=0, reason="Văn bản điện tử mới", paper=0)
    # Manifest order; the zipped appendix unpacked, keeping the manifest's name and type.
    assert pkg.attachments == [
        Attachment(content_id="f1a2", name="CV 45.pdf", content_type="application/pdf",
                   description="Văn bản chính", content=PDF),
        Attachment(content_id="f3b4", name="Phụ lục.pdf", content_type="application/pdf",
                   content=SCAN)]


def test_what_we_write_of_an_sdk_package_reads_back_identically():
    pkg = import_package(_sdk_document())
    out = export_package(pkg)
    assert import_package(out) == pkg
    assert b"<edXML:TraceHeader>\n" in out and out.count(b"<edXML:OrganId>000.00.00.G22") == 2


@pytest.mark.parametrize("doc_type, business", [
    (1, Business(doc_type=1, reason="Thu hồi do sai thẩm quyền",
                 document_id="000.00.00.H41,2024/03/01,10/QĐ-UBND", paper=0,
                 staff_info=StaffInfo(department="Văn phòng", staff="Trần Thị Lan"))),
    (2, Business(doc_type=2, reason="Cập nhật nơi nhận",
                 document_id="000.00.00.H41,2024/03/01,10/QĐ-UBND",
                 document_info=BusinessDocumentInfo(
                     document_info="0", document_receiver="1",
                     receivers=[Receiver("000.00.00.G22", "1"), Receiver("0100109106", "0")]))),
    (3, _full_package().business),
])
def test_revocation_update_and_replacement_packages_round_trip(doc_type, business):
    pkg = _full_package()
    pkg.business = business
    assert import_package(export_package(pkg)) == pkg


def test_an_update_payload_is_read_from_an_sdk_package():
    pkg = import_package(_sdk_document(business="""<edXML:Bussiness>
          <edXML:BussinessDocType>2</edXML:BussinessDocType>
          <edXML:BussinessDocReason>Bổ sung nơi nhận</edXML:BussinessDocReason>
          <edXML:BussinessDocumentInfo>
            <edXML:DocumentInfo>0</edXML:DocumentInfo>
            <edXML:DocumentReceiver>1</edXML:DocumentReceiver>
            <edXML:ReceiverList>
              <edXML:Receiver><edXML:OrganId>000.00.00.H42</edXML:OrganId>
                <edXML:ReceiverType>1</edXML:ReceiverType></edXML:Receiver>
            </edXML:ReceiverList>
          </edXML:BussinessDocumentInfo>
          <edXML:DocumentId>000.00.00.G22,2024/02/20,40/VPCP-KSTT</edXML:DocumentId>
          <edXML:ReplacementInfoList>
            <edXML:ReplacementInfo>
              <edXML:DocumentId>000.00.00.G22,2024/02/20,40/VPCP-KSTT</edXML:DocumentId>
              <edXML:OrganIdList><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:OrganIdList>
            </edXML:ReplacementInfo>
          </edXML:ReplacementInfoList>
        </edXML:Bussiness>"""))
    assert pkg.business == Business(
        doc_type=2, reason="Bổ sung nơi nhận",
        document_id="000.00.00.G22,2024/02/20,40/VPCP-KSTT",
        document_info=BusinessDocumentInfo("0", "1", [Receiver("000.00.00.H42", "1")]),
        replacements=[Replacement("000.00.00.G22,2024/02/20,40/VPCP-KSTT", ["000.00.00.H41"])])


def test_several_staff_and_replacement_blocks_as_the_sdk_builders_allow_are_read():
    two = "<edXML:ReplacementInfoList><edXML:ReplacementInfo><edXML:DocumentId>{}" \
          "</edXML:DocumentId></edXML:ReplacementInfo></edXML:ReplacementInfoList>"
    pkg = import_package(_sdk_document(business=f"""<edXML:Bussiness>
          <edXML:BussinessDocType>3</edXML:BussinessDocType>
          <edXML:StaffInfo><edXML:Staff>Một</edXML:Staff></edXML:StaffInfo>
          <edXML:StaffInfo><edXML:Staff>Hai</edXML:Staff></edXML:StaffInfo>
          {two.format("000.00.00.G22,2024/02/01,1/VPCP")}
          {two.format("000.00.00.G22,2024/02/02,2/VPCP")}
        </edXML:Bussiness>"""))
    assert pkg.business.staff_info == StaffInfo(staff="Một")
    assert [r.document_id for r in pkg.business.replacements] == [
        "000.00.00.G22,2024/02/01,1/VPCP", "000.00.00.G22,2024/02/02,2/VPCP"]


def test_a_zip_of_several_files_becomes_several_files():
    pkg = import_package(_sdk_document(zipped=_zip(("a/pl1.pdf", PDF), ("pl2.xml", b"<x/>"),
                                                   ("thu-muc/", b""))))
    assert [(a.content_id, a.name, a.content_type, a.content) for a in pkg.attachments[1:]] == [
        ("f3b4/1", "pl1.pdf", "application/pdf", PDF),
        ("f3b4/2", "pl2.xml", "application/xml", b"<x/>")]


def test_a_file_that_is_itself_a_zip_is_kept_whole():
    data = _zip(("bang-tinh.xlsx", b"cells"))
    pkg = import_package(_sdk_document(encoded=f"""
    <Attachment><ContentType>application/zip</ContentType><ContentId>z</ContentId>
      <ContentTransferEncoded>{base64.b64encode(data).decode()}</ContentTransferEncoded>
      <AttachmentName>so-lieu.zip</AttachmentName></Attachment>""", references=""))
    assert [(a.name, a.content) for a in pkg.attachments] == [("so-lieu.zip", data)]


def test_a_zip_file_of_ours_reads_back_whole():
    pkg = _minimal_package()
    data = _zip(("a.pdf", PDF))
    pkg.attachments = [Attachment(content_id="main", name="ho-so", content=data,
                                  content_type="application/zip")]
    assert import_package(export_package(pkg)) == pkg


def _one_zip(data):
    return _sdk_document(encoded=f"""
    <Attachment><ContentType>application/zip</ContentType><ContentId>z</ContentId>
      <ContentTransferEncoded>{base64.b64encode(data).decode()}</ContentTransferEncoded>
      <AttachmentName>van-ban.pdf</AttachmentName></Attachment>""", references="")


def _symlink_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link.pdf")
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize("data, words, limits", [
    (_zip(("../../etc/cron.d/x.pdf", PDF)), "path rule", {}),
    (_zip(("/abs/x.pdf", PDF)), "path rule", {}),
    (_zip(("a\\..\\x.pdf", PDF)), "path rule", {}),
    (_zip(("C:/x.pdf", PDF)), "path rule", {}),
    (_symlink_zip(), "symbolic link", {}),
    (_zip(*[(f"{n}.pdf", PDF) for n in range(4)]), "entry-count limit", {"max_zip_entries": 3}),
    (_zip(("bomb.pdf", b"\x00" * (2 << 20))), "compression-ratio limit", {}),
    (_zip(("big.pdf", SCAN * 8)), "per-file size limit", {"max_attachment_bytes": 4000}),
    (_zip(*[(f"{n}.pdf", b"phu luc " * 500) for n in range(20)]),
     "package size limit", {"max_bytes": 60_000, "max_attachment_bytes": 5000}),
    (b"PK\x03\x04 not really a zip", "not a readable ZIP", {}),
    (_zip(("thu-muc/", b"")), "holds no file", {}),
])
def test_a_zip_is_unpacked_only_within_the_limits(data, words, limits):
    message = _refused(lambda: import_package(_one_zip(data), **limits), ENCODED)
    assert words in message


def test_the_ratio_limit_spares_small_files_and_counts_while_inflating():
    assert unpack_zip(_zip(("a.txt", b"\x00" * 60_000)), "p") == [("a.txt", b"\x00" * 60_000)]
    with pytest.raises(ValidationFailed, match="compression-ratio limit"):
        unpack_zip(_zip(("a.pdf", b"\x00" * 200_000)), "p", max_ratio=10)
    assert len(unpack_zip(_zip(("a.pdf", b"\x00" * 200_000)), "p", max_ratio=1000)[0][1]) \
        == 200_000


def test_a_manifest_reference_needs_its_file():
    message = _refused(lambda: import_package(_sdk_document(encoded="")),
                       "edXMLBody/edXMLManifest/Reference[1]")
    assert "cid:f1a2 needs exactly one of" in message
    message = _refused(lambda: import_package(_sdk_document(
        references=f'<edXML:Reference xmlns:xlink="{XLINK}"/>')),
        "edXMLBody/edXMLManifest/Reference")
    assert "xlink:href" in message


@pytest.mark.parametrize("code, form", [
    ("000.00.00.H41", "Art. 4 (XXX.XX.XX.Ynn)"),
    ("0100109106", "Art. 5/6 (10 digits)"),
    ("0100109106-001", "Art. 5/6 (10 digits-NNN, a dependent unit)"),
    ("012345678901", "Art. 5/6 (12 digits)"),
    ("010010910", None), ("0100109106-1", None), ("0100109106001", None),
    ("vxp.saas.03", None), ("000.00.00.h41", None), ("", None),
])
def test_identifiers_of_decision_20_are_told_apart(code, form):
    assert organ_id_form(code) == form


def test_an_identifier_of_no_form_is_refused_naming_the_forms():
    message = _refused(lambda: import_package(_sdk_document(
        to_extra="<edXML:To><edXML:OrganId>01001091</edXML:OrganId></edXML:To>")),
        f"{HEADER}/To[4]/OrganId")
    assert "not an agency code" in message and "Art. 5/6 (12 digits)" in message
    assert parse_document_id("0100109106,2024/02/28,7/CV-CTY").organ_id == "0100109106"
