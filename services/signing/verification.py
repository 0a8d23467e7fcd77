"""Verification of signed PDFs and signed manifests, explained check by check.

Each function returns a report::

    {"ok": bool,
     "signatures": [{"field", "signer", "kind", "role", "agency_code",
                     "signing_time", "time_source"}],
     "checks": [{"check", "ok", "detail", "signature"}]}

where ``signature`` names the signature a check is about (``None`` for
checks on the whole document). The checks, for every signature:

* ``integrity`` — the signed bytes hash to the digest the signer signed, the
  signature verifies with the certificate's key, and what was appended
  later (if anything) only added signatures or form fields;
* ``timestamp`` — an RFC 3161 signature time stamp is there, matches the
  signature and comes from a TSA that chains to a trusted root; its time
  is *the* signing time for every time-dependent check below;
* ``chain`` — the certificate chains to one of the trusted roots;
* ``validity`` — every certificate of that chain was within its validity
  period at the signing time;
* ``revocation`` — a CRL from each issuer was given and checked: a
  certificate revoked before the signing time fails, one revoked after it
  does not;
* ``key_usage`` — digitalSignature and nonRepudiation, and a document
  signing extended key usage when the certificate restricts it;
* ``signer`` — the certificate's agency code and role are the expected ones;
* ``validation`` — pyHanko's own PAdES/CMS verdict, for what the checks
  above do not spell out;

and for the PDF as a whole, ``order``: the leader signs first, the agency
seal comes after and covers the leader's signature (and only validation data
and archive time stamps follow it); ``archive_timestamp`` for each document
time stamp (PAdES B-LTA): it matches the document and its TSA is trusted; with ``number_notation``
(and ``issued_on``) expected, ``number``: the document's number and date
fields read what the register gave. Nothing is fetched:
trust roots and CRLs are all given, and validation is offline.
"""

