"""services.docs: the registration schema and the rules of registration and reading."""

import json
import unicodedata
from datetime import date

import pytest

from services.docs.domain import (
    check_registration, document_registered, may_read, stream_of,
)
from services.docs.schemas import load_register
from shared.documents import file_key
from shared.envelope import Actor, canonical_bytes
from shared.errors import Forbidden, ValidationFailed
from shared.objectstore import StoredObject

SENDER = "000.00.00.H41"
RECIPIENT = "000.00.00.H42"
OTHER = "000.00.00.H43"
CLERK = Actor("u1", SENDER, "clerk")
TODAY = date(2026, 11, 22)


def _raw(**changes):
    payload = {"subject": "Quyết định về việc điều động cán bộ", "document_type": "QĐ",
               "urgency": 1, "recipients": [RECIPIENT, OTHER], "agency_abbreviation": "UBND",
               "signer": {"competence": "KT.", "on_behalf_of": "Chủ tịch",
                          "position": "Phó Chủ tịch",
                          "full_name": "Trần Thị Bình"}}
    for key, value in changes.items():
        if value is _DELETE:
            payload.pop(key)
        else:
            payload[key] = value
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


_DELETE = object()


def _field_of(raw):
    with pytest.raises(ValidationFailed) as err:
        load_register(raw)
    assert err.value.http_status == 400
    assert err.value.message.startswith(f"{err.value.field}:")
    return err.value.field


# -- load_register ---------------------------------------------------------------

def test_a_valid_registration_is_loaded_with_its_defaults():
    command = load_register(_raw())
    assert command == {
        "subject": "Quyết định về việc điều động cán bộ", "document_type": "QĐ", "urgency": 1,
        "recipients": [RECIPIENT, OTHER], "agency_abbreviation": "UBND",
        "signer": {"competence": "KT.", "on_behalf_of": "Chủ tịch", "position": "Phó Chủ tịch",
                   "full_name": "Trần Thị Bình"},
        "secrecy": 0, "steering_type": 0, "due_date": None, "drafting_unit": None,
        "drafting_unit_abbreviation": None, "response_for": [], "appendices": [],
        "page_count": 1, "language": "vi", "amends": None, "replaces": None, "files": None}


def test_urgency_defaults_to_ordinary():
    assert load_register(_raw(urgency=_DELETE))["urgency"] == 0


@pytest.mark.parametrize("field", ["subject", "document_type", "agency_abbreviation",
                                   "signer"])
def test_a_missing_required_field_is_named(field):
    assert _field_of(_raw(**{field: _DELETE})) == field


@pytest.mark.parametrize("subject", ["", "   ", None, 12])
def test_an_empty_or_non_text_subject_is_refused(subject):
    assert _field_of(_raw(subject=subject)) == "subject"


def test_a_subject_of_500_characters_is_accepted_and_501_refused():
    assert len(load_register(_raw(subject="đ" * 500))["subject"]) == 500
    assert _field_of(_raw(subject="đ" * 501)) == "subject"


def test_the_subject_length_is_counted_after_composing_vietnamese():
    # 300 letters "ệ", written decomposed: 900 code points, 300 once composed.
    decomposed = unicodedata.normalize("NFD", "ệ" * 300)
    assert len(decomposed) == 900
    assert load_register(_raw(subject=decomposed))["subject"] == "ệ" * 300


def test_a_decomposed_vietnamese_subject_is_stored_composed():
    composed = "Quyết định về việc điều động cán bộ"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    subject = load_register(_raw(subject=decomposed))["subject"]
    assert subject == composed
    assert unicodedata.is_normalized("NFC", subject)


def test_the_subject_is_trimmed():
    assert load_register(_raw(subject="  Công văn  \n"))["subject"] == "Công văn"


@pytest.mark.parametrize("document_type", ["XX", "qđ", "", "Quyết định", None])
def test_an_unknown_document_type_is_refused(document_type):
    assert _field_of(_raw(document_type=document_type)) == "document_type"


@pytest.mark.parametrize("document_type", ["QĐ", "CV", "TTr", "QyĐ", "THC"])
def test_decree_30_document_types_are_accepted(document_type):
    assert load_register(_raw(document_type=document_type))["document_type"] == document_type


@pytest.mark.parametrize("urgency", [4, -1, "1", 1.0, True, None])
def test_an_unknown_urgency_is_refused(urgency):
    assert _field_of(_raw(urgency=urgency)) == "urgency"


