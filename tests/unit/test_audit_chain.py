"""services.audit.chain: the hash chain finds every kind of tampering."""

import dataclasses
import hashlib
from types import MappingProxyType

import pytest

from services.audit.chain import GENESIS, chain_next, entry_hash, verify
from shared.envelope import Actor, canonical_bytes, new_event

CLERK = Actor("u1", "000.00.00.H41", "clerk")
N = 6


def _events(n=N):
    return [new_event("DocumentRegistered", {"n": i, "subject": f"Văn bản {i}"}, actor=CLERK,
                      producer="docs", stream_id=f"document-{i}").at(1, i)
            for i in range(1, n + 1)]


def build_chain(events):
    """Rows as the audit log stores them: ``(seq, event, entry_hash, chain_hash)``."""
    rows, previous = [], GENESIS
    for seq, event in enumerate(events, start=1):
        entry = entry_hash(event)
        previous = chain_next(previous, entry)
        rows.append((seq, event, entry, previous))
    return rows


def renumber(rows):
    return [(seq, event, entry, chain)
            for seq, (_, event, entry, chain) in enumerate(rows, start=1)]


@pytest.fixture
def rows():
    return build_chain(_events())


def test_hashes_follow_the_documented_formulas():
    [event] = _events(1)
    assert entry_hash(event) == hashlib.sha256(canonical_bytes(event)).digest()
    assert chain_next(GENESIS, entry_hash(event)) == hashlib.sha256(
        bytes(32) + hashlib.sha256(canonical_bytes(event)).digest()).digest()


def test_a_good_chain_verifies(rows):
    verdict = verify(rows)
    assert verdict.ok is True
    assert verdict.entries == N
    assert verdict.head == rows[-1][3].hex()
    assert verdict.first_bad_seq is None and verdict.reason is None


def test_an_empty_log_verifies_with_the_genesis_head():
    verdict = verify([])
    assert verdict.ok and verdict.entries == 0
    assert verdict.head == "00" * 32


def test_rows_with_memoryview_hashes_verify(rows):
    # Database drivers hand bytea back as memoryview or bytes.
    as_db = [(seq, e, memoryview(eh), memoryview(ch)) for seq, e, eh, ch in rows]
    assert verify(as_db).ok


def test_verify_accepts_a_generator(rows):
    assert verify(row for row in rows).entries == N


def _assert_bad(verdict, seq, rows, words):
    assert verdict.ok is False
    assert verdict.first_bad_seq == seq
    # Everything before the bad entry did verify, and the head is theirs.
    assert verdict.entries == seq - 1
    assert verdict.head == (rows[seq - 2][3].hex() if seq > 1 else GENESIS.hex())
    assert words in verdict.reason


@pytest.mark.parametrize("seq", [1, 3, N])
def test_an_edited_event_is_found_at_its_entry(rows, seq):
    _, event, entry, chain = rows[seq - 1]
    edited = dataclasses.replace(
        event, data=MappingProxyType({**event.data, "subject": "Văn bản đã sửa"}))
    rows[seq - 1] = (seq, edited, entry, chain)
    _assert_bad(verify(rows), seq, rows, "content")


def test_an_edited_actor_is_found(rows):
    _, event, entry, chain = rows[2]
    rows[2] = (3, dataclasses.replace(event, actor=Actor("u1", "000.00.00.H41", "leader")),
               entry, chain)
    _assert_bad(verify(rows), 3, rows, "content")


def test_an_edited_event_with_its_entry_hash_recomputed_is_found_by_the_chain(rows):
    _, event, _, chain = rows[2]
    edited = dataclasses.replace(event, data=MappingProxyType({**event.data, "n": 99}))
    rows[2] = (3, edited, entry_hash(edited), chain)
    _assert_bad(verify(rows), 3, rows, "chain")


def test_a_deleted_entry_is_found_after_the_last_good_entry(rows):
    del rows[2]
    verdict = verify(rows)
    assert verdict.ok is False
    assert verdict.entries == 2
    assert verdict.head == rows[1][3].hex()
    assert "entry 3 is missing or out of place (found seq 4)" == verdict.reason


def _gap(rows):
    del rows[2]                      # seq 3 is missing: 1 2 4 5 6
    return rows


