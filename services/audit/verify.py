"""Checking the stored log against what its signed checkpoints committed to (pure).

Inputs: the entries as stored in the database, in index order; the notes
and leaf hashes from WORM object storage; the log's public key; the
producers' public keys. The WORM leaves are first proved by the signed roots;
then each stored entry is recomputed and compared with them, so the report
names the first entry that was edited, deleted, inserted or moved.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone

from services.audit import merkle, note
from services.audit.leaves import parse_entry
from shared.eventsig import SignatureInvalid


class CompactRange:
    """Streaming root of a growing tree: O(log n) hashes (RFC 9162 shape)."""

    def __init__(self):
        self._stack = []  # (height, hash) of perfect subtrees, left to right
        self.size = 0

    def append(self, leaf):
        height, value = 0, leaf
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            value = merkle.node_hash(left, value)
            height += 1
        self._stack.append((height, value))
        self.size += 1

    def root(self):
        if not self._stack:
            return merkle.EMPTY_ROOT
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = merkle.node_hash(left, value)
        return value


@dataclass
class Report:
    ok: bool = True
    entries: int = 0
    checkpoints: int = 0
    covered: int = 0
    first_problem: dict | None = None
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def fail(self, index, event_id, reason):
        self.ok = False
        problem = {"index": index, "event_id": event_id, "reason": reason}
        if self.first_problem is None:
            self.first_problem = problem
        if len(self.problems) < 20:
            self.problems.append(problem)

    def to_dict(self):
        return dict(self.__dict__)


def committed_leaves(notes, leaf_ranges, verifier, report):
    """The leaf hashes the signed checkpoints commit to, each range proved by a root.

    ``notes``: {size: note text}; ``leaf_ranges``: {(start, end): bytes}.
    """
    leaves, tree = [], CompactRange()
    ranges = sorted(leaf_ranges)
    # The checkpointer stores a range's leaves just before its note: a last
    # range without its note is an upload in progress, not a finding.
    if ranges and ranges[-1][1] not in notes:
        report.notes.append(f"leaves {ranges[-1][0]}-{ranges[-1][1]} are stored but their"
                            " checkpoint note is not yet: not counted")
        ranges = ranges[:-1]
    for (start, end) in ranges:
        blob = leaf_ranges[(start, end)]
        # A range may start before the leaves committed so far: the checkpointer
        # uploaded it again after a crash between its upload and its record. Its
        # overlap must then be the very leaves already committed.
        if start > len(leaves) or end <= len(leaves) or len(blob) != 32 * (end - start):
            report.fail(len(leaves), None, f"WORM leaf range {start}-{end} does not continue"
                                           f" the committed leaves at {len(leaves)}")
            break
        overlap = len(leaves) - start
        if blob[:32 * overlap] != b"".join(leaves[start:]):
            report.fail(start, None, f"WORM leaf range {start}-{end} differs from the leaves"
                                     f" committed before at {start}-{len(leaves)}")
            break
        for i in range(overlap, end - start):
            leaf = blob[32 * i:32 * (i + 1)]
            leaves.append(leaf)
            tree.append(leaf)
        text = notes.get(end)
        if text is None:
            report.fail(end, None, f"no signed checkpoint in WORM storage for size {end}")
            break
        try:
            verifier.verify(text)
            origin, size, root = note.parse_checkpoint(note.parse_note(text)[0])
        except note.NoteError as err:
            report.fail(end, None, f"the checkpoint at size {end} is not validly signed: {err}")
            break
        if origin != verifier.name:  # the log's key vouches for its own origin only
            report.fail(end, None, f"the checkpoint at size {end} is of origin {origin!r},"
                                   f" not this log's {verifier.name!r}")
            break
        if size != end or root != tree.root():
            report.fail(end, None, f"the leaves stored for checkpoint {end} do not produce"
                                   " its signed root")
            break
        report.checkpoints += 1
    return leaves


# The columns the log indexes each entry by, in the order ENTRY_QUERY reads them
# after (idx, event_id, leaf_entry). Replays and dashboards read these columns, not
# the leaf, so each one must say what the signed leaf says.
INDEX_COLUMNS = ("producer", "event_type", "stream_id", "occurred_at", "actor_user",
                 "actor_agency", "actor_role")
ENTRY_QUERY = (f"SELECT idx, event_id, leaf_entry, {', '.join(INDEX_COLUMNS)}"
               " FROM entries ORDER BY idx")


def verify_entries(rows, committed, trusted_keys, report, stored_root=None):
    """Recompute every stored entry; ``rows`` yields (idx, event_id, leaf_entry,
    *INDEX_COLUMNS), as ENTRY_QUERY reads them."""
    tree = CompactRange()
    expected = 0
    for idx, event_id, entry, *columns in rows:
        if idx != expected:
            what = "missing" if idx > expected else "duplicated or out of order"
            report.fail(expected, str(event_id), f"entry {expected} is {what}"
                                                 f" (the next stored entry is {idx})")
            expected = max(expected, idx)
        leaf = merkle.leaf_hash(bytes(entry))
        if idx < len(committed) and leaf != committed[idx]:
            report.fail(idx, str(event_id), f"entry {idx} differs from what the signed"
                                            " checkpoints committed to")
        content = _check_producer(idx, event_id, bytes(entry), trusted_keys, report)
        if content is not None:
            _check_columns(idx, event_id, content, columns, report)
        tree.append(leaf)
        expected += 1
        report.entries += 1
    if report.entries < len(committed):
        report.fail(report.entries, None, f"entries {report.entries}..{len(committed) - 1}"
                                          " were committed by a checkpoint but are gone")
    report.covered = min(report.entries, len(committed))
    if report.entries > len(committed):
        report.notes.append(f"{report.entries - len(committed)} newest entries are not yet"
                            " covered by a checkpoint in WORM storage")
    if stored_root is not None and stored_root != tree.root():
        report.fail(None, None, "the stored Merkle nodes (used for proofs) do not match"
                                " the entries")
    return report


def _check_producer(idx, event_id, entry, trusted_keys, report):
    """The leaf's content once its producer's signature verifies, else None."""
    try:
        signed, content, signature = parse_entry(entry)
        trusted_keys.verify_signed(content["producer"], signature, signed,
                                   what=f"entry {idx}")
        return content
    except (SignatureInvalid, ValueError, KeyError, TypeError) as err:
        report.fail(idx, str(event_id), f"entry {idx}: producer signature not valid"
                                        f" ({type(err).__name__}: {err})")
        return None


def _check_columns(idx, event_id, content, columns, report):
    actor = content.get("actor") or {}
    signed = {"producer": content.get("producer"), "event_type": content.get("event_type"),
              "stream_id": content.get("stream_id"), "actor_user": actor.get("user_id"),
              "actor_agency": actor.get("agency"), "actor_role": actor.get("role"),
              "occurred_at": _instant(content.get("occurred_at"))}
    for name, stored in zip(INDEX_COLUMNS, columns):
        if name == "occurred_at":
            stored = _instant(stored)
        if stored != signed[name]:
            report.fail(idx, str(event_id), f"entry {idx}: its {name} column ({stored})"
                                            f" differs from its signed leaf ({signed[name]})")


def _instant(value):
    """A time from the leaf (ISO text) or the column (datetime) as UTC ISO text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value.astimezone(timezone.utc).isoformat() if isinstance(value, datetime) else value
