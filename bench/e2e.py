"""End to end: documents through every service, from registration to every
recipient's register and the audit log, with the raw limits beside them.

Run from the repository root::

    python -m bench.e2e                         # 40 documents, 4 clients, 1 instance each
    python -m bench.e2e --instances 2           # two processes of every service

It starts private servers (a PostgreSQL cluster, a RabbitMQ node, SeaweedFS;
the machine's shared servers are not touched) and the five services as
``nameko run`` processes (``--instances`` of each, the gateways taken in
turn). ``--clients`` threads then take ``--documents`` documents through the
HTTP API as a clerk and a leader do: register (a 1 MB PDF and a 100 KB PDF
appendix, streamed), submit, sign (the leader's PAdES), seal (the agency's),
issue (the number; the issue sends to the ``--recipients`` agencies its
metadata names). A document is done when docs has registered its arrival at
every recipient (numbered later, when a clerk accepts it); the run is done
when the audit log also holds every event every service stored.

Printed: documents per second, p50/p99 of each step (a step the service is
not ready for yet, because the event of the step before is on its way, is
retried every 20 ms and its time includes the wait; a 503 from the gateway
shedding load is retried after 200 ms and counted) and of "issue -> last
recipient registered", the CPU each service spent per document, and, measured
in the same run on the same servers, the raw work one document needs done
directly: its two files put to S3, its hashes and signatures, its events as
single-row INSERTs and as RabbitMQ messages published and consumed.
"""

import argparse
import collections
import contextlib
import hashlib
import io
import os
import shutil
import signal
import sys
import threading
import time

import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import (print_machine, private_platform_for, raw_insert_times,
                          raw_publish_times)
from infra.api import Api, ApiError
from infra.client import Client, wait_for
from infra.demo import AUDITOR_AGENCY, PROVINCE, SIGNER, seed_users
from infra.samples import make_pdf
from infra.stack import ROOT, SERVICES, ServiceProcess, port_open

LOG_DIR = os.path.join(ROOT, "var", "bench-e2e")
STEPS = ("register", "submit", "sign", "seal", "issue")
# "Not in that state yet" (409), or signing not yet told of the submission (404):
# the event of the step before is on its way.
NOT_YET = (404, 409)
BUSY = 503  # the gateway's bulkhead: too many calls waiting for one service
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid):
    """User + system CPU of a process so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds():
    """CPU seconds the whole machine spent busy so far, all cores (``/proc/stat``):
    the services, the servers, the benchmark's own clients, anything else."""
    with open("/proc/stat") as fh:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, fh.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class Run:
    def __init__(self, gateways, passwords, recipients, pdf, appendix):
        self.gateways, self.passwords = gateways, passwords
        self.recipients, self.pdf, self.appendix = recipients, pdf, appendix
        self.times = collections.defaultdict(list)
        self.shed = collections.Counter()  # step -> 503 answers retried
        self.issued_at = {}   # document_id -> monotonic time the issue answered
        self.arrived = []     # seconds from the issue to the last recipient's arrival
        self.lock = threading.Lock()
        self.apis = {}

    def api(self, user, n):
        key = (user, n % len(self.gateways))
        with self.lock:
            if key not in self.apis:
                self.apis[key] = Api(self.gateways[key[1]], timeout=120).login(
                    user, self.passwords[user])
            return self.apis[key]

    def step(self, name, call, wait=()):
        began = time.monotonic()
        while True:
            try:
                result = call()
                break
            except ApiError as err:
                if time.monotonic() - began > 60 or err.status not in (*wait, BUSY):
                    raise
                if err.status == BUSY:  # the gateway sheds load: back off, as a client does
                    with self.lock:
                        self.shed[name] += 1
                    time.sleep(0.2)
                else:
                    time.sleep(0.02)
        with self.lock:
            self.times[name].append(time.monotonic() - began)
        return result

    def document(self, n):
        clerk, leader = self.api("van.thu@ubnd-tinh", n), self.api("chu.tich@ubnd-tinh", n)
        metadata = {"subject": f"Công văn số {n} về phòng, chống thiên tai",
                    "document_type": "CV", "recipients": self.recipients,
                    "agency_abbreviation": "UBND", "drafting_unit_abbreviation": "VP",
                    "signer": SIGNER}
        doc = self.step("register", lambda: clerk.register(metadata, [
            ("file", "cong-van.pdf", io.BytesIO(self.pdf), len(self.pdf), "application/pdf"),
            ("attachment", "phu-luc.pdf", io.BytesIO(self.appendix), len(self.appendix),
             "application/pdf")]))
        path = f"/v1/documents/{doc['document_id']}"
        self.step("submit", lambda: clerk.post(f"{path}/submit",
                                               {"signer_user": "chu.tich@ubnd-tinh"}))
        self.step("sign", lambda: leader.post(f"{path}/sign"), NOT_YET)
        self.step("seal", lambda: clerk.post(f"{path}/seal"), NOT_YET)
        self.step("issue", lambda: clerk.post(f"{path}/issue"), NOT_YET)
        with self.lock:
            self.issued_at[doc["document_id"]] = time.monotonic()

    def watch_arrivals(self, dsn, stop):
        """The time each issued document reached its last recipient (docs' register)."""
        with psycopg.connect(dsn, autocommit=True, options="-c search_path=docs") as conn:
            while not stop.is_set() or self.issued_at:
                with self.lock:
                    waiting = list(self.issued_at)
                if waiting:
                    rows = conn.execute(
                        "SELECT document_id::text FROM incoming WHERE document_id::text ="
                        " ANY(%s) GROUP BY document_id HAVING count(*) = %s",
                        (waiting, len(self.recipients))).fetchall()
                    now = time.monotonic()
                    with self.lock:
                        for (document_id,) in rows:
                            self.arrived.append(now - self.issued_at.pop(document_id))
                time.sleep(0.02)


