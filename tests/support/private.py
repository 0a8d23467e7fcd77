"""Servers of a test's own, which the test may kill: never the shared ones.

:class:`PrivatePostgres` is a PostgreSQL cluster (``initdb``) in a temporary
folder on a port of its own; :class:`PrivateRabbit` a RabbitMQ node with its
own name, ports, config and data. Each can be SIGKILLed (a real crash: no
clean-up runs) and started again on the same data and port. Several
:class:`PrivateRabbit` nodes make a cluster (:meth:`PrivateRabbit.join`).

:func:`private_platform` provisions them as the shared-server harness
provisions its vhosts and databases (``infra.provision``: each service its own
least-privilege users, the harness a user of its own) and returns a
``Platform`` whose services log in to them.

As root (CI, this machine), the servers run as their packages' users
(``postgres``, ``rabbitmq``), which own their folders. Both end with the test
process that started them, even when it is killed outright.
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from infra.provision import amqp_uri, apply_rabbit, rabbit_definitions
from infra.stack import die_with_parent, free_port, port_open
from tests.support import servers


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(predicate, timeout, what, log_path=None, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}"
                               + (f"; log {log_path}:\n{_tail(log_path)}" if log_path else ""))
        time.sleep(interval)


def _live_processes_in_group(pgid):
    """Pids of the processes of group ``pgid`` that are not zombies (Linux /proc)."""
    alive = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            alive.append(int(stat.split("/")[2]))
    return alive


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _owned_by(path, user):
    """Give ``path`` (recursively) to ``user`` when running as root."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *[os.path.join(root, n) for n in dirs + files]]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def _run_as(user, parent_death_signal=None):
    """Popen arguments that run a child as ``user`` (root only; else as ourselves);
    with ``parent_death_signal``, the child gets it when the test process ends, even
    killed outright, so no private server outlives its run (Linux)."""
    args = {}
    if parent_death_signal is not None:  # set after the switch of user, which clears it
        args["preexec_fn"] = die_with_parent(parent_death_signal)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        args.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    return args


# -- PostgreSQL ----------------------------------------------------------------

def postgres_bindir():
    """The folder of ``initdb`` and ``postgres``: ``LIENTHONG_PG_BINDIR``,
    ``pg_config --bindir``, Debian's versioned folders, or PATH."""
    candidates = [os.environ.get("LIENTHONG_PG_BINDIR")]
    if shutil.which("pg_config"):
        try:
            candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True,
                                             text=True, check=True).stdout.strip())
        except subprocess.CalledProcessError:
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit()
                         else 0, reverse=True)
    if shutil.which("initdb"):
        candidates.append(os.path.dirname(os.path.realpath(shutil.which("initdb"))))
    for folder in candidates:
        if folder and all(os.access(os.path.join(folder, b), os.X_OK)
                          for b in ("initdb", "postgres")):
            return folder
    raise RuntimeError("no PostgreSQL server binaries (initdb, postgres) found: install the"
                       " PostgreSQL server package or set LIENTHONG_PG_BINDIR")


class PrivatePostgres:
    """A PostgreSQL cluster of its own: trust auth, 127.0.0.1 only, one port.

    ``kill()`` SIGKILLs the postmaster only, as a crash would; its backends
    notice and exit by themselves, and ``restart()`` then recovers from the WAL.
    """

    USER = "postgres"

    def __init__(self, port=None):
        self.bindir = postgres_bindir()
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="lienthong-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.proc = None
        _owned_by(self.dir, self.USER)

    def dsn(self, dbname="postgres"):
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{dbname}"

    def _initdb(self):
        result = subprocess.run(
            [os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", self.USER,
             "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            cwd=self.dir, capture_output=True, text=True, **_run_as(self.USER))
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stdout}{result.stderr}")

    def start(self, timeout=30):
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._initdb()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port),
                 "-k", self.dir, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
                cwd=self.dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                **_run_as(self.USER, signal.SIGINT))  # SIGINT: a fast shutdown

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}; log"
                                   f" {self.log_path}:\n{_tail(self.log_path)}")
            return self.answers()

        _wait(ready, timeout, f"PostgreSQL on port {self.port}", self.log_path)
        return self

    def answers(self):
        import psycopg

        try:
            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, timeout=30):
        """SIGKILL the postmaster; return once its orphaned backends are gone too
        (until then a new postmaster would refuse the shared memory they hold)."""
        if not self.running():
            return
        group = self.proc.pid  # its own session: the backends share the group
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        _wait(lambda: not _live_processes_in_group(group), timeout,
              "the killed postmaster's backends to exit", self.log_path)

    def restart(self, timeout=30):
        """Start again on the same data folder and port (crash recovery if killed)."""
        if self.running():
            self.stop()
        return self.start(timeout)

    def stop(self, timeout=30):
        """Fast shutdown (SIGINT); SIGKILL if it does not end in time."""
        if not self.running():
            return
        group = self.proc.pid
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        for pid in _live_processes_in_group(group):  # stragglers of ours, if any
            os.kill(pid, signal.SIGKILL)

    def create_database(self, name=None):
        """A new database; its DSN (as the superuser)."""
        import psycopg

        name = name or f"lienthong_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- RabbitMQ ------------------------------------------------------------------

