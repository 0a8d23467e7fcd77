"""The README's first command, as a new user runs it: the whole scenario passes."""

import os
import subprocess
import sys

import pytest

from infra.stack import ROOT, free_port

pytestmark = pytest.mark.e2e


def test_the_main_job_runs_the_whole_scenario_and_the_offline_verifier_accepts():
    env = {**os.environ, "LIENTHONG_GATEWAY_PORT": str(free_port())}
    for name in [k for k in env if k.startswith("LIENTHONG_S3")]:
        env.pop(name)  # the demo starts its own S3 server, as on a fresh machine
    done = subprocess.run([sys.executable, "-W", "ignore", "-m", "infra.demo"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "sent to every district and commune: 15 agencies" in out
    assert "signatures VALID" in out and "recalled (13)" in out
    assert "0 difference(s)" in out and "offline verifier" in out and "ACCEPTED" in out
