"""nameko entrypoints of the routing service."""

import json

from nameko.events import event_handler
from nameko.rpc import rpc

from services.routing import domain
from shared.auth import require_role
from shared.nameko_ext import Health, Authenticator, EventStoreProvider

DDL = """
-- Halves of a consignment, in whichever order they arrive.
CREATE TABLE IF NOT EXISTS consignments (
    document_id uuid PRIMARY KEY,
    registered  jsonb,
    signed      jsonb,
    dispatched  boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS inbox_items (
    document_id  uuid NOT NULL,
    recipient    text NOT NULL,
    sender       text NOT NULL,
    sha256       text NOT NULL,
    delivered_at timestamptz NOT NULL,
    PRIMARY KEY (document_id, recipient)
);
"""


class RoutingService(Health):
    name = domain.SERVICE

    events = EventStoreProvider(ddl=DDL)
    auth = Authenticator()

    @event_handler("docs", "DocumentRegistered", requeue_on_error=True)
    def on_document_registered(self, payload):
        self.events.handle_once("routing.on_document_registered", payload,
                                lambda event, conn: self._record(event, "registered", conn))

    @event_handler("signing", "DocumentSigned", requeue_on_error=True)
    def on_document_signed(self, payload):
        self.events.handle_once("routing.on_document_signed", payload,
                                lambda event, conn: self._record(event, "signed", conn))

    @rpc
    def inbox(self):
        """Documents delivered to the caller's agency, newest first."""
        actor = self.auth.actor()
        with self.events.transaction() as conn:
            rows = conn.execute(
                "SELECT document_id, sender, sha256, delivered_at FROM inbox_items"
                " WHERE recipient = %s ORDER BY delivered_at DESC", (actor.agency,)).fetchall()
        return [{"document_id": str(r[0]), "sender": r[1], "sha256": r[2],
                 "delivered_at": r[3].isoformat()} for r in rows]

    @rpc
    def state_summary(self):
        """Every document as this service knows it, sorted by id (auditors only).

        The agencies it was delivered to (the inbox items) and, when delivery
        was refused, the reason its ``DeliveryRefused`` event gives.
        """
        require_role(self.auth.actor(), "auditor")
        with self.events.transaction() as conn:
            known = {str(r[0]) for r in conn.execute("SELECT document_id FROM consignments")}
            delivered = {}
            for document_id, recipient in conn.execute(
                    "SELECT document_id, recipient FROM inbox_items"):
                delivered.setdefault(str(document_id), []).append(recipient)
            refused = {}
            for document_id, reason in conn.execute(
                    "SELECT envelope->'data'->>'document_id', envelope->'data'->>'reason'"
                    " FROM events WHERE event_type = 'DeliveryRefused' ORDER BY position"):
                refused.setdefault(document_id, reason)
        return [{"document_id": document_id,
                 "delivered_to": sorted(delivered.get(document_id, [])),
                 "refused": refused.get(document_id)}
                for document_id in sorted(known | set(delivered) | set(refused))]

    def _record(self, event, half, conn):
        # The upsert locks the consignment row: two halves arriving at once are
        # applied one after the other, and the second sees the first.
        row = conn.execute(
            f"INSERT INTO consignments (document_id, {half}) VALUES (%s, %s)"
            f" ON CONFLICT (document_id) DO UPDATE SET {half} = EXCLUDED.{half}"
            " RETURNING registered, signed, dispatched",
            (event.data["document_id"], json.dumps(event.to_dict(), ensure_ascii=False)),
        ).fetchone()
        registered, signed, dispatched = row
        if registered is None or signed is None or dispatched:
            return
        events = domain.deliveries_for(registered["data"], signed["data"], causation=event)
        stored = self.events.append(domain.stream_of(event.data["document_id"]), 0, events,
                                    conn=conn)
        for e in stored:
            if e.event_type == "DocumentDelivered":
                conn.execute("INSERT INTO inbox_items VALUES (%s, %s, %s, %s, %s)",
                             (e.data["document_id"], e.data["recipient"], e.data["sender"],
                              e.data["sha256"], e.occurred_at))
        conn.execute("UPDATE consignments SET dispatched = true WHERE document_id = %s",
                     (event.data["document_id"],))
