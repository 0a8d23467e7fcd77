"""What one leaf of the audit log commits to (pure).

A leaf entry is the canonical JSON of the event's envelope with its data
replaced by the data's SHA-256, plus the producer's signature. So the log
proves who did what, when and with which content, while the content itself
(kept apart, in ``payloads``) can be destroyed after a recall without
breaking a single proof. The producer signed exactly the entry minus its
signature (``shared.envelope.signing_bytes``), so signatures stay checkable too.
"""

import json

from shared.envelope import canonical_json, data_digest, event_from_stored


def leaf_entry(event):
    """The bytes of ``event``'s leaf; raises ValueError for an unsigned event."""
    if not event.signature:
        raise ValueError(f"event {event.event_id} is unsigned")
    # The same content as signing_bytes(), built once, with the signature added.
    content = event.to_dict()
    content["data_sha256"] = data_digest(content.pop("data"))
    content["signature"] = {"key_id": event.signature["key_id"],
                            "value": event.signature["value"]}
    return canonical_json(content)


def parse_entry(entry):
    """``(content_without_signature_bytes, content_dict, signature)`` of a leaf entry."""
    content = json.loads(entry)
    signature = content.pop("signature")
    return canonical_json(content), content, signature


def stored_event(entry, data):
    """The event a leaf entry (bytes) and its kept data (None: destroyed) make,
    as the log took it in (not validated again: the log's own rows)."""
    content = json.loads(entry)
    content.pop("data_sha256")
    content["data"] = data if data is not None else {}
    return event_from_stored(content)
