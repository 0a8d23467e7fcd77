"""Every gateway endpoint, once: its method and path, who may call it, its body
and answer. The service takes its URL rules and role rules from here and the
OpenAPI document (``GET /v1/openapi.json``) is generated from the same table,
so the two cannot drift apart.
"""

import re
from dataclasses import dataclass

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from services.gateway import schemas as s
from services.gateway.domain import ADMIN, AUDITOR, CLERK, LEADER, READERS

API_VERSION = "1.0.0"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str                  # OpenAPI form: /v1/documents/{document_id}
    summary: str
    roles: tuple = ()          # () = no token needed
    body: type | None = None   # a marshmallow schema, or "multipart"
    answer: object = "object"  # a schema, "object" or "array"
    query: tuple = ()          # (name, type, description)
    status: int = 200

    @property
    def rule(self):
        """The werkzeug rule nameko's ``@http`` wants: /v1/documents/<document_id>."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    @property
    def path_params(self):
        return re.findall(r"\{(\w+)\}", self.path)


DOC = "/v1/documents/{document_id}"

ENDPOINTS = {
    # -- identity
    "login": Endpoint("POST", "/v1/auth/login", "Log in: a bearer token for 8 hours",
                      body=s.LoginSchema, answer=s.TokenSchema),
    "create_user": Endpoint("POST", "/v1/admin/users", "Create a user (admins)", ADMIN,
                            body=s.NewUserSchema, answer=s.UserSchema, status=201),
    "list_users": Endpoint("GET", "/v1/admin/users", "List users, never their hashes (admins)",
                           ADMIN, answer="array"),
    # -- outgoing documents
    "register": Endpoint("POST", "/v1/documents",
                         "Register a draft: multipart (metadata JSON, file, attachments),"
                         " streamed to docs", CLERK, body="multipart", status=201),
    "get_document": Endpoint("GET", DOC, "A document's metadata and state", READERS),
    "submit": Endpoint("POST", DOC + "/submit", "Submit a draft to the leader who signs",
                       CLERK, body=s.SubmitSchema),
    "sign": Endpoint("POST", DOC + "/sign", "Approve and sign (the named leader)", LEADER),
    "return_document": Endpoint("POST", DOC + "/return", "Return to the clerk with a comment",
                                LEADER, body=s.CommentSchema),
    "seal": Endpoint("POST", DOC + "/seal", "Apply the agency's signature", CLERK),
    "issue": Endpoint("POST", DOC + "/issue", "Issue: number and time given", CLERK),
    "verify": Endpoint("GET", DOC + "/verify", "Every signature check, explained", READERS),
    "file": Endpoint("GET", DOC + "/file", "A 5-minute download URL of the current file",
                     READERS, answer=s.UrlSchema),
    "statuses": Endpoint("GET", DOC + "/statuses", "Each recipient's status and history",
                         READERS, answer="array"),
    "report_status": Endpoint("POST", DOC + "/status", "The recipient reports a status",
                              CLERK, body=s.StatusSchema),
    "send": Endpoint("POST", DOC + "/send", "Send to more agencies", CLERK,
                     body=s.SendSchema),
    "recall": Endpoint("POST", DOC + "/recall", "Ask every recipient to agree to a recall",
                       CLERK, body=s.RecallSchema),
    "answer_recall": Endpoint("POST", DOC + "/recall/answer", "Agree to or refuse a recall",
                              CLERK, body=s.RecallAnswerSchema),
    # -- incoming
    "inbox": Endpoint("GET", "/v1/inbox", "Documents delivered to the caller's agency",
                      CLERK + LEADER, answer="array"),
    "incoming": Endpoint("GET", "/v1/incoming", "The incoming register", CLERK + LEADER,
                         answer="array", query=(("year", "integer", "calendar year"),)),
    "accept_incoming": Endpoint("POST", "/v1/incoming/{document_id}/accept",
                                "Accept an arrival into the register", CLERK),
    "return_incoming": Endpoint("POST", "/v1/incoming/{document_id}/return",
                                "Return an arrival to its sender", CLERK, body=s.ReasonSchema),
    # -- audit (auditors)
    "audit_history": Endpoint("GET", "/v1/audit/documents/{document_id}/history",
                              "Every logged event about a document", AUDITOR, answer="array"),
    "audit_status": Endpoint("GET", "/v1/audit/status", "The log's size, checkpoints, alerts",
                             AUDITOR),
    "audit_verify": Endpoint("GET", "/v1/audit/verify",
                             "Verify the log against its signed checkpoints", AUDITOR),
    "audit_evidence": Endpoint("GET", "/v1/audit/documents/{document_id}/evidence",
                               "A document's evidence bundle, to check offline", AUDITOR),
    # -- administration
    "agencies": Endpoint("GET", "/v1/admin/agencies", "The agency directory", ADMIN,
                         answer="array"),
    "certificates": Endpoint("GET", "/v1/admin/certificates", "Certificates issued", ADMIN,
                             answer="array",
                             query=(("agency", "string", "only this agency's"),)),
    "openapi": Endpoint("GET", "/v1/openapi.json", "This document"),
}

_ERRORS = {"400": "invalid input", "401": "no valid token", "403": "role not allowed",
           "404": "not found (or not visible to the caller)", "409": "conflict with the state",
           "413": "too large", "503": "a backing service is unavailable"}


PATH_PARAMS = {"document_id": {"type": "string", "format": "uuid"}}
QUERY_TYPES = {"integer": {"type": "integer", "minimum": 1900, "maximum": 9999},
               "string": {"type": "string", "maxLength": 200}}


def _content(schema):
    if schema in ("object", "array"):
        return {"application/json": {"schema": {"type": schema}}}
    return {"application/json": {"schema": schema}}


def openapi_spec():
    """The OpenAPI 3 document of every endpoint, as a dict."""
    spec = APISpec(title="Liên thông gateway", version=API_VERSION, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Signed electronic documents between agencies."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=s.ErrorSchema)
    paths = {}
    for name, e in ENDPOINTS.items():
        operation = {"operationId": name, "summary": e.summary, "responses": {
            str(e.status): {"description": "OK", "content": _content(e.answer)}}}
        if e.roles:
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Roles: {', '.join(e.roles)}."
        params = [{"name": p, "in": "path", "required": True, "schema": PATH_PARAMS[p]}
                  for p in e.path_params]
        params += [{"name": q, "in": "query", "required": False, "schema": QUERY_TYPES[t],
                    "description": d} for q, t, d in e.query]
        if params:
            operation["parameters"] = params
        if e.body == "multipart":
            operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {
                "schema": {"type": "object", "required": ["metadata", "file"], "properties": {
                    "metadata": {"type": "string", "description": "the document's metadata,"
                                 " JSON (see the docs service)"},
                    "file": {"type": "string", "format": "binary"},
                    "attachment": {"type": "array",
                                   "items": {"type": "string", "format": "binary"}}}}}}}
        elif e.body is not None:
            operation["requestBody"] = {"required": True, "content": _content(e.body)}
        for code, text in _ERRORS.items():
            operation["responses"].setdefault(code, {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
