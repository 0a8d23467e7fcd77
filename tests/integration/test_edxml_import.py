"""A document from outside the platform, over real RabbitMQ, PostgreSQL and S3:
an edXML package from the national axis is taken in by routing, delivered to
the agencies it names, registered by docs at each of them, and its status goes
back as an edXML status package. Each bad package is refused by name and
leaves nothing behind."""

import base64
import hashlib
import urllib.request
from datetime import date

import pytest

from services.docs.service import DocsService
from services.routing import edxml
from services.routing.sample_data import commune_code
from services.routing.service import RoutingService
from shared.errors import Conflict, Forbidden, NotFound, UnsupportedMediaType, ValidationFailed
from tests.support.client import DISTRICT_1, DISTRICT_2, OUTSIDER, PROVINCE, Client, wait_for
from tests.support.db import scalar
from tests.support.edxml import APPENDIX, MAIN, MINISTRY, package, revocation, zipped

pytestmark = pytest.mark.integration

@pytest.fixture
def axis(run_container, platform):
    run_container(RoutingService)
    run_container(DocsService)
    client = Client(platform)

    class Axis:
        def rpc(self, role="operator", agency=PROVINCE):
            return client.rpc(client.token(role, agency=agency))

        def count(self, service, sql, params=()):
            return scalar(platform.pg_dsn, service, sql, params)

        def stored(self):
            return platform.object_store().keys()  # this test's own bucket

    return Axis()


def test_a_package_from_the_axis_reaches_each_recipient_once_and_its_status_goes_back(
        axis, platform):
    with axis.rpc() as rpc:
        first = rpc.routing.import_edxml(package())
        again = rpc.routing.import_edxml(package())  # the axis resends it
    document_id = first["document_id"]
    assert first["recipients"] == [DISTRICT_1, DISTRICT_2] and not first["repeated"]
    assert again == {**first, "repeated": True}
    assert first["number_notation"] == "125/BNV-VP" and first["from"] == MINISTRY
    # Stored where docs keeps a document's files: the document, then its appendix.
    assert sorted(axis.stored()) == [f"documents/{document_id}/attachments/000",
                                     f"documents/{document_id}/main.pdf"]
    assert axis.count("routing", "SELECT count(*) FROM events"
                      " WHERE event_type = 'DocumentDelivered'") == 2

    # docs registers it at each recipient, from the copy the delivery carries
    client = Client(platform)
    for agency in (DISTRICT_1, DISTRICT_2):
        with client.rpc(client.token("clerk", agency=agency)) as rpc:
            [arrival] = wait_for(rpc.docs.incoming, what=f"the arrival at {agency}")
            assert (arrival["document_id"], arrival["sender"], arrival["arrival_number"],
                    arrival["number_notation"]) == (document_id, MINISTRY, None, "125/BNV-VP")
    assert axis.count("docs", "SELECT count(*) FROM events"
                      " WHERE event_type = 'ExternalDocumentRecorded'") == 1

    with axis.rpc("clerk", DISTRICT_1) as rpc:
        document = rpc.docs.get_document(document_id)
        assert (document["state"], document["issuing_agency"], document["document_type"]) \
            == ("external", MINISTRY, "CV")
        with urllib.request.urlopen(rpc.docs.file_url(document_id)) as answer:
            assert hashlib.sha256(answer.read()).hexdigest() == \
                hashlib.sha256(MAIN).hexdigest()
        with urllib.request.urlopen(rpc.docs.file_url(document_id, attachment=0)) as answer:
            assert answer.read() == APPENDIX
        [item] = rpc.routing.inbox()
        # The hop the axis recorded, then ours.
        assert [hop["agency"] for hop in item["trace"]] == [MINISTRY, DISTRICT_1]
        rpc.docs.accept_incoming(document_id)

        def accepted():
            return rpc.routing.statuses(document_id)[0]["status"] == "03"

        wait_for(accepted, what="status 03 from docs' acceptance")
        status = edxml.import_status(base64.b64decode(rpc.routing.export_status_edxml(
            document_id, None, False)))  # unsigned: signing is not running here
    assert (status.response_for.organ_id, status.response_for.code, status.status_code,
            status.from_agency.id) == (MINISTRY, "125/BNV-VP", "03", DISTRICT_1)
    assert status.response_for.promulgation_date == date(2026, 11, 20)
    with axis.rpc("clerk", OUTSIDER) as rpc:
        with pytest.raises(NotFound):
            rpc.docs.get_document(document_id)  # not delivered there
    # The files taken in are under COMPLIANCE retention, as issued files are.
    with pytest.raises(Exception, match="(?i)retention|lock|denied"):
        platform.object_store().delete(document["file"]["key"],
                                       version_id=document["file"]["version_id"])


