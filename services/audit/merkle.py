"""RFC 9162 section 2.1 Merkle tree over SHA-256: hashes, proofs, verifiers.

Storage model: only perfect, aligned subtrees are stored, addressed as
``(level, index)``: the node covering leaves ``[index * 2**level,
(index + 1) * 2**level)``; level 0 holds the leaf hashes. Appending leaf ``i``
completes the nodes returned by :func:`completed_nodes`. Every hash the RFC
recursion needs (roots, inclusion paths, consistency paths) of any size up to
the current one is composed from those nodes, fetched through a ``get(level,
index)`` callable passed as the keyword ``get``.

Provers (``subtree_hash``, ``root``, ``inclusion_path``, ``consistency_path``)
touch nodes that depend only on their integer arguments, so
:func:`needed_nodes` can list them first and the storage can fetch all of them
in one query.

Verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 and raise
:class:`ProofError` on any malformed or wrong proof.
"""

import hashlib

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_DUMMY = bytes(HASH_SIZE)


class ProofError(ValueError):
    """A proof is malformed or does not verify; the message names the rule."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + bytes(entry)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# ---------------------------------------------------------------- helpers

def _split(n):
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _arg(value, name):
    """A non-negative int argument of a prover; raises TypeError, ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative ({value})")
    return value


def _fetch(get, level, index):
    """``get(level, index)``, checked to be a 32-byte hash; raises ValueError."""
    value = get(level, index)
    if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) != HASH_SIZE:
        raise ValueError(f"stored node ({level}, {index}) is missing or not a {HASH_SIZE}-byte hash")
    return bytes(value)


def _mth(start, end, get):
    # RFC recursion; a perfect aligned range is one stored node.
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return _fetch(get, level, start >> level)
    k = _split(n)
    return node_hash(_mth(start, start + k, get), _mth(start + k, end, get))


# ---------------------------------------------------------------- provers

def completed_nodes(index, leaf, get):
    """The ``(level, idx, hash)`` nodes completed by appending leaf ``index``.

    ``leaf`` is the leaf hash. Starts with ``(0, index, leaf)`` and climbs
    while the index at the current level is odd, fetching each left sibling
    with ``get(level, idx)``. Raises TypeError for a non-int index,
    ValueError for a negative index, a leaf that is not 32 bytes, or a
    missing/malformed stored sibling.
    """
    idx = _arg(index, "index")
    if not isinstance(leaf, (bytes, bytearray, memoryview)) or len(leaf) != HASH_SIZE:
        raise ValueError(f"leaf must be a {HASH_SIZE}-byte hash")
    level, value = 0, bytes(leaf)
    nodes = [(0, idx, value)]
    while idx & 1:
        value = node_hash(_fetch(get, level, idx - 1), value)
        level, idx = level + 1, idx >> 1
        nodes.append((level, idx, value))
    return nodes


def subtree_hash(start, end, get):
    """MTH(D[start:end]) composed from stored perfect subtrees.

    Returns EMPTY_ROOT for an empty range. Raises TypeError for non-int
    bounds, ValueError unless 0 <= start <= end or if a stored node is missing/malformed (a KeyError
    or other error raised by ``get`` propagates).
    """
    _arg(start, "start")
    _arg(end, "end")
    if start > end:
        raise ValueError(f"start ({start}) is after end ({end})")
    if start == end:
        return EMPTY_ROOT
    return _mth(start, end, get)


def root(size, get):
    """The root hash of the tree of the first ``size`` leaves.

    Raises TypeError for a non-int size, ValueError for a negative one.
    """
    return subtree_hash(0, _arg(size, "size"), get=get)


def inclusion_path(index, size, get):
    """PATH(index, D[0:size]) per RFC 9162 2.1.3.1, leaf's sibling first.

    Raises TypeError for non-int arguments, ValueError unless 0 <= index < size.
    """
    _arg(index, "index")
    _arg(size, "size")
    if index >= size:
        raise ValueError(f"index ({index}) must be smaller than size ({size})")
    path, start, end = [], 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_mth(start + k, end, get))
            end = start + k
        else:
            path.append(_mth(start, start + k, get))
            start += k
    path.reverse()
    return path


def consistency_path(old, new, get):
    """PROOF(old, D[0:new]) per RFC 9162 2.1.4.1; ``[]`` when old == new.

    Raises TypeError for non-int arguments, ValueError unless 0 < old <= new.
    """
    _arg(old, "old")
    _arg(new, "new")
    if old == 0:
        raise ValueError("a consistency proof from the empty tree is not defined")
    if old > new:
        raise ValueError(f"old ({old}) is larger than new ({new})")
    # Iterative SUBPROOF(m, D[start:end], b); each step appends after the recursion.
    path, start, end, m, complete = [], 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                path.append(_mth(start, end, get))
            break
        k = _split(n)
        if m <= k:
            path.append(_mth(start + k, end, get))
            end = start + k
        else:
            path.append(_mth(start, start + k, get))
            start, m, complete = start + k, m - k, False
    path.reverse()
    return path


