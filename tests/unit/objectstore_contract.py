"""The object store contract, shared by its adapters' tests (memory and S3).

Subclass :class:`ObjectStoreContract` in a ``Test...`` class and provide a
``store`` fixture (an empty versioned bucket or a fresh in-memory store).
What the services rely on: every put is a new version with its own id, an
older version stays readable by its id, a delete by id removes that version
only, and ``versions`` lists what the upload sweeper may remove.
"""

import io
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from shared.errors import NotFound
from tests.support.pdf import make_pdf

LIMIT = 10 * 1024 * 1024


def _key():
    return f"documents/{uuid.uuid4()}/main.pdf"


class ObjectStoreContract:
    def put(self, store, key, text):
        return store.put_stream(key, io.BytesIO(make_pdf(text)), max_size=LIMIT)

    def test_each_put_is_a_new_version_and_the_newest_is_read(self, store):
        key = _key()
        first, second = self.put(store, key, "một"), self.put(store, key, "hai")
        assert first.version_id and second.version_id and first.version_id != second.version_id
        assert store.get_bytes(key) == make_pdf("hai")
        assert store.get_bytes(key, first.version_id) == make_pdf("một")

    def test_versions_lists_every_version_under_a_prefix_and_nothing_else(self, store):
        key, other = _key(), _key()
        made = {self.put(store, key, "một").version_id, self.put(store, key, "hai").version_id}
        self.put(store, other, "khác")
        listed = store.versions(key.rsplit("/", 1)[0] + "/")
        assert {(k, v) for k, v, _ in listed} == {(key, v) for v in made}
        now = datetime.now(timezone.utc)
        assert all(abs(when - now) < timedelta(minutes=5) for _, _, when in listed)

    def test_a_delete_by_version_removes_that_version_only(self, store):
        key = _key()
        first, second = self.put(store, key, "một"), self.put(store, key, "hai")
        store.delete(key, version_id=second.version_id)
        assert store.get_bytes(key) == make_pdf("một")
        assert [v for _, v, _ in store.versions(key)] == [first.version_id]
        with pytest.raises(NotFound):
            store.get_bytes(key, second.version_id)

    def test_a_deleted_key_is_not_found(self, store):
        key = _key()
        self.put(store, key, "một")
        assert store.exists(key)
        store.delete(key)
        assert not store.exists(key)
        with pytest.raises(NotFound):
            store.get_bytes(key)

    def test_remove_all_removes_every_version_under_the_prefix(self, store):
        key, other = _key(), _key()
        self.put(store, key, "một"), self.put(store, key, "hai"), self.put(store, other, "khác")
        assert store.remove_all(key) == 2
        assert store.versions(key) == []
        assert store.get_bytes(other) == make_pdf("khác")

    def test_a_locked_store_returns_its_version(self, store):
        key = f"audit/{uuid.uuid4()}.note"
        until = datetime.now(timezone.utc) + timedelta(days=1)
        version_id = store.put_locked(key, b"checkpoint", until)
        assert version_id and store.get_bytes(key, version_id) == b"checkpoint"
