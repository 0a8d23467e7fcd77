"""The gateway forwards the caller's token: what RpcProxy sends carries it."""

from unittest.mock import Mock

from nameko.containers import WorkerContext
from nameko.messaging import HeaderEncoder

from services.gateway.dependencies import ForwardedToken


def test_the_token_set_in_an_http_worker_goes_out_in_the_rpc_headers():
    container = Mock(config={}, service_name="gateway")
    worker_ctx = WorkerContext(container, None, Mock(method_name="get_document"))
    assert "authorization" not in worker_ctx.context_data  # an HTTP worker starts empty

    ForwardedToken().get_dependency(worker_ctx).act_as("the-callers-token")

    assert worker_ctx.context_data["authorization"] == "the-callers-token"
    headers = HeaderEncoder().get_message_headers(worker_ctx)
    assert headers["nameko.authorization"] == "the-callers-token"
