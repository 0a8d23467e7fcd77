"""nameko entrypoints of the signing service."""

import base64
import json
import os
import uuid

from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from services.signing import domain
from services.signing.keys import DevSigner
from shared.auth import require_role
from shared.envelope import AGENCY_CODE, thaw
from shared.errors import NotFound, ValidationFailed
from shared.green import run_cpu
from shared.nameko_ext import Health, Authenticator, EventStoreProvider

DDL = """
CREATE TABLE IF NOT EXISTS documents (
    document_id    uuid PRIMARY KEY,
    issuing_agency text NOT NULL,
    sha256         text NOT NULL,
    signer_user    text NOT NULL,
    signer         jsonb NOT NULL,
    round          integer NOT NULL,
    state          text NOT NULL,
    signature      text
);
"""


class SigningKey(DependencyProvider):
    """Config: ``SIGNING_KEY_FILE`` (encrypted PEM) and ``SIGNING_KEY_PASSPHRASE``;
    agencies' keys in ``AGENCY_KEYS_DIR``, one encrypted PEM per agency."""

    def setup(self):
        c = self.container.config
        self.passphrase = str(c["SIGNING_KEY_PASSPHRASE"])
        self.signer = DevSigner.load_or_create(c["SIGNING_KEY_FILE"], self.passphrase)
        self.agency_dir = c.get("AGENCY_KEYS_DIR", "var/keys/agencies")
        self.agencies = {}

    def agency(self, code):
        if code not in self.agencies:
            path = os.path.join(self.agency_dir, f"{code}.pem")
            self.agencies[code] = DevSigner.load_or_create(path, self.passphrase)
        return self.agencies[code]

    def get_dependency(self, worker_ctx):
        return self


class SigningService(Health):
    name = domain.SERVICE

    events = EventStoreProvider(ddl=DDL)
    auth = Authenticator()
    keys = SigningKey()

    @event_handler("docs", "DocumentSubmitted", requeue_on_error=True)
    def on_document_submitted(self, payload):
        def effects(event, conn):
            d = event.data
            # A later round (resubmitted after a return) replaces an earlier one.
            conn.execute(
                "INSERT INTO documents VALUES (%s, %s, %s, %s, %s, %s, %s, NULL)"
                " ON CONFLICT (document_id) DO UPDATE SET sha256 = EXCLUDED.sha256,"
                " signer_user = EXCLUDED.signer_user, signer = EXCLUDED.signer,"
                " round = EXCLUDED.round, state = EXCLUDED.state"
                " WHERE documents.round < EXCLUDED.round",
                (d["document_id"], d["issuing_agency"], d["sha256"], d["signer_user"],
                 json.dumps(thaw(d["signer"]), ensure_ascii=False), d["round"], domain.SUBMITTED))

        self.events.handle_once("signing.on_document_submitted", payload, effects)

    @rpc
    def sign_document(self, document_id):
        """The named leader approves and signs the submitted file's SHA-256."""
        actor = self.auth.actor()

        def attempt(conn, document):
            domain.check_leader(document, actor)
            message = domain.signed_message(document["document_id"], document["sha256"])
            signature = base64.b64encode(run_cpu(self.keys.signer.sign, message)).decode()
            event = domain.document_signed(document, self.keys.signer, signature, actor)
            return event, (domain.SIGNED, signature)

        recorded = self._command(document_id, attempt)
        return {"document_id": str(document_id), "event_id": recorded.event_id,
                "key_id": recorded.data["key_id"], "signature": recorded.data["signature"]}

    @rpc
    def return_document(self, document_id, comment):
        """The named leader returns the draft for revision, saying why."""
        actor = self.auth.actor()

        def attempt(conn, document):
            domain.check_leader(document, actor)
            return domain.document_returned(document, comment, actor), (domain.RETURNED, None)

        recorded = self._command(document_id, attempt)
        return {"document_id": str(document_id), "event_id": recorded.event_id,
                "state": domain.RETURNED}

    @rpc
    def seal_document(self, document_id):
        """A clerk of the issuing agency applies the agency's signature after the leader's."""
        actor = self.auth.actor()

        def attempt(conn, document):
            domain.check_may_seal(document, actor)
            agency = self.keys.agency(document["issuing_agency"])
            message = domain.seal_message(document["document_id"], document["sha256"],
                                          document["signature"])
            signature = base64.b64encode(run_cpu(agency.sign, message)).decode()
            event = domain.document_sealed(document, agency, signature, actor)
            return event, (domain.SEALED, document["signature"])

        recorded = self._command(document_id, attempt)
        return {"document_id": str(document_id), "event_id": recorded.event_id,
                "key_id": recorded.data["key_id"], "signature": recorded.data["signature"]}

    @rpc
    def public_key(self, agency=None):
        """The leaders' signing key, or with ``agency`` that agency's seal key."""
        self.auth.actor()
        signer = self.keys.agency(_agency(agency)) if agency else self.keys.signer
        return {"algorithm": signer.algorithm, "key_id": signer.key_id,
                "public_key": signer.public_key_b64}

    @rpc
    def state_summary(self):
        """Every document as this service knows it, sorted by id (auditors only).

        A document is signed once its ``DocumentSigned`` event is stored; the
        key id is the one that event names.
        """
        require_role(self.auth.actor(), "auditor")
        prefix = domain.stream_of("")
        with self.events.transaction() as conn:
            documents = {str(r[0]): r for r in conn.execute(
                "SELECT document_id, issuing_agency, sha256, state FROM documents")}
            signatures = {}
            for stream_id, key_id in conn.execute(
                    "SELECT stream_id, envelope->'data'->>'key_id' FROM events"
                    " WHERE starts_with(stream_id, %s)"
                    " AND envelope->>'event_type' = 'DocumentSigned'", (prefix,)):
                signatures[stream_id[len(prefix):]] = key_id
        summary = []
        for document_id in sorted(set(documents) | set(signatures)):
            row = documents.get(document_id)
            summary.append({
                "document_id": document_id,
                "issuing_agency": row[1] if row else None,
                "sha256": row[2] if row else None,
                "signed": document_id in signatures,
                "sealed": bool(row and row[3] == domain.SEALED),
                "key_id": signatures.get(document_id),
            })
        return summary

    def _command(self, document_id, attempt):
        try:
            uuid.UUID(str(document_id))
        except ValueError:
            raise ValidationFailed("document_id: not a UUID", field="document_id") from None
        with self.events.transaction() as conn:
            row = conn.execute(
                "SELECT issuing_agency, sha256, signer_user, signer, round, state, signature"
                " FROM documents WHERE document_id = %s FOR UPDATE", (document_id,)).fetchone()
            if row is None:
                raise NotFound(f"document {document_id} was never submitted for approval (or"
                               " the signing service has not heard of it yet)",
                               field="document_id")
            document = dict(zip(("issuing_agency", "sha256", "signer_user", "signer", "round",
                                 "state", "signature"), row), document_id=str(document_id))
            event, (state, signature) = attempt(conn, document)
            stream = event.stream_id
            [recorded] = self.events.append(
                stream, self.events.store.stream_version(stream, conn=conn), [event], conn=conn)
            conn.execute("UPDATE documents SET state = %s, signature = %s"
                         " WHERE document_id = %s", (state, signature, document_id))
        return recorded


def _agency(code):
    if not isinstance(code, str) or not AGENCY_CODE.match(code):
        raise ValidationFailed("agency: not an agency code of the form XXX.XX.XX.Ynn",
                               field="agency")
    return code