def test_a_retired_code_in_to_reaches_its_successor(axis):
    from services.routing.sample_data import apply_reform_2025, sample_province

    reform = apply_reform_2025(sample_province()).changes[len(sample_province().changes):]
    with axis.rpc() as rpc:
        rpc.routing.change_directory(reform)
        merged = rpc.routing.resolve_addressing({"agencies": [commune_code(1, 1)]})
        answer = rpc.routing.import_edxml(package(to=[commune_code(1, 1)]))
    assert answer["recipients"] == merged["recipients"] != [commune_code(1, 1)]


def test_a_package_for_agencies_here_and_elsewhere_is_taken_in_for_ours(axis):
    """The axis delivers one package to many agencies: what is addressed to this
    platform's is taken in, the rest said, not refused (the same again: repeated)."""
    elsewhere = ("999.99.99.H99", "0312345678")  # unknown here; an enterprise's code
    with axis.rpc() as rpc:
        answer = rpc.routing.import_edxml(package(to=(elsewhere[0], DISTRICT_1, elsewhere[1])))
        again = rpc.routing.import_edxml(package(to=(elsewhere[0], DISTRICT_1, elsewhere[1])))
    assert answer["recipients"] == [DISTRICT_1] and not answer["repeated"]
    assert [(m["code"], m["field"]) for m in answer["not_delivered"]] == [
        (elsewhere[0], "edXMLHeader/MessageHeader/To[1]/OrganId"),
        (elsewhere[1], "edXMLHeader/MessageHeader/To[3]/OrganId")]
    assert [m["reason"].split(" (")[0] for m in answer["not_delivered"]] == [
        "not an agency of this platform"] * 2, answer["not_delivered"]
    assert again == {**answer, "repeated": True}
    assert axis.count("routing", "SELECT count(*) FROM events"
                      " WHERE event_type = 'DocumentDelivered'") == 1


def _inline(name, content):
    return edxml.Attachment(content_id=name, name=name, content=content)


BAD = [
    ("a clerk imports", Forbidden, None, {"role": "clerk"}),
    ("an agency admin imports", Forbidden, "role", {"role": "admin"}),
    ("no recipient on the platform", NotFound, "edXMLHeader/MessageHeader/To[1]/OrganId",
     {"to": ("999.99.99.H99", "888.88.88.H88")}),
    ("sender on the platform", Conflict, "edXMLHeader/MessageHeader/From/OrganId",
     {"from_agency": edxml.Agency(id=PROVINCE)}),
    ("revoke naming no document", ValidationFailed,
     "edXMLHeader/TraceHeaderList/Bussiness/DocumentId",
     {"business": edxml.Business(doc_type=1, reason="sai sót")}),
    ("revoke of a document never imported", NotFound,
     "edXMLHeader/TraceHeaderList/Bussiness/DocumentId",
     {"business": edxml.Business(doc_type=1, reason="sai sót",
                                 document_id=f"{MINISTRY},2026/11/01,99/BNV-VP")}),
    ("replacement of a document never imported", NotFound,
     "edXMLHeader/TraceHeaderList/Bussiness/DocumentId",
     {"business": edxml.Business(doc_type=3, document_id=f"{MINISTRY},2026/11/01,99/BNV-VP")}),
    ("file by reference", ValidationFailed, "edXMLBody/edXMLManifest/Reference[1]",
     {"files": [edxml.Attachment(content_id="main", name="a.pdf", uri="https://axis/a.pdf",
                                 sha256="ab" * 32, size=10)]}),
    ("no file", ValidationFailed, "edXMLBody", {"files": []}),
    ("main file not a PDF", UnsupportedMediaType, "edXMLBody/edXMLManifest/Reference[1]",
     {"files": [_inline("main.pdf", b"MZ\x90\x00 not a pdf")]}),
    # The main file is stored before the appendix is refused: it is removed again.
    ("appendix of an unknown type", UnsupportedMediaType, "edXMLBody/edXMLManifest/Reference[2]",
     {"files": [_inline("main.pdf", MAIN), _inline("run.exe", b"MZ\x90\x00 program")]}),
    ("unknown document type", ValidationFailed, "edXMLHeader/MessageHeader/DocumentType",
     {"document_type": edxml.DocumentType(type="7", name="Loại lạ")}),
]