import asyncio
import base64
import io
import json
from datetime import UTC, datetime
from itertools import pairwise

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.diff_analysis import (
    FormUpdatingRule,
    GenericFieldModificationRule,
    ModificationLevel,
    SigFieldCreationRule,
    SigFieldModificationRule,
)
from pyhanko.sign.diff_analysis.policies import DEFAULT_DIFF_POLICY, StandardDiffPolicy
from pyhanko.sign.validation import (
    SignatureCoverageLevel,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko.sign.validation.generic_cms import (
    async_validate_detached_cms,
    extract_self_reported_ts,
    extract_tst_data_iter,
)
from pyhanko_certvalidator import ValidationContext
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidInput
from signxml.exceptions import InvalidSignature as XmlInvalid

from services.signing import appearance as looks
from services.signing import manifest as manifest_module
from services.signing import xmldsig
from services.signing.pki import DOCUMENT_SIGNING, describe

DEFAULT_ROLES = ("leader", "agency")
# Acrobat's reading of a certification that allows form filling: a new visible
# signature field may be added after it (an electronic copy's mark). pyHanko's
# default, "stricter than Acrobat" in its own words, reads that as a change.
ACROBAT_DIFF_POLICY = StandardDiffPolicy(
    global_rules=DEFAULT_DIFF_POLICY.global_rules,
    form_rule=FormUpdatingRule(field_rules=[
        SigFieldCreationRule(allow_new_visible_after_certify=True),
        SigFieldModificationRule(), GenericFieldModificationRule()]))
_SIGNING_EKUS = {DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION}


def verify_pdf(pdf_bytes, trust_roots, crls=(), expected=None):
    """Check every signature of a PDF; see the module docstring for the checks.

    ``expected``: ``{"agency_code": ..., "roles": [...]}`` with roles in
    signature order, ``leader``/``clerk`` for personal certificates and
    ``agency`` for the organisation's; roles default to leader then agency.
    ``agencies`` (a code per signature, in order) replaces ``agency_code``
    where signatures come from several agencies (a copy); ``new_visible_fields``
    reads certifications as Acrobat does (:data:`ACROBAT_DIFF_POLICY`).
    """
    expected = dict(expected or {})
    roles = list(expected.get("roles") or DEFAULT_ROLES)
    agencies = list(expected.get("agencies") or ())
    diff_policy = ACROBAT_DIFF_POLICY if expected.get("new_visible_fields") else None
    report = _Report()
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        signatures = reader.embedded_regular_signatures
    except (PdfError, ValueError, KeyError) as exc:
        report.add("readable", False, f"the file cannot be read as a PDF: {exc}")
        return report.result()
    if not signatures:
        report.add("signatures", False, "the PDF carries no signature")
        return report.result()
    roots, crl_list = _roots(trust_roots), _crls(crls)
    summaries = []
    for index, sig in enumerate(signatures):
        name = sig.field_name
        moment, source = _signing_time(sig.signer_info)
        context = _context(roots, crl_list, moment)
        status = validate_pdf_signature(sig, context, _context(roots, crl_list, moment),
                                        diff_policy=diff_policy)
        certificate = _x509(sig.signer_cert)
        info = _signer_info(certificate)
        summaries.append({"field": name, "signer": certificate.subject.rfc4514_string(),
                          "kind": info["kind"], "role": info["role"],
                          "agency_code": info["agency_code"],
                          "signing_time": moment.isoformat(), "time_source": source,
                          "revision": sig.signed_revision, "coverage": status.coverage,
                          "level": status.modification_level})
        report.add("integrity", *_pdf_integrity(status), signature=name)
        report.add("timestamp", *_timestamp(status.timestamp_validity), signature=name)
        path = _chain(certificate, _embedded_certs(sig.signed_data), roots)
        _certificate_checks(report, name, path, moment, source, crl_list)
        wanted_role = roles[index] if index < len(roles) else None
        agency = agencies[index] if index < len(agencies) else expected.get("agency_code")
        report.add("signer", *_expected_signer(info, agency, wanted_role, index),
                   signature=name)
        report.add("validation", *_verdict(status, status.bottom_line), signature=name)
    report.add("order", *_order(summaries, roles))
    for stamp in reader.embedded_timestamp_signatures:
        report.add("archive_timestamp", *_archive(stamp, roots, crl_list),
                   signature=stamp.field_name)
    if expected.get("number_notation"):
        report.add("number", *_number(reader, expected["number_notation"],
                                      expected.get("issued_on"), expected.get("place")))
    for summary in summaries:
        del summary["revision"], summary["coverage"], summary["level"]
    report.signatures = summaries
    return report.result()


def verify_manifest(manifest_bytes, signature_der, trust_roots, crls=(), expected=None,
                    files=None):
    """Check a manifest's detached CMS signature, and the files when given.

    ``expected``: ``{"agency_code": ..., "role": ...}`` (role ``agency``
    for an organisation certificate). ``files`` (name -> bytes) are checked
    against the manifest's SHA-256 and sizes. The manifest signature has no
    time stamp: validity is judged now, and the signer's own signing time
    is only reported.
    """
    expected = dict(expected or {})
    report = _Report()
    name = "manifest"
    try:
        content = cms.ContentInfo.load(signature_der)
        signed_data = content["content"]
        signer_info = signed_data["signer_infos"][0]
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        report.add("readable", False, f"not a DER CMS SignedData: {exc}", signature=name)
        return report.result()
    roots, crl_list = _roots(trust_roots), _crls(crls)
    moment = datetime.now(UTC)
    status = asyncio.run(async_validate_detached_cms(
        manifest_bytes, signed_data, signer_validation_context=_context(roots, crl_list, moment)))
    certificate = _x509(status.signing_cert)
    info = _signer_info(certificate)
    claimed = extract_self_reported_ts(signer_info)
    report.signatures = [{"field": name, "signer": certificate.subject.rfc4514_string(),
                          "kind": info["kind"], "role": info["role"],
                          "agency_code": info["agency_code"],
                          "signing_time": claimed.isoformat() if claimed else None,
                          "time_source": "signer's claim (no time stamp)"}]
    if status.intact and status.valid:
        report.add("integrity", True, "the manifest's SHA-256 is the digest the signer signed,"
                   " and the signature verifies with the certificate's key", signature=name)
    else:
        report.add("integrity", False, "the manifest bytes are not the ones signed (metadata"
                   " or a file entry changed), or the signature value is wrong",
                   signature=name)
    path = _chain(certificate, _embedded_certs(signed_data), roots)
    _certificate_checks(report, name, path, moment, "verification time (no time stamp)",
                        crl_list)
    report.add("signer", *_expected_signer(info, expected.get("agency_code"),
                                           expected.get("role"), 0), signature=name)
    report.add("validation", *_verdict(status, status.trusted), signature=name)
    if files is not None:
        parsed = _parse_json(manifest_bytes)
        problems = (["the manifest is not a JSON object"] if parsed is None
                    else manifest_module.compare_files(parsed, files))
        report.add("files", not problems, "; ".join(problems) or
                   f"all {len(files)} files match the manifest's SHA-256 and sizes")
    return report.result()


def verify_edxml(xml_bytes, trust_roots, crls=()):
    """Check an edXML package's XML signature, when it has one.

    The report as above, with ``signed`` (False: no signature, nothing else
    checked) and, for a signed package, the checks ``placement`` (one
    signature, in ``edXMLHeader``, over the whole package), ``integrity``
    (signxml: every reference's digest and the signature value with the
    certificate's key), ``chain``, ``validity``, ``revocation`` and
    ``key_usage`` (judged now: a package has no time stamp) and ``signer``: a
    certificate of the platform's profile must name the sender (``From``) as
    its agency; one without an agency code (another CA's profile) is reported
    by its subject.
    """
    root = xmldsig.parse(xml_bytes)
    found = xmldsig.signatures(root)
    report = _Report()
    if not found:
        return {**report.result(), "ok": True, "signed": False}
    name = xmldsig.SIGNATURE
    signature = found[0]
    parent = signature.getparent()
    placed = len(found) == 1 and parent is not None and \
        parent.tag == f"{{{xmldsig.EDXML_NS}}}{xmldsig.HEADER}"
    report.add("placement", placed, "one signature, in edXMLHeader" if placed
               else f"{len(found)} signatures, or one outside edXMLHeader: refused",
               signature=name)
    chain = [x509.load_der_x509_certificate(base64.b64decode("".join(n.text.split())))
             for n in signature.iter(f"{{{xmldsig.DS_NS}}}X509Certificate") if n.text]
    if not chain:
        report.add("integrity", False, "KeyInfo carries no X509Certificate: the signer"
                   " cannot be known", signature=name)
        return {**report.result(), "signed": True}
    certificate = chain[0]
    config = SignatureConfiguration(
        require_x509=True, expect_references=1,
        signature_methods=frozenset({SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384,
                                     SignatureMethod.ECDSA_SHA512, SignatureMethod.RSA_SHA256,
                                     SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384,
                                     DigestAlgorithm.SHA512}))
    try:
        result = XMLVerifier().verify(root, x509_cert=certificate, expect_config=config)
        whole = result.signed_xml is not None and result.signed_xml.tag == root.tag
        report.add("integrity", whole, "the package's canonical bytes hash to the signed"
                   " digest and the signature verifies with the certificate's key" if whole
                   else "the signature covers part of the package, not all of it",
                   signature=name)
    except (XmlInvalid, InvalidInput) as exc:
        report.add("integrity", False, f"the package is not the one signed, or the signature"
                   f" value is wrong ({exc})", signature=name)
    roots, crl_list = _roots(trust_roots), _crls(crls)
    moment = datetime.now(UTC)
    info = _signer_info(certificate)
    report.signatures = [{"field": name, "signer": certificate.subject.rfc4514_string(),
                          "kind": info["kind"], "role": info["role"],
                          "agency_code": info["agency_code"], "signing_time": None,
                          "time_source": "none (a package has no time stamp)"}]
    _certificate_checks(report, name, _chain(certificate, chain[1:], roots), moment,
                        "verification time (no time stamp)", crl_list)
    sender = xmldsig.sender(root)
    if info["agency_code"] is None:
        report.add("signer", True, f"{certificate.subject.rfc4514_string()}: a certificate"
                   " without an agency code (another CA's profile); the sender"
                   f" {sender} is not matched to it", signature=name)
    else:
        report.add("signer", *_expected_signer(info, sender, "agency", 0), signature=name)
    return {**report.result(), "signed": True}


def jsonable(report):
    """A report with its times and other values as JSON gives them (for RPC)."""
    return json.loads(json.dumps(report, default=str))


class _Report:
    def __init__(self):
        self.checks, self.signatures = [], []

    def add(self, check, ok, detail, signature=None):
        self.checks.append({"check": check, "ok": bool(ok), "detail": detail,
                            "signature": signature})

    def result(self):
        return {"ok": bool(self.checks) and all(c["ok"] for c in self.checks),
                "signatures": self.signatures, "checks": self.checks}


def _certificate_checks(report, name, path, moment, source, crl_list):
    certificate = path[0]
    if path[-1] is None:
        missing = path[-2].issuer.rfc4514_string()
        report.add("chain", False, f"no path to a trusted root: the chain "
                   f"{_names(path[:-1])} ends at {missing}, which is neither a trusted root"
                   " nor among the embedded certificates", signature=name)
        path = path[:-1]
    else:
        report.add("chain", True, f"{_names(path)} (trusted root)", signature=name)
    report.add("validity", *_validity(path, moment, source), signature=name)
    report.add("revocation", *_revocation(path, moment, crl_list), signature=name)
    report.add("key_usage", *_key_usage(certificate), signature=name)


def _pdf_integrity(status):
    if not (status.intact and status.valid):
        why = ("the signed bytes no longer hash to the signed digest: the file was changed"
               if not status.intact else "the signature value does not verify with the"
               " certificate's key")
        return False, why
    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return True, ("the signed bytes hash to the signed digest, the signature verifies,"
                      " and it covers the whole file")
    if status.coverage == SignatureCoverageLevel.ENTIRE_REVISION and status.docmdp_ok:
        level = status.modification_level.name.lower().replace("_", " ")
        return True, ("the signed bytes hash to the signed digest and the signature verifies;"
                      f" later revisions only add to the file (modification level: {level})")
    return False, ("the signature is intact but the file was changed afterwards in a way"
                   " a later signature may not (content, not just signatures/form fields)")


def _timestamp(ts):
    if ts is None:
        return False, ("no RFC 3161 signature time stamp (PAdES B-T needs one); the"
                       " certificate checks use the verification time instead")
    tsa = _x509(ts.signing_cert).subject.rfc4514_string()
    when = ts.timestamp.isoformat()
    if not (ts.intact and ts.valid):
        return False, f"the time stamp token of {when} by {tsa} does not match the signature"
    if not ts.trusted:
        return False, (f"the time stamp of {when} by {tsa} does not chain to a trusted root"
                       f" or its TSA certificate was not valid then ({ts.trust_problem_indic})")
    return True, (f"time-stamped at {when} by {tsa}: the token covers this signature's value"
                  " and the TSA certificate chains to a trusted root")


def _verdict(status, ok):
    problem = status.trust_problem_indic
    if ok:
        return True, "pyHanko judges the signature valid and trusted"
    return False, ("pyHanko judges the signature not valid" +
                   (f" ({problem.name})" if problem else "") +
                   (f"; revoked on {status.revocation_details.revocation_date.isoformat()}"
                    if status.revoked else ""))


def _signing_time(signer_info):
    """(time, source): the signature time stamp's time, else now."""
    for token in extract_tst_data_iter(signer_info, signed=False):
        tst_info = token["encap_content_info"]["content"].parsed
        return tst_info["gen_time"].native, "signature time stamp"
    return datetime.now(UTC), "verification time (no time stamp)"


def _context(roots, crl_list, moment):
    # retroactive_revinfo: a CRL issued after the signing time still says
    # whether (and since when) a certificate is revoked.
    return ValidationContext(trust_roots=roots, crls=crl_list, allow_fetching=False,
                             revocation_mode="hard-fail", moment=moment,
                             retroactive_revinfo=True)


def _chain(certificate, embedded, roots):
    """[signer, issuer, ..., root], ending in None when no trusted root is reached."""
    trusted = [_x509(r) for r in roots]
    pool = trusted + embedded
    path = [certificate]
    while len(path) < 8:
        current = path[-1]
        if any(current == root for root in trusted):
            return path
        issuer = next((c for c in pool if c.subject == current.issuer and c != current
                       and _issued_by(current, c)), None)
        if issuer is None:
            return [*path, None]
        path.append(issuer)
    return [*path, None]


def _issued_by(certificate, issuer):
    try:
        certificate.verify_directly_issued_by(issuer)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _validity(path, moment, source):
    for certificate in path:
        who = certificate.subject.rfc4514_string()
        start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        if moment < start:
            return False, (f"{who} was not yet valid at the signing time {moment.isoformat()}"
                           f" ({source}): valid from {start.isoformat()}")
        if moment > end:
            return False, (f"{who} had expired at the signing time {moment.isoformat()}"
                           f" ({source}): valid until {end.isoformat()}")
    first = path[0]
    return True, (f"every certificate of the chain was valid at the signing time"
                  f" {moment.isoformat()} ({source}); the signer's from"
                  f" {first.not_valid_before_utc.isoformat()} to"
                  f" {first.not_valid_after_utc.isoformat()}")


def _revocation(path, moment, crl_list):
    notes = []
    for certificate, issuer in pairwise(path):
        who = certificate.subject.rfc4514_string()
        crl = _crl_for(issuer, crl_list)
        if crl is None:
            return False, (f"no CRL signed by {issuer.subject.rfc4514_string()} was given:"
                           f" whether {who} is revoked cannot be checked")
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if entry is None:
            notes.append(f"{who} is not on the CRL of {crl.last_update_utc.isoformat()}")
            continue
        when = entry.revocation_date_utc
        reason = _reason(entry)
        if when <= moment:
            return False, (f"{who} was revoked on {when.isoformat()} ({reason}), before the"
                           f" signing time {moment.isoformat()}")
        notes.append(f"{who} was revoked on {when.isoformat()} ({reason}), after the signing"
                     f" time {moment.isoformat()}, so this signature stands")
    return True, "; ".join(notes) or "the signer's certificate is itself a trusted root"


def _crl_for(issuer, crl_list):
    for der in crl_list:
        crl = x509.load_der_x509_crl(der.dump())
        if crl.issuer == issuer.subject and crl.is_signature_valid(issuer.public_key()):
            return crl
    return None


def _reason(entry):
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except x509.ExtensionNotFound:
        return "no reason given"


def _key_usage(certificate):
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False, "the certificate has no key usage extension"
    missing = [name for name, present in (("digitalSignature", usage.digital_signature),
                                          ("nonRepudiation", usage.content_commitment))
               if not present]
    if missing:
        return False, f"key usage lacks {', '.join(missing)}"
    try:
        ekus = set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return True, "key usage digitalSignature and nonRepudiation; no EKU restriction"
    if not ekus & _SIGNING_EKUS:
        return False, ("extended key usage allows no document signing (needs"
                       " id-kp-documentSigning or emailProtection)")
    return True, "key usage digitalSignature and nonRepudiation; EKU allows document signing"


def _signer_info(certificate):
    info = describe(certificate)
    if info["kind"] == "organisation":
        info["role"] = "agency"
    return info


def _expected_signer(info, agency_code, role, index):
    said = f"agency {info['agency_code']}, role {info['role']} ({info['name']})"
    problems = []
    if agency_code and info["agency_code"] != agency_code:
        problems.append(f"agency {info['agency_code']} is not the document's agency"
                        f" {agency_code}")
    if role and info["role"] != role:
        problems.append(f"signature #{index + 1} should be by the {role}, but its"
                        f" certificate is a {info['role']}'s")
    if not role and not agency_code:
        return True, f"{said}; nothing was expected"
    return (False, "; ".join(problems)) if problems else (True, f"{said}, as expected")


def _order(summaries, roles):
    actual = [s["role"] for s in summaries]
    sequence = " then ".join(f"{s['field']} ({s['role']})" for s in summaries)
    if actual != list(roles):
        return False, f"signatures are {sequence}; expected {' then '.join(roles)}"
    last = summaries[-1]
    # After the last signature, only validation data and archive time stamps (B-LT,
    # B-LTA): pyHanko's difference analysis says so (modification level LTA_UPDATES).
    archived = (last["coverage"] == SignatureCoverageLevel.ENTIRE_REVISION
                and last["level"] == ModificationLevel.LTA_UPDATES)
    if last["coverage"] != SignatureCoverageLevel.ENTIRE_FILE and not archived:
        return False, f"the last signature ({last['field']}) does not cover the whole file"
    revisions = [s["revision"] for s in summaries]
    if revisions != sorted(set(revisions)):
        return False, f"signatures share or reverse revisions: {revisions}"
    after = ("; after it only validation data and archive time stamps were added"
             if archived else "")
    return True, (f"{sequence}, each in a later revision; the last covers the whole file"
                  f"{after}, so it covers the signatures before it")


def _archive(stamp, roots, crl_list):
    """A document (archive) time stamp: intact, and its TSA trusted at its time."""
    moment = stamp.signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    status = validate_pdf_timestamp(stamp, _context(roots, crl_list, moment))
    tsa = _x509(status.signing_cert).subject.rfc4514_string()
    if not (status.intact and status.valid):
        return False, (f"the archive time stamp of {moment.isoformat()} by {tsa} does not"
                       " match the document it covers")
    if not status.trusted:
        return False, (f"the archive time stamp of {moment.isoformat()} by {tsa} does not"
                       f" chain to a trusted root ({status.trust_problem_indic})")
    return True, (f"archive time stamp (PAdES B-LTA) of {moment.isoformat()} by {tsa}: it"
                  " covers the signatures and their validation data (DSS)")


def _number(reader, number_notation, issued_on, place=None):
    """The number and date written in the document's fields are the register's
    (the ``order`` check says the last signature covers the whole file): the
    date in the template's date field, or with its place in the field the
    leader's revision made (``place``, when given, checked too)."""
    form = reader.root.get("/AcroForm")
    values = {str(f.get_object().get("/T")): str(f.get_object().get("/V", ""))
              for f in (form.get_object().get("/Fields", ()) if form is not None else ())}
    wanted = {looks.NUMBER_FIELD: f"Số: {number_notation}"}
    if issued_on is not None:
        if looks.PLACE_DATE_FIELD in values and looks.DATE_FIELD not in values:
            line = looks.date_line(issued_on)
            written = values[looks.PLACE_DATE_FIELD]
            text = looks.place_date_line(place, issued_on) if place else None
            if text is None and (written == line or written.endswith(", " + line)):
                text = written  # the place is not checked, only the date after it
            wanted[looks.PLACE_DATE_FIELD] = text or f"..., {line}"
        else:
            wanted[looks.DATE_FIELD] = looks.date_line(issued_on)
    problems = [f"the document's {name} reads {values[name]!r}, the register {text!r}"
                if name in values else f"the document has no {name} field (the register"
                f" says {text!r})" for name, text in wanted.items() if values.get(name) != text]
    if problems:
        return False, "; ".join(problems)
    return True, (f"the document reads {' and '.join(map(repr, wanted.values()))}, as the"
                  " register does")


def _embedded_certs(signed_data):
    return [_x509(c) for c in extract_certificate_info(signed_data).other_certs]


def _roots(trust_roots):
    return [asn1_certificate(r) for r in trust_roots]


def _crls(crls):
    return [asn1_crl_of(item) for item in crls]


def asn1_certificate(certificate):
    """asn1crypto's form (pyHanko's) of a certificate: cryptography's, DER or asn1crypto's."""
    return _asn1(certificate, asn1_x509.Certificate, x509.Certificate)


def asn1_crl_of(crl):
    """asn1crypto's form (pyHanko's) of a CRL: cryptography's, DER or asn1crypto's."""
    return _asn1(crl, asn1_crl.CertificateList, x509.CertificateRevocationList)


def _asn1(value, theirs, ours):
    if isinstance(value, theirs):
        return value
    if isinstance(value, ours):
        value = value.public_bytes(serialization.Encoding.DER)
    return theirs.load(value)


def _x509(certificate):
    return x509.load_der_x509_certificate(certificate.dump())


def _names(path):
    return " ← ".join(c.subject.rfc4514_string() for c in path)


def _parse_json(data):
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
