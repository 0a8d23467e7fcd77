"""What the tests use to act as clerks, leaders and auditors."""

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

PROVINCE = "000.00.00.H41"
DISTRICT_1 = "000.01.00.H41"
DISTRICT_2 = "000.02.00.H41"
OUTSIDER = "000.03.00.H41"


class Client:
    def __init__(self, platform):
        self.platform = platform

    def token(self, role, agency=PROVINCE, user=None):
        return issue_token(self.platform.auth_secret,
                           Actor(user or f"{role}@{agency}", agency, role))

    def register(self, token, pdf, metadata=None, fields=None):
        metadata = metadata if metadata is not None else {
            "subject": "Chỉ thị về phòng, chống bão số 3", "document_type": "CT",
            "recipients": [DISTRICT_1, DISTRICT_2]}
        form = fields if fields is not None else {"metadata": json.dumps(metadata)}
        headers, body = encode(form, "document.pdf", io.BytesIO(pdf), len(pdf))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(f"{self.platform.docs_url}/v1/documents", data=body,
                             headers=headers, timeout=30)

    @contextlib.contextmanager
    def rpc(self, token, timeout=15):
        with ClusterRpcProxy({"AMQP_URI": self.platform.amqp_uri},
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
