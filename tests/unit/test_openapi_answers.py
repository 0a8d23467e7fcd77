"""The answer checker the e2e tests run on every gateway answer
(``tests/support/openapi.py``) finds an answer that drifts from the OpenAPI
document, and lets a conforming one through."""

import json

import pytest
import requests

from tests.support.openapi import check_answer, check_body, untyped_answers

DOC = "6f1c2a7e-0000-4000-8000-000000000001"


def answer(method, path, status, body):
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps(body).encode()
    response.request = requests.Request(method, "http://gateway" + path).prepare()
    return response


ISSUED = {"document_id": DOC, "state": "issued", "number": 3,
          "number_notation": "03/QĐ-UBND", "issued_at": "2026-12-04T09:00:00+07:00"}


def test_a_conforming_answer_passes_and_may_carry_more_fields():
    check_answer(answer("POST", f"/v1/documents/{DOC}/issue", 200, {**ISSUED, "extra": 1}))


@pytest.mark.parametrize("change, where", [
    ({"number": "3"}, "number"),                      # a number as text
    ({"issued_at": None}, "issued_at"),               # a required time missing its value
    ({"number_notation": None}, "number_notation"),
])
def test_an_answer_that_drifts_from_the_document_is_named(change, where):
    with pytest.raises(AssertionError, match=f"issue 200: .* at {where}"):
        check_answer(answer("POST", f"/v1/documents/{DOC}/issue", 200, {**ISSUED, **change}))


def test_a_missing_field_and_an_undeclared_status_fail():
    partial = {k: v for k, v in ISSUED.items() if k != "number"}
    with pytest.raises(AssertionError, match="'number' is a required property"):
        check_answer(answer("POST", f"/v1/documents/{DOC}/issue", 200, partial))
    with pytest.raises(AssertionError, match="status 418 is not in the OpenAPI document"):
        check_answer(answer("POST", f"/v1/documents/{DOC}/issue", 418, {}))


def test_errors_are_checked_against_the_error_schema():
    check_answer(answer("GET", f"/v1/documents/{DOC}", 404, {"error": {
        "code": "not_found", "message": "no such document", "field": "document_id"}}))
    with pytest.raises(AssertionError, match="'error' is a required property"):
        check_answer(answer("GET", f"/v1/documents/{DOC}", 404, {"message": "gone"}))


def test_a_list_answer_checks_each_item():
    inbox = [{"document_id": DOC, "sender": "000.00.00.H41", "status": "01",
              "recalled": False, "delivered_at": "2026-12-04T09:00:00+07:00"}]
    check_answer(answer("GET", "/v1/inbox", 200, inbox))
    with pytest.raises(AssertionError, match="at 0/recalled"):
        check_answer(answer("GET", "/v1/inbox", 200, [{**inbox[0], "recalled": "no"}]))


# -- every 2xx JSON answer typed (issue 17, item 9) -----------------------------------------

def test_every_operation_of_the_document_has_a_typed_answer():
    """No operation answers a free-form object or array: a new endpoint without an
    answer schema fails here (a CSV or PDF answer is typed by its media type)."""
    from services.gateway.routes import ENDPOINTS, openapi_spec

    spec = openapi_spec()
    assert sum(len(operations) for operations in spec["paths"].values()) == len(ENDPOINTS)
    assert untyped_answers(spec) == []


def _spec(*answers):
    return {"paths": {f"/v1/x{i}": {"get": {"operationId": f"x{i}", "responses": {
        "200": {"description": "OK", "content": content}}}} for i, content in enumerate(answers)}}


def test_the_guard_finds_free_form_answers_and_lets_typed_ones_and_files_through():
    def json_(schema):
        return {"application/json": {"schema": schema}}
    typed = {"type": "object", "properties": {"a": {"type": "string"}}}
    spec = _spec(json_({"type": "object"}), json_({"type": "array"}),
                 json_({"type": "array", "items": {"type": "object"}}),
                 json_({"oneOf": [typed, {"type": "object", "additionalProperties": {}}]}),
                 json_({}),
                 json_(typed), json_({"type": "array", "items": typed}),
                 json_({"type": "object", "additionalProperties": {"type": "integer"}}),
                 {"application/pdf": {"schema": {"type": "string", "format": "binary"}}})
    assert untyped_answers(spec) == [(f"x{i}", "200") for i in range(5)]


