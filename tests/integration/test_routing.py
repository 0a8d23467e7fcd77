"""The routing service over real PostgreSQL and RabbitMQ: directory, addressing,
idempotent sending, statuses, recall, deadlines, edXML and bad input."""

import base64
import uuid
from datetime import datetime

import pytest
from nameko.testing.services import entrypoint_hook

from services.routing import edxml
from services.routing.sample_data import commune_code
from services.routing.service import RoutingService, record_overdue
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.integration.test_state_summaries import issued_event, sealed_event
from tests.support.client import DISTRICT_1, DISTRICT_2, OUTSIDER, PROVINCE, Client
from tests.support.db import query, scalar
from tests.support.events import signed

pytestmark = pytest.mark.integration


@pytest.fixture
def routing(run_container, platform):
    container = run_container(RoutingService)
    client = Client(platform)

    class Routing:
        def hand(self, entrypoint, event):
            """``event`` to ``entrypoint``, signed by its producer as on the broker."""
            with entrypoint_hook(container, entrypoint) as handle:
                handle(signed(platform, event))

        def deliver(self, recipients=(DISTRICT_1, DISTRICT_2), document_id=None, urgency=1):
            """A registered and signed document, delivered to ``recipients``."""
            document_id = document_id or str(uuid.uuid4())
            self.hand("on_document_issued", issued_event(document_id, recipients,
                                                         urgency=urgency))
            self.hand("on_document_finalized", sealed_event(document_id))
            return document_id

        def rpc(self, role="clerk", agency=PROVINCE):
            return client.rpc(client.token(role, agency=agency))

        def events(self, event_type):
            return scalar(platform.pg_dsn, "routing",
                          "SELECT count(*) FROM events WHERE event_type = %s", (event_type,))

    return Routing()


def test_a_signed_document_reaches_each_recipients_inbox_with_status_01(routing):
    document_id = routing.deliver()
    for agency in (DISTRICT_1, DISTRICT_2):
        with routing.rpc(agency=agency) as rpc:
            [item] = rpc.routing.inbox()
        assert item["document_id"] == document_id and item["status"] == "01"
        assert [hop["agency"] for hop in item["trace"]] == [PROVINCE, agency]
    with routing.rpc() as rpc:
        statuses = rpc.routing.statuses(document_id)
    assert [(s["recipient"], s["status"]) for s in statuses] == [(DISTRICT_1, "01"),
                                                                 (DISTRICT_2, "01")]


def test_urgent_documents_overtake_normal_ones_in_the_inbox(routing):
    older_normal = routing.deliver(urgency=0)
    urgent = routing.deliver(urgency=3)  # Hỏa tốc
    newer_normal = routing.deliver(urgency=0)
    with routing.rpc(agency=DISTRICT_1) as rpc:
        inbox = rpc.routing.inbox()
    assert [i["document_id"] for i in inbox] == [urgent, newer_normal, older_normal]


def test_sending_to_a_subtree_resolves_it_once_and_a_retry_delivers_nothing_twice(routing):
    document_id = routing.deliver(recipients=(DISTRICT_1,))
    with routing.rpc() as rpc:
        first = rpc.routing.send(document_id, {"subtree": DISTRICT_2}, "consignment-0001")
        again = rpc.routing.send(document_id, {"subtree": DISTRICT_2}, "consignment-0001")
        wider = rpc.routing.send(document_id, {"subtree": PROVINCE, "level": "district"},
                                 "consignment-0002")
    communes = [commune_code(2, c) for c in range(1, 5)]
    assert first["recipients"] == communes and first["new_recipients"] == communes
    assert again == {**first, "repeated": True}
    # Districts 1 and 2 and 3: district 1 already had it.
    assert wider["new_recipients"] == ["000.02.00.H41", "000.03.00.H41"]
    assert routing.events("DocumentDelivered") == 1 + 4 + 2
    assert routing.events("ConsignmentSent") == 3


@pytest.mark.parametrize("addressing, field", [
    ({"agencies": ["999.99.99.H99"]}, "spec.agencies"),
    ({"agencies": ["not-a-code"]}, "spec.agencies"),
    ({"subtree": "999.99.99.H99"}, "spec.subtree"),
    ("everyone", "addressing"),
])
def test_sending_to_unknown_agencies_is_refused_and_changes_nothing(routing, addressing, field):
    document_id = routing.deliver()
    before = routing.events("DocumentDelivered")
    with routing.rpc() as rpc:
        with pytest.raises((ValidationFailed, NotFound)) as raised:
            rpc.routing.send(document_id, addressing, "consignment-bad-1")
    assert raised.value.field.startswith(field), raised.value.field
    assert routing.events("DocumentDelivered") == before