@pytest.mark.parametrize("why, error, field, changes", BAD, ids=[b[0] for b in BAD])
def test_a_bad_package_is_refused_by_name_and_changes_nothing(axis, why, error, field,
                                                               changes):
    changes = dict(changes)
    role = changes.pop("role", "operator")
    with axis.rpc(role) as rpc:
        with pytest.raises(error) as raised:
            rpc.routing.import_edxml(package(**changes))
    if field:
        assert raised.value.args[1] == field, raised.value.args
        assert str(raised.value).startswith(field)
    assert axis.count("routing", "SELECT count(*) FROM consignments") == 0
    assert axis.count("routing", "SELECT count(*) FROM events WHERE stream_id LIKE"
                      " 'delivery-%%'") == 0
    assert axis.stored() == []


def test_another_package_with_a_number_already_taken_in_is_a_conflict(axis):
    with axis.rpc() as rpc:
        rpc.routing.import_edxml(package(on=date(2026, 11, 20)))
        with pytest.raises(Conflict) as raised:
            rpc.routing.import_edxml(package(on=date(2026, 11, 21)))
    assert raised.value.args[1] == "edXMLHeader/MessageHeader/Code"
    assert axis.count("routing", "SELECT count(*) FROM consignments") == 1


def test_an_imported_document_exports_with_its_files_inline_as_the_standard_does(axis):
    with axis.rpc() as rpc:
        document_id = rpc.routing.import_edxml(package())["document_id"]
    with axis.rpc("clerk", DISTRICT_1) as rpc:
        by_reference = edxml.import_package(base64.b64decode(
            rpc.routing.export_edxml(document_id)))
        inline = edxml.import_package(base64.b64decode(
            rpc.routing.export_edxml(document_id, True)))
        with pytest.raises(ValidationFailed, match="inline: true or false"):
            rpc.routing.export_edxml(document_id, "yes")
    # Every file goes out, the appendix too, under the names it came with.
    main, appendix = by_reference.attachments
    assert main.by_reference and main.sha256 == hashlib.sha256(MAIN).hexdigest()
    assert appendix.by_reference and appendix.sha256 == hashlib.sha256(APPENDIX).hexdigest()
    assert [a.name for a in by_reference.attachments] == ["125-BNV-VP.pdf", "phu-luc.pdf"]
    assert [a.content for a in inline.attachments] == [MAIN, APPENDIX]
    assert not any(a.by_reference for a in inline.attachments)
    assert inline.document_type == edxml.DocumentType(type="18", name="Công văn")
    assert (inline.from_agency.id, inline.code_number, inline.code_notation,
            inline.promulgation_date) == (MINISTRY, "125", "BNV-VP", date(2026, 11, 20))


def test_two_identical_imports_at_once_answer_as_the_first_and_store_one_copy(axis, platform):
    """The broker may redeliver a call whose routing died while the connector
    posts the package again: both run at once. One takes it in, the other
    answers ``repeated``; each recipient gets it once and the loser's file
    versions are removed (no orphan under WORM retention)."""
    import eventlet

    rounds = 6
    for n in range(rounds):
        body = package(number=str(200 + n))

        def post():
            with axis.rpc() as rpc:
                return rpc.routing.import_edxml(body)

        with eventlet.Timeout(60):
            answers = [t.wait() for t in [eventlet.spawn(post), eventlet.spawn(post)]]
        assert sorted(a["repeated"] for a in answers) == [False, True], (n, answers)
        assert {**answers[0], "repeated": None} == {**answers[1], "repeated": None}
    # Another package reusing a number is still a conflict.
    with axis.rpc() as rpc:
        with pytest.raises(Conflict):
            rpc.routing.import_edxml(package(number="200", on=date(2026, 11, 21)))
    assert axis.count("routing", "SELECT count(*) FROM consignments") == rounds
    delivered = axis.count("routing", "SELECT count(DISTINCT (envelope->'data'->>'document_id',"
                           " envelope->'data'->>'recipient')) = count(*) AND count(*) = %s"
                           " FROM events WHERE event_type = 'DocumentDelivered'", (2 * rounds,))
    assert delivered is True
    store = platform.object_store()
    versions = [o.object_name for o in store.client.list_objects(
        bucket_name=store.bucket, recursive=True, include_version=True)]
    assert len(versions) == len(set(versions)) == 2 * rounds, sorted(versions)


