"""Routing benchmark: one signed document broadcast to every commune of the country.

Run from the repository root::

    python -m bench.routing                 # about 3 minutes on 2 cores
    python -m bench.routing --with-audit    # the audit service consumes too

It starts the platform as ``infra.demo`` does (a SeaweedFS S3 server, then
docs, signing and routing as separate ``nameko run`` processes; audit only with
``--with-audit``) against a fresh database and RabbitMQ vhost, with a generated
national directory big enough to hold 10,000 communes. The province clerk
registers a small PDF, the leader signs it, and the clerk sends it to every
commune. It prints the time until routing has committed every delivery, until
routing's outbox relay has published them, and until docs has registered every
arrival (a ``deliveries`` row per recipient, written as it handles each
``ConsignmentSent``), in deliveries per second. Beside them are raw baselines
measured in the same run on the same servers, with the same message size:
pika publishing with batched confirms and consuming with manual acks, and
PostgreSQL inserting the same rows in one transaction.

It is a benchmark, not a test: it checks nothing, except that the deliveries
complete within ``--timeout`` seconds (it fails loudly otherwise). Everything
it creates (database, vhost, processes, keys, SeaweedFS's data) is removed at
the end, also after an error, Ctrl-C or SIGTERM.
"""

import argparse
import contextlib
import json
import logging
import math
import os
import secrets
import shutil
import signal
import sys
import threading
import time
import warnings

import amqp
import pika
import psycopg

from bench.common import (
    Result, _quietly, _terminate, _version, print_machine, fresh_database, fresh_vhost,
)
from infra.keys import provisioned_env
from infra.samples import make_pdf
from infra.stack import (SeaweedServer, ServiceProcess, free_port, make_gateway_key,
                         wait_for_docs_directory)
from services.routing.sample_data import SAMPLE_DATE, national

with warnings.catch_warnings():
    # nameko imports eventlet, which announces its own deprecation (known, accepted).
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    from infra.client import Client, wait_for


# -- how to obtain a document that routing can send ---------------------------------

def sendable_document(client, clerk, leader, first_recipient, pdf, timeout=60):
    """A document of the clerk's agency that routing can send; returns its id.

    The document's whole way out as ``infra.client.Client.issue`` walks it today
    (register ``pdf`` addressed to ``first_recipient``, submit to the leader,
    sign, seal, issue), then a wait until routing has delivered it to
    ``first_recipient``: routing knows it and knows it is signed. The only
    place that knows the document lifecycle: adapt it when that changes.
    """
    issued = client.issue(clerk, leader, pdf, metadata={
        "subject": "Công điện về việc ứng phó khẩn cấp với bão số 3", "document_type": "CĐ",
        "urgency": 3, "agency_abbreviation": "UBND",
        "signer": {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân", "position": "Chủ tịch",
                   "full_name": "Nguyễn Văn An"},
        "recipients": [first_recipient]}, timeout=timeout)
    document_id = issued["document_id"]

    def delivered_first():
        with client.rpc(client.token("clerk", first_recipient)) as rpc:
            return any(i["document_id"] == document_id for i in rpc.routing.inbox())
    wait_for(delivered_first, timeout=timeout, interval=0.5,
             what=f"routing to deliver the signed document to {first_recipient}")
    return document_id


