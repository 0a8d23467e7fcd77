"""The routing service's projection: its tables, row readers and ``project``.

Two adapters with one interface: :class:`RoutingStore` (PostgreSQL, the
service's schema) and :class:`MemoryRoutingStore` (unit tests, no server);
``tests/unit/routing_store_contract.py`` holds both to it. ``conn`` is the
open transaction's connection (the memory adapter ignores it).

``project(event, conn)`` updates the rows from one of routing's own events
alone (a copy's or a recall's row: that row, the event's change applied by
the core's own fold in ``statuses``). ``follow(event, half, conn)`` keeps
another service's half of a first consignment (docs' ``DocumentIssued``,
signing's ``DocumentFinalized``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from services.routing import codec, domain
from services.routing import statuses as st
from shared.envelope import Event, thaw
from shared.migrations import initial

DDL = """
-- Halves of a document's first consignment, in whichever order they arrive.
CREATE TABLE IF NOT EXISTS consignments (
    document_id uuid PRIMARY KEY,
    registered  jsonb,
    signed      jsonb,
    dispatched  boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS sends (
    consignment_id text PRIMARY KEY,
    document_id    uuid NOT NULL,
    recipients     text[] NOT NULL,
    new_recipients text[] NOT NULL,
    sent_at        timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox_items (
    document_id    uuid NOT NULL,
    recipient      text NOT NULL,
    sender         text NOT NULL,
    sha256         text NOT NULL,
    urgency        smallint NOT NULL,
    consignment_id text NOT NULL,
    delivered_at   timestamptz NOT NULL,
    trace          jsonb NOT NULL,
    PRIMARY KEY (document_id, recipient)
);
CREATE INDEX IF NOT EXISTS inbox_by_recipient ON inbox_items (recipient, urgency DESC, delivered_at);
-- Each recipient's copy: its processing status and history (statuses.DeliveryStatus).
CREATE TABLE IF NOT EXISTS copies (
    document_id uuid NOT NULL,
    recipient   text NOT NULL,
    sender      text NOT NULL,
    state       jsonb NOT NULL,
    PRIMARY KEY (document_id, recipient)
);
CREATE TABLE IF NOT EXISTS recalls (
    document_id uuid NOT NULL,
    recipient   text NOT NULL,
    state       jsonb NOT NULL,
    PRIMARY KEY (document_id, recipient)
);
CREATE TABLE IF NOT EXISTS overdue_reported (
    document_id uuid NOT NULL,
    recipient   text NOT NULL,
    kind        text NOT NULL,
    PRIMARY KEY (document_id, recipient, kind)
);
"""
MIGRATIONS = initial("routing", DDL)  # later changes: MIGRATIONS.then(2, "why", "ALTER ...")


HALVES = ("registered", "signed")


def envelope_json(event: Event) -> dict:
    """An event as the ``consignments`` row keeps it (JSON: what jsonb gives back)."""
    return json.loads(json.dumps(event.to_dict(), ensure_ascii=False,
                                 default=lambda v: v.isoformat()))


def _inbox_item(row: tuple) -> dict:
    document_id, sender, sha256, urgency, at, trace, state = row
    return {"document_id": str(document_id), "sender": sender, "sha256": sha256,
            "urgency": urgency, "delivered_at": at.isoformat(), "trace": trace,
            "status": state["code"], "recalled": state["recalled"]}


def _first_delivery(event: Event) -> st.DeliveryStatus:
    data = event.data
    state, _ = st.delivered(data["document_id"], data["recipient"], sender=data["sender"],
                            at=event.occurred_at)
    return state


def _initial(event: Event) -> bool:
    """Whether a routing event settles the first consignment (``dispatched``)."""
    data = event.data
    return event.event_type == "DeliveryRefused" or (
        event.event_type == "ConsignmentSent"
        and data["consignment_id"] == domain.initial_consignment(data["document_id"]))


class RoutingStore:
    """The PostgreSQL adapter (``db``: a :class:`shared.db.Database` on routing's schema)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self.db.transaction()

    # -- the first consignment's halves --------------------------------------------

    def follow(self, event: Event, half: str, conn: Any) -> dict:
        """Keep ``half`` (``registered`` or ``signed``); the row after it. The
        upsert locks the row: two halves arriving at once are applied one after
        the other, and the second sees the first."""
        if half not in HALVES:
            raise ValueError(f"half: one of {HALVES}, got {half!r}")
        registered, signed, dispatched = conn.execute(
            f"INSERT INTO consignments (document_id, {half}) VALUES (%s, %s)"
            f" ON CONFLICT (document_id) DO UPDATE SET {half} = EXCLUDED.{half}"
            " RETURNING registered, signed, dispatched",
            (event.data["document_id"], json.dumps(envelope_json(event), ensure_ascii=False)),
        ).fetchone()
        return {"registered": registered, "signed": signed, "dispatched": dispatched}

    def consignment(self, conn: Any, document_id: Any) -> dict | None:
        row = conn.execute("SELECT registered, signed, dispatched FROM consignments"
                           " WHERE document_id = %s", (document_id,)).fetchone()
        return dict(zip(("registered", "signed", "dispatched"), row)) if row else None

    def numbered(self, conn: Any, agency: str, number_notation: str,
                 or_id: Any = None) -> list[tuple[str, dict]]:
        """``(document_id, DocumentIssued envelope)`` of each document ``agency``
        issued as ``number_notation`` (any year), and of ``or_id`` if known: one snapshot."""
        return [(str(doc), registered) for doc, registered in conn.execute(
            "SELECT document_id, registered FROM consignments"
            " WHERE (registered -> 'data' ->> 'issuing_agency' = %s"
            " AND registered -> 'data' ->> 'number_notation' = %s)"
            " OR document_id = %s", (agency, number_notation, or_id)).fetchall()]

    def lock_import(self, conn: Any, document_id: str) -> None:
        """One import of a given document at a time (until the transaction ends)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (document_id,))

    # -- sendings, deliveries, copies, recalls -------------------------------------

    def sent(self, conn: Any, consignment_id: str) -> dict | None:
        row = conn.execute("SELECT document_id, recipients, new_recipients FROM sends"
                           " WHERE consignment_id = %s", (consignment_id,)).fetchone()
        return ({"document_id": str(row[0]), "recipients": row[1], "new_recipients": row[2]}
                if row else None)

    def delivered_to(self, conn: Any, document_id: Any) -> set[str]:
        return {r for (r,) in conn.execute(
            "SELECT recipient FROM inbox_items WHERE document_id = %s", (document_id,))}

    def traces(self, conn: Any, document_id: Any) -> list[tuple[str, list]]:
        return [(r, t) for r, t in conn.execute(
            "SELECT recipient, trace FROM inbox_items WHERE document_id = %s"
            " ORDER BY recipient", (document_id,)).fetchall()]

    def inbox(self, conn: Any, agency: str) -> list[dict]:
        """Documents delivered to ``agency``: urgent first, then newest."""
        return [_inbox_item(r) for r in conn.execute(
            "SELECT i.document_id, i.sender, i.sha256, i.urgency, i.delivered_at,"
            " i.trace, c.state FROM inbox_items i JOIN copies c USING (document_id,"
            " recipient) WHERE i.recipient = %s"
            " ORDER BY i.urgency DESC, i.delivered_at DESC", (agency,)).fetchall()]

    def copy(self, conn: Any, document_id: Any, recipient: str,
             lock: bool = False) -> st.DeliveryStatus | None:
        row = conn.execute("SELECT state FROM copies WHERE document_id = %s AND recipient = %s"
                           + (" FOR UPDATE" if lock else ""), (document_id, recipient)).fetchone()
        return codec.status_from_json(row[0]) if row else None

    def copies(self, conn: Any, document_id: Any) -> list[st.DeliveryStatus]:
        """Every copy of the document, by recipient."""
        return [codec.status_from_json(s) for (s,) in conn.execute(
            "SELECT state FROM copies WHERE document_id = %s ORDER BY recipient",
            (document_id,)).fetchall()]

    def recall(self, conn: Any, document_id: Any, recipient: str,
               lock: bool = False) -> st.RecallRequest | None:
        row = conn.execute("SELECT state FROM recalls WHERE document_id = %s AND recipient = %s"
                           + (" FOR UPDATE" if lock else ""), (document_id, recipient)).fetchone()
        return codec.recall_from_json(row[0]) if row else None

    def recalls(self, conn: Any, document_id: Any) -> list[st.RecallRequest]:
        return [codec.recall_from_json(s) for (s,) in conn.execute(
            "SELECT state FROM recalls WHERE document_id = %s ORDER BY recipient",
            (document_id,)).fetchall()]

    def for_deadlines(self, conn: Any, agency: str | None) -> list[dict]:
        """Each copy (of ``agency``, or all) as ``deadlines.overdue`` reads it."""
        rows = conn.execute(
            "SELECT c.document_id, c.recipient, c.state, i.delivered_at, i.urgency,"
            " r.registered -> 'data' ->> 'due_date'"
            " FROM copies c JOIN inbox_items i USING (document_id, recipient)"
            " LEFT JOIN consignments r USING (document_id)"
            " WHERE %s::text IS NULL OR c.recipient = %s", (agency, agency)).fetchall()
        return [{"document_id": str(doc), "recipient": rcpt, "arrived_at": at,
                 "urgency": urgency, "status": state["code"], "due_date": due,
                 "recalled": state["recalled"]}
                for doc, rcpt, state, at, urgency, due in rows]

    def overdue_reported(self, conn: Any, document_id: Any, recipient: str, kind: str) -> bool:
        return conn.execute("SELECT 1 FROM overdue_reported WHERE document_id = %s AND"
                            " recipient = %s AND kind = %s FOR UPDATE",
                            (document_id, recipient, kind)).fetchone() is not None

    def summary(self, conn: Any) -> tuple[set[str], dict[str, list[str]], dict[str, str]]:
        """Documents known, their recipients, and the first refusal's reason of each."""
        known = {str(r[0]) for r in conn.execute("SELECT document_id FROM consignments")}
        delivered: dict[str, list[str]] = {}
        for document_id, recipient in conn.execute(
                "SELECT document_id, recipient FROM inbox_items"):
            delivered.setdefault(str(document_id), []).append(recipient)
        refused: dict[str, str] = {}
        for document_id, reason in conn.execute(
                "SELECT envelope->'data'->>'document_id', envelope->'data'->>'reason'"
                " FROM events WHERE event_type = 'DeliveryRefused' ORDER BY position"):
            refused.setdefault(document_id, reason)
        return known, delivered, refused

    # -- the projection ------------------------------------------------------------

    def project_all(self, events: list[Event], conn: Any) -> None:
        """:meth:`project` each event in order; a run of ``DocumentDelivered``
        (a consignment's recipients) as two pipelined statements."""
        run: list[Event] = []
        for event in [*events, None]:
            if event is not None and event.event_type == "DocumentDelivered":
                run.append(event)
                continue
            if len(run) == 1:
                self.project(run[0], conn)
            elif run:
                with conn.cursor() as cur:
                    cur.executemany(_INSERT_ITEM, [_item_row(e) for e in run])
                    cur.executemany(_SAVE_COPY, [_copy_row(_first_delivery(e)) for e in run])
            run = []
            if event is not None:
                self.project(event, conn)

    def project(self, event: Event, conn: Any) -> None:
        data = event.data
        kind = event.event_type
        if kind == "ExternalDocumentReceived":
            envelope = json.dumps(envelope_json(event), ensure_ascii=False)
            conn.execute("INSERT INTO consignments VALUES (%s, %s, %s, true)",
                         (data["document_id"], envelope, envelope))
        elif kind == "DocumentDelivered":
            conn.execute(_INSERT_ITEM, _item_row(event))
            self._save_copy(conn, _first_delivery(event))
        elif kind == "ConsignmentSent":
            conn.execute("INSERT INTO sends VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                         (data["consignment_id"], data["document_id"],
                          list(data["recipients"]), list(data["new_recipients"]),
                          event.occurred_at))
        elif kind == "DeliveryOverdue":
            conn.execute("INSERT INTO overdue_reported VALUES (%s, %s, %s)"
                         " ON CONFLICT DO NOTHING",
                         (data["document_id"], data["recipient"], data["kind"]))
        elif kind in ("StatusReported", "RecallRequested", "RecallAnswered"):
            self._change(event, conn)
        if _initial(event):
            conn.execute("UPDATE consignments SET dispatched = true WHERE document_id = %s",
                         (data["document_id"],))

    def _change(self, event: Event, conn: Any) -> None:
        change = codec.change_from_event(thaw(event.data))
        doc, rcpt = change.document_id, change.recipient
        if event.event_type == "StatusReported":
            self._save_copy(conn, st.reported(self.copy(conn, doc, rcpt), change))
        elif event.event_type == "RecallRequested":
            self._save_recall(conn, st.requested(change))
        else:
            self._save_recall(conn, st.answered(self.recall(conn, doc, rcpt), change))
            copy_ = self.copy(conn, doc, rcpt)
            if copy_ is not None:
                self._save_copy(conn, st.after_answer(copy_, change))

    def _save_copy(self, conn: Any, state: st.DeliveryStatus) -> None:
        conn.execute(_SAVE_COPY, _copy_row(state))

    def _save_recall(self, conn: Any, request: st.RecallRequest) -> None:
        conn.execute("INSERT INTO recalls VALUES (%s, %s, %s) ON CONFLICT (document_id,"
                     " recipient) DO UPDATE SET state = EXCLUDED.state",
                     (request.document_id, request.recipient,
                      json.dumps(codec.to_json(request))))


_INSERT_ITEM = "INSERT INTO inbox_items VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
_SAVE_COPY = ("INSERT INTO copies VALUES (%s, %s, %s, %s) ON CONFLICT (document_id,"
              " recipient) DO UPDATE SET state = EXCLUDED.state")


def _item_row(event: Event) -> tuple:
    data = event.data
    return (data["document_id"], data["recipient"], data["sender"], data["sha256"],
            data["urgency"], data["consignment_id"], event.occurred_at,
            json.dumps(thaw(data["trace"])))


def _copy_row(state: st.DeliveryStatus) -> tuple:
    return (state.document_id, state.recipient, state.sender, json.dumps(codec.to_json(state)))


class MemoryRoutingStore:
    """The in-memory adapter: same interface, no server (unit tests). A
    transaction holds one lock and puts the rows back if it fails."""

    def __init__(self) -> None:
        self.consignments: dict[str, dict] = {}
        self.sends: dict[str, dict] = {}
        self.items: dict[tuple[str, str], dict] = {}
        self.copies_: dict[tuple[str, str], st.DeliveryStatus] = {}
        self.recalls_: dict[tuple[str, str], st.RecallRequest] = {}
        self.overdue: set[tuple[str, str, str]] = set()
        self.refused: dict[str, str] = {}
        self._lock = threading.RLock()

    _TABLES = ("consignments", "sends", "items", "copies_", "recalls_", "overdue", "refused")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            saved = copy.deepcopy([getattr(self, t) for t in self._TABLES])
            try:
                yield None
            except BaseException:
                for name, value in zip(self._TABLES, saved):
                    setattr(self, name, value)
                raise

    def follow(self, event: Event, half: str, conn: Any = None) -> dict:
        if half not in HALVES:
            raise ValueError(f"half: one of {HALVES}, got {half!r}")
        row = self.consignments.setdefault(str(event.data["document_id"]), {
            "registered": None, "signed": None, "dispatched": False})
        row[half] = envelope_json(event)
        return copy.deepcopy(row)

    def consignment(self, conn: Any, document_id: Any) -> dict | None:
        return copy.deepcopy(self.consignments.get(str(document_id)))

    def numbered(self, conn: Any, agency: str, number_notation: str,
                 or_id: Any = None) -> list[tuple[str, dict]]:
        def matches(doc: str, registered: dict | None) -> bool:
            data = (registered or {}).get("data", {})
            return doc == str(or_id) or (data.get("issuing_agency") == agency
                                         and data.get("number_notation") == number_notation)
        return [(doc, copy.deepcopy(row["registered"]))
                for doc, row in self.consignments.items() if matches(doc, row["registered"])]

    def lock_import(self, conn: Any, document_id: str) -> None:
        """The transaction's lock already serialises everything."""

    def sent(self, conn: Any, consignment_id: str) -> dict | None:
        return copy.deepcopy(self.sends.get(consignment_id))

    def delivered_to(self, conn: Any, document_id: Any) -> set[str]:
        return {r for (d, r) in self.items if d == str(document_id)}

    def traces(self, conn: Any, document_id: Any) -> list[tuple[str, list]]:
        return [(r, copy.deepcopy(i["trace"])) for (d, r), i in sorted(self.items.items())
                if d == str(document_id)]

    def inbox(self, conn: Any, agency: str) -> list[dict]:
        rows = [i for (_, r), i in self.items.items() if r == agency]
        rows.sort(key=lambda i: i["delivered_at"], reverse=True)
        rows.sort(key=lambda i: i["urgency"], reverse=True)  # stable: newest within
        return [_inbox_item((i["document_id"], i["sender"], i["sha256"], i["urgency"],
                             i["delivered_at"], copy.deepcopy(i["trace"]),
                             codec.to_json(self.copies_[(i["document_id"], agency)])))
                for i in rows]

    def copy(self, conn: Any, document_id: Any, recipient: str,
             lock: bool = False) -> st.DeliveryStatus | None:
        return self.copies_.get((str(document_id), recipient))

    def copies(self, conn: Any, document_id: Any) -> list[st.DeliveryStatus]:
        return [s for (d, _), s in sorted(self.copies_.items()) if d == str(document_id)]

    def recall(self, conn: Any, document_id: Any, recipient: str,
               lock: bool = False) -> st.RecallRequest | None:
        return self.recalls_.get((str(document_id), recipient))

    def recalls(self, conn: Any, document_id: Any) -> list[st.RecallRequest]:
        return [s for (d, _), s in sorted(self.recalls_.items()) if d == str(document_id)]

    def for_deadlines(self, conn: Any, agency: str | None) -> list[dict]:
        found = []
        for (doc, rcpt), state in self.copies_.items():
            item = self.items.get((doc, rcpt))
            if item is None or (agency is not None and rcpt != agency):
                continue
            registered = (self.consignments.get(doc) or {}).get("registered") or {}
            found.append({"document_id": doc, "recipient": rcpt,
                          "arrived_at": item["delivered_at"], "urgency": item["urgency"],
                          "status": state.code,
                          "due_date": registered.get("data", {}).get("due_date"),
                          "recalled": state.recalled})
        return found

    def overdue_reported(self, conn: Any, document_id: Any, recipient: str, kind: str) -> bool:
        return (str(document_id), recipient, kind) in self.overdue

    def summary(self, conn: Any) -> tuple[set[str], dict[str, list[str]], dict[str, str]]:
        delivered: dict[str, list[str]] = {}
        for doc, rcpt in self.items:
            delivered.setdefault(doc, []).append(rcpt)
        return set(self.consignments), delivered, dict(self.refused)

    def project_all(self, events: list[Event], conn: Any = None) -> None:
        for event in events:
            self.project(event, conn)

    def project(self, event: Event, conn: Any = None) -> None:
        data = thaw(event.data)
        kind, doc = event.event_type, str(data["document_id"])
        if kind == "ExternalDocumentReceived":
            envelope = envelope_json(event)
            self.consignments[doc] = {"registered": envelope, "signed": copy.deepcopy(envelope),
                                      "dispatched": True}
        elif kind == "DocumentDelivered":
            key = (doc, data["recipient"])
            if key in self.items:
                raise ValueError(f"document {doc} was delivered to {key[1]} already")
            self.items[key] = {"document_id": doc, "sender": data["sender"],
                               "sha256": data["sha256"], "urgency": data["urgency"],
                               "delivered_at": _instant(event.occurred_at),
                               "trace": data["trace"]}
            self.copies_[key] = _first_delivery(event)
        elif kind == "ConsignmentSent":
            self.sends.setdefault(data["consignment_id"], {
                "document_id": doc, "recipients": list(data["recipients"]),
                "new_recipients": list(data["new_recipients"])})
        elif kind == "DeliveryOverdue":
            self.overdue.add((doc, data["recipient"], data["kind"]))
        elif kind == "DeliveryRefused":
            self.refused.setdefault(doc, data["reason"])
        elif kind in ("StatusReported", "RecallRequested", "RecallAnswered"):
            self._change(event)
        if _initial(event) and doc in self.consignments:
            self.consignments[doc]["dispatched"] = True

    def _change(self, event: Event) -> None:
        change = codec.change_from_event(thaw(event.data))
        key = (change.document_id, change.recipient)
        if event.event_type == "StatusReported":
            self.copies_[key] = st.reported(self.copies_[key], change)
        elif event.event_type == "RecallRequested":
            self.recalls_[key] = st.requested(change)
        else:
            self.recalls_[key] = st.answered(self.recalls_[key], change)
            if key in self.copies_:
                self.copies_[key] = st.after_answer(self.copies_[key], change)


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
