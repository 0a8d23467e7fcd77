"""signing's use cases on its rows (services.signing.commands) without servers:
the in-memory store and event store; the PAdES work and S3 are the shell's."""

import uuid

import pytest

from services.signing import commands, domain
from services.signing.store import MemorySigningStore
from shared.envelope import Actor
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.eventstore import InMemoryEventStore
from tests.unit.signing_store_contract import (
    AGENCY, CERTIFICATE, CLERK, LEADER, a_file, numbered, submitted,
)


@pytest.fixture
def store():
    return MemorySigningStore()


@pytest.fixture
def log():
    return InMemoryEventStore()


def awaiting(store, round_=1):
    event = submitted(round_=round_)
    with store.transaction() as conn:
        store.submitted(event, conn)
    return event.data["document_id"]


def given_number(store, document_id):
    """docs' DocumentNumbered reaches signing (it follows the leader's signature)."""
    with store.transaction() as conn:
        store.numbered(numbered(document_id), conn)


def types(log, document_id):
    return [e.event_type for e in log.read_stream(domain.stream_of(document_id))]


def test_the_named_leader_signs_then_a_clerk_seals(store, log):
    document_id = awaiting(store)
    signed = commands.record_signature(store, log, document_id, a_file("signed.pdf", "55"),
                                       CERTIFICATE, LEADER)
    assert signed.data["key_id"] == CERTIFICATE["sha256"][:16]
    given_number(store, document_id)
    sealed = commands.record_seal(store, log, document_id, a_file("sealed.pdf", "66"),
                                  CERTIFICATE, CLERK)
    assert sealed.data["signed_sha256"] == "55" * 32
    assert sealed.data["number_notation"] == "01/CT-UBND"  # written under the seal
    row = commands.submitted_document(store, document_id)
    assert row["state"] == domain.SEALED and row["sealed_file"]["sha256"] == "66" * 32
    assert types(log, document_id) == ["DocumentSigned", "DocumentSealed"]


@pytest.mark.parametrize("actor, field", [
    (Actor("pho.chu.tich", AGENCY, "leader"), "signer_user"),
    (Actor("lanh.dao", "000.01.00.H41", "leader"), "agency"),
    (CLERK, "role"),
])
def test_only_the_named_leader_of_the_agency_signs(store, log, actor, field):
    document_id = awaiting(store)
    with pytest.raises(Forbidden) as err:
        commands.record_signature(store, log, document_id, a_file("s.pdf"), CERTIFICATE, actor)
    assert err.value.field == field
    assert types(log, document_id) == []
    assert commands.submitted_document(store, document_id)["state"] == domain.SUBMITTED


def test_a_second_signature_is_a_conflict_found_under_the_lock(store, log):
    document_id = awaiting(store)
    commands.record_signature(store, log, document_id, a_file("s.pdf"), CERTIFICATE, LEADER)
    with pytest.raises(Conflict) as err:
        commands.record_signature(store, log, document_id, a_file("s2.pdf"), CERTIFICATE,
                                  LEADER)
    assert err.value.field == "document_id"
    assert types(log, document_id) == ["DocumentSigned"]


def test_the_seal_goes_only_on_a_signed_document(store, log):
    document_id = awaiting(store)
    with pytest.raises(Conflict) as err:
        commands.record_seal(store, log, document_id, a_file("x.pdf"), CERTIFICATE, CLERK)
    assert err.value.field == "state"


def test_the_seal_waits_for_the_number_and_date_decree_30_art_14(store, log):
    document_id = awaiting(store)
    commands.record_signature(store, log, document_id, a_file("s.pdf"), CERTIFICATE, LEADER)
    with pytest.raises(Conflict) as err:
        commands.record_seal(store, log, document_id, a_file("x.pdf"), CERTIFICATE, CLERK)
    assert err.value.field == "number"
    assert "chưa cấp số" in err.value.message and "Art. 14" in err.value.message
    assert types(log, document_id) == ["DocumentSigned"]  # nothing recorded
    given_number(store, document_id)
    commands.record_seal(store, log, document_id, a_file("x.pdf"), CERTIFICATE, CLERK)
    assert types(log, document_id) == ["DocumentSigned", "DocumentSealed"]


def test_the_clerks_seal_waits_briefly_for_the_number_then_refuses(store, log):
    document_id = awaiting(store)
    commands.record_signature(store, log, document_id, a_file("s.pdf"), CERTIFICATE, LEADER)
    with pytest.raises(Conflict) as err:  # nothing came: refused at once with no wait
        commands.numbered_document(store, document_id, CLERK, 0, lambda s: None)
    assert err.value.field == "number"
    naps = []

    def sleep(seconds):  # the number arrives while the seal waits
        naps.append(seconds)
        given_number(store, document_id)

    found = commands.numbered_document(store, document_id, CLERK, 5, sleep)
    assert found["numbering"]["number_notation"] == "01/CT-UBND" and naps == [0.05]
    with pytest.raises(Forbidden):  # who may seal is checked first
        commands.numbered_document(store, document_id, LEADER, 5, sleep)


def test_a_return_says_why_and_a_resubmission_is_signed_again(store, log):
    document_id = awaiting(store)
    with pytest.raises(ValidationFailed) as err:
        commands.return_document(store, log, document_id, "  ", LEADER)
    assert err.value.field == "comment"
    commands.return_document(store, log, document_id, "Sửa trích yếu", LEADER)
    assert commands.submitted_document(store, document_id)["state"] == domain.RETURNED
    with store.transaction() as conn:
        store.submitted(submitted(document_id, round_=2, sha="33"), conn)
    signed = commands.record_signature(store, log, document_id, a_file("s.pdf"),
                                       CERTIFICATE, LEADER)
    assert signed.data["round"] == 2 and signed.data["sha256"] == "33" * 32


def test_finalizing_records_the_manifest_in_the_consumers_transaction(store, log):
    document_id = awaiting(store)
    commands.record_signature(store, log, document_id, a_file("s.pdf"), CERTIFICATE, LEADER)
    given_number(store, document_id)
    commands.record_seal(store, log, document_id, a_file("z.pdf"), CERTIFICATE, CLERK)
    cause = submitted(document_id)  # stands for docs' DocumentIssued
    with store.transaction() as conn:
        document = store.row(conn, document_id, lock=True)
        final = commands.finalize(conn, store, log, document, "01/CT-UBND", [],
                                  a_file("m.json", "88"), a_file("m.p7s", "99"), CERTIFICATE,
                                  cause)
        assert store.manifest_files(conn, document_id)[0]["sha256"] == "88" * 32
    assert final.causation_id == cause.event_id
    assert types(log, document_id)[-1] == "DocumentFinalized"


def test_an_unknown_document_was_never_submitted(store, log):
    with pytest.raises(NotFound) as err:
        commands.submitted_document(store, str(uuid.uuid4()))
    assert "never submitted" in err.value.message
    with pytest.raises(NotFound):
        commands.return_document(store, log, str(uuid.uuid4()), "x", LEADER)
