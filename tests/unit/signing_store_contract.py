"""The signing store contract, shared by its adapters' tests (memory, PostgreSQL).

Subclass :class:`SigningStoreContract` with a ``store`` fixture. Each test
uses new document ids, so a shared database is fine.
"""

import uuid

import pytest

from services.signing import domain
from shared.envelope import Actor, new_event

AGENCY = "000.00.00.H41"
CLERK = Actor("van.thu", AGENCY, "clerk")
LEADER = Actor("lanh.dao", AGENCY, "leader")
SIGNER = {"position": "Chủ tịch", "full_name": "Nguyễn Văn An", "competence": "TM."}
CERTIFICATE = {"sha256": "ab" * 32, "subject": "CN=Nguyễn Văn An"}


def a_file(name, sha="ab"):
    return {"key": f"documents/x/{name}", "sha256": sha * 32, "size": 10,
            "content_type": "application/pdf", "version_id": "v1"}


def submitted(document_id=None, round_=1, sha="11"):
    document_id = document_id or str(uuid.uuid4())
    return new_event("DocumentSubmitted", {
        "document_id": document_id, "state": "submitted", "issuing_agency": AGENCY,
        "signer_user": LEADER.user_id, "signer": SIGNER, "round": round_,
        "sha256": sha * 32, "file": a_file("main.pdf", sha),
        "attachments": [dict(a_file("a.pdf", "22"), name="Phụ lục")]},
        actor=CLERK, producer="docs", stream_id=f"document-{document_id}")


def numbered(document_id, number_notation="01/CT-UBND", place="Nghệ An"):
    """docs' ``DocumentNumbered``, as signing receives it once the leader signed."""
    return new_event("DocumentNumbered", {
        "document_id": document_id, "issuing_agency": AGENCY, "number": 1,
        "series": "regular", "year": 2026, "number_notation": number_notation,
        "numbered_at": "2026-12-05T10:00:00+07:00", "place": place},
        actor=CLERK, producer="docs", stream_id=f"document-{document_id}")


class SigningStoreContract:
    @pytest.fixture
    def store(self):
        raise NotImplementedError("an adapter's test class provides the store fixture")

    def recorded(self, store, event, conn):
        """Where an adapter reads its own events back (PostgreSQL: the events
        table), the test class appends ``event`` as the command would."""

    def given(self, store, *events):
        with store.transaction() as conn:
            for event in events:
                if event.event_type == "DocumentSubmitted":
                    store.submitted(event, conn)
                elif event.event_type == "DocumentNumbered":
                    store.numbered(event, conn)
                else:
                    self.recorded(store, event, conn)
                    store.project(event, conn)

    def read(self, store, document_id):
        with store.transaction() as conn:
            return store.row(conn, document_id)

    def test_a_submitted_document_reads_back_as_docs_sent_it(self, store):
        event = submitted()
        document_id = event.data["document_id"]
        self.given(store, event)
        assert self.read(store, document_id) == {
            "document_id": document_id, "issuing_agency": AGENCY, "sha256": "11" * 32,
            "signer_user": LEADER.user_id, "signer": SIGNER, "round": 1,
            "state": domain.SUBMITTED, "file": a_file("main.pdf", "11"),
            "attachments": [dict(a_file("a.pdf", "22"), name="Phụ lục")],
            "signed_file": None, "sealed_file": None, "manifest": None,
            "manifest_signature": None, "numbering": None}
        assert self.read(store, str(uuid.uuid4())) is None

    def test_the_number_docs_gave_is_kept_once(self, store):
        self.given(store, event := submitted())
        document_id = event.data["document_id"]
        self.given(store, numbered(document_id), numbered(document_id, "02/CT-UBND", "X"))
        assert self.read(store, document_id)["numbering"] == {
            "number_notation": "01/CT-UBND", "numbered_at": "2026-12-05T10:00:00+07:00",
            "place": "Nghệ An"}

    def test_a_later_round_replaces_an_earlier_one_and_not_the_other_way(self, store):
        first = submitted(sha="11")
        document_id = first.data["document_id"]
        later = submitted(document_id, round_=2, sha="33")
        self.given(store, first, later, submitted(document_id, round_=1, sha="44"))
        row = self.read(store, document_id)
        assert row["round"] == 2 and row["sha256"] == "33" * 32

    def test_signature_seal_and_finalization_set_their_columns(self, store):
        self.given(store, event := submitted())
        document_id = event.data["document_id"]
        row = self.read(store, document_id)
        self.given(store, domain.document_signed(row, a_file("signed.pdf", "55"),
                                                 CERTIFICATE, LEADER))
        row = self.read(store, document_id)
        assert row["state"] == domain.SIGNED and row["signed_file"]["sha256"] == "55" * 32
        with store.transaction() as conn:
            assert store.signatures(conn)[document_id] == CERTIFICATE["sha256"][:16]
        self.given(store, domain.document_sealed(row, a_file("sealed.pdf", "66"),
                                                 CERTIFICATE, CLERK))
        row = self.read(store, document_id)
        assert row["state"] == domain.SEALED and row["sealed_file"]["sha256"] == "66" * 32
        final = [dict(a_file("a-sealed.pdf", "77"), name="Phụ lục", sealed=True)]
        manifest, signature = a_file("manifest.json", "88"), a_file("manifest.p7s", "99")
        self.given(store, domain.document_finalized(row, "01/CT-UBND", final, manifest,
                                                    signature, CERTIFICATE, event))
        row = self.read(store, document_id)
        assert row["state"] == domain.SEALED and row["attachments"] == final
        with store.transaction() as conn:
            assert store.manifest_files(conn, document_id) == (manifest, signature)
            assert store.summary(conn)[document_id] == {
                "issuing_agency": AGENCY, "sha256": "11" * 32, "state": domain.SEALED,
                "signed_file": a_file("signed.pdf", "55"),
                "sealed_file": a_file("sealed.pdf", "66")}

    def test_a_returned_document_is_returned_and_not_signed(self, store):
        self.given(store, event := submitted())
        row = self.read(store, event.data["document_id"])
        self.given(store, domain.document_returned(row, "Sửa trích yếu", LEADER))
        assert self.read(store, row["document_id"])["state"] == domain.RETURNED
        with store.transaction() as conn:
            assert row["document_id"] not in store.signatures(conn)

    def test_a_failed_transaction_leaves_the_row_as_it_was(self, store):
        self.given(store, event := submitted())
        row = self.read(store, event.data["document_id"])
        with pytest.raises(RuntimeError), store.transaction() as conn:
            store.project(domain.document_returned(row, "Sửa", LEADER), conn)
            raise RuntimeError("the append failed")
        assert self.read(store, row["document_id"]) == row
