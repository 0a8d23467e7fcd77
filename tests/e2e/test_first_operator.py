"""A fresh deployment has no user: the first operator is made with the
gateway's database login (``python -m infra.first_operator``), then logs in."""

import subprocess
import sys

import requests

from infra.stack import ROOT
from tests.support.client import PROVINCE

PASSWORD = "mật khẩu đầu tiên rất dài"


def make_operator(dsn, user_id, password=PASSWORD):
    return subprocess.run(
        [sys.executable, "-m", "infra.first_operator", "--dsn", dsn, "--user-id", user_id,
         "--agency", PROVINCE, "--full-name", "Nguyễn Văn Hành"],
        input=password + "\n", capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_the_first_operator_is_made_once_and_logs_in(platform, stack):
    dsn = platform.service_env("gateway")["LIENTHONG_PG_DSN"]  # the gateway's own login
    short = make_operator(dsn, "van.hanh", password="short")
    assert short.returncode == 1 and "password" in short.stderr, short.stderr
    made = make_operator(dsn, "van.hanh")
    assert made.returncode == 0, made.stderr
    second = make_operator(dsn, "ke.khac")
    assert second.returncode == 1 and "an operator exists already" in second.stderr

    stack.start("gateway")
    answer = requests.post(f"{platform.gateway_url}/v1/auth/login", timeout=30,
                           json={"user_id": "van.hanh", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    users = requests.get(f"{platform.gateway_url}/v1/admin/users", timeout=30, headers={
        "Authorization": f"Bearer {answer.json()['token']}"})
    assert [u["user_id"] for u in users.json()] == ["van.hanh"]
