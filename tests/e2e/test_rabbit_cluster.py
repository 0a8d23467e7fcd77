"""A three-node RabbitMQ cluster with quorum queues: the node every service is
connected to dies (SIGKILL) while a broadcast's events wait in the queues, and
nothing is lost; the services fail over to the other nodes by themselves."""

import collections

import pytest

from tests.support.client import Client, urgent_dispatch, wait_for
from tests.support.db import query, scalar
from tests.support.fixtures import Platform
from tests.support.pdf import make_pdf
from tests.support.private import RabbitCluster
from tests.support import servers
from infra.stack import SERVICES, ServiceProcess

pytestmark = pytest.mark.e2e

PROVINCE = "000.00.00.H01"          # of the generated national directory
FIRST_DISTRICT = "000.01.00.H01"
VHOST = "lienthong"


@pytest.fixture
def cluster():
    nodes = RabbitCluster(3)
    try:
        yield nodes.start()
    finally:
        nodes.cleanup()


def failover(uri, nodes):
    """``uri`` on the first node as kombu's failover list over every node."""
    first = f"127.0.0.1:{nodes[0].port}/"
    assert first in uri, uri
    return ";".join(uri.replace(first, f"127.0.0.1:{n.port}/") for n in nodes)


def deliveries(platform, document_id, service="routing"):
    rows = query(platform.pg_dsn, service,
                 "SELECT envelope->'data'->>'recipient' FROM events"
                 " WHERE event_type = 'DocumentDelivered'"
                 " AND envelope->'data'->>'document_id' = %s", (document_id,))
    return collections.Counter(r[0] for r in rows)


def audited_deliveries(platform, document_id):
    rows = query(platform.pg_dsn, "audit",
                 "SELECT p.data->>'recipient' FROM entries e JOIN payloads p USING (event_id)"
                 " WHERE e.event_type = 'DocumentDelivered' AND e.document_id = %s",
                 (document_id,))
    return collections.Counter(r[0] for r in rows)


def test_a_node_dies_with_a_broadcast_in_the_queues_and_nothing_is_lost(
        cluster, pg_dsn, s3_server, tmp_path):
    creds = servers.credentials()
    cluster[0].provision(VHOST, creds["services"],
                         full_access={servers.HARNESS_USER: creds["harness"]})
    platform = Platform(amqp_uri=cluster[0].uri(VHOST, servers.HARNESS_USER, creds["harness"]),
                        pg_dsn=pg_dsn, s3=s3_server, log_dir=str(tmp_path))
    envs = {name: platform.service_env(name) for name in SERVICES}
    for env in envs.values():
        env["LIENTHONG_AMQP_URI"] = failover(env["LIENTHONG_AMQP_URI"], cluster)
        env["LIENTHONG_QUEUE_TYPE"] = "quorum"
    envs["routing"]["LIENTHONG_DIRECTORY_SEED"] = "national:2"
    platform.amqp_uri = failover(platform.amqp_uri, cluster)  # the tests' client too
    client = Client(platform)
    stack = {name: ServiceProcess(name, envs[name], platform.log_dir) for name in SERVICES}
    try:
        for p in stack.values():
            p.start()
        for p in stack.values():
            p.wait_ready(client, client.token("auditor"))
        # Every queue the platform declared is replicated.
        queues = dict(line.split("\t") for line in cluster[1].ctl(
            "list_queues", "-p", VHOST, "--no-table-headers", "name", "type").splitlines()
            if line.strip() and not line.startswith("rpc.reply-"))
        assert queues and set(queues.values()) == {"quorum"}, queues

        clerk = client.token("clerk", agency=PROVINCE)
        issued = client.issue(clerk, client.token("leader", agency=PROVINCE),
                              make_pdf("cluster"), metadata=urgent_dispatch(FIRST_DISTRICT))
        document_id = issued["document_id"]
        wait_for(lambda: audited_deliveries(platform, document_id) == {FIRST_DISTRICT: 1},
                 timeout=60, what="the first delivery in the audit log")

        # Audit is down: the broadcast's events wait in its queues on the cluster.
        stack["audit"].stop()
        with client.rpc(clerk, timeout=60) as rpc:
            result = rpc.routing.send(document_id, {"subtree": PROVINCE}, "cluster-0001")
        assert len(result["recipients"]) == 176
        last = scalar(platform.pg_dsn, "routing", "SELECT max(position) FROM events")
        wait_for(lambda: scalar(platform.pg_dsn, "routing",
                                "SELECT max(position) FROM outbox_cursor") == last,
                 timeout=60, what="the broker to confirm every event of the broadcast")

        # The node all of them are connected to, and where the queues' leaders
        # were placed, dies.
        cluster[0].kill()
        stack["audit"].start()
        stack["audit"].wait_ready(client, client.token("auditor"))

        counts = deliveries(platform, document_id)
        assert set(counts) == set(result["recipients"]) and set(counts.values()) == {1}
        assert wait_for(lambda: audited_deliveries(platform, document_id) == counts,
                        timeout=120, what="the audit log to hold each delivery once")

        # The two nodes left carry on: a new document goes out and is audited.
        again = client.issue(clerk, client.token("leader", agency=PROVINCE),
                             make_pdf("after the node died"),
                             metadata=urgent_dispatch(FIRST_DISTRICT, "Công điện lần 2"),
                             timeout=60)
        assert wait_for(lambda: audited_deliveries(platform, again["document_id"])
                        == {FIRST_DISTRICT: 1}, timeout=60, what="the second document's delivery")
        for name, p in stack.items():
            assert p.proc.poll() is None, f"{name} exited: see {p.log_path}"
    finally:
        for p in stack.values():
            p.stop()
