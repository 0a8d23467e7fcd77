"""edXML packages (QCVN 102:2016/BTTTT) in and out: a pure codec, no I/O.

We write the layout the national axis SDKs (VPCP/VNPT ``EdXML102``, Bkav)
write, as their public examples show it (the official text was not read)::

    <edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
      <edXML:edXMLEnvelope xmlns:edXML="...same namespace...">
        <edXML:edXMLHeader>
          <edXML:MessageHeader>...</edXML:MessageHeader>
          <edXML:TraceHeaderList>TraceHeader..., Bussiness</edXML:TraceHeaderList>
        </edXML:edXMLHeader>
        <edXML:edXMLBody>
          <edXML:edXMLManifest version="1.0">
            <edXML:Reference xlink:href="cid:main" xlink:type="simple">
              Description, AttachmentName, ContentType
            </edXML:Reference>
          </edXML:edXMLManifest>
        </edXML:edXMLBody>
      </edXML:edXMLEnvelope>
      <AttachmentEncoded>
        <Attachment>ContentType, ContentId, Description,
                    ContentTransferEncoded (base64), AttachmentName</Attachment>
      </AttachmentEncoded>
    </edXML>

A status package has the same root and envelope, the status fields directly
under ``MessageHeader`` (From, ResponseFor, StaffInfo, StatusCode,
Description, Timestamp) and no body. Dates are written ``yyyy/MM/dd``, times
``yyyy/MM/dd HH:mm:ss`` in Vietnam time (whole seconds), ``DocumentType/Type``
as an integer.

We also read the project's older layout (root ``edXMLEnvelope``,
``edXMLBody/Attachment`` with ``Content``, status under
``edXMLHeader/Status``), ISO dates and timestamps, ``dd/MM/yyyy`` dates.

Where we still differ from the SDKs:

* Files may travel by reference: a manifest ``Reference`` then carries a
  ``ContentReference`` (``Uri``, ``Sha256``, ``Size``) in our own extension
  namespace ``urn:lienthong:edxml-ext:1`` instead of an ``AttachmentEncoded``
  entry. Other implementations will not find those files.
* We write each file inline as it is; the SDKs usually zip it first
  (``ContentType`` ``application/zip`` in ``AttachmentEncoded``). On import
  such a ZIP is unpacked, within limits (:func:`unpack_zip`).
* The XML signature (``Signature`` in ``edXMLHeader``) is not this codec's: the
  signing service writes and checks it (``services.signing.xmldsig``); here
  it is skipped like every unknown element.
* A zone-less time is Vietnam time (+07:00). Sub-second precision is not
  written (the SDKs' times have none).

Identifiers (``OrganId``): the 13-character form of Decision 20/2020/QĐ-TTg
Art. 4 (``XXX.XX.XX.Ynn``) and, as QCVN 102 amendment 1:2022 admits them, the
codes of enterprises and other organisations of Art. 5 and 6, taken here to be
their registration/tax codes: 10 digits, 10 digits with a ``-NNN`` unit suffix,
or 12 digits (the official text of Decision 20 was not read; see
:data:`ORGAN_ID_FORMS`). A ``TraceHeader`` added by the axis may lack its
``OrganId``.

Parsing is hardened without defusedxml (not installed): any ``<!DOCTYPE`` or
``<!ENTITY`` in the raw bytes is refused before parsing, and the expat parser
itself refuses a DOCTYPE or entity declaration (which also catches them in
UTF-16 input, where the byte check cannot see them). Without a DTD there are
no entities to expand, internal or external. The tree is bounded while expat
reads it: too many elements, or elements nested too deep, are refused before
they are built (``DEFAULT_MAX_ELEMENTS``, ``DEFAULT_MAX_DEPTH``).

Every refusal is a :class:`ValidationFailed` whose message starts with the
element path inside the envelope, e.g.
``edXMLHeader/MessageHeader/From/OrganId: not an agency code ...``; the files
outside it are ``AttachmentEncoded/Attachment[n]``; repeated elements are
numbered from 1 (``To[2]``). Unknown elements are ignored.
"""

import base64
import binascii
import io
import re
import stat
import zipfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import NamedTuple
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from shared.envelope import AGENCY_CODE
from shared.errors import ValidationFailed
from shared.values import VIETNAM

# The namespace URI is taken from the public edXML SDKs (Java, .NET, Go), which
# all use it as the edXML namespace; the official text was not read.
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
# Our extension for attachments moved by reference: not part of QCVN 102:2016.
EXT_NS = "urn:lienthong:edxml-ext:1"
EXT_PREFIX = "lienthong"
ET.register_namespace(EXT_PREFIX, EXT_NS)
XLINK_NS = "http://www.w3.org/1999/xlink"  # the manifest's references

DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # 50 MiB, for the package and for one inline file
# A package's tree is bounded before it is built: a broadcast to every agency
# of a country (~9 elements each) fits; a flood of tiny elements does not.
DEFAULT_MAX_ELEMENTS = 100_000
DEFAULT_MAX_DEPTH = 32  # the standard's deepest path is 5 elements
# A zipped file (as the SDKs send them) is unpacked within these bounds; each
# file it holds is also capped by the per-file limit, all of them together by
# the package limit.
DEFAULT_MAX_ZIP_ENTRIES = 100
DEFAULT_MAX_ZIP_RATIO = 100  # uncompressed / compressed, for entries over 64 KiB
_ZIP_RATIO_FLOOR = 64 * 1024
ZIP_TYPES = ("application/zip", "application/x-zip-compressed")

ROOT = "edXMLEnvelope"  # the path named by errors about the document as a whole
STATUS = "edXMLHeader/MessageHeader"  # where a status package's fields are
FILE = "edXMLBody/edXMLManifest/Reference"  # the n-th file, for the intake's errors

PRIORITIES = {0: "Thường", 1: "Khẩn", 2: "Thượng khẩn", 3: "Hỏa tốc"}
LEGACY_PRIORITY = 4  # Hỏa tốc hẹn giờ: read as 3 (Hỏa tốc), with a note
BUSINESS_DOC_TYPES = {0: "new", 1: "revoke", 2: "update", 3: "replace"}
STEERING_TYPES = {0: "not steering", 1: "steering", 2: "report on steering"}
STATUS_CODES = {
    "01": "đã đến (arrived, not yet handled)",
    "02": "từ chối (rejected / returned; reason required)",
    "03": "tiếp nhận (accepted, registered)",
    "04": "phân công (assigned)",
    "05": "đang xử lý (processing)",
    "06": "hoàn thành (completed)",
    "13": "lấy lại (the sender asks to recall)",
    "15": "agrees to the recall / update",
    "16": "refuses the recall / update",
}

