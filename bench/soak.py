"""Soak: a steady stream of documents through the HTTP API, with a fault every minute.

Run from the repository root::

    python -m bench.soak                       # 10 minutes, a fault every 60 s
    python -m bench.soak --minutes 3 --rate 20 --seed 7

It starts private servers of its own (a PostgreSQL cluster, a RabbitMQ node
and SeaweedFS, all killable; the machine's shared servers are not touched),
the five services as ``nameko run`` processes under the demo's supervisor, and
then, for ``--minutes``, starts ``--rate`` documents a minute, each through
every step a clerk and a leader take over HTTP: register (a streamed PDF),
submit, sign, seal, issue, send to two districts. A step that fails (503, a
timeout, a dropped connection) is retried until it has taken effect; each
step's time includes its retries, as a user lives it.

Every ``--fault-every`` seconds one fault, in turn (seeded; the seed is
printed): SIGKILL of a service (the supervisor restarts it), SIGKILL of the
broker and of PostgreSQL (restarted after 5 s), the S3 server hung (SIGSTOP,
SIGCONT after 10 s).

At the end, once the stream is quiet, the oracle: every sent document reached
each recipient exactly once, every stored event of every service is in the
audit log once, the log verifies against its signed checkpoints and the
auditor's reconcile reports no difference. Beside the figures, the same run's
raw baselines on the same private servers: a single-row PostgreSQL INSERT and
a RabbitMQ publish with its confirm.

It is a benchmark, not a test: it prints, and exits 1 only if the oracle fails.
"""

import argparse
import collections
import contextlib
import io
import os
import random
import shutil
import signal
import statistics
import sys
import threading
import time

import requests

from bench.common import (print_machine, private_platform_for, raw_insert_times,
                          raw_publish_times)
from infra.api import Api, ApiError
from infra.client import Client, wait_for
from infra.demo import AUDITOR_AGENCY, DISTRICTS, PROVINCE, SIGNER, seed_users
from infra.samples import make_pdf
from infra.stack import ROOT, SERVICES, ServiceProcess, Supervisor, wait_for_docs_directory

LOG_DIR = os.path.join(ROOT, "var", "soak")
STEPS = ("register", "submit", "sign", "seal", "issue", "send")
RANK = {"draft": 0, "submitted": 1, "signed": 2, "sealed": 3, "issued": 4, "sent": 5}
STEP_DEADLINE = 180.0  # a step not done after this many seconds is counted as failed
RETRYABLE = (requests.ConnectionError, requests.Timeout)


