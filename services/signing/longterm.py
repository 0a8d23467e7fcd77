"""Long-term validation: PAdES B-LT and B-LTA with pyHanko's own mechanisms.

A signature verifies years later, after its certificates expired and its CA
is gone, only if the document carries what verifying it needs and proof that
it existed while that was still valid:

* B-LT (:func:`signature_metadata`): the revision holding a signature also
  holds, in the document security store (DSS), the signer's chain, the CRLs
  of its issuers and the chain of the TSA that time-stamped it. pyHanko
  checks those chains against the CRLs first (a revoked certificate is
  refused) and writes what it used; nothing is fetched, the CRLs are given;
* B-LTA (``archive=True``): a document time stamp after the signature, over
  the document and its DSS (the archive time stamp), and its TSA's chain.
  Before that TSA's certificate expires, a newer archive time stamp must
  cover everything (pyHanko's ``PdfTimeStamper.update_archival_timestamp_chain``;
  not done by this platform yet);
* :func:`verify` checks a document as a verifier does, from the trust roots,
  what the document carries and the current CRL of the TSA, nothing fetched:
  it holds after the signers' certificates expired, as long as the newest
  archive time stamp's TSA certificate is valid;
  :func:`verify_years_later` when every certificate has expired, the TSA's
  too, taking the archive time stamps as renewed until then.

Synchronous and CPU-bound: call through ``run_cpu``.
"""

import asyncio
import io
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.validation.ades import (
    ades_lta_validation,
    simulate_future_ades_lta_validation,
)
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer

from services.signing.verification import asn1_certificate, asn1_crl_of

# The DSS written in the signature's own revision, before it is signed (so the
# leader's certification covers it and a device's hand-out carries it), without
# the VRI dictionary PAdES no longer uses.
DSS_WITH_SIGNATURE = DSSContentSettings(
    include_vri=False, placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE)



class _FetchingOffOnPurpose(logging.Filter):
    """pyHanko warns at every B-LT signature that fetching is off: here it is off on
    purpose (the CRLs are given), so the warning is noise in the service's log."""

    def filter(self, record):
        return "fetching is not allowed" not in record.getMessage()


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_FetchingOffOnPurpose())


@dataclass(frozen=True)
class LongTerm:
    """What a B-LT signature is checked against and embeds: the trust roots its
    signer's and its TSA's chains end at, the issuers' current CRLs (DER) and
    any intermediate certificates."""

    trust_roots: tuple
    crls: tuple = ()
    certificates: tuple = ()

    def context(self, moment=None):
        """pyHanko's validation context over exactly these, fetching nothing."""
        return ValidationContext(
            trust_roots=[asn1_certificate(c) for c in self.trust_roots],
            other_certs=[asn1_certificate(c) for c in self.certificates],
            crls=[asn1_crl_of(c) for c in self.crls], allow_fetching=False,
            revocation_mode="hard-fail", moment=moment)


def signature_metadata(meta, long_term, archive=False):
    """``meta`` (pyHanko's ``PdfSignatureMetadata``) for a B-LT signature, and a
    B-LTA one (an archive time stamp after it) with ``archive``; ``meta`` itself
    (B-T) without ``long_term``."""
    if long_term is None:
        return meta
    return replace(meta, embed_validation_info=True, validation_context=long_term.context(),
                   dss_settings=DSS_WITH_SIGNATURE, use_pades_lta=archive)


def verify(pdf, trust_roots, crls=(), at=None):
    """Each signature of ``pdf`` judged at ``at`` (default now) by pyHanko's
    long-term validation (PAdES B-LTA, ETSI EN 319 102-1), from ``trust_roots``,
    what the document carries (DSS, time stamps, CMS) and ``crls``: the current
    CRL of the newest archive time stamp's TSA must be among them (the
    platform's, from ``lienthong trust-anchor``), as that time stamp is checked
    now. Nothing is fetched. The signer's certificates may have expired since.
    A list of ``{"field", "ok", "indication", "best_signature_time", "detail"}``."""
    at = at or datetime.now(UTC)
    timing = ValidationTimingInfo(validation_time=at, best_signature_time=at,
                                  point_in_time_validation=False)
    return _judge(pdf, trust_roots, crls, lambda sig, spec: ades_lta_validation(
        sig, spec, timing_info=timing))


