"""A small, real X.509 PKI for agencies and their people.

Used for development and tests, and as the model of what production
certificates must carry. What a certificate binds, and where:

* personal certificate (a leader or a clerk): ``CN`` = full name, ``O`` =
  agency name, ``organizationIdentifier`` (2.5.4.97, the eIDAS attribute for
  an organisation's identifier) = the 13-character agency code, and
  ``title`` (2.5.4.12) = the role, ``leader`` or ``clerk``;
* organisation certificate (the agency's "seal"): ``CN`` and ``O`` = agency
  name, ``organizationIdentifier`` = agency code, and no ``title``.

Signing certificates have key usage digitalSignature + nonRepudiation
(critical) and extended key usage id-kp-documentSigning (RFC 9336) plus
emailProtection, which common PDF tools still look for. Each carries the
CA's CRL distribution point when the CA has a CRL URL.

Keys are ECDSA P-256 (default), RSA-2048 (what most Vietnamese public CAs
issue) or RSA-3072. Private keys never touch the
disk in clear: :class:`KeyStore` writes them as passphrase-encrypted PKCS#8
PEM (mode 0600), and no object here shows key material in its repr. A CA's
key may instead stay in a PKCS#11 token (:class:`TokenKey`, an HSM): the
certificates and CRLs are then laid out here and only their to-be-signed
bytes' digest goes to the token.
"""

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from shared.envelope import AGENCY_CODE

ROLES = ("leader", "clerk")
KEY_ALGORITHMS = ("ec-p256", "rsa-2048", "rsa-3072")
# RFC 9336 id-kp-documentSigning; cryptography has no name for it yet.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_NAME_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def generate_key(algorithm="ec-p256"):
    """A new private key: ``ec-p256`` (ECDSA on P-256), ``rsa-2048`` or ``rsa-3072``."""
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm in ("rsa-2048", "rsa-3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    raise ValueError(f"key algorithm must be one of {KEY_ALGORITHMS}, not {algorithm!r}")


@dataclass(frozen=True)
class Identity:
    """A certificate, its private key, and the chain of its issuers up to the root.

    The object a signing function is given; ``private_key`` stays out of repr.
    """

    certificate: x509.Certificate
    private_key: object = field(repr=False)
    chain: tuple = ()

    def __repr__(self):
        return (f"Identity(subject={self.certificate.subject.rfc4514_string()!r},"
                f" serial={self.certificate.serial_number:x})")


class TokenKey:
    """A private key that stays in a token (an HSM): its public half, and a function
    that has the token sign a SHA-256 digest (ECDSA, DER). Stands where a CA's or
    the TSA's key object would; holds no key material."""

    def __init__(self, public_key, sign_digest, name="token key"):
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError(f"{name}: a token's key must be ECDSA (P-256)")
        self._public_key = public_key
        self._sign_digest = sign_digest
        self.name = name

    def __repr__(self):
        return f"TokenKey({self.name!r})"

    def public_key(self):
        return self._public_key

    def sign(self, data):
        """The token's ECDSA-with-SHA-256 signature of ``data`` (DER), checked here."""
        signature = self._sign_digest(hashlib.sha256(data).digest())
        self._public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        return signature


_SCRATCH = []


def _signed(builder, key):
    """``builder`` (a certificate or CRL) signed with SHA-256 by ``key``. A token's key
    cannot be handed to cryptography, so cryptography lays the structure out, signed
    by a throwaway P-256 key (the same algorithm identifier, ecdsa-with-SHA256, in the
    to-be-signed part), and the token's signature of those bytes replaces its own."""
    if not isinstance(key, TokenKey):
        return builder.sign(key, hashes.SHA256())
    if not _SCRATCH:
        _SCRATCH.append(ec.generate_private_key(ec.SECP256R1()))
    draft = builder.sign(_SCRATCH[0], hashes.SHA256())
    algorithm = {"algorithm": "sha256_ecdsa"}
    if isinstance(draft, x509.Certificate):
        tbs = draft.tbs_certificate_bytes
        return x509.load_der_x509_certificate(asn1_x509.Certificate({
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs),
            "signature_algorithm": algorithm, "signature_value": key.sign(tbs)}).dump())
    tbs = draft.tbs_certlist_bytes
    return x509.load_der_x509_crl(asn1_crl.CertificateList({
        "tbs_cert_list": asn1_crl.TbsCertList.load(tbs),
        "signature_algorithm": algorithm, "signature": key.sign(tbs)}).dump())


