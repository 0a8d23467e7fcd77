"""The CSC stand-in (``infra.csc_standin``) in a process of its own, on a free port,
with its own SoftHSM2 token, for the tests of remote signing."""

import base64
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from infra.csc_standin import totp

ROOT = Path(__file__).resolve().parents[2]


class StandIn:
    def __init__(self, url, directory, admin_token, client_token_file, process):
        self.url, self.directory = url, directory
        self.admin_token, self.client_token_file = admin_token, client_token_file
        self.process = process

    @property
    def client_token(self):
        return self.client_token_file.read_text().strip()

    def enroll(self, user):
        """A new credential of ``user`` (the provider's operator): its ``credentialID``,
        the user's ``access_token`` and ``totp_secret``."""
        response = requests.post(f"{self.url}/admin/enroll", json={"userID": user},
                                 headers={"Authorization": f"Bearer {self.admin_token}"},
                                 timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def tokens(self, *args):
        """``python -m shared.tokens`` on the stand-in's token (its keys' attributes)."""
        done = subprocess.run([sys.executable, "-m", "shared.tokens", *args,
                               str(self.directory / "hsm"), "--label", "csc-provider",
                               "--pin-file", str(self.directory / "pin")],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return done.stdout


def otp(enrolment, at=None):
    """The leader's current code, as their authenticator app shows it."""
    return totp(base64.b32decode(enrolment["totp_secret"]), at)


@contextlib.contextmanager
def standin(directory, sad_seconds=300):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    secrets = {"pin": "provider-pin-5813", "admin": "provider-operator-token",
               "client": "lienthong-at-provider-token"}
    for name, value in secrets.items():
        (directory / name).write_text(value + "\n")
        os.chmod(directory / name, 0o600)
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.csc_standin", str(directory / "hsm"),
         "--pin-file", str(directory / "pin"), "--admin-token-file", str(directory / "admin"),
         "--client-token-file", str(directory / "client"), "--sad-seconds", str(sad_seconds)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the CSC stand-in did not start: {process.stderr.read()}")
        url = json.loads(line)["url"]
        yield StandIn(url, directory, secrets["admin"], directory / "client", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
