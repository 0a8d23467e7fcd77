"""The signing service's dependency providers."""

import logging

from nameko.extensions import DependencyProvider

from services.signing import authority, tsa
from shared.settings import require_secret

log = logging.getLogger(__name__)


class SigningAuthority(DependencyProvider):
    """The PKI and the time-stamping authority.

    Config: ``PKI_DIR`` and ``PKI_PASSPHRASE`` (the encrypted keys),
    ``AUTO_ENROLL`` (issue a first certificate on first use: development),
    ``TSA_URL`` (an RFC 3161 service; empty: serve the development TSA here).
    """

    def setup(self):
        c = self.container.config
        self.authority = authority.Authority(
            c.get("PKI_DIR", "var/pki"), require_secret(c, "PKI_PASSPHRASE"),
            auto_enroll=str(c.get("AUTO_ENROLL", "true")).lower() == "true")
        self.tsa_url = c.get("TSA_URL") or None
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