class CertificateAuthority:
    """A root CA that issues certificates and keeps a list of revocations."""

    def __init__(self, certificate, private_key, crl_url=None):
        self.certificate = certificate
        self._key = private_key
        self.crl_url = crl_url
        self._revoked = {}  # serial -> (when, reason)

    def __repr__(self):
        return f"CertificateAuthority({self.certificate.subject.rfc4514_string()!r})"

    def issue(self, subject, public_key, valid_from, valid_to, extensions):
        """Sign a certificate for ``public_key``; ``extensions`` are (value, critical)."""
        builder = (x509.CertificateBuilder()
                   .subject_name(subject)
                   .issuer_name(self.certificate.subject)
                   .public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(valid_from)
                   .not_valid_after(valid_to)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self._key.public_key()), False))
        if self.crl_url:
            builder = builder.add_extension(x509.CRLDistributionPoints([
                x509.DistributionPoint([x509.UniformResourceIdentifier(self.crl_url)],
                                       None, None, None)]), False)
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return _signed(builder, self._key)

    def revoke(self, serial, when, reason=x509.ReasonFlags.key_compromise):
        """Record that certificate ``serial`` is revoked from ``when`` on."""
        self._revoked[serial] = (when, x509.ReasonFlags(reason))

    def crl(self, next_update, this_update=None):
        """The current CRL, DER-encoded, signed by this CA."""
        this_update = this_update or datetime.now(UTC)
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.certificate.subject)
                   .last_update(this_update)
                   .next_update(next_update)
                   .add_extension(x509.CRLNumber(len(self._revoked) + 1), False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self._key.public_key()), False))
        for serial, (when, reason) in sorted(self._revoked.items()):
            revoked = (x509.RevokedCertificateBuilder()
                       .serial_number(serial)
                       .revocation_date(when)
                       .add_extension(x509.CRLReason(reason), False)
                       .build())
            builder = builder.add_revoked_certificate(revoked)
        return _signed(builder, self._key).public_bytes(serialization.Encoding.DER)


def create_root_ca(name, valid_from, valid_to, *, key_algorithm="ec-p256", crl_url=None,
                   key=None):
    """A self-signed root CA named ``name`` (``CN``, ``O``, ``C=VN``), on ``key`` (a
    private key or a :class:`TokenKey`) or a new one."""
    key = key or generate_key(key_algorithm)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = _signed(x509.CertificateBuilder()
                          .subject_name(subject)
                          .issuer_name(subject)
                          .public_key(key.public_key())
                          .serial_number(x509.random_serial_number())
                          .not_valid_before(valid_from)
                          .not_valid_after(valid_to)
                          .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
                          .add_extension(key_usage(cert_sign=True), True)
                          .add_extension(ski, False), key)
    return CertificateAuthority(certificate, key, crl_url=crl_url)


def issue_organisation_cert(ca, agency_code, agency_name, *, valid_from=None, valid_to=None,
                            key_algorithm="ec-p256"):
    """The agency's own signing certificate (for its seal), with a new key."""
    return _issue_signing_identity(ca, _organisation_subject(agency_code, agency_name),
                                   valid_from, valid_to, key_algorithm)


def certify_organisation_key(ca, agency_code, agency_name, public_key, *, valid_from=None,
                             valid_to=None):
    """The agency's seal certificate for a key held elsewhere (an HSM): only its
    ``public_key`` is given."""
    return _signing_certificate(ca, _organisation_subject(agency_code, agency_name),
                                public_key, valid_from, valid_to)


def _organisation_subject(agency_code, agency_name):
    _check_agency_code(agency_code)
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency_name),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, agency_code),
        x509.NameAttribute(NameOID.COMMON_NAME, agency_name),
    ])