def test_only_the_issuing_agency_sends_and_only_signed_documents(routing):
    document_id = routing.deliver()
    with routing.rpc(agency=DISTRICT_1) as rpc:
        with pytest.raises(Forbidden):
            rpc.routing.send(document_id, {"agencies": [DISTRICT_2]}, "consignment-0003")
    with routing.rpc() as rpc:
        with pytest.raises(NotFound):
            rpc.routing.send(str(uuid.uuid4()), {"agencies": [DISTRICT_2]}, "consignment-0004")
        with pytest.raises(ValidationFailed):
            rpc.routing.send(document_id, {"agencies": [DISTRICT_2]}, "x")


def test_statuses_follow_the_rules_and_only_the_recipient_reports(routing):
    document_id = routing.deliver()
    with routing.rpc(agency=DISTRICT_1) as rpc:
        with pytest.raises(ValidationFailed, match="accepted"):
            rpc.routing.report_status(document_id, "06")  # completed before accepted
        for code in ("03", "04", "05", "06"):
            assert rpc.routing.report_status(document_id, code)["code"] == code
        with pytest.raises(ValidationFailed):
            rpc.routing.report_status(document_id, "05")  # 06 is final
    with routing.rpc(agency=DISTRICT_2) as rpc:
        with pytest.raises(ValidationFailed, match="reason"):
            rpc.routing.report_status(document_id, "02")
        rpc.routing.report_status(document_id, "02", reason="Sai địa chỉ nhận")
    with routing.rpc(agency=OUTSIDER) as rpc:
        with pytest.raises(NotFound):
            rpc.routing.report_status(document_id, "03")  # not a recipient
        with pytest.raises(NotFound):
            rpc.routing.statuses(document_id)
    with routing.rpc() as rpc:  # the sender sees every recipient and its history
        seen = {s["recipient"]: s for s in rpc.routing.statuses(document_id)}
    assert seen[DISTRICT_1]["status"] == "06"
    assert [h["code"] for h in seen[DISTRICT_1]["history"]] == ["01", "03", "04", "05", "06"]
    assert seen[DISTRICT_2]["history"][-1]["reason"] == "Sai địa chỉ nhận"
    # Times as ISO 8601 text, as the API's answers say, not the projection's stored form.
    assert all(datetime.fromisoformat(h["at"]).tzinfo for h in seen[DISTRICT_1]["history"])
    assert routing.events("StatusReported") == 5


def test_a_recall_is_asked_of_every_recipient_and_their_answers_flow_back(routing):
    document_id = routing.deliver()
    with routing.rpc(agency=DISTRICT_1) as rpc:
        with pytest.raises(Forbidden):
            rpc.routing.request_recall(document_id, 1)  # only the sender recalls
    with routing.rpc() as rpc:
        asked = rpc.routing.request_recall(document_id, 1, reason="Ban hành nhầm")
        with pytest.raises(Conflict):
            rpc.routing.request_recall(str(uuid.uuid4()), 1)  # never sent
    assert asked["requested_from"] == [DISTRICT_1, DISTRICT_2]
    with routing.rpc(agency=DISTRICT_1) as rpc:
        assert rpc.routing.answer_recall(document_id, True)["code"] == "15"
        with pytest.raises(Conflict):
            rpc.routing.report_status(document_id, "03")  # the copy is recalled
    with routing.rpc() as rpc:
        assert rpc.routing.recall_outcome(document_id)["pending"] == [DISTRICT_2]
    with routing.rpc(agency=DISTRICT_2) as rpc:
        # a revoke is not refused (Decree 30 Art. 18(4)): the copy is cancelled, reported 15
        with pytest.raises(Conflict) as refused:
            rpc.routing.answer_recall(document_id, False, reason="Đã triển khai thực hiện")
        assert refused.value.args[1] == "code"
        assert rpc.routing.answer_recall(document_id, True)["code"] == "15"
    with routing.rpc() as rpc:
        outcome = rpc.routing.recall_outcome(document_id)
    assert outcome["state"] == "agreed" and outcome["agreed"] == [DISTRICT_1, DISTRICT_2]
    assert outcome["refused"] == []


def test_overdue_copies_are_listed_and_recorded_once(routing, platform):
    from datetime import timedelta

    from shared.envelope import utc_now
    document_id = routing.deliver()  # urgent (Khẩn): due within two hours
    later = utc_now() + timedelta(hours=3)
    events = _service_events(platform)
    try:
        assert record_overdue(events, later) == 2
        assert record_overdue(events, later) == 0  # already recorded
    finally:
        events.db.close()
    assert routing.events("DeliveryOverdue") == 2
    overdue = query(platform.pg_dsn, "routing",
                    "SELECT envelope->'data'->>'document_id', envelope->'data'->>'recipient'"
                    " FROM events WHERE event_type = 'DeliveryOverdue' ORDER BY 2")
    assert overdue == [(document_id, DISTRICT_1), (document_id, DISTRICT_2)]
    with routing.rpc(role="auditor") as rpc:
        assert rpc.routing.overdue() == []  # not yet overdue now


