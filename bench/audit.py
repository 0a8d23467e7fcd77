"""Audit log benchmark: the RFC 9162 transparency log beside raw PostgreSQL.

Run from the repository root::

    python -m bench.audit

It is a benchmark, not a test. It checks that every proof it times does
verify, but nothing about speed. Each figure of ours is printed next to a raw
baseline measured in the same run on the same server, with the ratio
ours / baseline. The goal set for the log (sustained appends of 5,000
events/s or more) is stated under the table with the measured figures, met
or not.

It creates its own PostgreSQL database (``lienthong_bench_audit``) and
removes it at the end, also after an error, Ctrl-C or SIGTERM. It creates the
cluster-wide role ``lienthong_audit_app`` too when it is missing, and then
drops it at the end. The audit schema is set up as the service does it
(``Database(dsn, "audit").ensure_schema(QUARANTINE_DDL + LOG_DDL)``), and
every append and read goes through ``Database(dsn, "audit", role=APP_ROLE,
settings=DB_SETTINGS)``, as in the service.

Events are built and signed (``EventSigner``, Ed25519, one key per producer)
in a pool of worker processes, always before the timed loop that appends
them. The exception is the 1,000,000-entry build, where signing runs
alongside the appends and its waits count in the build time. Every leaf is a
distinct event with its own valid signature. Memory stays bounded: events
are produced in chunks that hold a bounded number of events, and the log is
read back through a server-side cursor.

Pools: rows 2 use the service's pool, opened on the empty log. The build, and
then the proofs with the replay, each open a new one. Row 6 works on the full
log and compares a new pool with the pool of rows 2, whose prepared
statements carry plans from when the log was empty. For each pool it prints
which plans PostgreSQL uses.
"""

import base64
import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import resource
import signal
import sys
import time
import uuid
import warnings
from collections import deque
from itertools import islice
from types import MappingProxyType

import cryptography
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import (
    BenchBase, Result, _quietly, _terminate, _version, timed_loop, print_machine,
    fresh_database,
)
from services.audit import merkle
from services.audit.leaves import leaf_entry, parse_entry
from services.audit.log import APP_ROLE, DB_SETTINGS, FACTS_QUERY, LOG_DDL, TransparencyLog
from services.audit.replay import KNOWN_TYPES, fold
from shared.db import Database
from shared.envelope import (  # _freeze: the envelope's own (de)freezing of data
    Actor,
    Event,
    _freeze,
    data_digest,
    new_event,
    signing_bytes,
    system_actor,
    thaw,
)
from shared.eventsig import EventSigner

# -- where ------------------------------------------------------------------

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")

DB_NAME = "lienthong_bench_audit"
ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
BENCH_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={DB_NAME}"

# -- how much (every timed loop stops at its count or its time budget) --------

WARMUP_EVENTS = 1_000          # untimed events (rows) before each timed append (INSERT) loop
APPENDS = ((1, 3_000), (50, 20_000), (500, 40_000))  # 2. (batch size, events) per row
RAW_BATCHES = ((50, 20_000), (500, 40_000), (5_000, 100_000))  # 1b. (rows per tx, rows)
RAW_SINGLE = 3_000             # 1a. single-row INSERTs
RAW_ROW_BYTES = 700            # the raw baselines' bytea column
BUILD_TARGET = int(os.environ.get("BENCH_AUDIT_ENTRIES", "1000000"))  # 3. log size to reach
BUILD_BATCH = 5_000            #    events per TransparencyLog.append
BUILD_BUDGET_S = float(os.environ.get("BENCH_AUDIT_BUILD_S", "360"))  # stop building after this
N_PROOFS = 200                 # 4. random proofs of each kind
SEED = 9162                    #    random indexes and sizes
REPLAY_BUDGET_S = 600.0        # 5. each full read of the log stops after this
CURSOR_ROWS = 5_000            #    rows per server-side cursor fetch
LATE_EVENTS = 20_000           # 6. events per row of 500-event appends on the full log
SIGN_WORKERS = int(os.environ.get("BENCH_AUDIT_SIGNERS", "2"))  # signing processes
SIGN_CHUNK = 5_000             # events per signing task (one build batch)
SIGN_AHEAD = 4                 # signed chunks waiting at most (bounds memory)
PRODUCERS = ("docs", "signing", "routing")

RAW_DDL = "CREATE TABLE raw_rows (id bigint PRIMARY KEY, body bytea NOT NULL);"
RAW_INSERT = "INSERT INTO raw_rows (id, body) VALUES (%s, %s)"
LEAVES_QUERY = ("SELECT e.idx, e.leaf_entry, p.data FROM entries e"
                " LEFT JOIN payloads p USING (event_id) ORDER BY e.idx")


# -- measuring ----------------------------------------------------------------

