"""services.routing.inbound: what a package from the national axis must carry,
and the document and deliveries routing records for it. No servers."""

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from services.routing import edxml, inbound
from shared.envelope import system_actor
from shared.errors import Conflict, NotFound, ValidationFailed

MINISTRY = "000.00.00.G22"
DISTRICT_1, DISTRICT_2 = "000.01.00.H41", "000.02.00.H41"
VIETNAM = timezone(timedelta(hours=7))
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)


def package(**changes):
    pkg = edxml.Package(
        from_agency=edxml.Agency(id=MINISTRY, name="Bộ Nội vụ"),
        to_agencies=[edxml.Agency(id=DISTRICT_2), edxml.Agency(id=DISTRICT_1)],
        code_number="125", code_notation="BNV-VP", promulgation_date=date(2026, 11, 20),
        document_type=edxml.DocumentType(type="18", name="Công văn"),
        subject="Về việc chuyển đổi số", priority=2, due_date=date(2026, 12, 15),
        signer=edxml.Signer(competence="KT. Bộ trưởng", position="Thứ trưởng",
                            full_name="Trần Văn Bình"),
        traces=[edxml.Trace(MINISTRY, datetime(2026, 11, 20, 9, 30, tzinfo=VIETNAM))],
        attachments=[edxml.Attachment(content_id="main", name="a.pdf", content=b"%PDF-")])
    return replace(pkg, **changes)


def stored(n):
    return {"key": f"documents/x/{n}", "sha256": f"{n:02d}" * 32, "size": 10 + n,
            "content_type": "application/pdf", "version_id": None, "name": f"{n}.pdf"}


def nobody(code):
    return False


def test_the_document_id_is_the_same_for_the_same_package_and_differs_otherwise():
    first = inbound.document_id_of(package())
    assert first == inbound.document_id_of(package(subject="changed wording"))
    assert first != inbound.document_id_of(package(code_number="126"))
    assert first != inbound.document_id_of(package(
        from_agency=edxml.Agency(id="000.00.00.G09")))
    # The DocumentId the package carries wins over the one built from its header.
    given = "000.00.00.G22,2026/11/20,125/BNV-VP"
    assert inbound.edxml_document_id(package()) == given
    assert inbound.document_id_of(package(document_id=given)) == first


@pytest.mark.parametrize("kind, expected", [
    (edxml.DocumentType(type="QĐ"), "QĐ"),
    (edxml.DocumentType(type="1", detail="CV"), "CV"),
    (edxml.DocumentType(type="2", name="  quyết định "), "QĐ"),
])
def test_a_document_type_is_known_by_its_code_or_its_name(kind, expected):
    assert inbound.document_type_code(kind) == expected


@pytest.mark.parametrize("kind, expected", [
    (edxml.DocumentType(type="18"), "CV"),  # the SDKs' number: place in Decree 30's list
    (edxml.DocumentType(type="19", name="Công điện"), "CĐ"),
    (edxml.DocumentType(type="18", name="Quyết định"), "QĐ"),  # the name wins
])
def test_the_sdks_integer_type_is_read_by_its_place_in_decree_30s_list(kind, expected):
    assert inbound.document_type_code(kind) == expected


def test_a_decree_30_type_is_written_as_the_sdks_integer():
    assert inbound.edxml_document_type("CV") == edxml.DocumentType(type="18", name="Công văn")
    assert inbound.edxml_document_type("QĐ").type == "2"
    assert inbound.document_type_code(inbound.edxml_document_type("THC")) == "THC"


def test_an_unknown_document_type_names_the_element():
    with pytest.raises(ValidationFailed) as raised:
        inbound.document_type_code(edxml.DocumentType(type="7", name="Loại lạ"))
    assert raised.value.field == "edXMLHeader/MessageHeader/DocumentType"
    assert "'7' is not a Decree 30 document type" in raised.value.message


@pytest.mark.parametrize("changes, error, field", [
    # A revocation or update is no document to take in (routing asks the copies instead).
    ({"business": edxml.Business(doc_type=1, document_id="000.00.00.G22,2026/11/01,9/BNV")},
     ValidationFailed, "edXMLHeader/TraceHeaderList/Bussiness/BussinessDocType"),
    ({"from_agency": edxml.Agency(id=DISTRICT_1)}, Conflict,
     "edXMLHeader/MessageHeader/From/OrganId"),
    ({"attachments": []}, ValidationFailed, "edXMLBody"),
    ({"attachments": [edxml.Attachment(content_id="m", name="a.pdf", content=b"%PDF-"),
                      edxml.Attachment(content_id="r", name="b.pdf", uri="https://x/b",
                                       sha256="ab" * 32, size=1)]},
     ValidationFailed, "edXMLBody/edXMLManifest/Reference[2]"),
    ({"document_type": edxml.DocumentType(type="99")}, ValidationFailed,
     "edXMLHeader/MessageHeader/DocumentType"),
])
def test_what_the_platform_cannot_take_in_is_refused_by_element(changes, error, field):
    with pytest.raises(error) as raised:
        inbound.check_importable(package(**changes), lambda code: code == DISTRICT_1)
    assert raised.value.field == field and raised.value.message.startswith(field)


def test_a_new_document_from_outside_is_importable():
    inbound.check_importable(package(business=edxml.Business(doc_type=0)), nobody)


