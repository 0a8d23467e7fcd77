"""Document numbers from several processes at once: no gap, no duplicate; and an
issue that fails in the docs service after taking its number gives it back.

Each worker process takes numbers exactly as the docs service does
(``_take_number`` inside the transaction that records the issue) and records
what it took in the same transaction; about one transaction in five then
fails and rolls back, as an issue that dies half-way would. What is committed
must be 01, 02, ... with nothing missing and nothing twice.
"""

import multiprocessing
import random

import psycopg
import pytest
from nameko.exceptions import RemoteError

from services.docs.service import DocsService
from services.docs.store import DDL
from services.docs.store import take_number as _take_number
from services.signing.service import SigningService
from tests.support.client import Client
from tests.support.db import query, scalar

pytestmark = pytest.mark.integration

AGENCY = "000.00.00.H41"
WORKERS, ISSUES_EACH = 4, 40


def _connect(dsn):
    return psycopg.connect(dsn, options="-c search_path=numbering")


def _issue_many(dsn, worker, year):
    rng = random.Random(worker)
    with _connect(dsn) as conn:
        for _ in range(ISSUES_EACH):
            try:
                with conn.transaction():
                    number = _take_number(conn, AGENCY, year, "regular")
                    conn.execute("INSERT INTO issued VALUES (%s, %s, %s)",
                                 (year, number, worker))
                    if rng.random() < 0.2:
                        raise RuntimeError("the issue fails after taking its number")
            except RuntimeError:
                pass


@pytest.fixture
def numbering(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS numbering CASCADE")
        conn.execute("CREATE SCHEMA numbering")
    with _connect(pg_dsn) as conn:
        conn.execute(DDL)
        conn.execute("CREATE TABLE issued (year int, number int, worker int)")
    return pg_dsn


def _run_workers(dsn, year):
    context = multiprocessing.get_context("spawn")  # no eventlet, no shared sockets
    workers = [context.Process(target=_issue_many, args=(dsn, w, year))
               for w in range(WORKERS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0


def test_numbers_taken_by_concurrent_processes_have_no_gap_and_no_duplicate(numbering):
    _run_workers(numbering, 2026)
    rows = query(numbering, "numbering", "SELECT number, worker FROM issued WHERE year = 2026")
    numbers = sorted(n for n, _ in rows)
    assert numbers == list(range(1, len(numbers) + 1))
    assert WORKERS * ISSUES_EACH * 0.6 < len(numbers) < WORKERS * ISSUES_EACH  # some failed
    assert len({w for _, w in rows}) == WORKERS  # every process issued some


def test_a_new_year_starts_a_new_series_at_01(numbering):
    with _connect(numbering) as conn:
        late = [_take_number(conn, AGENCY, 2026, "regular") for _ in range(3)]
        new_year = _take_number(conn, AGENCY, 2027, "regular")
        secret = _take_number(conn, AGENCY, 2027, "secret")
        other_agency = _take_number(conn, "000.01.00.H41", 2027, "regular")
        conn.commit()
    assert late == [1, 2, 3]
    assert (new_year, secret, other_agency) == (1, 1, 1)


def test_an_issue_failing_after_taking_its_number_gives_the_number_back(
        run_container, platform, monkeypatch):
    run_container(DocsService)
    run_container(SigningService)
    client = Client(platform)
    first, second = client.sealed("so 1"), client.sealed("so 2")
    dsn = platform.pg_dsn

    # The docs service's own issue fails after its number was taken (shared.failpoints).
    monkeypatch.setenv("LIENTHONG_FAILPOINTS", "docs.issue.after_number:raise")
    with client.rpc(client.token("clerk")) as rpc:
        with pytest.raises(RemoteError, match="FailpointError"):
            rpc.docs.issue(first)
        assert rpc.docs.get_document(first)["state"] == "sealed"
    assert scalar(dsn, "docs", "SELECT count(*) FROM number_series") == 0
    assert scalar(dsn, "docs", "SELECT count(*) FROM events"
                  " WHERE event_type = 'DocumentIssued'") == 0

    monkeypatch.delenv("LIENTHONG_FAILPOINTS")
    with client.rpc(client.token("clerk")) as rpc:
        assert rpc.docs.issue(second)["number"] == 1  # the number the failed issue held
        assert rpc.docs.issue(first)["number"] == 2
    assert sorted(r[0] for r in query(dsn, "docs", "SELECT number FROM documents")) == [1, 2]
