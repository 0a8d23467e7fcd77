"""The signing service's key holder: the agency PKI, every signer's certificate
and key, the CRL, and the time-stamping authority.

Standing in for the government CA: a root CA made on first start, which
issues each leader a personal certificate and each agency an organisation
certificate. In production the root's and the TSA's keys are in an HSM
(``hsm.PlatformKeys``), as are the agencies' seal keys (``hsm.SealTokens``),
and a person's key is in their own token or at their remote signing service:
the server holds no private key. Only in development mode does the
:class:`~services.signing.pki.KeyStore` (passphrase-encrypted PKCS#8, one
file per key) hold the keys instead; requests authenticated as a person use
that person's key and no one else's.

Certificates and revocations are rows of the ``certificates`` table; the CRL
is rebuilt from them, so every signing process publishes the same one.
"""

import hashlib
import logging
import os
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from services.signing import longterm, pki, tsa
from shared.errors import Forbidden, NotFound, ValidationFailed

log = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS certificates (
    serial      text PRIMARY KEY,
    holder      text NOT NULL,
    agency      text NOT NULL,
    role        text NOT NULL,
    pem         text NOT NULL,
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    revoked_at  timestamptz,
    reason      text
);
CREATE INDEX IF NOT EXISTS certificates_holder ON certificates (holder, agency, role);
"""
# Migration 2: who holds a certificate's key. server: the key store (or the agency's
# seal token); holder: only the holder (their own token), who signs through hand-outs.
KEY_HELD_DDL = """
ALTER TABLE certificates ADD COLUMN IF NOT EXISTS key_held text NOT NULL DEFAULT 'server';
"""

REASONS = {r.value: r for r in x509.ReasonFlags
           if r not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl)}
AGENCY_ROLE = "agency"


class Authority:
    def __init__(self, directory, passphrase=None, auto_enroll=False, validity_days=365,
                 seals=None, platform=None, own_tsa=True):
        self.directory = directory
        # The development key store (``passphrase``); None: the server keeps no key
        # file, and issues no person a key it would keep.
        self.keys = (pki.KeyStore(os.path.join(directory, "keys"), passphrase)
                     if passphrase is not None else None)
        self.auto_enroll = auto_enroll
        # The agencies' seal keys in their tokens (``hsm.SealTokens``), and the root's
        # and the TSA's (``hsm.PlatformKeys``); None: in ``keys``, for development.
        self.seals = seals
        self.platform = platform
        if (seals is None or platform is None) and self.keys is None:
            raise ValueError("an authority without tokens needs the development key store")
        self.validity = timedelta(days=validity_days)
        self.ca = self._root() if platform is None else self._root_in_token()
        # ``own_tsa``: this service answers time-stamp requests itself (no TSA_URL).
        self.tsa_identity = (None if not own_tsa else self._tsa_identity() if platform is None
                             else self._tsa_in_token())

    def __repr__(self):  # never key material
        return f"Authority({self.directory!r})"

    # -- the root and the TSA, made once and kept on disk ------------------------------

    def _root(self):
        cert_path = os.path.join(self.directory, "root-ca.pem")
        if not os.path.exists(cert_path):
            now, key = datetime.now(UTC), pki.generate_key()
            ca = pki.create_root_ca("Liên thông Root CA (development)", now - timedelta(days=1),
                                    now + timedelta(days=3650), key=key)
            if self._save("root-ca", key, ca.certificate, cert_path):
                return ca
        certificate = x509.load_pem_x509_certificate(_read(cert_path))
        return pki.CertificateAuthority(certificate, self.keys.load("root-ca"))

    def _tsa_identity(self):
        cert_path = os.path.join(self.directory, "tsa.pem")
        if not os.path.exists(cert_path):
            identity = tsa.issue_tsa_cert(self.ca, valid_to=datetime.now(UTC) + self.validity * 5)
            if self._save("tsa", identity.private_key, identity.certificate, cert_path):
                return identity
        return pki.Identity(x509.load_pem_x509_certificate(_read(cert_path)),
                            self.keys.load("tsa"), (self.ca.certificate,))

    def _root_in_token(self):
        """The root whose key is the token's: its certificate made on first start (the
        token signs it), then read from ``PKI_DIR``; it must certify that key."""
        key = self.platform.key("ca")
        cert_path = os.path.join(self.directory, "root-ca.pem")
        if not os.path.exists(cert_path):
            now = datetime.now(UTC)
            ca = pki.create_root_ca("Liên thông Root CA", now - timedelta(days=1),
                                    now + timedelta(days=3650), key=key)
            if _publish(ca.certificate, cert_path):
                log.info("made the root CA certificate for the key in the token (%s)", key)
                return ca
        certificate = x509.load_pem_x509_certificate(_read(cert_path))
        if not _same_key(certificate, key.public_key()):
            raise RuntimeError(
                f"PKI_TOKENS: {cert_path} certifies a key other than the CA key in the"
                f" token ({key}), such as the development file's: keep the token that"
                " holds its key, or move the file away to make a new root (every"
                " certificate must then be issued again)")
        return pki.CertificateAuthority(certificate, key)

    def _tsa_in_token(self):
        """The TSA's certificate for its key in the token, issued again whenever the
        one in ``PKI_DIR`` certifies another key (the development file's) or was
        issued by another root."""
        key = self.platform.key("tsa")
        cert_path = os.path.join(self.directory, "tsa.pem")
        if os.path.exists(cert_path):
            certificate = x509.load_pem_x509_certificate(_read(cert_path))
            if _same_key(certificate, key.public_key()) and _issued_by(certificate, self.ca):
                return pki.Identity(certificate, key, (self.ca.certificate,))
        certificate = tsa.certify_tsa_key(self.ca, key.public_key(), "Liên thông TSA",
                                          valid_to=datetime.now(UTC) + self.validity * 5)
        if not _publish(certificate, cert_path, replace=os.path.exists(cert_path)):
            certificate = x509.load_pem_x509_certificate(_read(cert_path))
        return pki.Identity(certificate, key, (self.ca.certificate,))

    def _save(self, name, key, certificate, cert_path):
        """Store a new key and its certificate; False if another process was first."""
        try:
            self.keys.save(name, key)
        except FileExistsError:
            return False
        tmp = f"{cert_path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(certificate.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp, cert_path)
        return True

    def time_stamp_authority(self):
        if self.tsa_identity is None:
            raise RuntimeError("this service runs no TSA of its own (TSA_URL is set)")
        return tsa.TimeStampAuthority(self.tsa_identity)

    # -- certificates -------------------------------------------------------------------

    def enroll(self, conn, holder, agency, role, full_name, public_key=None):
        """Issue a certificate and key to ``holder`` (a user id, or the agency for its seal).

        With seal tokens, an agency's certificate is issued for the key in its
        token (the key never leaves it; no key file is written). With
        ``public_key`` (PEM), a leader's or clerk's certificate is issued for a key
        only they hold (their token): they sign through hand-outs.
        """
        if public_key is not None:
            return self._enroll_holder_key(conn, holder, agency, role, full_name, public_key)
        if role == AGENCY_ROLE and self.seals is not None:
            certificate = pki.certify_organisation_key(
                self.ca, agency, full_name, self.seals.public_key(agency),
                valid_to=datetime.now(UTC) + self.validity)
            identity = self.seals.signer(agency, certificate, (self.ca.certificate,))
        elif role == AGENCY_ROLE:
            identity = pki.issue_organisation_cert(self.ca, agency, full_name,
                                                   valid_to=datetime.now(UTC) + self.validity)
        elif role in pki.ROLES and self.keys is None:
            raise ValidationFailed(
                "public_key: a leader's or clerk's certificate is issued for a key in"
                " their own token (its CSR, or public_key) or at their remote signing"
                " service; a key the server keeps is for development only"
                " (LIENTHONG_DEV_MODE=1)", field="public_key")
        elif role in pki.ROLES:
            identity = pki.issue_personal_cert(self.ca, full_name, agency, role,
                                               valid_to=datetime.now(UTC) + self.validity)
        else:
            raise ValidationFailed("role: leader, clerk or agency", field="role")
        certificate = identity.certificate
        serial = format(certificate.serial_number, "x")
        if isinstance(identity, pki.Identity):
            self.keys.save(f"cert-{serial}", identity.private_key)
        self._record(conn, certificate, holder, agency, role, "server")
        return identity

    def _enroll_holder_key(self, conn, holder, agency, role, full_name, public_key):
        if role not in pki.ROLES:
            raise ValidationFailed("role: leader or clerk (a person's own key)", field="role")
        try:
            key = serialization.load_pem_public_key(public_key.encode())
        except (ValueError, TypeError, AttributeError):
            raise ValidationFailed("public_key: not a PEM public key", field="public_key") \
                from None
        return self.certify_holder_key(conn, holder, agency, role, full_name, key)

    def certify_holder_key(self, conn, holder, agency, role, full_name, key):
        """A certificate for ``key`` (a public key only ``holder`` holds), its subject
        the platform's: ``full_name``, ``agency``, ``role``; recorded."""
        certificate = pki.certify_personal_key(self.ca, full_name, agency, role, key,
                                               valid_to=datetime.now(UTC) + self.validity)
        self._record(conn, certificate, holder, agency, role, "holder")
        return certificate

    def _record(self, conn, certificate, holder, agency, role, key_held):
        serial = format(certificate.serial_number, "x")
        conn.execute("INSERT INTO certificates (serial, holder, agency, role, pem, not_before,"
                     " not_after, key_held) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                     (serial, holder, agency, role,
                      certificate.public_bytes(serialization.Encoding.PEM).decode(),
                      certificate.not_valid_before_utc, certificate.not_valid_after_utc,
                      key_held))
        log.info("enrolled %s as %s of %s: certificate %s (key held by the %s)", holder, role,
                 agency, serial, key_held)

    def holder_certificate(self, conn, holder, agency, role):
        """The newest valid certificate of ``holder`` for a key only they hold in their
        own token (not one at a remote signing service: ``remote_credentials``)."""
        row = conn.execute(
            "SELECT pem FROM certificates WHERE holder = %s AND agency = %s AND role = %s"
            " AND key_held = 'holder' AND revoked_at IS NULL AND now() BETWEEN not_before"
            " AND not_after AND serial NOT IN (SELECT serial FROM remote_credentials)"
            " ORDER BY not_before DESC LIMIT 1", (holder, agency, role)).fetchone()
        if row is None:
            raise Forbidden(f"certificate: {holder} holds no valid {role} certificate of"
                            f" {agency} for a key in a token of their own (a key at a remote"
                            " signing service signs through sign-remote); an administrator"
                            " must issue one", field="certificate")
        return x509.load_pem_x509_certificate(row[0].encode())

    def check_holder_certificate(self, conn, certificate, holder, agency, role):
        """Refuse a certificate that is not ``holder``'s, is revoked or is not valid now."""
        serial = format(certificate.serial_number, "x")
        row = conn.execute("SELECT holder, agency, role, pem, revoked_at, reason FROM"
                           " certificates WHERE serial = %s", (serial,)).fetchone()
        der = serialization.Encoding.DER
        if row is None or x509.load_pem_x509_certificate(row[3].encode()).public_bytes(
                der) != certificate.public_bytes(der):
            raise Forbidden(f"certificate: {serial} is not a certificate this platform"
                            " issued", field="certificate")
        if tuple(row[:3]) != (holder, agency, role):
            raise Forbidden(f"certificate: {serial} is {row[0]}'s, not the named {role}"
                            f" {holder}'s", field="certificate")
        if row[4] is not None:
            raise Forbidden(f"certificate: {serial} was revoked on {row[4].isoformat()}"
                            f" ({row[5]})", field="certificate")
        try:
            pki.check_valid_at(certificate, datetime.now(UTC))
        except ValueError as exc:
            raise Forbidden(f"certificate: {exc}", field="certificate") from None

    def identity(self, conn, holder, agency, role, full_name):
        """The holder's current certificate and key; an agency's seal certificate is
        enrolled on first use, a person's only in development (``auto_enroll``).

        A holder whose every certificate is revoked or expired is refused,
        naming why: a new certificate is an administrator's decision.
        """
        rows = conn.execute(
            "SELECT serial, pem, revoked_at, reason, not_before, not_after, key_held FROM"
            " certificates WHERE holder = %s AND agency = %s AND role = %s"
            " ORDER BY not_before DESC", (holder, agency, role)).fetchall()
        now = datetime.now(UTC)
        in_token = role == AGENCY_ROLE and self.seals is not None
        for serial, pem, revoked_at, _, not_before, not_after, key_held in rows:
            if revoked_at is None and not_before <= now <= not_after and key_held == "holder":
                raise Forbidden(f"certificate: {holder}'s key is in their own token or at"
                                " their remote signing service: they sign through a"
                                " hand-out (lienthong sign-digest or sign-remote)",
                                field="certificate")
            if revoked_at is None and not_before <= now <= not_after:
                certificate = x509.load_pem_x509_certificate(pem.encode())
                if not in_token and self.keys is None:
                    raise Forbidden(f"certificate: {holder}'s certificate {serial} is for"
                                    " a key in the development key store, which this"
                                    " service does not open outside development mode;"
                                    " an administrator must revoke it and issue one for"
                                    " a key in a token", field="certificate")
                if not in_token:
                    return pki.Identity(certificate, self.keys.load(f"cert-{serial}"),
                                        (self.ca.certificate,))
                if _same_key(certificate, self.seals.public_key(agency)):
                    return self.seals.signer(agency, certificate, (self.ca.certificate,))
                rows = []  # it certifies another key (a file's, before the HSM): a new one
                break
        if rows:
            serial, _, revoked_at, reason, not_before, not_after, _ = rows[0]
            if revoked_at is not None:
                why = f"was revoked on {revoked_at.isoformat()} ({reason})"
            elif now < not_before:
                why = f"is not valid before {not_before.isoformat()}"
            else:
                why = f"expired on {not_after.isoformat()}"
            raise Forbidden(f"certificate: {holder}'s certificate {serial} {why}; an"
                            " administrator must issue a new one", field="certificate")
        # The agency's seal is the agency's, its key the platform's (in the HSM): the
        # platform issues its certificate on first use. A person's certificate is
        # issued against their token's CSR, once an administrator approved it
        # (``enrolment``); on first use only in development (AUTO_ENROLL).
        if not self.auto_enroll and role != AGENCY_ROLE:
            raise Forbidden(f"certificate: {holder} holds no {role} certificate of {agency};"
                            " they request one with their token (lienthong certificate"
                            f" request) and an administrator of {agency} approves it",
                            field="certificate")
        return self.enroll(conn, holder, agency, role, full_name)

    def revoke(self, conn, serial, reason, check=None):
        """Revoke ``serial``; ``check(agency)`` first, with the certificate's
        agency (it raises to refuse)."""
        if reason not in REASONS:
            raise ValidationFailed(f"reason: one of {', '.join(sorted(REASONS))}",
                                   field="reason")
        held = conn.execute("SELECT agency FROM certificates WHERE serial = %s FOR UPDATE",
                            (serial,)).fetchone()
        if held is not None and check is not None:
            check(held[0])
        row = conn.execute("UPDATE certificates SET revoked_at = now(), reason = %s"
                           " WHERE serial = %s AND revoked_at IS NULL RETURNING revoked_at",
                           (reason, serial)).fetchone()
        if row is None:
            raise NotFound(f"serial: no unrevoked certificate {serial}", field="serial")
        return row[0]

    def crl(self, conn, next_update=timedelta(days=1)):
        """The CRL (DER) of every revocation recorded, signed by the root."""
        for serial, revoked_at, reason in conn.execute(
                "SELECT serial, revoked_at, reason FROM certificates"
                " WHERE revoked_at IS NOT NULL"):
            self.ca.revoke(int(serial, 16), revoked_at, REASONS[reason])
        return self.ca.crl(datetime.now(UTC) + next_update)

    def long_term(self, conn):
        """What a PAdES B-LT signature is checked against and embeds: the root (the
        development TSA's issuer too; a TSA at ``TSA_URL`` must chain to it) and
        the CRL as of now."""
        return longterm.LongTerm((self.ca.certificate,), (self.crl(conn),))

    def certificates(self, conn, agency=None):
        rows = conn.execute(
            "SELECT serial, holder, agency, role, not_before, not_after, revoked_at, reason"
            " FROM certificates WHERE %s::text IS NULL OR agency = %s ORDER BY not_before",
            (agency, agency)).fetchall()
        return [{"serial": r[0], "holder": r[1], "agency": r[2], "role": r[3],
                 "not_before": r[4].isoformat(), "not_after": r[5].isoformat(),
                 "revoked_at": r[6].isoformat() if r[6] else None, "reason": r[7]}
                for r in rows]


def certificate_info(identity):
    """What an event records about the certificate that signed: never the key."""
    certificate = getattr(identity, "certificate", identity)  # or the certificate itself
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {"serial": format(certificate.serial_number, "x"),
            "subject": certificate.subject.rfc4514_string(),
            "issuer": certificate.issuer.rfc4514_string(),
            "sha256": hashlib.sha256(der).hexdigest()}


def _same_key(certificate, public_key):
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(*spki) == public_key.public_bytes(*spki)


def _issued_by(certificate, ca):
    try:
        certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _publish(certificate, path, replace=False):
    """Write ``certificate`` (PEM) at ``path``; unless ``replace``, only if no other
    process wrote one first (False then)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, "wb") as fh:
        fh.write(certificate.public_bytes(serialization.Encoding.PEM))
    try:
        if replace:
            os.replace(tmp, path)
            return True
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()