def progress(text):
    print(text, file=sys.stderr, flush=True)


# -- events (built and signed in worker processes) ---------------------------------

# 12 provinces x 10 district-level agencies; codes as in AGENCY_CODE.
AGENCIES = tuple(f"000.{d:02d}.00.H{p:02d}" for p in range(1, 13) for d in range(10))
SUBJECTS = ("Chỉ thị về phòng, chống bão số 3", "Kế hoạch chuyển đổi số năm 2025",
            "Thông báo kết luận của Chủ tịch Ủy ban nhân dân tỉnh",
            "Quyết định phê duyệt dự toán kinh phí", "Công văn hướng dẫn liên thông văn bản")
DOC_TYPES = ("CV", "QD", "CT", "TB", "KH")

_signers = {}
_rng = random.Random()


def _init_worker(private_keys):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    for producer, raw in private_keys.items():
        _signers[producer] = EventSigner(producer, Ed25519PrivateKey.from_private_bytes(raw))
    _rng.seed(os.urandom(16))


def _flows(rng):
    """Events of document flows, endlessly: registered, signed, delivered to each recipient."""
    while True:
        document_id = str(uuid.uuid4())
        sender = rng.choice(AGENCIES)
        recipients = sorted(rng.sample([a for a in AGENCIES if a != sender], rng.randint(1, 3)))
        sha = hashlib.sha256(document_id.encode()).hexdigest()
        urgency = rng.randint(1, 3)
        clerk = Actor(f"clerk{rng.randrange(50)}@{sender}", sender, "clerk")
        leader = Actor(f"leader{rng.randrange(5)}@{sender}", sender, "leader")
        registered = new_event("DocumentRegistered", {
            "document_id": document_id,
            "subject": f"{rng.choice(SUBJECTS)} (số {rng.randrange(1, 9999)})",
            "document_type": rng.choice(DOC_TYPES), "urgency": urgency,
            "issuing_agency": sender, "recipients": recipients,
            "file": {"key": f"documents/{document_id}/main.pdf", "sha256": sha,
                     "size": rng.randrange(20_000, 5_000_000),
                     "content_type": "application/pdf", "version_id": None}},
            actor=clerk, producer="docs", stream_id=f"document-{document_id}").at(1)
        yield registered
        signed = new_event("DocumentSigned", {
            "document_id": document_id, "sha256": sha, "algorithm": "Ed25519",
            "key_id": os.urandom(8).hex(), "public_key": base64.b64encode(os.urandom(32)).decode(),
            "signature": base64.b64encode(os.urandom(64)).decode()},
            actor=leader, producer="signing", stream_id=f"signature-{document_id}",
            causation=registered).at(1)
        yield signed
        for version, recipient in enumerate(recipients, start=1):
            yield new_event("DocumentDelivered", {
                "document_id": document_id, "recipient": recipient, "sender": sender,
                "sha256": sha, "urgency": urgency},
                actor=system_actor("routing"), producer="routing",
                stream_id=f"delivery-{document_id}", causation=signed).at(version)


def _plain(event):
    """A signed event as plain values (an Event's mappingproxies do not pickle)."""
    a = event.actor
    return (event.event_id, event.event_type, event.schema_version, event.stream_id,
            event.stream_version, event.occurred_at, event.producer, a.user_id, a.agency,
            a.role, event.correlation_id, event.causation_id, thaw(event.data),
            event.signature["key_id"], event.signature["value"])


def _event(plain):
    (event_id, event_type, schema_version, stream_id, stream_version, occurred_at, producer,
     user_id, agency, role, correlation_id, causation_id, data, key_id, value) = plain
    return Event(event_id=event_id, event_type=event_type, schema_version=schema_version,
                 stream_id=stream_id, stream_version=stream_version, occurred_at=occurred_at,
                 producer=producer, actor=Actor(user_id, agency, role),
                 correlation_id=correlation_id, causation_id=causation_id, data=_freeze(data),
                 signature=MappingProxyType({"key_id": key_id, "value": value}))


def _sign_events(n):
    """``n`` new events signed by their producers, as plain tuples (runs in a worker)."""
    return [_plain(_signers[e.producer].sign(e)) for e in islice(_flows(_rng), n)]


