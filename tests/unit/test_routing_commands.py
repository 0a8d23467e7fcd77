"""routing's use cases (services.routing.commands) without servers: the in-memory
store and event store in place of PostgreSQL, the same code the nameko shell runs."""

import copy
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from services.routing import commands, edxml, inbound, queries
from services.routing import statuses as st
from services.routing.sample_data import PROVINCE, commune_code, district_code, sample_province
from services.routing.store import MemoryRoutingStore
from shared.envelope import Actor
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.eventstore import InMemoryEventStore
from tests.unit.routing_store_contract import finalized, issued

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
DISTRICT_1, DISTRICT_2 = district_code(1), district_code(2)
CLERK = Actor("van.thu", PROVINCE, "clerk")
MINISTRY = "000.00.00.G22"
OPERATOR = Actor("ket.noi", PROVINCE, "operator")


@pytest.fixture
def store():
    return MemoryRoutingStore()


@pytest.fixture
def log():
    return InMemoryEventStore()


@pytest.fixture
def directory():
    return sample_province()


def types(log):
    return [e.event_type for e in log.read_all()]


def issue_and_seal(store, log, directory, recipients=(DISTRICT_1, DISTRICT_2), **changes):
    """docs' DocumentIssued and signing's DocumentFinalized, as the consumers take them."""
    issue = issued(PROVINCE, list(recipients), **changes)
    for event, half in ((finalized(issue), "signed"), (issue, "registered")):
        with store.transaction() as conn:
            commands.follow_issue(conn, store, log, event, half, lambda: directory, TODAY,
                                  NOW)
    return issue.data["document_id"]


def snapshot(store, log):
    return copy.deepcopy(store.__dict__ | {"_lock": None}), len(log.read_all())


def test_the_first_consignment_goes_out_once_both_halves_are_known(store, log, directory):
    document_id = issue_and_seal(store, log, directory)
    assert types(log) == ["ConsignmentSent", "DocumentDelivered", "DocumentDelivered"]
    assert queries.inbox(store, DISTRICT_1)[0]["document_id"] == document_id
    with store.transaction() as conn:  # a redelivered half changes nothing
        commands.follow_issue(conn, store, log, issued(PROVINCE, [DISTRICT_1], document_id),
                              "registered", lambda: directory, TODAY, NOW)
    assert len(log.read_all()) == 3


def test_a_state_secret_is_refused_not_delivered(store, log, directory):
    document_id = issue_and_seal(store, log, directory, secrecy=1)
    assert types(log) == ["DeliveryRefused"]
    assert queries.state_summary(store) == [
        {"document_id": document_id, "delivered_to": [],
         "refused": log.read_all()[0].data["reason"]}]
    assert "secrecy" in log.read_all()[0].data["reason"]


def test_sending_to_a_subtree_delivers_to_each_agency_under_it_once(store, log, directory):
    document_id = issue_and_seal(store, log, directory, recipients=[DISTRICT_1])
    answer = commands.send(store, log, lambda: directory, document_id,
                           {"subtree": DISTRICT_2, "include_root": True}, "send-district-2", CLERK, TODAY, NOW)
    subtree = [DISTRICT_2, *(commune_code(2, c) for c in range(1, 5))]
    assert sorted(answer["recipients"]) == sorted(subtree)
    assert answer["new_recipients"] == answer["recipients"] and not answer["repeated"]
    delivered = [e.data["recipient"] for e in log.read_all()
                 if e.event_type == "DocumentDelivered"]
    assert sorted(delivered) == sorted([DISTRICT_1, *subtree])
    # The same consignment again: the first answer, nothing delivered twice.
    before = len(log.read_all())
    again = commands.send(store, log, lambda: directory, document_id,
                          {"subtree": DISTRICT_2, "include_root": True}, "send-district-2", CLERK, TODAY, NOW)
    assert again == dict(answer, repeated=True) and len(log.read_all()) == before
    # A new consignment to the whole province skips who has it already and the sender.
    wider = commands.send(store, log, lambda: directory, document_id, {"subtree": PROVINCE},
                          "send-province-1", CLERK, TODAY, NOW)
    assert PROVINCE not in wider["recipients"]
    assert not set(wider["new_recipients"]) & {DISTRICT_1, *subtree}
    with pytest.raises(Conflict) as err:
        commands.send(store, log, lambda: directory, issue_and_seal(store, log, directory),
                      {"subtree": DISTRICT_2, "include_root": True}, "send-district-2", CLERK, TODAY, NOW)
    assert err.value.field == "consignment_id"