# Electronic identifiers (mã định danh) of Decision 20/2020/QĐ-TTg, by form.
# Art. 4 (state agencies) is the 13-character code; the Art. 5/6 forms
# (enterprises, other organisations) are taken to be registration/tax codes,
# as QCVN 102 amendment 1:2022 admits them (the decision's text was not read).
ORGAN_ID_FORMS = {
    "Art. 4 (XXX.XX.XX.Ynn)": AGENCY_CODE,
    "Art. 5/6 (10 digits)": re.compile(r"^[0-9]{10}$"),
    "Art. 5/6 (10 digits-NNN, a dependent unit)": re.compile(r"^[0-9]{10}-[0-9]{3}$"),
    "Art. 5/6 (12 digits)": re.compile(r"^[0-9]{12}$"),
}
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_DOCUMENT_ID = re.compile(
    r"^(?P<organ>[^,]*),(?P<date>[^,]*),(?P<number>[^,/]*)/(?P<notation>[^,]*)$")
_NUMBER = re.compile(r"^[0-9A-Za-z.\-]+$")
_NOTATION = re.compile(r"^\S(?:[^,]*\S)?$")
_DATE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_SLASH_YMD = re.compile(r"^\d{4}/\d{2}/\d{2}$")
_DATE_SLASH_DMY = re.compile(r"^\d{2}/\d{2}/\d{4}$")
_WILD_TIMESTAMPS = ("%Y/%m/%d %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y/%m/%dT%H:%M:%S")
# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# -- the model -----------------------------------------------------------------


@dataclass
class Agency:
    """``From`` / ``To``: an agency by its electronic identifier (mã định danh)."""

    id: str
    name: str = ""
    in_charge: str = ""  # OrganizationInCharge
    address: str = ""  # OrganAdd
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass
class DocumentType:
    """Kept as text: implementers disagree on edXML's numeric type codes."""

    type: str = ""
    detail: str = ""
    name: str = ""


@dataclass
class Signer:
    competence: str = ""  # signing authority, e.g. "KT. Chủ tịch"
    position: str = ""
    full_name: str = ""


@dataclass
class ResponseFor:
    """A document this one answers (or, in a status package, reports on)."""

    organ_id: str
    code: str  # "number/notation", e.g. "12/QĐ-UBND"
    promulgation_date: date
    document_id: str


class Trace(NamedTuple):
    """One hop: who handled the package ("" when the axis did not say), and
    when (an aware datetime)."""

    organ_id: str
    timestamp: datetime


@dataclass
class StaffInfo:
    department: str = ""
    staff: str = ""
    mobile: str = ""
    email: str = ""


@dataclass
class Replacement:
    """``ReplacementInfo``: the document replaced, and the agencies it went to."""

    document_id: str
    organ_ids: list = field(default_factory=list)


class Receiver(NamedTuple):
    organ_id: str
    receiver_type: str = ""  # as the SDKs carry it, uninterpreted


@dataclass
class BusinessDocumentInfo:
    """``BussinessDocumentInfo`` of an update (2): what changed. The SDKs write
    ``DocumentInfo`` and ``DocumentReceiver`` as flags ("0"/"1": the document's
    details changed / its receivers changed) and the receivers now meant."""

    document_info: str = ""
    document_receiver: str = ""
    receivers: list = field(default_factory=list)  # of Receiver


@dataclass
class Business:
    """The ``Bussiness`` block: what this package does to a document."""

    doc_type: int = 0  # see BUSINESS_DOC_TYPES
    reason: str = ""
    document_id: str | None = None  # the document revoked / updated / replaced
    paper: int | None = None  # whether a paper copy follows (SDKs: 0 / 1)
    staff_info: StaffInfo | None = None
    replacements: list = field(default_factory=list)  # of Replacement
    document_info: BusinessDocumentInfo | None = None


@dataclass
class Attachment:
    """A file: inline (``content``) or by reference (``uri``, ``sha256``, ``size``)."""

    content_id: str
    name: str
    content_type: str = ""
    description: str = ""
    content: bytes | None = None
    uri: str | None = None
    sha256: str | None = None  # lowercase hex
    size: int | None = None

    @property
    def by_reference(self):
        return self.uri is not None


@dataclass
class Package:
    """An edXML document package, in pythonic names."""

    from_agency: Agency
    to_agencies: list  # of Agency, at least one
    code_number: str
    code_notation: str
    promulgation_date: date
    document_type: DocumentType
    subject: str  # trích yếu
    promulgation_place: str = ""
    content: str = ""
    signer: Signer | None = None
    due_date: date | None = None
    to_places: list = field(default_factory=list)  # of str
    priority: int = 0  # see PRIORITIES
    sphere: str = ""  # SphereOfPromulgation
    typer_notation: str = ""
    promulgation_amount: int | None = None
    page_amount: int | None = None
    appendixes: list = field(default_factory=list)  # of str
    response_for: list = field(default_factory=list)  # of ResponseFor
    steering_type: int | None = None  # see STEERING_TYPES
    document_id: str | None = None  # "{OrganId},{yyyy/MM/dd},{number}/{notation}"
    traces: list = field(default_factory=list)  # of Trace
    business: Business | None = None
    attachments: list = field(default_factory=list)  # of Attachment
    # What import had to interpret (e.g. a legacy priority); not part of the package.
    notes: list = field(default_factory=list, compare=False)


@dataclass
class StatusPackage:
    """A status a receiver reports to the sender about one document."""

    response_for: ResponseFor
    from_agency: Agency
    status_code: str  # see STATUS_CODES
    description: str
    timestamp: datetime
    staff_info: StaffInfo | None = None


class DocumentIdParts(NamedTuple):
    organ_id: str
    date: date
    number: str
    notation: str


# -- document ids --------------------------------------------------------------


