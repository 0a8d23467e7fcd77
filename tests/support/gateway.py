"""The gateway as the tests meet it: users seeded at its start, and a small
HTTP client that logs each user in once."""

import io
import json

import requests

from shared.multipart import encode, encode_files
from tests.support.client import DIRECTIVE
from tests.support.openapi import check_answer

PASSWORD = "mật khẩu thử nghiệm 2026"


def seed_file(tmp_path, users, password=PASSWORD):
    """A ``SEED_USERS`` file of ``users``, each with ``password``; its path."""
    path = tmp_path / "users.json"
    path.write_text(json.dumps([{**u, "password": password} for u in users]),
                    encoding="utf-8")
    return str(path)


def login(url, user_id, password=PASSWORD):
    return check_answer(requests.post(f"{url}/v1/auth/login",
                                      json={"user_id": user_id, "password": password},
                                      timeout=30))


class Api:
    def __init__(self, url):
        self.url = url
        self.tokens = {}

    def login(self, user_id, password=PASSWORD):
        return login(self.url, user_id, password)

    def headers(self, user):
        if user is None:
            return {}
        if user not in self.tokens:
            response = self.login(user)
            assert response.status_code == 200, response.text
            self.tokens[user] = response.json()["token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, user, path, **kwargs):
        return check_answer(requests.get(self.url + path, headers=self.headers(user),
                                         timeout=30, **kwargs))

    def post(self, user, path, body=None):
        return check_answer(requests.post(self.url + path, headers=self.headers(user),
                                          json=body or {}, timeout=60))

    def register(self, user, pdf, attachments=()):
        """Register ``pdf`` with ``attachments`` as ``(name, bytes, content_type)``."""
        headers, body = encode_files({"metadata": json.dumps(DIRECTIVE)}, [
            ("file", "document.pdf", io.BytesIO(pdf), len(pdf), "application/pdf"),
            *(("attachment", name, io.BytesIO(data), len(data), ctype)
              for name, data, ctype in attachments)])
        return check_answer(requests.post(f"{self.url}/v1/documents", data=body,
                                          headers={**headers, **self.headers(user)},
                                          timeout=60))

    def put_file(self, user, path, pdf):
        headers, body = encode({}, "document.pdf", io.BytesIO(pdf), len(pdf))
        return check_answer(requests.put(self.url + path, data=body,
                                         headers={**headers, **self.headers(user)},
                                         timeout=60))

    def request(self, method, user, path, body=None, **params):
        return check_answer(requests.request(method, self.url + path, json=body,
                                             params=params, headers=self.headers(user),
                                             timeout=60))
