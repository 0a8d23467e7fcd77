"""nameko entrypoints of the routing service: thin; the rules live in
``domain`` (consignments), ``directory`` (agencies), ``statuses`` (status and
recall negotiation), ``deadlines`` and ``edxml``."""

import base64
import hashlib
import io
import json
import logging
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from nameko.dependency_providers import Config

from nameko.extensions import DependencyProvider


from services.routing import codec, deadlines, domain, edxml, inbound
from services.routing import statuses as st
from services.routing.directory import Directory
from services.routing.sample_data import (
    apply_reform_2025, merge_provinces_2025, national, sample_province,
)
from shared.auth import require_role
from shared.command import append_next, retrying
from shared.documents import attachment_key, file_key
from shared.envelope import AGENCY_CODE, new_event, thaw, utc_now
from shared.errors import (
    ConcurrencyConflict, Conflict, Forbidden, NotFound, PayloadTooLarge, StorageError,
    ValidationFailed,
)
from shared.failpoints import failpoint
from shared.green import run_cpu
from shared.nameko_ext import (
    Authenticator, DeadLetters, EventStoreProvider, Health, ObjectStoreProvider,
    event_handler, rpc,
)
from shared.objectstore import AttachmentCheck, PdfCheck
from shared.values import checked_uuid

log = logging.getLogger(__name__)

DIRECTORY_STREAM = "directory"

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


def today():
    return deadlines.vietnam_time(utc_now()).date()


class AgencyDirectory(DependencyProvider):
    """The agency directory, rebuilt from the ``directory`` stream and cached.

    Config ``DIRECTORY_SEED``: ``sample`` (one province, three levels; the
    default), ``sample+reform`` (the same after the 2025 reform), ``national:N``
    (a generated directory of N provinces) or ``none``.
    """

    def setup(self):
        self.seed = str(self.container.config.get("DIRECTORY_SEED", "sample"))
        self._cached = (None, None)

    def get_dependency(self, worker_ctx):
        return self

    def load(self, events):
        version = events.store.stream_version(DIRECTORY_STREAM)
        if version == 0 and self.seed != "none":
            self._seed(events)
            version = events.store.stream_version(DIRECTORY_STREAM)
        cached_version, directory = self._cached
        if cached_version != version:
            changes = [c for e in events.read_stream(DIRECTORY_STREAM)
                       for c in e.data["changes"]]
            directory = Directory.from_changes(thaw(changes))
            self._cached = (version, directory)
        return directory, version

    def _seed(self, events):
        if self.seed == "sample":
            directory = sample_province()
        elif self.seed == "sample+reform":
            directory = apply_reform_2025(sample_province())
        elif self.seed.startswith("national:"):
            count, _, reform = self.seed.split(":")[1].partition("+")
            directory = national(provinces=int(count))
            if reform == "reform":  # districts gone, communes and provinces merged
                directory = merge_provinces_2025(apply_reform_2025(directory))
        else:
            raise ValueError(f"DIRECTORY_SEED {self.seed!r}: use sample, sample+reform,"
                             " national:N, national:N+reform or none")
        event = _directory_event(directory.changes, actor=None)
        try:
            events.append(DIRECTORY_STREAM, 0, [event])
        except ConcurrencyConflict:
            pass  # another instance seeded it first


def _directory_event(changes, actor):
    from shared.envelope import system_actor

    return new_event("DirectoryChanged", {"changes": changes},
                     actor=actor or system_actor(domain.SERVICE), producer=domain.SERVICE,
                     stream_id=DIRECTORY_STREAM)


class OverdueWatch(DependencyProvider):
    """Every ``OVERDUE_CHECK_SECONDS``, records each newly overdue copy once."""

    def setup(self):
        self.interval = float(self.container.config.get("OVERDUE_CHECK_SECONDS", 300))
        self._running = False

    def start(self):
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._loop)

    def _loop(self):
        events = next(d for d in self.container.dependencies
                      if isinstance(d, EventStoreProvider)).get_dependency(None)
        next_check = time.monotonic() + self.interval
        while self._running:
            time.sleep(0.2)  # short naps, so that stop() does not wait a whole interval
            if time.monotonic() < next_check:
                continue
            next_check = time.monotonic() + self.interval
            try:
                record_overdue(events, utc_now())
            except Exception as err:  # the database is down: try again next time
                log.error("overdue check failed: %s", err)

    def stop(self):
        self._running = False
        self._thread.wait()

    def kill(self):
        self._running = False


def record_overdue(events, now):
    """Append one ``DeliveryOverdue`` per copy and kind newly past its deadline."""
    items = _copies_for_deadlines(events, None)
    findings = deadlines.overdue(items, now, _calendar())
    recorded = 0
    for finding in findings:
        with events.transaction() as conn:
            fresh = conn.execute(
                "INSERT INTO overdue_reported VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
                " RETURNING 1", (finding["document_id"], finding["recipient"],
                                 finding["kind"])).fetchone()
            if not fresh:
                continue
            stream = domain.stream_of(finding["document_id"])
            data = {**_jsonable(finding),
                    "overdue_by_seconds": int(finding["overdue_by_seconds"])}
            event = new_event("DeliveryOverdue", data,
                              actor=_system(), producer=domain.SERVICE, stream_id=stream)
            append_next(events.store, [event], conn=conn)
            recorded += 1
    return recorded


def _system():
    from shared.envelope import system_actor

    return system_actor(domain.SERVICE)


