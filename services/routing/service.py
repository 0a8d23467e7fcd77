"""nameko entrypoints of the routing service: thin. Each loads what it needs,
lets a use case (``commands``: one command transaction through
``shared.command``) decide and store, and shapes the answer. The rules live
in ``domain`` (consignments), ``directory`` (agencies), ``statuses`` (status
and recall negotiation), ``deadlines`` and ``inbound``; the tables in
``store``; the read-only answers in ``queries``; the national-axis (edXML)
connector in ``connector``; the providers in ``dependencies``."""

import logging

from services.routing import commands, domain, queries
from services.routing import statuses as st
from services.routing.connector import AxisConnector
from services.routing.deadlines import vietnam_time
from services.routing.dependencies import AgencyDirectory, OverdueWatch, record_overdue
from shared.directory import Directory
from services.routing.settings import RoutingSettings
from services.routing.store import DDL, MIGRATIONS, RoutingStore
from shared.auth import require_role
from shared.config import SettingsProvider
from shared.edge.authenticator import Authenticator
from shared.edge.handlers import event_handler
from shared.edge.mixins import DeadLetters, Health
from shared.edge.providers import EventStoreProvider, ObjectStoreProvider
from shared.edge.rpc import rpc
from shared.envelope import utc_now
from shared.failpoints import failpoint
from shared.values import checked_uuid

__all__ = ["RoutingService", "record_overdue", "DDL", "today"]

log = logging.getLogger(__name__)


def today():
    """Today in Vietnam."""
    return vietnam_time(utc_now()).date()


class _SigningPort:
    """The packages' XML signatures (``connector.PackageSignatures``) through the
    signing service, for this call's caller."""

    def __init__(self, onward):
        self._onward = onward

    def sign(self, package_b64):
        with self._onward() as services:
            return services.signing.sign_edxml(package_b64)

    def verify(self, package_b64):
        with self._onward() as services:
            return services.signing.verify_edxml(package_b64)


