"""Routing killed in the middle of a broadcast: every recipient still gets
exactly one delivery, once the clerk (or the broker) retries the sending."""

import collections

import pytest

from tests.support.client import urgent_dispatch, wait_for
from tests.support.db import query
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

PROVINCE = "000.00.00.H01"          # of the generated national directory
FIRST_DISTRICT = "000.01.00.H01"


def deliveries_per_recipient(platform, document_id):
    rows = query(platform.pg_dsn, "routing",
                 "SELECT envelope->'data'->>'recipient' FROM events"
                 " WHERE event_type = 'DocumentDelivered'"
                 " AND envelope->'data'->>'document_id' = %s", (document_id,))
    return collections.Counter(r[0] for r in rows)


@pytest.mark.parametrize("failpoint", ["routing.send.before_commit",
                                       "routing.send.after_commit"])
def test_a_broadcast_interrupted_by_sigkill_delivers_exactly_once(stack, platform, client,
                                                                   failpoint):
    stack["routing"].env["LIENTHONG_DIRECTORY_SEED"] = "national:2"
    stack.start()
    clerk = client.token("clerk", agency=PROVINCE)
    issued = client.issue(clerk, client.token("leader", agency=PROVINCE),
                          make_pdf("broadcast"), metadata=urgent_dispatch(FIRST_DISTRICT))
    document_id = issued["document_id"]
    wait_for(lambda: deliveries_per_recipient(platform, document_id) == {FIRST_DISTRICT: 1},
             what="the first delivery")

    # The whole province: 1 + 11 districts + 165 communes, less the sender.
    everyone = {"subtree": PROVINCE}
    stack["routing"].stop()
    stack["routing"].start(failpoints=failpoint)
    stack["routing"].wait_ready(client, client.token("auditor"))
    with client.rpc(clerk, timeout=5) as rpc:
        with pytest.raises(Exception):  # the service dies under the call
            rpc.routing.send(document_id, everyone, "broadcast-0001")
    stack["routing"].wait_exit()
    assert stack["routing"].proc.returncode == -9

    stack["routing"].start()
    stack["routing"].wait_ready(client, client.token("auditor"))
    with client.rpc(clerk, timeout=30) as rpc:
        result = rpc.routing.send(document_id, everyone, "broadcast-0001")  # the retry
    assert len(result["recipients"]) == 176

    counts = deliveries_per_recipient(platform, document_id)
    assert set(counts) == set(result["recipients"])
    assert set(counts.values()) == {1}, [r for r, n in counts.items() if n > 1]

    def audit_counts():
        with client.rpc(client.token("auditor", agency="000.00.00.G22")) as rpc:
            history = rpc.audit.history(document_id)
        return collections.Counter(e["data"]["recipient"] for e in history
                                   if e["event_type"] == "DocumentDelivered")
    assert wait_for(lambda: audit_counts() == counts, timeout=60,
                    what="the audit log to hold each delivery once")
