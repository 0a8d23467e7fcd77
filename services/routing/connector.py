"""The national-axis connector: documents and status reports as edXML
packages (QCVN 102:2016), out and in.

Out: an issued document as a package (files by reference, or inline from the
object store, checked against their recorded hashes), a copy's status as a
status package. In: a package's files stored where docs keeps a document's
files and locked under retention in the import's transaction, then
``commands.import_document`` (or, for a revocation or update,
``commands.recall_from_axis``); a status package applied by the rules of
``report_status``, its refusals naming the package's elements.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Any, Callable, Protocol

from services.routing import commands, deadlines, edxml, inbound
from services.routing import statuses as st
from shared.directory import Directory
from services.routing.settings import RoutingSettings
from shared.command import retrying
from shared.documents import attachment_key, file_key
from shared import clock
from shared.envelope import AGENCY_CODE, Actor, utc_now
from shared.errors import (
    ConcurrencyConflict, Conflict, Forbidden, NotFound, PayloadTooLarge, StorageError,
    ValidationFailed,
)
from shared.failpoints import failpoint
from shared.green import run_cpu
from shared.signers import competence_text
from shared.objectstore import AttachmentCheck, PdfCheck

log = logging.getLogger(__name__)


def decode(package_b64: Any) -> bytes:
    try:
        return base64.b64decode(package_b64, validate=True)
    except (ValueError, TypeError):
        raise ValidationFailed("package: not base64", field="package") from None


def _encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def edxml_date(data: dict) -> date:
    """The date of issue (Vietnam time) of an issued document's data."""
    return deadlines.vietnam_time(datetime.fromisoformat(data["issued_at"])).date()


def edxml_document_id(data: dict) -> str:
    return f"{data['issuing_agency']},{edxml_date(data):%Y/%m/%d},{data['number_notation']}"


def package_of(registered: dict, traces: list) -> edxml.Package:
    """The edXML package of an issued document (its ``DocumentIssued`` event)."""
    data = registered["data"]
    issued = datetime.fromisoformat(data["issued_at"])
    hops = [edxml.Trace(data["issuing_agency"], issued)]
    for recipient, trace in traces:
        hops.append(edxml.Trace(recipient, datetime.fromisoformat(trace[-1]["at"])))
    number, notation = data["number_notation"].split("/", 1)
    signer = data.get("signer") or {}
    return edxml.Package(
        from_agency=edxml.Agency(id=data["issuing_agency"]),
        to_agencies=[edxml.Agency(id=r) for r in data["recipients"]],
        code_number=number, code_notation=notation, promulgation_date=edxml_date(data),
        document_type=inbound.edxml_document_type(data["document_type"]),
        subject=data["subject"], priority=int(data["urgency"]), traces=hops,
        signer=edxml.Signer(competence=competence_text(signer),
                            position=signer.get("position", ""),
                            full_name=signer.get("full_name", "")),
        due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
        page_amount=data.get("page_count"), appendixes=list(data.get("appendices") or ()),
        steering_type=data.get("steering_type"), document_id=edxml_document_id(data),
        # Every file: the document, then its appendices and other attachments.
        attachments=[edxml.Attachment(
            content_id="main" if n == 0 else f"file-{n}",
            name=stored.get("name") or ("main.pdf" if n == 0 else f"file-{n}"),
            content_type=stored.get("content_type") or ("application/pdf" if n == 0 else ""),
            uri=f"lienthong:{stored['key']}", sha256=stored["sha256"], size=stored["size"])
            for n, stored in enumerate([data["file"], *(data.get("attachments") or ())])],
    )


def response_for(data: dict) -> edxml.ResponseFor:
    """The edXML ``ResponseFor`` naming an issued document (its ``DocumentIssued``
    data), with the date and ``DocumentId`` that ``package_of`` writes."""
    return edxml.ResponseFor(
        organ_id=data["issuing_agency"], code=data["number_notation"],
        promulgation_date=edxml_date(data), document_id=edxml_document_id(data))


def reason_of(status: edxml.StatusPackage) -> str | None:
    """A status package's Description as a reason, without the label that
    ``export_status`` writes before it."""
    text = status.description.strip()
    label = st.label(status.status_code)
    if text == label:
        return None
    if text.startswith(label + ":"):
        text = text[len(label) + 1:].strip()
    return text or None