def issue_personal_cert(ca, full_name, agency_code, role, *, agency_name=None,
                        valid_from=None, valid_to=None, key_algorithm="ec-p256"):
    """A leader's or a clerk's personal signing certificate, with a new key."""
    return _issue_signing_identity(ca, _personal_subject(full_name, agency_code, role,
                                                         agency_name),
                                   valid_from, valid_to, key_algorithm)


def _personal_subject(full_name, agency_code, role, agency_name):
    _check_agency_code(agency_code)
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency_name or agency_code),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, agency_code),
        x509.NameAttribute(NameOID.TITLE, role),
        x509.NameAttribute(NameOID.COMMON_NAME, full_name),
    ])


def certify_personal_key(ca, full_name, agency_code, role, public_key, *, agency_name=None,
                         valid_from=None, valid_to=None):
    """A leader's or clerk's certificate for a key only they hold (their token)."""
    return _signing_certificate(ca, _personal_subject(full_name, agency_code, role,
                                                      agency_name),
                                public_key, valid_from, valid_to)


def describe(certificate):
    """What a certificate binds: kind, agency code and name, role, holder's name.

    ``kind`` is ``personal`` (it has a ``title``) or ``organisation``.
    """
    subject = certificate.subject

    def first(oid):
        values = subject.get_attributes_for_oid(oid)
        return values[0].value if values else None

    role = first(NameOID.TITLE)
    return {
        "kind": "personal" if role else "organisation",
        "agency_code": first(NameOID.ORGANIZATION_IDENTIFIER),
        "agency_name": first(NameOID.ORGANIZATION_NAME),
        "role": role,
        "name": first(NameOID.COMMON_NAME),
    }


def check_valid_at(certificate, moment):
    """Raise ValueError naming the dates when ``certificate`` is not valid at ``moment``."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    who = certificate.subject.rfc4514_string()
    if moment < start:
        raise ValueError(f"certificate {who} is not yet valid: valid from"
                         f" {start.isoformat()}, now {moment.isoformat()}")
    if moment > end:
        raise ValueError(f"certificate {who} expired on {end.isoformat()},"
                         f" now {moment.isoformat()}")


class KeyStore:
    """Private keys on disk, each a PKCS#8 PEM encrypted with the passphrase (0600)."""

    def __init__(self, directory, passphrase):
        if not passphrase:
            raise ValueError("a key store needs a passphrase")
        self.directory = directory
        self._secret = passphrase.encode() if isinstance(passphrase, str) else passphrase

    def __repr__(self):
        return f"KeyStore({self.directory!r})"

    def path(self, name):
        if not _NAME_SAFE.match(name):
            raise ValueError(f"key name {name!r}: letters, digits, '.', '_' and '-' only")
        return os.path.join(self.directory, f"{name}.key.pem")

    def save(self, name, private_key):
        """Write the key encrypted; refuses to overwrite an existing key."""
        pem = private_key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.BestAvailableEncryption(self._secret))
        os.makedirs(self.directory, exist_ok=True)
        path = self.path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return path

    def load(self, name):
        """The key; raises ValueError on a wrong passphrase or a damaged file."""
        with open(self.path(name), "rb") as fh:
            return serialization.load_pem_private_key(fh.read(), password=self._secret)


def _issue_signing_identity(ca, subject, valid_from, valid_to, key_algorithm):
    key = generate_key(key_algorithm)
    certificate = _signing_certificate(ca, subject, key.public_key(), valid_from, valid_to)
    return Identity(certificate, key, (ca.certificate,))


def _signing_certificate(ca, subject, public_key, valid_from, valid_to):
    valid_from = valid_from or datetime.now(UTC) - timedelta(minutes=5)
    valid_to = valid_to or valid_from + timedelta(days=365)
    return ca.issue(subject, public_key, valid_from, valid_to, [
        (key_usage(signing=True), True),
        (x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
         False),
    ])


def key_usage(signing=False, cert_sign=False):
    return x509.KeyUsage(digital_signature=signing, content_commitment=signing,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _check_agency_code(code):
    if not isinstance(code, str) or not AGENCY_CODE.match(code):
        raise ValueError(f"agency code {code!r} is not of the form XXX.XX.XX.Ynn")
