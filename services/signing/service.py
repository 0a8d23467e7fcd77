"""nameko entrypoints of the signing service: approval, PAdES signatures, verification.

The CPU work (PAdES, CMS, verification) runs off the eventlet hub in a real
thread (``run_cpu``); files come from and go to the bucket the docs service
uses, each signature a new object, never an overwrite.

Those threads share one core (the GIL): one instance makes about 60 PAdES
signatures a second. To use more cores, run more instances (one per core):
they compete on the same queues (tests/e2e/test_multi_instance.py), and each
keeps its own caches of sizes and appearances (pades). A process pool inside
one instance would have to hand private keys and 1 MB PDFs across processes
under eventlet, for what a second instance gives without code.
"""

import base64
import hashlib
import io
import logging
from datetime import datetime

import eventlet

from cryptography.hazmat.primitives import serialization

from services.signing import authority, commands, domain, manifest, pades, verification
from services.signing.dependencies import SigningAuthority
from services.signing.devices import SignsWithDevices
from services.signing.enrolling import EnrolsWithRequests
from services.signing.copying import MakesCopies
from services.signing.packages import SignsPackages
from services.signing.settings import SigningSettings
from services.signing.store import MIGRATIONS, SigningStore
from shared import scope
from shared import uploads
from shared.auth import require_role
from shared.config import SettingsProvider
from shared.documents import file_key
from shared.edge.authenticator import Authenticator
from shared.edge.handlers import event_handler
from shared.edge.mixins import DeadLetters, Health
from shared.edge.providers import EventStoreProvider, ObjectStoreProvider, SweepsUploads
from shared.edge.rpc import rpc
from shared.envelope import AGENCY_CODE, thaw
from shared.errors import NotFound, StorageError, ValidationFailed
from shared.failpoints import failpoint
from shared.green import run_cpu
from shared.objectstore import OwnContent, PdfCheck

log = logging.getLogger(__name__)
# How long a seal waits for the number docs gives once the leader has signed.
NUMBER_WAIT_SECONDS = 5


