"""The edXML packages' XML signatures (``xmldsig``), mixed into ``SigningService``:
routing asks for the sending agency's signature on a package its clerk exports,
and for the report on a package's signature before it takes one in."""

import base64
from contextlib import contextmanager

from services.signing import authority, verification, xmldsig
from shared.auth import require_role
from shared.edge.rpc import rpc
from shared.errors import Forbidden, PayloadTooLarge, ValidationFailed
from shared.green import run_cpu


class SignsPackages:
    @rpc
    def sign_edxml(self, package_b64):
        """The package (base64) with its sender's XML signature (``xmldsig``), by
        the agency's seal key: only a clerk of the agency the package names in
        ``From`` asks for it (routing, exporting for that clerk)."""
        actor = require_role(self.auth.actor(), "clerk")
        raw = self._package(package_b64)
        with _package_errors():
            root = run_cpu(xmldsig.parse, raw)  # once: a package may be 100 MB inline
            sender = xmldsig.sender(root)
        if sender != actor.agency:
            raise Forbidden(f"{xmldsig.FROM}: the package is from {sender}; a clerk of"
                            f" {actor.agency} signs only its own agency's packages",
                            field=xmldsig.FROM)
        with self.events.transaction() as conn:
            identity = self.pki.authority.identity(conn, sender, sender, authority.AGENCY_ROLE,
                                                   sender)
        with _package_errors():
            signed = run_cpu(xmldsig.sign_tree, root, identity)
        return base64.b64encode(signed).decode("ascii")

    @rpc
    def verify_edxml(self, package_b64):
        """The report on a package's XML signature (``verification.verify_edxml``):
        ``signed`` false when it has none; judged against the platform's root and
        those the operator trusts (``TRUST_ROOTS``: the national CAs of the axis)."""
        self.auth.actor()
        raw = self._package(package_b64)
        with self.events.transaction() as conn:
            crl = self.pki.authority.crl(conn)
        roots = [self.pki.authority.ca.certificate, *self.pki.trust.certificates()]
        with _package_errors():
            return verification.jsonable(run_cpu(verification.verify_edxml, raw, roots,
                                     [crl, *self.pki.trust.crls()]))

    def _package(self, package_b64):
        if not isinstance(package_b64, str):
            raise ValidationFailed("package: base64 text", field="package")
        if len(package_b64) > self.settings.max_sign_bytes * 4 // 3 + 4:
            raise PayloadTooLarge(f"package: over the {self.settings.max_sign_bytes} bytes"
                                  " signed or verified (MAX_SIGN_BYTES)", field="package")
        try:
            return base64.b64decode(package_b64, validate=True)
        except ValueError:
            raise ValidationFailed("package: not base64", field="package") from None


@contextmanager
def _package_errors():
    """A package that cannot be read or signed: a refusal naming its element."""
    try:
        yield
    except xmldsig.PackageError as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