def events_stored(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        stored = sum(conn.execute(f"SELECT count(*) FROM {s}.events").fetchone()[0]
                     for s in ("docs", "signing", "routing", "gateway"))
        logged = conn.execute("SELECT count(*) FROM audit.entries").fetchone()[0]
    return stored, logged


def raw_per_document(platform, pdf, appendix, events, messages):
    """Seconds, one after another on one core, of the work one document needs done
    directly: {part: seconds}."""
    store = platform.object_store()
    key = ec.generate_private_key(ec.SECP256R1())
    parts = {}
    rounds = 20
    t = time.perf_counter()
    for i in range(rounds):
        store.put_stream(f"raw/{i}.pdf", io.BytesIO(pdf), len(pdf) + 1)
        store.put_stream(f"raw/{i}-a.pdf", io.BytesIO(appendix), len(appendix) + 1)
    parts["S3: put the PDF and its appendix"] = (time.perf_counter() - t) / rounds
    # Hashes: the upload, each signature's byte range (leader, seal), the seal's
    # read-back check, the appendix's upload and seal; signatures: leader, seal,
    # appendix seal, the manifest, and the three time stamps.
    t = time.perf_counter()
    for _ in range(rounds):
        for _ in range(4):
            hashlib.sha256(pdf).digest()
        for _ in range(2):
            hashlib.sha256(appendix).digest()
        for _ in range(7):
            key.sign(b"signed attributes", ec.ECDSA(hashes.SHA256()))
    parts["crypto: 6 SHA-256 of the files, 7 ECDSA P-256 signatures"] = \
        (time.perf_counter() - t) / rounds
    body = '{"envelope": "' + "x" * 900 + '"}'
    parts[f"PostgreSQL: {events} single-row INSERTs (the events)"] = \
        sum(raw_insert_times(platform.pg_dsn, rounds * events, body)) / rounds
    parts[f"RabbitMQ: {messages} messages published (confirmed) and consumed"] = \
        sum(raw_publish_times(platform.amqp_uri, rounds * messages, b"x" * 1200,
                              consume=True)) / rounds
    return parts


def start_stack(platform, instances, users_path):
    from tests.support.servers import free_port

    processes, gateways = [], []
    for i in range(instances):
        suffix = "" if i == 0 else chr(ord("a") + i)
        docs_port = platform.docs_port if i == 0 else free_port()
        gateway_port = platform.gateway_port if i == 0 else free_port()
        for name in SERVICES:
            env = {**platform.service_env(name), "PGAPPNAME": f"{name}{suffix}",
                   "LIENTHONG_DOCS_HTTP": f"127.0.0.1:{docs_port}"}
            if name == "gateway":
                env.update(LIENTHONG_SEED_USERS=users_path,
                           LIENTHONG_GATEWAY_HTTP=f"127.0.0.1:{gateway_port}",
                           LIENTHONG_DOCS_URL=f"http://127.0.0.1:{docs_port}")
            processes.append(ServiceProcess(name, env, LOG_DIR, instance=suffix or None))
        gateways.append(f"http://127.0.0.1:{gateway_port}")
        for process in processes[-len(SERVICES):]:
            process.start()
        client = Client(platform.amqp_uri, platform.docs_url, platform.gateway_key)
        for process in processes[-len(SERVICES):]:
            process.wait_ready(client, client.token("auditor", AUDITOR_AGENCY), timeout=120)
        # A health RPC may be answered by the first instance: wait for this one's ports.
        for port in (docs_port, gateway_port):
            wait_for(lambda: port_open("127.0.0.1", port), timeout=60, what=f"port {port}")
    return processes, gateways, client


def main(argv=None):
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--recipients", type=int, default=10)
    args = parser.parse_args(argv)
    logging.getLogger("amqp").setLevel(logging.ERROR)

    print_machine("End to end: documents from the clerk to every recipient and the audit log")
    print(f"{args.documents} documents, {args.clients} clients, {args.instances} instance(s)"
          f" of each service, {args.recipients} recipients each\n")
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    os.makedirs(LOG_DIR)
    with contextlib.ExitStack() as cleanup:
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
        platform, _, _, _ = private_platform_for(cleanup, LOG_DIR)
        platform.object_store()  # the bucket, before the services' least-privilege keys
        users_path, passwords = seed_users(LOG_DIR)
        processes, gateways, client = start_stack(platform, args.instances, users_path)
        cleanup.callback(lambda: ServiceProcess.stop_all(processes))
        with client.rpc(client.token("admin", PROVINCE, user="quan.tri@ubnd-tinh")) as rpc:
            rpc.signing.enroll("chu.tich@ubnd-tinh", PROVINCE, "leader", "Nguyễn Văn An")
            rpc.signing.enroll(PROVINCE, PROVINCE, "agency", PROVINCE)
        with client.rpc(client.token("auditor", AUDITOR_AGENCY)) as rpc:
            agencies = rpc.routing.agencies()
        recipients = sorted(a["code"] for a in agencies if a["code"] != PROVINCE)
        if len(recipients) < args.recipients:
            raise SystemExit(f"the directory has {len(recipients)} other agencies")
        recipients = recipients[:args.recipients]

        pdf = make_pdf("Cong van", padding=1024 * 1024)
        appendix = make_pdf("Phu luc", padding=100 * 1024)
        run = Run(gateways, passwords, recipients, pdf, appendix)
        run.document(0)  # warm-up: keys, time stamper, caches; not counted
        run.times.clear()
        warm_stop = threading.Event()
        warm_stop.set()
        run.watch_arrivals(platform.pg_dsn, warm_stop)  # the warm-up's arrivals
        run.arrived.clear()
        events_before, _ = events_stored(platform.pg_dsn)
        wait_for(lambda: (lambda s, l: s == l)(*events_stored(platform.pg_dsn)), timeout=120,
                 what="the audit log to catch up with the warm-up")

        cpu_before = {p: cpu_seconds(p.proc.pid) for p in processes}
        stop = threading.Event()
        watcher = threading.Thread(target=run.watch_arrivals, args=(platform.pg_dsn, stop))
        watcher.start()
        numbers = iter(range(1, args.documents + 1))
        numbers_lock = threading.Lock()
        errors = []

        def client_thread():
            while True:
                with numbers_lock:
                    n = next(numbers, None)
                if n is None:
                    return
                try:
                    run.document(n)
                except Exception as err:  # reported, and the run fails
                    errors.append(f"document {n}: {err!r}")

        began, machine_before, own_before = time.monotonic(), machine_busy_seconds(), os.times()
        threads = [threading.Thread(target=client_thread) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        watcher.join(timeout=300)
        delivered = time.monotonic()
        wait_for(lambda: (lambda s, l: s == l)(*events_stored(platform.pg_dsn)), timeout=300,
                 interval=0.05, what="the audit log to hold every event")
        audited = time.monotonic()
        machine, own = machine_busy_seconds() - machine_before, os.times()
        clients = own.user + own.system - own_before.user - own_before.system
        cpu = collections.Counter()
        for p in processes:
            cpu[p.name] += cpu_seconds(p.proc.pid) - cpu_before[p]
        stored, logged = events_stored(platform.pg_dsn)
        per_doc_events = (stored - events_before) / args.documents
        if errors or len(run.arrived) != args.documents:
            print("FAILED:", errors[:5], f"{len(run.arrived)} of {args.documents} arrived")
            return 1

        n = args.documents
        print(f"{n} documents: all delivered in {delivered - began:.1f} s"
              f" ({n / (delivered - began):.2f} documents/s), audit caught up"
              f" {audited - delivered:.1f} s later ({n / (audited - began):.2f} documents/s"
              f" to the log); {per_doc_events:.1f} events stored per document\n")
        print(f"{'step':<40}{'p50 ms':>10}{'p99 ms':>10}{'503 retried':>13}")
        for step in STEPS:
            t = run.times[step]
            print(f"{step:<40}{pct(t, 50) * 1000:>10.0f}{pct(t, 99) * 1000:>10.0f}"
                  f"{run.shed[step]:>13}")
        print(f"{'issue -> last recipient registered':<40}"
              f"{pct(run.arrived, 50) * 1000:>10.0f}{pct(run.arrived, 99) * 1000:>10.0f}")
        print("\nCPU per document (all instances): "
              + ", ".join(f"{name} {cpu[name] / n * 1000:.0f} ms" for name in SERVICES)
              + f"; in all {sum(cpu.values()) / n * 1000:.0f} ms"
              f" ({sum(cpu.values()) / (audited - began):.2f} cores busy on average)")
        # What bounds the run: the whole machine's CPU (servers and clients too).
        print(f"the whole machine: {machine / (audited - began):.2f} of {os.cpu_count()} cores"
              f" busy ({machine / n * 1000:.0f} ms per document; the services"
              f" {sum(cpu.values()) / n * 1000:.0f}, the benchmark's clients"
              f" {clients / n * 1000:.0f}, the rest PostgreSQL, RabbitMQ, S3 and other work)")

        # A document's messages: each stored event goes to its subscribers (about 2 each).
        raw = raw_per_document(platform, pdf, appendix, round(per_doc_events),
                               round(per_doc_events * 2))
        total = sum(raw.values())
        print("\nraw work one document needs, done directly (same servers, one thread):")
        for part, seconds in raw.items():
            print(f"  {part:<66}{seconds * 1000:>8.1f} ms")
        print(f"  {'in all':<66}{total * 1000:>8.1f} ms -> {1 / total:.1f} documents/s"
              f" on one thread")
        print(f"\nours: {n / (audited - began):.2f} documents/s to the log, beside the raw"
              f" limit of {1 / total:.1f}/s on one thread: {n / (audited - began) * total:.3f}x")
        return 0


if __name__ == "__main__":
    sys.exit(main())
