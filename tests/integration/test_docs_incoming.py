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
from tests.support.events import signed

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


def consignment(platform, document_id, recipients, consignment="c-0001", new=None):
    """routing's ConsignmentSent, signed with routing's provisioned key."""
    return signed(platform, new_event("ConsignmentSent", {
        "document_id": document_id, "consignment_id": consignment, "sender": PROVINCE,
        "addressed": {"agencies": list(recipients)}, "recipients": list(recipients),
        "new_recipients": list(recipients if new is None else new), "urgency": 0},
        actor=system_actor("routing"), producer="routing",
        stream_id=f"delivery-{document_id}").at(1, 1))


def test_a_consignment_registers_each_new_recipients_arrival_once(run_container, platform):
    container = run_container(DocsService)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    issued_row(platform.pg_dsn, first, "07/CT-UBND")
    issued_row(platform.pg_dsn, second, "08/CT-UBND")
    message = consignment(platform, first, [DISTRICT_2, DISTRICT_1])
    with entrypoint_hook(container, "on_consignment_sent") as handle:
        handle(message)
        handle(message)  # the broker redelivers: the inbox applies it once
        handle(consignment(platform, second, [DISTRICT_1]))
        # A later consignment of the first document names DISTRICT_1 again (a
        # sender's retry with a new id): its copy is in the register already.
        handle(consignment(platform, first, [DISTRICT_1], "c-0002"))

    # Registered on arrival, numbered only when the clerk accepts (Art. 21-22).
    rows = query(platform.pg_dsn, "docs", "SELECT document_id, agency, arrival_number"
                 " FROM incoming ORDER BY agency, document_id")
    assert sorted((str(d), a, n) for d, a, n in rows) == sorted(
        [(first, DISTRICT_1, None), (second, DISTRICT_1, None), (first, DISTRICT_2, None)])
    assert query(platform.pg_dsn, "docs", "SELECT count(*) FROM events"
                 " WHERE event_type = 'IncomingRegistered'") == [(3,)]
    assert query(platform.pg_dsn, "docs", "SELECT agency FROM deliveries"
                 " WHERE document_id = %s ORDER BY agency", (first,)) == [
        (DISTRICT_1,), (DISTRICT_2,)]
    assert query(platform.pg_dsn, "docs", "SELECT DISTINCT state FROM documents") == \
        [("sent",)]

    client = Client(platform)
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        listed = rpc.docs.incoming()
        # The clerk returns one and accepts the other: the returned one uses up no
        # arrival number, so the accepted one is the first of the year.
        assert rpc.docs.return_incoming(first, "Sai nơi nhận")["arrival_number"] is None
        assert rpc.docs.accept_incoming(second)["arrival_number"] == 1
    assert {i["document_id"] for i in listed} == {first, second}
    year = utc_now().year
    assert query(platform.pg_dsn, "docs", "SELECT arrival_number, year FROM incoming"
                 " WHERE document_id = %s AND agency = %s", (second, DISTRICT_1)) in (
        [(1, y)] for y in (year, year + 1))  # Vietnam may already be in the next year