def test_recipients_resolve_each_to_and_an_error_names_which():
    successors = {DISTRICT_2: [DISTRICT_1], DISTRICT_1: [DISTRICT_1]}
    assert inbound.resolve_recipients(package(), successors.__getitem__) == [DISTRICT_1]

    def resolve(code):
        if code == DISTRICT_1:
            raise NotFound(f"code: unknown agency {code}", field="code")
        return [code]

    with pytest.raises(NotFound) as raised:
        inbound.resolve_recipients(package(), resolve)
    assert raised.value.field == "edXMLHeader/MessageHeader/To[2]/OrganId"
    assert raised.value.message == (f"edXMLHeader/MessageHeader/To[2]/OrganId: unknown"
                                    f" agency {DISTRICT_1}")


def test_a_to_not_on_the_platform_is_set_aside_while_another_is_ours():
    def resolve(code):
        if code == DISTRICT_1:
            raise NotFound(f"code: unknown agency {code}", field="code")
        return [code]

    elsewhere = []
    assert inbound.resolve_recipients(package(), resolve, elsewhere) == [DISTRICT_2]
    assert elsewhere == [{"code": DISTRICT_1, "field": "edXMLHeader/MessageHeader/To[2]/OrganId",
                          "reason": f"not an agency of this platform (unknown agency"
                                    f" {DISTRICT_1})"}]

    def nobody_here(code):
        raise NotFound(f"code: unknown agency {code}", field="code")

    with pytest.raises(NotFound) as raised:  # none of ours: the first one named
        inbound.resolve_recipients(package(), nobody_here, [])
    assert raised.value.field == "edXMLHeader/MessageHeader/To[1]/OrganId"


def test_the_record_reads_like_an_issued_document():
    document = inbound.record(package(), "doc-1", [DISTRICT_1, DISTRICT_2],
                              [stored(1), stored(2)], NOW)
    assert document["issuing_agency"] == MINISTRY and document["origin"] == "edxml"
    assert (document["number"], document["number_notation"], document["year"]) == \
        (125, "125/BNV-VP", 2026)
    assert document["issued_at"] == "2026-11-20T00:00:00+07:00"
    assert (document["document_type"], document["urgency"], document["due_date"]) == \
        ("CV", 2, "2026-12-15")
    assert document["file"] == stored(1) and document["attachments"] == [stored(2)]
    assert document["addressed"] == [DISTRICT_2, DISTRICT_1]
    assert document["traces"] == [{"agency": MINISTRY, "at": "2026-11-20T09:30:00+07:00"}]
    assert document["signer"] == {"competence": "KT. Bộ trưởng", "position": "Thứ trưởng",
                                  "full_name": "Trần Văn Bình"}
    # A number with letters is kept as written, with no integer.
    assert inbound.record(package(code_number="12a"), "d", [], [stored(1)], NOW)["number"] \
        is None


def test_the_events_deliver_the_document_itself_once_to_each_recipient():
    document = inbound.record(package(), "doc-1", [DISTRICT_1, DISTRICT_2], [stored(1)], NOW)
    received, sent, *delivered = inbound.received_events(
        document, system_actor("routing"), NOW)
    assert received.event_type == "ExternalDocumentReceived"
    assert received.data["edxml_document_id"] == "000.00.00.G22,2026/11/20,125/BNV-VP"
    assert sent.event_type == "ConsignmentSent" and sent.data["origin"] == "edxml"
    assert sent.data["document"]["document_id"] == "doc-1"  # docs has never seen it
    assert sent.data["consignment_id"] == "doc-1:initial"
    assert [e.data["recipient"] for e in delivered] == [DISTRICT_1, DISTRICT_2]
    for event in delivered:
        assert event.data["sender"] == MINISTRY and event.data["sha256"] == "01" * 32
        assert [h["agency"] for h in event.data["trace"]] == [MINISTRY, event.data["recipient"]]
    assert {e.causation_id for e in (sent, *delivered)} == {received.event_id}


def test_what_a_revocation_update_or_replacement_names_and_leaves_undone():
    earlier = "000.00.00.G22,2026/11/01,9/BNV-VP"
    assert inbound.recalled_documents(package()) == []
    revoke = package(business=edxml.Business(doc_type=1, document_id=earlier))
    assert inbound.is_recall(revoke) and inbound.recalled_documents(revoke) == [earlier]
    assert inbound.not_applied(revoke)[-1].startswith("AttachmentEncoded")
    replace_ = package(business=edxml.Business(
        doc_type=3, document_id=earlier,
        replacements=[edxml.Replacement(earlier, [DISTRICT_1]),
                      edxml.Replacement("000.00.00.G22,2026/11/02,10/BNV-VP")]))
    assert not inbound.is_recall(replace_)
    assert inbound.recalled_documents(replace_) == [earlier, "000.00.00.G22,2026/11/02,10/BNV-VP"]
    assert inbound.record(replace_, "d", [DISTRICT_1], [stored(1)], NOW)["replaces"] == [
        inbound.imported_id(MINISTRY, earlier),
        inbound.imported_id(MINISTRY, "000.00.00.G22,2026/11/02,10/BNV-VP")]
    assert "OrganIdList" in inbound.not_applied(replace_)[0]
    update = package(business=edxml.Business(
        doc_type=2, document_id=earlier, document_info=edxml.BusinessDocumentInfo("1", "0")))
    assert "BussinessDocumentInfo" in inbound.not_applied(update)[0]
    for bad in (edxml.Business(doc_type=2),
                edxml.Business(doc_type=3, document_id="000.00.00.G22,2026/11/20,125/BNV-VP")):
        with pytest.raises(ValidationFailed) as raised:
            inbound.recalled_documents(package(business=bad))
        assert raised.value.field == "edXMLHeader/TraceHeaderList/Bussiness/DocumentId"