class SigningPool:
    """Worker processes that build and sign events; the parent rebuilds the Events."""

    def __init__(self, private_keys, workers):
        # spawn: the workers share nothing with the parent's connections.
        self.pool = multiprocessing.get_context("spawn").Pool(
            workers, initializer=_init_worker, initargs=(private_keys,))
        self.waited = 0.0  # seconds the parent spent waiting for signed chunks

    def stream(self, total, chunk=SIGN_CHUNK, ahead=SIGN_AHEAD):
        """Exactly ``total`` signed Events, at most ``ahead`` chunks signed in advance."""
        pending, left = deque(), total
        try:
            while left or pending:
                while left and len(pending) < ahead:
                    n = min(chunk, left)
                    pending.append(self.pool.apply_async(_sign_events, (n,)))
                    left -= n
                t0 = time.perf_counter()
                plain = pending.popleft().get(timeout=300)
                self.waited += time.perf_counter() - t0
                for p in plain:
                    yield _event(p)
        finally:  # stopped early: let the chunks in flight finish before anything is timed
            for p in pending:
                p.wait(timeout=300)

    def events(self, total):
        return list(self.stream(total))

    def close(self):
        self.pool.terminate()
        self.pool.join()


# -- the world the benchmark runs in ---------------------------------------------

class Bench(BenchBase):
    def __init__(self, cleanup):
        self.cleanup = cleanup  # an ExitStack: everything opened is closed on the way out
        super().__init__()
        self.notes = []
        self.loads = []  # (step, 1-minute load average when it started)

    def setup(self):
        with warnings.catch_warnings():
            # nameko imports eventlet, which announces its own deprecation (known, accepted).
            warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
            from shared.edge.inbox import QUARANTINE_DDL

        self.private = {p: Ed25519PrivateKey.generate() for p in PRODUCERS}
        self.public = {p: k.public_key() for p, k in self.private.items()}
        self.pool = SigningPool({p: k.private_bytes_raw() for p, k in self.private.items()},
                                SIGN_WORKERS)
        self.cleanup.callback(self.pool.close)

        # Registered before creation: a half-done setup is undone too (LIFO: role last).
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            role_existed = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                         (APP_ROLE,)).fetchone() is not None
        if not role_existed:
            self.cleanup.callback(_quietly, "drop role", drop_role)
        self.role_note = "existed before, left in place" if role_existed else \
            "created now, dropped at the end"
        fresh_database(self.cleanup, ADMIN_DSN, DB_NAME)
        self.raw = psycopg.connect(BENCH_DSN, autocommit=True)
        self.cleanup.callback(self.raw.close)
        self.raw.execute(RAW_DDL)
        # As services/audit/dependencies.py does it: the owner sets the schema up,
        # the service works with the append-only role's privileges.
        Database(BENCH_DSN, "audit").ensure_schema(QUARANTINE_DDL + LOG_DDL)
        # The service's pool: opened on the empty log, used by rows 2 and again by row 6.
        self.db, self.tlog = self.fresh_pool()

        # The pool's events are the producers' own: rebuilt, they verify with their key.
        sample = self.pool.events(1_000)
        for e in sample[:50]:
            self.public[e.producer].verify(base64.b64decode(e.signature["value"]),
                                           signing_bytes(e))
        self.leaf_bytes = sum(len(leaf_entry(e)) for e in sample) / len(sample)
        self.data_bytes = sum(len(json.dumps(thaw(e.data), ensure_ascii=False).encode())
                              for e in sample) / len(sample)
        self.mix = {t: sum(e.event_type == t for e in sample) / len(sample)
                    for t in ("DocumentRegistered", "DocumentSigned", "DocumentDelivered")}
        self.raw_body = os.urandom(RAW_ROW_BYTES)

    def fresh_pool(self):
        """A new app-role pool, as the service opens it (no connection made yet)."""
        db = Database(BENCH_DSN, "audit", role=APP_ROLE, max_size=4, settings=DB_SETTINGS)
        self.cleanup.callback(db.close)
        return db, TransparencyLog(db)

    # -- machine facts --------------------------------------------------------

    def facts(self):
        pg = {k: self.raw.execute(f"SHOW {k}").fetchone()[0]
              for k in ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                        "shared_buffers", "max_wal_size", "checkpoint_timeout", "work_mem")}
        print_machine("Liên thông audit log benchmark")
        print(f"  PostgreSQL         : {pg['server_version']} at {PG_HOST}:{PG_PORT}; fsync="
              f"{pg['fsync']} synchronous_commit={pg['synchronous_commit']}"
              f" wal_sync_method={pg['wal_sync_method']}")
        print(f"                       shared_buffers={pg['shared_buffers']}"
              f" max_wal_size={pg['max_wal_size']}"
              f" checkpoint_timeout={pg['checkpoint_timeout']} work_mem={pg['work_mem']}")
        print(f"  libraries          : psycopg {psycopg.__version__},"
              f" cryptography {cryptography.__version__}, {_version('marshmallow')}")
        print(f"  signing            : Ed25519 (EventSigner), one key per producer"
              f" ({', '.join(PRODUCERS)}), in {SIGN_WORKERS} spawned worker processes")
        print(f"  events             : document flows (registered, signed, delivered to 1-3"
              f" of {len(AGENCIES)} agencies); mix "
              + ", ".join(f"{t[8:].lower()} {v:.0%}" for t, v in self.mix.items()))
        print(f"  event size         : leaf entry {self.leaf_bytes:.0f} bytes (canonical JSON,"
              f" data as its SHA-256, signature) + data {self.data_bytes:.0f} bytes of JSON"
              f" (payloads, jsonb); raw rows: {RAW_ROW_BYTES} bytes (bytea)")
        print(f"  load average       : {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"
              f" (1 / 5 / 15 min, before the first measurement; other work on this machine"
              f" shares its cores)")
        print(f"  database / role    : {DB_NAME} (created now, dropped at the end) /"
              f" {APP_ROLE} ({self.role_note})")
        print()

    # -- 1. raw baselines and 2. appends of 1, 50, 500 ------------------------

    def appends(self):
        body = self.raw_body
        self.checkpoint()
        for i in self.raw_ids(WARMUP_EVENTS):
            self.raw.execute(RAW_INSERT, (i, body))
        lat, s = timed_loop(self.raw_ids(RAW_SINGLE),
                            lambda i: self.raw.execute(RAW_INSERT, (i, body)))
        raw = {1: Result("raw INSERT, autocommit, 1 row per tx", len(lat), s, lat, "1 INSERT")}

        def raw_batch(ids):
            with self.raw.transaction(), self.raw.cursor() as cur:
                cur.executemany(RAW_INSERT, [(i, body) for i in ids])

        for size, rows in RAW_BATCHES:
            warm = [self.raw_ids(size) for _ in range(max(1, WARMUP_EVENTS // size))]
            batches = [self.raw_ids(size) for _ in range(rows // size)]
            self.checkpoint()
            for ids in warm:
                raw_batch(ids)
            lat, s = timed_loop(batches, raw_batch)
            raw[size] = Result(f"raw executemany, {size} rows per tx", len(lat) * size, s, lat,
                               f"tx of {size}")
        self.raw_results = raw

        self.split = None
        for size, total in APPENDS:
            progress(f"  signing {WARMUP_EVENTS + total} events for batches of {size} ...")
            events = self.pool.events(WARMUP_EVENTS + total)
            warm = _batches(events[:WARMUP_EVENTS], size)
            batches = _batches(events[WARMUP_EVENTS:], size)
            del events
            self.checkpoint()
            for b in warm:
                self.tlog.append(b)
            lat, s = timed_loop(batches, self.tlog.append)
            done = sum(len(b) for b in batches[:len(lat)])
            ours = self.add(Result(f"2. TransparencyLog.append, {size} per call", done, s, lat,
                                   f"append of {size}"))
            raw[size].baseline_of = ours
            self.add(raw[size])
            if size == 500:
                # Where the time goes: the per-event Python work append does, no database.
                timed = [e for b in batches[:len(lat)] for e in b]
                t0 = time.perf_counter()
                for e in timed:
                    merkle.leaf_hash(leaf_entry(e))
                    json.dumps(e.to_dict()["data"], ensure_ascii=False)
                self.split = self.add(Result("   of which: leaf_entry + leaf_hash + data JSON",
                                             len(timed), time.perf_counter() - t0, None,
                                             info=True))
                self.append_500 = ours

    # -- 3. the 1,000,000-entry build --------------------------------------------

    def build(self):
        _, tlog = self.fresh_pool()
        start_size = tlog.size()
        need = max(0, BUILD_TARGET - start_size)
        self.checkpoint()
        self.pool.waited = 0.0
        stream = self.pool.stream(need)
        appended = duplicates = 0
        lat = []
        stopped = False
        start = time.perf_counter()
        mark, mark_t, segments = start_size, start, []
        try:
            while appended < need:
                batch = list(islice(stream, BUILD_BATCH))
                if not batch:
                    break
                t0 = time.perf_counter_ns()
                duplicates += tlog.append(batch).count(None)
                lat.append(time.perf_counter_ns() - t0)
                appended += len(batch)
                size = start_size + appended
                if size - mark >= 100_000 or appended == need:
                    now = time.perf_counter()
                    segments.append((mark, size, (size - mark) / (now - mark_t)))
                    progress(f"  log size {size:>9,}: {segments[-1][2]:,.0f} events/s over the"
                             f" last {size - mark:,}, {now - start:.0f} s so far")
                    mark, mark_t = size, now
                if time.perf_counter() - start > BUILD_BUDGET_S and appended < need:
                    stopped = True
                    break
        finally:
            stream.close()
        seconds = time.perf_counter() - start
        self.size = tlog.size()
        ours = self.add(Result(f"3. build: append, {BUILD_BATCH} per call", appended, seconds,
                               lat, f"append of {BUILD_BATCH}"))
        self.raw_results[BUILD_BATCH].baseline_of = ours
        self.add(self.raw_results[BUILD_BATCH])
        self.add(Result("   of which: inside TransparencyLog.append", appended, sum(lat) / 1e9,
                        lat, f"append of {BUILD_BATCH}", info=True))
        self.build_result = ours
        first, last = (segments[0], segments[-1]) if segments else (None, None)
        self.notes.append(
            f"3. The build appended {appended:,} events in batches of {BUILD_BATCH:,}, through a"
            f" pool opened for it, from log size {start_size:,} (the events of rows 2) to"
            f" {self.size:,}"
            + (f": it STOPPED at {self.size:,} of the {BUILD_TARGET:,} planned because it ran"
               f" past its {BUILD_BUDGET_S:.0f} s budget." if stopped else
               f" (the {BUILD_TARGET:,} planned).")
            + f" Its wall time includes {self.pool.waited:.1f} s spent waiting for the"
            f" {SIGN_WORKERS} signing processes, which sign the next chunks while the appends"
            f" run and so share the {len(os.sched_getaffinity(0))} cores with this process and"
            f" PostgreSQL. Duplicates skipped by append: {duplicates} (every leaf a distinct"
            f" event)."
            + (f" Rate over the first {first[1] - first[0]:,} events: {first[2]:,.0f}/s; over"
               f" the last {last[1] - last[0]:,} (log size {last[0]:,} to {last[1]:,}):"
               f" {last[2]:,.0f}/s." if first else ""))

    # -- 4. proofs on the full log ------------------------------------------------

    def proofs(self):
        self.rdb, self.rlog = self.fresh_pool()  # used by rows 4 and 5
        n = self.size
        rng = random.Random(SEED)
        indexes = [rng.randrange(n) for _ in range(N_PROOFS)]
        olds = [rng.randrange(1, n) for _ in range(N_PROOFS)]
        with self.rdb.connection() as conn:
            rows = {r[0]: (bytes(r[1]), r[2]) for r in conn.execute(
                "SELECT e.idx, e.leaf_entry, p.data FROM entries e LEFT JOIN payloads p"
                " USING (event_id) WHERE e.idx = ANY(%s)", (indexes,))}
        root = self.rlog.root(n)

        def one_round_trip(key):  # the baseline: one primary-key SELECT, same pool
            with self.rdb.connection() as conn:
                conn.execute("SELECT hash FROM nodes WHERE level = %s AND idx = %s",
                             key).fetchone()

        leaf_keys = [(0, i) for i in indexes]
        for k in leaf_keys[:20]:
            one_round_trip(k)  # warm-up
        lat, s = timed_loop(leaf_keys, one_round_trip)
        trip = Result("1 PK SELECT on nodes, pooled connection", len(lat), s, lat, "1 query")

        def timed(name, calls, latency_of, base=None):
            out = []
            lat, s = timed_loop(calls, lambda c: out.append(c()), budget=60)
            r = self.add(Result(name, len(lat), s, lat, latency_of))
            if base is not None:
                self.add(Result(base.name, base.ops, base.seconds, base.latencies,
                                base.latency_of, baseline_of=r))
            return out

        paths = timed(f"4. inclusion(i, {n:,}), random i", [
            (lambda i=i: self.rlog.inclusion(i, n)) for i in indexes], "1 proof", trip)
        leaves = [merkle.leaf_hash(rows[i][0]) for i in indexes]
        timed("   verify_inclusion", [
            (lambda k=k: merkle.verify_inclusion(leaves[k], indexes[k], n, paths[k], root))
            for k in range(N_PROOFS)], "1 verify", self._hash_floor(paths))
        cpaths = timed(f"4. consistency(old, {n:,}), random old", [
            (lambda o=o: self.rlog.consistency(o, n)) for o in olds], "1 proof", trip)
        old_roots = timed("4. root(size), random size", [
            (lambda o=o: self.rlog.root(o)) for o in olds], "1 root", trip)
        timed("   verify_consistency", [
            (lambda k=k: merkle.verify_consistency(olds[k], n, old_roots[k], root, cpaths[k]))
            for k in range(N_PROOFS)], "1 verify", self._hash_floor(cpaths))
        timed(f"4. root({n:,})", [lambda: self.rlog.root(n)] * N_PROOFS, "1 root", trip)

        # The sampled leaves are what they should be: signed events, data matching.
        signed_ok = data_ok = 0
        for i in indexes:
            entry, data = rows[i]
            signed, content, signature = parse_entry(entry)
            with contextlib.suppress(Exception):
                self.public[content["producer"]].verify(base64.b64decode(signature["value"]),
                                                        signed)
                signed_ok += 1
            data_ok += data is not None and data_digest(data) == content["data_sha256"]
        self.notes.append(
            f"4. {N_PROOFS} random leaf indexes and {N_PROOFS} random old sizes (seed {SEED}) on"
            f" the log of {n:,}, through a pool opened after the build (rows 5 use it too);"
            f" every proof timed here verified against root({n:,}). Paths:"
            f" inclusion {_span(paths)} hashes, consistency {_span(cpaths)}. Each"
            f" generation is one query fetching every stored node it needs (unnest join on"
            f" the nodes primary key) plus the hashing of the missing right edge; the baseline"
            f" is one primary-key SELECT of one node, borrowing a connection from the same pool."
            f" The verify baselines are the floor of the arithmetic: len(path) SHA-256 node"
            f" hashes of 65 bytes in a bare loop. Of the {N_PROOFS} sampled leaves,"
            f" {signed_ok} carry a producer signature that verifies and {data_ok} have data"
            f" whose SHA-256 is the one the leaf commits to.")

    @staticmethod
    def _hash_floor(paths):
        def hashes(path):
            r = b"\x00" * 32
            for p in path:
                r = hashlib.sha256(b"\x01" + r + p).digest()

        lat, s = timed_loop(paths, hashes)
        return Result("len(path) x sha256(0x01||l||r), bare loop", len(lat), s, lat,
                      "1 path")

    # -- 5. replay ---------------------------------------------------------------------

    def _rows(self, query, params, budget):
        """Every row of ``query``, in log order, through one server-side cursor."""
        deadline = time.perf_counter() + budget
        with (self.rdb.connection() as conn, conn.transaction(),
              conn.cursor(name="replay") as cur):
            cur.itersize = CURSOR_ROWS
            cur.execute(query, params)
            for k, row in enumerate(cur):
                yield row
                if k % CURSOR_ROWS == 0 and time.perf_counter() > deadline:
                    self.replay_cut = True
                    return

    def _timed_read(self, name, query, params=()):
        start = time.perf_counter()
        n = sum(1 for _ in self._rows(query, params, REPLAY_BUDGET_S))
        return Result(name, n, time.perf_counter() - start, None)

    def replay(self):
        self.replay_cut = False
        self.rss_before_replay = _peak_rss_mb()
        types = (list(KNOWN_TYPES),)
        progress("  untimed read passes (warm the cache for the timed passes) ...")
        for query, params in ((FACTS_QUERY, types), (LEAVES_QUERY, ())):
            for _ in self._rows(query, params, REPLAY_BUDGET_S):
                pass
        progress("  timed raw reads ...")
        raw = self._timed_read("same cursor, rows only", FACTS_QUERY, types)
        leaves = self._timed_read("   the leaves and data, rows only (what verify and the"
                                  " old replay read)", LEAVES_QUERY)
        progress("  timed facts (read, no fold) ...")
        start = time.perf_counter()
        read = sum(1 for _ in self.rlog.facts(KNOWN_TYPES))
        reading = time.perf_counter() - start
        progress("  timed replay (facts + fold) ...")
        start = time.perf_counter()
        states = fold(self.rlog.facts(KNOWN_TYPES))  # as the audit service's replay does
        seconds = time.perf_counter() - start
        ours = self.add(Result("5. replay: TransparencyLog.facts + fold, whole log", read,
                               seconds, None))
        raw.baseline_of = ours
        self.add(raw)
        self.add(Result("   of which: facts alone (cursor, rows -> Fact)", read, reading, None,
                        info=True))
        leaves.info = True
        self.add(leaves)
        registered = sum(s.registered for s in states.values())
        signed = sum(s.signed for s in states.values())
        delivered = sum(len(s.delivered_to) for s in states.values())
        self.replay_result = ours
        self.notes.append(
            f"5. Ours is the audit service's replay: TransparencyLog.facts reads the index"
            f" columns the fold needs and the data ({FACTS_QUERY!r}) through a server-side"
            f" cursor ({CURSOR_ROWS:,} rows per fetch, app role), no leaf JSON parsed and no"
            f" envelope built (verify checks those columns against the signed leaves), and"
            f" services.audit.replay.fold folds them. The baseline only iterates the same"
            f" query's cursor; psycopg decodes the jsonb data in both. The info row reads the"
            f" leaves with their data, as verify does and as the replay did before. Untimed"
            f" passes read the whole log first, so the timed passes find it in the cache."
            f" Result: {len(states):,} documents ({registered:,}"
            f" registered, {signed:,} signed, {delivered:,} deliveries)"
            + (f"; a raw pass STOPPED at its {REPLAY_BUDGET_S:.0f} s budget" if self.replay_cut
               else "")
            + f". Peak memory of this process: {self.rss_before_replay:,.0f} MB before the"
            f" replay, {_peak_rss_mb():,.0f} MB after (the fold keeps one state per"
            f" document).")

    # -- 6. appends on the full log: a fresh pool and the service's own -------------------

    def late(self):
        n = self.size
        fresh_db, fresh_log = self.fresh_pool()
        rows = []
        for name, db, tlog in ((f"6. append, 500 per call, log >= {n:,}, new pool", fresh_db,
                                fresh_log),
                               ("   same, the pool of rows 2 (opened on the empty log)",
                                self.db, self.tlog)):
            progress(f"  signing {LATE_EVENTS + WARMUP_EVENTS} events ...")
            events = self.pool.events(WARMUP_EVENTS + LATE_EVENTS)
            batches = _batches(events, 500)
            del events
            self.checkpoint()
            warm = WARMUP_EVENTS // 500
            for b in batches[:warm]:
                tlog.append(b)
            lat, s = timed_loop(batches[warm:], tlog.append)
            rows.append(Result(name, 500 * len(lat), s, lat, "append of 500", info=bool(rows)))
            rows[-1].plans = plan_facts(db, self.rlog.size())
        ours, stale = rows
        base = self.raw_results[500]
        self.add(ours)
        self.add(Result(base.name, base.ops, base.seconds, base.latencies, base.latency_of,
                        baseline_of=ours))
        self.add(stale)
        self.late_result = ours

        def described(r):
            return "; ".join(f"{what}: {generic} generic / {custom} custom plans so far, now"
                             f" {shape}" for what, (generic, custom, shape) in r.plans.items())

        self.notes.append(
            f"6. The same 500-event appends once the log holds {n:,} entries (and more: these"
            f" rows add their events), first through a pool opened now, then through the pool"
            f" rows 2 used, which this process opened when the log was empty. psycopg"
            f" prepares a statement on its 5th execution on a connection, and PostgreSQL may"
            f" then reuse a generic plan built from the table as it was then. Plans on the new"
            f" pool: {described(ours)}. On the pool of rows 2: {described(stale)}. (Generic"
            f" and custom counts are PostgreSQL's pg_prepared_statements for that"
            f" connection; 'now' is EXPLAIN EXECUTE of the same prepared statement with 500"
            f" new event ids, resp. the nodes of root({n:,}).)")

    # -- report ----------------------------------------------------------------------

    def report(self):
        width = max(len(self._label(r)) for r in self.results)
        header = (f"{'measurement':<{width}} {'ops':>9} {'s':>7} {'ops/s':>9} {'p50':>9}"
                  f" {'p99':>9}  {'latency of':<14} {'ours/base':>9}")
        print(header)
        print("-" * len(header))
        for r in self.results:
            if r.baseline_of is None and not r.info and not r.name.startswith("   ") \
                    and r is not self.results[0]:
                print()
            name = self._label(r)
            p50, p99 = r.pct(0.50), r.pct(0.99)
            ratio = f"{r.baseline_of.rate / r.rate:8.2f}x" if r.baseline_of else ""
            print(f"{name:<{width}} {r.ops:>9} {r.seconds:>7.2f} {r.rate:>9.0f}"
                  f" {_lat(p50):>9} {_lat(p99):>9}  {r.latency_of:<14} {ratio:>9}")
        print()
        print("ops = events (appends, replay), rows (raw baselines), calls (proofs); ops/s ="
              " ops / s; p50/p99 = latency of one call, as named in 'latency of'.")
        print("ours/base = our ops/s divided by that baseline's ops/s (1.00x = as fast as raw).")
        print("Figures move between runs (tens of percent on a shared VM): compare a figure with"
              " the baseline beside it, measured minutes apart on the same server.")
        print("1. Baselines: INSERTs of one bigint primary key and a bytea of"
              f" {RAW_ROW_BYTES} bytes into one table with one index, as superuser, one COMMIT"
              " (one WAL flush) per transaction; batches go through executemany (one"
              " pipeline).")
        print("2. Ours per call, in one transaction: pg_advisory_xact_lock, SELECT max(idx),"
              " SELECT of the event ids already logged, one query for the frontier nodes; per"
              " event leaf_entry (signing bytes re-derived, canonical JSON), SHA-256 leaf and"
              " completed parent nodes; then executemany INTO entries (a row of ~"
              f"{self.leaf_bytes:.0f}+ bytes, 4 indexes), nodes (~2 rows per event) and payloads"
              " (jsonb), one COMMIT. The events were signed before the loop; the service's own"
              " per-event checks before it appends (envelope validation, signature"
              " verification) are not in these figures. The 'of which' row is the per-event"
              " Python part alone, on the same events, no database. All rows 2 go through one"
              " pool, opened on the empty log, as a newly deployed service's; row 6 shows what"
              " that costs later.")
        for note in self.notes:
            print(note)
        print("Load average (1 min) when each step started: "
              + ", ".join(f"{step} {load:.2f}" for step, load in self.loads)
              + f"; at the end {os.getloadavg()[0]:.2f}. Above {len(os.sched_getaffinity(0))}"
              " means other processes (on this machine: anything else running, such as test"
              " suites) were competing for the cores with this benchmark and its server.")
        self.verdict()

    def verdict(self):
        goal = 5_000
        b500, build, late = self.append_500, self.build_result, self.late_result

        def met(r):
            return "met" if r.rate >= goal else "NOT met"

        print()
        print(f"Goal: sustained appends of {goal:,} events/s or more on this machine.")
        print(f"  - batches of 500 (the service's APPEND_BATCH default), {b500.ops:,} events"
              f" over {b500.seconds:.1f} s: {b500.rate:,.0f} events/s -> {met(b500)}")
        print(f"  - build, batches of {BUILD_BATCH:,}, {build.ops:,} events over"
              f" {build.seconds:.0f} s with signing alongside: {build.rate:,.0f} events/s ->"
              f" {met(build)}")
        print(f"  - batches of 500 on the full log (row 6, new pool), {late.ops:,} events over"
              f" {late.seconds:.1f} s: {late.rate:,.0f} events/s -> {met(late)}")
        if self.split is not None:
            print(f"  - the per-event Python work of an append alone runs at"
                  f" {self.split.rate:,.0f} events/s on one core, the ceiling of this"
                  f" single-writer design before any database time.")

    @staticmethod
    def _label(r):
        return ("   base: " + r.name) if r.baseline_of is not None else r.name


def plan_facts(db, size):
    """How PostgreSQL runs the log's two lookups on ``db``'s most recent connection.

    psycopg prepares one statement per query text and parameter types, so a lookup
    may have several; the most used one that can take today's values is shown.
    """
    lookups = {
        "the duplicate check": ("SELECT event_id FROM entries WHERE event_id = ANY(",
                                lambda: [[str(uuid.uuid4()) for _ in range(500)]]),
        "the node fetch": ("SELECT n.level, n.idx, n.hash FROM nodes n JOIN unnest(",
                           lambda: list(_node_keys(size))),
    }
    facts = {}
    with db.connection() as conn:
        prepared = conn.execute(
            "SELECT name, statement, generic_plans, custom_plans, parameter_types::text[]"
            " FROM pg_prepared_statements ORDER BY generic_plans + custom_plans DESC").fetchall()
        for what, (start, params) in lookups.items():
            facts[what] = (0, 0, "not prepared")
            # Array literals as text, cast to the statement's own parameter types.
            values = ["{" + ",".join(map(str, v)) + "}" for v in params()]
            for name, _, generic, custom, types in (r for r in prepared if r[1].startswith(start)):
                placeholders = ", ".join(f"%s::{t}" for t in types)
                try:
                    with psycopg.ClientCursor(conn) as cur:
                        cur.execute(f'EXPLAIN (COSTS OFF) EXECUTE "{name}"({placeholders})',
                                    values)
                        lines = [r[0] for r in cur.fetchall()]
                except psycopg.Error as err:  # e.g. smallint[] parameters, larger values now
                    facts[what] = (generic, custom, f"(EXPLAIN failed: {str(err).splitlines()[0]})")
                    continue
                scans = [ln.strip().removeprefix("-> ").strip() for ln in lines
                         if " on entries" in ln or " on nodes" in ln]
                facts[what] = (generic, custom, " / ".join(scans) or lines[0])
                break
    return facts


def _node_keys(size):
    keys = sorted(merkle.needed_nodes(merkle.root, size))
    return ([k[0] for k in keys], [k[1] for k in keys])


def _batches(events, size):
    return [events[i:i + size] for i in range(0, len(events), size)]


def _span(paths):
    lengths = [len(p) for p in paths]
    return f"{min(lengths)}-{max(lengths)}"


def _lat(ns):
    if ns is None:
        return "-"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drop_role():
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        try:
            admin.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')
        except psycopg.errors.DependentObjectsStillReferenced:
            print(f"cleanup: role {APP_ROLE} left in place: another database now uses it",
                  file=sys.stderr)


def main():
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        bench = Bench(cleanup)
        progress("setting up (signing pool, database) ...")
        bench.setup()
        bench.facts()
        for step in (bench.appends, bench.build, bench.proofs, bench.replay, bench.late):
            progress(f"running {step.__name__} ...")
            bench.loads.append((step.__name__, os.getloadavg()[0]))
            step()
        bench.report()
    print(f"\ntotal run time {time.perf_counter() - started:.1f} s"
          f" (database {DB_NAME} dropped)")


if __name__ == "__main__":
    main()
