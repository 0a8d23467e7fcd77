"""The platform's processes on one machine: an S3 server, the four services and
the HTTP gateway in front of them.

Used by the demo and by the end-to-end tests, so both run the services
exactly as production does: ``nameko run`` in separate processes.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from infra.client import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = {"docs": "DocsService", "signing": "SigningService",
            "routing": "RoutingService", "audit": "AuditService",
            "gateway": "GatewayService"}


def make_gateway_key(directory, passphrase=None):
    """The gateway's key for a stack run here: ``(env, private key)``; ``env`` gives
    the gateway its key file and passphrase and every service its public key."""
    from shared.auth import create_key_file, public_key_text

    passphrase = passphrase or secrets.token_urlsafe(24)
    path = os.path.join(directory, "gateway.key")
    for stale in (path, f"{path}.pub"):  # a fresh key each run
        if os.path.exists(stale):
            os.remove(stale)
    key = create_key_file(path, passphrase)
    return {"LIENTHONG_GATEWAY_KEY_FILE": path, "LIENTHONG_GATEWAY_KEY_PASSPHRASE": passphrase,
            "LIENTHONG_GATEWAY_PUBLIC_KEY": public_key_text(key)}, key


def port_open(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto's standalone S3 server: real HTTP, object lock and versioning.

    Stands in for MinIO where none can be installed (as on the development
    machines); the services talk to it with the same ``minio`` SDK.
    """

    access_key = secret_key = "testing"

    def __init__(self, log_dir, port=None):
        self.port = port or free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(log_dir, "s3-moto.log")
        self.proc = None

    def start(self, timeout=30):
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port, 0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the S3 server (moto) did not start: see {self.log_path}")
            time.sleep(0.1)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class ServiceProcess:
    def __init__(self, name, env, log_dir):
        self.name, self.env, self.log_dir = name, env, log_dir
        self.proc = None
        self.starts = 0

    @property
    def log_path(self):
        return os.path.join(self.log_dir, f"{self.name}.{self.starts}.log")

    def start(self, failpoints=None):
        env = {**os.environ, **self.env}
        env.pop("LIENTHONG_FAILPOINTS", None)
        if failpoints:
            env["LIENTHONG_FAILPOINTS"] = failpoints
        self.starts += 1
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nameko", "run", "--config",
                 f"services/{self.name}/config.yml",
                 f"services.{self.name}.service:{SERVICES[self.name]}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, client, token, timeout=60):
        def healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:"
                                   f" see {self.log_path}")
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