def document_id(organ_id, on, number, notation):
    """``{OrganId},{yyyy/MM/dd},{number}/{notation}``, e.g.
    ``000.00.00.H41,2024/03/05,12/QĐ-UBND``."""
    text = f"{organ_id},{on:%Y/%m/%d},{number}/{notation}"
    parse_document_id(text)
    return text


def parse_document_id(text, path="DocumentId"):
    """The parts of a document id; :class:`ValidationFailed` naming ``path`` if malformed."""
    shape = "{OrganId},{yyyy/MM/dd},{number}/{notation}"
    match = _DOCUMENT_ID.match(text or "")
    if not match:
        _fail(path, f"not a document id of the form {shape}: {text!r}")
    organ, day, number, notation = match.group("organ", "date", "number", "notation")
    if organ_id_form(organ) is None:
        _fail(path, f"not a document id of the form {shape}: {organ!r} is not an agency code")
    if not _DATE_SLASH_YMD.match(day):
        _fail(path, f"not a document id of the form {shape}: {day!r} is not yyyy/MM/dd")
    try:
        on = datetime.strptime(day, "%Y/%m/%d").date()
    except ValueError:
        _fail(path, f"not a document id of the form {shape}: {day!r} is not a date")
    if not _NUMBER.match(number):
        _fail(path, f"not a document id of the form {shape}: bad number {number!r}")
    if not _NOTATION.match(notation):
        _fail(path, f"not a document id of the form {shape}: bad notation {notation!r}")
    return DocumentIdParts(organ, on, number, notation)


def organ_id_form(code):
    """Which form of :data:`ORGAN_ID_FORMS` ``code`` has, or None."""
    for form, pattern in ORGAN_ID_FORMS.items():
        if isinstance(code, str) and pattern.match(code):
            return form
    return None


# -- export --------------------------------------------------------------------

ENVELOPE = "edXMLEnvelope"


def export_package(pkg):
    """The package as UTF-8 edXML bytes in the SDK layout; refuses what
    :func:`import_package` would."""
    if pkg.priority not in PRIORITIES:
        _fail("edXMLHeader/MessageHeader/OtherInfo/Priority",
              f"must be one of 0..3, got {pkg.priority!r}")
    kind = pkg.document_type.type
    if kind and not (kind.isascii() and kind.isdigit()):
        _fail("edXMLHeader/MessageHeader/DocumentType/Type",
              f"the SDKs write an integer (the Decree 30 type's number, e.g. 18 for"
              f" Công văn), got {kind!r}")
    root = _element(None, "edXML")
    envelope = _element(root, ENVELOPE)
    header = _element(envelope, "edXMLHeader")
    _write_message_header(_element(header, "MessageHeader"), pkg)
    if pkg.traces or pkg.business is not None:
        _write_trace_list(_element(header, "TraceHeaderList"), pkg)
    manifest = _element(_element(envelope, "edXMLBody"), "edXMLManifest")
    manifest.set("version", "1.0")
    encoded = None
    for attachment in pkg.attachments:
        if attachment.content is not None and encoded is None:
            encoded = _element(root, "AttachmentEncoded")  # after the envelope
        _write_attachment(manifest, encoded, attachment)
    _check_characters(envelope, "")
    if encoded is not None:
        _check_characters(encoded, "AttachmentEncoded")
    _read_package(root, _Limits(None, None))  # never send what we would refuse
    return _serialize(root)


def export_status(status):
    """The status package as UTF-8 edXML bytes in the SDK layout: the status
    fields under ``MessageHeader``, no body."""
    root = _element(None, "edXML")
    envelope = _element(root, ENVELOPE)
    node = _element(_element(envelope, "edXMLHeader"), "MessageHeader")
    _write_agency(_element(node, "From"), status.from_agency)
    _write_response_for(_element(node, "ResponseFor"), status.response_for)
    if status.staff_info is not None:
        _write_staff(_element(node, "StaffInfo"), status.staff_info)
    _element(node, "StatusCode", status.status_code)
    _optional(node, "Description", status.description)
    _element(node, "Timestamp", _timestamp_text(status.timestamp, f"{STATUS}/Timestamp"))
    _check_characters(envelope, "")
    _read_status(root)
    return _serialize(root)


def _write_message_header(node, pkg):
    _write_agency(_element(node, "From"), pkg.from_agency)
    for agency in pkg.to_agencies:
        _write_agency(_element(node, "To"), agency)
    code = _element(node, "Code")
    _element(code, "CodeNumber", pkg.code_number)
    _element(code, "CodeNotation", pkg.code_notation)
    info = _element(node, "PromulgationInfo")
    _optional(info, "Place", pkg.promulgation_place)
    _element(info, "PromulgationDate", _date_text(pkg.promulgation_date))
    kind = _element(node, "DocumentType")
    _optional(kind, "Type", pkg.document_type.type)
    _optional(kind, "TypeDetail", pkg.document_type.detail)
    _optional(kind, "TypeName", pkg.document_type.name)
    _element(node, "Subject", pkg.subject)
    _optional(node, "Content", pkg.content)
    if pkg.signer is not None:
        signer = _element(node, "SignerInfo")
        _optional(signer, "Competence", pkg.signer.competence)
        _optional(signer, "Position", pkg.signer.position)
        _optional(signer, "FullName", pkg.signer.full_name)
    if pkg.due_date is not None:
        _element(node, "DueDate", _date_text(pkg.due_date))
    if pkg.to_places:
        places = _element(node, "ToPlaces")
        for place in pkg.to_places:
            _element(places, "Place", place)
    other = _element(node, "OtherInfo")
    _element(other, "Priority", str(pkg.priority))
    _optional(other, "SphereOfPromulgation", pkg.sphere)
    _optional(other, "TyperNotation", pkg.typer_notation)
    _optional(other, "PromulgationAmount", pkg.promulgation_amount)
    _optional(other, "PageAmount", pkg.page_amount)
    if pkg.appendixes:
        appendixes = _element(other, "Appendixes")
        for appendix in pkg.appendixes:
            _element(appendixes, "Appendix", appendix)
    for answered in pkg.response_for:
        _write_response_for(_element(node, "ResponseFor"), answered)
    _optional(node, "SteeringType", pkg.steering_type)
    _optional(node, "DocumentId", pkg.document_id)


