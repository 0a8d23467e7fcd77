"""The copying agency's signature on an electronic copy (Decree 30 Art. 25-28),
mixed into ``SigningService``: docs numbers and registers the copy, and asks
for its PDF here with the caller's assertion."""

import base64
from datetime import datetime

from services.signing import authority, pades
from shared.auth import require_role
from shared.documents import document_prefix
from shared.edge.rpc import rpc
from shared.errors import ValidationFailed
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