def needed_nodes(fn, *args):
    """The set of ``(level, idx)`` keys ``fn(*args, get=...)`` would fetch.

    Runs ``fn`` with a recording ``get`` that returns a dummy hash; the
    TypeError/ValueError ``fn`` raises for bad arguments propagates.
    """
    keys = set()

    def recording_get(level, idx):
        keys.add((level, idx))
        return _DUMMY

    fn(*args, get=recording_get)
    return keys


# ---------------------------------------------------------------- verifiers

def _size_arg(value, name):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ProofError(f"{name} must not be negative ({value})")
    return value


def _hash_arg(value, name):
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ProofError(f"{name} must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes, not {HASH_SIZE}")
    return value


def _path_arg(path):
    if isinstance(path, (str, bytes, bytearray, memoryview)) or not isinstance(path, (list, tuple)):
        raise ProofError("path must be a list of hashes")
    return [_hash_arg(p, f"path[{i}]") for i, p in enumerate(path)]


def _decompose(index, size):
    """(inner, border): path hashes below and above the point where the
    leaf's path leaves the perfect part of the tree."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def verify_inclusion(leaf, index, size, path, root):
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree ``root``
    of ``size`` leaves, per RFC 9162 2.1.3.2.

    Raises ProofError for: non-int or negative index/size, index >= size,
    leaf, root or any path element not exactly 32 bytes, a path of the wrong
    length, or a computed root that differs.
    """
    index = _size_arg(index, "index")
    size = _size_arg(size, "size")
    if index >= size:
        raise ProofError(f"index ({index}) must be smaller than size ({size})")
    leaf = _hash_arg(leaf, "leaf")
    root = _hash_arg(root, "root")
    path = _path_arg(path)
    expected = sum(_decompose(index, size))
    if len(path) != expected:
        raise ProofError(f"inclusion path has {len(path)} hashes, expected {expected}")

    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion path is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion path is shorter than the tree is high")
    if r != root:
        raise ProofError("inclusion path does not lead to the root")


def verify_consistency(old, new, old_root, new_root, path):
    """Check that the tree ``new_root`` of ``new`` leaves extends the tree
    ``old_root`` of ``old`` leaves, per RFC 9162 2.1.4.2.

    Raises ProofError for: non-int or negative sizes, old == 0 (no proof from
    the empty tree), old > new, roots or path elements not exactly 32 bytes,
    old == new with a non-empty path or different roots, an empty path for
    old < new, a path of the wrong length, or computed roots that differ.
    """
    old = _size_arg(old, "old")
    new = _size_arg(new, "new")
    if old == 0:
        raise ProofError("a consistency proof from the empty tree is not defined")
    if old > new:
        raise ProofError(f"old size ({old}) is larger than new size ({new})")
    old_root = _hash_arg(old_root, "old_root")
    new_root = _hash_arg(new_root, "new_root")
    path = _path_arg(path)
    if old == new:
        if path:
            raise ProofError("old == new, but the consistency path is not empty")
        if old_root != new_root:
            raise ProofError("old == new, but the roots differ")
        return
    if not path:
        raise ProofError("empty consistency path for old < new")

    inner, border = _decompose(old - 1, new)
    shift = (old & -old).bit_length() - 1
    inner -= shift
    seeded = old == 1 << shift  # old tree is a perfect left subtree: its root seeds
    expected = inner + border + (0 if seeded else 1)
    if len(path) != expected:
        raise ProofError(f"consistency path has {len(path)} hashes, expected {expected}")

    if seeded:
        path = [old_root] + path
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency path is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency path is shorter than the tree is high")
    if fr != old_root:
        raise ProofError("consistency path does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency path does not lead to the new root")


# ---------------------------------------------------------------- reference tree

class MemoryTree:
    """An in-memory tree storing the nodes of :func:`completed_nodes` in a dict.

    The reference the storage layer is tested against; also used by the
    benchmark. ``size`` arguments default to the current size and raise
    ValueError when larger than it (TypeError when not an int).
    """

    def __init__(self, entries=()):
        self.nodes = {}
        self._size = 0
        for entry in entries:
            self.append(entry)

    @property
    def size(self):
        return self._size

    def get(self, level, idx):
        """The stored node; raises KeyError if it is not complete."""
        return self.nodes[(level, idx)]

    def append(self, entry: bytes) -> int:
        """Append one entry; returns its 0-based index."""
        index = self._size
        for level, idx, value in completed_nodes(index, leaf_hash(entry), get=self.get):
            self.nodes[(level, idx)] = value
        self._size += 1
        return index

    def leaf(self, index):
        """The leaf hash of entry ``index``; raises ValueError if out of range."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self._size:
            raise ValueError(f"no leaf {index!r} in a tree of size {self._size}")
        return self.nodes[(0, index)]

    def _size_or_current(self, size):
        if size is None:
            return self._size
        _arg(size, "size")
        if size > self._size:
            raise ValueError(f"size {size} is larger than the tree ({self._size})")
        return size

    def root(self, size=None):
        return root(self._size_or_current(size), get=self.get)

    def inclusion(self, index, size=None):
        return inclusion_path(index, self._size_or_current(size), get=self.get)

    def consistency(self, old, new=None):
        return consistency_path(old, self._size_or_current(new), get=self.get)
