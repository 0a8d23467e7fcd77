"""nameko entrypoints of the audit service: thin; the log lives in ``log.py``,
the rules in the pure modules (merkle, note, leaves, verify, replay)."""

import base64
import json
from datetime import datetime, timezone

from services.audit import checkpoints as cp
from services.audit import dashboard, dashboard_store, note, replay
from services.audit import timestamp as ts
from services.audit.dependencies import AuditLog
from services.audit.erasures import Erasures, erased_documents
from services.audit.leaves import stored_event
from services.audit.verify import ENTRY_QUERY, Report, committed_leaves, verify_entries
from shared.auth import require_role
from shared.edge.authenticator import Authenticator
from shared.edge.handlers import event_handler
from shared.edge.inbox import ServiceEvents, record_quarantine
from shared.edge.mixins import Health
from shared.edge.rpc import rpc
from shared.envelope import format_time
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.eventsig import SignatureInvalid, authenticate
from shared.topology import ALL
from shared.values import checked_uuid
from shared.wire import event_from_dict

SERVICE = "audit"


class AuditService(Erasures, Health):
    name = SERVICE

    audit = AuditLog()
    auth = Authenticator()

    # -- intake: every event of every service --------------------------------

    @event_handler("docs", ALL, requeue_on_error=True)
    def on_docs_event(self, payload):
        self._accept("docs", payload)

    @event_handler("signing", ALL, requeue_on_error=True)
    def on_signing_event(self, payload):
        self._accept("signing", payload)

    @event_handler("routing", ALL, requeue_on_error=True)
    def on_routing_event(self, payload):
        self._accept("routing", payload)

    @event_handler("gateway", ALL, requeue_on_error=True)
    def on_gateway_event(self, payload):
        self._accept("gateway", payload)

    def _accept(self, source, payload):
        """Validate, authenticate (signed by a provisioned key of its producer,
        which the catalogue names for its type and which is ``source``), append
        once. Never drop silently: a refused event is quarantined and alerted."""
        try:
            event = event_from_dict(payload)
            authenticate(event, self.audit.trusted, source)
        except (ValidationFailed, SignatureInvalid) as err:
            self._quarantine(str(err), payload)
            return
        self.audit.writer.submit(event)

    def _quarantine(self, reason, payload):
        record_quarantine(self.audit.db, SERVICE, reason, payload)
        self.audit.tlog.alert("event_quarantined", reason)
        self.metrics.events_quarantined.labels(SERVICE, "audit").inc()

    @rpc
    def quarantined(self):
        """Events audit refused (malformed, unsigned, forged, from the wrong
        producer), newest first, with the reason (operators only)."""
        require_role(self.auth.actor(), "operator")
        return ServiceEvents.quarantined_in(self.audit.db, "audit")

    # -- reading (auditors only) ----------------------------------------------

    def _auditor(self):
        return require_role(self.auth.actor(), "auditor")

    @rpc
    def history(self, document_id):
        """Every logged event about one document, in log order."""
        self._auditor()
        document_id = checked_uuid(document_id, "document_id")
        with self.audit.db.connection() as conn:
            rows = conn.execute(
                "SELECT e.idx, e.leaf_entry, p.data FROM entries e"
                " LEFT JOIN payloads p USING (event_id)"
                " WHERE e.document_id = %s ORDER BY e.idx", (document_id,)).fetchall()
        return [_entry_view(idx, bytes(entry), data) for idx, entry, data in rows]

    @rpc
    def status(self):
        """Size, checkpoints, what is not yet covered, and the latest alerts."""
        self._auditor()
        tlog = self.audit.tlog
        size, latest, uploaded = tlog.size(), tlog.latest_checkpoint(), tlog.last_upload()
        with self.audit.db.connection() as conn:
            alerts = conn.execute("SELECT kind, detail, raised_at FROM alerts"
                                  " ORDER BY id DESC LIMIT 20").fetchall()
            quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        now = datetime.now(timezone.utc)
        stamp = (ts.STAMPED if latest[4] is not None else ts.UNSTAMPED) if latest else None
        return {
            "origin": self.audit.origin, "verifier_key": self.audit.verifier_key,
            "size": size,
            "checkpoint_size": latest[0] if latest else 0,
            "checkpoint_age_seconds": (now - latest[3]).total_seconds() if latest else None,
            "checkpoint_timestamp": stamp, "checkpoint_timestamp_label": ts.LABELS.get(stamp),
            "uploaded_size": uploaded,
            "entries_not_checkpointed": size - (latest[0] if latest else 0),
            "entries_not_in_worm": size - uploaded,
            "quarantined": quarantined,
            "alerts": [{"kind": k, "detail": d, "raised_at": format_time(t)}
                       for k, d, t in alerts],
        }

    @rpc
    def checkpoint(self, size=None):
        """The latest (or a given) signed checkpoint, with any witness cosignatures
        and its RFC 3161 time stamp (or the word that it has none)."""
        self._auditor()
        row = self.audit.tlog.checkpoint(size) if size else self.audit.tlog.latest_checkpoint()
        if row is None:
            raise NotFound("no checkpoint yet" if size is None else
                           f"no checkpoint at size {size}", field="size")
        text = row[2]
        for cosigned in self.audit.tlog.cosignatures(row[0]):
            for line in cosigned.split("\n\n", 1)[1].splitlines(keepends=True):
                if line not in text:
                    text += line
        return {"size": row[0], "root": base64.b64encode(bytes(row[1])).decode(),
                "note": text, "verifier_key": self.audit.verifier_key,
                "timestamp": ts.view(row[2], row[4])}

    @rpc
    def inclusion_proof(self, event_id, size=None):
        """The proof that an event is in the tree of a signed checkpoint."""
        self._auditor()
        found = self.audit.tlog.entry(checked_uuid(event_id, "event_id"))
        if found is None:
            raise NotFound(f"event {event_id} is not in the log", field="event_id")
        index, entry = found
        checkpoint = self.checkpoint(size)
        if index >= checkpoint["size"]:
            raise Conflict(f"event {event_id} is not yet covered by a checkpoint;"
                           " ask again after the next one", field="event_id")
        path = self.audit.tlog.inclusion(index, checkpoint["size"])
        return {"event_id": str(event_id), "leaf_index": index,
                "leaf_entry": base64.b64encode(entry).decode(),
                "tree_size": checkpoint["size"], "path": [_b64(h) for h in path],
                "checkpoint": checkpoint["note"]}

    @rpc
    def consistency_proof(self, old_size, new_size):
        """The proof that the tree at ``new_size`` extends the one at ``old_size``."""
        self._auditor()
        size = self.audit.tlog.size()
        if not (isinstance(old_size, int) and isinstance(new_size, int)
                and 0 < old_size <= new_size <= size):
            raise ValidationFailed(f"sizes: need 0 < old_size <= new_size <= {size}",
                                   field="old_size")
        return {"old_size": old_size, "new_size": new_size,
                "path": [_b64(h) for h in self.audit.tlog.consistency(old_size, new_size)]}

    @rpc
    def add_cosignature(self, cosigned_note):
        """A witness's cosignature on one of our checkpoints, kept beside it."""
        self._auditor()
        try:
            body, _ = note.parse_note(cosigned_note)
            _, size, root = note.parse_checkpoint(body)
            self.audit.signer.verifier().verify(cosigned_note)
        except note.NoteError as err:
            raise ValidationFailed(f"note: {err}", field="note") from None
        ours = self.audit.tlog.checkpoint(size)
        if ours is None or bytes(ours[1]) != root:
            raise ValidationFailed("note: not a checkpoint this log signed", field="note")
        for witness in self.audit.witnesses:
            try:
                witness.verify(cosigned_note)
            except note.NoteError:
                continue
            self.audit.tlog.add_cosignature(size, witness.name, cosigned_note)
            return {"size": size, "witness": witness.name}
        raise ValidationFailed("note: no cosignature from a known witness", field="note")

    @rpc
    def verify(self):
        """Recompute the whole log against the signed checkpoints in WORM storage."""
        self._auditor()
        report = Report()
        objects = self.audit.objects
        notes = {int(k.rsplit("/", 1)[-1].split(".")[0]): objects.get_bytes(k).decode()
                 for k in objects.keys("audit/checkpoints/")}
        ranges = {cp.parse_leaves_key(k): objects.get_bytes(k)
                  for k in objects.keys("audit/leaves/")}
        committed = committed_leaves(notes, ranges, self.audit.signer.verifier(), report)
        size = self.audit.tlog.size()
        try:
            stored_root, missing = self.audit.tlog.root(size), None
        except KeyError as err:
            stored_root, missing = None, err
        with self.audit.db.connection() as conn:
            with conn.transaction(), conn.cursor(name="verify") as cur:
                cur.itersize = 5000
                cur.execute(ENTRY_QUERY)
                verify_entries(cur, committed, self.audit.trusted, report,
                               stored_root=stored_root)
        if missing is not None:
            report.fail(None, None, f"the stored Merkle nodes lack node {missing} of a tree"
                                    f" of {size} entries")
        return report.to_dict()

    @rpc
    def evidence_bundle(self, document_id):
        """One document's events with their inclusion proofs to the latest
        signed checkpoint and every key needed: checkable offline with
        ``python -m services.audit.verify_bundle``."""
        self._auditor()
        document_id = checked_uuid(document_id, "document_id")
        checkpoint = self.checkpoint()
        size = checkpoint["size"]
        with self.audit.db.connection() as conn:
            rows = conn.execute(
                "SELECT e.idx, e.leaf_entry, p.data FROM entries e"
                " LEFT JOIN payloads p USING (event_id)"
                " WHERE e.document_id = %s ORDER BY e.idx", (document_id,)).fetchall()
        covered = [r for r in rows if r[0] < size]
        if not covered:
            raise NotFound(f"no event about document {document_id} is covered by a"
                           " checkpoint yet", field="document_id")
        producers = {json.loads(bytes(r[1]))["producer"] for r in covered}
        return {
            "format": "lienthong-evidence/1",
            "document_id": document_id,
            "generated_at": format_time(datetime.now(timezone.utc)),
            "log": {"origin": self.audit.origin, "verifier_key": self.audit.verifier_key},
            "checkpoint": checkpoint["note"],
            "checkpoint_timestamp": checkpoint["timestamp"],
            "witness_keys": [w.key_string() for w in self.audit.witnesses],
            "producer_keys": {p: k for p, k in self.audit.trusted.to_dict().items()
                              if p in producers},
            "entries": [{"leaf_index": idx, "leaf_entry": _b64(bytes(entry)),
                         "inclusion_path": [_b64(h) for h in
                                            self.audit.tlog.inclusion(idx, size)],
                         "data": data} for idx, entry, data in covered],
            "not_yet_covered": len(rows) - len(covered),
        }

    @rpc
    def document_state(self, document_id, at=None):
        """What the log says about one document, now or as it was at ``at`` (ISO 8601)."""
        self._auditor()
        document_id = checked_uuid(document_id, "document_id")
        events = self._document_events(document_id)
        states = replay.state_at(events, _moment(at)) if at else replay.fold(events)
        state = states.get(document_id)
        return {"document_id": document_id, "at": at,
                "state": state.to_dict() if state else None,
                "history": replay.history(events, document_id)}

    @rpc
    def replay(self, at=None):
        """The state of every document, now or as it was at ``at`` (ISO 8601)."""
        self._auditor()
        facts = self.audit.tlog.facts(replay.KNOWN_TYPES)
        states = replay.state_at(facts, _moment(at)) if at else replay.fold(facts)
        return {"at": at, "documents": [s.to_dict() for _, s in sorted(states.items())]}

    @rpc
    def reconcile(self):
        """Replay the whole log and compare with what docs, signing and routing report,
        each held to what the log says it has heard of (``replay.expected_at``):
        no difference at a quiet moment, drafts and submissions included."""
        self._auditor()
        # Asked first, while the assertions the gateway made for these calls (inside
        # the caller's) are fresh: audit cannot make its own.
        reported = {}
        with self.auth.onward() as services:
            for name in ("docs", "signing", "routing"):
                reported[name] = getattr(services, name).state_summary()
        replayed = replay.fold(self.audit.tlog.facts(replay.KNOWN_TYPES))
        erased = erased_documents(self.audit.db)
        differences = replay.reconcile(replayed, reported, erased)
        return {"documents": len(replayed), "erased_documents": len(erased),
                "differences": [d.to_dict() for d in differences]}

    # -- the leaders' dashboard (bảng điều hành) --------------------------------------

    @rpc
    def dashboard(self, agency=None, start=None, end=None, granularity="week"):
        """The figures of ``agency`` and every agency under it (today's directory,
        routing's) over ``start``..``end`` (Vietnam days): a leader for their own
        agency's subtree, an auditor for any (``services.audit.dashboard``)."""
        actor = self.auth.actor()
        if actor.role not in ("leader", "auditor"):
            raise Forbidden("the dashboard is for leaders and auditors", field="role")
        asked = dashboard.period(start, end, granularity)
        agency = agency or actor.agency
        if not isinstance(agency, str) or len(agency) > 100:
            raise ValidationFailed("agency: an agency code", field="agency")
        top = actor.agency if actor.role == "leader" else agency
        with self.auth.onward() as services:  # one call each: an assertion is spent once
            tree = services.routing.agencies(under=top)
            tree.append(services.routing.agency(agency))  # its name, for the page
        codes = dashboard.subtree(agency, tree)
        if actor.role == "leader" and agency not in dashboard.subtree(top, tree):
            raise Forbidden("agency: a leader sees their own agency and those under it",
                            field="agency")
        dashboard_store.catch_up(self.audit.db)  # everything logged before the question
        sent, copies = dashboard_store.rows(self.audit.db, codes, asked.bounds())
        figures = dashboard.figures(sent, copies, codes, asked)
        named = dashboard_store.labels(self.audit.db, [
            r["document_id"] for r in figures["overdue"] + figures["urgent"]])
        for row in figures["overdue"] + figures["urgent"]:
            row.update(named.get(row["document_id"], {}))
        names = {a["code"]: a.get("name") for a in tree}
        shown = {agency, *(a["agency"] for a in figures["agencies"]),
                 *(r["recipient"] for r in figures["overdue"] + figures["urgent"])}
        return {"agency": agency, "agency_count": len(codes),
                "names": {c: names.get(c) for c in sorted(shown)}, **figures}

    @rpc
    def rebuild_dashboard(self):
        """Fold the whole log again into the dashboard's projection (operators)."""
        require_role(self.auth.actor(), "operator")
        return dashboard_store.rebuild(self.audit.db)

    def _document_events(self, document_id):
        """One document's ``(index, event)`` pairs rebuilt from the leaves and the
        kept data. The log validated each event when it took it in: its own rows
        are trusted, not parsed with the schema again."""
        with self.audit.db.connection() as conn:
            rows = conn.execute("SELECT e.idx, e.leaf_entry, p.data FROM entries e"
                                " LEFT JOIN payloads p USING (event_id)"
                                " WHERE e.document_id = %s ORDER BY e.idx", (document_id,))
            return [(idx, stored_event(bytes(entry), data)) for idx, entry, data in rows]


def _moment(text):
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("at: not an ISO 8601 time", field="at") from None
    if moment.tzinfo is None:
        raise ValidationFailed("at: give a time zone (Z or +07:00)", field="at")
    return moment


def _entry_view(idx, entry, data):
    content = json.loads(entry)
    content.pop("signature")
    return {"index": idx, **content, "data": data}


def _b64(value):
    return base64.b64encode(value).decode()

