"""Helpers every benchmark shares: machine facts, bounded timed loops, clean-up."""

import functools
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

BUDGET_S = 8.0  # no timed loop runs longer than this


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _mem_total():
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        return f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _quietly(what, action):
    try:
        action()
    except Exception as err:  # cleanup goes on with the next step
        print(f"cleanup: {what} failed: {err}", file=sys.stderr)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the cleanup below


def _version(dist):
    from importlib.metadata import version

    return f"{dist} {version(dist)}"


def threaded_loops(slices, op, budget=BUDGET_S):
    """One OS thread per slice, released together; wall time until the last ends."""
    barrier = threading.Barrier(len(slices) + 1)
    results, errors = [None] * len(slices), []

    def worker(i, items):
        try:
            barrier.wait()
            results[i] = timed_loop(items, op, budget)
        except BaseException as err:  # reported by the main thread
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i, s), daemon=True)
               for i, s in enumerate(slices)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return [lat for lats, _ in results for lat in lats], seconds


def print_machine(title):
    """The title line, then the machine facts every benchmark prints first."""
    print(title)
    print(f"  nproc              : {len(os.sched_getaffinity(0))}"
          f" (os.cpu_count {os.cpu_count()}; {_cpu_model()})")
    print(f"  memory             : {_mem_total()}")
    print(f"  kernel             : {platform.system()} {platform.release()}")
    print(f"  Python             : {platform.python_version()} ({sys.executable})")


# -- a database and a vhost of the run's own, removed on the way out ------------------

def rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True,
                          text=True, timeout=120)


def drop_database(admin_dsn, name):
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_vhost(name, missing_ok=False):
    try:
        rabbitmqctl("delete_vhost", name)
    except subprocess.CalledProcessError as err:
        if not missing_ok:
            raise RuntimeError(f"rabbitmqctl delete_vhost failed: {err.stderr.strip()}") from err


def fresh_database(cleanup, admin_dsn, name):
    """A new, empty database; its removal is registered on ``cleanup`` (an ExitStack)
    before it is made, so a half-done set-up is undone too."""
    import psycopg

    cleanup.callback(_quietly, "drop database", functools.partial(drop_database, admin_dsn, name))
    drop_database(admin_dsn, name)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def fresh_vhost(cleanup, name, user):
    """A new vhost that ``user`` may use fully, deleted again on the way out."""
    cleanup.callback(_quietly, "delete vhost", functools.partial(delete_vhost, name))
    delete_vhost(name, missing_ok=True)
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")


def timed_loop(items, op, budget=BUDGET_S):
    """Run ``op(item)`` for each item until done or ``budget`` seconds; latencies in ns."""
    latencies = []
    start = time.perf_counter()
    deadline = start + budget
    for item in items:
        t0 = time.perf_counter_ns()
        op(item)
        latencies.append(time.perf_counter_ns() - t0)
        if time.perf_counter() > deadline:
            break
    return latencies, time.perf_counter() - start


class BenchBase:
    """What every benchmark run keeps: its results, ids for raw rows, and a
    raw connection (``self.raw``) for baselines and checkpoints."""

    def __init__(self):
        self.results = []
        self.next_raw_id = 1

    def raw_ids(self, n):
        first = self.next_raw_id
        self.next_raw_id += n
        return range(first, first + n)

    def checkpoint(self):
        """Flush dirty pages first so no timed loop inherits the previous one's checkpoint."""
        self.raw.execute("CHECKPOINT")

    def add(self, result):
        self.results.append(result)
        return result


@dataclass
class Result:
    name: str
    ops: int             # events, rows, messages, proofs or calls
    seconds: float
    latencies: list      # nanoseconds per call, or None
    latency_of: str = ""  # what one latency sample covers
    baseline_of: "Result | None" = None  # set on a baseline row: the "ours" row it is compared with
    info: bool = False   # a breakdown row, compared with nothing

    @property
    def rate(self):
        return self.ops / self.seconds if self.seconds else float("nan")

    def pct(self, q):
        """The q-quantile latency in nanoseconds, or None."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def private_platform_for(cleanup, log_dir):
    """A PostgreSQL cluster, a RabbitMQ node and SeaweedFS of the benchmark's own
    (stopped by ``cleanup``, a ``contextlib.ExitStack``), and the test harness's
    platform on them: ``(platform, rabbit, postgres, weed)``."""
    from tests.support import servers
    from tests.support.private import PrivatePostgres, PrivateRabbit, private_platform

    postgres = PrivatePostgres().start()
    cleanup.callback(postgres.cleanup)
    rabbit = PrivateRabbit().start()
    cleanup.callback(rabbit.cleanup)
    s3, weed = servers.private_s3(os.path.join(log_dir, "s3"))
    cleanup.callback(weed.stop)
    return private_platform(rabbit, postgres, s3, log_dir), rabbit, postgres, weed


def raw_insert_times(dsn, n, body='{"x": 1}'):
    """Seconds of each of ``n`` single-row INSERTs (autocommit, one jsonb
    column) into a scratch table on the server at ``dsn``: the raw PostgreSQL
    baseline of the benchmarks."""
    import psycopg

    table = f"public.bench_raw_{uuid.uuid4().hex[:8]}"
    times = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
        try:
            for _ in range(n):
                t = time.perf_counter()
                conn.execute(f"INSERT INTO {table} (body) VALUES (%s)", (body,))
                times.append(time.perf_counter() - t)
        finally:
            conn.execute(f"DROP TABLE {table}")
    return times


def raw_publish_times(amqp_uri, n, body, consume=False):
    """Seconds of each of ``n`` persistent publishes waiting for the broker's
    confirm (and, with ``consume``, the message got back): the raw RabbitMQ
    baseline of the benchmarks."""
    import pika

    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    times = []
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, auto_delete=True)
        channel.confirm_delivery()
        for _ in range(n):
            t = time.perf_counter()
            channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
            if consume:
                method, _, _ = channel.basic_get(queue, auto_ack=True)
                assert method is not None, "the raw baseline lost a message"
            times.append(time.perf_counter() - t)
        channel.queue_delete(queue)
    finally:
        connection.close()
    return times
