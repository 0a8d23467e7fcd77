"""The issue deadline's use cases (services.docs.commands) on the in-memory store:
the leader's signature starts the clock, the watch records each late document
once, the clerk's list shows their agency's, and the issue says whether it
came in time."""

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.docs import commands, domain
from services.docs.store import MemoryDocsStore
from shared.envelope import Actor, new_event
from shared.errors import ConcurrencyConflict, Forbidden
from shared.eventstore import InMemoryEventStore
from tests.unit.docs_store_contract import OTHER, SENDER, command, stored

VN = timezone(timedelta(hours=7))
CLERK = Actor("van.thu", SENDER, "clerk")
OTHER_CLERK = Actor("van.thu", OTHER, "clerk")
FRIDAY_NIGHT = datetime(2026, 11, 20, 21, tzinfo=VN)
DEADLINE = datetime(2026, 11, 23, 23, 59, 59, 999000, tzinfo=VN)  # end of Monday


@pytest.fixture
def store():
    return MemoryDocsStore()


@pytest.fixture
def log():
    return InMemoryEventStore()


def signed(store, log, at=FRIDAY_NIGHT, actor=CLERK, within=domain.URGENT_ISSUE_WITHIN,
           **changes):
    """A document its leader signed at ``at`` (the DocumentSigned's time)."""
    document_id = str(uuid.uuid4())
    commands.register(store, log, document_id, command(**changes), [stored("main.pdf")], actor)
    commands.submit(store, log, document_id, "lanh.dao", actor)
    signature = new_event("DocumentSigned", {"document_id": document_id,
                                             "signed_file": stored("s.pdf", "11").to_dict()},
                          actor=Actor("lanh.dao", actor.agency, "leader"), producer="signing",
                          stream_id=f"signature-{document_id}", occurred_at=at)
    with store.transaction() as conn:
        commands.follow(conn, store, log, signature, "sign", urgent_issue_within=within)
    return document_id


def seal_and_issue(store, log, document_id, at):
    seal = new_event("DocumentSealed", {"document_id": document_id,
                                        "sealed_file": stored("x.pdf", "22").to_dict()},
                     actor=CLERK, producer="signing", stream_id=f"signature-{document_id}")
    with store.transaction() as conn:
        commands.follow(conn, store, log, seal, "seal")
    return commands.issue(store, log, document_id, CLERK, separate_secret_series=False,
                          now=lambda: at)


def overdue_events(log):
    return [e for e in log.read_all() if e.event_type == "IssueOverdue"]


def test_a_document_not_issued_by_its_deadline_is_recorded_once(store, log):
    document_id = signed(store, log)
    assert commands.record_issue_overdue(store, log, DEADLINE) == 0  # still in time
    assert commands.overdue_issues(store, CLERK, DEADLINE) == []
    tuesday = DEADLINE + timedelta(hours=9)
    assert commands.record_issue_overdue(store, log, tuesday) == 1
    assert commands.record_issue_overdue(store, log, tuesday + timedelta(days=3)) == 0
    [event] = overdue_events(log)
    assert event.stream_id == domain.stream_of(document_id)
    assert event.data["issue_by"] == DEADLINE.isoformat()
    assert event.data["issuing_agency"] == SENDER
    [listed] = commands.overdue_issues(store, CLERK, tuesday)
    assert listed["document_id"] == document_id and listed["reported"] is True
    assert listed["issue_by"] == DEADLINE and listed["state"] == domain.SIGNED
    assert listed["subject"] == "Chỉ thị về phòng, chống bão"
    assert listed["overdue_by_seconds"] == 9 * 3600


def test_the_list_keeps_to_the_callers_agency(store, log):
    mine, theirs = signed(store, log), signed(store, log, actor=OTHER_CLERK)
    later = DEADLINE + timedelta(days=1)
    assert [t["document_id"] for t in commands.overdue_issues(store, CLERK, later)] == [mine]
    assert [t["document_id"] for t in commands.overdue_issues(store, OTHER_CLERK, later)] == \
        [theirs]
    leader = Actor("chu.tich", SENDER, "leader")
    assert [t["document_id"] for t in commands.overdue_issues(store, leader, later)] == [mine]
    auditor = Actor("thanh.tra", "000.00.00.G22", "auditor")
    assert {t["document_id"] for t in commands.overdue_issues(store, auditor, later)} == {
        mine, theirs}
    assert all(not t["reported"] for t in commands.overdue_issues(store, auditor, later))
    with pytest.raises(Forbidden) as refused:
        commands.overdue_issues(store, Actor("ops", SENDER, "operator"), later)
    assert refused.value.field == "role"


def test_an_urgent_document_is_late_after_its_short_interval(store, log):
    urgent = signed(store, log, urgency=3)
    configured = signed(store, log, urgency=1, within=timedelta(minutes=30))
    normal = signed(store, log)
    forty_minutes = FRIDAY_NIGHT + timedelta(minutes=40)
    assert commands.record_issue_overdue(store, log, forty_minutes) == 1
    assert [e.data["document_id"] for e in overdue_events(log)] == [configured]
    assert commands.record_issue_overdue(store, log, FRIDAY_NIGHT + timedelta(hours=3)) == 1
    assert overdue_events(log)[-1].data["document_id"] == urgent
    assert normal not in {t["document_id"] for t in commands.overdue_issues(
        store, CLERK, FRIDAY_NIGHT + timedelta(hours=3))}


def test_an_issue_in_time_or_late_says_so_and_ends_the_watch(store, log):
    on_time, late = signed(store, log), signed(store, log)
    issued = seal_and_issue(store, log, on_time, DEADLINE - timedelta(hours=6))
    assert issued.data["issued_on_time"] is True
    assert issued.data["issue_by"] == DEADLINE.isoformat()
    tuesday = DEADLINE + timedelta(hours=9)
    assert commands.record_issue_overdue(store, log, tuesday) == 1  # the late one only
    issued_late = seal_and_issue(store, log, late, tuesday + timedelta(hours=1))
    assert issued_late.data["issued_on_time"] is False
    assert commands.overdue_issues(store, CLERK, tuesday + timedelta(days=5)) == []
    assert commands.record_issue_overdue(store, log, tuesday + timedelta(days=5)) == 0
    with store.transaction() as conn:
        closed = store.issue_tracking(conn, late)
    assert closed["issued_at"] > closed["issue_by"] and closed["overdue_at"] is not None


def test_two_watches_at_once_record_a_late_document_once(store, log):
    document_id = signed(store, log)
    later = DEADLINE + timedelta(days=1)
    counts = []
    watches = [threading.Thread(target=lambda: counts.append(
        commands.record_issue_overdue(store, log, later))) for _ in range(2)]
    for watch in watches:
        watch.start()
    for watch in watches:
        watch.join()
    assert sorted(counts) == [0, 1]
    assert [e.data["document_id"] for e in overdue_events(log)] == [document_id]
    # One that read the stream before the other recorded it cannot append at its version.
    with store.transaction() as conn:
        tracked = store.issue_tracking(conn, document_id)
    stale = domain.issue_overdue({**tracked, "overdue_at": None}, later)
    version = len(log.read_stream(domain.stream_of(document_id))) - 1
    with pytest.raises(ConcurrencyConflict):
        log.append(domain.stream_of(document_id), version, [stale])
