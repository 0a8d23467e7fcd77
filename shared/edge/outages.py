"""When a server a request needs is down: the 503 every caller gets, and the
wait for a server still starting when a service starts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import amqp.exceptions
import kombu.exceptions
import psycopg

from shared import errors

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Failures of a server the request needs (the broker, the database), not of the
# request: the caller gets a 503 and may retry.
TRANSIENT = (ConnectionError, TimeoutError, kombu.exceptions.OperationalError,
             amqp.exceptions.RecoverableConnectionError, psycopg.OperationalError)


def unavailable(err: BaseException) -> errors.ServiceUnavailable | None:
    """``err`` as a :class:`errors.ServiceUnavailable` if a server was down, else None."""
    if isinstance(err, errors.ServiceUnavailable):
        return err
    if isinstance(err, psycopg.OperationalError):
        return errors.ServiceUnavailable("the database cannot be reached; try again shortly")
    if isinstance(err, TRANSIENT):
        return errors.ServiceUnavailable("the message broker cannot be reached; try again"
                                         " shortly")
    return None


def retry_until_ready(action: Callable[[], _T], what: str, attempts: int = 30,
                      delay: float = 1.0) -> _T:
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as err:  # a server still starting: wait, then give up loudly
            if attempt == attempts:
                raise
            log.warning("%s not ready (%s); retry %d/%d", what, err, attempt, attempts)
            time.sleep(delay)
