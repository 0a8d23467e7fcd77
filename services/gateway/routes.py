"""Every gateway endpoint, once: its method and path, who may call it, its body
and answer. The service takes its URL rules and role rules from here and the
OpenAPI document (``GET /v1/openapi.json``) is generated from the same table,
so the two cannot drift apart.
"""

import re
from dataclasses import dataclass

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from services.gateway import answers as a
from services.gateway import schemas as s
from services.gateway.domain import ADMIN, AUDITOR, CLERK, LEADER, OPERATOR, READERS, ROLES
from shared.errors import NotFound

API_VERSION = "1.0.0"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str                  # OpenAPI form: /v1/documents/{document_id}
    summary: str
    roles: tuple = ()          # () = no token needed
    body: type | str | None = None  # a marshmallow schema, or a key of MULTIPART
    answer: object = "object"  # a schema, "object", "array", or {content type: schema}
    query: tuple = ()          # (name, type, description); the type a key of QUERY_TYPES
    status: int = 200
    throttled: bool = False    # may answer 429 with Retry-After

    @property
    def rule(self):
        """The werkzeug rule nameko's ``@http`` wants: /v1/documents/<document_id>."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    @property
    def path_params(self):
        return re.findall(r"\{(\w+)\}", self.path)


DOC = "/v1/documents/{document_id}"
SIGNED_QUERY = ("signed", "boolean", "with the agency's XML signature (a clerk of the"
                " package's sender: the default; false: unsigned)")
# The services that consume events, and so keep dead letters.
CONSUMERS = ("docs", "signing", "routing")


def consumer(gateway, service):
    """The gateway's RPC proxy of ``service`` if it consumes events (so keeps
    dead letters), else ``NotFound`` naming ``service``: for the API and the web."""
    if service not in CONSUMERS:
        raise NotFound(f"service: {service!r} keeps no dead letters; one of"
                       f" {', '.join(CONSUMERS)}", field="service")
    return getattr(gateway, service)


ENDPOINTS = {
    # -- identity
    "login": Endpoint("POST", "/v1/auth/login",
                      "Log in: a bearer token for 8 hours. After repeated failures for a"
                      " user id or from an address, tries are refused (429) for a while"
                      " that doubles with each further failure",
                      body=s.LoginSchema, answer=s.TokenSchema, throttled=True),
    "logout": Endpoint("POST", "/v1/auth/logout", "Log out: this token stops working now",
                       ROLES, answer=a.LoggedOutAnswer),
    "change_password": Endpoint("POST", "/v1/auth/password",
                                "Change one's password (with the old one); every token"
                                " issued before stops working", ROLES,
                                body=s.PasswordChangeSchema, answer=a.PasswordChangedAnswer),
    "disable_user": Endpoint("POST", "/v1/admin/users/{user_id}/disable",
                             "Disable a user: no more logins, their tokens stop working"
                             " at once (operators; admins: their own agency's)",
                             ADMIN + OPERATOR, answer=a.UserDisabledAnswer),
    "create_user": Endpoint("POST", "/v1/admin/users",
                            "Create a user (operators: any agency and role; admins: their"
                            " own agency's clerks, leaders, admins)", ADMIN + OPERATOR,
                            body=s.NewUserSchema, answer=s.UserSchema, status=201),
    "reset_password": Endpoint("POST", "/v1/admin/users/{user_id}/password",
                               "Set a user's new password (they forgot it); their tokens"
                               " stop working (operators; admins: their own agency's)",
                               ADMIN + OPERATOR, body=s.PasswordResetSchema,
                               answer=a.PasswordResetAnswer),
    "list_users": Endpoint("GET", "/v1/admin/users", "List users, never their hashes"
                           " (operators: all; admins: their own agency's)", ADMIN + OPERATOR,
                           answer=a.UserAnswer(many=True)),
    # -- outgoing documents
    "register": Endpoint("POST", "/v1/documents",
                         "Register a draft: multipart (metadata JSON, file, attachments),"
                         " streamed to docs", CLERK, body="register", status=201,
                         answer=a.RegisteredAnswer),
    "revise_file": Endpoint("PUT", DOC + "/file",
                            "A new version of a draft's main PDF: multipart (file),"
                            " streamed to docs", CLERK, body="revise", answer=a.RevisedAnswer),
    "get_document": Endpoint("GET", DOC, "A document's metadata and state", READERS,
                             answer=a.DocumentAnswer),
    "submit": Endpoint("POST", DOC + "/submit", "Submit a draft to the leader who signs",
                       CLERK, body=s.SubmitSchema, answer=a.StateAnswer),
    "sign": Endpoint("POST", DOC + "/sign", "Approve and sign (the named leader)", LEADER,
                     answer=a.SignedAnswer),
    "prepare_signature": Endpoint(
        "POST", DOC + "/signature/prepare", "The named leader's signature laid out: a"
        " hand-out with the digest their own token signs (lienthong sign-digest)", LEADER,
        answer=a.HandoutAnswer),
    "complete_signature": Endpoint(
        "POST", "/v1/handouts/{handout_id}/complete", "Complete a hand-out with the token's"
        " signature (base64 DER) and the leader's certificate (PEM)", LEADER,
        body=s.CompleteSignatureSchema, answer=a.CompletedSignatureAnswer),
    "sign_remotely": Endpoint(
        "POST", DOC + "/signature/remote", "The named leader signs through their remote"
        " signing service (CSC API): their OTP authorizes the provider to sign the hand-out's"
        " digest", LEADER, body=s.RemoteSignatureSchema,
        answer=a.CompletedSignatureAnswer),
    "return_document": Endpoint("POST", DOC + "/return", "Return to the clerk with a comment",
                                LEADER, body=s.CommentSchema, answer=a.StateAnswer),
    "seal": Endpoint("POST", DOC + "/seal", "Apply the agency's signature over the number,"
                     " place and date written on page one (409 'chưa cấp số' until the"
                     " number given at the leader's signature has reached signing)", CLERK,
                     answer=a.SealedAnswer),
    "issue": Endpoint("POST", DOC + "/issue", "Issue (publish) under the number and date"
                      " given at the leader's signature", CLERK, answer=a.IssuedAnswer),
    "copy": Endpoint("POST", DOC + "/copies", "Copy a document the caller's agency holds"
                     " (Decree 30 Art. 25-28): SY sao y (whole), SL sao lục (of a sao y),"
                     " TrS trích sao (pages); numbered 01/SY-<agency> per form and year,"
                     " signed by the agency over the mark at the top right of page one,"
                     " registered in the copy register", CLERK, body=s.CopySchema,
                     answer=a.CopyAnswer, status=201),
    "copies": Endpoint("GET", DOC + "/copies", "The copies of a document the caller's"
                       " agency made (auditors: every agency's)", READERS,
                       answer=a.CopyAnswer(many=True)),
    "copy_file": Endpoint("GET", DOC + "/copies/{copy_id}/file",
                          "A 5-minute download URL of one of the agency's copies", READERS,
                          answer=s.UrlSchema),
    "copy_verify": Endpoint("GET", DOC + "/copies/{copy_id}/verify",
                            "Every signature check of one of the agency's copies, explained"
                            " (the original's signatures, then the copying agency's)", READERS,
                            answer=a.CopyVerificationAnswer),
    "verify": Endpoint("GET", DOC + "/verify", "Every signature check, explained", READERS,
                       answer=a.VerificationAnswer),
    "manifest": Endpoint("GET", DOC + "/manifest",
                         "5-minute download URLs of the signed manifest (json) and its"
                         " detached CMS signature (p7s), to check with one's own tools",
                         READERS, answer=a.ManifestAnswer),
    "trust_anchor": Endpoint("GET", "/v1/trust-anchor",
                             "The platform CA's root certificate (PEM), its current CRL"
                             " (base64 DER) and the TSA's URL, to check signatures with"
                             " pdfsig, pyHanko or openssl", READERS,
                             answer=a.TrustAnchorAnswer),
    "file": Endpoint("GET", DOC + "/file", "A 5-minute download URL of the current file",
                     READERS, answer=s.UrlSchema),
    "attachment": Endpoint("GET", DOC + "/attachments/{index}",
                           "A 5-minute download URL of an attachment (0 = the first)",
                           READERS, answer=s.UrlSchema),
    "statuses": Endpoint("GET", DOC + "/statuses", "Each recipient's status and history",
                         READERS, answer=a.RecipientStatusAnswer(many=True)),
    "report_status": Endpoint("POST", DOC + "/status", "The recipient reports a status",
                              CLERK, body=s.StatusSchema, answer=a.StatusReportedAnswer),
    "send": Endpoint("POST", DOC + "/send", "Send to more agencies", CLERK,
                     body=s.SendSchema, answer=a.SentAnswer),
    "recall": Endpoint("POST", DOC + "/recall", "Ask every recipient to agree to a recall",
                       CLERK, body=s.RecallSchema, answer=a.RecallRequestedAnswer),
    "answer_recall": Endpoint("POST", DOC + "/recall/answer", "Agree to or refuse a recall",
                              CLERK, body=s.RecallAnswerSchema, answer=a.RecallAnsweredAnswer),
    "overdue_outgoing": Endpoint("GET", "/v1/outgoing/overdue",
                                 "Documents signed and not issued by their issue deadline"
                                 " (Decree 30 Art. 18(1): the next working day; urgent: at"
                                 " once), the earliest first: the caller's agency's (auditors:"
                                 " every agency's)", CLERK + LEADER + AUDITOR,
                                 answer=a.OverdueIssueAnswer(many=True)),
    "recall_outcome": Endpoint("GET", DOC + "/recall",
                               "The recall's outcome: who agreed, refused, has not answered"
                               " (the sender's clerks, auditors)", CLERK + AUDITOR,
                               answer=a.RecallOutcomeAnswer),
    # -- the national document axis (edXML, QCVN 102:2016)
    "edxml_export": Endpoint("GET", DOC + "/edxml",
                             "The document as an edXML package: files by reference, or"
                             " inline (base64) with inline=true", READERS,
                             answer=s.EdxmlAnswerSchema,
                             query=(("inline", "boolean", "carry the files inline"),
                                    SIGNED_QUERY)),
    "edxml_status_export": Endpoint("GET", DOC + "/edxml/status",
                                    "A recipient's status as an edXML status package"
                                    " (defaults to the caller's agency)", CLERK + AUDITOR,
                                    answer=s.EdxmlAnswerSchema,
                                    query=(("recipient", "string", "the recipient agency"),
                                           SIGNED_QUERY)),
    "edxml_import": Endpoint("POST", "/v1/edxml/documents",
                             "Take in a document package from the axis and deliver it to"
                             " the agencies it names (the axis connector: operators)", OPERATOR,
                             body=s.EdxmlSchema, answer=a.ImportedAnswer),
    "edxml_status_import": Endpoint("POST", "/v1/edxml/statuses",
                                    "Apply a status package from the axis (operators)", OPERATOR,
                                    body=s.EdxmlSchema, answer=a.StatusImportedAnswer),
    # -- incoming
    "inbox": Endpoint("GET", "/v1/inbox", "Documents delivered to the caller's agency",
                      CLERK + LEADER, answer=a.InboxItemAnswer(many=True)),
    "incoming": Endpoint("GET", "/v1/incoming", "The incoming register", CLERK + LEADER,
                         answer=a.IncomingAnswer(many=True),
                         query=(("year", "integer", "calendar year"),)),
    "accept_incoming": Endpoint("POST", "/v1/incoming/{document_id}/accept",
                                "Accept an arrival into the register, passing it on to a"
                                " unit or person (optional)", CLERK, body=s.AcceptSchema,
                                answer=a.AcceptedAnswer),
    "return_incoming": Endpoint("POST", "/v1/incoming/{document_id}/return",
                                "Return an arrival to its sender", CLERK, body=s.ReasonSchema,
                                answer=a.StateAnswer),
    "registers": Endpoint(
        "GET", "/v1/registers/{kind}",
        "The outgoing, incoming or follow-up register, or the copy register (copies):"
        " rows as JSON, CSV or a printable PDF",
        CLERK + LEADER, answer={
            "application/json": {"schema": {"type": "array", "items": {"oneOf": [
                a.OutgoingRowAnswer, a.IncomingRowAnswer, a.FollowUpRowAnswer,
                a.CopyRowAnswer]}}},
            "text/csv": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        query=(("year", "integer", "calendar year"),
               ("start", "date", "from this date (document date, or arrival date)"),
               ("end", "date", "up to this date, included"),
               ("format", "register_format", "json (the default), csv or pdf"))),
    # -- audit (auditors)
    "audit_history": Endpoint("GET", "/v1/audit/documents/{document_id}/history",
                              "Every logged event about a document", AUDITOR,
                              answer=a.LogEntryAnswer(many=True)),
    "audit_status": Endpoint("GET", "/v1/audit/status", "The log's size, checkpoints, alerts",
                             AUDITOR, answer=a.AuditStatusAnswer),
    "audit_verify": Endpoint("GET", "/v1/audit/verify",
                             "Verify the log against its signed checkpoints", AUDITOR,
                             answer=a.LogVerificationAnswer),
    "audit_reconcile": Endpoint("GET", "/v1/audit/reconcile",
                                "The whole log replayed and compared with what docs,"
                                " signing and routing report: the differences ([] when"
                                " they agree)", AUDITOR, answer=a.ReconcileAnswer),
    "audit_evidence": Endpoint("GET", "/v1/audit/documents/{document_id}/evidence",
                               "A document's evidence bundle, to check offline", AUDITOR,
                               answer=a.EvidenceBundleAnswer),
    "order_erasure": Endpoint(
        "POST", "/v1/audit/erasures", "Order the audit log to destroy the data of every"
        " entry so far about a document, under a legal decision and for a reason (both kept"
        " in the log); the leaves and every proof stay valid. Applied when audit takes the"
        " order in (operators)", OPERATOR, body=s.ErasureSchema,
        answer=a.ErasureOrderedAnswer, status=202),
    # -- the leaders' dashboard (bảng điều hành)
    "dashboard": Endpoint(
        "GET", "/v1/dashboard",
        "The dashboard of an agency and every agency under it over a period: documents"
        " sent and received, handled on time and overdue, median handling times,"
        " digitally signed share, urgent documents, the trend per day, week or month"
        " (leaders: their own agency's subtree; auditors: any)", LEADER + AUDITOR,
        answer=a.DashboardAnswer,
        query=(("agency", "string", "the agency (default: the caller's)"),
               ("start", "date", "from this day, Vietnam time (default: 12 weeks ago)"),
               ("end", "date", "up to this day, included (default: today)"),
               ("granularity", "granularity", "the trend's step: day, week or month"))),
    # -- choosing recipients (nơi nhận)
    "directory": Endpoint(
        "GET", "/v1/directory",
        "Search the agency directory as of today, a page at a time: the agencies directly"
        " under parent (the roots without one), or with q every agency (under parent if"
        " given) whose name, diacritics ignored, or code holds q", ROLES,
        answer=s.DirectoryPageSchema,
        query=(("q", "string", "part of a name (with or without diacritics) or of a code"),
               ("parent", "string", "an agency code: its children, or its subtree with q"),
               ("page", "page", "the page, from 1"),
               ("size", "size", "rows per page, 1 to 100 (default 50)"))),
    "recipient_groups": Endpoint("GET", "/v1/recipient-groups",
                                 "The saved recipient groups (nhóm nơi nhận) of the caller's"
                                 " agency, by name", CLERK,
                                 answer=s.RecipientGroupAnswerSchema(many=True)),
    "save_recipient_group": Endpoint("POST", "/v1/recipient-groups",
                                     "Save a recipient group of the caller's agency (the same"
                                     " name again replaces it)", CLERK,
                                     body=s.RecipientGroupSchema,
                                     answer=s.RecipientGroupAnswerSchema, status=201),
    "delete_recipient_group": Endpoint("DELETE", "/v1/recipient-groups/{group_id}",
                                       "Delete one of the caller's agency's recipient groups",
                                       CLERK, answer=a.GroupDeletedAnswer),
    # -- administration
    "agencies": Endpoint("GET", "/v1/admin/agencies", "The agency directory", ADMIN + OPERATOR,
                         answer=a.AgencyAnswer(many=True)),
    "certificates": Endpoint("GET", "/v1/admin/certificates",
                             "Certificates issued (admins: their own agency's)",
                             ADMIN + AUDITOR, answer=a.CertificateRecordAnswer(many=True),
                             query=(("agency", "string", "only this agency's"),)),
    "enroll": Endpoint("POST", "/v1/admin/certificates",
                       "Issue a certificate to a holder of the admin's own agency (for the"
                       " public key given, else a key the platform keeps)", ADMIN,
                       body=s.EnrollSchema, answer=a.EnrolledAnswer),
    "request_certificate": Endpoint(
        "POST", "/v1/certificates/requests", "Request a certificate for one's own token's"
        " key with its PKCS#10 CSR (leaders; lienthong certificate request). The CSR must be"
        " signed by that key; the certificate names the caller as their user record does,"
        " never as the CSR does, once an administrator of their agency approves", LEADER,
        body=s.CertificateRequestSchema, status=201, answer=a.CertificateRequestedAnswer),
    "certificate_requests": Endpoint(
        "GET", "/v1/admin/certificates/requests", "Certificate requests, newest first"
        " (admins: their own agency's; auditors: any)", ADMIN + AUDITOR,
        answer=a.CertificateRequestAnswer(many=True),
        query=(("state", "request_state", "pending (default), approved, rejected or all"),
               ("agency", "string", "only this agency's"))),
    "approve_certificate_request": Endpoint(
        "POST", "/v1/admin/certificates/requests/{request_id}/approve", "Approve a pending"
        " request of the admin's own agency: the CA issues the certificate for the CSR's key"
        " (its details and PEM)", ADMIN, answer=a.RequestApprovedAnswer),
    "reject_certificate_request": Endpoint(
        "POST", "/v1/admin/certificates/requests/{request_id}/reject", "Reject a pending"
        " request of the admin's own agency, saying why", ADMIN, body=s.RejectionSchema,
        answer=a.RequestRejectedAnswer),
    "revoke_certificate": Endpoint("POST", "/v1/admin/certificates/{serial}/revoke",
                                   "Revoke one of the admin's own agency's certificates",
                                   ADMIN, body=s.RevocationSchema, answer=a.RevokedAnswer),
    "agency_history": Endpoint("GET", "/v1/admin/agencies/{code}/history",
                               "Every version of an agency, oldest first (valid from, to,"
                               " successors)", ADMIN + OPERATOR, answer=a.AgencyAnswer(many=True)),
    "change_directory": Endpoint("POST", "/v1/admin/agencies/changes",
                                 "Apply dated changes to the directory, all or none"
                                 " (operators)", OPERATOR, body=s.DirectoryChangesSchema,
                                 answer=a.DirectoryChangeAnswer),
    "dead_letters": Endpoint("GET", "/v1/admin/dead-letters/{service}",
                             "Events a service's consumers gave up on, after retries",
                             OPERATOR, answer=a.DeadLetterAnswer(many=True)),
    "replay_dead_letter": Endpoint("POST", "/v1/admin/dead-letters/{service}/{letter_id}/replay",
                                   "Send a dead letter back to its consumer's queue, once"
                                   " its cause is fixed", OPERATOR,
                                   answer=a.ReplayedAnswer),
    "quarantined": Endpoint("GET", "/v1/admin/quarantine/{service}",
                            "Events a service refused unapplied (malformed, unsigned, forged,"
                            " wrong producer), newest first, with the reason", OPERATOR,
                            answer=a.QuarantinedAnswer(many=True)),
    "rebuild_dashboard": Endpoint("POST", "/v1/admin/dashboard/rebuild",
                                  "Fold the whole audit log again into the dashboard's"
                                  " projection (after a fix to its rules); appends wait"
                                  " meanwhile", OPERATOR, answer=a.DashboardRebuiltAnswer),
    "openapi": Endpoint("GET", "/v1/openapi.json", "This document", answer=a.OpenApiAnswer),
}

_ERRORS = {"400": "invalid input", "401": "no valid token", "403": "role not allowed",
           "404": "not found (or not visible to the caller)", "409": "conflict with the state",
           "413": "too large",
           "415": "a file of a type not accepted", "503": "a backing service is unavailable"}


PATH_PARAMS = {"document_id": {"type": "string", "format": "uuid"},
               "handout_id": {"type": "string", "format": "uuid"},
               "request_id": {"type": "string", "format": "uuid"},
               "user_id": {"type": "string", "minLength": 1, "maxLength": 200},
               "index": {"type": "integer", "minimum": 0, "maximum": 99},
               "kind": {"type": "string", "enum": ["outgoing", "incoming", "follow_up",
                                                   "copies"]},
               "copy_id": {"type": "string", "format": "uuid"},
               "service": {"type": "string", "enum": list(CONSUMERS)},
               "letter_id": {"type": "integer", "minimum": 1},
               "group_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
               "serial": {"type": "string", "pattern": "^[0-9a-f]{1,40}$"},
               "code": {"type": "string", "pattern": "^[0-9A-Z]{3}\\.[0-9A-Z]{2}\\.[0-9A-Z]{2}"
                        "\\.[A-Z][0-9]{2}$"}}
QUERY_TYPES = {"integer": {"type": "integer", "minimum": 1900, "maximum": 9999},
               "string": {"type": "string", "maxLength": 200},
               "date": {"type": "string", "format": "date"},
               "page": {"type": "integer", "minimum": 1, "default": 1},
               "size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
               "boolean": {"type": "boolean", "default": False},
               "register_format": {"type": "string", "enum": ["json", "csv", "pdf"],
                                   "default": "json"},
               "granularity": {"type": "string", "enum": ["day", "week", "month"],
                               "default": "week"},
               "request_state": {"type": "string", "default": "pending",
                                 "enum": ["pending", "approved", "rejected", "all"]}}
_BINARY = {"type": "string", "format": "binary"}
# The multipart bodies streamed through to docs.
MULTIPART = {
    "register": {"type": "object", "required": ["metadata", "file"], "properties": {
        "metadata": {"type": "string", "description": "the document's metadata,"
                     " JSON (see the docs service)"},
        "file": _BINARY,
        "attachment": {"type": "array", "items": _BINARY}}},
    "revise": {"type": "object", "required": ["file"], "properties": {
        "file": {**_BINARY, "description": "the new version of the main PDF"}}},
}


def _content(schema):
    if isinstance(schema, dict):  # already {content type: {"schema": ...}}
        return schema
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
        if isinstance(e.body, str):
            operation["requestBody"] = {"required": True, "content": {
                "multipart/form-data": {"schema": MULTIPART[e.body]}}}
        elif e.body is not None:
            operation["requestBody"] = {"required": True, "content": _content(e.body)}
        if e.throttled:
            operation["responses"]["429"] = {
                "description": "too many failed logins: try again later",
                "headers": {"Retry-After": {"description": "seconds to wait",
                                            "schema": {"type": "integer", "minimum": 1}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in _ERRORS.items():
            operation["responses"].setdefault(code, {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
