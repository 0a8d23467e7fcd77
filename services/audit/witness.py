"""A witness: a second party (another agency, the national archive) that
cosigns the log's checkpoints, each only after checking it extends the last
one it saw. Two auditors comparing witnessed checkpoints can then be sure
the log did not show them different histories (pure).

The signer is a :class:`note.CosignatureSigner`: cosignatures are C2SP
tlog-cosignature "cosignature/v1" lines, the format public witnesses (the
transparency-dev witness network, Sigsum's) write and read, so any of them
can cosign this log's checkpoints and any C2SP client can check ours."""

from services.audit import merkle, note


class Witness:
    def __init__(self, signer: note.CosignatureSigner, log_verifier, state=None):
        self.signer, self.log_verifier = signer, log_verifier
        self.state = state  # (size, root) of the last checkpoint cosigned, or None

    def cosign(self, checkpoint_note, consistency_path):
        """The note with this witness's signature added.

        Raises NoteError if the log's signature or the note is bad, and
        ProofError if the checkpoint does not extend the last one seen.
        """
        self.log_verifier.verify(checkpoint_note)
        origin, size, root = note.parse_checkpoint(note.parse_note(checkpoint_note)[0])
        if origin != self.log_verifier.name:
            raise note.NoteError(f"checkpoint of {origin!r}, not of {self.log_verifier.name!r}")
        if self.state is not None:
            old_size, old_root = self.state
            if size < old_size:
                raise merkle.ProofError(f"the log went back from size {old_size} to {size}")
            if size == old_size:
                if root != old_root or consistency_path:
                    raise merkle.ProofError(f"two different trees of size {size}: a fork")
            else:
                merkle.verify_consistency(old_size, size, old_root, root, consistency_path)
        self.state = (size, root)
        return note.add_signature(checkpoint_note, self.signer)