def test_an_sdk_package_with_zipped_files_from_an_enterprise_is_taken_in(axis, platform):
    """As the SDKs send it: files zipped in AttachmentEncoded; the sender an
    enterprise with a Decision 20/2020 Art. 5 code (10 digits)."""
    enterprise = "0100109106"
    data = zipped(package(from_agency=edxml.Agency(id=enterprise, name="Công ty X"),
                          document_id=f"{enterprise},2026/11/20,125/BNV-VP"))
    assert b"application/zip" in base64.b64decode(data)
    with axis.rpc() as rpc:
        taken = rpc.routing.import_edxml(data)
    assert taken["from"] == enterprise and taken["recipients"] == [DISTRICT_1, DISTRICT_2]
    with axis.rpc("clerk", DISTRICT_1) as rpc:
        [arrival] = wait_for(rpc.docs.incoming, what="the arrival of the enterprise's document")
        assert arrival["sender"] == enterprise
        with urllib.request.urlopen(rpc.docs.file_url(taken["document_id"])) as answer:
            assert answer.read() == MAIN  # unpacked from its ZIP
        with urllib.request.urlopen(rpc.docs.file_url(taken["document_id"],
                                                      attachment=0)) as answer:
            assert answer.read() == APPENDIX
        out = edxml.import_package(base64.b64decode(
            rpc.routing.export_edxml(taken["document_id"], True)))
    assert out.from_agency.id == enterprise
    assert [a.content for a in out.attachments] == [MAIN, APPENDIX]


def test_a_zip_bomb_from_the_axis_is_refused_naming_the_rule(axis):
    import io
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.pdf", b"%PDF-" + b"\x00" * (8 << 20))
    bomb = edxml.Attachment(content_id="main", name="main.pdf",
                            content_type="application/pdf", content=buffer.getvalue())
    data = base64.b64decode(package(files=[bomb])).replace(
        b"<ContentType>application/pdf</ContentType>\n      <ContentId>main",
        b"<ContentType>application/zip</ContentType>\n      <ContentId>main")
    with axis.rpc() as rpc:
        with pytest.raises(ValidationFailed, match="compression-ratio limit") as raised:
            rpc.routing.import_edxml(base64.b64encode(data).decode())
    assert raised.value.args[1] == "package" or "AttachmentEncoded" in str(raised.value)
    assert axis.stored() == []


def test_a_revocation_from_the_axis_asks_every_copy_and_a_replacement_names_the_new_one(
        axis):
    with axis.rpc() as rpc:
        first = rpc.routing.import_edxml(package())
        asked = rpc.routing.import_edxml(revocation(document_info=edxml.BusinessDocumentInfo(
            "0", "1", [edxml.Receiver(DISTRICT_1, "1")]), doc_type=2))
    assert asked["business_type"] == 2 and not asked["repeated"]
    with axis.rpc() as rpc:  # the axis resends it while the answers are awaited
        again = rpc.routing.import_edxml(revocation(document_info=edxml.BusinessDocumentInfo(
            "0", "1", [edxml.Receiver(DISTRICT_1, "1")]), doc_type=2))
    assert again == {**asked, "repeated": True}
    assert asked["documents"] == [{"document_id": first["document_id"],
                                   "requested_from": [DISTRICT_1, DISTRICT_2]}]
    assert any("BussinessDocumentInfo" in text for text in asked["not_applied"])
    with axis.rpc("clerk", DISTRICT_1) as rpc:
        rpc.routing.answer_recall(first["document_id"], False, "Đã xử lý xong")
    with axis.rpc("clerk", DISTRICT_2) as rpc:
        rpc.routing.answer_recall(first["document_id"], True)
    # Answered: a replacement (3) that replaces it asks again, naming the new document.
    with axis.rpc() as rpc:
        new = rpc.routing.import_edxml(revocation(doc_type=3))
        with pytest.raises(Conflict) as raised:  # the replacement awaits its answers
            rpc.routing.import_edxml(revocation(doc_type=1))
    assert raised.value.args[1] == "edXMLHeader/TraceHeaderList/Bussiness/DocumentId"
    assert "still waiting" in str(raised.value)
    assert new["replaces"] == [first["document_id"]] and new["number_notation"] == "130/BNV-VP"
    assert new["recipients"] == [DISTRICT_1, DISTRICT_2]  # the new document is delivered
    requests = axis.count("routing", "SELECT count(*) FROM events WHERE event_type ="
                          " 'RecallRequested'")
    assert requests == 4, requests  # 2 for the update, 2 for the replacement
    with axis.rpc("clerk", DISTRICT_2) as rpc:  # a revoke agreed: the copy is out of use
        rpc.routing.answer_recall(first["document_id"], True)