# -- where ----------------------------------------------------------------------

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
AMQP_HOST = os.environ.get("BENCH_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("BENCH_AMQP_PORT", "5672"))
AMQP_USER = os.environ.get("BENCH_AMQP_USER", "guest")
AMQP_PASSWORD = os.environ.get("BENCH_AMQP_PASSWORD", "guest")

DB_NAME = VHOST = "lienthong_bench_routing"
ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
BENCH_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={DB_NAME}"
AMQP_URI = f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@{AMQP_HOST}:{AMQP_PORT}/{VHOST}"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_DIR = os.path.join(ROOT, "var", "bench-routing")

# -- how much ---------------------------------------------------------------------

COMMUNES = 10_000          # at least this many recipients
SENDER = "000.00.00.H01"   # the first province's People's Committee
FIRST_RECIPIENT = "000.01.00.H01"  # a district of it: the registration's one addressee
CONFIRM_BATCH = 100        # raw baseline: one confirm wait per this many messages
CONSUMER_PREFETCH = 10     # raw baseline: as a nameko consumer (prefetch = max_workers)
SAMPLE_S = 0.1             # how often the progress of the broadcast is sampled
RAW_QUEUE = "bench.raw.routing"
AUDIT_ROLE = "lienthong_audit_app"  # services.audit.log.APP_ROLE

PROGRESS_SQL = """
SELECT (SELECT count(*) FROM routing.inbox_items WHERE document_id = %(doc)s),
       (SELECT coalesce(max(position), 0) FROM routing.outbox_cursor
         WHERE name = 'relay:routing'),
       (SELECT count(*) FROM docs.deliveries WHERE document_id = %(doc)s),
       {audit}
"""
AUDIT_COUNT = ("(SELECT count(*) FROM audit.entries"
               " WHERE event_type = 'DocumentDelivered')")


def national_size(target=COMMUNES):
    """The smallest ``national:N`` with at least ``target`` communes, and its communes
    per province (in code order)."""
    per_province = sum(a.level == "commune" for a in national(1).agencies(SAMPLE_DATE))
    provinces = math.ceil(target / per_province)
    directory = national(provinces)
    agencies = directory.agencies(SAMPLE_DATE)
    communes = {}
    for a in agencies:
        if a.level == "commune":
            communes.setdefault(f"000.00.00.{a.code[-3:]}", []).append(a.code)
    if sum(map(len, communes.values())) < target:
        raise SystemExit(f"national:{provinces} has fewer than {target} communes")
    return provinces, len(agencies), communes


# -- the world the benchmark runs in -----------------------------------------------

def drop_audit_role():
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{AUDIT_ROLE}"')


def _remove_file(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def start_platform(cleanup, services, provinces):
    """Fresh database and vhost, SeaweedFS, and the services; all undone by ``cleanup``."""
    role_note = None
    if "audit" in services:  # audit creates a cluster-wide role; drop it if it is new
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            existed = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                    (AUDIT_ROLE,)).fetchone() is not None
        if not existed:
            cleanup.callback(_quietly, "drop role", drop_audit_role)
        role_note = (f"role {AUDIT_ROLE} " + ("existed before, left in place" if existed
                                               else "made by audit, dropped at the end"))
    fresh_vhost(cleanup, VHOST, AMQP_USER)
    fresh_database(cleanup, ADMIN_DSN, DB_NAME)

    os.makedirs(LOG_DIR, exist_ok=True)
    keys = os.path.join(LOG_DIR, "keys")  # sealed with this run's passphrases
    shutil.rmtree(keys, ignore_errors=True)
    os.makedirs(keys)
    cleanup.callback(shutil.rmtree, keys, ignore_errors=True)
    s3_dir = os.path.join(LOG_DIR, "s3")  # its config, log and volumes
    shutil.rmtree(s3_dir, ignore_errors=True)  # a killed run's
    # After it stopped: the volumes, and the config that holds this run's admin key.
    cleanup.callback(shutil.rmtree, os.path.join(s3_dir, "data"), ignore_errors=True)
    cleanup.callback(_remove_file, os.path.join(s3_dir, "s3.json"))
    s3 = SeaweedServer(s3_dir)
    cleanup.callback(_quietly, "stop the S3 server", s3.stop)
    s3.start()
    docs_port = free_port()
    gateway_env, gateway_key = make_gateway_key(keys)
    env = {
        **gateway_env,
        "LIENTHONG_AMQP_URI": AMQP_URI,
        "LIENTHONG_PG_DSN": f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}",
        "LIENTHONG_S3_ENDPOINT": s3.endpoint, "LIENTHONG_S3_ACCESS_KEY": s3.access_key,
        "LIENTHONG_S3_SECRET_KEY": s3.secret_key, "LIENTHONG_S3_BUCKET": "lienthong-bench",
        "LIENTHONG_DOCS_HTTP": f"127.0.0.1:{docs_port}",
        "LIENTHONG_PKI_DIR": os.path.join(keys, "pki"),
        "LIENTHONG_PKI_PASSPHRASE": secrets.token_hex(16),
        **provisioned_env(os.path.join(keys, "event-keys")),
        "LIENTHONG_LOG_KEY_FILE": os.path.join(keys, "audit-log.key"),
        "LIENTHONG_LOG_KEY_PASSPHRASE": secrets.token_hex(16),
        "LIENTHONG_CHECKPOINT_SECONDS": "5",
        "LIENTHONG_CHECKPOINT_RETENTION_DAYS": "1",
        "LIENTHONG_DIRECTORY_SEED": f"national:{provinces}",
    }
    client = Client(AMQP_URI, f"http://127.0.0.1:{docs_port}", gateway_key)
    # Signing's keys are files in PKI_DIR: its file key store runs in development mode only.
    processes = [ServiceProcess(name, {**env, **({"LIENTHONG_DEV_MODE": "1"} if name == "signing"
                                                 else {})}, LOG_DIR) for name in services]
    for p in processes:
        cleanup.callback(_quietly, f"stop {p.name}", p.stop)
        p.start()
    for p in processes:
        p.wait_ready(client, client.token("auditor", "000.00.00.G22"))
    wait_for_docs_directory(env["LIENTHONG_PG_DSN"])  # docs registers nothing before it
    return client, env, role_note


