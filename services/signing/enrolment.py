"""Enrolment as a CA does it: a person's certificate is issued against a
certificate request (PKCS#10 CSR) their own token made, once an administrator
of their own agency approved it.

- The leader's token makes the CSR (``lienthong certificate request``): the key
  is generated in the token and never leaves it; the CSR carries the public
  key, signed by the private one.
- The request is checked here: its self-signature must verify with the key it
  carries (proof that the requester holds the key: a CSR signed by another
  key is refused, naming the rule), and the key must be one the platform's
  certificates take (ECDSA P-256/P-384, RSA of 2,048 bits or more).
- The certificate's subject is the platform's user record (full name, agency,
  role), never the CSR's own subject, which is ignored.
- An administrator of the requester's agency approves (the CA issues the
  certificate) or rejects (saying why); a decided request is decided once.

Requests and decisions are events of signing's log (``CertificateRequested``,
``CertificateRequestApproved``, ``CertificateRequestRejected``), so the audit
log keeps them; the ``certificate_requests`` table is their projection.
"""

import hashlib
import uuid

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared import scope
from shared.envelope import new_event
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.values import checked_uuid

SERVICE = "signing"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
# Who requests a certificate for their own token: the leaders who sign.
REQUESTER_ROLES = ("leader",)
MAX_CSR_CHARS = 20000
_CURVES = (ec.SECP256R1, ec.SECP384R1)

DDL = """
CREATE TABLE IF NOT EXISTS certificate_requests (
    request_id   uuid PRIMARY KEY,
    holder       text NOT NULL,
    agency       text NOT NULL,
    role         text NOT NULL,
    full_name    text NOT NULL,
    csr          text NOT NULL,
    key_sha256   text NOT NULL,
    state        text NOT NULL,
    requested_at timestamptz NOT NULL,
    decided_at   timestamptz,
    decided_by   text,
    reason       text,
    serial       text
);
CREATE INDEX IF NOT EXISTS certificate_requests_agency ON certificate_requests (agency, state);
"""
COLUMNS = ("request_id", "holder", "agency", "role", "full_name", "csr", "key_sha256", "state",
           "requested_at", "decided_at", "decided_by", "reason", "serial")


def stream_of(request_id):
    return f"certificate-request-{request_id}"


# -- the pure core ----------------------------------------------------------------------

def requested_key(csr_pem):
    """The public key a CSR (PEM) asks a certificate for, once its self-signature
    verifies with that very key; :class:`ValidationFailed` naming the rule."""
    if not isinstance(csr_pem, str) or not csr_pem.strip() or len(csr_pem) > MAX_CSR_CHARS:
        raise ValidationFailed(f"csr: a PKCS#10 certificate request, PEM, at most"
                               f" {MAX_CSR_CHARS} characters", field="csr")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.strip().encode())
        key = csr.public_key()
        signed = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValidationFailed("csr: not a PEM PKCS#10 certificate request"
                               " (-----BEGIN CERTIFICATE REQUEST-----)", field="csr") from None
    if not signed:
        raise ValidationFailed("csr: its signature does not verify with the public key it"
                               " carries; a request must be signed by the very key it asks a"
                               " certificate for (proof of possession)", field="csr")
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _CURVES):
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return key
    raise ValidationFailed("csr: its key must be ECDSA P-256 or P-384, or RSA of 2048 bits"
                           " or more", field="csr")


