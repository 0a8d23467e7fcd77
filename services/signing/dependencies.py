"""The signing service's dependency providers."""

import logging

from nameko.extensions import DependencyProvider

from services.signing import authority, hsm, remote, trust, tsa
from shared.settings import development_only, is_dev_mode, is_on, require_secret

log = logging.getLogger(__name__)


class SigningAuthority(DependencyProvider):
    """The PKI and the time-stamping authority.

    Config: ``PKI_DIR`` (the root's and the TSA's certificates; in development also
    the keys, encrypted under ``PKI_PASSPHRASE``);
    ``PKI_KEY_SOURCE``: ``file`` (the root CA's and the TSA's keys in ``PKI_DIR``:
    development only, refused outside ``DEV_MODE``) or ``pkcs11`` (in their tokens,
    ``hsm.PlatformKeys``: with ``PKCS11_MODULE`` and ``PKI_TOKENS``);
    ``AUTO_ENROLL`` (issue a leader or clerk a first certificate, and key, on first
    use: development only, refused outside ``DEV_MODE``; off by default, a person's
    certificate is issued against their token's CSR once an administrator of their
    agency approves, ``enrolment``), ``TRUST_ROOTS`` (PEM files of roots the
    verifier trusts besides the platform's own, and their CRLs: ``trust``),
    ``TSA_URL`` (an RFC 3161 service; empty: serve the platform's own TSA here);
    ``SEAL_KEY_SOURCE``: ``file`` (the agencies' seal keys in ``PKI_DIR``:
    development only, refused outside ``DEV_MODE``) or ``pkcs11`` (in their tokens,
    ``hsm.SealTokens``: with ``PKCS11_MODULE`` and ``SEAL_TOKENS``);
    ``CSC_PROVIDERS``: the remote signing services leaders may sign through
    (``remote.Providers``; empty: none).
    """

    def setup(self):
        c = self.container.config
        auto_enroll = development_only(
            c, "AUTO_ENROLL", is_on(c, "AUTO_ENROLL"),
            "issues a certificate and a server-held key to any leader on first use,"
            " named as the caller says")
        self.tsa_url = c.get("TSA_URL") or None
        platform = _platform_keys(c, own_tsa=not self.tsa_url)
        seals = _seal_tokens(c)
        # The file key store only in development mode (where it also keeps the keys
        # AUTO_ENROLL and an admin's enroll without a public key issue to persons).
        passphrase = require_secret(c, "PKI_PASSPHRASE") if is_dev_mode(c) else None
        self.authority = authority.Authority(
            c.get("PKI_DIR", "var/pki"), passphrase, auto_enroll=auto_enroll, seals=seals,
            platform=platform, own_tsa=not self.tsa_url)
        self.trust = trust.TrustRoots.from_setting(c.get("TRUST_ROOTS"))
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


def _in_files(config, setting, keys, tokens_setting):
    """True for ``setting=file`` (the default): allowed, loudly, in development mode only."""
    source = str(config.get(setting) or "file").lower()
    if source not in hsm.SOURCES:
        raise ValueError(f"{setting}: one of {', '.join(hsm.SOURCES)}, not {source!r}")
    return development_only(
        config, setting, source == "file",
        f"is file (the default): {keys} would be files in PKI_DIR; production keeps"
        f" them in an HSM ({setting}=pkcs11 with PKCS11_MODULE and {tokens_setting})")


def _platform_keys(config, own_tsa):
    if _in_files(config, "PKI_KEY_SOURCE", "the root CA's and the TSA's private keys",
                 "PKI_TOKENS"):
        return None
    return hsm.PlatformKeys.from_file(config.get("PKCS11_MODULE"), config.get("PKI_TOKENS"),
                                      hsm.PlatformKeys.ROLES if own_tsa else ("ca",))


def _seal_tokens(config):
    if _in_files(config, "SEAL_KEY_SOURCE", "the agencies' seal keys", "SEAL_TOKENS"):
        return None
    return hsm.SealTokens.from_file(config.get("PKCS11_MODULE"), config.get("SEAL_TOKENS"))