def test_the_directory_changes_on_a_date_and_old_codes_resolve_to_successors(routing):
    from services.routing.sample_data import apply_reform_2025, sample_province

    reform = apply_reform_2025(sample_province()).changes[len(sample_province().changes):]
    with routing.rpc(role="clerk") as rpc:
        with pytest.raises(Forbidden):
            rpc.routing.change_directory(reform)
    with routing.rpc(role="operator") as rpc:
        assert rpc.routing.change_directory(reform)["applied"] == len(reform)
        before = rpc.routing.resolve_addressing({"subtree": DISTRICT_1}, "2024-06-01")
        merged = rpc.routing.resolve_addressing({"agencies": [commune_code(1, 1)]})
        with pytest.raises(ValidationFailed, match="no successor"):
            rpc.routing.resolve_addressing({"agencies": [DISTRICT_1]})
        with pytest.raises(NotFound, match="changes.0: code: unknown agency"):
            rpc.routing.change_directory([{"op": "rename", "code": "999.99.99.H99",
                                           "new_name": "x", "on": "2026-01-01"}])
    assert before["recipients"] == [commune_code(1, c) for c in range(1, 5)]
    assert merged["recipients"] != [commune_code(1, 1)] and len(merged["recipients"]) == 1


def test_a_sent_document_exports_as_an_edxml_package_that_reads_back(routing):
    document_id = routing.deliver()
    with routing.rpc() as rpc:  # unsigned: signing (which would sign it) is not running here
        package_b64 = rpc.routing.export_edxml(document_id, False, False)
        with pytest.raises(ValidationFailed, match="signed: true or false"):
            rpc.routing.export_edxml(document_id, False, "yes")
    with routing.rpc(agency=DISTRICT_1) as rpc:  # a recipient's copy to read, never signed
        assert rpc.routing.export_edxml(document_id) == package_b64
        with pytest.raises(Forbidden, match="signed: only a clerk of the sender"):
            rpc.routing.export_edxml(document_id, False, True)
    package = edxml.import_package(base64.b64decode(package_b64))
    assert package.from_agency.id == PROVINCE
    assert sorted(a.id for a in package.to_agencies) == [DISTRICT_1, DISTRICT_2]
    assert package.attachments[0].sha256 == "ab" * 32 and package.attachments[0].by_reference
    assert [t.organ_id for t in package.traces] == [PROVINCE, DISTRICT_1, DISTRICT_2]
    with routing.rpc(role="operator") as rpc:
        # Taken in, it would be registered twice: the sender is on the platform.
        # (Packages from outside: tests/integration/test_edxml_import.py.)
        with pytest.raises(Conflict, match="From/OrganId: 000.00.00.H41 is an agency of"):
            rpc.routing.import_edxml(package_b64)
        with pytest.raises(ValidationFailed):
            rpc.routing.import_edxml(base64.b64encode(b"<!DOCTYPE x><x/>").decode())
    assert routing.events("ExternalDocumentReceived") == 0


def _status_package(base_b64, agency, code, description, minutes=5):
    """A status package like the exported one ``base_b64``, from ``agency``."""
    from dataclasses import replace
    from datetime import timedelta

    base = edxml.import_status(base64.b64decode(base_b64))
    status = replace(base, from_agency=edxml.Agency(id=agency), status_code=code,
                     description=description,
                     timestamp=base.timestamp + timedelta(minutes=minutes),
                     staff_info=edxml.StaffInfo(department="Văn thư", staff="Trần Thị Bình"))
    return base64.b64encode(edxml.export_status(status)).decode()


