"""The gateway stays available when a service or the database fails: a call
answers 503 with Retry-After within its timeout instead of hanging or 500, and
a dead service holds at most its share of the gateway's workers."""

import concurrent.futures
import time

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.support.client import DISTRICT_1, PROVINCE, wait_for
from tests.support.gateway import Api, seed_file

pytestmark = pytest.mark.e2e

USERS = [
    {"user_id": "van.thu.h1", "agency": DISTRICT_1, "role": "clerk", "full_name": "Lê Văn Cường"},
    {"user_id": "thanh.tra", "agency": "000.00.00.G22", "role": "auditor",
     "full_name": "Hoàng Văn Em"},
    {"user_id": "van.thu", "agency": PROVINCE, "role": "clerk", "full_name": "Trần Thị Bình"},
]
TIMEOUT = 2  # the gateway's RPC timeout in this test, seconds
IN_FLIGHT = 2  # calls to one service the gateway lets wait at once


@pytest.fixture
def api(stack, platform, tmp_path):
    stack["gateway"].env.update({
        "LIENTHONG_SEED_USERS": seed_file(tmp_path, USERS),
        "LIENTHONG_RPC_TIMEOUT_SECONDS": str(TIMEOUT),
        "LIENTHONG_SLOW_RPC_TIMEOUT_SECONDS": str(TIMEOUT),
        "LIENTHONG_RPC_IN_FLIGHT_PER_SERVICE": str(IN_FLIGHT)})
    stack.start()
    api = Api(platform.gateway_url)
    for user in ("van.thu.h1", "thanh.tra", "van.thu"):
        api.headers(user)  # log in while everything answers
    return api


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_unavailable(response):
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) >= 1


def test_a_dead_service_answers_503_in_time_and_holds_only_its_share_of_workers(stack, api):
    assert api.get("thanh.tra", "/v1/audit/status").status_code == 200
    stack["audit"].kill()

    response, took = timed(lambda: api.get("thanh.tra", "/v1/audit/status"))
    assert_unavailable(response)
    assert TIMEOUT <= took < TIMEOUT + 3, took
    assert "did not answer" in response.json()["error"]["message"]

    # Six callers at once on the dead service: two wait out the timeout, the
    # other four are told at once that it is busy; routing still answers meanwhile.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        stuck = [pool.submit(timed, lambda: api.get("thanh.tra", "/v1/audit/status"))
                 for _ in range(6)]
        time.sleep(0.5)  # let the six reach the gateway first
        inbox, inbox_took = timed(lambda: api.get("van.thu.h1", "/v1/inbox"))
        answers = [f.result() for f in stuck]
    assert inbox.status_code == 200, inbox.text
    assert inbox_took < TIMEOUT, inbox_took
    for response, _ in answers:
        assert_unavailable(response)
    busy = [took for response, took in answers if "busy" in response.json()["error"]["message"]]
    assert len(busy) == 6 - IN_FLIGHT, [r.json() for r, _ in answers]
    assert max(busy) < 1.5, busy

    stack.start("audit")
    assert api.get("thanh.tra", "/v1/audit/status").status_code == 200


def test_pooled_connections_the_database_cut_are_replaced_before_use(api, platform):
    assert api.get("van.thu.h1", "/v1/inbox").status_code == 200
    database = conninfo_to_dict(platform.pg_dsn)["dbname"]
    with psycopg.connect(platform.pg_dsn, autocommit=True) as conn:
        # With a timeout, pg_terminate_backend returns once each backend is gone.
        cut = conn.execute("SELECT count(pg_terminate_backend(pid, 5000))"
                           " FROM pg_stat_activity"
                           " WHERE datname = %s AND pid <> pg_backend_pid()",
                           (database,)).fetchone()[0]
    assert cut > 0  # the services' pooled connections, at least

    statuses = [api.get("van.thu.h1", "/v1/inbox").status_code for _ in range(6)]
    # A pooled connection the server closed is noticed before use and replaced.
    assert statuses == [200] * 6, statuses
    assert wait_for(lambda: api.get("thanh.tra", "/v1/audit/status").status_code == 200,
                    timeout=10, what="audit to answer again")