def _rabbit_server_script():
    """RabbitMQ's own ``rabbitmq-server`` script, which runs the node in the foreground.

    Debian's one on PATH is a wrapper that switches to user ``rabbitmq`` through
    ``su`` (which would drop the signal that ends the node with the test run):
    the script it wraps is taken instead, run as that user directly.
    """
    import re

    found = shutil.which("rabbitmq-server")
    if found is None:
        return None
    with open(found, "rb") as fh:
        text = fh.read(20000).decode(errors="replace")
    wrapped = re.search(r"(/\S+)/\$\{SCRIPT\}", text)
    if wrapped and os.access(os.path.join(wrapped.group(1), "rabbitmq-server"), os.X_OK):
        return os.path.join(wrapped.group(1), "rabbitmq-server")
    return found


def _home_of(user):
    """Where ``user`` keeps its Erlang cookie (rabbitmqctl finds the same one)."""
    if os.geteuid() != 0:
        return os.environ.get("HOME", "")
    return pwd.getpwnam(user).pw_dir


class PrivateRabbit:
    """A RabbitMQ node of its own: ``name@localhost``, its AMQP and distribution
    ports, config, data, logs, feature flags, plugins and pid file in one folder
    that belongs to user ``rabbitmq``. It shares the machine's Erlang cookie (and
    epmd), so ``rabbitmqctl -n`` reaches it and nodes can cluster.
    """

    USER = "rabbitmq"

    def __init__(self, name=None, port=None, dist_port=None):
        self.name = name or f"lienthong-{uuid.uuid4().hex[:8]}"
        self.nodename = f"{self.name}@localhost"
        self.port = port or free_port()
        self.dist_port = dist_port or free_port()
        self.dir = tempfile.mkdtemp(prefix=f"lienthong-rabbit-{self.name}-")
        os.chmod(self.dir, 0o755)  # its logs readable by whoever looks into a failure
        self.log_path = os.path.join(self.dir, "server.log")
        self.pid_file = os.path.join(self.dir, "rabbitmq.pid")
        self.proc = None
        self.server = _rabbit_server_script()
        self.ctl_path = shutil.which("rabbitmqctl")
        if not (self.server and self.ctl_path):
            raise RuntimeError("rabbitmq-server and rabbitmqctl are needed on PATH for a"
                               " private RabbitMQ node")
        # The machine's rabbitmq.conf pins the shared node's port: a file of its own.
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as fh:
            fh.write(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as fh:
            fh.write("[].\n")
        _owned_by(self.dir, self.USER)

    @property
    def env(self):
        d = self.dir
        return {"RABBITMQ_NODENAME": self.nodename,
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
                "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
                "RABBITMQ_FEATURE_FLAGS_FILE": os.path.join(d, "feature_flags"),
                "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
                "RABBITMQ_PID_FILE": self.pid_file}

    def uri(self, vhost="/", user="guest", password="guest"):
        return amqp_uri(f"127.0.0.1:{self.port}", vhost, user, password)

    def start(self, timeout=60):
        if os.path.exists(self.pid_file):
            os.remove(self.pid_file)  # the last run's: it names a dead process
        with open(self.log_path, "ab") as log:
            # The script traps SIGTERM and stops the node: sent when the test process ends.
            self.proc = subprocess.Popen([self.server], cwd=self.dir, env={
                **os.environ, **self.env, "HOME": _home_of(self.USER)}, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                **_run_as(self.USER, signal.SIGTERM))

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.nodename} exited with"
                                   f" {self.proc.returncode}; log {self.log_path}:\n"
                                   f"{_tail(self.log_path)}")
            return self.answers()

        _wait(ready, timeout, f"RabbitMQ node {self.nodename} on port {self.port}",
              self.log_path, interval=0.2)
        return self

    def answers(self):
        """The AMQP listener completes a handshake (refused credentials count: it answers)."""
        import amqp

        if not port_open("127.0.0.1", self.port, 0.5):
            return False
        conn = amqp.Connection(f"127.0.0.1:{self.port}", userid="guest", password="guest",
                               connect_timeout=2)
        try:
            conn.connect()
            return True
        except amqp.exceptions.AccessRefused:
            return True
        except Exception:
            return False
        finally:
            try:
                conn.collect()
            except Exception:
                pass

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def os_pid(self):
        """The node's own OS process (beam.smp): from its pid file, else asked."""
        try:
            with open(self.pid_file) as fh:
                pid = int(fh.read().strip())
            if pid_alive(pid):
                return pid
        except (OSError, ValueError):
            pass
        return int(self.ctl("eval", "os:getpid().").strip().strip('"'))

    def kill(self, timeout=30):
        """SIGKILL this node's beam.smp only: a crash, nothing flushed or closed."""
        if not self.running():
            return
        pid = self.os_pid()
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: not pid_alive(pid), timeout, f"{self.nodename} to die")
        self.proc.wait(timeout)  # the wrapper above it follows

    def restart(self, timeout=60):
        """Start again with the same name, ports and data."""
        if self.running():
            self.stop()
        return self.start(timeout)

    def stop(self, timeout=60):
        if not self.running():
            return
        try:
            self.ctl("stop", timeout=timeout)
            self.proc.wait(timeout)
        except (subprocess.SubprocessError, RuntimeError):
            self.kill()

    def ctl(self, *args, timeout=60):
        """``rabbitmqctl -n <this node> args...``; its output."""
        result = subprocess.run([self.ctl_path, "-q", "-n", self.nodename, *args],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.nodename} {' '.join(args)} failed:"
                               f" {result.stdout}{result.stderr}")
        return result.stdout

    def provision(self, vhost, passwords, prefix=servers.SERVICE_USER_PREFIX, full_access=None):
        """The vhost, the services' least-privilege users and ``full_access`` users
        (``infra.provision.rabbit_definitions``), on this node."""
        apply_rabbit(rabbit_definitions(vhost, passwords, prefix, full_access), self.ctl_path,
                     node=self.nodename)

    def join(self, other):
        """Join ``other``'s cluster (this node's own data is reset)."""
        self.ctl("stop_app")
        self.ctl("reset")
        self.ctl("join_cluster", other.nodename)
        self.ctl("start_app")
        _wait(self.answers, 60, f"{self.nodename} to serve after joining", self.log_path)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitCluster(list):
    """``size`` private nodes clustered with the first: ``cluster[i]`` is a
    :class:`PrivateRabbit`; ``cleanup()`` stops them all."""

    def __init__(self, size=3):
        super().__init__(PrivateRabbit() for _ in range(size))

    def start(self):
        for node in self:
            node.start()
        for node in self[1:]:
            node.join(self[0])
        return self

    def cleanup(self):
        for node in reversed(self):
            node.cleanup()


