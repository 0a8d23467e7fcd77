"""A client of the gateway's HTTP API, for the demo and the command line.

Every call carries the bearer token of the user who logged in; errors come
back as :class:`ApiError` with the API's stable code, message and field.
Uploads are streamed from the file object given, never read whole.
"""

import json

import requests

from shared.multipart import encode_files


class ApiError(Exception):
    def __init__(self, status, code, message, field=None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field


class Api:
    def __init__(self, base_url, token=None, timeout=60):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()

    def login(self, user_id, password):
        answer = self.post("/v1/auth/login", {"user_id": user_id, "password": password})
        return Api(self.base_url, answer["token"], self.timeout)

    def get(self, path, **params):
        return self._call("GET", path, params=params or None)

    def post(self, path, body=None):
        return self._call("POST", path, json=body if body is not None else {})

    def register(self, metadata, files, progress=None):
        """``files``: ``[(form_name, file_name, file_obj, size, content_type)]``, the main
        PDF first as ``file``, then any ``attachment``. ``progress(sent, total)``."""
        headers, body = encode_files({"metadata": json.dumps(metadata, ensure_ascii=False)},
                                     files)
        data = _Counting(body, progress) if progress else body
        return self._call("POST", "/v1/documents", data=data, headers=headers)

    def _call(self, method, path, headers=None, **kwargs):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self.session.request(method, f"{self.base_url}{path}", headers=headers,
                                        timeout=self.timeout, **kwargs)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            error = (payload or {}).get("error") or {}
            raise ApiError(response.status_code, error.get("code", "http_error"),
                           error.get("message", response.text[:200]), error.get("field"))
        return payload


class _Counting:
    """A streamed request body that reports how much of it has gone."""

    def __init__(self, body, progress):
        self.body, self.progress, self.sent = body, progress, 0

    def __len__(self):
        return len(self.body)

    def __iter__(self):
        for piece in self.body:
            self.sent += len(piece)
            self.progress(self.sent, len(self.body))
            yield piece
