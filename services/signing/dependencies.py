"""The signing service's dependency providers."""

import logging

from nameko.extensions import DependencyProvider

from services.signing import authority, hsm, remote, trust, tsa
from shared.settings import development_only, is_on, require_secret

log = logging.getLogger(__name__)


class SigningAuthority(DependencyProvider):
    """The PKI and the time-stamping authority.

    Config: ``PKI_DIR`` and ``PKI_PASSPHRASE`` (the encrypted keys),
    ``AUTO_ENROLL`` (issue a leader or clerk a first certificate, and key, on first
    use: development only, refused outside ``DEV_MODE``; off by default, a person's
    certificate is issued against their token's CSR once an administrator of their
    agency approves, ``enrolment``), ``TRUST_ROOTS`` (PEM files of roots the
    verifier trusts besides the platform's own, and their CRLs: ``trust``),
    ``TSA_URL`` (an RFC 3161 service; empty: serve the development TSA here);
    ``SEAL_KEY_SOURCE``: ``file`` (the agencies' seal keys in ``PKI_DIR``:
    development) or ``pkcs11`` (in their tokens, ``hsm.SealTokens``: with
    ``PKCS11_MODULE`` and ``SEAL_TOKENS``); ``CSC_PROVIDERS``: the remote signing
    services leaders may sign through (``remote.Providers``; empty: none).
    """

    def setup(self):
        c = self.container.config
        self.authority = authority.Authority(
            c.get("PKI_DIR", "var/pki"), require_secret(c, "PKI_PASSPHRASE"),
            auto_enroll=development_only(
                c, "AUTO_ENROLL", is_on(c, "AUTO_ENROLL"),
                "issues a certificate and a server-held key to any leader on first use,"
                " named as the caller says"),
            seals=_seal_tokens(c))
        self.trust = trust.TrustRoots.from_setting(c.get("TRUST_ROOTS"))
        self.tsa_url = c.get("TSA_URL") or None
        self.providers = remote.Providers.from_file(c.get("CSC_PROVIDERS"))
        self.server = None

    def start(self):
        if not self.tsa_url:
            self.server = tsa.TsaServer(self.authority.time_stamp_authority())
            self.tsa_url = self.server.start()
            log.info("development time-stamping authority at %s", self.tsa_url)

    def stop(self):
        if self.server:
            self.server.stop()

    def get_dependency(self, worker_ctx):
        return self


def _seal_tokens(config):
    source = str(config.get("SEAL_KEY_SOURCE") or "file").lower()
    if source not in hsm.SOURCES:
        raise ValueError(f"SEAL_KEY_SOURCE: one of {', '.join(hsm.SOURCES)}, not {source!r}")
    if source == "file":
        log.warning("the agencies' seal keys are files in PKI_DIR (SEAL_KEY_SOURCE=file):"
                    " a development fallback; production keeps them in an HSM")
        return None
    return hsm.SealTokens.from_file(config.get("PKCS11_MODULE"), config.get("SEAL_TOKENS"))
