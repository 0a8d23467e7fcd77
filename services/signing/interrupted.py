"""The leader's signature made by a device only the leader holds (pyHanko's
interrupted signing).

:func:`prepare` lays the signature out as :func:`pades.sign_as_leader` does
(appearance, byte range, signed attributes naming the leader's certificate)
and returns the PDF prepared, the signed attributes and their SHA-256: the
digest the leader's token signs, on the leader's machine (with ``long_term``,
the prepared revision already holds the validation data of PAdES B-LT, which
that signature covers). :func:`complete`
checks that signature against the certificate, builds the CMS with the TSA's
time stamp, writes it into the reserved byte range and checks the result.
Nothing here holds or sees a private key. Synchronous and CPU-bound: call
through ``run_cpu``.
"""

import asyncio
import hashlib
import io
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko_certvalidator.registry import SimpleCertificateStore

from services.signing import pades
from shared.errors import Forbidden

DIGEST = "sha256"


@dataclass(frozen=True)
class Prepared:
    """A leader's signature laid out, awaiting the device's signature of ``digest``."""

    pdf: bytes              # the document with the signature's byte range reserved
    document_digest: bytes  # SHA-256 of that byte range
    reserved: tuple         # (start, end) of the reserved /Contents
    signed_attrs: bytes     # DER of the CMS signed attributes
    digest: bytes           # SHA-256 of ``signed_attrs``: what the device signs


def _external(certificate, chain, signature=None):
    der = serialization.Encoding.DER
    return signers.ExternalSigner(
        signing_cert=asn1_x509.Certificate.load(certificate.public_bytes(der)),
        cert_registry=SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(c.public_bytes(der)) for c in chain]),
        signature_value=signature)


def prepare(pdf, certificate, chain, position, full_name, competence="", *, timestamper_url,
            on_behalf_of=None, deputy_for=None, box=pades.DEFAULT_BOX, long_term=None):
    """The leader's visible signature, as :func:`pades.sign_as_leader` lays it out, up
    to the digest a device must sign. With ``long_term`` (B-LT), the prepared
    revision already holds the validation data in its DSS, which the signature
    will cover."""
    signer = _external(certificate, chain)
    writer, meta, style, field_spec = pades.leader_plan(
        pdf, signer, position, full_name, competence, on_behalf_of=on_behalf_of,
        deputy_for=deputy_for, box=box, long_term=long_term)
    pdf_signer = signers.PdfSigner(meta, signer, timestamper=pades._timestamper(timestamper_url),
                                   stamp_style=style, new_field_spec=field_spec)
    writer = writer()

    async def run():
        digest, _, output = await pdf_signer.async_digest_doc_for_signing(writer)
        attrs = await signer.signed_attrs(digest.document_digest, DIGEST, use_pades=True)
        return digest, attrs, output

    digest, attrs, output = asyncio.run(run())
    der = attrs.dump()
    return Prepared(output.getvalue(), digest.document_digest,
                    (digest.reserved_region_start, digest.reserved_region_end), der,
                    hashlib.sha256(der).digest())


def check_signature(certificate, signed_attrs, signature):
    """Refuse (:class:`Forbidden`, field ``signature``) a signature that is not the
    certificate's key's over the signed attributes handed out."""
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_attrs, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_attrs, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise InvalidSignature
    except (InvalidSignature, ValueError):
        raise Forbidden("signature: not a signature of the digest handed out by this"
                        " certificate's key", field="signature") from None


def complete(prepared, certificate, chain, signature, agency_code, *, timestamper_url):
    """The signed PDF: ``signature`` (checked) in a CMS with the TSA's time stamp, in
    the byte range ``prepared`` reserved; checked as the leader's signature after."""
    check_signature(certificate, prepared.signed_attrs, signature)
    signer = _external(certificate, chain, signature)
    digest = PreparedByteRangeDigest(prepared.document_digest, *prepared.reserved)
    output = io.BytesIO(prepared.pdf)

    async def run():
        signed_cms = await signer.async_sign_prescribed_attributes(
            DIGEST, signed_attrs=cms.CMSAttributes.load(prepared.signed_attrs),
            timestamper=pades._timestamper(timestamper_url))
        await PdfTBSDocument.async_finish_signing(output, digest, signed_cms)

    asyncio.run(run())
    signed = output.getvalue()
    pades._check_leader_signed(PdfFileReader(io.BytesIO(signed)), agency_code,
                               pades.LEADER_FIELD)
    return signed
