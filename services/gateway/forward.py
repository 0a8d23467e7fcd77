"""The gateway's forwarding of a request to docs' own HTTP endpoint: the body
streamed up in chunks, docs' answer streamed back, nothing held whole."""

import requests
from werkzeug.wrappers import Response

from shared.errors import ServiceUnavailable
from shared.multipart import CHUNK


def chunks(stream):
    while chunk := stream.read(CHUNK):
        yield chunk


def send(url, method, params, data, headers, length):
    """``(session, answer)`` of docs, its body not read yet; 503 if docs is away."""
    session = requests.Session()
    try:
        prepared = session.prepare_request(
            requests.Request(method, url, params=params, data=data, headers=headers))
        if length is not None:  # send as is, not chunked: docs checks the size first
            prepared.headers.pop("Transfer-Encoding", None)
            prepared.headers["Content-Length"] = str(length)
        return session, session.send(prepared, stream=True, timeout=(5, 300))
    except requests.RequestException as err:
        session.close()
        raise ServiceUnavailable(f"docs is unavailable: {err.__class__.__name__}") from None
    except BaseException:
        session.close()
        raise


def streamed_back(session, answer):
    """docs' answer as the gateway's response, its body streamed, then closed."""
    def body():
        try:
            yield from answer.iter_content(CHUNK)
        finally:
            answer.close()
            session.close()

    response = Response(body(), status=answer.status_code,
                        content_type=answer.headers.get("Content-Type", "application/json"))
    for name in ("Content-Disposition", "Retry-After"):
        if name in answer.headers:
            response.headers[name] = answer.headers[name]
    return response