def pct(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Stream:
    """Documents started at a steady rate, each in its own thread."""

    def __init__(self, url, passwords, pdf):
        self.url, self.passwords, self.pdf = url, passwords, pdf
        self.times = collections.defaultdict(list)  # step -> seconds, retries included
        self.retries = collections.Counter()        # step -> documents that needed one
        self.failed = collections.Counter()
        self.last_error = {}  # step -> the last error of a step given up
        self.sent = {}  # document_id -> recipients
        self.whole = []  # seconds from register to sent, per document
        self.started = 0
        self._apis = {}
        self.lock = threading.Lock()
        self.threads = []

    def login(self, user):
        """``user``'s API client, logged in once for the whole run."""
        with self.lock:
            if user in self._apis:
                return self._apis[user]
        deadline = time.monotonic() + STEP_DEADLINE
        while True:
            try:
                api = Api(self.url, timeout=30).login(user, self.passwords[user])
                with self.lock:
                    return self._apis.setdefault(user, api)
            except (ApiError, *RETRYABLE):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def start_one(self, n):
        thread = threading.Thread(target=self._document, args=(n,), daemon=True)
        self.threads.append(thread)
        self.started += 1
        thread.start()

    def _step(self, name, call, reached):
        """Run ``call`` until it succeeds or ``reached()`` says its effect is there."""
        began, tries = time.monotonic(), 0
        while True:
            tries += 1
            try:
                result = call()
                break
            except (ApiError, *RETRYABLE) as err:
                # Refused for what it is (400, 401, 403, 413): no retry helps.
                final = isinstance(err, ApiError) and err.status in (400, 401, 403, 413)
                with contextlib.suppress(ApiError, *RETRYABLE):
                    if tries > 1 and reached and reached():
                        result = None
                        break
                if final or time.monotonic() - began > STEP_DEADLINE:
                    with self.lock:
                        self.failed[name] += 1
                        self.last_error[name] = str(err)
                    raise RuntimeError(f"{name}: {err}") from err
                time.sleep(1)
        with self.lock:
            self.times[name].append(time.monotonic() - began)
            if tries > 1:
                self.retries[name] += 1
        return result

    def _document(self, n):
        began = time.monotonic()
        try:
            clerk, leader = self.login("van.thu@ubnd-tinh"), self.login("chu.tich@ubnd-tinh")
            metadata = {"subject": f"Công văn số {n} về phòng, chống thiên tai",
                        "document_type": "CV", "recipients": DISTRICTS,
                        "agency_abbreviation": "UBND", "drafting_unit": "VP",
                        "drafting_unit_abbreviation": "VP",
                        "signer": SIGNER}
            doc = self._step("register", lambda: clerk.register(metadata, [
                ("file", "cong-van.pdf", io.BytesIO(self.pdf), len(self.pdf),
                 "application/pdf")]), None)
            path = f"/v1/documents/{doc['document_id']}"

            def at_least(state):
                return lambda: RANK.get(clerk.get(path)["state"], -1) >= RANK[state]
            self._step("submit", lambda: clerk.post(f"{path}/submit",
                                                    {"signer_user": "chu.tich@ubnd-tinh"}),
                       at_least("submitted"))
            self._step("sign", lambda: leader.post(f"{path}/sign"), at_least("signed"))
            self._step("seal", lambda: clerk.post(f"{path}/seal"), at_least("sealed"))
            self._step("issue", lambda: clerk.post(f"{path}/issue"), at_least("issued"))
            sent = self._step("send", lambda: clerk.post(f"{path}/send", {
                "addressing": {"agencies": DISTRICTS}, "consignment_id": f"soak-consignment-{n:05d}"}), None)
            with self.lock:
                self.sent[doc["document_id"]] = sorted(sent["recipients"])
                self.whole.append(time.monotonic() - began)
        except RuntimeError:
            pass  # counted in self.failed


class Faults:
    def __init__(self, seed, processes, rabbit, postgres, weed):
        self.rng = random.Random(seed)
        self.processes, self.rabbit, self.postgres, self.weed = processes, rabbit, postgres, weed
        self.kinds = ["service", "broker", "database", "s3-hung"]
        self.done = []

    def next(self, index):
        kind = self.kinds[index % len(self.kinds)]
        began = time.monotonic()
        if kind == "service":
            victim = self.rng.choice(self.processes)
            what = f"SIGKILL {victim.name}"
            victim.kill()
        elif kind == "broker":
            what = "SIGKILL RabbitMQ, restart after 5 s"
            self.rabbit.kill()
            time.sleep(5)
            self.rabbit.restart()
        elif kind == "database":
            what = "SIGKILL PostgreSQL, restart after 5 s"
            self.postgres.kill()
            time.sleep(5)
            self.postgres.restart()
        else:
            what = "S3 hung (SIGSTOP) for 10 s"
            os.kill(self.weed.proc.pid, signal.SIGSTOP)
            time.sleep(10)
            os.kill(self.weed.proc.pid, signal.SIGCONT)
        self.done.append((what, time.monotonic() - began))
        return what


def raw_baselines(pg_dsn, amqp_uri, n=1000):
    """Per-operation latency of a single-row INSERT (autocommit) and of a persistent
    publish waiting for its confirm, on the same private servers."""
    return {"PostgreSQL single-row INSERT": raw_insert_times(pg_dsn, n),
            "RabbitMQ publish + confirm": raw_publish_times(amqp_uri, n, b"x" * 600)}


def oracle(platform, client, stream):
    """What must hold once the stream is quiet; a list of (check, ok, detail)."""
    from tests.support.db import query

    results = []
    dsn = platform.pg_dsn
    wrong = []
    for document_id, recipients in stream.sent.items():
        rows = query(dsn, "routing", "SELECT envelope->'data'->>'recipient' FROM events"
                     " WHERE event_type = 'DocumentDelivered'"
                     " AND envelope->'data'->>'document_id' = %s", (document_id,))
        counts = collections.Counter(r[0] for r in rows)
        if counts != collections.Counter(recipients):
            wrong.append((document_id, dict(counts)))
    results.append(("each sent document delivered once to each recipient",
                    not wrong, f"{len(stream.sent)} documents; wrong: {wrong[:3]}"))

    def missing_from_audit():
        logged = {r[0] for r in query(dsn, "audit", "SELECT event_id::text FROM entries")}
        stored = set()
        for service in ("docs", "signing", "routing", "gateway"):
            stored |= {r[0] for r in query(dsn, service, "SELECT event_id::text FROM events")}
        return stored - logged, len(stored), len(logged)
    try:
        wait_for(lambda: not missing_from_audit()[0], timeout=180, interval=2,
                 what="the audit log to hold every stored event")
    except Exception:
        pass
    missing, stored, logged = missing_from_audit()
    dupes = query(dsn, "audit", "SELECT count(*) - count(DISTINCT event_id) FROM entries")[0][0]
    results.append(("every stored event in the audit log, once", not missing and dupes == 0,
                    f"{stored} stored, {logged} logged, {len(missing)} missing,"
                    f" {dupes} twice"))

    auditor = client.token("auditor", AUDITOR_AGENCY)

    def verified():
        with client.rpc(auditor, timeout=120) as rpc:
            report = rpc.audit.verify()
        return report if report["ok"] and not report.get("notes") else None
    try:
        report = wait_for(verified, timeout=120, interval=2, what="a checkpoint over the log")
        results.append(("the log verifies against its signed checkpoints", True,
                        f"{report['entries']} entries, {report['checkpoints']} checkpoints"))
    except Exception as err:
        results.append(("the log verifies against its signed checkpoints", False, str(err)))
    from tests.support.oracle import pending_uploads, unnamed_objects
    try:
        wait_for(lambda: not pending_uploads(dsn), timeout=120, interval=2,
                 what="every upload intent to be settled or swept")
    except Exception:
        pass
    orphans = unnamed_objects(platform)
    results.append(("no object in the bucket that no event names", not orphans,
                    f"{len(orphans)} orphans; upload intents left: {pending_uploads(dsn)}"))
    with client.rpc(auditor, timeout=120) as rpc:
        rec = rpc.audit.reconcile()
    results.append(("reconcile: no difference", not rec["differences"],
                    f"{rec['documents']} documents, {len(rec['differences'])} differences"
                    + (f", first: {rec['differences'][0]}" if rec["differences"] else "")))
    return results


def main(argv=None):
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=12, help="documents started a minute")
    parser.add_argument("--fault-every", type=float, default=60, help="seconds")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.getLogger("amqp").setLevel(logging.ERROR)  # confirms after a proxy closes
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)

    print_machine("Soak: documents through the HTTP API under faults")
    print(f"seed {seed}; {args.minutes:g} min; {args.rate:g} documents/min;"
          f" a fault every {args.fault_every:g} s\n")
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    os.makedirs(LOG_DIR)
    with contextlib.ExitStack() as cleanup:
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
        platform, rabbit, postgres, weed = private_platform_for(cleanup, LOG_DIR)
        baselines = raw_baselines(platform.pg_dsn, platform.amqp_uri)

        users_path, passwords = seed_users(LOG_DIR)
        envs = {name: platform.service_env(name) for name in SERVICES}
        envs["gateway"].update({"LIENTHONG_SEED_USERS": users_path,
                                "LIENTHONG_RPC_TIMEOUT_SECONDS": "10"})
        processes = [ServiceProcess(name, envs[name], LOG_DIR) for name in SERVICES]
        for p in processes:
            cleanup.callback(p.stop)
            p.start()
        client = Client(platform.amqp_uri, platform.docs_url, platform.gateway_key)
        for p in processes:
            p.wait_ready(client, client.token("auditor", AUDITOR_AGENCY))
        wait_for_docs_directory(platform.pg_dsn)  # docs registers nothing before it
        supervisor = Supervisor(processes, say=lambda text: print(f"  {text}"))
        supervisor.start()
        cleanup.callback(supervisor.stop)
        with client.rpc(client.token("admin", PROVINCE, user="quan.tri@ubnd-tinh")) as rpc:
            rpc.signing.enroll("chu.tich@ubnd-tinh", PROVINCE, "leader", "Nguyễn Văn An")
            rpc.signing.enroll(PROVINCE, PROVINCE, "agency", PROVINCE)

        stream = Stream(platform.gateway_url, passwords, make_pdf("Cong van", padding=64 * 1024))
        faults = Faults(seed, processes, rabbit, postgres, weed)
        began = time.monotonic()
        end = began + args.minutes * 60
        next_doc, next_fault, n_faults = began, began + args.fault_every, 0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_doc:
                stream.start_one(stream.started + 1)
                next_doc += 60 / args.rate
            if now >= next_fault:
                what = faults.next(n_faults)
                n_faults += 1
                print(f"  [{now - began:6.1f}s] fault {n_faults}: {what}")
                next_fault += args.fault_every
            time.sleep(0.05)
        for thread in stream.threads:
            thread.join(STEP_DEADLINE * len(STEPS))
        elapsed = time.monotonic() - began

        print(f"\n{stream.started} documents started in {elapsed:.0f} s,"
              f" {len(stream.sent)} sent ({len(stream.sent) / elapsed * 60:.1f}/min),"
              f" {sum(stream.failed.values())} gave up; {len(faults.done)} faults;"
              f" supervisor restarts: {dict(supervisor.restarts)}\n")
        for step, err in stream.last_error.items():
            print(f"  {step} gave up {stream.failed[step]} time(s), the last with: {err}")
        print(f"{'step':<34}{'n':>6}{'retried':>9}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for step in STEPS:
            t = stream.times[step]
            print(f"{step:<34}{len(t):>6}{stream.retries[step]:>9}"
                  f"{pct(t, 50) * 1000:>10.0f}{pct(t, 99) * 1000:>10.0f}"
                  f"{(max(t) if t else float('nan')) * 1000:>10.0f}")
        for name, t in baselines.items():
            print(f"{'base: ' + name:<34}{len(t):>6}{'':>9}{pct(t, 50) * 1000:>10.2f}"
                  f"{pct(t, 99) * 1000:>10.2f}{max(t) * 1000:>10.2f}")
        if stream.whole:
            print(f"\na document's whole way (register to sent): p50"
                  f" {statistics.median(stream.whole):.1f} s, p99 {pct(stream.whole, 99):.1f} s")

        print("\noracle:")
        results = oracle(platform, client, stream)
        for check, ok, detail in results:
            print(f"  {'OK  ' if ok else 'FAIL'} {check}: {detail}")
        return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
