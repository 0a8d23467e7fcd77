"""Who is calling: the gateway's assertion, checked on every request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nameko.extensions import DependencyProvider

from shared import auth, errors
from shared.edge.rpc import AssertingClusterRpcProxy, rpc_timeout

if TYPE_CHECKING:
    from nameko.containers import WorkerContext


class Authenticator(DependencyProvider):
    """``self.auth.actor()`` in an RPC worker, ``self.auth.actor(request)`` over HTTP.

    The caller sends a gateway assertion for exactly this service and this
    entrypoint (RPC context data ``authorization``, or ``Authorization: Bearer``);
    it is checked with the gateway's public key (config ``GATEWAY_PUBLIC_KEY``),
    and accepted once. The service holds nothing that could make one.
    """

    def setup(self) -> None:
        self.public_key = auth.load_public_key(self.container.config.get("GATEWAY_PUBLIC_KEY"))
        self.replays = auth.ReplayGuard()

    def get_dependency(self, worker_ctx: WorkerContext) -> Any:
        provider, context = self, worker_ctx.context_data
        service, method = self.container.service_name, worker_ctx.entrypoint.method_name
        verified = {}

        class _Auth:
            @staticmethod
            def claims(request=None):
                if "claims" not in verified:  # once per worker: the jti is spent on first use
                    if request is not None:
                        header = request.headers.get("Authorization", "")
                        token = header[7:] if header.startswith("Bearer ") else None
                    else:
                        token = context.get("authorization")
                    claims = auth.verify_assertion(provider.public_key, token, service, method)
                    actor = auth.actor_of(claims)
                    provider.replays.admit(claims)
                    verified.update(claims=claims, actor=actor)
                return verified["claims"]

            @staticmethod
            def actor(request=None):
                _Auth.claims(request)
                return verified["actor"]

            @staticmethod
            def onward():
                """A proxy calling other services with the assertions the gateway
                made for this call's onward calls (``shared.auth.ONWARD``)."""
                assertions = _Auth.claims().get("onward", {})

                def mint(target, name):
                    try:
                        return assertions[f"{target}.{name}"]
                    except KeyError:
                        raise errors.Forbidden(f"{service}.{method} may not call"
                                               f" {target}.{name} for its caller",
                                               field="authorization") from None
                config = provider.container.config
                return AssertingClusterRpcProxy({"AMQP_URI": config["AMQP_URI"]}, mint,
                                                timeouts=lambda s, m: rpc_timeout(config, s, m))

        return _Auth()