@pytest.mark.parametrize("actor, addressing, consignment, error, field", [
    (Actor("van.thu", DISTRICT_1, "clerk"), {"agencies": [DISTRICT_2]}, "send-0001",
     Forbidden, "agency"),
    (CLERK, ["not", "an", "object"], "send-0002", ValidationFailed, "addressing"),
    (CLERK, {"agencies": [DISTRICT_2]}, "x", ValidationFailed, "consignment_id"),
    (CLERK, {"subtree": "999.99.99.H99"}, "send-0003", NotFound, None),
])
def test_a_refused_send_names_its_cause_and_changes_nothing(store, log, directory, actor,
                                                            addressing, consignment, error,
                                                            field):
    document_id = issue_and_seal(store, log, directory, recipients=[DISTRICT_1])
    before = snapshot(store, log)
    with pytest.raises(error) as err:
        commands.send(store, log, lambda: directory, document_id, addressing, consignment,
                      actor, TODAY, NOW)
    assert field is None or err.value.field == field
    assert snapshot(store, log) == before


def test_a_document_not_sealed_yet_is_not_sent(store, log, directory):
    issue = issued(PROVINCE, [DISTRICT_1])
    with store.transaction() as conn:
        commands.follow_issue(conn, store, log, issue, "registered", lambda: directory,
                              TODAY, NOW)
    with pytest.raises(Conflict, match="not sealed"):
        commands.send(store, log, lambda: directory, issue.data["document_id"],
                      {"agencies": [DISTRICT_2]}, "send-0004", CLERK, TODAY, NOW)
    with pytest.raises(NotFound, match="not known to routing"):
        commands.send(store, log, lambda: directory, str(uuid.uuid4()),
                      {"agencies": [DISTRICT_2]}, "send-0005", CLERK, TODAY, NOW)
    assert log.read_all() == []


def test_status_reports_by_the_clerk_and_from_docs_move_the_copy(store, log, directory):
    document_id = issue_and_seal(store, log, directory)
    clerk_1 = Actor("van.thu", DISTRICT_1, "clerk")
    change = commands.report_status(store, log, document_id, "03", None, clerk_1, NOW)
    assert (change["code"], change["previous"], change["agency"]) == ("03", "01", DISTRICT_1)
    from shared.envelope import new_event

    accepted = new_event("IncomingAccepted", {"document_id": document_id,
                                               "agency": DISTRICT_1},
                         actor=clerk_1, producer="docs", stream_id=f"incoming-{document_id}")
    with store.transaction() as conn:  # reported here already: nothing more
        commands.follow_status(conn, store, log, accepted, st.ACCEPTED)
    assert types(log).count("StatusReported") == 1
    before = snapshot(store, log)
    with pytest.raises(ValidationFailed) as err:  # 02 needs a reason
        commands.report_status(store, log, document_id, "02", None,
                               Actor("van.thu", DISTRICT_2, "clerk"), NOW)
    assert err.value.field == "reason" and snapshot(store, log) == before
    rows = {r["recipient"]: r for r in queries.statuses(store, document_id, CLERK)}
    assert (rows[DISTRICT_1]["status"], rows[DISTRICT_2]["status"]) == ("03", "01")
    assert len(rows[DISTRICT_1]["history"]) == 2


def test_a_recall_is_asked_of_every_copy_and_answered_by_each(store, log, directory):
    document_id = issue_and_seal(store, log, directory)
    # An update (a revocation may not be refused, Decree 30 Art. 18(4): below).
    asked = commands.request_recall(store, log, document_id, st.UPDATE, "Sai số liệu", None,
                                    CLERK, NOW)
    assert asked == {"document_id": document_id, "requested_from": [DISTRICT_1, DISTRICT_2]}
    before = snapshot(store, log)
    with pytest.raises(Conflict):  # one request at a time, and nothing changes
        commands.request_recall(store, log, document_id, st.REVOKE, None, None, CLERK, NOW)
    assert snapshot(store, log) == before
    later = NOW + timedelta(hours=1)
    commands.answer_recall(store, log, document_id, True, None,
                           Actor("van.thu", DISTRICT_1, "clerk"), later)
    refused = commands.answer_recall(store, log, document_id, False, "Đã thực hiện",
                                     Actor("van.thu", DISTRICT_2, "clerk"), later)
    assert refused["code"] == st.RECALL_REFUSED
    outcome = queries.recall_outcome(store, document_id, CLERK)
    assert outcome["agreed"] == [DISTRICT_1] and outcome["refused"] == [
        [DISTRICT_2, "Đã thực hiện"]]
    with pytest.raises(NotFound):  # not addressed to the sender
        commands.answer_recall(store, log, document_id, True, None, CLERK, later)
    # Each copy's statuses carry its request and answer: the sender sees every
    # one, a recipient its own (the web's delivery table and answer form).
    rows = {r["recipient"]: r["recall"] for r in queries.statuses(store, document_id, CLERK)}
    assert (rows[DISTRICT_1]["answer"], rows[DISTRICT_2]["answer"]) == ("15", "16")
    assert rows[DISTRICT_2]["answer_reason"] == "Đã thực hiện"
    assert rows[DISTRICT_2]["business_type"] == st.UPDATE
    assert rows[DISTRICT_2]["reason"] == "Sai số liệu"
    [own] = queries.statuses(store, document_id, Actor("van.thu", DISTRICT_2, "clerk"))
    assert own["recipient"] == DISTRICT_2 and own["recall"]["answer"] == "16"