def _unknown(document_id: str) -> NotFound:
    return NotFound(f"document {document_id} is not known to routing", field="document_id")


class PackageSignatures(Protocol):
    """The sending agency's XML signature on a package (the signing service holds
    the keys and the trusted roots): ``sign`` gives the package (base64) signed,
    ``verify`` the report of ``services.signing.verification.verify_edxml``."""

    def sign(self, package_b64: str) -> str: ...

    def verify(self, package_b64: str) -> dict: ...


SIGNATURE = "edXMLHeader/Signature"
_DSIG_NS = b"http://www.w3.org/2000/09/xmldsig#"
_UNSIGNED = {"signed": False, "signer": None, "agency_code": None}


class AxisConnector:
    """One call's connector: routing's ``store`` and event ``log``, the object
    store ``files``, the service's ``settings``, the packages' ``signatures``."""

    def __init__(self, store: Any, log_: Any, files: Any, settings: RoutingSettings,
                 signatures: PackageSignatures | None = None) -> None:
        self.store, self.log, self.files, self.settings = store, log_, files, settings
        self.signatures = signatures

    def _signed_by_sender(self, actor: Actor, sender: str, package_b64: str,
                          signed: Any) -> str:
        """What the sending agency's own clerk exports carries its XML signature
        (the package as it goes to the axis) unless ``signed`` is False (a copy
        to look at); others' exports are read-only copies, unsigned."""
        if signed not in (None, True, False):
            raise ValidationFailed("signed: true or false", field="signed")
        own = actor.role == "clerk" and actor.agency == sender
        if signed and not own:
            raise Forbidden(f"signed: only a clerk of the sender {sender} signs its package",
                            field="signed")
        if signed is False or not own or self.signatures is None:
            return package_b64
        return self.signatures.sign(package_b64)

    def _checked_signature(self, raw: bytes, package_b64: str) -> dict:
        """A package's XML signature checked when it has one (refused, naming the
        failed checks, when it does not hold); what the answer says of it."""
        if _DSIG_NS not in raw or self.signatures is None:
            return dict(_UNSIGNED)
        report = self.signatures.verify(package_b64)
        if not report["signed"]:
            return dict(_UNSIGNED)
        if not report["ok"]:
            failed = "; ".join(f"{c['check']}: {c['detail']}" for c in report["checks"]
                               if not c["ok"])
            raise ValidationFailed(f"{SIGNATURE}: the package's XML signature does not hold"
                                   f" ({failed}); nothing was taken in", field=SIGNATURE)
        signer = report["signatures"][0]
        return {"signed": True, "signer": signer["signer"], "agency_code": signer["agency_code"]}

    @property
    def limit(self) -> int:
        """The largest file a package may carry (the package: twice this)."""
        return self.settings.max_upload_bytes

    # -- documents out ---------------------------------------------------------------

    def export_document(self, actor: Actor, document_id: str, inline: Any,
                        signed: Any = None) -> str:
        """The document as a package, base64: files by reference (our extension),
        or with ``inline`` carried in it as the standard does; with the sender's
        XML signature when its clerk asks (``_signed_by_sender``)."""
        with self.store.transaction() as conn:
            row = self.store.consignment(conn, document_id)
            traces = self.store.traces(conn, document_id)
        if row is None or row["registered"] is None:
            raise _unknown(document_id)
        data = row["registered"]["data"]
        if actor.role != "auditor" and actor.agency not in \
                [data["issuing_agency"], *[t[0] for t in traces]]:
            raise _unknown(document_id)
        package = package_of(row["registered"], traces)
        if inline is True:
            self._check_not_recalled(document_id, actor, data)
            package.attachments = [self._inline(a, f) for a, f in zip(
                package.attachments, [data["file"], *data.get("attachments", ())])]
        elif inline is not False:
            raise ValidationFailed("inline: true or false", field="inline")
        return self._signed_by_sender(actor, package.from_agency.id,
                                      _encode(edxml.export_package(package)), signed)

    def _check_not_recalled(self, document_id: str, actor: Actor, data: dict) -> None:
        """A recipient whose copy was recalled (the revoke agreed) gets no bytes of
        it, as docs' file URLs refuse; the sender and auditors keep access."""
        if actor.role == "auditor" or actor.agency == data["issuing_agency"]:
            return
        with self.store.transaction() as conn:
            copy_ = self.store.copy(conn, document_id, actor.agency)
        if copy_ is not None and copy_.recalled:
            raise Forbidden("state: the sender recalled this document; your copy is out of"
                            " use", field="state")

    def _inline(self, attachment: edxml.Attachment, stored: dict) -> edxml.Attachment:
        """``attachment`` with its bytes instead of a reference, checked against
        the hash the document recorded."""
        if stored["size"] > self.limit:
            raise PayloadTooLarge(f"inline: {attachment.name} is larger than the"
                                  f" {self.limit} bytes a package may carry inline",
                                  field="inline")
        content = self.files.get_bytes(stored["key"], stored.get("version_id"))
        if hashlib.sha256(content).hexdigest() != stored["sha256"]:
            raise StorageError(f"object storage: {stored['key']} does not match its"
                               " recorded SHA-256")
        return replace(attachment, content=content, uri=None, sha256=None, size=None)

    # -- documents in ----------------------------------------------------------------

    def import_document(self, actor: Actor, package_b64: Any,
                        load_directory: Callable[[], Directory], today: date) -> dict:
        """A package from the axis, delivered to the platform agencies its ``To``
        list names (merged ones to their successors); idempotent on its sender
        and edXML ``DocumentId``; a refusal names the element, stores nothing.
        Its XML signature, when it has one, must hold (``_checked_signature``)."""
        raw = decode(package_b64)
        # Parsed in a real thread: a large package must not stall the hub.
        package = run_cpu(edxml.import_package, raw, max_bytes=2 * self.limit,
                          max_attachment_bytes=self.limit)
        signature = self._checked_signature(raw, package_b64)
        return {**self._import_document(actor, package, load_directory, today),
                "signature": signature}

    def _import_document(self, actor: Actor, package: edxml.Package,
                         load_directory: Callable[[], Directory], today: date) -> dict:
        directory = load_directory()
        if inbound.is_recall(package):  # revocation (1) or update (2) of an earlier import
            return commands.recall_from_axis(self.store, self.log, package, directory, actor,
                                             utc_now())
        inbound.check_importable(package, directory.knows)
        elsewhere: list[dict] = []  # To codes not on the platform: said, not refused
        recipients = inbound.resolve_recipients(
            package, lambda code: [v.code for v in directory.resolve(code, today)], elsewhere)
        document_id = inbound.document_id_of(package)
        earlier = commands.check_import(self.store, package, document_id, actor, utc_now())
        if earlier is not None:
            return {**commands.jsonable(earlier), "not_delivered": elsewhere}
        # The same package may be imported twice at once (the broker redelivers a
        # call whose service died while the connector posts it again): both store
        # their files, one commits under the lock, the other finds it imported,
        # answers ``repeated`` and removes its own versions, not yet under WORM.
        files = self._store_files(document_id, package.attachments)
        now = utc_now()
        document = inbound.record(package, document_id, recipients, files, now)
        try:
            result = commands.import_document(self.store, self.log, package, document, actor,
                                              now, within=lambda conn: self._retain(files))
        except Exception:
            self._remove(files, "a refused import")
            raise
        if result["repeated"]:
            self._remove(files, "a concurrent repeat of an import")
        failpoint("routing.import.after_commit")
        return {**result, "not_delivered": elsewhere}

    def _store_files(self, document_id: str, attachments: list) -> list[dict]:
        """Each file of a package, stored where docs keeps a document's files (put
        under WORM retention by ``_retain`` in the import's transaction, before
        it commits). A refused file removes those stored before it."""
        stored: list[dict] = []
        try:
            for n, attachment in enumerate(attachments, 1):
                field = f"{edxml.FILE}[{n}]"
                key = file_key(document_id) if n == 1 else attachment_key(document_id, n - 2)
                check = PdfCheck(field) if n == 1 else AttachmentCheck(field)
                stored.append({**self.files.put_stream(
                    key, io.BytesIO(attachment.content), self.limit, check).to_dict(),
                    "name": attachment.name})
        except Exception:
            self._remove(stored, "a refused import")
            raise
        return stored

    def _retain(self, files: list[dict]) -> None:
        """Put an import's files under COMPLIANCE retention, as issued files are
        (a crash before the commit leaves a locked orphan, never an unlocked import)."""
        until = clock.retained_until(self.settings.retention_days)
        for done in files:
            self.files.lock(done["key"], done["version_id"], until)

    def _remove(self, files: list[dict], why: str) -> None:
        """Remove the versions an import stored (by version: a concurrent
        import's versions of the same keys stay)."""
        for done in files:
            try:
                self.files.delete(done["key"], version_id=done["version_id"])
            except Exception:  # the answer is what the caller must see
                log.exception("could not remove %s after %s", done["key"], why)

    # -- status reports out and in ---------------------------------------------------

    def export_status(self, actor: Actor, document_id: str, recipient: Any,
                      signed: Any = None) -> str:
        """The current status of ``recipient``'s copy as a status package, base64:
        a clerk of the recipient (its own copy, the default; signed by the
        recipient as ``_signed_by_sender`` says), a clerk of the sender (any
        recipient), auditors (one named); anyone else ``NotFound``."""
        if recipient is None:
            if actor.role == "auditor":
                raise ValidationFailed("recipient: name the recipient whose status to export",
                                       field="recipient")
            recipient = actor.agency
        if not isinstance(recipient, str) or not AGENCY_CODE.match(recipient):
            raise ValidationFailed("recipient: an agency code (XXX.XX.XX.Ynn)",
                                   field="recipient")
        with self.store.transaction() as conn:
            state = self.store.copy(conn, document_id, recipient)
            row = self.store.consignment(conn, document_id)
        visible = state is not None and row is not None and (actor.role == "auditor" or (
            actor.role == "clerk" and actor.agency in (recipient, state.sender)))
        if not visible or row["registered"] is None:
            raise NotFound(f"no copy of document {document_id} at {recipient} concerns"
                           " your agency", field="document_id")
        change = next(c for c in reversed(state.history) if c.code == state.code)
        description = st.label(change.code) + (f": {change.reason}" if change.reason else "")
        return self._signed_by_sender(actor, recipient, _encode(edxml.export_status(
            edxml.StatusPackage(
                response_for=response_for(row["registered"]["data"]),
                from_agency=edxml.Agency(id=recipient), status_code=change.code,
                description=description, timestamp=change.at,
                staff_info=edxml.StaffInfo(staff=change.user)))), signed)

    def import_status(self, actor: Actor, package_b64: Any) -> dict:
        """A status package applied to the copy it reports on, by the rules of
        ``report_status``: the change."""
        raw = decode(package_b64)
        try:
            status = run_cpu(edxml.import_status, raw)
        except ValidationFailed as err:
            raise ValidationFailed(f"package: {err.message}", field="package") from None
        signature = self._checked_signature(raw, package_b64)
        return {**commands.jsonable(retrying(self.store.transaction,
                                             lambda conn: self._report(conn, status, actor),
                                             conflict=commands.conflict)),
                "signature": signature}

    def _report(self, conn: Any, status: edxml.StatusPackage, actor: Actor) -> dict:
        agency, code_path = status.from_agency.id, f"{edxml.STATUS}/StatusCode"
        document_id = self._issued_document(conn, status.response_for)
        if agency not in {c.recipient for c in self.store.copies(conn, document_id)}:
            raise Forbidden(f"{edxml.STATUS}/From/OrganId: {agency} is not a recipient"
                            f" of document {status.response_for.code}",
                            field=f"{edxml.STATUS}/From/OrganId")
        try:
            return commands.report_within(
                conn, self.store, self.log, document_id, status.status_code, agency=agency,
                at=status.timestamp.astimezone(timezone.utc),
                user=(status.staff_info.staff if status.staff_info else "") or actor.user_id,
                reason=reason_of(status), actor=actor)
        except ConcurrencyConflict:
            raise  # retried
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

    def _issued_document(self, conn: Any, answered: edxml.ResponseFor) -> str:
        """The id of the issued document an edXML ``ResponseFor`` names: same
        issuing agency, number/notation and date of issue."""
        found = [doc for doc, registered in self.store.numbered(
                     conn, answered.organ_id, answered.code)
                 if response_for(registered["data"]).promulgation_date
                 == answered.promulgation_date]
        if not found:
            raise NotFound(f"{edxml.STATUS}/ResponseFor: no document {answered.code} issued"
                           f" by {answered.organ_id} on {answered.promulgation_date} is known"
                           " to routing", field=f"{edxml.STATUS}/ResponseFor")
        if len(found) > 1:
            raise Conflict(f"{edxml.STATUS}/ResponseFor: {len(found)} documents match"
                           f" {answered.document_id}", field=f"{edxml.STATUS}/ResponseFor")
        return found[0]