def _write_trace_list(node, pkg):
    for index, trace in enumerate(pkg.traces, 1):
        hop = _element(node, "TraceHeader")
        _optional(hop, "OrganId", trace.organ_id)
        path = f"edXMLHeader/TraceHeaderList/TraceHeader[{index}]/Timestamp"
        _element(hop, "Timestamp", _timestamp_text(trace.timestamp, path))
    business = pkg.business
    if business is None:
        return
    block = _element(node, "Bussiness")
    _element(block, "BussinessDocType", str(business.doc_type))
    _optional(block, "BussinessDocReason", business.reason)
    info = business.document_info
    if info is not None:
        node_info = _element(block, "BussinessDocumentInfo")
        _optional(node_info, "DocumentInfo", info.document_info)
        _optional(node_info, "DocumentReceiver", info.document_receiver)
        if info.receivers:
            receivers = _element(node_info, "ReceiverList")
            for receiver in info.receivers:
                item = _element(receivers, "Receiver")
                _element(item, "OrganId", receiver.organ_id)
                _optional(item, "ReceiverType", receiver.receiver_type)
    _optional(block, "DocumentId", business.document_id)
    _optional(block, "Paper", business.paper)
    if business.staff_info is not None:
        _write_staff(_element(block, "StaffInfo"), business.staff_info)
    if business.replacements:
        replacements = _element(block, "ReplacementInfoList")
        for replacement in business.replacements:
            info = _element(replacements, "ReplacementInfo")
            _element(info, "DocumentId", replacement.document_id)
            organs = _element(info, "OrganIdList")
            for organ_id in replacement.organ_ids:
                _element(organs, "OrganId", organ_id)


def _write_attachment(manifest, encoded, attachment):
    """A manifest ``Reference``; the bytes, if inline, in ``AttachmentEncoded``."""
    reference = _element(manifest, "Reference")
    reference.set(f"{{{XLINK_NS}}}href", f"cid:{attachment.content_id}")
    reference.set(f"{{{XLINK_NS}}}type", "simple")
    _optional(reference, "Description", attachment.description)
    _element(reference, "AttachmentName", attachment.name)
    _optional(reference, "ContentType", attachment.content_type)
    if attachment.content is not None:
        node = _element(encoded, "Attachment")
        _optional(node, "ContentType", attachment.content_type)
        _element(node, "ContentId", attachment.content_id)
        _optional(node, "Description", attachment.description)
        _element(node, "ContentTransferEncoded",
                 base64.b64encode(attachment.content).decode("ascii"))
        _element(node, "AttachmentName", attachment.name)
    if attachment.uri is not None or attachment.sha256 is not None or attachment.size is not None:
        pointer = _element(reference, "ContentReference", ns=EXT_NS)
        _element(pointer, "Uri", attachment.uri or "", ns=EXT_NS)
        _element(pointer, "Sha256", attachment.sha256 or "", ns=EXT_NS)
        _element(pointer, "Size", "" if attachment.size is None else str(attachment.size),
                 ns=EXT_NS)


def _write_agency(node, agency):
    _element(node, "OrganId", agency.id)
    _optional(node, "OrganName", agency.name)
    _optional(node, "OrganizationInCharge", agency.in_charge)
    _optional(node, "OrganAdd", agency.address)
    _optional(node, "Email", agency.email)
    _optional(node, "Telephone", agency.telephone)
    _optional(node, "Fax", agency.fax)
    _optional(node, "Website", agency.website)


def _write_response_for(node, answered):
    _element(node, "OrganId", answered.organ_id)
    _element(node, "Code", answered.code)
    _element(node, "PromulgationDate", _date_text(answered.promulgation_date))
    _element(node, "DocumentId", answered.document_id)


def _write_staff(node, staff):
    _optional(node, "Department", staff.department)
    _optional(node, "Staff", staff.staff)
    _optional(node, "Mobile", staff.mobile)
    _optional(node, "Email", staff.email)


def _element(parent, name, text=None, ns=NS):
    tag = f"{{{ns}}}{name}"
    element = ET.Element(tag) if parent is None else ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def _optional(parent, name, value):
    if value is not None and value != "":
        _element(parent, name, value)


def _date_text(value):
    return value.strftime("%Y/%m/%d")


def _timestamp_text(moment, path):
    """Vietnam time as the SDKs write it, ``yyyy/MM/dd HH:mm:ss``."""
    if not isinstance(moment, datetime) or moment.tzinfo is None \
            or moment.utcoffset() is None:
        _fail(path, "needs a time-zone aware datetime")
    return moment.astimezone(VIETNAM).strftime("%Y/%m/%d %H:%M:%S")


def _check_characters(element, path):
    """Refuse text XML 1.0 cannot carry: it would make the output unreadable."""
    if element.text and _NOT_XML.search(element.text):
        _fail(path or ROOT, "contains a character XML cannot carry")
    counts = {}
    for child in element:
        counts[child.tag] = counts.get(child.tag, 0) + 1
    seen = {}
    for child in element:
        seen[child.tag] = seen.get(child.tag, 0) + 1
        name = _local(child.tag)
        if counts[child.tag] > 1:
            name = f"{name}[{seen[child.tag]}]"
        _check_characters(child, _join(path, name))


def _serialize(root):
    """The SDKs' lexical form: the root in the default namespace, the envelope
    and everything in it with the ``edXML:`` prefix, ``AttachmentEncoded`` after
    it unprefixed (some axis parsers match prefixed names literally)."""
    ET.indent(root)
    elements = list(root.iter())
    declarations = {"xmlns": NS}
    if any(key.startswith(f"{{{XLINK_NS}}}") for e in elements for key in e.attrib):
        declarations["xmlns:xlink"] = XLINK_NS
    if any(e.tag.startswith(f"{{{EXT_NS}}}") for e in elements):
        declarations[f"xmlns:{EXT_PREFIX}"] = EXT_NS
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    prefixes = {EXT_NS: EXT_PREFIX + ":", XLINK_NS: "xlink:"}

    def name(tag, inside):
        if not tag.startswith("{"):
            return tag
        uri, local = tag[1:].split("}", 1)
        return prefixes.get(uri, "edXML:" if inside else "") + local

    def write(element, inside, attributes):
        if element.tag == f"{{{NS}}}{ENVELOPE}":
            inside, attributes = True, {**attributes, "xmlns:edXML": NS}
        tag = name(element.tag, inside)
        attributes = {**attributes, **{name(key, inside): value
                                       for key, value in element.attrib.items()}}
        out.append("<" + tag + "".join(f" {key}={quoteattr(value)}"
                                       for key, value in attributes.items()))
        if len(element) or element.text:
            out.append(">" + escape(element.text or ""))
            for child in element:
                write(child, inside, {})
            out.append(f"</{tag}>")
        else:
            out.append("/>")
        out.append(escape(element.tail or ""))

    write(root, False, declarations)
    return ("".join(out) + "\n").encode("utf-8")