def test_each_copy_says_which_codes_its_recipient_may_report_next(store, log, directory):
    document_id = issue_and_seal(store, log, directory)
    district = Actor("van.thu", DISTRICT_1, "clerk")
    [arrived] = queries.statuses(store, document_id, district)
    assert arrived["next"] == ["02", "03"] and arrived["recall"] is None
    commands.report_status(store, log, document_id, "03", None, district, NOW)
    assert queries.statuses(store, document_id, district)[0]["next"] == ["04", "05"]
    commands.report_status(store, log, document_id, "04", None, district, NOW)
    commands.report_status(store, log, document_id, "06", None, district, NOW)
    assert queries.statuses(store, document_id, district)[0]["next"] == []  # final


def package(**changes):
    from dataclasses import replace

    pkg = edxml.Package(
        from_agency=edxml.Agency(id=MINISTRY, name="Bộ Nội vụ"),
        to_agencies=[edxml.Agency(id=DISTRICT_1), edxml.Agency(id=DISTRICT_2)],
        code_number="125", code_notation="BNV-VP", promulgation_date=date(2026, 11, 20),
        document_type=edxml.DocumentType(type="18", name="Công văn"),
        subject="Về việc chuyển đổi số", priority=2, due_date=date(2026, 12, 15),
        signer=edxml.Signer(competence="KT. Bộ trưởng", position="Thứ trưởng",
                            full_name="Trần Văn Bình"),
        traces=[edxml.Trace(MINISTRY, datetime(2026, 11, 20, 2, 30, tzinfo=timezone.utc))],
        attachments=[edxml.Attachment(content_id="main", name="a.pdf", content=b"%PDF-")])
    return replace(pkg, **changes)


def stored(document_id):
    return {"key": f"documents/{document_id}/main.pdf", "sha256": "ab" * 32, "size": 5,
            "content_type": "application/pdf", "version_id": "v1", "name": "a.pdf"}


def import_(store, log, pkg, directory, retained):
    document_id = inbound.document_id_of(pkg)
    earlier = commands.check_import(store, pkg, document_id, OPERATOR, NOW)
    if earlier is not None:
        return earlier
    recipients = inbound.resolve_recipients(
        pkg, lambda code: [v.code for v in directory.resolve(code, TODAY)])
    document = inbound.record(pkg, document_id, recipients, [stored(document_id)], NOW)
    return commands.import_document(store, log, pkg, document, OPERATOR, NOW,
                                    within=lambda conn: retained.append(document_id))


def test_an_imported_package_is_delivered_once_and_a_repeat_answers_the_same(store, log,
                                                                            directory):
    retained = []
    first = import_(store, log, package(), directory, retained)
    assert first["recipients"] == [DISTRICT_1, DISTRICT_2] and not first["repeated"]
    assert types(log) == ["ExternalDocumentReceived", "ConsignmentSent",
                          "DocumentDelivered", "DocumentDelivered"]
    assert retained == [first["document_id"]]
    again = import_(store, log, package(), directory, retained)
    assert again == dict(first, repeated=True) and len(log.read_all()) == 4
    # The files are put under retention in the import's transaction, and a
    # concurrent repeat (found under the lock) retains nothing and records nothing.
    document = inbound.record(package(), first["document_id"], [DISTRICT_1],
                              [stored(first["document_id"])], NOW)
    assert commands.import_document(store, log, package(), document, OPERATOR, NOW,
                                    within=retained.append)["repeated"] is True
    assert retained == [first["document_id"]] and len(log.read_all()) == 4
    # Another package with the number taken is a conflict naming the element.
    before = snapshot(store, log)
    with pytest.raises(Conflict) as err:
        import_(store, log, package(subject="Khác", code_notation="BNV-VP",
                                    promulgation_date=date(2026, 11, 21)), directory, [])
    assert err.value.field == "edXMLHeader/MessageHeader/Code"
    assert snapshot(store, log) == before


