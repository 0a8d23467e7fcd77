"""Electronic copies' entrypoints (Decree 30 Art. 25-28), mixed into
``DocsService``: the rules in ``copies``, the transaction in ``commands.copy``;
the copying agency's signature is signing's (``copy_pdf``)."""

import base64
import io
import uuid
from datetime import date

from services.docs import commands, copies
from shared.documents import file_key
from shared.edge.rpc import rpc
from shared.envelope import thaw
from shared.errors import Forbidden
from shared.failpoints import failpoint
from shared.objectstore import PdfCheck
from shared.values import checked_uuid


class CopiesDocuments:
    @rpc
    def copy_document(self, document_id, request):
        """A clerk of an agency holding the document copies it: ``{"form": "SY" |
        "SL" | "TrS", "pages": [1, 3] (TrS), "source_copy": id (SL: a sao y),
        "agency_abbreviation": ... (a recipient's)}``. The number is taken, the
        copy signed by the agency (signing's ``copy_pdf``, with the caller's
        assertion), stored and registered in one transaction (``commands.copy``)."""
        actor = self.auth.actor()
        document_id = checked_uuid(document_id, "document_id")
        wanted = copies.check_request(request)
        copy_id = str(uuid.uuid4())
        key = file_key(document_id, f"copies/{copy_id}.pdf")
        stored = []

        def make(source, notation, copied_at):
            with self.auth.onward() as services:
                made = services.signing.copy_pdf(document_id, source, wanted["form"], notation,
                                                 wanted["pages"], copied_at.isoformat())
            data = base64.b64decode(made["pdf"])
            stored.append(self.files.put_stream(key, io.BytesIO(data), max_size=len(data),
                                                check=PdfCheck()))
            failpoint("docs.copy.after_upload")  # stored, no event names it yet
            return stored[-1].to_dict()

        upload = self.uploads.begin(key, copies.stream_of(copy_id))
        try:
            recorded = commands.copy(self.store, self.log, document_id, copy_id, wanted, actor,
                                     make, within=self._settle(upload))
        except BaseException as err:
            self.uploads.abandon([upload], stored, err)
            raise
        self._lock_files([recorded.data["file"]], self.settings.retention_days)
        return _copy_answer(thaw(recorded.data))

    @rpc
    def copies(self, document_id):
        """The copies of the document the caller's agency made (auditors: all)."""
        actor = self.auth.actor()
        document = self._readable(document_id, actor)
        return [_copy_answer(c) for c in commands.copies_of(self.store, document, actor)]

    @rpc
    def copy_file_url(self, document_id, copy_id):
        """A short-lived pre-signed URL of one of the agency's copies."""
        actor = self.auth.actor()
        document = self._readable(document_id, actor)
        if actor.role not in ("clerk", "leader", "auditor"):
            raise Forbidden("role: this role does not download files", field="role")
        found = commands.copy_of(self.store, document, copy_id, actor)
        return self.files.presigned_get(found["file"]["key"],
                                        version_id=found["file"]["version_id"])


COPY_ANSWER = ("copy_id", "document_id", "agency", "form", "number", "year",
               "number_notation", "pages", "source_copy_id", "file", "copied_at", "copied_by")


def _copy_answer(found):
    answer = {k: found.get(k) for k in COPY_ANSWER}
    if isinstance(answer["copied_at"], date):
        answer["copied_at"] = answer["copied_at"].isoformat()
    return answer
