"""Two processes of every service on one vhost, one database and one bucket.

Each message goes to one of the two competing consumers; load comes through both
gateways at once (each gateway streams uploads to its own docs process). What
must still hold: numbers per agency, year and series are 1..N with no gap and
no duplicate; each recipient gets one delivery; the audit log holds every event
once and verifies; and each service has one outbox relay publishing (the
PostgreSQL advisory lock of ``shared.outbox``), whose SIGKILL hands the
publishing to the other process without losing or doubling an event.
"""

import collections
import concurrent.futures

import kombu
import pytest

from infra.stack import free_port, port_open
from tests.support.client import DISTRICT_1, DISTRICT_2, PROVINCE, wait_for
from tests.support.db import query, scalar
from tests.support.gateway import Api, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

USERS = [
    {"user_id": "van.thu", "agency": PROVINCE, "role": "clerk", "full_name": "Trần Thị Bình"},
    {"user_id": "chu.tich", "agency": PROVINCE, "role": "leader", "full_name": "Nguyễn Văn An"},
    {"user_id": "thanh.tra", "agency": "000.00.00.G22", "role": "auditor",
     "full_name": "Hoàng Văn Em"},
    {"user_id": "van.thu.h1", "agency": DISTRICT_1, "role": "clerk", "full_name": "Lê Văn Một"},
    {"user_id": "van.thu.h2", "agency": DISTRICT_2, "role": "clerk", "full_name": "Lê Văn Hai"},
]
DOCUMENTS = 12
RELAYING = ("docs", "signing", "routing", "gateway")  # audit publishes no events
PRODUCERS = RELAYING


def until_ok(call, what, status=200):
    return wait_for(lambda: (r := call()).status_code == status and r, timeout=60, what=what)


def to_sealed(api, title):
    """Register through ``api``'s gateway, submit, sign, seal: the document's id."""
    registered = api.register("van.thu", make_pdf(title))
    assert registered.status_code == 201, registered.text
    doc = f"/v1/documents/{registered.json()['document_id']}"
    submitted = api.post("van.thu", doc + "/submit", {"signer_user": "chu.tich"})
    assert submitted.status_code == 200, submitted.text
    until_ok(lambda: api.post("chu.tich", doc + "/sign"), "signing to get the submission")
    # 409 "chưa cấp số" until signing learns the number docs gave at the signature
    until_ok(lambda: api.post("van.thu", doc + "/seal"), "signing to learn the number")
    return registered.json()["document_id"]


def issue(api, document_id):
    """Issue (once docs has followed the seal): the number given."""
    issued = until_ok(lambda: api.post("van.thu", f"/v1/documents/{document_id}/issue"),
                      "docs to follow the seal")
    return issued.json()["number"]


def consumers(amqp_uri, queue):
    with kombu.Connection(amqp_uri) as conn:
        return conn.default_channel.queue_declare(queue, passive=True).consumer_count


def wait_consuming(process, amqp_uri):
    """Ready when its consumers are on the service's RPC queue beside the first's
    (a health call could be answered by the first)."""
    def ready():
        if process.proc.poll() is not None:
            pytest.fail(f"{process.name}-{process.instance} exited: see {process.log_path}")
        return consumers(amqp_uri, f"rpc-{process.name}") == 2
    wait_for(ready, timeout=60, what=f"{process.name}-{process.instance} to consume")


def relay_holders(dsn, service):
    """The processes (their PGAPPNAME) holding ``service``'s relay lock:
    ``pg_try_advisory_lock(hashtext('outbox:<schema>'))`` in ``shared.outbox``."""
    return sorted(r[0] for r in query(dsn, "public", """
        SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint""",
        (f"outbox:{service}",)))


def connected(dsn):
    return {r[0] for r in query(dsn, "public", "SELECT DISTINCT application_name"
                                " FROM pg_stat_activity WHERE datname = current_database()")}


def produced(dsn):
    """Every event the services stored, by id."""
    return [str(r[0]) for service in PRODUCERS
            for r in query(dsn, service, "SELECT event_id FROM events")]


def logged(dsn):
    return [str(r[0]) for r in query(dsn, "audit", "SELECT event_id FROM entries")]


def assert_audit_holds_everything_once(platform, api):
    dsn = platform.pg_dsn
    wait_for(lambda: sorted(logged(dsn)) == sorted(produced(dsn)), timeout=60,
             what="the audit log to hold every stored event")
    events = logged(dsn)
    assert len(events) == len(set(events)) == len(produced(dsn))
    # One total order: leaf indexes 0..n-1, each taken once.
    assert [r[0] for r in query(dsn, "audit", "SELECT idx FROM entries ORDER BY idx")] == \
        list(range(len(events)))
    until_ok(lambda: (r := api.get("thanh.tra", "/v1/audit/status")).json()
             .get("entries_not_in_worm") == 0 and r, "a checkpoint to cover the whole log")
    verdict = api.get("thanh.tra", "/v1/audit/verify").json()
    assert verdict["ok"] and verdict["entries"] == len(events), verdict
    assert verdict["checkpoints"] >= 1 and verdict["covered"] == len(events), verdict


