"""The nameko edge: the only place the services meet the framework.

One concept per module:

- ``inbox``: :class:`ServiceEvents`, once-only handling of consumed events
  (inbox, attempts with back-off, dead letters, quarantine);
- ``providers``: the event store with its outbox relay, the bucket, pending
  uploads and their sweeper; the broker upgrade at start;
- ``authenticator``: the gateway's assertion, checked on every request;
- ``rpc``: ``@rpc`` and asserting proxies with timeouts, that neither hang nor
  die (importing it registers our errors for RPC callers);
- ``outages``: a server that is down as a 503; waiting for one at start;
- ``http``: ``@json_http`` and JSON answers;
- ``handlers``: ``@event_handler`` on the relay's queues;
- ``mixins``: the operators' dead letters and quarantine, and health.

The public names are re-exported here: ``from shared.edge import rpc``.
"""

from shared.edge.authenticator import Authenticator
from shared.edge.handlers import PriorityEventHandler, event_handler
from shared.edge.http import JsonHttpHandler, json_http, json_response
from shared.edge.inbox import (MAX_ATTEMPTS, QUARANTINE_DDL, QUARANTINE_MIGRATIONS,
                               ServiceEvents, backoff_seconds, record_quarantine)
from shared.edge.mixins import DeadLetters, Health
from shared.edge.outages import TRANSIENT, retry_until_ready, unavailable
from shared.edge.providers import (SWEEP_EVERY_SECONDS, EventStoreProvider,
                                   ObjectStoreProvider, SweepsUploads, UploadsProvider,
                                   upgrade_broker)
from shared.edge.rpc import (RPC_TIMEOUT_SECONDS, SLOW_CALLS, SLOW_RPC_TIMEOUT_SECONDS,
                             AssertingClusterRpcProxy, AssertingServiceProxy, Rpc, rpc,
                             rpc_timeout)

__all__ = [
    "MAX_ATTEMPTS", "QUARANTINE_DDL", "QUARANTINE_MIGRATIONS", "RPC_TIMEOUT_SECONDS",
    "SLOW_CALLS", "SLOW_RPC_TIMEOUT_SECONDS", "SWEEP_EVERY_SECONDS", "TRANSIENT",
    "AssertingClusterRpcProxy", "AssertingServiceProxy", "Authenticator", "DeadLetters",
    "EventStoreProvider", "Health", "JsonHttpHandler", "ObjectStoreProvider",
    "PriorityEventHandler", "Rpc", "ServiceEvents", "SweepsUploads", "UploadsProvider",
    "backoff_seconds", "event_handler", "json_http", "json_response", "record_quarantine",
    "retry_until_ready", "rpc", "rpc_timeout", "unavailable", "upgrade_broker",
]