# -- watching the broadcast ------------------------------------------------------------

class Progress(threading.Thread):
    """Samples every SAMPLE_S how far the broadcast has got, on its own connection:
    routing's inbox_items, routing's relay cursor, docs' deliveries (and audit's entries)."""

    def __init__(self, document_id, with_audit):
        super().__init__(daemon=True)
        self.sql = PROGRESS_SQL.format(audit=AUDIT_COUNT if with_audit else "0")
        self.document_id = document_id
        self.samples = []  # (perf_counter, inbox_items, relay cursor, deliveries, audit)
        self.error = None
        self._halt = threading.Event()

    def sample(self, conn):
        row = conn.execute(self.sql, {"doc": self.document_id}).fetchone()
        return (time.perf_counter(), *row)

    def run(self):
        try:
            with psycopg.connect(BENCH_DSN, autocommit=True) as conn:
                while not self._halt.is_set():
                    self.samples.append(self.sample(conn))
                    self._halt.wait(SAMPLE_S)
        except psycopg.Error as err:  # reported by the main thread
            self.error = err

    def latest(self):
        if self.error:
            raise RuntimeError(f"progress sampling failed: {self.error!r}")
        return self.samples[-1] if self.samples else None

    def reached(self, column, target):
        """When column (1 inbox, 2 cursor, 3 deliveries, 4 audit) first reached target."""
        return next((s[0] for s in self.samples if s[column] >= target), None)

    def stop(self):
        self._halt.set()
        self.join(5)


# -- the benchmark ---------------------------------------------------------------------

