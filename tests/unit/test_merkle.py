"""services.audit.merkle against RFC 9162 section 2.1.

A naive reference written straight from the RFC definitions (MTH, PATH,
PROOF on lists of entries, hashing with hashlib) is the oracle for the
randomized cross-checks; the known answers come from the handbook table and
from transparency-dev/merkle's proof/verify_test.go (each also checked
against the naive reference below).
"""

import hashlib
import random

import pytest

from services.audit.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    completed_nodes,
    consistency_path,
    inclusion_path,
    leaf_hash,
    needed_nodes,
    node_hash,
    root,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------- naive RFC 9162 reference


def _k(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m, d):
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def proof(m, d):
    return subproof(m, d, True)


# The "shape" of a proof: how a verifier combines each element. Two parameter
# sets with the same shape are indistinguishable to any verifier given the
# same hashes (see test_size_mutations_rejected_unless_shape_is_identical).

def path_shape(m, n):
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return path_shape(m, k) + ["right"]
    return path_shape(m - k, n - k) + ["left"]


def proof_shape(m, n, b=True):
    if m == n:
        return [] if b else ["seed"]
    k = _k(n)
    if m <= k:
        return proof_shape(m, k, b) + ["right"]
    return proof_shape(m - k, n - k, False) + ["left"]


def build(entries):
    tree = MemoryTree()
    for i, e in enumerate(entries):
        assert tree.append(e) == i
    return tree


# ---------------------------------------------------------------- known answers

KAT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
KAT_ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]


def _h(*hexes):
    return [bytes.fromhex(x) for x in hexes]


