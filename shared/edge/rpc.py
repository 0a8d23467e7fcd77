"""RPC that neither hangs nor dies: ``@rpc`` whose server failures reach the
caller as :class:`errors.ServiceUnavailable` and whose lost replies are
survived, and proxies whose every call carries a fresh assertion, waits a
bounded time, and maps an outage to 503. Our errors are registered so that an
RPC caller gets the same class back."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import eventlet
from nameko import rpc as nameko_rpc
from nameko.exceptions import RpcTimeout, registry as remote_error_registry
from nameko.rpc import MethodProxy, ServiceProxy
from nameko.standalone.rpc import ClusterRpcProxy

from shared import errors
from shared.edge.outages import TRANSIENT, unavailable
from shared.topology import queue_type_of

if TYPE_CHECKING:
    from eventlet.semaphore import Semaphore
    from kombu.message import Message
    from nameko.containers import WorkerContext

log = logging.getLogger(__name__)

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
# ``mint(service, method)``: the assertion a call carries (none: no header).
_Mint = Callable[[str, str], str | None]
# ``timeouts(service, method)``: how long a call waits for its answer.
_Timeouts = Callable[[str, str], float]

# An RPC caller gets our own error class back, not nameko's RemoteError.
for _cls in (errors.ValidationFailed, errors.Unauthenticated, errors.Forbidden,
             errors.NotFound, errors.Conflict, errors.PayloadTooLarge,
             errors.UnsupportedMediaType, errors.StorageError, errors.ServiceUnavailable):
    remote_error_registry[f"{_cls.__module__}.{_cls.__name__}"] = _cls

# A call waits this long for its answer (config ``RPC_TIMEOUT_SECONDS``), the
# calls that walk a whole log or a whole province this long.
RPC_TIMEOUT_SECONDS = 30.0
SLOW_RPC_TIMEOUT_SECONDS = 120.0
SLOW_CALLS = frozenset({"routing.send", "routing.import_edxml", "routing.export_edxml",
                        "audit.verify", "audit.evidence_bundle", "audit.reconcile"})


def rpc_timeout(config: Mapping[str, Any], service: str, method: str) -> float:
    if f"{service}.{method}" in SLOW_CALLS:
        return float(config.get("SLOW_RPC_TIMEOUT_SECONDS", SLOW_RPC_TIMEOUT_SECONDS))
    return float(config.get("RPC_TIMEOUT_SECONDS", RPC_TIMEOUT_SECONDS))


class _SurvivingRpcConsumer(nameko_rpc.RpcConsumer):
    """nameko's RPC consumer, except that a reply the broker cannot take does not
    kill the service (in nameko 2.14 the error ends the container: the process
    exits). The request stays unacknowledged, so the broker hands it out again
    once it is back; every command is idempotent or refused the second time."""

    def setup(self):
        super().setup()
        if queue_type_of(self.container.config) == "quorum":  # requests survive a node
            self.queue.queue_arguments = {"x-queue-type": "quorum"}

    def handle_result(self, message, result, exc_info):
        try:
            return super().handle_result(message, result, exc_info)
        except TRANSIENT as err:
            log.warning("reply to %s not sent (%s); the request will be redelivered",
                        message.delivery_info.get("routing_key"), err)
            try:
                self.queue_consumer.requeue_message(message)
            except Exception:  # the channel died with the broker: it requeues by itself
                pass
            return result, exc_info


class Rpc(nameko_rpc.Rpc):
    """``@rpc``: a server failure (broker, database) reaches the caller as
    :class:`errors.ServiceUnavailable`, not as an anonymous remote error, and a
    lost reply is survived (:class:`_SurvivingRpcConsumer`)."""

    rpc_consumer = _SurvivingRpcConsumer()

    def handle_result(self, message: Message, worker_ctx: WorkerContext, result: Any,
                      exc_info: _ExcInfo | None) -> tuple[Any, _ExcInfo | None]:
        if exc_info is not None and (mapped := unavailable(exc_info[1])) is not None \
                and mapped is not exc_info[1]:
            log.warning("%s: %s", self.method_name, exc_info[1])
            exc_info = (type(mapped), mapped, exc_info[2])
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = Rpc.decorator


class _AssertingMethodProxy(MethodProxy):
    """Sends a fresh assertion for this very method in the ``authorization`` header,
    and never waits for ever: past ``timeout`` seconds, or when the broker cannot
    take the request, the caller gets :class:`errors.ServiceUnavailable`.
    ``limit`` (a semaphore) bounds the calls in flight to one service, so a slow
    service cannot hold all of the caller's workers."""

    def __init__(self, mint, *args, timeout=None, limit=None, **kwargs):
        self.mint, self.timeout, self.limit = mint, timeout, limit
        super().__init__(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        where = f"{self.service_name}.{self.method_name}"
        if self.limit is not None and not self.limit.acquire(blocking=False):
            raise errors.ServiceUnavailable(f"{self.service_name} is busy: too many calls"
                                            " waiting for it")
        timer = eventlet.Timeout(self.timeout) if self.timeout else None
        try:
            return super().__call__(*args, **kwargs)
        except (eventlet.Timeout, RpcTimeout) as err:
            if isinstance(err, eventlet.Timeout) and err is not timer:
                raise
            raise errors.ServiceUnavailable(f"{where} did not answer within {self.timeout:g} s") from None
        except TRANSIENT as err:
            log.warning("%s: %s", where, err)
            raise unavailable(err) from None
        finally:
            if timer is not None:
                timer.cancel()
            if self.limit is not None:
                self.limit.release()

    def get_message_headers(self, worker_ctx):
        headers = super().get_message_headers(worker_ctx)
        assertion = self.mint(self.service_name, self.method_name)
        if assertion:
            headers[self._get_header_name("authorization")] = assertion
        return headers


class AssertingServiceProxy(ServiceProxy):
    """A ``ServiceProxy`` whose every call carries ``mint(service, method)``."""

    def __init__(self, mint: _Mint, *args: Any, timeouts: _Timeouts | None = None,
                 limit: Semaphore | None = None, **kwargs: Any):
        self.mint, self.timeouts, self.limit = mint, timeouts, limit
        super().__init__(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        timeout = self.timeouts(self.service_name, name) if self.timeouts else None
        return _AssertingMethodProxy(self.mint, self.worker_ctx, self.service_name, name,
                                     self.reply_listener, timeout=timeout, limit=self.limit,
                                     **self.options)


class AssertingClusterRpcProxy(ClusterRpcProxy):
    """``ClusterRpcProxy`` whose calls each carry ``mint(service, method)``;
    ``timeouts(service, method)``, if given, bounds each call's wait."""

    def __init__(self, config: Mapping[str, Any], mint: _Mint,
                 timeouts: _Timeouts | None = None, **kwargs: Any):
        super().__init__(config, **kwargs)
        worker_ctx, listener = self._worker_ctx, self._reply_listener

        class _Cluster:
            def __getattr__(self, service):
                if service.startswith("__"):
                    raise AttributeError(service)
                return AssertingServiceProxy(mint, worker_ctx, service, listener,
                                             timeouts=timeouts)

            __getitem__ = __getattr__

        self._proxy = _Cluster()