class Bench:
    def __init__(self, cleanup, args):
        self.cleanup, self.args = cleanup, args
        self.results, self.notes = [], []
        self.services = ["docs", "signing", "routing"] + (["audit"] if args.with_audit else [])

    def setup(self):
        self.provinces, self.agencies, self.communes = national_size()
        self.n_communes = sum(map(len, self.communes.values()))
        t = time.perf_counter()
        self.client, self.env, self.role_note = start_platform(self.cleanup, self.services, self.provinces)
        self.startup_s = time.perf_counter() - t
        self.raw = psycopg.connect(BENCH_DSN, autocommit=True)
        self.cleanup.callback(self.raw.close)
        self.clerk = self.client.token("clerk", SENDER, user="van.thu@ubnd-tinh-01")
        self.leader = self.client.token("leader", SENDER, user="chu.tich@ubnd-tinh-01")
        # Certificates as an operator issues them (no automatic enrolment outside
        # development mode): the leader's and the agency's seal.
        with self.client.rpc(self.client.token("admin", SENDER, user="quan.tri@ubnd-tinh-01")) as rpc:
            rpc.signing.enroll("chu.tich@ubnd-tinh-01", SENDER, "leader", "Nguyễn Văn An")
            rpc.signing.enroll(SENDER, SENDER, "agency", SENDER)
        # Untimed: the first directory load seeds the directory stream and builds the cache.
        t = time.perf_counter()
        with self.client.rpc(self.clerk, timeout=self.args.timeout) as rpc:
            rpc.routing.resolve_addressing({"agencies": [FIRST_RECIPIENT]})
        self.seed_s = time.perf_counter() - t
        self.pdf = make_pdf("Cong dien ve ung pho bao so 3")

    # -- machine facts ------------------------------------------------------------------

    def facts(self):
        pg = {k: self.raw.execute(f"SHOW {k}").fetchone()[0]
              for k in ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                        "shared_buffers")}
        conn = amqp.Connection(f"{AMQP_HOST}:{AMQP_PORT}", userid=AMQP_USER,
                               password=AMQP_PASSWORD, virtual_host=VHOST)
        conn.connect()
        props = conn.server_properties
        conn.close()
        print_machine("Liên thông routing benchmark: one document to every commune")
        print(f"  PostgreSQL         : {pg['server_version']} at {PG_HOST}:{PG_PORT}; fsync="
              f"{pg['fsync']} synchronous_commit={pg['synchronous_commit']}"
              f" wal_sync_method={pg['wal_sync_method']} shared_buffers={pg['shared_buffers']}")
        print(f"  RabbitMQ           : {props.get('version')} ({props.get('platform')})"
              f" at {AMQP_HOST}:{AMQP_PORT}, vhost {VHOST}")
        print(f"  libraries          : psycopg {psycopg.__version__}, pika {pika.__version__},"
              f" amqp {amqp.__version__}, {_version('kombu')}, {_version('nameko')}")
        print(f"  services           : {', '.join(self.services)}, each a `nameko run`"
              f" process (max_workers 10), up in {self.startup_s:.1f} s;"
              f" audit {'RUNS and consumes every event' if self.args.with_audit else 'is NOT running (--with-audit adds it)'}")
        print(f"  directory          : DIRECTORY_SEED=national:{self.provinces}:"
              f" {self.agencies} agencies, {self.n_communes} communes"
              f" ({len(next(iter(self.communes.values())))} per province); seeded and"
              f" loaded by routing in {self.seed_s:.1f} s (untimed)")
        print(f"  document           : {len(self.pdf)}-byte PDF from {SENDER}, first addressed"
              f" to {FIRST_RECIPIENT}")
        print(f"  database / vhost   : {DB_NAME} / {VHOST} (created now, removed at the end);"
              f" service logs in {os.path.relpath(LOG_DIR)}"
              + (f"; {self.role_note}" if self.role_note else ""))
        print(f"  load average       : {os.getloadavg()[0]:.2f} (1 min, before the broadcast;"
              " above the core count, other work competes with the benchmark)")

    # -- ours ------------------------------------------------------------------------------

    def broadcast(self):
        document_id = sendable_document(self.client, self.clerk, self.leader, FIRST_RECIPIENT,
                                        self.pdf)
        self.document_id = document_id
        before = self._wait_settled(document_id)
        if self.args.addressing == "province":
            sendings = [(f"bench-{p}", {"subtree": p, "level": "commune"})
                        for p in self.communes]
        else:
            sendings = [("bench-all-communes",
                         {"agencies": [c for cs in self.communes.values() for c in cs]})]
        progress = Progress(document_id, self.args.with_audit)
        progress.start()
        self.cleanup.callback(progress.stop)
        while not progress.samples:
            time.sleep(0.01)

        latencies, new = [], 0
        t0 = time.perf_counter()
        with self.client.rpc(self.clerk, timeout=self.args.timeout) as rpc:
            for consignment_id, addressing in sendings:
                t = time.perf_counter_ns()
                result = rpc.routing.send(document_id, addressing, consignment_id)
                latencies.append(time.perf_counter_ns() - t)
                new += len(result["new_recipients"])
        sent = time.perf_counter()
        print(f"sent: {len(sendings)} consignment(s), {new} new deliveries in"
              f" {sent - t0:.1f} s; waiting for docs ...", file=sys.stderr, flush=True)

        target_position = self.raw.execute(
            "SELECT max(position) FROM routing.events WHERE stream_id = %s",
            (f"delivery-{document_id}",)).fetchone()[0]
        targets = {1: before[1] + new, 2: target_position, 3: before[3] + new}
        if self.args.with_audit:
            targets[4] = before[4] + new
        deadline = t0 + self.args.timeout
        last_print = time.perf_counter()
        while True:
            latest = progress.latest()
            if all(latest[c] >= target for c, target in targets.items()):
                break
            now = time.perf_counter()
            if now > deadline:
                progress.stop()
                latest = progress.sample(self.raw)  # fresh figures for the message
                raise SystemExit(
                    f"TIMEOUT: the deliveries did not complete within {self.args.timeout:.0f} s"
                    f" of the first send. Reached: routing inbox_items {latest[1]}/{targets[1]},"
                    f" routing relay cursor {latest[2]}/{targets[2]}, docs deliveries"
                    f" {latest[3]}/{targets[3]}"
                    + (f", audit entries {latest[4]}/{targets[4]}" if 4 in targets else "")
                    + f". Service logs: {LOG_DIR}")
            if now - last_print > 10:
                last_print = now
                print(f"  {now - t0:5.0f} s: docs handled {latest[3] - before[3]} of {new}"
                      f" (relay cursor {latest[2]}/{target_position})",
                      file=sys.stderr, flush=True)
            time.sleep(SAMPLE_S)
        progress.stop()
        at = {c: progress.reached(c, target) - t0 for c, target in targets.items()}
        handled_at_sent = max((x[3] for x in progress.samples if x[0] <= sent),
                              default=before[3]) - before[3]
        tail = at[3] - (sent - t0)
        self.notes.append(
            f"Timeline: the relay had published the last delivery {at[2] - (sent - t0):.2f} s"
            f" after the last send RPC returned. Docs had handled {handled_at_sent} of {new}"
            f" deliveries by then and needed {tail:.1f} s more for the other"
            f" {new - handled_at_sent}"
            + (f" ({(new - handled_at_sent) / tail:.0f}/s after the last send)" if tail > 0
               else "") + ".")

        unit = "1 consignment" if len(sendings) > 1 else "the one send"
        self.sent = self.add(Result(f"1. routing committed ({len(sendings)} send RPCs)", new,
                                    sent - t0, latencies, unit))
        self.visible = self.add(Result("2. visible in routing inbox_items", new, at[1], None))
        self.relayed = self.add(Result("3. published by routing's relay, confirmed", new,
                                       at[2], None))
        self.handled = self.add(Result("4. handled by docs (deliveries rows)", new, at[3],
                                       None))
        if self.args.with_audit:
            self.add(Result("5. logged by audit (entries)", new, at[4], None, info=True))
        self.new, self.sendings = new, sendings
        self.recipients = before[1] + new  # inbox items of the document (first one included)

    def _wait_settled(self, document_id):
        """Wait until the first delivery has reached docs (and audit): nothing in flight."""
        progress = Progress(document_id, self.args.with_audit)
        with psycopg.connect(BENCH_DSN, autocommit=True) as conn:
            return wait_for(lambda: (s := progress.sample(conn))[3] >= 1
                            and (not self.args.with_audit or s[4] >= 1) and s,
                            timeout=60, what="docs to record the first delivery")

    # -- raw baselines ---------------------------------------------------------------------

    def baselines(self):
        n = self.new
        position, version, envelope = self.raw.execute(
            "SELECT position, stream_version, envelope FROM routing.events"
            " WHERE event_type = 'DocumentDelivered' AND stream_id = %s"
            " ORDER BY position DESC LIMIT 1", (f"delivery-{self.document_id}",)).fetchone()
        # The body the relay publishes: the stored envelope, its version and position.
        body = json.dumps({**envelope, "stream_version": version, "position": position},
                          ensure_ascii=False).encode()
        self.body_bytes = len(body)
        self.envelope_bytes = len(json.dumps(envelope, ensure_ascii=False).encode())

        # PostgreSQL: the same number of rows, the same JSON, one transaction.
        stored = json.dumps(envelope, ensure_ascii=False)
        self.raw.execute("CREATE TABLE raw_deliveries (id bigint PRIMARY KEY, body jsonb NOT NULL)")
        self.raw.execute("CHECKPOINT")
        t = time.perf_counter()
        with self.raw.transaction(), self.raw.cursor() as cur:
            cur.executemany("INSERT INTO raw_deliveries VALUES (%s, %s)",
                            [(i, stored) for i in range(n)])
        pg_many = Result(f"PostgreSQL executemany, {n} rows, 1 tx", n,
                         time.perf_counter() - t, None, baseline_of=self.sent)
        self.raw.execute("TRUNCATE raw_deliveries")
        self.raw.execute("CHECKPOINT")
        t = time.perf_counter()
        with self.raw.transaction(), self.raw.cursor() as cur, \
                cur.copy("COPY raw_deliveries (id, body) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((i, stored))
        pg_copy = Result(f"PostgreSQL COPY, {n} rows, 1 tx", n, time.perf_counter() - t,
                         None, baseline_of=self.sent)
        self.raw.execute("DROP TABLE raw_deliveries")
        self.insert_after(self.sent, [pg_many, pg_copy])

        # RabbitMQ: publish (confirm per batch), then consume (manual acks), then both at once.
        params = pika.URLParameters(AMQP_URI)
        setup = pika.BlockingConnection(params)
        self.cleanup.callback(lambda: setup.is_open and setup.close())
        channel = setup.channel()
        channel.queue_declare(RAW_QUEUE, durable=True)
        publish_s = publish_confirmed(params, body, n)
        consume_s = consume(params, n)
        both = {}
        consumer = threading.Thread(target=lambda: both.setdefault("s", consume(params, n)),
                                    daemon=True)
        consumer.start()
        t = time.perf_counter()
        publish_confirmed(params, body, n)
        consumer.join(self.args.timeout)
        end_to_end = time.perf_counter() - t
        if "s" not in both:
            raise SystemExit("the raw consumer did not receive every message")
        channel.queue_delete(RAW_QUEUE)
        setup.close()
        self.insert_after(self.relayed, [Result(
            f"pika publish, confirm per {CONFIRM_BATCH}, 1 queue", n, publish_s, None,
            baseline_of=self.relayed)])
        self.insert_after(self.handled, [
            Result("pika publish + consume at once, end to end", n, end_to_end, None,
                   baseline_of=self.handled),
            Result(f"pika consume alone, manual acks, prefetch {CONSUMER_PREFETCH}", n,
                   consume_s, None, baseline_of=self.handled)])

    # -- report ----------------------------------------------------------------------------

    def add(self, result):
        self.results.append(result)
        return result

    def insert_after(self, ours, rows):
        i = self.results.index(ours) + 1
        while i < len(self.results) and self.results[i].baseline_of is ours:
            i += 1
        self.results[i:i] = rows

    def report(self):
        print(f"  message            : one DocumentDelivered is {self.envelope_bytes} bytes of"
              f" stored JSON (jsonb), {self.body_bytes} bytes on the wire; the raw baselines"
              " use the same bytes")
        print(f"  addressing         : {self.args.addressing}: {len(self.sendings)}"
              " consignment(s) of " + (
                  "{\"subtree\": <province>, \"level\": \"commune\"} each (the directory has"
                  " no national root, so one consignment per province)"
                  if self.args.addressing == "province" else
                  f"{{\"agencies\": [{self.n_communes} commune codes]}}"))
        print(f"  recipients         : {self.new} communes got a new delivery"
              f" ({self.recipients} inbox items of the document, with the first addressee)")
        print()
        width = max(len(self._label(r)) for r in self.results)
        header = (f"{'measurement':<{width}} {'ops':>6} {'s':>7} {'ops/s':>8} {'p50 ms':>9}"
                  f" {'p99 ms':>9}  {'latency of':<14} {'ours/base':>9}")
        print(header)
        print("-" * len(header))
        for r in self.results:
            if r.baseline_of is None and not r.info and r is not self.results[0]:
                print()
            ratio = f"{r.baseline_of.rate / r.rate:8.2f}x" if r.baseline_of else ""
            print(f"{self._label(r):<{width}} {r.ops:>6} {r.seconds:>7.2f} {r.rate:>8.0f}"
                  f" {_ms(r.pct(0.50)):>9} {_ms(r.pct(0.99)):>9}  {r.latency_of:<14}"
                  f" {ratio:>9}")
        print()
        print("ops = deliveries (ours) or rows/messages (baselines); ops/s = ops / s."
              " Ours: s counts from the first send RPC, so each row is cumulative.")
        print("ours/base = our ops/s divided by that baseline's ops/s (1.00x = as fast as raw).")
        print("1. Until the last send RPC returned: per delivery, routing appends a signed"
              " DocumentDelivered event and inserts inbox_items and copies rows, all in"
              " the consignment's transaction (the p50/p99 are per send RPC). Baselines:"
              " the same number of rows of the same JSON, in one transaction.")
        print(f"2. First {SAMPLE_S:.1f} s progress sample where routing's inbox_items held"
              " every delivery: the recipients' inboxes (committed with the events in 1).")
        print("3. Routing's outbox relay read the events and published them to routing.events"
              " (each DocumentDelivered to audit's queue, each ConsignmentSent also to"
              " docs'), waiting for confirms per batch"
              " of up to 500. Baseline: the same number of persistent messages, same size, to"
              f" 1 durable queue, one confirm wait per {CONFIRM_BATCH} (pika SelectConnection).")
        print("4. The end point: docs' on_consignment_sent (one transaction per consignment:"
              " the inbox claim, then per new recipient the deliveries row, the arrival"
              " number, the signed IncomingRegistered event and the incoming row) has"
              " registered every recipient."
              " Baselines: pika publishing as in 3 while a consumer acks each message"
              f" (prefetch {CONSUMER_PREFETCH}), end to end; and consuming the same messages"
              " from a full queue.")
        if not self.args.with_audit:
            print("Audit was not running: the relay still routes every event to audit's durable"
                  " queue, where the messages wait (--with-audit measures with audit).")
        for note in self.notes:
            print(note)

    @staticmethod
    def _label(r):
        if r.baseline_of is not None:
            return "   base: " + r.name
        return ("   " + r.name) if r.info else r.name


def _ms(nanoseconds):
    return "-" if nanoseconds is None else f"{nanoseconds / 1e6:.1f}"


# -- raw RabbitMQ ------------------------------------------------------------------------

def publish_confirmed(params, body, n):
    """Publish n persistent messages to RAW_QUEUE, waiting for the broker's confirms once
    per CONFIRM_BATCH (asynchronous pika, as pika's blocking channel waits per message).
    Returns the seconds from the first publish to the last confirm."""
    props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                 delivery_mode=2)
    state = {"sent": 0, "confirmed": 0, "start": None, "error": None}

    def publish_batch(channel):
        for _ in range(min(CONFIRM_BATCH, n - state["sent"])):
            channel.basic_publish("", RAW_QUEUE, body, props)
            state["sent"] += 1

    def on_confirm(frame, channel):
        if isinstance(frame.method, pika.spec.Basic.Nack):
            state["error"] = "the broker refused a message"
            channel.connection.close()
            return
        tag = frame.method.delivery_tag
        state["confirmed"] = tag if frame.method.multiple else max(state["confirmed"], tag)
        if state["confirmed"] == n:
            state["end"] = time.perf_counter()
            channel.connection.close()
        elif state["confirmed"] == state["sent"]:
            publish_batch(channel)

    def on_channel(channel):
        def confirming(_frame):
            state["start"] = time.perf_counter()
            publish_batch(channel)
        channel.confirm_delivery(lambda frame: on_confirm(frame, channel), callback=confirming)

    def on_open_error(_conn, err):
        state["error"] = f"connection failed: {err}"
        _conn.ioloop.stop()

    connection = pika.SelectConnection(
        params, on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_open_error_callback=on_open_error,
        on_close_callback=lambda c, reason: c.ioloop.stop())
    connection.ioloop.start()
    if state["error"] or "end" not in state:
        raise SystemExit(f"raw publish failed: {state['error'] or 'connection closed early'}")
    return state["end"] - state["start"]


