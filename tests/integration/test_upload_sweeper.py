"""Upload intents and their sweeper against the real PostgreSQL and S3 server:
a command's files no event names go, the named ones and a running command's
stay, and a command whose intent was swept cannot commit any more."""

import time
from io import BytesIO

import pytest

from shared.db import Database
from shared.eventstore import PostgresEventStore
from shared.uploads import DDL, PendingUploads, UploadSettings, UploadTookTooLong
from tests.support.pdf import make_pdf
from tests.unit.eventstore_contract import make_event, new_stream

pytestmark = pytest.mark.integration

FAST = UploadSettings(max_seconds=1.0, sweep_first=0.1, clock_skew=0.0)


@pytest.fixture
def parts(platform):
    db = Database(platform.pg_dsn, "docs")
    store = PostgresEventStore(db)
    store.create_schema()
    db.ensure_schema(DDL)
    files = platform.object_store()
    yield db, store, files
    db.close()


def ledger(parts, settings=FAST):
    db, store, files = parts
    return PendingUploads(db, files, store.read_stream, settings)


def put(files, key, text="bản nháp"):
    return files.put_stream(key, BytesIO(make_pdf(text)), 10**6)


def intents(db):
    with db.transaction() as conn:
        return conn.execute("SELECT count(*) FROM pending_uploads").fetchone()[0]


def versions(files, prefix):
    return {v for _, v, _ in files.versions(prefix)}


def sweep_until_settled(uploads, db, bound=15):
    """Sweep rounds until no intent is left (as the services' timer does)."""
    deadline = time.monotonic() + bound
    removed = 0
    while intents(db):
        assert time.monotonic() < deadline, "the sweeper left an intent"
        removed += uploads.sweep()
        time.sleep(0.2)
    return removed


def test_a_committed_command_settles_its_intent_and_keeps_its_file(parts):
    db, store, files = parts
    uploads, stream = ledger(parts), new_stream()
    key = f"documents/{stream}/main.pdf"
    upload = uploads.begin(key, stream)
    stored = put(files, key)
    with db.transaction() as conn:
        uploads.settle(conn, upload)
        store.append(stream, 0, [make_event(stream, file=stored.to_dict())], conn=conn)
    assert intents(db) == 0
    assert uploads.sweep() == 0
    assert versions(files, key) == {stored.version_id}


def test_a_failed_command_s_files_are_swept_and_named_versions_stay(parts):
    db, store, files = parts
    uploads, stream = ledger(parts), new_stream()
    key = f"documents/{stream}/main.pdf"
    first = put(files, key, "bản đầu")
    store.append(stream, 0, [make_event(stream, file=first.to_dict())])
    upload = uploads.begin(key, stream)
    put(files, key, "bản sửa hỏng")  # the revision's transaction never commits
    uploads.end(upload, clean=False)
    assert sweep_until_settled(uploads, db) == 1
    assert versions(files, key) == {first.version_id}


def test_a_clean_failure_forgets_its_intent_at_once(parts):
    db, _, _ = parts
    uploads = ledger(parts)
    upload = uploads.begin("documents/x/", new_stream())
    uploads.end(upload, clean=True)
    assert intents(db) == 0


def test_an_intent_open_past_the_limit_is_swept_and_its_command_cannot_commit(parts):
    """A process killed after its upload: nothing ends its intent but the limit."""
    db, store, files = parts
    uploads, stream = ledger(parts), new_stream()
    prefix = f"documents/{stream}/"
    upload = uploads.begin(prefix, stream)
    put(files, prefix + "main.pdf")
    put(files, prefix + "attachments/000", "phụ lục")
    assert uploads.sweep() == 0  # still within the limit: the command may be running
    time.sleep(FAST.max_seconds + 0.2)
    assert sweep_until_settled(uploads, db) == 2
    assert files.versions(prefix) == []
    with pytest.raises(UploadTookTooLong) as refused:
        with db.transaction() as conn:
            uploads.settle(conn, upload)
    assert refused.value.field == "file"


def test_a_running_command_s_new_version_is_not_taken_for_an_orphan(parts):
    """Two revisions of one file: the first failed, the second is still uploading."""
    db, store, files = parts
    uploads, stream = ledger(parts, UploadSettings(max_seconds=60, sweep_first=0.1,
                                                   clock_skew=0.0)), new_stream()
    key = f"documents/{stream}/main.pdf"
    failed = uploads.begin(key, stream)
    orphan = put(files, key, "hỏng")
    uploads.end(failed, clean=False)
    time.sleep(2.1)  # S3 times are in whole seconds: the running one starts later
    running = uploads.begin(key, stream)
    fresh = put(files, key, "đang gửi")
    time.sleep(1.5)  # old enough to go, were it not for the running command's intent
    uploads.sweep()
    left = versions(files, key)
    assert fresh.version_id in left and orphan.version_id not in left
    with db.transaction() as conn:  # the running command commits after all
        uploads.settle(conn, running)
        store.append(stream, 0, [make_event(stream, file=fresh.to_dict())], conn=conn)
    sweep_until_settled(uploads, db)
    assert versions(files, key) == {fresh.version_id}
