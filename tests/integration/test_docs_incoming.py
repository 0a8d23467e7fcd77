"""docs' incoming register over real PostgreSQL: an arrival number per agency and
year, a redelivered message applied once, and a second arrival of the same
document flagged to the clerk, not registered twice."""

import json
import uuid

import pytest
from nameko.testing.services import entrypoint_hook

from services.docs.service import DocsService
from shared.envelope import new_event, system_actor, utc_now
from tests.support.client import DISTRICT_1, DISTRICT_2, PROVINCE, Client
from tests.support.db import query

pytestmark = pytest.mark.integration


def issued_row(conn_dsn, document_id, number_notation="07/CT-UBND"):
    """An issued document as docs' projection holds it (the issue itself is tested e2e)."""
    import psycopg

    with psycopg.connect(conn_dsn, options="-c search_path=docs", autocommit=True) as conn:
        conn.execute(
            "INSERT INTO documents (document_id, issuing_agency, state, metadata, recipients,"
            " file, attachments, registered_at, number, number_notation, year, issued_at)"
            " VALUES (%s, %s, 'issued', %s, %s, %s, '[]', now(), 7, %s, 2026, now())",
            (document_id, PROVINCE, json.dumps({"subject": "Chỉ thị", "document_type": "CT"}),
             [DISTRICT_1, DISTRICT_2], json.dumps({"key": "k", "sha256": "ab" * 32}),
             number_notation))


def delivered(document_id, recipient, consignment="c-0001"):
    return new_event("DocumentDelivered", {
        "document_id": document_id, "recipient": recipient, "sender": PROVINCE,
        "sha256": "ab" * 32, "urgency": 0, "consignment_id": consignment},
        actor=system_actor("routing"), producer="routing",
        stream_id=f"delivery-{document_id}").at(1, 1).to_wire()


def consignment(document_id, recipients, consignment="c-0001"):
    return new_event("ConsignmentSent", {
        "document_id": document_id, "consignment_id": consignment, "sender": PROVINCE,
        "addressed": {"agencies": list(recipients)}, "recipients": list(recipients),
        "new_recipients": list(recipients), "urgency": 0},
        actor=system_actor("routing"), producer="routing",
        stream_id=f"delivery-{document_id}").at(1, 1).to_wire()


def test_arrivals_are_numbered_once_and_a_duplicate_is_flagged(run_container, platform):
    container = run_container(DocsService)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    issued_row(platform.pg_dsn, first, "07/CT-UBND")
    issued_row(platform.pg_dsn, second, "08/CT-UBND")
    message = delivered(first, DISTRICT_1)
    with entrypoint_hook(container, "on_document_delivered") as handle:
        handle(message)
        handle(message)  # the broker redelivers: the inbox applies it once
        handle(delivered(second, DISTRICT_1))
        handle(delivered(first, DISTRICT_2))
        handle(delivered(first, DISTRICT_1, "c-0002"))  # again, by another consignment

    rows = query(platform.pg_dsn, "docs", "SELECT document_id, agency, arrival_number, year"
                 " FROM incoming ORDER BY agency, arrival_number")
    year = utc_now().year
    assert [(str(d), a, n, y) for d, a, n, y in rows] in (
        [(first, DISTRICT_1, 1, y), (second, DISTRICT_1, 2, y), (first, DISTRICT_2, 1, y)]
        for y in (year, year + 1))  # Vietnam may already be in the next year
    [flag] = query(platform.pg_dsn, "docs", "SELECT envelope->'data' FROM events"
                   " WHERE event_type = 'IncomingDuplicateFlagged'")
    assert (flag[0]["document_id"], flag[0]["duplicate_of"], flag[0]["agency"]) == \
        (first, first, DISTRICT_1)

    client = Client(platform)
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        listed = rpc.docs.incoming()
    assert {i["document_id"] for i in listed} == {first, second}


def arrivals(dsn):
    return sorted((str(d), a, n) for d, a, n in query(
        dsn, "docs", "SELECT document_id, agency, arrival_number FROM incoming"))


@pytest.mark.parametrize("consignment_first", [True, False])
def test_a_consignment_registers_all_its_arrivals_at_once_in_either_order(
        run_container, platform, consignment_first):
    """The consignment's event registers every new recipient in one transaction;
    the per-recipient deliveries, before or after it, change nothing more."""
    import psycopg

    container = run_container(DocsService)
    document_id = str(uuid.uuid4())
    issued_row(platform.pg_dsn, document_id)
    with psycopg.connect(platform.pg_dsn, options="-c search_path=docs",
                         autocommit=True) as conn:
        conn.execute("UPDATE documents SET state = 'issued' WHERE document_id = %s",
                     (document_id,))
    recipients = [DISTRICT_1, DISTRICT_2]
    with entrypoint_hook(container, "on_document_delivered") as deliver, \
            entrypoint_hook(container, "on_consignment_sent") as send:
        if consignment_first:
            send(consignment(document_id, recipients))
        deliver(delivered(document_id, DISTRICT_2))
        if not consignment_first:
            send(consignment(document_id, recipients))
        deliver(delivered(document_id, DISTRICT_1))

    assert arrivals(platform.pg_dsn) == [(document_id, DISTRICT_1, 1),
                                         (document_id, DISTRICT_2, 1)]
    assert query(platform.pg_dsn, "docs", "SELECT count(*) FROM events"
                 " WHERE event_type = 'IncomingDuplicateFlagged'") == [(0,)]
    assert query(platform.pg_dsn, "docs", "SELECT state FROM documents") == [("sent",)]