def key_sha256(key):
    """The SHA-256 of the key's SubjectPublicKeyInfo (hex): what identifies it."""
    return hashlib.sha256(key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()


def certificate_requested(actor, full_name, csr_pem, request_id=None):
    """``actor`` (a leader) asks a certificate for their token's key; ``full_name``
    is their user record's (the gateway's), the only name the certificate takes."""
    if actor.role not in REQUESTER_ROLES:
        raise Forbidden(f"role: only a {' or '.join(REQUESTER_ROLES)} requests a certificate"
                        " for their own token", field="role")
    if not isinstance(full_name, str) or not full_name.strip():
        raise ValidationFailed("full_name: the requester's name in their user record",
                               field="full_name")
    key = requested_key(csr_pem)
    request_id = str(request_id or uuid.uuid4())
    return new_event("CertificateRequested", {
        "request_id": request_id, "holder": actor.user_id, "agency": actor.agency,
        "role": actor.role, "full_name": full_name.strip(), "csr": csr_pem.strip(),
        "key_sha256": key_sha256(key)}, actor=actor, producer=SERVICE,
        stream_id=stream_of(request_id))


def check_decidable(request, actor):
    """An administrator of the requester's own agency, on a pending request."""
    if actor.role != scope.ADMIN:
        raise Forbidden("role: only an administrator of the requester's agency decides a"
                        " certificate request", field="role")
    scope.own_agency(actor, request["agency"], field="request_id")
    if request["state"] != PENDING:
        raise Conflict(f"request_id: request {request['request_id']} was already"
                       f" {request['state']} on {request['decided_at'].isoformat()} by"
                       f" {request['decided_by']}; a request is decided once",
                       field="request_id")


def certificate_request_approved(request, certificate, actor):
    """Approved: ``certificate`` (``authority.certificate_info``) issued for its key."""
    check_decidable(request, actor)
    return new_event("CertificateRequestApproved", {
        "request_id": str(request["request_id"]), "holder": request["holder"],
        "agency": request["agency"], "serial": certificate["serial"],
        "certificate": certificate}, actor=actor, producer=SERVICE,
        stream_id=stream_of(request["request_id"]))


def certificate_request_rejected(request, reason, actor):
    check_decidable(request, actor)
    reason = reason.strip() if isinstance(reason, str) else reason
    if not isinstance(reason, str) or not reason or len(reason) > 2000:
        raise ValidationFailed("reason: say why the request is rejected (at most 2000"
                               " characters)", field="reason")
    return new_event("CertificateRequestRejected", {
        "request_id": str(request["request_id"]), "holder": request["holder"],
        "agency": request["agency"], "reason": reason}, actor=actor, producer=SERVICE,
        stream_id=stream_of(request["request_id"]))


# -- the projection (PostgreSQL) ----------------------------------------------------------

def row(conn, request_id, lock=False):
    checked_uuid(request_id, field="request_id")
    found = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM certificate_requests"
                         " WHERE request_id = %s" + (" FOR UPDATE" if lock else ""),
                         (request_id,)).fetchone()
    if found is None:
        raise NotFound(f"request_id: no certificate request {request_id}", field="request_id")
    return dict(zip(COLUMNS, found), request_id=str(found[0]))


def listed(conn, agency=None, state=None):
    """Requests, newest first: of ``agency`` (None: all), in ``state`` (None: any)."""
    rows = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM certificate_requests WHERE (%s::text IS NULL OR"
        " agency = %s) AND (%s::text IS NULL OR state = %s) ORDER BY requested_at DESC"
        " LIMIT 500", (agency, agency, state, state)).fetchall()
    return [view(dict(zip(COLUMNS, r))) for r in rows]


def view(request):
    """A request as the API shows it (times as text, the CSR kept)."""
    return {**request, "request_id": str(request["request_id"]),
            **{k: request[k].isoformat() if request[k] else None
               for k in ("requested_at", "decided_at")}}


def project(conn, event):
    data = event.data
    if event.event_type == "CertificateRequested":
        conn.execute("INSERT INTO certificate_requests (request_id, holder, agency, role,"
                     " full_name, csr, key_sha256, state, requested_at) VALUES"
                     " (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                     (data["request_id"], data["holder"], data["agency"], data["role"],
                      data["full_name"], data["csr"], data["key_sha256"], PENDING,
                      event.occurred_at))
        return
    state = {"CertificateRequestApproved": APPROVED,
             "CertificateRequestRejected": REJECTED}[event.event_type]
    conn.execute("UPDATE certificate_requests SET state = %s, decided_at = %s,"
                 " decided_by = %s, reason = %s, serial = %s WHERE request_id = %s",
                 (state, event.occurred_at, event.actor.user_id, data.get("reason"),
                  data.get("serial"), data["request_id"]))
