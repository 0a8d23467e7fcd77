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
