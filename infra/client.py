"""A small client for clerks, leaders and auditors (used by the demo and the tests).

It stands where the gateway stands, so it holds the gateway's private key:
:meth:`Client.token` makes a user's bearer token (as a login would), and every
call made with one carries a fresh assertion for that service and method
(``shared.auth``), as the gateway's calls do. Files go over HTTP to docs as a
streamed multipart body; everything else is nameko RPC.
"""

import contextlib
import io
import json
import time

import requests
from shared import auth
from shared.edge.rpc import AssertingClusterRpcProxy  # also registers our errors
from shared.envelope import Actor
from shared.errors import Unauthenticated
from shared.multipart import encode, encode_files


class Client:
    def __init__(self, amqp_uri, docs_url, gateway_key):
        self.amqp_uri, self.docs_url, self.gateway_key = amqp_uri, docs_url, gateway_key

    def token(self, role, agency, user=None):
        """A bearer token of ``user`` (not looked up: only the gateway checks users)."""
        return auth.issue_bearer(self.gateway_key, Actor(user or f"{role}@{agency}", agency,
                                                          role), ttl=3600)[0]

    def actor(self, token):
        return auth.actor_of(auth.verify_bearer(self.gateway_key.public_key(), token))

    def assertion(self, token, service, method):
        """What the gateway sends for ``token``'s user calling ``service.method``.

        A token that is not a valid bearer token goes as it is, for the service
        to refuse (tests of refusals send such).
        """
        try:
            actor = self.actor(token)
        except Unauthenticated:
            return token
        return auth.mint_assertion(self.gateway_key, actor, service, method)

    def docs_headers(self, token, entrypoint):
        """Headers for docs' own HTTP ``entrypoint`` (its method name), as ``token``'s user."""
        return {"Authorization": f"Bearer {self.assertion(token, 'docs', entrypoint)}"} \
            if token else {}

    def register(self, token, pdf, metadata=None, fields=None):
        form = fields if fields is not None else {"metadata": json.dumps(metadata)}
        headers, body = encode(form, "document.pdf", io.BytesIO(pdf), len(pdf))
        headers.update(self.docs_headers(token, "register_document"))
        return requests.post(f"{self.docs_url}/v1/documents", data=body, headers=headers,
                             timeout=60)

    def register_files(self, token, metadata, files):
        """Register with attachments: ``files`` as ``(form_name, name, bytes, content_type)``."""
        headers, body = encode_files({"metadata": json.dumps(metadata)}, [
            (form, name, io.BytesIO(data), len(data), ctype) for form, name, data, ctype in files])
        headers.update(self.docs_headers(token, "register_document"))
        return requests.post(f"{self.docs_url}/v1/documents", data=body, headers=headers,
                             timeout=60)

    def issue(self, clerk, leader, pdf, metadata, timeout=30):
        """A document's whole way out: register, then :meth:`approve_and_issue`."""
        response = self.register(clerk, pdf, metadata=metadata)
        if response.status_code != 201:
            raise RuntimeError(f"registration failed: {response.status_code} {response.text}")
        return self.approve_and_issue(clerk, leader, response.json()["document_id"], timeout)

    def approve_and_issue(self, clerk, leader, document_id, timeout=30):
        """Submit to the leader, who signs; the clerk seals and issues.

        ``clerk`` and ``leader`` are tokens of the issuing agency; the leader's
        user id is the named signer. Returns the issue's answer (id, number).
        Each step waits for the event the next one needs to reach its service.
        """
        leader_user = self.actor(leader).user_id
        with self.rpc(clerk) as rpc:
            rpc.docs.submit(document_id, leader_user)
        with self.rpc(leader) as rpc:
            wait_for(lambda: rpc.signing.sign_document(document_id), timeout,
                     what="the signing service to receive the submission")
        with self.rpc(clerk) as rpc:
            # "chưa cấp số" (409) until signing learns the number docs gave at the signature
            wait_for(lambda: rpc.signing.seal_document(document_id), timeout,
                     what="signing to learn the number given at the signature")
            return wait_for(lambda: rpc.docs.issue(document_id), timeout,
                            what="docs to learn of the seal")

    @contextlib.contextmanager
    def rpc(self, token, timeout=15):
        """A cluster proxy whose every call carries a fresh assertion for ``token``'s user."""
        def mint(service, method):
            return self.assertion(token, service, method)

        with AssertingClusterRpcProxy({"AMQP_URI": self.amqp_uri}, mint,
                                      timeout=timeout) as proxy:
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