def _calendar():
    return deadlines.WorkingCalendar()


def _copies_for_deadlines(events, agency):
    with events.transaction() as conn:
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


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: v.isoformat()))


class RoutingService(Health, DeadLetters):
    name = domain.SERVICE

    events = EventStoreProvider(ddl=DDL)
    auth = Authenticator()
    directory = AgencyDirectory()
    files = ObjectStoreProvider()
    overdue_watch = OverdueWatch()
    config = Config()

    # -- the first consignment, from events ------------------------------------

    @event_handler("docs", "DocumentIssued", requeue_on_error=True)
    def on_document_issued(self, payload):
        """An issued document (number, recipients, file) waits for its signature."""
        self.events.handle_once("routing.on_document_issued", payload,
                                lambda event, conn: self._record(event, "registered", conn))

    @event_handler("signing", "DocumentFinalized", requeue_on_error=True)
    def on_document_finalized(self, payload):
        """Both signatures and the signed manifest: with the issue, it may go out."""
        self.events.handle_once("routing.on_document_finalized", payload,
                                lambda event, conn: self._record(event, "signed", conn))

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
        document = registered["data"]
        directory, _ = self.directory.load(self.events)
        try:
            _check_exchangeable(document)
            recipients = directory.address({"agencies": list(document["recipients"])}, today())
        except (ValidationFailed, NotFound) as err:
            stored = self._append(conn, document["document_id"],
                                  [domain.refused(document["document_id"], str(err), event)])
        else:
            stored = self._append(conn, document["document_id"], domain.initial_delivery(
                document, signed["data"], recipients, set(), utc_now(), causation=event))
        self._project(conn, stored)
        conn.execute("UPDATE consignments SET dispatched = true WHERE document_id = %s",
                     (document["document_id"],))

    # -- sending to more agencies, idempotent on a consignment id --------------

    @rpc
    def send(self, document_id, addressing, consignment_id):
        """Send a signed document to the agencies ``addressing`` stands for today.

        ``addressing``: ``{"agencies": [...]}``, ``{"subtree": code, "level": ...}``
        or ``{"parents_of": code}``. Retrying with the same ``consignment_id``
        returns the first answer and delivers nothing twice.
        """
        actor = require_role(self.auth.actor(), "clerk")
        document_id = checked_uuid(document_id)
        domain.check_consignment_id(consignment_id)
        if not isinstance(addressing, dict):
            raise ValidationFailed("addressing: an object such as {\"agencies\": [...]}",
                                   field="addressing")
        directory, _ = self.directory.load(self.events)

        def attempt(conn):
            done = conn.execute("SELECT document_id, recipients, new_recipients FROM sends"
                                " WHERE consignment_id = %s", (consignment_id,)).fetchone()
            if done is not None:
                if str(done[0]) != document_id:
                    raise Conflict(f"consignment {consignment_id} was used for another"
                                   " document", field="consignment_id")
                return {"consignment_id": consignment_id, "recipients": done[1],
                        "new_recipients": done[2], "repeated": True}
            # What may go out is learnt from docs' DocumentIssued and signing's
            # DocumentFinalized, never from the caller.
            row = conn.execute("SELECT registered, signed FROM consignments"
                               " WHERE document_id = %s", (document_id,)).fetchone()
            if row is None or row[0] is None:
                raise NotFound(f"document {document_id} is not known to routing: only an"
                               " issued document is sent", field="document_id")
            document = row[0]["data"]
            if actor.agency != document["issuing_agency"]:
                raise Forbidden("only the issuing agency's clerk sends its documents",
                                field="agency")
            _check_exchangeable(document)
            if row[1] is None:
                raise Conflict("the document is not sealed yet (no DocumentFinalized):"
                               " it cannot be sent", field="document_id")
            recipients = directory.address(addressing, today())
            if document["issuing_agency"] in recipients:
                recipients = [r for r in recipients if r != document["issuing_agency"]]
            already = {r for (r,) in conn.execute(
                "SELECT recipient FROM inbox_items WHERE document_id = %s", (document_id,))}
            stored = self._append(conn, document_id, domain.consignment_events(
                document, consignment_id, thaw(addressing), recipients, already, actor,
                utc_now()))
            self._project(conn, stored)
            failpoint("routing.send.before_commit")
            return {"consignment_id": consignment_id, "recipients": recipients,
                    "new_recipients": stored[0].data["new_recipients"], "repeated": False}

        result = self._in_transaction(attempt)
        failpoint("routing.send.after_commit")
        return _jsonable(result)

    @rpc
    def resolve_addressing(self, addressing, on=None):
        """Which agencies ``addressing`` stands for (today, or on ``on``)."""
        self.auth.actor()
        directory, _ = self.directory.load(self.events)
        return {"recipients": directory.address(addressing, _date(on))}

    # -- the recipient's side ----------------------------------------------------

    @rpc
    def inbox(self):
        """Documents delivered to the caller's agency: urgent first, then newest."""
        actor = self.auth.actor()
        with self.events.transaction() as conn:
            rows = conn.execute(
                "SELECT i.document_id, i.sender, i.sha256, i.urgency, i.delivered_at,"
                " i.trace, c.state FROM inbox_items i JOIN copies c USING (document_id,"
                " recipient) WHERE i.recipient = %s"
                " ORDER BY i.urgency DESC, i.delivered_at DESC", (actor.agency,)).fetchall()
        return [{"document_id": str(r[0]), "sender": r[1], "sha256": r[2], "urgency": r[3],
                 "delivered_at": r[4].isoformat(), "trace": r[5], "status": r[6]["code"],
                 "recalled": r[6]["recalled"]} for r in rows]

    @rpc
    def report_status(self, document_id, code, reason=None):
        """The recipient reports 02 returned, 03 accepted, 04 assigned, 05, 06."""
        actor = require_role(self.auth.actor(), "clerk")
        document_id = checked_uuid(document_id)

        def attempt(conn):
            return self._report(conn, document_id, str(code), agency=actor.agency,
                                at=utc_now(), user=actor.user_id, reason=reason, actor=actor)

        return self._in_transaction(attempt)

    def _report(self, conn, document_id, code, *, agency, at, user, reason, actor):
        """``agency`` reports ``code`` on its copy: the rules of ``st.report``, one
        ``StatusReported`` event (by ``actor``) and the saved copy; the change."""
        state = self._copy(conn, document_id, agency)
        new, change = st.report(state, code, by_agency=agency, recipient=agency, at=at,
                                user=user, reason=reason)
        self._append(conn, document_id, [self._change_event("StatusReported", change, actor)])
        self._save_copy(conn, new)
        return change.to_dict()

    @event_handler("docs", "IncomingAccepted", requeue_on_error=True)
    def on_incoming_accepted(self, payload):
        """The recipient's clerk accepted it into the incoming register: 03."""
        self.events.handle_once("routing.on_incoming_accepted", payload,
                                lambda e, conn: self._status_from_docs(e, conn, st.ACCEPTED))

    @event_handler("docs", "IncomingReturned", requeue_on_error=True)
    def on_incoming_returned(self, payload):
        """The recipient's clerk returned it to the sender, with a reason: 02."""
        self.events.handle_once("routing.on_incoming_returned", payload,
                                lambda e, conn: self._status_from_docs(e, conn, st.RETURNED))

    def _status_from_docs(self, event, conn, code):
        data, actor = event.data, event.actor
        state = self._copy(conn, data["document_id"], data["agency"])
        if state.code == code:
            return  # the clerk reported it here already
        new, change = st.report(state, code, by_agency=actor.agency, recipient=data["agency"],
                                at=event.occurred_at, user=actor.user_id,
                                reason=data.get("reason"))
        self._append(conn, data["document_id"], [self._change_event("StatusReported", change,
                                                                    actor)])
        self._save_copy(conn, new)

    @rpc
    def statuses(self, document_id):
        """Per recipient, the current status and its history. The sender (and
        auditors) see every recipient; a recipient sees its own copy."""
        actor = self.auth.actor()
        document_id = checked_uuid(document_id)
        with self.events.transaction() as conn:
            rows = conn.execute("SELECT recipient, sender, state FROM copies"
                                " WHERE document_id = %s ORDER BY recipient",
                                (document_id,)).fetchall()
        visible = [r for r in rows if actor.role == "auditor" or actor.agency in (r[0], r[1])]
        if not visible:
            raise NotFound(f"no copy of document {document_id} concerns your agency",
                           field="document_id")
        return [{"recipient": r[0], "sender": r[1], "status": r[2]["code"],
                 "recalled": r[2]["recalled"], "history": r[2]["history"]} for r in visible]

    # -- recall, update, replace -------------------------------------------------

    @rpc
    def request_recall(self, document_id, business_type, reason=None,
                       replacement_document_id=None):
        """The sender asks every recipient (13) to agree to a revoke (1), update
        (2) or replace (3)."""
        actor = require_role(self.auth.actor(), "clerk")
        document_id = checked_uuid(document_id)

        def attempt(conn):
            rows = conn.execute("SELECT recipient FROM copies WHERE document_id = %s"
                                " ORDER BY recipient", (document_id,)).fetchall()
            if not rows:
                raise Conflict(f"document {document_id} was never sent: nothing to recall",
                               field="document_id")
            events, requests = [], []
            for (recipient,) in rows:
                copy = self._copy(conn, document_id, recipient)
                current = self._recall(conn, document_id, recipient)
                request, change = st.request_recall(
                    copy, current, business_type=business_type, by_agency=actor.agency,
                    at=utc_now(), user=actor.user_id, reason=reason,
                    replacement_document_id=replacement_document_id)
                events.append(self._change_event("RecallRequested", change, actor))
                requests.append(request)
            self._append(conn, document_id, events)
            for request in requests:
                self._save_recall(conn, request)
            return {"document_id": document_id, "requested_from": [r.recipient for r in requests]}

        return self._in_transaction(attempt)

    @rpc
    def answer_recall(self, document_id, agree, reason=None):
        """The recipient agrees (15) or refuses (16, reason required)."""
        actor = require_role(self.auth.actor(), "clerk")
        document_id = checked_uuid(document_id)

        def attempt(conn):
            request = self._recall(conn, document_id, actor.agency)
            if request is None:
                raise NotFound("no recall request is addressed to your agency for this"
                               " document", field="document_id")
            copy = self._copy(conn, document_id, actor.agency)
            request, copy, change = st.answer_recall(
                request, copy, st.RECALL_AGREED if agree else st.RECALL_REFUSED,
                by_agency=actor.agency, at=utc_now(), user=actor.user_id, reason=reason)
            self._append(conn, document_id, [self._change_event("RecallAnswered", change,
                                                                actor)])
            self._save_recall(conn, request)
            self._save_copy(conn, copy)
            return change.to_dict()

        return self._in_transaction(attempt)

    @rpc
    def recall_outcome(self, document_id):
        actor = self.auth.actor()
        document_id = checked_uuid(document_id)
        with self.events.transaction() as conn:
            rows = conn.execute("SELECT state FROM recalls WHERE document_id = %s",
                                (document_id,)).fetchall()
        requests = [codec.recall_from_json(r[0]) for r in rows]
        if not requests or (actor.role != "auditor"
                            and actor.agency not in {requests[0].sender}):
            raise NotFound(f"no recall of document {document_id} by your agency",
                           field="document_id")
        outcome = st.recall_outcome(requests)
        return {"document_id": document_id, "state": outcome.state,
                "agreed": list(outcome.agreed), "refused": [list(r) for r in outcome.refused],
                "pending": list(outcome.pending)}

    # -- deadlines ---------------------------------------------------------------

    @rpc
    def overdue(self):
        """Overdue copies: of the caller's agency, or of every agency for auditors."""
        actor = self.auth.actor()
        agency = None if actor.role == "auditor" else actor.agency
        findings = deadlines.overdue(_copies_for_deadlines(self.events, agency), utc_now(),
                                     _calendar())
        return _jsonable(findings)

    # -- the agency directory ----------------------------------------------------

    @rpc
    def agencies(self, on=None, under=None, level=None):
        self.auth.actor()
        directory, _ = self.directory.load(self.events)
        on = _date(on)
        found = directory.subtree(under, on, level=level) if under else directory.agencies(on)
        if level and not under:
            found = [a for a in found if a.level == level]
        return _jsonable([a.to_dict() for a in found])

    @rpc
    def agency(self, code, on=None):
        """The agency ``code`` as of ``on`` (today); ``NotFound`` naming ``code``
        if the directory has none effective then."""
        self.auth.actor()
        directory, _ = self.directory.load(self.events)
        return _jsonable(directory.get(code, _date(on)).to_dict())

    @rpc
    def change_directory(self, changes):
        """Apply dated changes (create, rename, move, merge, split, dissolve); operators only."""
        actor = require_role(self.auth.actor(), "operator")
        if not isinstance(changes, list) or not changes:
            raise ValidationFailed("changes: a non-empty list of changes", field="changes")
        directory, version = self.directory.load(self.events)
        trial = Directory.from_changes(directory.changes)
        for i, change in enumerate(changes):
            try:
                trial.apply(change)
            except (ValidationFailed, NotFound, Conflict) as err:
                raise type(err)(f"changes.{i}: {err}", field=f"changes.{i}") from None
        applied = trial.changes[len(directory.changes):]
        try:
            self.events.append(DIRECTORY_STREAM, version, [_directory_event(applied, actor)])
        except ConcurrencyConflict:
            raise Conflict("the directory changed meanwhile; try again",
                           field="changes") from None
        return {"applied": len(applied)}

    @rpc
    def export_directory(self, on=None):
        self.auth.actor()
        directory, _ = self.directory.load(self.events)
        return directory.export_csv(_date(on))

    @rpc
    def import_directory(self, csv_text, on):
        """Create the agencies of a CSV export (as of ``on``); operators only."""
        require_role(self.auth.actor(), "operator")
        scratch = Directory()
        scratch.import_csv(csv_text, _date(on))
        return self.change_directory(scratch.changes)

    # -- edXML (QCVN 102:2016) ---------------------------------------------------

    @rpc
    def export_edxml(self, document_id, inline=False):
        """The document as an edXML package, base64: files by reference (our
        extension), or with ``inline`` carried in the package as the standard
        does (read from the object store; a package holds at most
        ``MAX_UPLOAD_BYTES`` per file)."""
        actor = self.auth.actor()
        document_id = checked_uuid(document_id)
        with self.events.transaction() as conn:
            row = conn.execute("SELECT registered FROM consignments WHERE document_id = %s",
                               (document_id,)).fetchone()
            traces = conn.execute("SELECT recipient, trace FROM inbox_items"
                                  " WHERE document_id = %s ORDER BY recipient",
                                  (document_id,)).fetchall()
        if row is None or row[0] is None:
            raise NotFound(f"document {document_id} is not known to routing",
                           field="document_id")
        registered = row[0]
        data = registered["data"]
        if actor.role != "auditor" and actor.agency not in \
                [data["issuing_agency"], *[t[0] for t in traces]]:
            raise NotFound(f"document {document_id} is not known to routing",
                           field="document_id")
        package = _package(registered, traces)
        if inline is True:
            self._check_not_recalled(document_id, actor, data)
            package.attachments = [self._inline(a, f) for a, f in zip(
                package.attachments, [data["file"], *data.get("attachments", ())])]
        elif inline is not False:
            raise ValidationFailed("inline: true or false", field="inline")
        return base64.b64encode(edxml.export_package(package)).decode()

    def _check_not_recalled(self, document_id, actor, data):
        """A recipient whose copy was recalled (the revoke agreed) gets no bytes of
        it, as docs' file URLs refuse; the sender and auditors keep access."""
        if actor.role == "auditor" or actor.agency == data["issuing_agency"]:
            return
        with self.events.transaction() as conn:
            row = conn.execute("SELECT state FROM copies WHERE document_id = %s AND"
                               " recipient = %s", (document_id, actor.agency)).fetchone()
        if row is not None and codec.status_from_json(row[0]).recalled:
            raise Forbidden("state: the sender recalled this document; your copy is out of"
                            " use", field="state")

    def _inline(self, attachment, stored):
        """``attachment`` with its bytes instead of a reference, checked against
        the hash the document recorded."""
        limit = self._file_limit()
        if stored["size"] > limit:
            raise PayloadTooLarge(f"inline: {attachment.name} is larger than the"
                                  f" {limit} bytes a package may carry inline", field="inline")
        content = self.files.get_bytes(stored["key"], stored.get("version_id"))
        if hashlib.sha256(content).hexdigest() != stored["sha256"]:
            raise StorageError(f"object storage: {stored['key']} does not match its"
                               " recorded SHA-256")
        return replace(attachment, content=content, uri=None, sha256=None, size=None)

    @rpc
    def import_edxml(self, package_b64):
        """Take in a document package from the national axis (operators, who run the
        connector): store its files, deliver it to the platform agencies its
        ``To`` list names (merged ones to their successors), as if issued here.

        Idempotent: the same package (sender and edXML ``DocumentId``) again
        returns the first answer with ``repeated`` and delivers nothing twice.
        A refusal names the package element and stores nothing.
        """
        actor = require_role(self.auth.actor(), "operator")
        limit = self._file_limit()
        try:
            raw = base64.b64decode(package_b64, validate=True)
        except (ValueError, TypeError):
            raise ValidationFailed("package: not base64", field="package") from None
        # Parsed in a real thread: a large package must not stall the hub.
        package = run_cpu(edxml.import_package, raw, max_bytes=2 * limit,
                          max_attachment_bytes=limit)
        directory, _ = self.directory.load(self.events)
        on = today()
        if inbound.is_recall(package):  # revocation (1) or update (2) of an earlier import
            return self._recall_from_axis(package, actor, directory)
        inbound.check_importable(package, directory.knows)
        recipients = inbound.resolve_recipients(
            package, lambda code: [v.code for v in directory.resolve(code, on)])
        document_id = inbound.document_id_of(package)
        replaced = inbound.recalled_documents(package)  # a replacement (3) names them
        with self.events.transaction() as conn:
            earlier = self._imported(conn, document_id, package)
            for named in [] if earlier is not None else replaced:
                # Checked before any file is stored (and locked): a refusal leaves nothing.
                self._ask_recall(conn, named, package, actor, utc_now(),
                                 replacement_document_id=document_id, save=False)
        if earlier is not None:
            return _jsonable(earlier)
        # The same package may be imported twice at once (the broker redelivers a
        # call whose service died while the connector posts it again): both store
        # their files, one commits under the lock, the other finds it imported,
        # answers ``repeated`` and removes its own versions, not yet under WORM.
        files = self._store_files(document_id, package.attachments, limit)
        now = utc_now()
        document = inbound.record(package, document_id, recipients, files, now)

        def attempt(conn):
            earlier = self._imported(conn, document_id, package, lock=True)
            if earlier is not None:
                return earlier
            self._retain(files)  # before the commit: never an unlocked import
            stored = self._append(conn, document_id,
                                  inbound.received_events(document, actor, now))
            registered = json.dumps(_jsonable(stored[0].to_dict()), ensure_ascii=False)
            conn.execute("INSERT INTO consignments VALUES (%s, %s, %s, true)",
                         (document_id, registered, registered))
            self._project(conn, stored)
            for named in replaced:  # a replacement (3): ask the old copies to agree
                self._ask_recall(conn, named, package, actor, now,
                                 replacement_document_id=document_id)
            failpoint("routing.import.before_commit")
            return inbound.answer(document, repeated=False)

        try:
            result = self._in_transaction(attempt)
        except Exception:
            self._remove(files, "a refused import")
            raise
        if result["repeated"]:
            self._remove(files, "a concurrent repeat of an import")
        failpoint("routing.import.after_commit")
        return _jsonable(result)

    def _recall_from_axis(self, package, actor, directory):
        """A revocation (1) or update (2) from the axis: every copy of the document
        it names (imported before, from the same sender) gets a recall request
        (13), as a sender's own ``request_recall`` would give; the recipients
        answer 15/16. What of its payload is not applied is said in the answer."""
        sender = package.from_agency.id
        if directory.knows(sender):
            raise Conflict(f"{inbound.HEADER}/From/OrganId: {sender} is an agency of this"
                           " platform; it recalls its documents directly",
                           field=f"{inbound.HEADER}/From/OrganId")
        named = inbound.recalled_documents(package)
        now = utc_now()

        def attempt(conn):
            asked, repeated = {}, []
            for edxml_id in named:
                document_id = inbound.imported_id(sender, edxml_id)
                earlier = self._pending_from(conn, document_id, package)
                repeated.append(earlier is not None)
                asked[document_id] = earlier if earlier is not None else self._ask_recall(
                    conn, edxml_id, package, actor, now)
            return asked, all(repeated)

        asked, repeated = self._in_transaction(attempt)
        return _jsonable({"business_type": package.business.doc_type,
                          "documents": [{"document_id": doc, "requested_from": recipients}
                                        for doc, recipients in asked.items()],
                          "not_applied": inbound.not_applied(package), "repeated": repeated})

    def _pending_from(self, conn, document_id, package):
        """The recipients, if every copy of ``document_id`` still awaits an answer
        to the very request this package makes (the axis resent it), else None."""
        business = package.business
        rows = conn.execute("SELECT recipient FROM copies WHERE document_id = %s"
                            " ORDER BY recipient", (document_id,)).fetchall()
        requests = [self._recall(conn, document_id, r) for (r,) in rows]
        same = rows and all(
            r is not None and r.pending and r.sender == package.from_agency.id
            and r.business_type == business.doc_type and r.replacement_document_id is None
            and (r.reason or "") == (business.reason or "").strip() for r in requests)
        return [r for (r,) in rows] if same else None

    def _ask_recall(self, conn, edxml_id, package, actor, now, replacement_document_id=None,
                    save=True):
        """Recall requests (13) from the package's sender to every copy of the
        document it imported before as ``edxml_id``; errors name
        ``Bussiness/DocumentId``. ``save=False`` only checks."""
        path = f"{inbound.BUSINESS}/DocumentId"
        business = package.business
        document_id = inbound.imported_id(package.from_agency.id, edxml_id)
        rows = conn.execute("SELECT recipient FROM copies WHERE document_id = %s"
                            " ORDER BY recipient", (document_id,)).fetchall()
        if not rows:
            raise NotFound(f"{path}: no document {edxml_id} from {package.from_agency.id} was"
                           " taken in from the axis; nothing to"
                           f" {edxml.BUSINESS_DOC_TYPES[business.doc_type]}", field=path)
        user = (business.staff_info.staff if business.staff_info else "") or actor.user_id
        events, requests = [], []
        try:
            for (recipient,) in rows:
                request, change = st.request_recall(
                    self._copy(conn, document_id, recipient),
                    self._recall(conn, document_id, recipient),
                    business_type=business.doc_type, by_agency=package.from_agency.id,
                    at=now, user=user, reason=business.reason or None,
                    replacement_document_id=replacement_document_id)
                events.append(self._change_event("RecallRequested", change, actor))
                requests.append(request)
        except ConcurrencyConflict:
            raise
        except (Conflict, Forbidden, ValidationFailed) as err:
            raise type(err)(f"{path}: {err.message}", field=path) from None
        if not save:
            return []
        self._append(conn, document_id, events)
        for request in requests:
            self._save_recall(conn, request)
        return [r.recipient for r in requests]

    def _imported(self, conn, document_id, package, lock=False):
        """The answer of an earlier import of this package, or None. Another
        package with the same sender, year and number is a conflict. One query,
        so one snapshot: a concurrent import that commits meanwhile is seen
        either wholly or not at all, never as "another package"."""
        if lock:  # one import of a given document at a time
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (document_id,))
        notation, year = f"{package.code_number}/{package.code_notation}", \
            package.promulgation_date.year
        rows = _numbered(conn, package.from_agency.id, notation, or_id=document_id)
        for doc, registered in rows:
            if doc == document_id:
                return inbound.answer(registered["data"], repeated=True)
        clash = [doc for doc, registered in rows if registered["data"].get("year") == year]
        if clash:
            path = "edXMLHeader/MessageHeader/Code"
            raise Conflict(f"{path}: {notation} of {package.from_agency.id} in {year} was"
                           f" imported already, as document {clash[0]}, from another"
                           " package", field=path)
        return None

    def _store_files(self, document_id, attachments, limit):
        """Each file of a package, stored where docs keeps a document's files (put
        under WORM retention by ``_retain`` in the import's transaction, before
        it commits). A refused file removes those stored before it: nothing is
        left."""
        stored = []
        try:
            for n, attachment in enumerate(attachments, 1):
                field = f"{edxml.FILE}[{n}]"
                key = (file_key(document_id) if n == 1
                       else attachment_key(document_id, n - 2))
                check = PdfCheck(field) if n == 1 else AttachmentCheck(field)
                stored.append({**self.files.put_stream(
                    key, io.BytesIO(attachment.content), limit, check).to_dict(),
                    "name": attachment.name})
        except Exception:
            self._remove(stored, "a refused import")
            raise
        return stored

    def _retain(self, files):
        """Put an import's files under COMPLIANCE retention, as issued files are
        (a crash before the commit leaves a locked orphan, never an unlocked
        import)."""
        until = utc_now() + timedelta(days=int(self.config.get("RETENTION_DAYS", 3650)))
        for done in files:
            self.files.lock(done["key"], done["version_id"], until)

    def _remove(self, files, why):
        """Remove the versions an import stored (by version: a concurrent
        import's versions of the same keys stay)."""
        for done in files:
            try:
                self.files.delete(done["key"], version_id=done["version_id"])
            except Exception:  # the answer is what the caller must see
                log.exception("could not remove %s after %s", done["key"], why)

    def _file_limit(self):
        """The largest file a package may carry (the package: twice this)."""
        return int(self.config.get("MAX_UPLOAD_BYTES", edxml.DEFAULT_MAX_BYTES))

    @rpc
    def export_status_edxml(self, document_id, recipient=None):
        """The current status of ``recipient``'s copy as an edXML status package
        (the recipient reporting to the sender), base64.

        A clerk of the recipient sees its own copy (``recipient`` defaults to the
        caller's agency); a clerk of the sender names any recipient; auditors
        name one. Anyone else: ``NotFound``, as for ``statuses``.
        """
        actor = self.auth.actor()
        document_id = checked_uuid(document_id)
        if recipient is None:
            if actor.role == "auditor":
                raise ValidationFailed("recipient: name the recipient whose status to export",
                                       field="recipient")
            recipient = actor.agency
        if not isinstance(recipient, str) or not AGENCY_CODE.match(recipient):
            raise ValidationFailed("recipient: an agency code (XXX.XX.XX.Ynn)",
                                   field="recipient")
        with self.events.transaction() as conn:
            row = conn.execute(
                "SELECT c.sender, c.state, r.registered FROM copies c"
                " JOIN consignments r USING (document_id)"
                " WHERE c.document_id = %s AND c.recipient = %s",
                (document_id, recipient)).fetchone()
        visible = row is not None and (actor.role == "auditor" or (
            actor.role == "clerk" and actor.agency in (recipient, row[0])))
        if not visible or row[2] is None:
            raise NotFound(f"no copy of document {document_id} at {recipient} concerns"
                           " your agency", field="document_id")
        state = codec.status_from_json(row[1])
        change = next(c for c in reversed(state.history) if c.code == state.code)
        description = st.label(change.code) + (f": {change.reason}" if change.reason else "")
        package = edxml.StatusPackage(
            response_for=_response_for(row[2]["data"]),
            from_agency=edxml.Agency(id=recipient), status_code=change.code,
            description=description, timestamp=change.at,
            staff_info=edxml.StaffInfo(staff=change.user))
        return base64.b64encode(edxml.export_status(package)).decode()

    @rpc
    def import_status_edxml(self, package_b64):
        """Apply a status package from the national axis to the copy it reports
        on, by the rules of ``report_status``; operators only. The change, as
        ``report_status`` returns it."""
        actor = require_role(self.auth.actor(), "operator")
        try:
            raw = base64.b64decode(package_b64, validate=True)
        except (ValueError, TypeError):
            raise ValidationFailed("package: not base64", field="package") from None
        try:
            status = run_cpu(edxml.import_status, raw)
        except ValidationFailed as err:
            raise ValidationFailed(f"package: {err.message}", field="package") from None
        answered, agency = status.response_for, status.from_agency.id
        code_path = f"{edxml.STATUS}/StatusCode"

        def attempt(conn):
            document_id = self._issued_document(conn, answered)
            recipients = {r for (r,) in conn.execute(
                "SELECT recipient FROM copies WHERE document_id = %s", (document_id,))}
            if agency not in recipients:
                raise Forbidden(f"{edxml.STATUS}/From/OrganId: {agency} is not a recipient"
                                f" of document {answered.code}",
                                field=f"{edxml.STATUS}/From/OrganId")
            try:
                return self._report(
                    conn, document_id, status.status_code, agency=agency,
                    at=status.timestamp.astimezone(timezone.utc),
                    user=(status.staff_info.staff if status.staff_info else "") or actor.user_id,
                    reason=_reason_of(status), actor=actor)
            except ConcurrencyConflict:
                raise  # _in_transaction retries
            except (ValidationFailed, Conflict) as err:
                # Name the package's elements. A transition st.report refuses is a
                # conflict here: the package is valid, the copy's state forbids it.
                if err.field == "code" and (isinstance(err, Conflict)
                                            or status.status_code in st.PROCESSING_CODES):
                    raise Conflict(f"{code_path}: {err.message}", field=code_path) from None
                if err.field == "reason":
                    raise ValidationFailed(f"{edxml.STATUS}/Description: {err.message}",
                                           field=f"{edxml.STATUS}/Description") from None
                raise

        return _jsonable(self._in_transaction(attempt))

    def _issued_document(self, conn, answered):
        """The id of the issued document an edXML ``ResponseFor`` names: same
        issuing agency, number/notation and date of issue."""
        found = [doc for doc, registered in _numbered(conn, answered.organ_id, answered.code)
                 if _response_for(registered["data"]).promulgation_date
                 == answered.promulgation_date]
        if not found:
            raise NotFound(f"{edxml.STATUS}/ResponseFor: no document {answered.code} issued"
                           f" by {answered.organ_id} on {answered.promulgation_date} is known"
                           " to routing", field=f"{edxml.STATUS}/ResponseFor")
        if len(found) > 1:
            raise Conflict(f"{edxml.STATUS}/ResponseFor: {len(found)} documents match"
                           f" {answered.document_id}", field=f"{edxml.STATUS}/ResponseFor")
        return found[0]

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

    # -- helpers -----------------------------------------------------------------

    def _in_transaction(self, attempt, tries=3):
        """Run ``attempt(conn)`` in a transaction; retry if the stream moved on."""
        return retrying(self.events.transaction, attempt, tries=tries, conflict=lambda: Conflict(
            "the document changed meanwhile; try again", field="document_id"))

    def _append(self, conn, document_id, events):
        """Append at the document's stream's next version (``events`` are of it)."""
        return append_next(self.events.store, events, conn=conn)

    def _project(self, conn, stored):
        for e in stored:
            if e.event_type == "DocumentDelivered":
                data = e.data
                conn.execute("INSERT INTO inbox_items VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                             (data["document_id"], data["recipient"], data["sender"],
                              data["sha256"], data["urgency"], data["consignment_id"],
                              e.occurred_at, json.dumps(thaw(data["trace"]))))
                state, _ = st.delivered(data["document_id"], data["recipient"],
                                        sender=data["sender"], at=e.occurred_at)
                self._save_copy(conn, state)
            elif e.event_type == "ConsignmentSent":
                conn.execute("INSERT INTO sends VALUES (%s, %s, %s, %s, %s)"
                             " ON CONFLICT DO NOTHING",
                             (e.data["consignment_id"], e.data["document_id"],
                              list(e.data["recipients"]), list(e.data["new_recipients"]),
                              e.occurred_at))

    def _copy(self, conn, document_id, recipient):
        row = conn.execute("SELECT state FROM copies WHERE document_id = %s AND recipient = %s"
                           " FOR UPDATE", (document_id, recipient)).fetchone()
        if row is None:
            raise NotFound(f"document {document_id} was not delivered to {recipient}",
                           field="document_id")
        return codec.status_from_json(row[0])

    def _save_copy(self, conn, state):
        conn.execute("INSERT INTO copies VALUES (%s, %s, %s, %s) ON CONFLICT (document_id,"
                     " recipient) DO UPDATE SET state = EXCLUDED.state",
                     (state.document_id, state.recipient, state.sender,
                      json.dumps(codec.to_json(state))))

    def _recall(self, conn, document_id, recipient):
        row = conn.execute("SELECT state FROM recalls WHERE document_id = %s AND recipient = %s"
                           " FOR UPDATE", (document_id, recipient)).fetchone()
        return codec.recall_from_json(row[0]) if row else None

    def _save_recall(self, conn, request):
        conn.execute("INSERT INTO recalls VALUES (%s, %s, %s) ON CONFLICT (document_id,"
                     " recipient) DO UPDATE SET state = EXCLUDED.state",
                     (request.document_id, request.recipient,
                      json.dumps(codec.to_json(request))))

    def _change_event(self, event_type, change, actor):
        return new_event(event_type, _jsonable(change.to_dict()), actor=actor,
                         producer=domain.SERVICE, stream_id=domain.stream_of(change.document_id))


