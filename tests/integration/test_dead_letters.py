"""Dead letters in a real service, over RabbitMQ and PostgreSQL: an event docs
keeps failing on is given up after MAX_ATTEMPTS tries, an administrator sees
it, fixes the cause, and sends it back to docs' own queue, where it is handled
once, as any event."""

import pytest

from services.docs.service import DocsService
from services.routing.service import RoutingService
from shared.errors import Forbidden, NotFound, ValidationFailed
from tests.support.client import DISTRICT_1, PROVINCE, Client, wait_for
from tests.support.db import query, scalar
from tests.support.edxml import package
from tests.support.openapi import check_body

pytestmark = pytest.mark.integration


def docs_sql(platform, sql):
    import psycopg

    with psycopg.connect(platform.pg_dsn, options="-c search_path=docs",
                         autocommit=True) as conn:
        conn.execute(sql)


def test_a_dead_letter_is_seen_then_replayed_through_the_consumers_queue(
        run_container, platform):
    run_container(RoutingService)
    run_container(DocsService, MAX_ATTEMPTS=2)
    client = Client(platform)
    operator = client.token("operator", agency=PROVINCE)
    # A fault docs cannot get past: its register refuses every arrival.
    docs_sql(platform, "ALTER TABLE incoming ADD CONSTRAINT closed CHECK (false) NOT VALID")

    with client.rpc(operator) as rpc:
        document_id = rpc.routing.import_edxml(package(to=(DISTRICT_1,)))["document_id"]
        [letter] = wait_for(rpc.docs.dead_letters, what="docs giving the consignment up")
    assert (letter["consumer"], letter["attempts"], letter["replayed_at"]) == \
        ("docs.on_consignment_sent", 2, None)
    assert "closed" in letter["error"]
    # The gateway answers these results as they are: they hold to its OpenAPI document.
    letters = "/v1/admin/dead-letters/docs"
    check_body("GET", letters, 200, [letter])
    assert scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM incoming") == 0

    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        with pytest.raises(Forbidden):
            rpc.docs.dead_letters()
        with pytest.raises(Forbidden):
            rpc.docs.replay_dead_letter(letter["id"])

    docs_sql(platform, "ALTER TABLE incoming DROP CONSTRAINT closed")  # the fix
    with client.rpc(operator) as rpc:
        with pytest.raises(ValidationFailed):
            rpc.docs.replay_dead_letter("1; DROP TABLE incoming")
        answer = rpc.docs.replay_dead_letter(letter["id"])
        assert answer["queue"] == "evt-routing-ConsignmentSent--docs.on_consignment_sent"
        check_body("POST", f"{letters}/{letter['id']}/replay", 200, answer)
        with pytest.raises(NotFound):
            rpc.docs.replay_dead_letter(letter["id"])  # replayed once only
        [again] = rpc.docs.dead_letters()
    assert check_body("GET", letters, 200, [again])[0]["replayed_at"] is not None

    def registered():
        return query(platform.pg_dsn, "docs", "SELECT document_id::text, agency FROM incoming")

    assert wait_for(registered, what="the replayed arrival") == [(document_id, DISTRICT_1)]
    assert scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM events"
                  " WHERE event_type = 'IncomingRegistered'") == 1
