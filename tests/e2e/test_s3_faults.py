"""The S3 server dead or hung, then back: every request that needs it answers
503 ``storage_error`` within the S3 client's bounds (never hangs), registers
nothing, leaves no object behind, and succeeds again once the server is back.

The S3 server is this module's own SeaweedFS (``weed server`` runs master,
volume, filer and S3 in one process, so a SIGSTOP freezes all of S3); docs,
signing (whose verification reads the file from S3) and the gateway run as
processes, with short S3 bounds so the hung case is quick.
"""

import os
import signal
import time
from contextlib import contextmanager
from io import BytesIO

import pytest

from tests.support import servers
from tests.support.client import PROVINCE, wait_for
from tests.support.db import query, scalar
from tests.support.gateway import Api, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

CONNECT_TIMEOUT, READ_TIMEOUT = 2, 3
USERS = [{"user_id": "van.thu", "agency": PROVINCE, "role": "clerk",
          "full_name": "Trần Thị Bình"}]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """Overrides the session's shared server: this module kills and freezes its own."""
    s3, server = servers.private_s3(str(tmp_path_factory.mktemp("s3-faults")))
    s3.weed = server
    yield s3
    if server.proc and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)
    server.stop()


@pytest.fixture
def api(stack, platform, tmp_path):
    # A bucket's first write makes its volumes (seconds on SeaweedFS): done here,
    # with the default bounds, so the services' short ones meet a warm server.
    platform.object_store().put_stream("warm-up.pdf", BytesIO(make_pdf("warm")), 10**6)
    for name in ("docs", "signing"):
        stack[name].env.update({"LIENTHONG_S3_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT),
                                "LIENTHONG_S3_TIMEOUT_SECONDS": str(READ_TIMEOUT),
                                "LIENTHONG_UPLOAD_SWEEP_FIRST_SECONDS": "0.5"})
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start("docs", "signing", "routing", "gateway")  # routing: the directory
    return Api(platform.gateway_url)


def docs_counts(platform):
    return (scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM events"),
            scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM documents"))


def orphans(platform):
    """Objects under documents/ of a document docs does not know."""
    known = {str(r[0]) for r in query(platform.pg_dsn, "docs",
                                      "SELECT document_id FROM documents")}
    keys = platform.object_store().keys("documents/")
    return [k for k in keys if k.split("/")[1] not in known]


def assert_unavailable(response, started, bound, s3):
    took = time.monotonic() - started
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "storage_error"
    assert int(response.headers["Retry-After"]) > 0
    host, port = s3.endpoint.rsplit(":", 1)
    assert host not in error["message"] and port not in error["message"], error
    assert took < bound, f"answered in {took:.1f} s, over {bound} s"


@contextmanager
def frozen(process):
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def register_and_verify_refused(api, platform, document_id, bound):
    before = docs_counts(platform)
    started = time.monotonic()
    assert_unavailable(api.register("van.thu", make_pdf("khi kho tệp hỏng")), started, bound,
                       platform.s3)
    started = time.monotonic()  # a download: signing reads the file from S3
    assert_unavailable(api.get("van.thu", f"/v1/documents/{document_id}/verify"), started,
                       bound, platform.s3)
    assert docs_counts(platform) == before  # nothing half-registered


def assert_works_again(api, platform, document_id):
    pdf = make_pdf("sau khi kho tệp trở lại")
    registered = wait_for(lambda: (r := api.register("van.thu", pdf)).status_code == 201 and r,
                          timeout=30, what="a registration to succeed again")
    assert registered.json()["file"]["size"] == len(pdf)
    verified = api.get("van.thu", f"/v1/documents/{document_id}/verify")
    assert verified.status_code == 200, verified.text
    assert verified.json()["document_id"] == document_id


def test_s3_dead_answers_503_at_once_and_registers_nothing(api, platform):
    first = api.register("van.thu", make_pdf("trước sự cố"))
    assert first.status_code == 201, first.text
    document_id = first.json()["document_id"]
    weed = platform.s3.weed

    weed.proc.kill()  # SIGKILL: connections are refused
    weed.proc.wait(10)
    # Refused connections: two quick retries, well within one connect timeout.
    register_and_verify_refused(api, platform, document_id, bound=CONNECT_TIMEOUT + 1)

    weed.start()  # the same ports and data
    assert_works_again(api, platform, document_id)
    assert orphans(platform) == []
    assert docs_counts(platform)[1] == 2


def test_s3_hung_answers_503_within_the_timeout_and_its_late_upload_is_swept(api, platform,
                                                                             stack):
    first = api.register("van.thu", make_pdf("trước sự cố"))
    assert first.status_code == 201, first.text
    document_id = first.json()["document_id"]

    with frozen(platform.s3.weed.proc):
        # Each call waits for one read timeout: a timed-out read is not retried.
        register_and_verify_refused(api, platform, document_id, bound=READ_TIMEOUT + 2)
    # Resumed, the server may finish the upload docs gave up on: docs sweeps the
    # failed registration's prefix until two listings in a row find it empty.
    def log_of_docs():
        with open(stack["docs"].log_path, encoding="utf-8") as fh:
            return fh.read()

    wait_for(lambda: "nothing left under documents/" in log_of_docs(), timeout=40,
             what="docs' sweep of the failed registration to end")
    # The request was in the frozen server's socket whole: resumed, it stored it.
    assert "swept 1 orphan version(s) under documents/" in log_of_docs()
    assert orphans(platform) == []
    assert_works_again(api, platform, document_id)
    assert orphans(platform) == []
    assert docs_counts(platform)[1] == 2