# -- a platform on private servers --------------------------------------------

PRIVATE_VHOST = "lienthong"


def private_platform(rabbit, postgres, s3, log_dir, vhost=PRIVATE_VHOST):
    """A ``Platform`` on ``rabbit`` and ``postgres``: a fresh database, and the
    vhost with the services' own users and the harness's (as the shared-server
    harness does; ``Platform.service_env`` then gives each service its logins)."""
    from tests.support.fixtures import Platform

    creds = servers.credentials()
    rabbit.provision(vhost, creds["services"],
                     full_access={servers.HARNESS_USER: creds["harness"]})
    return Platform(amqp_uri=rabbit.uri(vhost, servers.HARNESS_USER, creds["harness"]),
                    pg_dsn=postgres.create_database(), s3=s3, log_dir=log_dir)


# -- pytest fixtures (registered in the root conftest) -------------------------

@pytest.fixture
def private_postgres():
    """A PostgreSQL of this test's own, started; the test may kill it."""
    server = PrivatePostgres()
    try:
        yield server.start()
    finally:
        server.cleanup()


@pytest.fixture
def private_rabbit():
    """A RabbitMQ node of this test's own, started; the test may kill it."""
    node = PrivateRabbit()
    try:
        yield node.start()
    finally:
        node.cleanup()
