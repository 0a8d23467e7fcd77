"""Routing killed while it takes in a package from the national axis: the
connector posts it again, and each recipient gets it exactly once, in
routing's deliveries and in docs' incoming register."""

import collections

import pytest

from tests.support.client import DISTRICT_1, DISTRICT_2, OUTSIDER, wait_for
from tests.support.db import query
from tests.support.edxml import package

pytestmark = pytest.mark.e2e

RECIPIENTS = [DISTRICT_1, DISTRICT_2, OUTSIDER]


@pytest.mark.parametrize("failpoint", ["routing.import.before_commit",
                                       "routing.import.after_commit"])
def test_an_import_interrupted_by_sigkill_delivers_exactly_once(stack, platform, client,
                                                                failpoint):
    stack.start()
    operator, auditor = client.token("operator"), client.token("auditor")
    body = package(to=RECIPIENTS)
    stack["routing"].stop()
    stack["routing"].start(failpoints=failpoint)
    stack["routing"].wait_ready(client, auditor)
    with client.rpc(operator, timeout=5) as rpc:
        with pytest.raises(Exception):  # the service dies under the call
            rpc.routing.import_edxml(body)
    stack["routing"].wait_exit()
    assert stack["routing"].proc.returncode == -9

    stack["routing"].start()
    stack["routing"].wait_ready(client, auditor)
    with client.rpc(operator, timeout=30) as rpc:
        answer = rpc.routing.import_edxml(body)  # the connector posts it again
    assert answer["recipients"] == sorted(RECIPIENTS)
    if failpoint == "routing.import.after_commit":
        assert answer["repeated"]
    # (Before the commit, either: the broker may hand the unanswered call to the
    # restarted service first, and the post then finds it imported.)

    def registered():
        rows = query(platform.pg_dsn, "docs", "SELECT agency FROM incoming"
                     " WHERE document_id = %s", (answer["document_id"],))
        return len(rows) == len(RECIPIENTS) and rows

    rows = wait_for(registered, what="an arrival at each recipient")
    assert collections.Counter(r[0] for r in rows) == {r: 1 for r in RECIPIENTS}
    delivered = query(platform.pg_dsn, "routing",
                      "SELECT envelope->'data'->>'recipient' FROM events"
                      " WHERE event_type = 'DocumentDelivered'")
    assert collections.Counter(r[0] for r in delivered) == {r: 1 for r in RECIPIENTS}
    recorded = query(platform.pg_dsn, "docs", "SELECT count(*) FROM events"
                     " WHERE event_type = 'ExternalDocumentRecorded'")
    assert recorded == [(1,)]