def verify_years_later(pdf, trust_roots, at, crls=()):
    """Each signature of ``pdf`` judged at a future ``at``, when every certificate
    may have expired, by pyHanko's long-term validation (PAdES B-LTA, ETSI EN 319
    102-1) from ``trust_roots`` and what the document carries (DSS, time stamps,
    CMS); ``crls`` are CRLs the verifier has besides. Nothing is fetched. It
    assumes the archive time stamps are renewed until then (pyHanko's
    ``simulate_future_ades_lta_validation``: what the document holds now is taken
    as existing now). A list of ``{"field", "ok", "indication",
    "best_signature_time", "detail"}``."""
    return _judge(pdf, trust_roots, crls, lambda sig, spec: (
        simulate_future_ades_lta_validation(sig, spec, at)))


def _judge(pdf, trust_roots, crls, validate):
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    spec = _spec(trust_roots, crls)

    async def run():
        results = []
        for sig in reader.embedded_regular_signatures:
            result = await validate(sig, spec)
            status = result.ades_subindic.status.name
            results.append({
                "field": sig.field_name, "ok": status == "PASSED",
                "indication": f"{status}/{result.ades_subindic.name}",
                "best_signature_time": result.best_signature_time,
                "detail": result.failure_msg or "valid"})
        return results

    return asyncio.run(run())


def _spec(trust_roots, crls):
    # Revocation data required for every certificate of every path (the signer's, the
    # TSA's), from what the document carries and ``crls``: never fetched.
    required = RevocationCheckingPolicy(RevocationCheckingRule.CRL_REQUIRED,
                                        RevocationCheckingRule.CRL_REQUIRED)
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build([asn1_certificate(c) for c in trust_roots]),
        revinfo_policy=CertRevTrustPolicy(revocation_checking_policy=required))
    knowledge = LocalKnowledge(known_crls=[CRLContainer(asn1_crl_of(c)) for c in crls])
    return PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=policy, local_knowledge=knowledge,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))


def main(argv=None):
    """``python -m services.signing.longterm DOCUMENT.pdf --root ROOT.pem --crl
    lienthong.crl``: each signature judged now (:func:`verify`), or with ``--at
    2038-12-31`` years later (:func:`verify_years_later`), from the root, the
    CRLs and what the document carries; exit status 0 when all hold."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m services.signing.longterm",
                                     description=main.__doc__)
    parser.add_argument("pdf")
    parser.add_argument("--root", action="append", required=True,
                        help="a trusted root certificate (PEM), repeatable")
    parser.add_argument("--crl", action="append", default=[],
                        help="a CRL (DER) known besides, repeatable")
    parser.add_argument("--at", type=datetime.fromisoformat, default=None,
                        help="a future verification time (ISO 8601): every certificate"
                             " may have expired then; default: now")
    args = parser.parse_args(argv)
    with open(args.pdf, "rb") as fh:
        pdf = fh.read()
    roots = []
    for path in args.root:
        with open(path, "rb") as fh:
            roots.extend(x509.load_pem_x509_certificates(fh.read()))
    crls = []
    for path in args.crl:
        with open(path, "rb") as fh:
            crls.append(fh.read())
    if args.at is None:
        at = datetime.now(UTC)
        results = verify(pdf, roots, crls, at)
    else:
        at = args.at if args.at.tzinfo else args.at.replace(tzinfo=UTC)
        results = verify_years_later(pdf, roots, at, crls)
    # For an auditor: Vietnamese first, English in brackets.
    for r in results:
        print(f"{'Đạt (ok)' if r['ok'] else 'Không đạt (failed)'} {r['field']}: ký không"
              f" muộn hơn (signed no later than) {r['best_signature_time'].isoformat()};"
              f" {r['indication']} ({r['detail']})")
    ok = bool(results) and all(r["ok"] for r in results)
    verdict = "HỢP LỆ (VALID)" if ok else "KHÔNG HỢP LỆ (NOT VALID)"
    print(f"{verdict} vào lúc (at) {at.isoformat()}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
