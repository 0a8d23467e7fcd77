"""The leader signs with a device only they hold: the signing service's entrypoints
for hand-outs (``interrupted``, ``handouts``), mixed into ``SigningService``.

``prepare_signature`` hands the named leader the digest of their signature,
laid out by the server; their device (``lienthong sign-digest`` with their
token) signs it; ``complete_signature`` checks and completes it. Or their key
is at a remote signing service (``remote``, CSC API): ``sign_remotely`` makes
the hand-out, has the provider sign its digest once the leader's OTP authorized
it, and completes it through the same checks. A refusal changes nothing: the
checks come before any file or event.
"""

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.signing import (authority, commands, domain, handouts, interrupted,
                              remote_credentials)
from shared import scope
from shared.auth import require_role
from shared.edge.rpc import rpc
from shared.errors import ValidationFailed
from shared.green import run_cpu


class SignsWithDevices:
    @rpc
    def prepare_signature(self, document_id):
        """The named leader's signature laid out; the digest their device must sign."""
        actor = self.auth.actor()
        document = self._document(document_id)
        domain.check_leader(document, actor)
        with self.events.transaction() as conn:
            certificate = self.pki.authority.holder_certificate(
                conn, actor.user_id, actor.agency, "leader")
        return self._hand_out(document, actor, certificate)

    @rpc
    def complete_signature(self, handout_id, signature, certificate):
        """Complete the hand-out with the device's ``signature`` (base64 DER) and the
        leader's ``certificate`` (PEM): checked, time-stamped, recorded."""
        return self._complete(handout_id, _base64(signature, "signature"),
                              _certificate(certificate), self.auth.actor())

    # -- a remote signing service (CSC API): the key at the leader's provider ---------------

    @rpc
    def enroll_remote(self, holder, agency, full_name, provider, credential_id,
                      provider_user=None):
        """An admin of ``agency`` configures ``holder`` to sign through ``provider``
        (a name the operator configured) with ``credential_id`` there, which must be
        ``provider_user``'s (default: ``holder``): the platform's CA certifies the
        credential's public key, as for a token. The certificate's details and PEM."""
        actor = require_role(self.auth.actor(), "admin")
        scope.own_agency(actor, agency)
        if not isinstance(credential_id, str) or not credential_id:
            raise ValidationFailed("credential_id: the credential's ID at the provider",
                                   field="credential_id")
        client = self.pki.providers.client(provider)
        user = provider_user or holder
        if credential_id not in client.credentials_list(user):
            raise ValidationFailed(f"credential_id: {provider} lists no credential"
                                   f" {credential_id} of {user}", field="credential_id")
        public_key = client.public_key(credential_id)
        with self.events.transaction() as conn:
            certificate = self.pki.authority.enroll(conn, holder, agency, "leader", full_name,
                                                    public_key)
            remote_credentials.record(conn, certificate, holder, agency, provider,
                                      credential_id)
        return {**authority.certificate_info(certificate), "provider": provider,
                "credential_id": credential_id,
                "pem": certificate.public_bytes(serialization.Encoding.PEM).decode()}

    @rpc
    def sign_remotely(self, document_id, otp):
        """The named leader signs through their remote signing service: the hand-out's
        digest is authorized there with their ``otp`` (a SAD for that hash alone),
        signed there, and completed here through the same checks as a token's."""
        actor = self.auth.actor()
        if not isinstance(otp, str) or not otp.strip():
            raise ValidationFailed("otp: the code of the leader's second factor", field="otp")
        document = self._document(document_id)
        domain.check_leader(document, actor)
        with self.events.transaction() as conn:
            remote = remote_credentials.current(conn, actor.user_id, actor.agency)
        client = self.pki.providers.client(remote["provider"])
        handout = self._hand_out(document, actor, remote["certificate"])
        digest = base64.b64decode(handout["digest"])
        sad, _ = client.authorize(remote["credential_id"], [digest], otp.strip())
        [signature] = client.sign_hash(remote["credential_id"], sad, [digest])
        return self._complete(handout["handout_id"], signature, remote["certificate"], actor)

    # -- the hand-out and its completion, whatever the device -----------------------------

    def _hand_out(self, document, actor, certificate):
        signer = document["signer"]
        pdf = self._fetch(document["file"], document["sha256"])
        with self.events.transaction() as conn:
            long_term = self.pki.authority.long_term(conn)
        prepared = run_cpu(interrupted.prepare, pdf, certificate, self._chain(),
                           signer["position"], signer["full_name"],
                           signer.get("competence", ""), on_behalf_of=signer.get("on_behalf_of"),
                           deputy_for=signer.get("deputy_for"), timestamper_url=self.pki.tsa_url,
                           long_term=long_term)
        info = authority.certificate_info(certificate)
        with self.events.transaction() as conn:
            handout = handouts.create(conn, document, actor.user_id, info["serial"], prepared,
                                      self.settings.handout_seconds)
        return {"handout_id": handout["handout_id"], "document_id": str(document["document_id"]),
                "digest": base64.b64encode(prepared.digest).decode(),
                "digest_algorithm": interrupted.DIGEST, "certificate": {**info, "pem": (
                    certificate.public_bytes(serialization.Encoding.PEM).decode())},
                "expires_at": handout["expires_at"].isoformat()}

    def _complete(self, handout_id, signature, certificate, actor):
        with self.events.transaction() as conn:
            handout = handouts.usable(conn, handout_id, actor)
            self.pki.authority.check_holder_certificate(conn, certificate, handout["leader"],
                                                        actor.agency, "leader")
        document = self._document(handout["document_id"])
        domain.check_leader(document, actor)
        if document["round"] != handout["round"] or format(
                certificate.serial_number, "x") != handout["certificate_serial"]:
            raise ValidationFailed("handout_id: prepared for another round of the document or"
                                   " another certificate; prepare it again", field="handout_id")
        signed = run_cpu(interrupted.complete, handouts.prepared(handout), certificate,
                         self._chain(), signature, actor.agency,
                         timestamper_url=self.pki.tsa_url)
        document_id, intents = document["document_id"], []
        stored = self._store(document_id, "signed.pdf", signed, intents=intents)

        def within(conn):
            handouts.complete(conn, handout["handout_id"])
            self._settle(intents)(conn)
        recorded = self._undo_on_failure(
            [stored], intents, commands.record_signature, self.store, self.log, document_id,
            stored, authority.certificate_info(certificate), actor, within=within)
        return {"document_id": document_id, "event_id": recorded.event_id,
                "key_id": recorded.data["key_id"], "signed_file": stored}

    def _chain(self):
        return (self.pki.authority.ca.certificate,)


def _base64(value, field):
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ValidationFailed(f"{field}: not base64", field=field) from None


def _certificate(value):
    try:
        if isinstance(value, str) and value.lstrip().startswith("-----BEGIN"):
            return x509.load_pem_x509_certificate(value.encode())
        return x509.load_der_x509_certificate(_base64(value, "certificate"))
    except ValueError:
        raise ValidationFailed("certificate: not an X.509 certificate (PEM or base64 DER)",
                               field="certificate") from None