def test_a_revocation_from_the_axis_asks_every_copy_of_the_imported_document(store, log,
                                                                            directory):
    first = import_(store, log, package(), directory, [])
    revoke = package(code_number="126", business=edxml.Business(
        doc_type=1, reason="Ban hành nhầm", document_id=inbound.edxml_document_id(package())))
    answer = commands.recall_from_axis(store, log, revoke, directory, OPERATOR, NOW)
    assert answer["documents"] == [{"document_id": first["document_id"],
                                     "requested_from": [DISTRICT_1, DISTRICT_2]}]
    assert not answer["repeated"] and types(log).count("RecallRequested") == 2
    again = commands.recall_from_axis(store, log, revoke, directory, OPERATOR, NOW)
    assert again["repeated"] and types(log).count("RecallRequested") == 2
    unknown = package(code_number="127", business=edxml.Business(
        doc_type=1, document_id=f"{MINISTRY},2026/11/01,1/BNV"))
    before = snapshot(store, log)
    with pytest.raises(NotFound) as err:
        commands.recall_from_axis(store, log, unknown, directory, OPERATOR, NOW)
    assert err.value.field == f"{inbound.BUSINESS}/DocumentId"
    assert snapshot(store, log) == before


def test_a_directory_change_is_all_or_nothing(store, log, directory):
    log.append(commands.DIRECTORY_STREAM, 0, [commands.directory_event(directory.changes,
                                                                       None)])
    seeded = (commands.directory_of(log), 1)
    bad = [{"op": "create", "code": "000.00.09.H41", "name": "Sở mới", "level": "department",
            "parent": PROVINCE, "on": "2026-01-01"}, {"op": "nonsense"}]
    with pytest.raises(ValidationFailed) as err:
        commands.change_directory(store, log, lambda conn: seeded, bad, OPERATOR)
    assert err.value.field == "changes.1" and len(log.read_all()) == 1
    with pytest.raises(ValidationFailed):
        commands.change_directory(store, log, lambda conn: seeded, [], OPERATOR)
    assert commands.change_directory(store, log, lambda conn: seeded, bad[:1],
                                     OPERATOR) == {"applied": 1}
    assert commands.directory_of(log).get("000.00.09.H41", TODAY).name == "Sở mới"
    with pytest.raises(Conflict):  # the stream moved on, and every reload is as stale
        commands.change_directory(store, log, lambda conn: seeded, bad[:1], OPERATOR)
    assert len(log.read_all()) == 2


def test_a_directory_change_that_lost_a_race_is_checked_again_on_the_new_directory(
        store, log, directory):
    log.append(commands.DIRECTORY_STREAM, 0, [commands.directory_event(directory.changes,
                                                                       None)])
    stale = (commands.directory_of(log), 1)
    create = {"op": "create", "code": "000.00.09.H41", "name": "Sở mới",
              "level": "department", "parent": PROVINCE, "on": "2026-01-01"}
    loads = []

    def load(conn):  # the first read predates the other operator's change
        loads.append(conn)
        return stale if len(loads) == 1 else (commands.directory_of(log), 2)

    commands.change_directory(store, log, lambda conn: stale, [create], OPERATOR)
    with pytest.raises(Conflict) as err:  # the same code again: refused on the reload
        commands.change_directory(store, log, load, [create], OPERATOR)
    assert len(loads) == 2 and err.value.field == "changes.0"
    assert len(log.read_all()) == 2


def test_an_overdue_copy_is_recorded_once(store, log, directory):
    document_id = issue_and_seal(store, log, directory, urgency=3)  # Hỏa tốc: hours
    # Delivered now (the events' time): not overdue yet, three days on it is.
    assert commands.record_overdue(store, log, datetime.now(timezone.utc)) == 0
    later = datetime.now(timezone.utc) + timedelta(days=3)
    assert commands.record_overdue(store, log, later) == 2
    assert commands.record_overdue(store, log, later) == 0
    overdue = [e.data for e in log.read_all() if e.event_type == "DeliveryOverdue"]
    assert {o["recipient"] for o in overdue} == {DISTRICT_1, DISTRICT_2}
    assert {o["document_id"] for o in overdue} == {document_id}


def test_a_revocation_is_not_refused_and_a_refusal_changes_nothing(store, log, directory):
    document_id = issue_and_seal(store, log, directory)
    commands.request_recall(store, log, document_id, st.REVOKE, "Ban hành nhầm", None,
                            CLERK, NOW)
    before = snapshot(store, log)
    with pytest.raises(Conflict, match="Điều 18 khoản 4"):
        commands.answer_recall(store, log, document_id, False, "Không đồng ý",
                               Actor("van.thu", DISTRICT_2, "clerk"), NOW)
    assert snapshot(store, log) == before
    agreed = commands.answer_recall(store, log, document_id, True, None,
                                    Actor("van.thu", DISTRICT_2, "clerk"), NOW)
    assert agreed["code"] == st.RECALL_AGREED
    inbox = {i["document_id"]: i for i in queries.inbox(store, DISTRICT_2)}
    assert inbox[document_id]["recalled"] is True
