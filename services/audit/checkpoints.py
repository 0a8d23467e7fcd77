"""Signed checkpoints: the log's size and root, signed, and kept under WORM.

At each tick the log signs a C2SP checkpoint note for its current size and
writes it to PostgreSQL, then uploads to object storage, under a COMPLIANCE
retention lock, the note and the leaf hashes added since the last upload.
Those objects are what an auditor checks the database against: once stored,
not even the bucket's owner can change them before the lock expires.

Failures never stop the log: events keep being appended, an alert is
raised, and the next tick signs and uploads everything not yet covered.
"""

import logging
from datetime import datetime, timedelta, timezone

from services.audit import note

log = logging.getLogger(__name__)


def note_key(size):
    return f"audit/checkpoints/{size:020d}.note"


def leaves_key(start, end):
    return f"audit/leaves/{start:020d}-{end:020d}.bin"


def parse_leaves_key(key):
    name = key.rsplit("/", 1)[-1].removesuffix(".bin")
    start, end = name.split("-")
    return int(start), int(end)


class Checkpointer:
    def __init__(self, tlog, signer, objects, origin, retention_days, now=None):
        self.tlog, self.signer, self.objects = tlog, signer, objects
        self.origin, self.retention = origin, timedelta(days=retention_days)
        self.now = now or (lambda: datetime.now(timezone.utc))

    def tick(self):
        """Sign a checkpoint if the log grew, then upload what is pending."""
        self.sign_if_grown()
        self.upload_pending()

    def sign_if_grown(self):
        size = self.tlog.size()
        latest = self.tlog.latest_checkpoint()
        if size == 0 or (latest is not None and latest[0] >= size):
            return None
        root = self.tlog.root(size)
        try:
            text = note.sign_note(note.checkpoint_body(self.origin, size, root), self.signer)
        except Exception as err:  # an HSM or remote signer that is down
            self.tlog.alert("checkpoint_signing_failed", f"size {size}: {err}")
            log.error("could not sign the checkpoint at size %d: %s", size, err)
            return None
        self.tlog.add_checkpoint(size, root, text)
        return size

    def upload_pending(self):
        uploaded = self.tlog.last_upload()
        latest = self.tlog.latest_checkpoint()
        if latest is None or latest[0] <= uploaded:
            return uploaded
        size, _, text, _ = latest
        try:
            until = self.now() + self.retention
            leaves = b"".join(self.tlog.leaf_hashes(uploaded, size))
            # Leaves first: a note in storage always has its leaves beside it.
            self.objects.put_locked(leaves_key(uploaded, size), leaves, until)
            self.objects.put_locked(note_key(size), text.encode("utf-8"), until)
        except Exception as err:
            self.tlog.alert("checkpoint_upload_failed", f"size {size}: {err}")
            log.error("could not upload the checkpoint at size %d: %s", size, err)
            return uploaded
        self.tlog.record_upload(size, uploaded)
        return size
