"""Copies (Decree 30 Art. 25-28) in docs: who may copy, the request's rules, the
numbers (per form, agency and year, from 01, no gap), the copy register. The
in-memory store and event store; ``make`` stands for signing (the PDF side is
tests/unit/test_signing_copies.py)."""

import uuid
from datetime import datetime, timezone

import pytest

from services.docs import commands, copies, domain
from services.docs.store import MemoryDocsStore
from shared.envelope import Actor
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.eventstore import InMemoryEventStore
from shared.failpoints import FailpointError
from tests.unit.docs_store_contract import OTHER, RECIPIENT, SENDER
from tests.unit.test_docs_commands import CLERK, RECIPIENT_CLERK, sealed, sent

COPIED_AT = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)  # 10:00 in Vietnam


@pytest.fixture
def store():
    return MemoryDocsStore()


@pytest.fixture
def log():
    return InMemoryEventStore()


class Signing:
    """What docs hands signing, and a file description back (as the shell stores it)."""

    def __init__(self, fail=None):
        self.calls, self.fail = [], fail

    def __call__(self, source, notation, copied_at):
        self.calls.append((source["key"], notation, copied_at))
        if self.fail:
            raise self.fail
        return {"key": f"documents/x/copies/{len(self.calls)}.pdf", "sha256": "cc" * 32,
                "size": 10, "content_type": "application/pdf", "version_id": "v1"}


def issued(store, log):
    document_id = sealed(store, log)
    commands.issue(store, log, document_id, CLERK, separate_secret_series=False)
    return document_id


def copy(store, log, document_id, body, actor=CLERK, make=None):
    return commands.copy(store, log, document_id, str(uuid.uuid4()),
                         copies.check_request(body), actor, make or Signing(),
                         now=lambda: COPIED_AT)


def test_each_form_has_its_own_series_from_01(store, log):
    document_id = issued(store, log)
    signing = Signing()
    first = copy(store, log, document_id, {"form": "SY"}, make=signing)
    extract = copy(store, log, document_id, {"form": "TrS", "pages": [3, 1]}, make=signing)
    second = copy(store, log, document_id, {"form": "SY"}, make=signing)
    assert [e.data["number_notation"] for e in (first, extract, second)] == [
        "01/SY-UBND", "01/TrS-UBND", "02/SY-UBND"]
    assert list(extract.data["pages"]) == [1, 3]
    # the document's sealed file is what signing copies, under the number taken
    assert signing.calls[0] == ("documents/x/sealed.pdf", "01/SY-UBND", COPIED_AT)
    assert first.data["copied_at"] == "2026-12-05T10:00:00+07:00"
    assert store.numbers[(SENDER, 2026, "copy-SY")] == 2
    assert store.numbers[(SENDER, 2026, "copy-TrS")] == 1
    listed = commands.copies_of(store, {"document_id": document_id}, CLERK)
    assert [c["number_notation"] for c in listed] == ["01/SY-UBND", "01/TrS-UBND",
                                                      "02/SY-UBND"]
    assert log.read_stream(copies.stream_of(first.data["copy_id"]))[0].event_type == \
        "DocumentCopied"


def test_a_sao_luc_is_made_from_the_agencys_sao_y(store, log):
    document_id = issued(store, log)
    signing = Signing()
    sao_y = copy(store, log, document_id, {"form": "SY"}, make=signing)
    extract = copy(store, log, document_id, {"form": "TrS", "pages": [1]}, make=signing)
    sao_luc = copy(store, log, document_id, {"form": "SL",
                                             "source_copy": sao_y.data["copy_id"]},
                   make=signing)
    assert sao_luc.data["number_notation"] == "01/SL-UBND"
    assert sao_luc.data["source_copy_id"] == sao_y.data["copy_id"]
    assert signing.calls[-1][0] == sao_y.data["file"]["key"]  # the sao y's file
    with pytest.raises(ValidationFailed, match="from a sao y") as err:
        copy(store, log, document_id, {"form": "SL", "source_copy": extract.data["copy_id"]})
    assert err.value.field == "source_copy"
    with pytest.raises(NotFound) as err:
        copy(store, log, document_id, {"form": "SL", "source_copy": str(uuid.uuid4())})
    assert err.value.field == "source_copy"


@pytest.mark.parametrize("body, field", [
    ({}, "form"), ({"form": "XX"}, "form"), ({"form": "sy"}, "form"),
    ({"form": "TrS"}, "pages"), ({"form": "TrS", "pages": []}, "pages"),
    ({"form": "TrS", "pages": [0]}, "pages"), ({"form": "TrS", "pages": [1, 1]}, "pages"),
    ({"form": "TrS", "pages": ["1"]}, "pages"), ({"form": "TrS", "pages": [True]}, "pages"),
    ({"form": "SY", "pages": [1]}, "pages"), ({"form": "SL"}, "source_copy"),
    ({"form": "SL", "source_copy": "x"}, "source_copy"),
    ({"form": "SY", "source_copy": str(uuid.uuid4())}, "source_copy"),
    ({"form": "SY", "agency_abbreviation": " "}, "agency_abbreviation"),
    ({"form": "SY", "colour": "red"}, "colour"),
])
def test_a_bad_request_is_refused_naming_its_field(body, field):
    with pytest.raises(ValidationFailed) as err:
        copies.check_request(body)
    assert err.value.field == field


