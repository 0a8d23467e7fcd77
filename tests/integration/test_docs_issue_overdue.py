"""The issue deadline through the real docs service (nameko container, PostgreSQL,
RabbitMQ, S3): a document its leader signed and the clerk did not issue is
listed overdue to its agency and recorded once, however many instances'
watches run; issued late, its DocumentIssued says so. The clock is driven by
the signature's time and the ``now`` given to the watch's command, not by
sleeping."""

import uuid
from datetime import datetime, timedelta

import eventlet
import pytest
from nameko.testing.services import entrypoint_hook

from services.docs import domain
from services.docs.dependencies import record_issue_overdue
from services.docs.service import DocsService
from shared.envelope import Actor, new_event, utc_now
from tests.support.client import DISTRICT_1, PROVINCE, Client
from tests.support.db import query, scalar
from tests.support.events import signed
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.integration

LEADER = Actor("chu.tich", PROVINCE, "leader")


def _service_events(platform):
    """What a second docs instance's watch works with: its own pool and signer."""
    from shared.db import Database
    from shared.edge.inbox import ServiceEvents
    from shared.eventstore import PostgresEventStore

    db = Database(platform.pg_dsn, "docs")
    return ServiceEvents(PostgresEventStore(db, signer=platform.event_signer("docs")), "docs")


def _from_signing(event_type, document_id, version, at=None, **data):
    """signing's event, as its store would have recorded it (``version``)."""
    return new_event(event_type, {"document_id": document_id, **data}, actor=LEADER,
                     producer="signing", stream_id=f"signature-{document_id}",
                     occurred_at=at).at(version, version)


def test_a_signed_document_not_issued_is_reported_overdue_once(run_container, platform):
    # The watch's own loop waits an hour: the test calls its command with its ``now``.
    container = run_container(DocsService, OVERDUE_CHECK_SECONDS="3600")
    client = Client(platform)
    clerk = client.token("clerk", PROVINCE, user="van.thu")
    document_id = client.register(clerk, make_pdf("Chi thi")).json()["document_id"]
    with client.rpc(clerk) as rpc:
        rpc.docs.submit(document_id, LEADER.user_id)
    signed_at = utc_now() - timedelta(days=20)  # signed twenty days ago, never issued
    signature = _from_signing("DocumentSigned", document_id, 1, signed_at,
                              signed_file={"key": f"documents/{document_id}/signed.pdf",
                                           "sha256": "11" * 32, "version_id": None})
    with entrypoint_hook(container, "on_document_signed") as handle:
        handle(signed(platform, signature))

    deadline = domain.issue_deadline(signed_at, 0)
    with client.rpc(clerk) as rpc:
        [listed] = rpc.docs.overdue_outgoing()
    assert listed["document_id"] == document_id and listed["state"] == domain.SIGNED
    assert datetime.fromisoformat(listed["issue_by"]) == deadline
    assert listed["reported"] is False and listed["overdue_by_seconds"] > 0
    with client.rpc(client.token("clerk", DISTRICT_1, user="van.thu.h1")) as rpc:
        assert rpc.docs.overdue_outgoing() == []  # another agency's document

    # Two instances' watches check at the same moment: one records it.
    watches = [_service_events(platform) for _ in range(2)]
    try:
        now = utc_now()
        runs = [eventlet.spawn(record_issue_overdue, events, now) for events in watches]
        assert sorted(run.wait() for run in runs) == [0, 1]
        assert record_issue_overdue(watches[0], now + timedelta(hours=1)) == 0
    finally:
        for events in watches:
            events.db.close()
    [(stream, issue_by)] = query(
        platform.pg_dsn, "docs", "SELECT stream_id, envelope->'data'->>'issue_by'"
        " FROM events WHERE event_type = 'IssueOverdue'")
    assert stream == domain.stream_of(document_id)
    assert datetime.fromisoformat(issue_by) == deadline
    with client.rpc(clerk) as rpc:
        assert [i["reported"] for i in rpc.docs.overdue_outgoing()] == [True]

    # Sealed and issued at last: late, and said so; the list is empty.
    sealed = _from_signing("DocumentSealed", document_id, 2, sealed_file={
        "key": f"documents/{document_id}/sealed.pdf", "sha256": "22" * 32, "version_id": None})
    with entrypoint_hook(container, "on_document_sealed") as handle:
        handle(signed(platform, sealed))
    with client.rpc(clerk) as rpc:
        rpc.docs.issue(document_id)
        assert rpc.docs.overdue_outgoing() == []
    assert query(platform.pg_dsn, "docs",
                 "SELECT envelope->'data'->>'issued_on_time' FROM events"
                 " WHERE event_type = 'DocumentIssued'") == [("false",)]
    assert scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM events"
                  " WHERE event_type = 'IssueOverdue'") == 1


def test_an_unknown_caller_role_is_refused(run_container, platform):
    run_container(DocsService)
    client = Client(platform)
    from shared.errors import Forbidden

    with client.rpc(client.token("operator", PROVINCE, user=str(uuid.uuid4())[:8])) as rpc:
        with pytest.raises(Forbidden):
            rpc.docs.overdue_outgoing()
