"""The witness cosigns only checkpoints that extend what it saw."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import merkle, note
from services.audit.witness import Witness

ORIGIN = "lienthong.test/audit-log"


@pytest.fixture
def log_signer():
    return note.NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture
def witness(log_signer):
    return Witness(note.CosignatureSigner("archive.example/witness", Ed25519PrivateKey.generate()),
                   log_signer.verifier())


def checkpoint(signer, tree, size):
    return note.sign_note(note.checkpoint_body(ORIGIN, size, tree.root(size)), signer)


def grown_tree(n, prefix=b"e"):
    tree = merkle.MemoryTree()
    for i in range(n):
        tree.append(prefix + bytes([i]))
    return tree


def test_cosigns_a_first_checkpoint_and_each_consistent_extension(witness, log_signer):
    tree = grown_tree(20)
    first = witness.cosign(checkpoint(log_signer, tree, 5), [])
    witness.signer.verifier().verify(first)
    log_signer.verifier().verify(first)
    second = witness.cosign(checkpoint(log_signer, tree, 20), tree.consistency(5, 20))
    witness.signer.verifier().verify(second)
    assert witness.state == (20, tree.root(20))


def test_refuses_a_fork(witness, log_signer):
    honest, forked = grown_tree(12), grown_tree(12, prefix=b"x")
    witness.cosign(checkpoint(log_signer, honest, 6), [])
    with pytest.raises(merkle.ProofError):
        witness.cosign(checkpoint(log_signer, forked, 12), forked.consistency(6, 12))
    with pytest.raises(merkle.ProofError):
        witness.cosign(checkpoint(log_signer, forked, 6), [])  # same size, other root
    assert witness.state == (6, honest.root(6))


def test_refuses_a_rollback(witness, log_signer):
    tree = grown_tree(10)
    witness.cosign(checkpoint(log_signer, tree, 10), [])
    with pytest.raises(merkle.ProofError, match="went back"):
        witness.cosign(checkpoint(log_signer, tree, 4), [])


def test_refuses_a_note_not_signed_by_the_log(witness):
    impostor = note.NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(note.NoteError):
        witness.cosign(checkpoint(impostor, grown_tree(3), 3), [])
    assert witness.state is None