def _package(registered, traces):
    """The edXML package of an issued document (its ``DocumentIssued`` event)."""
    data = registered["data"]
    issued = datetime.fromisoformat(data["issued_at"])
    hops = [edxml.Trace(data["issuing_agency"], issued)]
    for recipient, trace in traces:
        hops.append(edxml.Trace(recipient, datetime.fromisoformat(trace[-1]["at"])))
    number, notation = data["number_notation"].split("/", 1)
    signer = data.get("signer") or {}
    date_ = deadlines.vietnam_time(issued).date()
    return edxml.Package(
        from_agency=edxml.Agency(id=data["issuing_agency"]),
        to_agencies=[edxml.Agency(id=r) for r in data["recipients"]],
        code_number=number, code_notation=notation, promulgation_date=date_,
        document_type=inbound.edxml_document_type(data["document_type"]),
        subject=data["subject"], priority=int(data["urgency"]), traces=hops,
        signer=edxml.Signer(competence=signer.get("competence", ""),
                            position=signer.get("position", ""),
                            full_name=signer.get("full_name", "")),
        due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
        page_amount=data.get("page_count"), appendixes=list(data.get("appendices") or ()),
        steering_type=data.get("steering_type"),
        document_id=f"{data['issuing_agency']},{date_:%Y/%m/%d},{data['number_notation']}",
        # Every file: the document, then its appendices and other attachments.
        attachments=[edxml.Attachment(
            content_id="main" if n == 0 else f"file-{n}",
            name=stored.get("name") or ("main.pdf" if n == 0 else f"file-{n}"),
            content_type=stored.get("content_type") or ("application/pdf" if n == 0 else ""),
            uri=f"lienthong:{stored['key']}", sha256=stored["sha256"], size=stored["size"])
            for n, stored in enumerate([data["file"], *(data.get("attachments") or ())])],
    )