# -- import --------------------------------------------------------------------


class _Limits(NamedTuple):
    package: int | None
    attachment: int | None
    zip_entries: int = DEFAULT_MAX_ZIP_ENTRIES
    zip_ratio: int = DEFAULT_MAX_ZIP_RATIO


def import_package(xml_bytes, *, max_bytes=DEFAULT_MAX_BYTES, max_attachment_bytes=None,
                   max_elements=DEFAULT_MAX_ELEMENTS, max_depth=DEFAULT_MAX_DEPTH,
                   max_zip_entries=DEFAULT_MAX_ZIP_ENTRIES, max_zip_ratio=DEFAULT_MAX_ZIP_RATIO):
    """A :class:`Package` from edXML bytes (the SDK layout or our older one),
    validated strictly.

    ``max_bytes`` caps the whole package and, together, the files unpacked
    from its ZIPs; ``max_attachment_bytes`` (default: ``max_bytes``) caps each
    inline file after base64 decoding and each file unpacked from a ZIP;
    ``max_elements`` and ``max_depth`` cap the tree while it is built;
    ``max_zip_entries`` and ``max_zip_ratio`` bound a ZIP (see
    :func:`unpack_zip`). CPU-bound: a service calls it through
    ``shared.green.run_cpu``.
    """
    limits = _Limits(max_bytes, max_bytes if max_attachment_bytes is None
                     else max_attachment_bytes, max_zip_entries, max_zip_ratio)
    return _read_package(_parse(xml_bytes, max_bytes, max_elements, max_depth), limits)


def import_status(xml_bytes, *, max_bytes=DEFAULT_MAX_BYTES, max_elements=DEFAULT_MAX_ELEMENTS,
                  max_depth=DEFAULT_MAX_DEPTH):
    """A :class:`StatusPackage` from edXML bytes, validated strictly: the SDK
    layout (status under ``edXMLHeader/MessageHeader``) or our older one
    (under ``edXMLHeader/Status``)."""
    return _read_status(_parse(xml_bytes, max_bytes, max_elements, max_depth))


class _Refused(Exception):
    def __init__(self, text="DOCTYPE and entity declarations are refused"):
        super().__init__(text)
        self.text = text


