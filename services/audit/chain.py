"""The audit log's pure core: a hash chain over events' canonical bytes.

entry_hash = SHA-256(canonical bytes of the event)
chain_hash = SHA-256(previous chain_hash || entry_hash), from 32 zero bytes.

Changing, removing, inserting or reordering any entry changes every chain
hash after it. (Issue 6 replaces this with an RFC 9162 Merkle tree and
signed checkpoints, which also give inclusion and consistency proofs.)
"""

import hashlib
from dataclasses import dataclass

from shared.envelope import canonical_bytes

GENESIS = bytes(32)


def entry_hash(event):
    return hashlib.sha256(canonical_bytes(event)).digest()


def chain_next(previous, entry):
    return hashlib.sha256(previous + entry).digest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None
    reason: str | None = None

    def to_dict(self):
        return {"ok": self.ok, "entries": self.entries, "head": self.head,
                "first_bad_seq": self.first_bad_seq, "reason": self.reason}


def verify(rows):
    """Recompute the chain over ``(seq, event, entry_hash, chain_hash)`` rows in order."""
    previous, count = GENESIS, 0
    for seq, event, stored_entry, stored_chain in rows:
        count += 1
        if seq != count:
            return Verdict(False, count - 1, previous.hex(), count,
                           f"entry {count} is missing or out of place (found seq {seq})")
        actual = entry_hash(event)
        if actual != bytes(stored_entry):
            return Verdict(False, count - 1, previous.hex(), seq,
                           "the event's content does not match its entry hash")
        expected_chain = chain_next(previous, actual)
        if expected_chain != bytes(stored_chain):
            return Verdict(False, count - 1, previous.hex(), seq,
                           "the chain hash does not follow from the previous entry")
        previous = expected_chain
    return Verdict(True, count, previous.hex())