class SigningService(Health, DeadLetters, SweepsUploads, SignsWithDevices,
                     EnrolsWithRequests, SignsPackages, MakesCopies):
    name = domain.SERVICE

    events = EventStoreProvider(migrations=(uploads.MIGRATIONS, MIGRATIONS))
    auth = Authenticator()
    pki = SigningAuthority()
    files = ObjectStoreProvider()
    settings = SettingsProvider(SigningSettings)

    @property
    def store(self):
        """The projection's rows, in this worker's service schema."""
        return SigningStore(self.events.db, self.events.writing)

    @property
    def log(self):
        return self.events.store

    @event_handler("docs", "DocumentSubmitted", requeue_on_error=True)
    def on_document_submitted(self, payload):
        self.events.handle_once("signing.on_document_submitted", payload,
                                self.store.submitted)

    @event_handler("docs", "DocumentNumbered", requeue_on_error=True)
    def on_document_numbered(self, payload):
        """The number, date and place docs' register gave once the leader signed:
        the seal writes them on the page (``seal_document`` waits for them)."""
        self.events.handle_once("signing.on_document_numbered", payload,
                                self.store.numbered)

    # -- the leader ---------------------------------------------------------------------

    @rpc
    def sign_document(self, document_id):
        """The named leader approves: a visible PAdES signature with their own key."""
        actor = self.auth.actor()
        document = self._document(document_id)
        domain.check_leader(document, actor)
        signer = document["signer"]
        with self.events.transaction() as conn:
            identity = self.pki.authority.identity(conn, actor.user_id, actor.agency, "leader",
                                                   signer["full_name"])
            long_term = self.pki.authority.long_term(conn)
        pdf = self._fetch(document["file"], document["sha256"])
        signed = run_cpu(pades.sign_as_leader, pdf, identity, signer["position"],
                         signer["full_name"], signer.get("competence", ""),
                         on_behalf_of=signer.get("on_behalf_of"),
                         deputy_for=signer.get("deputy_for"), timestamper_url=self.pki.tsa_url,
                         long_term=long_term)
        intents = []
        stored = self._store(document_id, "signed.pdf", signed, intents=intents)
        recorded = self._undo_on_failure(
            [stored], intents, commands.record_signature, self.store, self.log, document_id,
            stored, authority.certificate_info(identity), actor, within=self._settle(intents))
        return {"document_id": str(document_id), "event_id": recorded.event_id,
                "key_id": recorded.data["key_id"], "certificate": thaw(
                    recorded.data["certificate"]), "signed_file": stored}

    @rpc
    def return_document(self, document_id, comment):
        """The named leader returns the draft for revision, saying why."""
        recorded = commands.return_document(self.store, self.log, document_id, comment,
                                            self.auth.actor())
        return {"document_id": str(document_id), "event_id": recorded.event_id,
                "state": domain.RETURNED}

    # -- the clerk: the agency's signature ----------------------------------------------

    @rpc
    def seal_document(self, document_id):
        """A clerk of the issuing agency adds the agency's signature, after the leader's,
        over the number, place and date it writes on page one in the same revision
        (what docs' register gave once the leader signed). Before they reach this
        service: Conflict "chưa cấp số" (field ``number``), after a short wait."""
        actor = self.auth.actor()
        document = commands.numbered_document(self.store, document_id, actor,
                                              NUMBER_WAIT_SECONDS, eventlet.sleep)
        with self.events.transaction() as conn:
            identity = self._agency_identity(conn, document)
            long_term = self.pki.authority.long_term(conn)
        signed = self._fetch(document["signed_file"], document["signed_file"]["sha256"])
        numbering = document["numbering"]
        # The last signature before docs issues it: B-LTA, an archive time stamp after it.
        sealed = run_cpu(pades.seal_as_agency, signed, identity,
                         timestamper_url=self.pki.tsa_url, long_term=long_term, archive=True,
                         number_notation=numbering["number_notation"],
                         issued_at=datetime.fromisoformat(numbering["numbered_at"]),
                         place=numbering["place"])
        intents = []
        stored = self._store(document_id, "sealed.pdf", sealed, intents=intents)
        recorded = self._undo_on_failure(
            [stored], intents, commands.record_seal, self.store, self.log, document_id,
            stored, authority.certificate_info(identity), actor, within=self._settle(intents))
        return {"document_id": str(document_id), "event_id": recorded.event_id,
                "key_id": recorded.data["key_id"], "sealed_file": stored}

    @event_handler("docs", "DocumentIssued", requeue_on_error=True)
    def on_document_issued(self, payload):
        """With its number given: each PDF appendix gets the agency's invisible signature
        with the number and time, and the manifest of the final files is signed."""
        def effects(event, conn):
            data = thaw(event.data)
            document = self.store.row(conn, data["document_id"], lock=True)
            if document is None or document["state"] != domain.SEALED:
                raise ValueError(f"issued document {data['document_id']} is not sealed here")
            if document["manifest"]:
                return  # finalized already
            identity = self._agency_identity(conn, document)
            stored, intents = [], []
            try:
                attachments = self._seal_appendices(
                    document, data["number_notation"], identity,
                    self.pki.authority.long_term(conn), stored, intents)
                body = manifest.manifest_bytes(domain.manifest_of(
                    document, data["number_notation"], attachments))
                stored.append(self._store(document["document_id"], "manifest.json", body,
                                          "application/json", intents=intents))
                signature = run_cpu(manifest.sign_manifest, body, identity)
                stored.append(self._store(document["document_id"], "manifest.p7s", signature,
                                          "application/pkcs7-signature", intents=intents))
                self._settle(intents)(conn)
                commands.finalize(conn, self.store, self.log, document,
                                  data["number_notation"], attachments, stored[-2],
                                  stored[-1], authority.certificate_info(identity), event)
            except BaseException as err:
                self.uploads.abandon(intents, stored, err)
                raise

        self.events.handle_once("signing.on_document_issued", payload, effects)

    def _seal_appendices(self, document, number_notation, identity, long_term, stored,
                         intents):
        """The appendices as sent: each PDF sealed (B-LTA) with the number, others as
        they are."""
        final = []
        for index, attachment in enumerate(document["attachments"]):
            if attachment["content_type"] != "application/pdf":
                final.append({**attachment, "sealed": False})
                continue
            pdf = self._fetch(attachment, attachment["sha256"])
            sealed = run_cpu(pades.seal_appendix, pdf, identity, number_notation,
                             timestamper_url=self.pki.tsa_url, long_term=long_term,
                             archive=True)
            stored.append(self._store(document["document_id"],
                                      f"attachments/{index:03d}-sealed.pdf", sealed,
                                      intents=intents))
            final.append({**stored[-1], "name": attachment["name"], "sealed": True})
        return final

    def _agency_identity(self, conn, document):
        agency = document["issuing_agency"]
        return self.pki.authority.identity(conn, agency, agency, authority.AGENCY_ROLE, agency)

    # -- anyone who may read the document: verification ----------------------------------

    @rpc
    def verify_document(self, document_id):
        """Check the document's signatures and its manifest, explaining each check.

        The caller must be allowed to read the document (the docs service
        decides); the file checked is the one docs hands out.
        """
        document = self._readable(document_id)
        pdf = self._fetch(document["file"], document["file"]["sha256"])
        with self.events.transaction() as conn:
            crl = self.pki.authority.crl(conn)
            row = self.store.manifest_files(conn, document_id)
            own = self.store.row(conn, document_id)
        # The platform's root, and those the operator trusts too (TRUST_ROOTS).
        roots = [self.pki.authority.ca.certificate, *self.pki.trust.certificates()]
        crls = [crl, *self.pki.trust.crls()]
        agency = document["issuing_agency"]
        report = run_cpu(verification.verify_pdf, pdf, roots, crls, {
            "agency_code": agency, "roles": ["leader", "agency"],
            **domain.expected_number(document, own)})
        result = {"document_id": str(document_id), "file": document["file"],
                  "pdf": verification.jsonable(report), "manifest": None}
        if row[0]:
            body = self._fetch(row[0], row[0]["sha256"])
            signature = self._fetch(row[1], row[1]["sha256"])
            result["manifest"] = verification.jsonable(run_cpu(
                verification.verify_manifest, body, signature, roots, crls,
                {"agency_code": agency, "role": "agency"}))
        result["ok"] = bool(report["ok"] and result["manifest"] and result["manifest"]["ok"])
        return result

    @rpc
    def manifest_urls(self, document_id):
        """Short-lived URLs of the signed manifest and its detached CMS signature."""
        # Only those docs lets download the document: readers, and not at a
        # recipient whose copy was recalled (the rule of docs' file URLs).
        with self.auth.onward() as services:
            services.docs.file_url(document_id)
        document = self._document(document_id)
        if not document["manifest"]:
            raise NotFound(f"document {document_id} is not sealed yet", field="document_id")
        return {kind: self.files.presigned_get(stored["key"], version_id=stored["version_id"])
                for kind, stored in (("json", document["manifest"]),
                                     ("p7s", document["manifest_signature"]))}

    @rpc
    def trust_anchor(self):
        """The root certificate (PEM) and the current CRL (base64 DER), for anyone to
        check signatures with their own tools."""
        self.auth.actor()
        with self.events.transaction() as conn:
            crl = self.pki.authority.crl(conn)
        return {"root_certificate": self.pki.authority.ca.certificate.public_bytes(
            serialization.Encoding.PEM).decode(), "crl": base64.b64encode(crl).decode(),
            "tsa_url": self.pki.tsa_url}

    # -- administrators: certificates -------------------------------------------------------

    @rpc
    def enroll(self, holder, agency, role, full_name, public_key=None):
        """A certificate for ``holder`` of ``agency``: its own agency's admin only;
        for ``public_key`` (PEM) if given, a key only the holder has (their token)."""
        actor = require_role(self.auth.actor(), "admin")
        _check_agency(agency)
        scope.own_agency(actor, agency)
        with self.events.transaction() as conn:
            identity = self.pki.authority.enroll(conn, holder, agency, role, full_name,
                                                 public_key)
        info = authority.certificate_info(identity)
        if public_key is not None:  # for the holder to keep beside their key
            info["pem"] = identity.public_bytes(serialization.Encoding.PEM).decode()
        return info

    @rpc
    def revoke_certificate(self, serial, reason="keyCompromise"):
        """Revoke one of its own agency's certificates (admins)."""
        actor = require_role(self.auth.actor(), "admin")
        with self.events.transaction() as conn:
            revoked_at = self.pki.authority.revoke(
                conn, serial, reason, check=lambda agency: scope.own_agency(
                    actor, agency, field="serial"))
        return {"serial": serial, "revoked_at": revoked_at.isoformat(), "reason": reason}

    @rpc
    def certificates(self, agency=None):
        """Certificates issued: auditors see any agency's; an admin its own
        (``agency`` defaults to it)."""
        actor = require_role(self.auth.actor(), "admin", "auditor")
        if actor.role == "admin":
            agency = actor.agency if agency is None else agency
            scope.own_agency(actor, agency)
        with self.events.transaction() as conn:
            return self.pki.authority.certificates(conn, agency)

    @rpc
    def state_summary(self):
        """Every document as this service knows it, sorted by id (auditors only).

        ``sha256`` is the last file this service produced (sealed, else
        signed), else the one submitted; the key id is the leader's
        certificate's, as its ``DocumentSigned`` event names it.
        """
        require_role(self.auth.actor(), "auditor")
        with self.events.transaction() as conn:
            documents, signatures = self.store.summary(conn), self.store.signatures(conn)
        return [domain.summary_row(document_id, documents.get(document_id), signatures)
                for document_id in sorted(set(documents) | set(signatures))]

    # -- helpers ----------------------------------------------------------------------------

    def _readable(self, document_id):
        """The document as docs hands it to the caller, if they may read it (docs
        decides), asked with the assertion the gateway made for that call."""
        with self.auth.onward() as services:
            return services.docs.get_document(document_id)

    def _document(self, document_id):
        return commands.submitted_document(self.store, document_id)

    def _undo_on_failure(self, undo, intents, use_case, *args, **kwargs):
        """Run the use case; on any failure remove the objects in ``undo`` (the
        files made for it) and hand their upload ``intents`` to the sweeper:
        nothing half-done stays."""
        try:
            return use_case(*args, **kwargs)
        except BaseException as err:
            self.uploads.abandon(intents, undo, err)
            raise

    def _fetch(self, stored, sha256):
        """A stored file's bytes, refused if they are not the ones recorded."""
        limit = self.settings.max_sign_bytes
        if stored["size"] > limit:
            raise ValidationFailed(f"file: {stored['size']} bytes, over the signing limit"
                                   f" of {limit}", field="file")
        response = self.files.open(stored["key"], version_id=stored.get("version_id"))
        try:
            data = response.read()
        finally:
            response.close()
        if run_cpu(_sha256, data) != sha256:
            raise StorageError(f"file: the stored {stored['key']} is not the file recorded"
                               " (its SHA-256 differs): refusing to sign or verify it")
        return data

    def _store(self, document_id, name, data, content_type="application/pdf", *, intents):
        """Store ``data`` as the document's file ``name``, its upload intent
        added to ``intents`` (the command settles them when it commits)."""
        check = PdfCheck() if content_type == "application/pdf" else OwnContent(content_type)
        key = file_key(document_id, name)
        intent = self.uploads.begin(key, domain.stream_of(document_id))
        try:
            stored = self.files.put_stream(key, io.BytesIO(data), max_size=len(data),
                                           check=check)
            failpoint("signing.store.after_upload")  # stored, no event names it yet
        except BaseException as err:
            self.uploads.end(intent, clean=not isinstance(err, StorageError))
            raise
        intents.append(intent)
        return stored.to_dict()

    def _settle(self, intents):
        """What the use case's transaction runs first: the files' intents settled."""
        def settle(conn):
            for intent in intents:
                self.uploads.settle(conn, intent)
        return settle

def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _check_agency(code):
    if not isinstance(code, str) or not AGENCY_CODE.match(code):
        raise ValidationFailed("agency: not an agency code of the form XXX.XX.XX.Ynn",
                               field="agency")