class RoutingService(Health, DeadLetters):
    name = domain.SERVICE

    events = EventStoreProvider(migrations=(MIGRATIONS,))
    auth = Authenticator()
    directory = AgencyDirectory()
    files = ObjectStoreProvider()
    overdue_watch = OverdueWatch()
    settings = SettingsProvider(RoutingSettings)

    @property
    def store(self):
        """The projection's rows, in this worker's service schema."""
        return RoutingStore(self.events.db)

    @property
    def log(self):
        return self.events.store

    @property
    def connector(self):
        return AxisConnector(self.store, self.log, self.files, self.settings,
                             _SigningPort(self.auth.onward))

    def _directory(self):
        return self.directory.load(self.events)[0]

    # -- the first consignment, from events ------------------------------------

    @event_handler("docs", "DocumentIssued", requeue_on_error=True)
    def on_document_issued(self, payload):
        """An issued document (number, recipients, file) waits for its signature."""
        self._follow_issue("routing.on_document_issued", payload, "registered")

    @event_handler("signing", "DocumentFinalized", requeue_on_error=True)
    def on_document_finalized(self, payload):
        """Both signatures and the signed manifest: with the issue, it may go out."""
        self._follow_issue("routing.on_document_finalized", payload, "signed")

    def _follow_issue(self, consumer, payload, half):
        self.events.handle_once(consumer, payload, lambda event, conn: commands.follow_issue(
            conn, self.store, self.log, event, half, self._directory, today(), utc_now()))

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
        result = commands.send(self.store, self.log, self._directory, document_id,
                               addressing, consignment_id, actor, today(), utc_now())
        failpoint("routing.send.after_commit")
        return result

    @rpc
    def resolve_addressing(self, addressing, on=None):
        """Which agencies ``addressing`` stands for (today, or on ``on``)."""
        self.auth.actor()
        return {"recipients": self._directory().address(addressing,
                                                        queries.on_date(on, today()))}

    # -- the recipient's side ----------------------------------------------------

    @rpc
    def inbox(self):
        """Documents delivered to the caller's agency: urgent first, then newest."""
        return queries.inbox(self.store, self.auth.actor().agency)

    @rpc
    def report_status(self, document_id, code, reason=None):
        """The recipient reports 02 returned, 03 accepted, 04 assigned, 05, 06."""
        actor = require_role(self.auth.actor(), "clerk")
        return commands.report_status(self.store, self.log, checked_uuid(document_id), code,
                                      reason, actor, utc_now())

    @event_handler("docs", "IncomingAccepted", requeue_on_error=True)
    def on_incoming_accepted(self, payload):
        """The recipient's clerk accepted it into the incoming register: 03."""
        self._follow_status("routing.on_incoming_accepted", payload, st.ACCEPTED)

    @event_handler("docs", "IncomingReturned", requeue_on_error=True)
    def on_incoming_returned(self, payload):
        """The recipient's clerk returned it to the sender, with a reason: 02."""
        self._follow_status("routing.on_incoming_returned", payload, st.RETURNED)

    def _follow_status(self, consumer, payload, code):
        self.events.handle_once(consumer, payload, lambda event, conn: commands.follow_status(
            conn, self.store, self.log, event, code))

    @rpc
    def statuses(self, document_id):
        """Per recipient, the current status and its history. The sender (and
        auditors) see every recipient; a recipient sees its own copy."""
        actor = self.auth.actor()
        return queries.statuses(self.store, checked_uuid(document_id), actor)

    # -- recall, update, replace -------------------------------------------------

    @rpc
    def request_recall(self, document_id, business_type, reason=None,
                       replacement_document_id=None):
        """The sender asks every recipient (13) to agree to a revoke (1), update
        (2) or replace (3)."""
        actor = require_role(self.auth.actor(), "clerk")
        return commands.request_recall(self.store, self.log, checked_uuid(document_id),
                                       business_type, reason, replacement_document_id,
                                       actor, utc_now())

    @rpc
    def answer_recall(self, document_id, agree, reason=None):
        """The recipient agrees (15) or refuses (16, reason required)."""
        actor = require_role(self.auth.actor(), "clerk")
        return commands.answer_recall(self.store, self.log, checked_uuid(document_id), agree,
                                      reason, actor, utc_now())

    @rpc
    def recall_outcome(self, document_id):
        actor = self.auth.actor()
        return queries.recall_outcome(self.store, checked_uuid(document_id), actor)

    # -- deadlines ---------------------------------------------------------------

    @rpc
    def overdue(self):
        """Overdue copies: of the caller's agency, or of every agency for auditors."""
        return queries.overdue(self.store, self.auth.actor(), utc_now())

    # -- the agency directory ----------------------------------------------------

    @rpc
    def agencies(self, on=None, under=None, level=None):
        self.auth.actor()
        return queries.agencies(self._directory(), queries.on_date(on, today()), under, level)

    @rpc
    def agency(self, code, on=None):
        """The agency ``code`` as of ``on`` (today); ``NotFound`` naming ``code``
        if the directory has none effective then."""
        self.auth.actor()
        found = self._directory().get(code, queries.on_date(on, today()))
        return commands.jsonable(found.to_dict())

    @rpc
    def browse_agencies(self, parent=None, q="", page=1, size=50, on=None):
        """A page of the directory: under ``parent``, or searched by ``q``."""
        self.auth.actor()
        return queries.browse(self._directory(), queries.on_date(on, today()), parent, q,
                              page, size)

    @rpc
    def agency_history(self, code):
        """Every version of ``code``, oldest first (renames, moves, its retirement)."""
        self.auth.actor()
        return commands.jsonable([v.to_dict() for v in self._directory().history(code)])

    @rpc
    def change_directory(self, changes):
        """Apply dated changes (create, rename, move, merge, split, dissolve); operators only."""
        actor = require_role(self.auth.actor(), "operator")
        return commands.change_directory(self.store, self.log, lambda conn:
                                         self.directory.load(self.events, conn),
                                         changes, actor)

    @rpc
    def export_directory(self, on=None):
        self.auth.actor()
        return self._directory().export_csv(queries.on_date(on, today()))

    @rpc
    def import_directory(self, csv_text, on):
        """Create the agencies of a CSV export (as of ``on``); operators only."""
        require_role(self.auth.actor(), "operator")
        scratch = Directory()
        scratch.import_csv(csv_text, queries.on_date(on, today()))
        return self.change_directory(scratch.changes)

    # -- edXML (QCVN 102:2016), the national axis ----------------------------------

    @rpc
    def export_edxml(self, document_id, inline=False, signed=None):
        """The document as an edXML package, base64: files by reference (our
        extension), or with ``inline`` carried in the package as the standard
        does (read from the object store; at most ``MAX_UPLOAD_BYTES`` a file).
        A clerk of the sender gets it with the agency's XML signature (the
        signing service writes it) unless ``signed`` is false."""
        actor = self.auth.actor()
        return self.connector.export_document(actor, checked_uuid(document_id), inline, signed)

    @rpc
    def import_edxml(self, package_b64):
        """Take in a document package from the national axis (operators, who run the
        connector): store its files, deliver it to the platform agencies its
        ``To`` list names (merged ones to their successors), as if issued here.

        Idempotent: the same package (sender and edXML ``DocumentId``) again
        returns the first answer with ``repeated`` and delivers nothing twice.
        A refusal names the package element and stores nothing. A package with
        an XML signature is taken in only if it holds (the signing service
        checks it against the trusted roots); the answer's ``signature`` says.
        """
        actor = require_role(self.auth.actor(), "operator")
        return self.connector.import_document(actor, package_b64, self._directory, today())

    @rpc
    def export_status_edxml(self, document_id, recipient=None, signed=None):
        """The current status of ``recipient``'s copy as an edXML status package
        (the recipient reporting to the sender), base64.

        A clerk of the recipient sees its own copy (``recipient`` defaults to the
        caller's agency), signed by its agency unless ``signed`` is false; a
        clerk of the sender names any recipient; auditors name one. Anyone
        else: ``NotFound``, as for ``statuses``.
        """
        actor = self.auth.actor()
        return self.connector.export_status(actor, checked_uuid(document_id), recipient,
                                            signed)

    @rpc
    def import_status_edxml(self, package_b64):
        """Apply a status package from the national axis to the copy it reports
        on, by the rules of ``report_status``; operators only. The change, as
        ``report_status`` returns it."""
        actor = require_role(self.auth.actor(), "operator")
        return self.connector.import_status(actor, package_b64)

    @rpc
    def state_summary(self):
        """Every document as this service knows it, sorted by id (auditors only).

        The agencies it was delivered to (the inbox items) and, when delivery
        was refused, the reason its ``DeliveryRefused`` event gives.
        """
        require_role(self.auth.actor(), "auditor")
        return queries.state_summary(self.store)
