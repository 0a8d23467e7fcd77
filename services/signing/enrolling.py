"""Enrolment's entrypoints (``enrolment``), mixed into ``SigningService``: a
leader requests a certificate for their token's key with its CSR; an
administrator of their own agency lists, approves (the CA issues it) or
rejects the requests. Each request and decision is an event of signing's
log, recorded with the certificate in one transaction.
"""

from cryptography.hazmat.primitives import serialization

from services.signing import authority, enrolment
from shared import scope
from shared.auth import require_role
from shared.command import run_command
from shared.edge.rpc import rpc
from shared.errors import Conflict, ValidationFailed

STATES = (enrolment.PENDING, enrolment.APPROVED, enrolment.REJECTED)


class EnrolsWithRequests:
    @rpc
    def request_certificate(self, csr, full_name):
        """The caller (a leader) asks a certificate for their token's key (``csr``,
        PEM). ``full_name`` is their user record's, which the gateway passes: the
        certificate names them so, whatever the CSR says."""
        actor = self.auth.actor()
        event = enrolment.certificate_requested(actor, full_name, csr)

        def load(conn):
            if conn.execute("SELECT 1 FROM certificate_requests WHERE key_sha256 = %s AND"
                            " state = %s", (event.data["key_sha256"], enrolment.PENDING)
                            ).fetchone():
                raise Conflict("csr: a request for this key awaits an administrator's"
                               " decision already", field="csr")
        _, [recorded] = run_command(self.store.writing, self.log, load, lambda _: event,
                                    _project, new_streams=True)
        return {"request_id": recorded.data["request_id"], "state": enrolment.PENDING,
                "full_name": recorded.data["full_name"], "agency": actor.agency,
                "key_sha256": recorded.data["key_sha256"], "event_id": recorded.event_id}

    @rpc
    def certificate_requests(self, state=enrolment.PENDING, agency=None):
        """Requests in ``state`` (None: all): an admin sees its own agency's, an
        auditor any agency's."""
        actor = require_role(self.auth.actor(), "admin", "auditor")
        if state is not None and state not in STATES:
            raise ValidationFailed(f"state: one of {', '.join(STATES)}", field="state")
        if actor.role == "admin":
            agency = actor.agency if agency is None else agency
            scope.own_agency(actor, agency)
        with self.events.transaction() as conn:
            return enrolment.listed(conn, agency, state)

    @rpc
    def approve_certificate_request(self, request_id):
        """The CA issues the certificate for the CSR's key, its subject the
        request's user record; the certificate's details and PEM."""
        actor = require_role(self.auth.actor(), "admin")

        def load(conn):
            request = enrolment.row(conn, request_id, lock=True)
            enrolment.check_decidable(request, actor)
            key = enrolment.requested_key(request["csr"])
            return request, self.pki.authority.certify_holder_key(
                conn, request["holder"], request["agency"], request["role"],
                request["full_name"], key)

        (_, certificate), [recorded] = run_command(
            self.store.writing, self.log, load, lambda state: (
                enrolment.certificate_request_approved(
                    state[0], authority.certificate_info(state[1]), actor)), _project)
        return {**authority.certificate_info(certificate), "request_id": str(request_id),
                "holder": recorded.data["holder"], "event_id": recorded.event_id,
                "pem": certificate.public_bytes(serialization.Encoding.PEM).decode()}

    @rpc
    def reject_certificate_request(self, request_id, reason):
        actor = require_role(self.auth.actor(), "admin")
        _, [recorded] = run_command(
            self.store.writing, self.log,
            lambda conn: enrolment.row(conn, request_id, lock=True),
            lambda request: enrolment.certificate_request_rejected(request, reason, actor),
            _project)
        return {"request_id": str(request_id), "state": enrolment.REJECTED,
                "reason": recorded.data["reason"], "event_id": recorded.event_id}


def _project(conn, state, recorded):
    for event in recorded:
        enrolment.project(conn, event)
