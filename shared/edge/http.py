"""``@http`` entrypoints whose answers and errors are JSON, in the one error
format ``{"code", "message", "field"}``."""

from __future__ import annotations

import json
import logging
from typing import Any

from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from shared import errors
from shared.edge.outages import unavailable

log = logging.getLogger(__name__)


class JsonHttpHandler(HttpRequestHandler):
    """``@http`` whose failures are JSON: ``{"error": {"code", "message", "field"}}``."""

    def __init__(self, method: str, url: str, **kwargs: Any):
        # Our errors are answers, not crashes: nameko logs them as expected.
        kwargs.setdefault("expected_exceptions", errors.LienThongError)
        super().__init__(method, url, **kwargs)

    def response_from_exception(self, exc: BaseException) -> Response:
        exc = unavailable(exc) or exc
        if isinstance(exc, errors.LienThongError):
            status, body = exc.http_status, exc.to_dict()
        else:
            log.exception("unexpected error in an HTTP entrypoint", exc_info=exc)
            status, body = 500, {"code": "internal", "message": "internal error", "field": None}
        response = Response(json.dumps({"error": body}, ensure_ascii=False), status=status,
                            mimetype="application/json")
        if getattr(exc, "retry_after", None):  # 429 and 503: when to try again
            response.headers["Retry-After"] = str(exc.retry_after)
        return response


json_http = JsonHttpHandler.decorator


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status,
                    mimetype="application/json")
