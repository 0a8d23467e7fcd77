"""The copying agency's signature on an electronic copy (Decree 30 Art. 25-28),
mixed into ``SigningService``: docs numbers and registers the copy, and asks
for its PDF here with the caller's assertion."""

import base64
from datetime import datetime

from services.signing import authority, pades, verification
from shared.auth import require_role
from shared.documents import document_prefix
from shared.edge.rpc import rpc
from shared.errors import NotFound, ValidationFailed
from shared.green import run_cpu


class MakesCopies:
    @rpc
    def copy_pdf(self, document_id, source, form, number_notation, pages, copied_at):
        """The copy (Decree 30 Art. 25-28) of ``source``, one of the document's files,
        signed by the caller's agency over its mark (``pades.copy_document``); the
        PDF in base64. Called by docs' ``copy_document`` only (its onward
        assertion), which checked who holds the document, took the number and
        registers what this returns in the same transaction."""
        actor = require_role(self.auth.actor(), "clerk")
        if not isinstance(source, dict) or not str(source.get("key", "")).startswith(
                document_prefix(str(document_id))):
            raise ValidationFailed("source: not a file of this document", field="source")
        pdf = self._fetch(source, source["sha256"])
        with self.events.transaction() as conn:
            identity = self.pki.authority.identity(conn, actor.agency, actor.agency,
                                                   authority.AGENCY_ROLE, actor.agency)
            long_term = self.pki.authority.long_term(conn)
        made = run_cpu(pades.copy_document, pdf, identity, form, number_notation,
                       datetime.fromisoformat(copied_at), pages,
                       timestamper_url=self.pki.tsa_url, long_term=long_term, archive=True)
        return {"pdf": base64.b64encode(made).decode("ascii")}

    @rpc
    def verify_copy(self, document_id, copy_id):
        """Every signature check of one of the document's copies, explained: for a
        sao y the leader's and the issuing agency's signatures, then the copying
        agency's (a sao lục: its sao y's too); for a trích sao the copying
        agency's alone. Certifications are read as Acrobat does (a copy's mark is
        a new visible signature field: ``verification.ACROBAT_DIFF_POLICY``).
        Only those docs shows the copy to (its agency's readers, auditors)."""
        with self.auth.onward() as services:
            document = services.docs.get_document(document_id)
            found = next((c for c in services.docs.copies(document_id)
                          if c["copy_id"] == str(copy_id)), None)
        if found is None:
            raise NotFound(f"copy {copy_id} of this document does not exist", field="copy_id")
        pdf = self._fetch(found["file"], found["file"]["sha256"])
        issuer, copier = document["issuing_agency"], found["agency"]
        agencies = {"SY": [issuer, issuer, copier], "SL": [issuer, issuer, copier, copier],
                    "TrS": [copier]}[found["form"]]
        roles = ["leader", *["agency"] * (len(agencies) - 1)] if found["form"] != "TrS" \
            else ["agency"]
        with self.events.transaction() as conn:
            crl = self.pki.authority.crl(conn)
        roots = [self.pki.authority.ca.certificate, *self.pki.trust.certificates()]
        report = run_cpu(verification.verify_pdf, pdf, roots, [crl, *self.pki.trust.crls()],
                         {"agencies": agencies, "roles": roles, "new_visible_fields": True})
        return {"document_id": str(document_id), "copy_id": found["copy_id"],
                "number_notation": found["number_notation"], "file": found["file"],
                "ok": bool(report["ok"]), "pdf": verification.jsonable(report)}