def consume(params, n):
    """Consume n messages from RAW_QUEUE, acking each; seconds from the first to the last."""
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=CONSUMER_PREFETCH)
        start = None
        messages = channel.consume(RAW_QUEUE, inactivity_timeout=60)
        for got, (method, _props, _body) in enumerate(messages, start=1):
            if method is None:
                raise SystemExit(f"raw consume: nothing for 60 s after {got - 1} messages")
            if start is None:
                start = time.perf_counter()
            channel.basic_ack(method.delivery_tag)
            if got == n:
                break
        seconds = time.perf_counter() - start
        channel.cancel()
        return seconds
    finally:
        connection.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-audit", action="store_true",
                        help="run the audit service too (it consumes every event)")
    parser.add_argument("--addressing", choices=("province", "list"), default="province",
                        help="province: one {subtree, level: commune} consignment per"
                             " province (default); list: one consignment naming every commune")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds from the first send until every delivery must be handled")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # Confirms that arrive while a short-lived RPC proxy closes are harmless noise.
    logging.getLogger("amqp").setLevel(logging.ERROR)
    logging.getLogger("pika").setLevel(logging.WARNING)
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        bench = Bench(cleanup, args)
        print("starting the platform ...", file=sys.stderr, flush=True)
        bench.setup()
        bench.facts()
        print("broadcasting ...", file=sys.stderr, flush=True)
        bench.broadcast()
        print("raw baselines ...", file=sys.stderr, flush=True)
        bench.baselines()
        bench.report()
    print(f"\ntotal run time {time.perf_counter() - started:.1f} s"
          f" (database {DB_NAME}, vhost {VHOST} and the processes removed)")


if __name__ == "__main__":
    main()