def test_two_processes_of_every_service_keep_every_invariant(stack, platform, tmp_path):
    dsn = platform.pg_dsn
    users = seed_file(tmp_path, USERS)
    docs_b, gateway_b = free_port(), free_port()
    for name in stack:  # each process names itself to PostgreSQL (libpq's PGAPPNAME)
        stack[name].env.update(PGAPPNAME=f"{name}-a")
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = users
    stack.start()  # the first process of each: it makes the PKI and the log's key
    second = {name: {"PGAPPNAME": f"{name}-b"} for name in list(stack)}
    second["docs"]["LIENTHONG_DOCS_HTTP"] = f"127.0.0.1:{docs_b}"
    second["gateway"].update(LIENTHONG_GATEWAY_HTTP=f"127.0.0.1:{gateway_b}",
                             LIENTHONG_DOCS_URL=f"http://127.0.0.1:{docs_b}",
                             LIENTHONG_SEED_USERS=users)
    for name, env in second.items():
        stack.add(name, "b", **env).start()
    for name in second:
        wait_consuming(stack[f"{name}-b"], platform.amqp_uri)
    for port in (docs_b, gateway_b):
        wait_for(lambda: port_open("127.0.0.1", port), what=f"port {port}")
    apis = [Api(platform.gateway_url), Api(f"http://127.0.0.1:{gateway_b}")]
    for api in apis:  # log in first: tries in flight count against a user id (back-off)
        for user in USERS:
            api.headers(user["user_id"])

    # Load through both gateways at once: to the seal, then every issue at once.
    with concurrent.futures.ThreadPoolExecutor(DOCUMENTS) as pool:
        documents = list(pool.map(lambda n: (apis[n % 2], to_sealed(apis[n % 2], f"so {n}")),
                                  range(DOCUMENTS)))
        numbers = list(pool.map(lambda pair: issue(*pair), documents))
    assert sorted(numbers) == list(range(1, DOCUMENTS + 1))
    assert sorted(r[0] for r in query(dsn, "docs", "SELECT number FROM documents"
                                      " WHERE issuing_agency = %s", (PROVINCE,))) == \
        list(range(1, DOCUMENTS + 1))

    # Each recipient got each document once, and numbered its arrivals 1..N.
    def deliveries():
        return collections.Counter(
            (r[0], r[1]) for r in query(dsn, "routing", "SELECT envelope->'data'->>'document_id',"
                                        " envelope->'data'->>'recipient' FROM events"
                                        " WHERE event_type = 'DocumentDelivered'"))
    wait_for(lambda: len(deliveries()) == 2 * DOCUMENTS, timeout=60, what="every delivery")
    assert set(deliveries().values()) == {1}
    wait_for(lambda: scalar(dsn, "docs", "SELECT count(*) FROM incoming") == 2 * DOCUMENTS,
             timeout=60, what="every arrival registered")
    # Each district's clerk accepts every document, through both gateways at once:
    # the arrival numbers, given at acceptance (Art. 21-22), are 1..N at each.
    clerks = {DISTRICT_1: "van.thu.h1", DISTRICT_2: "van.thu.h2"}
    jobs = [(apis[n % 2], clerk, document_id) for n, (_, document_id) in enumerate(documents)
            for clerk in clerks.values()]
    with concurrent.futures.ThreadPoolExecutor(DOCUMENTS) as pool:
        accepted = list(pool.map(lambda job: job[0].post(
            job[1], f"/v1/incoming/{job[2]}/accept"), jobs))
    assert all(r.status_code == 200 for r in accepted), [r.text for r in accepted]
    # routing follows each acceptance (status 03) before the log is checked whole.
    wait_for(lambda: scalar(dsn, "routing", "SELECT count(*) FROM events"
                            " WHERE event_type = 'StatusReported'") == 2 * DOCUMENTS,
             timeout=60, what="routing to follow every acceptance")
    for district in (DISTRICT_1, DISTRICT_2):
        assert sorted(r[0] for r in query(dsn, "docs", "SELECT arrival_number FROM incoming"
                                          " WHERE agency = %s", (district,))) == \
            list(range(1, DOCUMENTS + 1))

    assert_audit_holds_everything_once(platform, apis[0])

    # One relay per service holds the lock while both processes are connected.
    for service in RELAYING:
        wait_for(lambda: {f"{service}-a", f"{service}-b"} <= connected(dsn),
                 what=f"both {service} processes on the database")
        assert len(relay_holders(dsn, service)) == 1, relay_holders(dsn, service)

    # SIGKILL docs' relaying process: the other takes the lock and publishes.
    [holder] = relay_holders(dsn, "docs")
    survivor = "docs-b" if holder == "docs-a" else "docs-a"
    stack["docs" if holder == "docs-a" else "docs-b"].kill()
    wait_for(lambda: relay_holders(dsn, "docs") == [survivor], timeout=30,
             what=f"{survivor} to take the relay over")
    api = apis[1] if survivor == "docs-b" else apis[0]  # the gateway whose docs lives
    assert issue(api, to_sealed(api, "sau khi mat mot tien trinh")) == DOCUMENTS + 1
    wait_for(lambda: len(deliveries()) == 2 * DOCUMENTS + 2, timeout=60,
             what="the last document's deliveries")
    assert set(deliveries().values()) == {1}
    assert_audit_holds_everything_once(platform, api)