@pytest.mark.parametrize("recipients, field", [
    (["bad"], "recipients.0"),
    ([RECIPIENT, "000.00.00.h42"], "recipients.1"),
    ([RECIPIENT, OTHER, "000.00.00.H4"], "recipients.2"),
    ([RECIPIENT, 42], "recipients.1"),
])
def test_a_bad_recipient_code_is_named_by_its_index(recipients, field):
    assert _field_of(_raw(recipients=recipients)) == field


def test_no_recipients_is_refused():
    with pytest.raises(ValidationFailed) as err:
        check_registration(load_register(_raw(recipients=[])), CLERK, TODAY)
    assert err.value.field == "recipients"


def test_a_recipient_listed_twice_is_refused():
    assert _field_of(_raw(recipients=[RECIPIENT, OTHER, RECIPIENT])) == "recipients"


@pytest.mark.parametrize("raw", [b"", b"not json", b"{", b"\xff\xfe\x00", b"{'a': 1}"])
def test_metadata_that_is_not_json_is_refused(raw):
    assert _field_of(raw) == "metadata"


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null"])
def test_metadata_that_is_not_a_json_object_is_refused(raw):
    assert _field_of(raw) == "metadata"


# -- check_registration ----------------------------------------------------------

@pytest.mark.parametrize("role", ["leader", "auditor", "admin", "system"])
def test_only_a_clerk_registers_documents(role):
    command = load_register(_raw())
    with pytest.raises(Forbidden) as err:
        check_registration(command, Actor("u2", SENDER, role), TODAY)
    assert err.value.field == "role"


def test_a_clerk_registers_a_document_for_other_agencies():
    assert check_registration(load_register(_raw()), CLERK, TODAY) is None


def test_a_document_addressed_to_its_own_agency_is_refused():
    command = load_register(_raw(recipients=[RECIPIENT, SENDER]))
    with pytest.raises(ValidationFailed) as err:
        check_registration(command, CLERK, TODAY)
    assert err.value.field == "recipients"


def test_document_registered_event_records_the_command_and_file():
    command = load_register(_raw(recipients=[OTHER, RECIPIENT]))
    stored = StoredObject(key=file_key("d1"), sha256="ab" * 32, size=10,
                          content_type="application/pdf")
    command["attachment_names"] = []
    event = document_registered("d1", command, [stored], CLERK)
    assert event.event_type == "DocumentRegistered"
    assert event.stream_id == stream_of("d1") == "document-d1"
    assert event.producer == "docs" and event.actor == CLERK
    assert event.data["issuing_agency"] == SENDER
    assert list(event.data["recipients"]) == [RECIPIENT, OTHER]  # sorted
    assert event.data["file"]["sha256"] == "ab" * 32
    assert event.data["file"]["key"] == "documents/d1/main.pdf"
    assert event.data["state"] == "draft" and list(event.data["attachments"]) == []
    assert event.data["signer"]["competence"] == "KT."
    canonical_bytes(event)  # no floats: it can be hashed and signed


# -- may_read --------------------------------------------------------------------

def _document(delivered_to=()):
    return {"document_id": "d1", "issuing_agency": SENDER, "recipients": [RECIPIENT, OTHER],
            "delivered_to": list(delivered_to)}


def test_the_issuing_agency_may_read_its_document():
    assert may_read(_document(), Actor("u1", SENDER, "clerk")) is True
    assert may_read(_document(), Actor("l1", SENDER, "leader")) is True


def test_a_recipient_may_read_once_the_document_is_delivered():
    assert may_read(_document([RECIPIENT]), Actor("u9", RECIPIENT, "clerk")) is True


def test_a_listed_recipient_may_not_read_before_delivery():
    assert may_read(_document(), Actor("u9", RECIPIENT, "clerk")) is False
    # Delivered to one recipient only: the other must still wait.
    assert may_read(_document([RECIPIENT]), Actor("u9", OTHER, "clerk")) is False


def test_an_auditor_may_read_any_document():
    assert may_read(_document(), Actor("a1", "999.99.99.Z99", "auditor")) is True


def test_another_agency_may_not_read():
    assert may_read(_document([RECIPIENT]), Actor("u9", "000.00.00.H99", "clerk")) is False
    assert may_read(_document([RECIPIENT]), Actor("u9", "000.00.00.H99", "leader")) is False