def _response_for(data):
    """The edXML ``ResponseFor`` naming an issued document (its ``DocumentIssued``
    data), with the date and ``DocumentId`` that ``_package`` writes."""
    date_ = deadlines.vietnam_time(datetime.fromisoformat(data["issued_at"])).date()
    return edxml.ResponseFor(
        organ_id=data["issuing_agency"], code=data["number_notation"], promulgation_date=date_,
        document_id=f"{data['issuing_agency']},{date_:%Y/%m/%d},{data['number_notation']}")


def _reason_of(status):
    """A status package's Description as a reason, without the label that
    ``export_status_edxml`` writes before it."""
    text = status.description.strip()
    label = st.label(status.status_code)
    if text == label:
        return None
    if text.startswith(label + ":"):
        text = text[len(label) + 1:].strip()
    return text or None


def _numbered(conn, agency, number_notation, or_id=None):
    """``(document_id, DocumentIssued envelope)`` of each document routing knows
    that ``agency`` issued as ``number_notation`` (any year), and of document
    ``or_id`` if it is known, in one snapshot."""
    return [(str(doc), registered) for doc, registered in conn.execute(
        "SELECT document_id, registered FROM consignments"
        " WHERE (registered -> 'data' ->> 'issuing_agency' = %s"
        " AND registered -> 'data' ->> 'number_notation' = %s)"
        " OR document_id = %s",
        (agency, number_notation, or_id)).fetchall()]


def _check_exchangeable(document):
    """A state secret (secrecy other than 0, "Thường") never goes out electronically."""
    if document.get("secrecy") != 0:
        raise ValidationFailed(f"secrecy: document {document['document_id']} is a state"
                               f" secret (level {document.get('secrecy')}) and is excluded"
                               " from electronic exchange", field="secrecy")


def _date(value):
    if value is None:
        return today()
    try:
        return datetime.fromisoformat(str(value)).date() if "T" in str(value) \
            else datetime.strptime(str(value), "%Y-%m-%d").date()
    except ValueError:
        raise ValidationFailed("on: a date as YYYY-MM-DD", field="on") from None

