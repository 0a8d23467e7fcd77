"""A small client for clerks, leaders and auditors (used by the demo and the tests).

Files go over HTTP to docs as a streamed multipart body; everything else is
nameko RPC with the caller's token in the context data.
"""

import contextlib
import io
import json
import time

import requests
from nameko.standalone.rpc import ClusterRpcProxy

import shared.nameko_ext  # noqa: F401  (registers our errors, so RPC raises them as such)
from shared.auth import issue_token
from shared.envelope import Actor
from shared.multipart import encode


class Client:
    def __init__(self, amqp_uri, docs_url, auth_secret):
        self.amqp_uri, self.docs_url, self.auth_secret = amqp_uri, docs_url, auth_secret

    def token(self, role, agency, user=None):
        return issue_token(self.auth_secret, Actor(user or f"{role}@{agency}", agency, role))

    def register(self, token, pdf, metadata=None, fields=None):
        form = fields if fields is not None else {"metadata": json.dumps(metadata)}
        headers, body = encode(form, "document.pdf", io.BytesIO(pdf), len(pdf))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(f"{self.docs_url}/v1/documents", data=body, headers=headers,
                             timeout=60)

    @contextlib.contextmanager
    def rpc(self, token, timeout=15):
        with ClusterRpcProxy({"AMQP_URI": self.amqp_uri},
                             context_data={"authorization": token}, timeout=timeout) as proxy:
            yield proxy


def wait_for(predicate, timeout=30, interval=0.2, what="condition"):
    """Poll until ``predicate()`` returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as err:  # not there yet: keep polling, report the last one
            last_error = err
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_error!r})" if last_error else ""))