# transparency-dev/merkle proof/verify_test.go (its leaf numbers are 1-based;
# converted to 0-based indexes here), over the KAT leaves.
KAT_INCLUSION = [
    (0, 1, []),
    (0, 8, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (5, 8, _h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, _h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
]
KAT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, _h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (6, 7, _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
              "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
]


def test_hash_primitives():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    a, b = bytes(range(32)), bytes(range(32, 64))
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)


@pytest.mark.parametrize("n", range(9))
def test_known_answer_roots(n):
    assert mth(KAT_LEAVES[:n]) == KAT_ROOTS[n]  # the oracle agrees first
    tree = build(KAT_LEAVES[:n])
    assert tree.root() == KAT_ROOTS[n]
    full = build(KAT_LEAVES)
    assert full.root(n) == KAT_ROOTS[n]  # historical roots from the 8-leaf tree


@pytest.mark.parametrize("index,size,expected", KAT_INCLUSION)
def test_known_answer_inclusion(index, size, expected):
    assert path(index, KAT_LEAVES[:size]) == expected
    tree = build(KAT_LEAVES)
    assert tree.inclusion(index, size) == expected
    verify_inclusion(leaf_hash(KAT_LEAVES[index]), index, size, expected, KAT_ROOTS[size])


@pytest.mark.parametrize("old,new,expected", KAT_CONSISTENCY)
def test_known_answer_consistency(old, new, expected):
    assert proof(old, KAT_LEAVES[:new]) == expected
    tree = build(KAT_LEAVES)
    assert tree.consistency(old, new) == expected
    verify_consistency(old, new, KAT_ROOTS[old], KAT_ROOTS[new], expected)


# ---------------------------------------------------------------- randomized cross-checks

RNG_SEED = 9162
MAX_N = 300


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(RNG_SEED)
    entries = [rng.randbytes(rng.randrange(0, 48)) for _ in range(MAX_N)]
    return rng, entries, build(entries)


def _sizes(rng):
    return sorted(set(range(1, 41)) | {64, 127, 128, 129, 255, 256, 257, MAX_N}
                  | {rng.randrange(1, MAX_N + 1) for _ in range(30)})


def _dict_get(tree, fn, *args):
    """Call fn with only the nodes needed_nodes listed, as the storage does."""
    keys = needed_nodes(fn, *args)
    fetched = {key: tree.nodes[key] for key in keys}
    return fn(*args, get=lambda level, idx: fetched[(level, idx)])


def test_roots_match_naive_for_every_size(corpus):
    _, entries, tree = corpus
    for n in range(MAX_N + 1):
        expected = mth(entries[:n])
        assert tree.root(n) == expected, n
        assert _dict_get(tree, root, n) == expected, n
        assert len(needed_nodes(root, n)) == n.bit_count()  # one node per perfect subtree


def test_incremental_roots_match_naive():
    rng = random.Random(RNG_SEED + 1)
    tree, entries = MemoryTree(), []
    for _ in range(150):
        entries.append(rng.randbytes(rng.randrange(0, 16)))
        tree.append(entries[-1])
        assert tree.size == len(entries)
        assert tree.root() == mth(entries)


def test_subtree_hash_any_range_matches_naive(corpus):
    rng, entries, tree = corpus
    ranges = [(s, e) for s in range(20) for e in range(s, 21)]
    ranges += [tuple(sorted((rng.randrange(MAX_N + 1), rng.randrange(MAX_N + 1)))) for _ in range(200)]
    for start, end in ranges:
        assert subtree_hash(start, end, get=tree.get) == mth(entries[start:end]), (start, end)


def test_inclusion_matches_naive_and_verifies(corpus):
    rng, entries, tree = corpus
    checked = 0
    for n in _sizes(rng):
        indexes = set(range(n)) if n <= 40 else {0, 1, n // 2, n - 2, n - 1} | {
            rng.randrange(n) for _ in range(10)}
        r = mth(entries[:n])
        for i in indexes:
            expected = path(i, entries[:n])
            assert tree.inclusion(i, n) == expected, (i, n)
            assert _dict_get(tree, inclusion_path, i, n) == expected, (i, n)
            verify_inclusion(leaf_hash(entries[i]), i, n, expected, r)
            checked += 1
    assert checked > 900


def test_consistency_matches_naive_and_verifies(corpus):
    rng, entries, tree = corpus
    pairs = {(m, n) for n in range(1, 34) for m in range(1, n + 1)}
    pairs |= {tuple(sorted((rng.randrange(1, MAX_N + 1), rng.randrange(1, MAX_N + 1)))) for _ in range(400)}
    pairs |= {(1, MAX_N), (MAX_N, MAX_N), (MAX_N - 1, MAX_N), (128, 129), (128, 256), (255, 256)}
    for m, n in sorted(pairs):
        expected = proof(m, entries[:n])
        assert tree.consistency(m, n) == expected, (m, n)
        assert _dict_get(tree, consistency_path, m, n) == expected, (m, n)
        verify_consistency(m, n, mth(entries[:m]), mth(entries[:n]), expected)
    assert len(pairs) > 900


def test_completed_nodes_are_exactly_the_perfect_subtrees():
    rng = random.Random(RNG_SEED + 2)
    entries = [rng.randbytes(8) for _ in range(130)]
    nodes = {}
    for i, e in enumerate(entries):
        keys = needed_nodes(completed_nodes, i, leaf_hash(e))
        new = completed_nodes(i, leaf_hash(e), get=lambda level, idx: nodes[(level, idx)])
        assert new[0] == (0, i, leaf_hash(e))
        assert [level for level, _, _ in new] == list(range(len(new)))
        assert keys == {(level, idx - 1) for level, idx, _ in new[:-1]}  # the left siblings
        for level, idx, value in new:
            assert (level, idx) not in nodes
            assert value == mth(entries[idx << level:(idx + 1) << level])
            nodes[(level, idx)] = value
        n = i + 1
        perfect = {(lv, j) for lv in range(n.bit_length()) for j in range(n >> lv)}
        assert set(nodes) == perfect
        assert len(nodes) == 2 * n - n.bit_count()


def test_memory_tree_nodes_match_completed_nodes(corpus):
    _, entries, tree = corpus
    assert len(tree.nodes) == 2 * MAX_N - MAX_N.bit_count()
    for i in (0, 1, 77, MAX_N - 1):
        assert tree.leaf(i) == leaf_hash(entries[i])


# ---------------------------------------------------------------- prover argument errors


@pytest.mark.parametrize("call", [
    lambda t: t.inclusion(8, 8),
    lambda t: t.inclusion(0, 0),
    lambda t: t.inclusion(-1, 4),
    lambda t: t.inclusion(0, 9),  # larger than the tree
    lambda t: t.consistency(0, 4),
    lambda t: t.consistency(5, 4),
    lambda t: t.consistency(1, 9),
    lambda t: t.root(9),
    lambda t: t.root(-1),
    lambda t: t.root(1.0),
    lambda t: t.root(True),
    lambda t: t.leaf(8),
    lambda t: subtree_hash(3, 2, get=t.get),
    lambda t: completed_nodes(0, b"short", get=t.get),
])
def test_provers_reject_bad_arguments(call):
    with pytest.raises((TypeError, ValueError)):
        call(build(KAT_LEAVES))


def test_prover_rejects_malformed_stored_node():
    with pytest.raises(ValueError, match="missing or not"):
        root(3, get=lambda level, idx: b"x" * 31)


def test_consistency_old_equals_new_is_empty():
    tree = build(KAT_LEAVES)
    for n in range(1, 9):
        assert tree.consistency(n, n) == []


# ---------------------------------------------------------------- rejection rules, one case each

LEAVES = [b"entry %d" % i for i in range(70)]  # distinct: no accidental equal hashes
TREE = build(LEAVES)


def _incl(i, n):
    return TREE.leaf(i), i, n, TREE.inclusion(i, n), TREE.root(n)


def _cons(m, n):
    return m, n, TREE.root(m), TREE.root(n), TREE.consistency(m, n)


def test_valid_proofs_verify():
    verify_inclusion(*_incl(5, 13))
    verify_consistency(*_cons(5, 13))
    verify_consistency(*_cons(13, 13))


@pytest.mark.parametrize("mutate,rule", [
    (lambda a: (a[0], 13, 13, a[3], a[4]), "smaller than size"),
    (lambda a: (a[0], 14, 13, a[3], a[4]), "smaller than size"),
    (lambda a: (a[0], 0, 0, [], a[4]), "smaller than size"),
    (lambda a: (a[0], -1, 13, a[3], a[4]), "negative"),
    (lambda a: (a[0], 5, -13, a[3], a[4]), "negative"),
    (lambda a: (a[0], 5.0, 13, a[3], a[4]), "must be an int"),
    (lambda a: (a[0], "5", 13, a[3], a[4]), "must be an int"),
    (lambda a: (a[0], 5, None, a[3], a[4]), "must be an int"),
    (lambda a: (a[0], True, 13, a[3], a[4]), "must be an int"),
    (lambda a: (a[0], 5, 13, a[3][:-1], a[4]), "expected 4"),
    (lambda a: (a[0], 5, 13, a[3] + [a[4]], a[4]), "expected 4"),
    (lambda a: (a[0], 5, 13, [], a[4]), "expected 4"),
    (lambda a: (a[0], 5, 13, [a[3][0][:31]] + a[3][1:], a[4]), r"path\[0\] is 31 bytes"),
    (lambda a: (a[0], 5, 13, a[3][:-1] + [a[3][-1] + b"\x00"], a[4]), r"path\[3\] is 33 bytes"),
    (lambda a: (a[0], 5, 13, a[3][:1] + [b""] + a[3][2:], a[4]), r"path\[1\] is 0 bytes"),
    (lambda a: (a[0], 5, 13, [p.hex() for p in a[3]], a[4]), "must be bytes"),
    (lambda a: (a[0], 5, 13, b"".join(a[3]), a[4]), "list of hashes"),
    (lambda a: (a[0][:31], 5, 13, a[3], a[4]), "leaf is 31 bytes"),
    (lambda a: (a[0], 5, 13, a[3], a[4] + b"\x00"), "root is 33 bytes"),
    (lambda a: (a[0], 5, 13, a[3], EMPTY_ROOT), "does not lead to the root"),
    (lambda a: (leaf_hash(b"other"), 5, 13, a[3], a[4]), "does not lead to the root"),
])
def test_inclusion_rejection_rules(mutate, rule):
    with pytest.raises(ProofError, match=rule):
        verify_inclusion(*mutate(_incl(5, 13)))


def test_inclusion_size_one():
    h = leaf_hash(b"data")
    verify_inclusion(h, 0, 1, [], h)
    with pytest.raises(ProofError, match="expected 0"):
        verify_inclusion(h, 0, 1, [h], h)
    with pytest.raises(ProofError, match="does not lead"):
        verify_inclusion(h, 0, 1, [], leaf_hash(b"other"))


@pytest.mark.parametrize("mutate,rule", [
    (lambda a: (0, 13, EMPTY_ROOT, a[3], []), "empty tree"),
    (lambda a: (0, 0, EMPTY_ROOT, EMPTY_ROOT, []), "empty tree"),
    (lambda a: (0, 13, EMPTY_ROOT, a[3], a[4]), "empty tree"),
    (lambda a: (14, 13, a[2], a[3], a[4]), "larger than new"),
    (lambda a: (-5, 13, a[2], a[3], a[4]), "negative"),
    (lambda a: (5, -13, a[2], a[3], a[4]), "negative"),
    (lambda a: (5.0, 13, a[2], a[3], a[4]), "must be an int"),
    (lambda a: (5, "13", a[2], a[3], a[4]), "must be an int"),
    (lambda a: (a[0], a[1], a[2], a[3], []), "empty consistency path"),
    (lambda a: (a[0], a[1], a[2], a[3], a[4][:-1]), "expected 5"),
    (lambda a: (a[0], a[1], a[2], a[3], a[4] + [a[3]]), "expected 5"),
    (lambda a: (a[0], a[1], a[2], a[3], [a[4][0][:-1]] + a[4][1:]), r"path\[0\] is 31 bytes"),
    (lambda a: (a[0], a[1], a[2], a[3], a[4][:2] + [bytes(64)] + a[4][3:]), r"path\[2\] is 64 bytes"),
    (lambda a: (a[0], a[1], a[2][:16], a[3], a[4]), "old_root is 16 bytes"),
    (lambda a: (a[0], a[1], a[2], a[3] + b"!", a[4]), "new_root is 33 bytes"),
    (lambda a: (a[0], a[1], a[2], "not bytes", a[4]), "new_root must be bytes"),
    (lambda a: (a[0], a[1], TREE.root(6), a[3], a[4]), "old root"),
    (lambda a: (a[0], a[1], a[2], TREE.root(14), a[4]), "new root"),
    (lambda a: (a[0], a[1], a[3], a[2], a[4]), "old root"),  # swapped roots
    (lambda a: (13, 13, a[3], a[3], a[4]), "not empty"),
    (lambda a: (13, 13, a[3], a[3], [a[3]]), "not empty"),
    (lambda a: (13, 13, a[2], a[3], []), "roots differ"),
])
def test_consistency_rejection_rules(mutate, rule):
    with pytest.raises(ProofError, match=rule):
        verify_consistency(*mutate(_cons(5, 13)))


def test_consistency_from_power_of_two_old_size():
    # old = 4: the old root seeds the computation and is not in the path
    m, n, r1, r2, p = _cons(4, 13)
    assert len(p) == 2
    verify_consistency(m, n, r1, r2, p)
    with pytest.raises(ProofError):
        verify_consistency(m, n, TREE.root(3), r2, p)
    with pytest.raises(ProofError):
        verify_consistency(m, n, r1, r2, [r1] + p)  # the seed must not be sent


def test_proof_error_is_a_value_error():
    assert issubclass(ProofError, ValueError)


# ---------------------------------------------------------------- mutation tests

INCLUSION_CASES = [(i, n) for n in range(1, 18) for i in range(n)] + [
    (0, 70), (31, 70), (63, 70), (64, 70), (69, 70), (37, 64), (17, 33)]
CONSISTENCY_CASES = [(m, n) for n in range(2, 18) for m in range(1, n)] + [
    (1, 70), (32, 70), (63, 70), (64, 70), (69, 70), (37, 64), (17, 33), (6, 7)]


def _flip(b, pos):
    return b[:pos] + bytes([b[pos] ^ 0x01]) + b[pos + 1:]


def _rejects(fn, *args):
    try:
        fn(*args)
    except ProofError:
        return True
    return False


def _element_mutations(proof_):
    """Every single-byte flip (first, middle, last byte) of every element,
    every dropped element, appended and inserted elements."""
    for j, element in enumerate(proof_):
        for pos in (0, 15, 31):
            yield f"flip byte {pos} of [{j}]", proof_[:j] + [_flip(element, pos)] + proof_[j + 1:]
        yield f"drop [{j}]", proof_[:j] + proof_[j + 1:]
        yield f"duplicate [{j}]", proof_[:j] + [element] + proof_[j:]
    yield "append zero hash", proof_ + [bytes(32)]
    yield "append root", proof_ + [TREE.root()]
    yield "prepend zero hash", [bytes(32)] + proof_


def test_inclusion_element_mutations_all_rejected():
    accepted = []
    for i, n in INCLUSION_CASES:
        leaf, _, _, p, r = _incl(i, n)
        for desc, bad in _element_mutations(p):
            if not _rejects(verify_inclusion, leaf, i, n, bad, r):
                accepted.append((i, n, desc))
        for pos in (0, 31):
            if not _rejects(verify_inclusion, _flip(leaf, pos), i, n, p, r):
                accepted.append((i, n, f"leaf byte {pos}"))
            if not _rejects(verify_inclusion, leaf, i, n, p, _flip(r, pos)):
                accepted.append((i, n, f"root byte {pos}"))
    assert accepted == []


def test_consistency_element_mutations_all_rejected():
    accepted = []
    for m, n in CONSISTENCY_CASES:
        _, _, r1, r2, p = _cons(m, n)
        for desc, bad in _element_mutations(p):
            if not _rejects(verify_consistency, m, n, r1, r2, bad):
                accepted.append((m, n, desc))
        for pos in (0, 31):
            if not _rejects(verify_consistency, m, n, _flip(r1, pos), r2, p):
                accepted.append((m, n, f"old root byte {pos}"))
            if not _rejects(verify_consistency, m, n, r1, _flip(r2, pos), p):
                accepted.append((m, n, f"new root byte {pos}"))
    assert accepted == []


def test_every_byte_of_every_element_is_checked():
    # one deep proof of each kind, every byte position
    leaf, i, n, p, r = _incl(37, 70)
    _, _, r1, r2, q = _cons(37, 70)
    for j in range(len(p)):
        for pos in range(32):
            bad = p[:j] + [_flip(p[j], pos)] + p[j + 1:]
            assert _rejects(verify_inclusion, leaf, i, n, bad, r), (j, pos)
    for j in range(len(q)):
        for pos in range(32):
            bad = q[:j] + [_flip(q[j], pos)] + q[j + 1:]
            assert _rejects(verify_consistency, 37, 70, r1, r2, bad), (j, pos)


def test_index_and_old_size_mutations_all_rejected():
    accepted = []
    for i, n in INCLUSION_CASES:
        leaf, _, _, p, r = _incl(i, n)
        for i2 in (i - 1, i + 1, i ^ 2):
            if i2 != i and not _rejects(verify_inclusion, leaf, i2, n, p, r):
                accepted.append(("index", i, n, i2))
    for m, n in CONSISTENCY_CASES:
        _, _, r1, r2, p = _cons(m, n)
        for m2 in (m - 1, m + 1, m ^ 2):
            if m2 != m and not _rejects(verify_consistency, m2, n, r1, r2, p):
                accepted.append(("old", m, n, m2))
    assert accepted == []


def test_size_mutations_rejected_unless_shape_is_identical():
    """Changing the tree size (inclusion) or the new size (consistency).

    Hashes are opaque, so a proof only fixes the sizes through its shape: the
    proof for leaf 0 of 8 leaves ([l1, h23, h4567]) is also a well-formed proof
    for leaf 0 of 7 leaves if h4567 were the hash of 3 leaves. No verifier can
    reject that; the signed checkpoint binds size and root together. So: any
    mutation that changes the shape must be rejected, and the ones that keep it
    must behave exactly as the shape predicts (they pass).
    """
    wrongly_accepted, same_shape = [], 0
    for i, n in INCLUSION_CASES:
        leaf, _, _, p, r = _incl(i, n)
        for n2 in (n - 1, n + 1, 2 * n, n // 2):
            same = 0 <= i < n2 and path_shape(i, n2) == path_shape(i, n)
            rejected = _rejects(verify_inclusion, leaf, i, n2, p, r)
            if same:
                assert not rejected, (i, n, n2)
                same_shape += 1
            elif not rejected:
                wrongly_accepted.append(("size", i, n, n2))
    for m, n in CONSISTENCY_CASES:
        _, _, r1, r2, p = _cons(m, n)
        for n2 in (n - 1, n + 1, 2 * n, n // 2):
            same = 0 < m <= n2 and proof_shape(m, n2) == proof_shape(m, n)
            rejected = _rejects(verify_consistency, m, n2, r1, r2, p)
            if same:
                assert not rejected, (m, n, n2)
                same_shape += 1
            elif not rejected:
                wrongly_accepted.append(("new", m, n, n2))
    assert wrongly_accepted == []
    assert same_shape > 0  # the limitation is real, and documented here


def test_proof_for_another_leaf_is_rejected():
    for n in (5, 13, 70):
        for i in range(n):
            for j in (i - 1, i + 1):
                if 0 <= j < n:
                    assert _rejects(verify_inclusion, TREE.leaf(i), i, n, TREE.inclusion(j, n), TREE.root(n))
                    assert _rejects(verify_inclusion, TREE.leaf(j), i, n, TREE.inclusion(i, n), TREE.root(n))