def test_status_packages_go_out_and_come_back_in_by_the_status_rules(routing, platform):
    document_id = routing.deliver()

    def all_events():
        return scalar(platform.pg_dsn, "routing", "SELECT count(*) FROM events")

    with routing.rpc(agency=DISTRICT_1) as rpc:
        accepted = rpc.routing.report_status(document_id, "03")
        # The own copy by default; unsigned (signing is not running here).
        mine = rpc.routing.export_status_edxml(document_id, None, False)
    with routing.rpc() as rpc:  # the sender names the recipient
        assert rpc.routing.export_status_edxml(document_id, DISTRICT_1) == mine
        with pytest.raises(NotFound):
            rpc.routing.export_status_edxml(document_id)  # the sender has no copy
    with routing.rpc(role="auditor", agency=OUTSIDER) as rpc:
        assert rpc.routing.export_status_edxml(document_id, DISTRICT_1) == mine
    for role, agency, recipient in (("clerk", OUTSIDER, DISTRICT_1),
                                    ("clerk", DISTRICT_2, DISTRICT_1),
                                    ("leader", DISTRICT_1, None)):
        with routing.rpc(role=role, agency=agency) as rpc:
            with pytest.raises(NotFound):
                rpc.routing.export_status_edxml(document_id, recipient)

    status = edxml.import_status(base64.b64decode(mine))
    assert status.status_code == "03" and status.from_agency.id == DISTRICT_1
    assert status.response_for.organ_id == PROVINCE
    assert status.response_for.document_id.startswith(f"{PROVINCE},")
    assert status.response_for.document_id.endswith(f",{status.response_for.code}")
    assert status.description == "03 (tiếp nhận)"
    # The SDKs' times carry whole seconds.
    assert status.timestamp == datetime.fromisoformat(accepted["at"]).replace(microsecond=0)
    assert status.staff_info.staff == accepted["user"]
    with routing.rpc() as rpc:  # the same document as the document package names
        document = edxml.import_package(base64.b64decode(
            rpc.routing.export_edxml(document_id, False, False)))
    assert status.response_for.document_id == document.document_id
    assert status.response_for.code == f"{document.code_number}/{document.code_notation}"

    processing = _status_package(mine, DISTRICT_1, "05", "05 (đang xử lý): Đang thẩm định")
    reported = routing.events("StatusReported")
    with routing.rpc(role="clerk") as rpc:
        with pytest.raises(Forbidden):
            rpc.routing.import_status_edxml(processing)  # operators only
    with routing.rpc(role="operator") as rpc:
        change = rpc.routing.import_status_edxml(processing)
    assert change["code"] == "05" and change["previous"] == "03"
    assert change["agency"] == DISTRICT_1 and change["reason"] == "Đang thẩm định"
    assert change["user"] == "Trần Thị Bình"
    assert routing.events("StatusReported") == reported + 1
    with routing.rpc() as rpc:
        seen = {s["recipient"]: s for s in rpc.routing.statuses(document_id)}
    assert seen[DISTRICT_1]["status"] == "05"
    assert [h["code"] for h in seen[DISTRICT_1]["history"]] == ["01", "03", "05"]

    with routing.rpc(agency=DISTRICT_2) as rpc:
        rpc.routing.report_status(document_id, "02", reason="Sai địa chỉ nhận")
    unknown = _status_package(mine, DISTRICT_1, "05", "x")
    unknown = edxml.import_status(base64.b64decode(unknown))
    unknown.response_for.code = "999/CT-UBND"
    refusals = [
        (Forbidden, "edXMLHeader/MessageHeader/From/OrganId",
         _status_package(mine, OUTSIDER, "03", "tiếp nhận")),  # not a recipient
        (Conflict, "edXMLHeader/MessageHeader/StatusCode",
         _status_package(mine, DISTRICT_2, "06", "hoàn thành")),  # 02 is final
        (Conflict, "edXMLHeader/MessageHeader/StatusCode",
         _status_package(mine, DISTRICT_1, "05", "again")),  # a repeat
        (NotFound, "edXMLHeader/MessageHeader/ResponseFor",
         base64.b64encode(edxml.export_status(unknown)).decode()),
        (ValidationFailed, "package", "%%% not base64 %%%"),
        (ValidationFailed, "package", base64.b64encode(b"<edXMLEnvelope").decode()),
        (ValidationFailed, "package", base64.b64encode(b"<!DOCTYPE x><x/>").decode()),
    ]
    before, reported = all_events(), routing.events("StatusReported")
    with routing.rpc(role="operator") as rpc:
        for error, field, package in refusals:
            with pytest.raises(error) as raised:
                rpc.routing.import_status_edxml(package)
            assert raised.value.field == field, (error, raised.value)
    assert all_events() == before and routing.events("StatusReported") == reported
    with routing.rpc() as rpc:
        seen = {s["recipient"]: s for s in rpc.routing.statuses(document_id)}
    assert (seen[DISTRICT_1]["status"], seen[DISTRICT_2]["status"]) == ("05", "02")


def _service_events(platform):
    from shared.db import Database
    from shared.edge.inbox import ServiceEvents
    from shared.eventstore import PostgresEventStore

    db = Database(platform.pg_dsn, "routing")
    return ServiceEvents(PostgresEventStore(db, signer=platform.event_signer("routing")),
                         "routing")
