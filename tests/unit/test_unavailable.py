"""Which failures reach a caller as 503 ``service_unavailable`` (a server the
request needs was down: retry later) rather than as an error of the request."""

import psycopg
import pytest

from shared import errors
from shared.edge.outages import unavailable
from shared.edge.rpc import SLOW_CALLS, rpc_timeout


@pytest.mark.parametrize("err", [ConnectionRefusedError(111, "refused"), TimeoutError(),
                                 psycopg.OperationalError("server closed the connection")])
def test_server_failures_become_503_with_retry_after(err):
    mapped = unavailable(err)
    assert isinstance(mapped, errors.ServiceUnavailable)
    assert mapped.http_status == 503 and mapped.retry_after >= 1
    assert "127.0.0.1" not in mapped.message  # no internal address in the answer


@pytest.mark.parametrize("err", [ValueError("bad"), errors.Conflict("taken"),
                                 FileNotFoundError("pki/ca.pem"), psycopg.IntegrityError()])
def test_errors_of_the_request_or_the_code_are_not_dressed_as_outages(err):
    assert unavailable(err) is None


def test_the_error_crosses_rpc_with_its_retry_after():
    err = errors.ServiceUnavailable("docs.issue did not answer within 30 s", retry_after=7)
    again = type(err)(*err.args)  # as nameko rebuilds it on the caller's side
    assert (again.message, again.retry_after) == (err.message, 7)


def test_slow_calls_wait_longer_and_both_are_configurable():
    assert rpc_timeout({}, "docs", "issue") == 30
    assert rpc_timeout({}, *next(iter(SLOW_CALLS)).split(".")) == 120
    assert rpc_timeout({"RPC_TIMEOUT_SECONDS": "2"}, "docs", "issue") == 2
