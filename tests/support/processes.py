"""The services as separate operating-system processes, as in production."""

import os
import signal
import subprocess
import sys

from tests.support.client import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSES = {"docs": "DocsService", "signing": "SigningService",
           "routing": "RoutingService", "audit": "AuditService"}


class ServiceProcess:
    def __init__(self, name, platform, failpoints=None):
        self.name, self.platform, self.failpoints = name, platform, failpoints
        self.proc = None
        self.starts = 0

    def start(self, failpoints=None):
        env = {**os.environ, **self.platform.env()}
        env.pop("LIENTHONG_FAILPOINTS", None)
        if failpoints:
            env["LIENTHONG_FAILPOINTS"] = failpoints
        self.starts += 1
        log = open(os.path.join(self.platform.log_dir, f"{self.name}.{self.starts}.log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config",
             f"services/{self.name}/config.yml",
             f"services.{self.name}.service:{CLASSES[self.name]}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def wait_ready(self, client, timeout=60):
        token = client.token("auditor")

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:"
                                     f" see {self.platform.log_dir}")
            with client.rpc(token, timeout=2) as rpc:
                return getattr(rpc, self.name).health()["status"] == "ok"

        wait_for(healthy, timeout=timeout, interval=0.5, what=f"{self.name} to answer")
        return self

    def kill(self):
        """SIGKILL: no clean-up runs, as when a machine loses power."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_exit(self, timeout=30):
        return wait_for(lambda: self.proc.poll() is not None, timeout=timeout,
                        what=f"{self.name} to exit")
