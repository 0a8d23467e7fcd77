"""nameko entrypoints of the audit service.

The log table is its own inbox: an event id is unique in it, so an event
delivered twice is appended once. Appends take the chain head's row lock, so
entries are chained one at a time in one total order.
"""

import json
import uuid

from nameko.events import event_handler
from nameko.rpc import rpc

from services.audit import chain
from shared.auth import require_role
from shared.envelope import event_from_dict
from shared.errors import ValidationFailed
from shared.nameko_ext import Health, Authenticator, EventStoreProvider
from shared.topology import ALL

SERVICE = "audit"

DDL = """
CREATE TABLE IF NOT EXISTS log (
    seq         bigint PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    producer    text NOT NULL,
    event_type  text NOT NULL,
    stream_id   text NOT NULL,
    document_id text,
    envelope    jsonb NOT NULL,
    entry_hash  bytea NOT NULL,
    chain_hash  bytea NOT NULL,
    appended_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS log_document ON log (document_id, seq);
CREATE TABLE IF NOT EXISTS chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint NOT NULL,
    hash      bytea NOT NULL
);
INSERT INTO chain_head VALUES (true, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000')
    ON CONFLICT DO NOTHING;
"""


class AuditService(Health):
    name = SERVICE

    # Audit stores no events of its own: no relay.
    events = EventStoreProvider(ddl=DDL, relay=False)
    auth = Authenticator()

    @event_handler("docs", ALL, requeue_on_error=True)
    def on_docs_event(self, payload):
        self._append(payload)

    @event_handler("signing", ALL, requeue_on_error=True)
    def on_signing_event(self, payload):
        self._append(payload)

    @event_handler("routing", ALL, requeue_on_error=True)
    def on_routing_event(self, payload):
        self._append(payload)

    @rpc
    def history(self, document_id):
        """Every logged event about one document, in log order (auditors only)."""
        require_role(self.auth.actor(), "auditor")
        try:
            document_id = str(uuid.UUID(str(document_id)))
        except ValueError:
            raise ValidationFailed("document_id: not a UUID", field="document_id") from None
        with self.events.transaction() as conn:
            rows = conn.execute(
                "SELECT seq, envelope FROM log WHERE document_id = %s ORDER BY seq",
                (str(document_id),)).fetchall()
        return [{"seq": seq, **envelope} for seq, envelope in rows]

    @rpc
    def verify(self):
        """Recompute the whole chain; say where it first breaks, if it does."""
        require_role(self.auth.actor(), "auditor")
        with self.events.db.connection() as conn:
            with conn.transaction(), conn.cursor(name="verify") as cur:
                cur.itersize = 2000
                cur.execute("SELECT seq, envelope, entry_hash, chain_hash FROM log ORDER BY seq")
                rows = ((seq, event_from_dict(env), eh, ch) for seq, env, eh, ch in cur)
                return chain.verify(rows).to_dict()

    def _append(self, payload):
        try:
            event = event_from_dict(payload)
        except ValidationFailed as err:
            self.events.quarantine("audit", str(err), payload)
            return
        entry = chain.entry_hash(event)
        with self.events.transaction() as conn:
            seq, previous = conn.execute(
                "SELECT seq, hash FROM chain_head FOR UPDATE").fetchone()
            exists = conn.execute("SELECT 1 FROM log WHERE event_id = %s",
                                  (event.event_id,)).fetchone()
            if exists:
                return
            link = chain.chain_next(bytes(previous), entry)
            conn.execute(
                "INSERT INTO log (seq, event_id, producer, event_type, stream_id, document_id,"
                " envelope, entry_hash, chain_hash) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (seq + 1, event.event_id, event.producer, event.event_type, event.stream_id,
                 event.data.get("document_id"), json.dumps(event.to_dict(), ensure_ascii=False),
                 entry, link))
            conn.execute("UPDATE chain_head SET seq = %s, hash = %s", (seq + 1, link))