def _parse(xml_bytes, max_bytes, max_elements=DEFAULT_MAX_ELEMENTS, max_depth=DEFAULT_MAX_DEPTH):
    if not isinstance(xml_bytes, (bytes, bytearray, memoryview)):
        raise TypeError("edXML is parsed from bytes, not from text")
    data = bytes(xml_bytes)
    if max_bytes is not None and len(data) > max_bytes:
        _fail(ROOT, f"the package is {len(data)} bytes, over the limit of {max_bytes} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        _fail(ROOT, "DOCTYPE and entity declarations are refused")

    def refuse(*_args):
        raise _Refused()

    builder = ET.TreeBuilder()
    count = depth = 0

    def start(name, attributes):
        # Counted as expat reads: the tree never grows past the limits.
        nonlocal count, depth
        count, depth = count + 1, depth + 1
        if count > max_elements:
            raise _Refused(f"more than {max_elements} elements (the element limit)")
        if depth > max_depth:
            raise _Refused(f"elements nested deeper than {max_depth} (the depth limit)")
        builder.start(_clark(name), {_clark(key): value for key, value in attributes.items()})

    def end(name):
        nonlocal depth
        depth -= 1
        builder.end(_clark(name))

    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except _Refused as refused:
        _fail(ROOT, refused.text)
    except expat.ExpatError as error:
        _fail(ROOT, f"not well-formed XML ({error})")
    return builder.close()


def _clark(name):
    """expat's ``uri}local`` as ElementTree's ``{uri}local``."""
    return "{" + name if "}" in name else name


class _Node:
    """An element and its path inside the envelope, for error messages."""

    __slots__ = ("element", "path")

    def __init__(self, element, path):
        self.element, self.path = element, path

    def _found(self, name, ns):
        tag = f"{{{ns}}}{name}"
        return [child for child in self.element if child.tag == tag]

    def one(self, name, *, required=False, ns=NS):
        found = self._found(name, ns)
        path = _join(self.path, name)
        if len(found) > 1:
            _fail(path, f"appears {len(found)} times, expected at most once")
        if not found:
            if required:
                _fail(path, "required element is missing")
            return None
        return _Node(found[0], path)

    def many(self, name, ns=NS):
        found = self._found(name, ns)
        base = _join(self.path, name)
        if len(found) == 1:
            return [_Node(found[0], base)]
        return [_Node(element, f"{base}[{index}]") for index, element in enumerate(found, 1)]

    @property
    def value(self):
        return (self.element.text or "").strip()

    def text(self, name, *, required=False, ns=NS):
        node = self.one(name, required=required, ns=ns)
        if node is None:
            return ""
        if required and not node.value:
            _fail(node.path, "must not be empty")
        return node.value


def _read_package(root, limits):
    notes = []
    envelope, encoded = _envelope(root)
    header = envelope.one("edXMLHeader", required=True)
    message = header.one("MessageHeader", required=True)

    from_agency = _read_agency(message.one("From", required=True))
    to_nodes = message.many("To")
    if not to_nodes:
        _fail(_join(message.path, "To"), "required element is missing")
    to_agencies = [_read_agency(node) for node in to_nodes]

    code = message.one("Code", required=True)
    code_number = code.text("CodeNumber", required=True)
    code_notation = code.text("CodeNotation", required=True)

    info = message.one("PromulgationInfo", required=True)
    promulgation_place = info.text("Place")
    promulgation_date = _read_date(info, "PromulgationDate", required=True)

    kind = message.one("DocumentType", required=True)
    document_type = DocumentType(kind.text("Type"), kind.text("TypeDetail"),
                                 kind.text("TypeName"))
    if not (document_type.type or document_type.name):
        _fail(kind.path, "needs a Type or a TypeName")

    subject = message.text("Subject", required=True)
    signer_node = message.one("SignerInfo")
    signer = None if signer_node is None else Signer(
        signer_node.text("Competence"), signer_node.text("Position"),
        signer_node.text("FullName"))
    due_date = _read_date(message, "DueDate")
    places = message.one("ToPlaces")
    to_places = [] if places is None else [node.value for node in places.many("Place")]

    other = message.one("OtherInfo")
    priority, sphere, typer, amount, pages, appendixes = 0, "", "", None, None, []
    if other is not None:
        priority = _read_priority(other, notes)
        sphere = other.text("SphereOfPromulgation")
        typer = other.text("TyperNotation")
        amount = _read_int(other, "PromulgationAmount", 0)
        pages = _read_int(other, "PageAmount", 0)
        node = other.one("Appendixes")
        appendixes = [] if node is None else [item.value for item in node.many("Appendix")]

    response_for = [_read_response_for(node) for node in message.many("ResponseFor")]
    steering = _read_int(message, "SteeringType", 0, max(STEERING_TYPES))
    doc_id = _read_document_id(message, "DocumentId")

    traces, business = [], None
    trace_list = header.one("TraceHeaderList")
    if trace_list is not None:
        for hop in trace_list.many("TraceHeader"):
            # The axis adds hops of its own, some without an OrganId.
            organ = "" if hop.one("OrganId") is None else _read_agency_code(hop, "OrganId")
            traces.append(Trace(organ, _read_timestamp(hop, "Timestamp", required=True)))
        block = trace_list.one("Bussiness")
        if block is not None:
            business = _read_business(block)

    body = envelope.one("edXMLBody", required=True)
    attachments = _read_files(body, encoded, limits)

    return Package(
        from_agency=from_agency, to_agencies=to_agencies, code_number=code_number,
        code_notation=code_notation, promulgation_date=promulgation_date,
        document_type=document_type, subject=subject,
        promulgation_place=promulgation_place, content=message.text("Content"),
        signer=signer, due_date=due_date, to_places=to_places, priority=priority,
        sphere=sphere, typer_notation=typer, promulgation_amount=amount, page_amount=pages,
        appendixes=appendixes, response_for=response_for, steering_type=steering,
        document_id=doc_id, traces=traces, business=business, attachments=attachments,
        notes=notes)


def _read_status(root):
    envelope, _ = _envelope(root)
    header = envelope.one("edXMLHeader", required=True)
    status = header.one("Status")  # our older layout
    if status is None:
        status = header.one("MessageHeader")
    if status is None:
        _fail(_join(header.path, "MessageHeader"), "required element is missing")
    from_agency = _read_agency(status.one("From", required=True))
    response_for = _read_response_for(status.one("ResponseFor", required=True))
    code_node = status.one("StatusCode", required=True)
    status_code = code_node.value
    if status_code not in STATUS_CODES:
        _fail(code_node.path, f"unknown status code {status_code!r}, expected one of "
                              f"{', '.join(STATUS_CODES)}")
    description = status.text("Description")
    if status_code == "02" and not description:
        _fail(_join(status.path, "Description"), "a rejection (02) needs a reason")
    timestamp = _read_timestamp(status, "Timestamp", required=True)
    staff = status.one("StaffInfo")
    return StatusPackage(response_for=response_for, from_agency=from_agency,
                         status_code=status_code, description=description,
                         timestamp=timestamp,
                         staff_info=None if staff is None else _read_staff(staff))


def _envelope(root):
    """The envelope (paths inside it start at "") and, in the SDK layout,
    ``AttachmentEncoded`` (or None)."""
    if root.tag == f"{{{NS}}}edXML":
        wrapper = _Node(root, "")
        return _Node(wrapper.one(ENVELOPE, required=True).element, ""), \
            wrapper.one("AttachmentEncoded")
    if root.tag == f"{{{NS}}}{ENVELOPE}":
        return _Node(root, ""), None
    _fail(ROOT, f"the root element is {root.tag!r}, expected edXML (or edXMLEnvelope) "
                f"in namespace {NS}")


def _read_agency(node):
    return Agency(id=_read_agency_code(node, "OrganId"), name=node.text("OrganName"),
                  in_charge=node.text("OrganizationInCharge"), address=node.text("OrganAdd"),
                  email=node.text("Email"), telephone=node.text("Telephone"),
                  fax=node.text("Fax"), website=node.text("Website"))


def _read_agency_code(node, name):
    node.text(name, required=True)  # present, once, not empty
    return _check_agency_value(node.one(name))


def _read_response_for(node):
    return ResponseFor(organ_id=_read_agency_code(node, "OrganId"),
                       code=node.text("Code", required=True),
                       promulgation_date=_read_date(node, "PromulgationDate", required=True),
                       document_id=_read_document_id(node, "DocumentId", required=True))


def _read_document_id(node, name, required=False):
    value = node.text(name, required=required)
    if not value:
        return None
    parse_document_id(value, _join(node.path, name))
    return value


def _read_staff(node):
    return StaffInfo(node.text("Department"), node.text("Staff"), node.text("Mobile"),
                     node.text("Email"))


def _read_business(node):
    doc_type = _read_int(node, "BussinessDocType", 0, max(BUSINESS_DOC_TYPES),
                         required=True)
    # The SDKs' builders take several StaffInfo and ReplacementInfoList blocks:
    # the first StaffInfo is kept (the model has one), the lists are joined.
    staff = next(iter(node.many("StaffInfo")), None)
    replacements = []
    for replacement_list in node.many("ReplacementInfoList"):
        for info in replacement_list.many("ReplacementInfo"):
            organs = info.one("OrganIdList")
            organ_ids = [] if organs is None else [
                _check_agency_value(organ) for organ in organs.many("OrganId")]
            replacements.append(Replacement(
                _read_document_id(info, "DocumentId", required=True), organ_ids))
    info = node.one("BussinessDocumentInfo")
    document_info = None
    if info is not None:
        receivers = []
        receiver_list = info.one("ReceiverList")
        if receiver_list is not None:
            for item in receiver_list.many("Receiver"):
                receivers.append(Receiver(_read_agency_code(item, "OrganId"),
                                          item.text("ReceiverType")))
        document_info = BusinessDocumentInfo(info.text("DocumentInfo"),
                                             info.text("DocumentReceiver"), receivers)
    return Business(doc_type=doc_type, reason=node.text("BussinessDocReason"),
                    document_info=document_info,
                    document_id=_read_document_id(node, "DocumentId"),
                    paper=_read_int(node, "Paper", 0),
                    staff_info=None if staff is None else _read_staff(staff),
                    replacements=replacements)


def _check_agency_value(node):
    if organ_id_form(node.value) is None:
        _fail(node.path, f"not an agency code (got {node.value!r}); expected an identifier"
                         f" of Decision 20/2020/QĐ-TTg: {', '.join(ORGAN_ID_FORMS)}")
    return node.value


def _read_files(body, encoded, limits):
    """The files: our older ``edXMLBody/Attachment`` elements, then those the
    manifest references, in its order, then any ``AttachmentEncoded`` entry
    the manifest does not name. Zipped entries are unpacked."""
    files = [_read_attachment(node, limits) for node in body.many("Attachment")]
    inline = {}  # content id -> (node, bytes)
    if encoded is not None:
        for node in encoded.many("Attachment"):
            cid = _content_id(node.text("ContentId", required=True))
            if cid in inline:
                _fail(node.path, f"ContentId {cid!r} appears more than once")
            inline[cid] = (node, _read_base64(
                node.one("ContentTransferEncoded", required=True), limits.attachment))
    manifest = body.one("edXMLManifest")
    for reference in [] if manifest is None else manifest.many("Reference"):
        cid = _content_id(reference.element.get(f"{{{XLINK_NS}}}href", "")
                          or reference.text("ContentId"))
        if not cid:
            _fail(reference.path, 'needs xlink:href="cid:..." (or a ContentId)')
        pointer = reference.one("ContentReference", ns=EXT_NS)
        found = inline.pop(cid, None)
        if (found is None) == (pointer is None):
            _fail(reference.path, f"cid:{cid} needs exactly one of an AttachmentEncoded/"
                                  "Attachment with that ContentId or a ContentReference")
        attachment = Attachment(content_id=cid, name=reference.text("AttachmentName"),
                                content_type=reference.text("ContentType"),
                                description=reference.text("Description"))
        if pointer is not None:
            _read_pointer(attachment, pointer)
            if not attachment.name:
                _fail(_join(reference.path, "AttachmentName"), "required element is missing")
            files.append(attachment)
        else:
            files += _inline_files(attachment, *found, limits)
    for cid, found in inline.items():  # in document order
        files += _inline_files(Attachment(content_id=cid, name=""), *found, limits)
    seen, total = set(), 0
    for attachment in files:
        if attachment.content_id in seen:
            _fail(_join(body.path, "Attachment"),
                  f"ContentId {attachment.content_id!r} appears more than once")
        seen.add(attachment.content_id)
        total += len(attachment.content or b"")
    if limits.package is not None and total > limits.package:
        _fail(ROOT, f"the files come to {total} bytes, over the package limit of "
                    f"{limits.package} bytes")
    return files


def _content_id(text):
    """``cid:abc``, ``<abc>`` and ``abc`` are the same content id."""
    text = (text or "").strip()
    if text[:4].lower() == "cid:":
        text = text[4:]
    return text.strip("<>")


def _inline_files(attachment, node, content, limits):
    """An encoded file, with the manifest's name and type where it gave them;
    a ZIP (as the SDKs send files) becomes the files it holds."""
    attachment.name = attachment.name or node.text("AttachmentName")
    attachment.description = attachment.description or node.text("Description")
    declared = node.text("ContentType")
    # The SDKs zip a file for transport and say so in AttachmentEncoded; a file
    # that is itself a ZIP (the manifest says so, or it is named *.zip) is kept.
    if declared.lower() not in ZIP_TYPES or attachment.name.lower().endswith(".zip") \
            or attachment.content_type.lower() in ZIP_TYPES:
        attachment.content_type = attachment.content_type or declared
        if not attachment.name:
            _fail(_join(node.path, "AttachmentName"), "required element is missing")
        attachment.content = content
        return [attachment]
    entries = unpack_zip(content, _join(node.path, "ContentTransferEncoded"),
                         max_entries=limits.zip_entries, max_ratio=limits.zip_ratio,
                         max_entry_bytes=limits.attachment, max_total_bytes=limits.package)
    if len(entries) == 1:  # one file zipped: the package's name and type stand
        name, data = entries[0]
        wrapped_type = attachment.content_type
        if not wrapped_type or wrapped_type.lower() in ZIP_TYPES:
            wrapped_type = _type_of(name)
        return [replace(attachment, name=attachment.name or name, content=data,
                        content_type=wrapped_type)]
    return [replace(attachment, content_id=f"{attachment.content_id}/{n}", name=name,
                    content_type=_type_of(name), content=data)
            for n, (name, data) in enumerate(entries, 1)]


def _type_of(name):
    return {"pdf": "application/pdf", "xml": "application/xml", "txt": "text/plain",
            "doc": "application/msword", "docx": "application/vnd.openxmlformats-"
            "officedocument.wordprocessingml.document", "zip": "application/zip"}.get(
        name.rsplit(".", 1)[-1].lower() if "." in name else "", "application/octet-stream")


def unpack_zip(data, path, *, max_entries=DEFAULT_MAX_ZIP_ENTRIES,
               max_ratio=DEFAULT_MAX_ZIP_RATIO, max_entry_bytes=None, max_total_bytes=None):
    """``[(name, bytes)]`` of the files in a ZIP, refused (naming ``path`` and
    the rule) unless: it is a readable, unencrypted ZIP holding 1 to
    ``max_entries`` files (directories skipped); no name is absolute, holds
    ``..``, a backslash or a drive letter, or is a symbolic link; no file is
    over ``max_entry_bytes`` nor all together over ``max_total_bytes``; no file
    over 64 KiB expands more than ``max_ratio`` times. Sizes are counted while
    inflating: the archive's own size fields are not trusted."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as error:
        _fail(path, f"not a readable ZIP archive ({error})")
    files = [info for info in infos if not info.is_dir()]
    if not files:
        _fail(path, "the ZIP archive holds no file")
    if len(infos) > max_entries:
        _fail(path, f"the ZIP archive holds {len(infos)} entries, over the entry-count "
                    f"limit of {max_entries}")
    out, total = [], 0
    for info in files:
        name = info.filename
        parts = name.split("/")
        if (name.startswith("/") or "\\" in name or ".." in parts or "\x00" in name
                or re.match(r"^[A-Za-z]:", name)):
            _fail(path, f"ZIP entry {name!r} breaks the path rule (no absolute path, "
                        "no '..', no backslash, no drive letter)")
        if stat.S_ISLNK(info.external_attr >> 16):
            _fail(path, f"ZIP entry {name!r} is a symbolic link (refused)")
        if info.flag_bits & 0x1:
            _fail(path, f"ZIP entry {name!r} is encrypted (refused)")
        content = bytearray()
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(1 << 16):
                    content += chunk
                    if max_entry_bytes is not None and len(content) > max_entry_bytes:
                        _fail(path, f"ZIP entry {name!r} unpacks to more than "
                                    f"{max_entry_bytes} bytes (the per-file size limit)")
                    if max_total_bytes is not None and total + len(content) > max_total_bytes:
                        _fail(path, f"the ZIP archive unpacks to more than {max_total_bytes}"
                                    " bytes (the package size limit)")
                    if len(content) > _ZIP_RATIO_FLOOR and \
                            len(content) > max_ratio * max(info.compress_size, 1):
                        _fail(path, f"ZIP entry {name!r} expands more than {max_ratio} times"
                                    " its compressed size (the compression-ratio limit)")
        except (zipfile.BadZipFile, EOFError, NotImplementedError, OSError) as error:
            _fail(path, f"ZIP entry {name!r} cannot be read ({error})")
        total += len(content)
        out.append((parts[-1], bytes(content)))
    return out


def _read_attachment(node, limits):
    """An attachment of our older layout: ``Content`` or ``ContentReference``."""
    content_id = node.text("ContentId", required=True)
    name = node.text("AttachmentName", required=True)
    inline = node.one("Content")
    reference = node.one("ContentReference", ns=EXT_NS)
    if (inline is None) == (reference is None):
        _fail(node.path, "needs exactly one of Content or ContentReference")
    attachment = Attachment(content_id=content_id, name=name,
                            content_type=node.text("ContentType"),
                            description=node.text("Description"))
    if inline is not None:
        attachment.content = _read_base64(inline, limits.attachment)
        return attachment
    return _read_pointer(attachment, reference)


def _read_pointer(attachment, reference):
    attachment.uri = reference.text("Uri", required=True, ns=EXT_NS)
    sha = reference.text("Sha256", required=True, ns=EXT_NS)
    if not _SHA256.match(sha):
        _fail(_join(reference.path, "Sha256"), "not a SHA-256 digest (64 hex digits)")
    attachment.sha256 = sha.lower()
    size = reference.text("Size", required=True, ns=EXT_NS)
    if not size.isascii() or not size.isdigit():
        _fail(_join(reference.path, "Size"), f"not a byte count: {size!r}")
    attachment.size = int(size)
    return attachment


def _read_base64(node, limit):
    text = "".join((node.element.text or "").split())
    if limit is not None and len(text) // 4 * 3 > limit + 2:
        _fail(node.path, f"the file is about {len(text) // 4 * 3} bytes, over the limit "
                         f"of {limit} bytes")
    try:
        content = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        _fail(node.path, "not valid base64")
    if limit is not None and len(content) > limit:
        _fail(node.path, f"the file is {len(content)} bytes, over the limit of {limit} bytes")
    return content


def _read_priority(node, notes):
    item = node.one("Priority")
    if item is None or not item.value:
        return 0
    value = _to_int(item)
    if value == LEGACY_PRIORITY:
        notes.append(f"{item.path}: legacy priority 4 (Hỏa tốc hẹn giờ) read as 3 (Hỏa tốc)")
        return 3
    if value not in PRIORITIES:
        _fail(item.path, f"must be one of 0..3 (or legacy 4), got {value}")
    return value


def _read_int(node, name, low, high=None, required=False):
    item = node.one(name, required=required)
    if item is None or (not item.value and not required):
        return None
    value = _to_int(item)
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f"at least {low}"
        _fail(item.path, f"must be {bound}, got {value}")
    return value


def _to_int(node):
    text = node.value
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        _fail(node.path, f"not an integer: {text!r}")
    return int(text)


def _read_date(node, name, required=False):
    item = node.one(name, required=required)
    if item is None or (not item.value and not required):
        return None
    text = item.value
    try:
        if _DATE_ISO.match(text):
            return date.fromisoformat(text)
        if _DATE_SLASH_YMD.match(text):
            return datetime.strptime(text, "%Y/%m/%d").date()
        if _DATE_SLASH_DMY.match(text):
            return datetime.strptime(text, "%d/%m/%Y").date()
    except ValueError:
        _fail(item.path, f"not a date: {text!r}")
    moment = _parse_timestamp(text)  # some SDKs write a date as a midnight timestamp
    if moment is None:
        _fail(item.path, f"not a date (yyyy-MM-dd): {text!r}")
    return moment.astimezone(VIETNAM).date()


def _read_timestamp(node, name, required=False):
    item = node.one(name, required=required)
    if item is None:
        return None
    moment = _parse_timestamp(item.value)
    if moment is None:
        _fail(item.path, f"not an ISO 8601 timestamp: {item.value!r}")
    return moment


def _parse_timestamp(text):
    """An aware datetime; zone-less text is Vietnam time. None if unreadable."""
    moment = None
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        for shape in _WILD_TIMESTAMPS:
            try:
                moment = datetime.strptime(text, shape)
                break
            except ValueError:
                continue
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VIETNAM)
    return moment


# -- helpers -------------------------------------------------------------------


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _join(path, name):
    return f"{path}/{name}" if path else name


def _fail(path, text):
    raise ValidationFailed(f"{path}: {text}", field=path)