def test_only_a_clerk_of_an_agency_holding_the_document_copies_it(store, log):
    draft = sealed(store, log)  # sealed, not issued
    document_id = issued(store, log)
    sent(store, log, document_id, [RECIPIENT, OTHER])
    refusals = [
        (draft, {"form": "SY"}, CLERK, Conflict, "state"),
        (document_id, {"form": "SY"}, Actor("lanh.dao", SENDER, "leader"), Forbidden, "role"),
        # another agency's clerk: as for a document that does not exist
        (document_id, {"form": "SY"}, Actor("x", "000.05.00.H41", "clerk"), NotFound,
         "document_id"),
        # arrived, not yet accepted into the recipient's register
        (document_id, {"form": "SY", "agency_abbreviation": "SNV"}, RECIPIENT_CLERK,
         Conflict, "state"),
    ]
    for target, body, actor, error, field in refusals:
        signing = Signing()
        with pytest.raises(error) as err:
            copy(store, log, target, body, actor, make=signing)
        assert err.value.field == field, (actor, err.value)
        assert signing.calls == []  # refused before signing: nothing made
    assert not any(series.startswith("copy-") for _, _, series in store.numbers)
    assert store.copies == {}
    # once accepted, the recipient copies under its own abbreviation, in its own series
    commands.decide_incoming(store, log, document_id, "accept", RECIPIENT_CLERK)
    with pytest.raises(ValidationFailed) as err:
        copy(store, log, document_id, {"form": "SY"}, RECIPIENT_CLERK)
    assert err.value.field == "agency_abbreviation"
    made = copy(store, log, document_id, {"form": "SY", "agency_abbreviation": "SNV"},
                RECIPIENT_CLERK)
    assert (made.data["agency"], made.data["number_notation"]) == (RECIPIENT, "01/SY-SNV")
    # each agency sees its own copies
    assert commands.copies_of(store, {"document_id": document_id}, CLERK) == []
    with pytest.raises(NotFound):
        commands.copy_of(store, {"document_id": document_id}, made.data["copy_id"], CLERK)


def test_a_copy_that_fails_at_signing_gives_its_number_back(store, log):
    document_id = issued(store, log)
    with pytest.raises(ValidationFailed):
        copy(store, log, document_id, {"form": "TrS", "pages": [9]},
             make=Signing(ValidationFailed("pages: 9 outside a 1-page document",
                                           field="pages")))
    assert store.copies == {} and (SENDER, 2026, "copy-TrS") not in store.numbers
    assert copy(store, log, document_id, {"form": "TrS", "pages": [1]}).data[
        "number_notation"] == "01/TrS-UBND"


def test_a_copy_that_fails_holding_its_number_gives_it_back(store, log, monkeypatch):
    document_id = issued(store, log)
    signing = Signing()
    monkeypatch.setenv("LIENTHONG_FAILPOINTS", "docs.copy.after_number:raise")
    with pytest.raises(FailpointError):
        copy(store, log, document_id, {"form": "SY"}, make=signing)
    assert signing.calls == [] and store.copies == {}
    monkeypatch.delenv("LIENTHONG_FAILPOINTS")
    assert copy(store, log, document_id, {"form": "SY"}).data["number"] == 1


def test_copies_are_in_the_agencys_copy_register(store, log):
    document_id = issued(store, log)
    copy(store, log, document_id, {"form": "SY"})
    copy(store, log, document_id, {"form": "TrS", "pages": [1, 2]})
    rows, _ = commands.register_rows(store, SENDER, "copies")
    loaded = commands.load(store, document_id)
    assert [(r["number_notation"], r["form"], r["pages"]) for r in rows] == [
        ("01/SY-UBND", "Sao y", "Toàn văn"), ("01/TrS-UBND", "Trích sao", "1, 2")]
    assert rows[0]["source"].startswith(loaded["number_notation"])
    assert rows[0]["copy_date"].isoformat() == "2026-12-05"
    assert commands.register_rows(store, RECIPIENT, "copies")[0] == []


def test_the_notation_is_number_form_agency():
    assert copies.notation(1, "SY", "UBND") == "01/SY-UBND"
    assert copies.notation(12, "TrS", "UBND") == "12/TrS-UBND"
    assert copies.series_of("SL") == "copy-SL"
    assert domain.format_number(1) == "01"
