"""Every JSON answer the tests get from the gateway, checked against the answer the
OpenAPI document declares for that operation and status (the same document the
gateway serves, ``services.gateway.routes.openapi_spec``). A typed answer that
drifts from what the gateway sends fails the test that saw it."""

import functools
import json
import re

from openapi_schema_validator import OAS30Validator, oas30_format_checker

from services.gateway.routes import openapi_spec

JSON = "application/json"


@functools.cache
def _operations():
    spec = openapi_spec()
    components = spec.get("components", {}).get("schemas", {})
    found = []
    for path, operations in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, operation in operations.items():
            found.append((method.upper(), pattern, operation, components))
    # Literal paths before templated ones (/v1/documents/x/file vs a {document_id}).
    return sorted(found, key=lambda f: f[1].pattern.count("[^/]+"))


def _inline(schema, components, depth=0):
    """The schema with every ``#/components/schemas/X`` reference replaced by X."""
    if depth > 20:
        return schema
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _inline(components[ref.rsplit("/", 1)[1]], components, depth + 1)
        return {k: _inline(v, components, depth) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, components, depth) for v in schema]
    return schema


def declared(method, path, status):
    """(operationId, the JSON schema declared for ``status``, or None if undeclared)."""
    path = path.split("?", 1)[0]
    for verb, pattern, operation, components in _operations():
        if verb == method.upper() and pattern.match(path):
            response = operation["responses"].get(str(status))
            if response is None:
                return operation["operationId"], None
            content = response.get("content", {}).get("application/json")
            return operation["operationId"], _inline(content["schema"], components) \
                if content else {}
    return None, None


def check_answer(response):
    """Fail (AssertionError naming the operation) if ``response`` (a requests
    Response from the gateway's /v1 API) is not what its operation declares."""
    request = response.request
    path = request.path_url
    if not path.startswith("/v1/") or path.startswith("/v1/openapi.json"):
        return response
    operation, schema = declared(request.method, path, response.status_code)
    assert operation is not None or response.status_code == 404, (
        f"{request.method} {path} answered {response.status_code} but is not in the OpenAPI"
        " document")
    if operation is None:
        return response  # an unknown path: the 404 tests look at it themselves
    assert schema is not None, (f"{operation}: status {response.status_code} is not in the"
                                f" OpenAPI document ({response.text[:200]})")
    if not response.headers.get("Content-Type", "").startswith(JSON):
        return response
    _conforms(operation, response.status_code, schema, response.json())
    return response


def check_body(method, path, status, body):
    """Fail as ``check_answer`` does if ``body``, the JSON a client got from the gateway
    for ``method path`` (the command line's ``--json`` prints it as it came), is not
    what the operation declares for ``status``."""
    operation, schema = declared(method, path, status)
    assert operation is not None and schema is not None, (
        f"{method} {path} {status} is not in the OpenAPI document")
    _conforms(operation, status, schema, body)
    return body


def _conforms(operation, status, schema, body):
    # Formats too: a time must be RFC 3339 (date-time), a day a date, an id a UUID.
    errors = sorted(OAS30Validator(schema, format_checker=oas30_format_checker)
                    .iter_errors(body), key=lambda e: list(e.path))
    assert not errors, (f"{operation} {status}: the answer does not match the"
                        f" OpenAPI document: {_explained(errors[0])}"
                        f" ({json.dumps(body, ensure_ascii=False)[:300]})")


def _explained(error):
    """What is wrong, and where; for a oneOf/anyOf, what kept the closest of its
    alternatives (the one with the fewest errors) from matching."""
    text = f"{error.message} at {'/'.join(map(str, error.path)) or '(top)'}"
    if error.context:
        branches = {}
        for inner in error.context:
            branches.setdefault(inner.schema_path[0], []).append(inner)
        closest = min(branches.values(), key=len)[0]
        text += (f" (closest: {closest.message} at"
                 f" {'/'.join(map(str, closest.path)) or '(top)'})")
    return text


def untyped_answers(spec):
    """``[(operationId, status)]`` of the 2xx JSON answers of ``spec`` that are
    free-form: an object without properties, an array without typed items (each
    alternative of a oneOf/anyOf checked alike). Other media types (a CSV, a PDF)
    are typed by their media type."""
    components = spec.get("components", {}).get("schemas", {})
    found = []
    for operations in spec["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get(JSON)
                if status.startswith("2") and content is not None and _free_form(
                        _inline(content["schema"], components)):
                    found.append((operation["operationId"], status))
    return found


def _free_form(schema):
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives:
        return any(_free_form(s) for s in alternatives)
    if schema.get("type") == "array":
        return "items" not in schema or _free_form(schema["items"])
    if schema.get("type") == "object" or "properties" in schema:
        extra = schema.get("additionalProperties")
        return not schema.get("properties") and not (isinstance(extra, dict) and extra)
    return "type" not in schema and "allOf" not in schema  # {}: anything at all
