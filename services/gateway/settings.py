"""The gateway's settings, with their defaults (``shared.config``).
The key (``GATEWAY_KEY_FILE``, ``GATEWAY_KEY_PASSPHRASE``) and the RPC time
limits (``shared.edge.rpc.rpc_timeout``) are read where they are used."""

from dataclasses import dataclass

from services.gateway.domain import AUDIT_WINDOW, TOKEN_TTL
from shared.auth import MAX_TOKEN_TTL
from shared.config import BadSetting

_SECURE_COOKIES = {"auto": "auto", "true": "true", "1": "true", "yes": "true",
                   "false": "false", "0": "false", "no": "false"}


@dataclass(frozen=True)
class GatewaySettings:
    docs_url: str = "http://127.0.0.1:8001"      # the docs service's HTTP address (file bodies)
    max_upload_bytes: int = 50 * 1024 * 1024     # one file (an edXML package: two, base64)
    seed_users: str = ""                         # JSON users put in an empty table; empty: none
    token_ttl_seconds: int = TOKEN_TTL           # a bearer token's life, at most MAX_TOKEN_TTL
    # The session cookie is Secure: auto (when the request came over HTTPS), true, false.
    web_secure_cookies: str = "auto"
    # A web session unused this long is over (logged out): 30 minutes.
    web_idle_seconds: int = 1800
    login_audit_window_seconds: float = AUDIT_WINDOW  # failed logins summarised per window
    rpc_in_flight_per_service: int = 0           # 0: a quarter of max_workers (at least 1)

    def __post_init__(self) -> None:
        if self.token_ttl_seconds > MAX_TOKEN_TTL:  # refused at start, not at each login
            raise BadSetting("TOKEN_TTL_SECONDS", self.token_ttl_seconds,
                             f"between 1 and {MAX_TOKEN_TTL}")
        cookies = _SECURE_COOKIES.get(self.web_secure_cookies.strip().lower())
        if cookies is None:
            raise BadSetting("WEB_SECURE_COOKIES", self.web_secure_cookies,
                             "auto, true or false")
        object.__setattr__(self, "web_secure_cookies", cookies)

    @property
    def package_limit(self) -> int:
        """The largest edXML package body: two files' worth, base64 (a third more)."""
        return self.max_upload_bytes * 2 * 4 // 3

    def in_flight_per_service(self, max_workers: int) -> int:
        return self.rpc_in_flight_per_service or max(1, max_workers // 4)