# -- the schema features the typed answers use: oneOf, formats, enums -------------------------

OUTGOING_ROW = {"number_notation": "03/QĐ-UBND", "document_date": "2026-12-04",
                "type_and_subject": "Quyết định: x", "signer": "Chủ tịch Nguyễn Văn An",
                "recipients": "UBND huyện 1", "archive_unit": None, "copies": 1,
                "transfer_date": None, "note": None}


def test_a_register_row_must_be_one_of_the_three_kinds():
    check_answer(answer("GET", "/v1/registers/outgoing", 200, [OUTGOING_ROW]))
    broken = {k: v for k, v in OUTGOING_ROW.items() if k != "copies"}
    with pytest.raises(AssertionError, match="is not valid under any of the given schemas at"
                                             " 0 \\(closest: 'copies' is a required property"):
        check_answer(answer("GET", "/v1/registers/outgoing", 200, [broken]))
    # A note no register writes: the outgoing row no longer fits, nor does any other.
    with pytest.raises(AssertionError, match="closest: 'x' is not one of .* at note"):
        check_answer(answer("GET", "/v1/registers/outgoing", 200,
                            [{**OUTGOING_ROW, "note": "x"}]))


@pytest.mark.parametrize("value", ["2026-12-04 09:00:00+07:00", "04/12/2026",
                                   "2026-12-04T09:00:00"])
def test_a_time_not_written_as_rfc_3339_fails(value):
    with pytest.raises(AssertionError, match="is not a 'date-time'"):
        check_answer(answer("POST", f"/v1/documents/{DOC}/issue", 200,
                            {**ISSUED, "issued_at": value}))


def test_enums_ids_and_nullable_enums():
    outcome = {"document_id": DOC, "state": "pending", "agreed": [],
               "refused": [["000.02.00.H41", "đã xử lý xong"]], "pending": ["000.01.00.H41"]}
    check_answer(answer("GET", f"/v1/documents/{DOC}/recall", 200, outcome))
    with pytest.raises(AssertionError, match="at state"):
        check_answer(answer("GET", f"/v1/documents/{DOC}/recall", 200,
                            {**outcome, "state": "maybe"}))
    with pytest.raises(AssertionError, match="is not a 'uuid'"):
        check_answer(answer("GET", f"/v1/documents/{DOC}/recall", 200,
                            {**outcome, "document_id": "42"}))
    with pytest.raises(AssertionError, match="at refused/0"):  # a pair, not a triple
        check_answer(answer("GET", f"/v1/documents/{DOC}/recall", 200,
                            {**outcome, "refused": [["a", "b", "c"]]}))
    status = {"origin": "lienthong", "verifier_key": "k", "size": 0, "checkpoint_size": 0,
              "checkpoint_age_seconds": None, "checkpoint_timestamp": None,
              "checkpoint_timestamp_label": None, "uploaded_size": 0,
              "entries_not_checkpointed": 0, "entries_not_in_worm": 0, "quarantined": 0,
              "alerts": []}
    check_answer(answer("GET", "/v1/audit/status", 200, status))  # null: no checkpoint yet
    with pytest.raises(AssertionError, match="at checkpoint_timestamp"):
        check_answer(answer("GET", "/v1/audit/status", 200,
                            {**status, "checkpoint_timestamp": "soon"}))


def test_what_the_command_line_printed_is_checked_as_the_gateway_answered():
    handout = {"handout_id": DOC, "document_id": DOC, "digest": "AAEC",
               "digest_algorithm": "sha256", "expires_at": "2026-12-04T02:00:00+00:00",
               "certificate": {"serial": "1f", "subject": "CN=x", "issuer": "CN=y",
                               "sha256": "00", "pem": "-----BEGIN CERTIFICATE-----"}}
    check_body("POST", f"/v1/documents/{DOC}/signature/prepare", 200, handout)
    with pytest.raises(AssertionError, match="is not a 'byte'"):
        check_body("POST", f"/v1/documents/{DOC}/signature/prepare", 200,
                   {**handout, "digest": "not base64!"})
