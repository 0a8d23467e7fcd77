"""Group commit on the real PostgreSQL: writers share commits, each keeps its own
answer and its own failure, positions stay in commit order."""

import threading
import time
import uuid

import psycopg
import pytest

from shared.db import Database
from shared.eventstore import PostgresEventStore
from shared.groupcommit import GroupCommitter
from tests.unit.eventstore_contract import EventStoreContract, make_event, new_stream

pytestmark = pytest.mark.integration


@pytest.fixture
def grouped(pg_dsn):
    db = Database(pg_dsn, "docs", max_size=12)
    store = PostgresEventStore(db, group=GroupCommitter(db))
    store.create_schema()
    yield store
    db.close()


class TestGroupedPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, grouped):
        return grouped


def _wait_for_waiters(group, n, timeout=10):
    deadline = time.monotonic() + timeout
    while group._waiting < n:
        assert time.monotonic() < deadline, "the other writers never asked for their turn"
        time.sleep(0.001)


def test_sixteen_writers_share_commits_and_each_gets_its_own_events(grouped):
    writers, each = 16, 25
    answers, errors = {}, []
    commits = grouped.group.commits

    def writer(w):
        try:
            for i in range(each):
                stream = new_stream()
                event = make_event(stream)
                (stored,) = grouped.append(stream, 0, [event])
                answers[(w, i)] = (event.event_id, stream, stored)
        except Exception as err:  # reported below, not lost in the thread
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for event_id, stream, stored in answers.values():
        assert (stored.event_id, stored.stream_id, stored.stream_version) == (event_id, stream, 1)
        assert grouped.read_stream(stream) == [stored]
    positions = sorted(stored.position for _, _, stored in answers.values())
    head = grouped.head()
    assert positions == list(range(head - writers * each + 1, head + 1))  # no gap, none twice
    # Fewer commits than appends: some writers shared one (the point of it all).
    assert grouped.group.commits - commits < writers * each


def test_a_failing_writer_is_undone_alone_and_the_others_of_its_group_commit(grouped):
    group = grouped.group
    kept, failed = new_stream(), new_stream()
    inside, results = threading.Event(), {}

    def first():
        with group.transaction() as conn:
            grouped.append(kept, 0, [make_event(kept)], conn=conn)
            inside.set()
            _wait_for_waiters(group, 1)  # the second writer now joins this group
        results["first"] = "committed"

    def second():
        try:
            with group.transaction() as conn:
                grouped.append(failed, 0, [make_event(failed)], conn=conn)
                raise RuntimeError("the core refused")
        except RuntimeError as err:
            results["second"] = str(err)

    commits = group.commits
    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    one.join(10), two.join(10)
    assert group.commits == commits + 1  # one group
    assert results == {"first": "committed", "second": "the core refused"}
    assert len(grouped.read_stream(kept)) == 1
    assert grouped.read_stream(failed) == []


def test_a_commit_that_fails_fails_every_writer_of_the_group_and_stores_none(grouped, pg_dsn):
    table = f"deferred_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE docs.{table} (k int, CONSTRAINT one UNIQUE (k)"
                      " DEFERRABLE INITIALLY DEFERRED)")
    group, streams, results = grouped.group, [new_stream(), new_stream()], {}
    inside = threading.Event()

    def writer(i):
        try:
            with group.transaction() as conn:
                grouped.append(streams[i], 0, [make_event(streams[i])], conn=conn)
                conn.execute(f"INSERT INTO {table} VALUES (1)")  # checked at COMMIT
                if i == 0:
                    inside.set()
                    _wait_for_waiters(group, 1)
            results[i] = "committed"
        except psycopg.errors.UniqueViolation:
            results[i] = "refused at commit"

    try:
        one = threading.Thread(target=writer, args=(0,))
        one.start()
        assert inside.wait(10)
        two = threading.Thread(target=writer, args=(1,))
        two.start()
        one.join(10), two.join(10)
        assert results == {0: "refused at commit", 1: "refused at commit"}
        assert [grouped.read_stream(s) for s in streams] == [[], []]
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            assert admin.execute(f"SELECT count(*) FROM docs.{table}").fetchone()[0] == 0
        # The committer goes on: the next writer commits.
        stream = new_stream()
        grouped.append(stream, 0, [make_event(stream)])
        assert len(grouped.read_stream(stream)) == 1
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(f"DROP TABLE docs.{table}")
