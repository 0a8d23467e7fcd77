"""The answer checker the e2e tests run on every gateway answer
(``tests/support/openapi.py``) finds an answer that drifts from the OpenAPI
document, and lets a conforming one through."""

import json

import pytest
import requests

from tests.support.openapi import check_answer

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
