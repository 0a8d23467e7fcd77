"""The XML signature (XML-DSig) of an edXML package: written by the sending
agency's seal key, checked on the way in.

signxml (lxml and cryptography underneath; kept up, RFC-conformant, the
usual choice in Python) does the XML part: an enveloped signature over the
whole package (``Reference URI=""``, exclusive canonicalisation, SHA-256,
ECDSA or RSA by the key), placed as the last child of ``edXMLHeader`` where
the SDKs put theirs, the certificate and its chain in ``KeyInfo/X509Data``.
The bytes can be checked with nothing of ours::

    xmlsec1 --verify --trusted-pem root.pem --enabled-reference-uris empty package.xml

Who the signer is and whether to trust it (a path to a trusted root, not
revoked, the sender's agency) is judged by ``verification.verify_edxml``.
"""

import asyncio

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree
from pyhanko.sign import signers
from signxml import DigestAlgorithm, SignatureMethod, XMLSigner

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
HEADER = "edXMLHeader"
SIGNATURE = f"{HEADER}/Signature"  # the path errors name
FROM = f"{HEADER}/MessageHeader/From/OrganId"


class PackageError(ValueError):
    """A package that cannot be signed or read for its signature, naming the element."""

    def __init__(self, field, text):
        super().__init__(f"{field}: {text}")
        self.field = field


def parse(xml_bytes):
    """An lxml tree of a package: no DTD, no entity, nothing fetched; large
    base64 files allowed (``huge_tree``; the caller has capped the size)."""
    data = bytes(xml_bytes)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise PackageError("edXMLEnvelope", "DOCTYPE and entity declarations are refused")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True,
                             load_dtd=False)
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise PackageError("edXMLEnvelope", f"not well-formed XML ({exc})") from None


def header(root):
    """The package's ``edXMLHeader`` (SDK layout, or the older one with the
    envelope as root)."""
    found = root.find(f".//{{{EDXML_NS}}}{HEADER}")
    if found is None:
        raise PackageError(HEADER, "missing: not an edXML package")
    return found


def sender(root):
    """``From/OrganId`` of the package, or None."""
    node = header(root).find(f"{{{EDXML_NS}}}MessageHeader/{{{EDXML_NS}}}From/"
                             f"{{{EDXML_NS}}}OrganId")
    return node.text.strip() if node is not None and node.text else None


def signatures(root):
    return root.findall(f".//{{{DS_NS}}}Signature")


def sign_package(xml_bytes, identity):
    """The package's bytes with the enveloped signature of ``identity`` (a
    :class:`~services.signing.pki.Identity` or a pyHanko ``Signer`` whose key
    stays in its token), certificate chain included."""
    return sign_tree(parse(xml_bytes), identity)


def sign_tree(root, identity):
    """:func:`sign_package` of a package already parsed (:func:`parse`). A
    package already signed is refused (its signature would not cover the new
    one's place)."""
    if signatures(root):
        raise PackageError(SIGNATURE, "the package is signed already")
    key, chain = _key_and_chain(identity)
    placeholder = etree.SubElement(header(root), f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS})
    placeholder.set("Id", "placeholder")
    method = (SignatureMethod.ECDSA_SHA256 if key.is_ec else SignatureMethod.RSA_SHA256)
    signer = XMLSigner(signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=EXC_C14N)
    signed = signer.sign(root, key=key, cert=chain, always_add_key_value=False)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


class _Key:
    """What signxml asks of a private key (``sign``, ``key_size``), over either
    a key in memory or a pyHanko signer (an HSM's token)."""

    def __init__(self, public_key, sign):
        self.is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
        if not self.is_ec and not isinstance(public_key, rsa.RSAPublicKey):
            raise TypeError(f"unsupported key type {type(public_key).__name__}")
        self.key_size = public_key.key_size
        self._sign = sign

    def sign(self, data, *args, **kwargs):  # SHA-256 always: the signer is built so
        return self._sign(data)


def _key_and_chain(identity):
    if isinstance(identity, signers.Signer):
        certificate = x509.load_der_x509_certificate(identity.signing_cert.dump())
        chain = [certificate, *(x509.load_der_x509_certificate(c.dump())
                                for c in identity.cert_registry
                                if c.dump() != identity.signing_cert.dump())]

        def sign(data):  # DER (r, s) for ECDSA, PKCS#1 v1.5 for RSA, as signxml expects
            return asyncio.run(identity.async_sign_raw(data, "sha256"))
        return _Key(certificate.public_key(), sign), chain
    private = identity.private_key

    def sign_in_memory(data):
        if isinstance(private, ec.EllipticCurvePrivateKey):
            return private.sign(data, ec.ECDSA(hashes.SHA256()))
        return private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return (_Key(identity.certificate.public_key(), sign_in_memory),
            [identity.certificate, *identity.chain])
