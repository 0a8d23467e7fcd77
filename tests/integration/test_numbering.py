"""Document numbers from several processes at once: no gap, no duplicate; and a
numbering that fails in the docs service after taking its number gives it back.

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

from services.docs.service import DocsService
from services.docs.store import DDL
from services.docs.store import take_number as _take_number
from services.signing.service import SigningService
from shared.errors import Conflict
from tests.support.client import Client, wait_for
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


def test_a_numbering_failing_after_taking_its_number_gives_the_number_back(
        run_container, platform, monkeypatch):
    """docs numbers a document in the transaction that follows its leader's
    signature (Decree 30 Art. 14); when that transaction fails after taking
    the number, the number goes back, and the retried delivery takes it."""
    run_container(DocsService)
    run_container(SigningService)
    client = Client(platform)
    dsn = platform.pg_dsn

    monkeypatch.setenv("LIENTHONG_FAILPOINTS", "docs.number.after_number:raise")
    monkeypatch.setattr("services.signing.service.NUMBER_WAIT_SECONDS", 0)
    first = client.signed("so 1")
    wait_for(lambda: "FailpointError" in (scalar(
        dsn, "docs", "SELECT string_agg(last_error, ' ') FROM attempts"
        " WHERE consumer = 'docs.on_document_signed'") or ""),
        what="docs' numbering to fail once")
    assert scalar(dsn, "docs", "SELECT count(*) FROM number_series") == 0
    assert scalar(dsn, "docs", "SELECT count(*) FROM events"
                  " WHERE event_type = 'DocumentNumbered'") == 0
    with client.rpc(client.token("clerk")) as rpc:
        assert rpc.docs.get_document(first)["state"] == "submitted"
        with pytest.raises(Conflict, match="chưa cấp số") as refused:  # the seal waits
            rpc.signing.seal_document(first)
        assert refused.value.field == "number"

    monkeypatch.delenv("LIENTHONG_FAILPOINTS")  # the next delivery of the signature
    with client.rpc(client.token("clerk")) as rpc:
        assert wait_for(lambda: rpc.docs.get_document(first)["number"],
                        what="the retried numbering") == 1
    second = client.signed("so 2")
    with client.rpc(client.token("clerk")) as rpc:
        for document_id in (second, first):
            wait_for(lambda: rpc.signing.seal_document(document_id), what="the number")
            wait_for(lambda: rpc.docs.get_document(document_id)["state"] == "sealed",
                     what="docs to follow the seal")
        # published under the numbers given at the signatures: none taken again
        assert rpc.docs.issue(second)["number_notation"] == "02/CT-UBND"
        assert rpc.docs.issue(first)["number_notation"] == "01/CT-UBND"
    assert sorted(r[0] for r in query(dsn, "docs", "SELECT number FROM documents")) == [1, 2]
    assert scalar(dsn, "docs", "SELECT last_number FROM number_series") == 2
