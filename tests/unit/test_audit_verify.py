"""The log verifier's use of WORM leaves and notes (pure)."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import merkle, note
from services.audit.verify import CompactRange, Report, committed_leaves


def leaves(n):
    return [merkle.leaf_hash(bytes([i])) for i in range(n)]


def test_compact_range_roots_match_the_reference_tree():
    tree, compact = merkle.MemoryTree(), CompactRange()
    for i in range(70):
        tree.append(bytes([i]))
        compact.append(merkle.leaf_hash(bytes([i])))
        assert compact.root() == tree.root()


def signed(signer, hashes, size):
    compact = CompactRange()
    for h in hashes[:size]:
        compact.append(h)
    return note.sign_note(note.checkpoint_body("o", size, compact.root()), signer)


def test_a_last_range_whose_note_is_not_stored_yet_is_an_upload_in_progress():
    signer = note.NoteSigner("o", Ed25519PrivateKey.generate())
    hashes = leaves(9)
    ranges = {(0, 4): b"".join(hashes[:4]), (4, 9): b"".join(hashes[4:])}
    report = Report()
    committed = committed_leaves({4: signed(signer, hashes, 4)}, ranges, signer.verifier(),
                                 report)
    assert report.ok and committed == hashes[:4] and report.checkpoints == 1
    assert "not yet" in report.notes[0]


def test_a_missing_note_before_later_ranges_is_a_finding():
    signer = note.NoteSigner("o", Ed25519PrivateKey.generate())
    hashes = leaves(9)
    ranges = {(0, 4): b"".join(hashes[:4]), (4, 9): b"".join(hashes[4:])}
    report = Report()
    committed_leaves({9: signed(signer, hashes, 9)}, ranges, signer.verifier(), report)
    assert not report.ok and report.first_problem["index"] == 4


def test_leaves_that_do_not_produce_the_signed_root_are_a_finding():
    signer = note.NoteSigner("o", Ed25519PrivateKey.generate())
    hashes = leaves(5)
    forged = hashes[:2] + [merkle.leaf_hash(b"forged")] + hashes[3:]
    report = Report()
    committed_leaves({5: signed(signer, hashes, 5)}, {(0, 5): b"".join(forged)},
                     signer.verifier(), report)
    assert not report.ok and "signed root" in report.first_problem["reason"]


def test_a_stored_note_of_another_origin_is_a_finding():
    # signed by this log's key, but over another origin: not this log's checkpoint
    signer = note.NoteSigner("o", Ed25519PrivateKey.generate())
    hashes = leaves(3)
    compact = CompactRange()
    for h in hashes:
        compact.append(h)
    other = note.sign_note(note.checkpoint_body("elsewhere", 3, compact.root()), signer)
    report = Report()
    committed_leaves({3: other}, {(0, 3): b"".join(hashes)}, signer.verifier(), report)
    assert not report.ok and "origin 'elsewhere'" in report.first_problem["reason"]
    assert report.checkpoints == 0


def test_a_range_uploaded_again_after_a_crash_continues_the_committed_leaves():
    # The checkpointer stored 2-5 and its note, then died before recording it:
    # it uploads 2-8 next time. The overlap must be the same leaves.
    signer = note.NoteSigner("o", Ed25519PrivateKey.generate())
    hashes = leaves(8)
    notes = {n: signed(signer, hashes, n) for n in (2, 5, 8)}
    ranges = {(0, 2): b"".join(hashes[:2]), (2, 5): b"".join(hashes[2:5]),
              (2, 8): b"".join(hashes[2:8])}
    report = Report()
    assert committed_leaves(notes, ranges, signer.verifier(), report) == hashes
    assert report.ok and report.checkpoints == 3

    changed = {**ranges, (2, 8): b"".join(hashes[2:3] + leaves(9)[8:9] + hashes[4:8])}
    report = Report()
    committed_leaves(notes, changed, signer.verifier(), report)
    assert not report.ok and "differs from the leaves committed before" in \
        report.first_problem["reason"] and report.first_problem["index"] == 2

    gap = {(0, 2): b"".join(hashes[:2]), (3, 8): b"".join(hashes[3:8])}
    report = Report()
    committed_leaves(notes, gap, signer.verifier(), report)
    assert not report.ok and "does not continue" in report.first_problem["reason"]
