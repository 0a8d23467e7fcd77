"""Signed checkpoints: the log's size and root, signed, and kept under WORM.

At each tick the log signs a C2SP checkpoint note for its current size and
writes it to PostgreSQL, then uploads to object storage, under a COMPLIANCE
retention lock, the note and the leaf hashes added since the last upload.
Those objects are what an auditor checks the database against: once stored,
not even the bucket's owner can change them before the lock expires.

Each note is time-stamped (RFC 3161, services/audit/timestamp.py) by the
TSA at ``TSA_URL``; the token is kept beside the note and uploaded with it.

Failures never stop the log: events keep being appended, an alert is
raised, and the next tick signs and uploads everything not yet covered. A
TSA that is down leaves that checkpoint unstamped (it says so) and the next
one is stamped.
"""

import logging
from datetime import datetime, timedelta, timezone

from services.audit import note

log = logging.getLogger(__name__)


def note_key(size):
    return f"audit/checkpoints/{size:020d}.note"


def timestamp_key(size):
    return f"audit/timestamps/{size:020d}.tst"


def leaves_key(start, end):
    return f"audit/leaves/{start:020d}-{end:020d}.bin"


def parse_leaves_key(key):
    name = key.rsplit("/", 1)[-1].removesuffix(".bin")
    start, end = name.split("-")
    return int(start), int(end)


class Checkpointer:
    def __init__(self, tlog, signer, objects, origin, retention_days, now=None, stamper=None):
        self.tlog, self.signer, self.objects = tlog, signer, objects
        self.stamper = stamper  # an RFC 3161 TSA client, or None: checkpoints unstamped
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
        self.tlog.add_checkpoint(size, root, text, self._stamp(size, text))
        return size

    def _stamp(self, size, text):
        """The TSA's token over the note's UTF-8 bytes, or None (alerted) while it is down."""
        if self.stamper is None:
            return None
        try:
            return self.stamper.stamp(text.encode("utf-8"))
        except Exception as err:  # the TSA down, slow or wrong: the log goes on, unstamped
            self.tlog.alert("checkpoint_timestamp_failed", f"size {size}: {err}")
            log.error("could not time-stamp the checkpoint at size %d: %s", size, err)
            return None

    def upload_pending(self):
        uploaded = self.tlog.last_upload()
        latest = self.tlog.latest_checkpoint()
        if latest is None or latest[0] <= uploaded:
            return uploaded
        size, text, token = latest[0], latest[2], latest[4]
        try:
            until = self.now() + self.retention
            leaves = b"".join(self.tlog.leaf_hashes(uploaded, size))
            # Leaves first: a note in storage always has its leaves beside it.
            self.objects.put_locked(leaves_key(uploaded, size), leaves, until)
            self.objects.put_locked(note_key(size), text.encode("utf-8"), until)
            if token is not None:
                self.objects.put_locked(timestamp_key(size), bytes(token), until)
        except Exception as err:
            self.tlog.alert("checkpoint_upload_failed", f"size {size}: {err}")
            log.error("could not upload the checkpoint at size %d: %s", size, err)
            return uploaded
        self.tlog.record_upload(size, uploaded)
        return size