def _swap_keeping_seq(rows):
    rows[3], rows[4] = rows[4], rows[3]   # 1 2 3 5 4 6
    return rows


def _duplicate_seq(rows):
    [intruder] = _events(1)
    entry = entry_hash(intruder)
    rows.insert(3, (3, intruder, entry, chain_next(rows[2][3], entry)))  # 1 2 3 3 4 5 6
    return rows


@pytest.mark.parametrize("tamper, bad_seq", [(_gap, 3), (_swap_keeping_seq, 4),
                                              (_duplicate_seq, 4)])
def test_a_sequence_gap_names_the_first_seq_that_is_not_there(rows, tamper, bad_seq):
    verdict = verify(tamper(rows))
    assert verdict.ok is False
    assert verdict.entries == bad_seq - 1
    assert verdict.first_bad_seq == bad_seq


def test_a_deleted_entry_with_renumbered_sequence_is_found_by_the_chain(rows):
    original = list(rows)
    rows = renumber(rows[:2] + rows[3:])
    # The old 4th entry now sits at seq 3; its chain hash does not follow from seq 2.
    _assert_bad(verify(rows), 3, original, "chain")


def test_an_inserted_entry_with_a_consistent_link_breaks_the_next_one(rows):
    original = list(rows)
    [intruder] = _events(1)  # a fresh event, not in the log
    entry = entry_hash(intruder)
    # The forger links the new entry correctly to seq 2 ...
    forged = (3, intruder, entry, chain_next(rows[1][3], entry))
    rows = renumber(rows[:2] + [forged] + rows[2:])
    verdict = verify(rows)
    # ... but the old 3rd entry, now seq 4, was linked to the old seq 2.
    assert verdict.first_bad_seq == 4
    assert verdict.entries == 3
    assert "chain" in verdict.reason
    assert verdict.head == chain_next(original[1][3], entry).hex()


def test_an_inserted_entry_with_a_copied_chain_hash_is_found_at_its_place(rows):
    original = list(rows)
    [intruder] = _events(1)
    forged = (3, intruder, entry_hash(intruder), rows[2][3])
    rows = renumber(rows[:2] + [forged] + rows[2:])
    _assert_bad(verify(rows), 3, original, "chain")


def test_an_inserted_entry_without_renumbering_is_found_by_the_sequence(rows):
    original = list(rows)
    verdict = verify(_duplicate_seq(rows))
    assert verdict.ok is False and verdict.entries == 3
    assert "entry 4 is missing or out of place (found seq 3)" == verdict.reason
    assert verdict.head == original[2][3].hex()


def test_two_swapped_entries_are_found_at_the_first(rows):
    original = list(rows)
    rows = renumber(rows[:1] + [rows[2], rows[1]] + rows[3:])
    _assert_bad(verify(rows), 2, original, "chain")


def test_swapped_rows_keeping_their_seq_are_found_by_the_sequence(rows):
    original = list(rows)
    verdict = verify(_swap_keeping_seq(rows))
    assert verdict.ok is False and verdict.entries == 3
    assert verdict.head == original[2][3].hex()
    assert "out of place" in verdict.reason


@pytest.mark.parametrize("seq", [1, 4, N])
def test_a_wrong_chain_hash_is_found_at_its_entry(rows, seq):
    _, event, entry, chain = rows[seq - 1]
    rows[seq - 1] = (seq, event, entry, bytes([chain[0] ^ 1]) + chain[1:])
    _assert_bad(verify(rows), seq, rows, "chain")


def test_a_wrong_entry_hash_is_found_at_its_entry(rows):
    _, event, entry, chain = rows[1]
    rows[1] = (2, event, hashlib.sha256(b"other").digest(), chain)
    _assert_bad(verify(rows), 2, rows, "content")


def test_a_chain_rebuilt_after_an_edit_has_a_different_head():
    events = _events()
    good = build_chain(events)
    events[2] = dataclasses.replace(events[2], data=MappingProxyType({"n": 3, "subject": "x"}))
    forged = build_chain(events)
    assert verify(forged).ok
    # Fully recomputed chains verify on their own; the head is what gives them away.
    assert verify(forged).head != verify(good).head
