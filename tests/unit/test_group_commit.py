"""Audit's group commit: many handlers, one transaction; a database outage does
not turn the requeued events into a tight loop of failed commits."""

import eventlet

from services.audit.writer import GroupCommit


def _run(writer, submitters, seconds):
    """``submitters`` green threads submit again and again for ``seconds``, as
    requeued events come straight back; returns how many submits failed."""
    failed = []
    deadline = eventlet.hubs.get_hub().clock() + seconds

    def submitter(n):
        while eventlet.hubs.get_hub().clock() < deadline:
            try:
                writer.submit(n)
            except RuntimeError:
                failed.append(n)
    thread = eventlet.spawn(writer.run)
    pool = eventlet.GreenPool(submitters)
    for n in range(submitters):
        pool.spawn(submitter, n)
    pool.waitall()
    writer.stop()
    thread.wait()
    return failed


def test_each_commit_holds_what_was_waiting_and_every_waiter_gets_its_result():
    batches = []

    def flush(items):
        batches.append(list(items))
        eventlet.sleep(0.01)
        return [f"done {i}" for i in items]
    writer = GroupCommit(flush, max_batch=500)
    thread = eventlet.spawn(writer.run)
    results = eventlet.GreenPool(50).imap(writer.submit, range(50))
    assert sorted(results) == sorted(f"done {i}" for i in range(50))
    assert len(batches) < 50  # grouped, not one commit each
    writer.stop()
    thread.wait()


def test_failed_commits_back_off_instead_of_looping():
    calls = []

    def down(items):
        calls.append(len(items))
        raise RuntimeError("the database cannot be reached")
    writer = GroupCommit(down, first_pause=0.1, max_pause=0.4)
    failed = _run(writer, submitters=20, seconds=1.5)
    # Pauses of 0.1, 0.2, 0.4, 0.4, ...: at most a handful of commits in 1.5 s,
    # each holding the whole batch of waiters; every one of them was told.
    assert 3 <= len(calls) <= 7, calls
    assert len(failed) == sum(calls)
    assert writer.failures == len(calls)
