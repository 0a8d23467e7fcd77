"""Foundation benchmark: event store, outbox relay and inbox beside raw baselines.

Run from the repository root::

    python -m bench.foundation

It is a benchmark, not a test: nothing here asserts on speed. Every figure
of ours is printed next to a raw baseline measured in the same run on the
same machine (same servers, same payload size), with the ratio
ours / baseline. It creates its own PostgreSQL database and RabbitMQ vhost
and removes both at the end, also after an error, Ctrl-C or SIGTERM.

Plain OS threads only: no eventlet monkey patching (nameko is imported, for
``ServiceEvents``, but its hub is never started).
"""

import contextlib
import json
import os
import signal
import sys
import time
import uuid
import warnings

import amqp
import pika
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import (
    BenchBase, Result, BUDGET_S, _quietly, _terminate, _version, timed_loop, threaded_loops,
    print_machine, fresh_database, fresh_vhost,
)
from shared.db import Database
from shared.eventsig import EventSigner, TrustedKeys
from shared.eventstore import EVENT_STORE_DDL, PostgresEventStore
from shared.groupcommit import GroupCommitter
from shared.green import eventlet_patched
from shared.outbox import BrokerPublisher, OutboxRelay
from shared.topology import ALL, Subscription, exchange_name, subscriptions_of
from shared.wire import event_from_dict
from tests.unit.eventstore_contract import make_event, new_stream

# -- where ------------------------------------------------------------------

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
AMQP_HOST = os.environ.get("BENCH_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("BENCH_AMQP_PORT", "5672"))
AMQP_USER = os.environ.get("BENCH_AMQP_USER", "guest")
AMQP_PASSWORD = os.environ.get("BENCH_AMQP_PASSWORD", "guest")

DB_NAME = "lienthong_bench"
VHOST = "lienthong_bench"
ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
BENCH_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={DB_NAME}"
AMQP_URI = f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@{AMQP_HOST}:{AMQP_PORT}/{VHOST}"

# -- how much (every timed loop stops at its count or its time budget) --------

WARMUP = 50                # untimed operations before each timed loop
N_SINGLE = 3_000           # 1. single appends / single INSERTs
N_BATCHES, BATCH = 300, 100  # 2. 300 x 100 = 30,000 events / rows
WRITERS = (1, 4, 16)       # 3. concurrent writers ...
N_CONCURRENT = 3_200       #    ... sharing this many operations
N_RELAY = 20_000           # 4. events the relay drains (and messages pika publishes)
RELAY_BATCH = 500          #    the relay's batch size (one confirm wait per batch)
RELAY_BUDGET_S = 10.0      #    N_RELAY is lowered if the warm-up batch says it would take longer
N_INBOX = 3_000            # 5. events handled once / single INSERTs
ENVELOPE_BYTES = 600       # target size of an event's JSON envelope (the jsonb column)

RAW_DDL = """
CREATE TABLE raw_events (id bigint PRIMARY KEY, body jsonb NOT NULL);
CREATE TABLE raw_effects (event_id uuid NOT NULL, note text NOT NULL);
"""
EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS effects (event_id uuid NOT NULL, note text NOT NULL);"
RAW_INSERT = "INSERT INTO raw_events (id, body) VALUES (%s, %s)"


# -- measuring ----------------------------------------------------------------

# -- the world the benchmark runs in ---------------------------------------------

class Bench(BenchBase):
    def __init__(self, cleanup):
        self.cleanup = cleanup  # an ExitStack: everything opened is closed on the way out
        super().__init__()
        self.notes = []

    def setup(self):
        fresh_vhost(self.cleanup, VHOST, AMQP_USER)
        fresh_database(self.cleanup, ADMIN_DSN, DB_NAME)
        self.raw = self._connect()
        self.raw.execute(RAW_DDL)
        self.docs_db = Database(BENCH_DSN, "docs", max_size=max(WRITERS) + 1)
        self.cleanup.callback(self.docs_db.close)
        self.store = PostgresEventStore(self.docs_db)
        self.store.create_schema()
        self.sample = make_event(new_stream(), 1, summary=summary_padding())
        self.envelope_json = json.dumps(self.sample.to_dict(), ensure_ascii=False)

    def _connect(self):
        conn = psycopg.connect(BENCH_DSN, autocommit=True)
        self.cleanup.callback(conn.close)
        return conn

    # -- machine facts --------------------------------------------------------

    def facts(self):
        pg = {k: self.raw.execute(f"SHOW {k}").fetchone()[0]
              for k in ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                        "shared_buffers")}
        conn = amqp.Connection(f"{AMQP_HOST}:{AMQP_PORT}", userid=AMQP_USER,
                               password=AMQP_PASSWORD, virtual_host=VHOST)
        conn.connect()
        props = conn.server_properties
        conn.close()
        print_machine("Liên thông foundation benchmark")
        print(f"  PostgreSQL         : {pg['server_version']} at {PG_HOST}:{PG_PORT}; fsync="
              f"{pg['fsync']} synchronous_commit={pg['synchronous_commit']}"
              f" wal_sync_method={pg['wal_sync_method']} shared_buffers={pg['shared_buffers']}")
        print(f"  RabbitMQ           : {props.get('version')} ({props.get('platform')})"
              f" at {AMQP_HOST}:{AMQP_PORT}, vhost {VHOST}")
        print(f"  libraries          : psycopg {psycopg.__version__}, pika {pika.__version__},"
              f" amqp {amqp.__version__}, {_version('kombu')}, {_version('nameko')}")
        print(f"  eventlet patched   : {'yes' if eventlet_patched() else 'no'} (plain OS threads)")
        print(f"  event envelope     : {len(self.envelope_json.encode())} bytes of JSON"
              f" (jsonb column; the raw baselines store the same bytes),"
              f" {len(json.dumps(self.sample.at(1, 1).to_wire(), ensure_ascii=False).encode())}"
              " bytes on the wire")
        print(f"  database / vhost   : {DB_NAME} / {VHOST} (created now, removed at the end)")
        print()

    # -- 1. single appends ----------------------------------------------------

    def single(self):
        body = self.envelope_json
        self.checkpoint()
        for i in self.raw_ids(WARMUP):
            self.raw.execute(RAW_INSERT, (i, body))
        lat, s = timed_loop(self.raw_ids(N_SINGLE),
                            lambda i: self.raw.execute(RAW_INSERT, (i, body)))
        base = Result("raw INSERT, autocommit, 1 conn", len(lat), s, lat, "1 INSERT")

        events = fresh_singles(WARMUP + N_SINGLE)
        self.checkpoint()
        for e in events[:WARMUP]:
            self.store.append(e.stream_id, 0, [e])
        lat, s = timed_loop(events[WARMUP:], lambda e: self.store.append(e.stream_id, 0, [e]))
        ours = self.add(Result("1. append, 1 event per tx", len(lat), s, lat, "1 append"))
        base.baseline_of = ours
        self.add(base)
        self.single_rates = (ours.rate, base.rate)

    # -- 2. batched appends ---------------------------------------------------

    def batched(self):
        body = self.envelope_json

        def raw_batch(ids):
            with self.raw.transaction(), self.raw.cursor() as cur:
                cur.executemany(RAW_INSERT, [(i, body) for i in ids])

        batches = [self.raw_ids(BATCH) for _ in range(5 + N_BATCHES)]
        self.checkpoint()
        for ids in batches[:5]:
            raw_batch(ids)
        lat, s = timed_loop(batches[5:], raw_batch)
        base = Result(f"raw executemany, {BATCH} rows per tx", len(lat) * BATCH, s, lat,
                      f"tx of {BATCH}")

        groups = fresh_batches(5 + N_BATCHES, BATCH)
        self.checkpoint()
        for g in groups[:5]:
            self.store.append(g[0].stream_id, 0, g)
        lat, s = timed_loop(groups[5:], lambda g: self.store.append(g[0].stream_id, 0, g))
        ours = self.add(Result(f"2. append, {BATCH} events per call", len(lat) * BATCH, s, lat,
                               f"append of {BATCH}"))
        base.baseline_of = ours
        self.add(base)

    # -- 3. concurrent single appends -------------------------------------------

    def concurrent(self):
        body = self.envelope_json
        grouped = PostgresEventStore(self.docs_db, group=GroupCommitter(self.docs_db))
        rates = {}
        for threads in WRITERS:
            per_thread = N_CONCURRENT // threads
            conns = [self._connect() for _ in range(threads)]

            def raw_insert(item):
                conn_index, i = item
                conns[conn_index].execute(RAW_INSERT, (i, body))

            def slices(n):
                return [[(t, i) for i in self.raw_ids(n)] for t in range(threads)]

            self.checkpoint()
            threaded_loops(slices(WARMUP), raw_insert)
            lat, s = threaded_loops(slices(per_thread), raw_insert)
            base = Result(f"raw INSERT, {threads} threads x 1 conn", len(lat), s, lat,
                          "1 INSERT")
            for kind, store in (("own commit", self.store), ("group commit", grouped)):
                def append(e, store=store):
                    store.append(e.stream_id, 0, [e])

                events = fresh_singles(threads * (WARMUP + per_thread))
                warm, timed = events[:threads * WARMUP], events[threads * WARMUP:]
                self.checkpoint()
                threaded_loops([warm[t::threads] for t in range(threads)], append)  # the pool
                commits = grouped.group.commits
                lat, s = threaded_loops([timed[t::threads] for t in range(threads)], append)
                shared = (f" ({len(lat) / max(grouped.group.commits - commits, 1):.1f}/commit)"
                          if store is grouped else "")
                ours = self.add(Result(f"3. append, {threads} threads, {kind}{shared}", len(lat),
                                       s, lat, "1 append"))
                rates[(threads, kind)] = ours.rate
                self.add(Result(base.name, base.ops, base.seconds, base.latencies,
                                base.latency_of, baseline_of=ours))
            for conn in conns:
                conn.close()
        self.notes.append(
            "3. Our appends serialise on the log_head row lock by design: positions are handed"
            " out in commit order. With its own commit, each append holds the lock from its"
            " UPDATE to its COMMIT (WAL flush included). With group commit"
            " (shared/groupcommit.py; the services' GROUP_COMMIT, off by default), the writers of one process"
            " share one transaction, each in a savepoint, and one WAL flush: "
            + ", ".join(f"{t} writer(s) {rates[(t, 'group commit')] / rates[(t, 'own commit')]:.2f}x"
                        f" own commit" for t in WRITERS)
            + f" (all on {len(os.sched_getaffinity(0))} cores, shared by the client threads and"
            " both servers; each ratio column compares with raw inserts on as many"
            " connections).")

    # -- 4. outbox relay vs pika -------------------------------------------------

    def relay(self):
        props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                     delivery_mode=2)
        body = json.dumps(self.sample.at(1, 1).to_wire(), ensure_ascii=False).encode()
        docs_queues = [s.queue for s in subscriptions_of("docs")]

        params = pika.URLParameters(AMQP_URI)
        connection = pika.BlockingConnection(params)
        self.cleanup.callback(_quietly, "close pika", connection.close)

        # Ours first: it decides N (bounded by RELAY_BUDGET_S).
        needed = N_RELAY + RELAY_BATCH
        head = self.store.head()
        while head < needed:  # earlier measurements normally stored plenty already
            group = fresh_batches(1, RELAY_BATCH)[0]
            self.store.append(group[0].stream_id, 0, group)
            head = self.store.head()
        publisher = BrokerPublisher(AMQP_URI, "docs")
        self.cleanup.callback(publisher.close)
        publisher.connect()  # declares docs.events and its subscriber queues (untimed)
        relay = OutboxRelay(self.store, publisher, batch_size=RELAY_BATCH)
        relay._save_cursor(head - needed)
        self.checkpoint()
        t0 = time.perf_counter()
        relay.publish_pending()  # warm-up batch, untimed
        warm_rate = RELAY_BATCH / (time.perf_counter() - t0)
        n = N_RELAY
        if n / warm_rate > RELAY_BUDGET_S:
            n = max(RELAY_BATCH, int(warm_rate * RELAY_BUDGET_S) // RELAY_BATCH * RELAY_BATCH)
            relay._save_cursor(head - n)
        purge(connection, docs_queues)

        batch_latencies = []
        publish_pending = relay.publish_pending

        def timed_publish_pending():
            t = time.perf_counter_ns()
            count = publish_pending()
            if count:
                batch_latencies.append(time.perf_counter_ns() - t)
            return count

        publish_latencies = []
        publish_batch = publisher.publish_batch

        def timed_publish_batch(batch):
            t = time.perf_counter_ns()
            publish_batch(batch)
            publish_latencies.append(time.perf_counter_ns() - t)

        relay.publish_pending = timed_publish_pending
        publisher.publish_batch = timed_publish_batch
        start = time.perf_counter()
        drained = relay.drain()
        seconds = time.perf_counter() - start
        ours = self.add(Result(f"4. OutboxRelay.drain(), batch {RELAY_BATCH}", drained, seconds,
                               batch_latencies, f"batch of {RELAY_BATCH}"))
        publisher.close()
        in_broker = sum(publish_latencies) / 1e9
        breakdown = [
            Result("   of which: publish_batch (AMQP + confirms)", drained, in_broker,
                   publish_latencies, f"batch of {RELAY_BATCH}", info=True),
            Result("   of which: read_all + cursor (PostgreSQL)", drained, seconds - in_broker,
                   [b - p for b, p in zip(batch_latencies, publish_latencies, strict=True)],
                   f"batch of {RELAY_BATCH}", info=True),
        ]
        purge(connection, docs_queues)

        # Baseline: one synchronous confirm per message, to one durable queue.
        channel = connection.channel()
        channel.queue_declare("bench.raw.confirm", durable=True)
        channel.confirm_delivery()
        for _ in range(WARMUP):
            channel.basic_publish("", "bench.raw.confirm", body, props)
        lat, s = timed_loop(range(n), lambda _: channel.basic_publish(
            "", "bench.raw.confirm", body, props))
        self.add(Result("pika publish, confirm per msg, 1 queue", len(lat), s, lat, "1 publish",
                        baseline_of=ours))
        channel.queue_delete("bench.raw.confirm")
        channel.close()

        # Upper bound: no confirms at all (nothing guaranteed). One passive declare at
        # the end is a round trip: the broker has handled every publish before it answers.
        def unconfirmed(exchange, routing_key, queue, name):
            channel = connection.channel()
            if not exchange:
                channel.queue_declare(queue, durable=True)
            for _ in range(WARMUP):
                channel.basic_publish(exchange, routing_key, body, props)
            start = time.perf_counter()
            for _ in range(n):
                channel.basic_publish(exchange, routing_key, body, props)
            channel.queue_declare(queue, passive=True)
            seconds = time.perf_counter() - start
            self.add(Result(name, n, seconds, None, baseline_of=ours))
            channel.close()

        unconfirmed("", "bench.raw.noconfirm", "bench.raw.noconfirm",
                    "pika publish, no confirms, 1 queue")
        connection.channel().queue_delete("bench.raw.noconfirm")
        unconfirmed(exchange_name("docs"), self.sample.event_type, docs_queues[-1],
                    f"pika, no confirms, docs.events ({len(docs_queues)} queues)")
        cleanup = connection.channel()
        for q in docs_queues:
            cleanup.queue_delete(q)
        cleanup.close()
        for r in breakdown:
            self.add(r)
        self.notes.append(
            f"4. Ours reads the events after its cursor from PostgreSQL (JSON + envelope"
            f" validation), publishes {RELAY_BATCH} at a time to docs.events, which routes each"
            f" event to {len(docs_queues)} durable queues ({', '.join(docs_queues)}), waits once"
            f" per batch for the broker's confirms, then saves its cursor. The first baseline"
            f" waits for one confirm per message into 1 queue; the no-confirm rows are upper"
            f" bounds (nothing is known to be stored), into 1 queue and into the same"
            f" {len(docs_queues)} queues as ours. The 'of which' rows split our time per batch"
            f" into the broker part and the PostgreSQL part (reading, decoding and validating"
            f" the events, saving the cursor). N = {n} events/messages"
            f"{'' if n == N_RELAY else f' (lowered from {N_RELAY} to fit {RELAY_BUDGET_S:.0f} s)'};"
            f" the per-message-confirm row stops at {BUDGET_S:.0f} s.")

    # -- 5. inbox ------------------------------------------------------------------

    def inbox(self):
        with warnings.catch_warnings():
            # nameko imports eventlet, which announces its own deprecation (known, accepted).
            warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
            from shared.edge.inbox import QUARANTINE_DDL, ServiceEvents

        db = Database(BENCH_DSN, "routing", max_size=8)
        self.cleanup.callback(db.close)
        db.ensure_schema(EVENT_STORE_DDL + QUARANTINE_DDL + EFFECTS_DDL)
        # Signed by docs and checked as every consumer checks (signature, catalogue, source).
        docs = EventSigner("docs", Ed25519PrivateKey.generate())
        trusted = TrustedKeys()
        trusted.add("docs", docs.public_raw)
        events = ServiceEvents(PostgresEventStore(db), "routing", trusted=trusted,
                               subscriptions=(Subscription("docs", ALL, "routing", "bench"),))
        payloads = [docs.sign(e.at(1, i)).to_wire() for i, e in
                    enumerate(fresh_singles(WARMUP + N_INBOX), start=1)]

        def effect(event, conn):
            conn.execute("INSERT INTO effects (event_id, note) VALUES (%s, %s)",
                         (event.event_id, "applied"))

        def raw(event_id):
            self.raw.execute("INSERT INTO raw_effects (event_id, note) VALUES (%s, %s)",
                             (event_id, "applied"))

        ids = [str(uuid.uuid4()) for _ in range(WARMUP + N_INBOX)]
        self.checkpoint()
        for i in ids[:WARMUP]:
            raw(i)
        lat, s = timed_loop(ids[WARMUP:], raw)
        base = Result("raw INSERT, autocommit, 1 conn", len(lat), s, lat, "1 INSERT")

        self.checkpoint()
        for p in payloads[:WARMUP]:
            events.handle_once("routing.bench", p, effect)
        lat, s = timed_loop(payloads[WARMUP:],
                            lambda p: events.handle_once("routing.bench", p, effect))
        ours = self.add(Result("5. handle_once, effect = 1 INSERT", len(lat), s, lat,
                               "1 event"))
        base.baseline_of = ours
        self.add(base)

        lat, s = timed_loop(payloads[WARMUP:], event_from_dict)
        self.add(Result("   of which: envelope validation only", len(lat), s, lat,
                        "1 event", info=True))
        self.notes.append(
            "5. Ours per event: validate the envelope (marshmallow), then one transaction with"
            " the inbox INSERT ... ON CONFLICT DO NOTHING and the effect's INSERT, one COMMIT."
            " The baseline is the effect's INSERT alone, committed on its own.")

    # -- report ----------------------------------------------------------------------

    def report(self):
        width = max(len(self._label(r)) for r in self.results)
        header = (f"{'measurement':<{width}} {'ops':>7} {'s':>6} {'ops/s':>9} {'p50 ms':>8}"
                  f" {'p99 ms':>8}  {'latency of':<14} {'ours/base':>9}")
        print(header)
        print("-" * len(header))
        for r in self.results:
            if r.baseline_of is None and not r.info and r is not self.results[0]:
                print()
            name = self._label(r)
            p50, p99 = r.pct(0.50), r.pct(0.99)
            ratio = f"{r.baseline_of.rate / r.rate:8.2f}x" if r.baseline_of else ""
            print(f"{name:<{width}} {r.ops:>7} {r.seconds:>6.2f} {r.rate:>9.0f}"
                  f" {_ms(p50):>8} {_ms(p99):>8}  {r.latency_of:<14} {ratio:>9}")
        print()
        print("ops = events (ours) or rows/messages (baselines); ops/s = ops / s;"
              " p50/p99 = latency of one call, as named in 'latency of'.")
        print("ours/base = our ops/s divided by that baseline's ops/s (1.00x = as fast as raw).")
        print("Figures move between runs (tens of percent on a shared VM): compare a figure with"
              " the baseline beside it, measured minutes apart on the same servers.")
        print("1. Ours per append: UPDATE log_head (row lock), SELECT the stream version, INSERT"
              " into events (3 unique indexes), pg_notify, COMMIT. The baseline: one INSERT into"
              " a table with one index. Both flush the WAL once per COMMIT.")
        print("2. The same, 100 events (rows) per transaction; psycopg sends executemany as one"
              " pipeline in both.")
        for note in self.notes:
            print(note)

    @staticmethod
    def _label(r):
        return ("   base: " + r.name) if r.baseline_of is not None else r.name


def _ms(nanoseconds):
    return "-" if nanoseconds is None else f"{nanoseconds / 1e6:.3f}"


def summary_padding():
    """A Vietnamese summary that brings the envelope to about ENVELOPE_BYTES of JSON."""
    base = len(json.dumps(make_event(new_stream(), 1, summary="").to_dict(),
                          ensure_ascii=False).encode())
    text = ("Về việc triển khai liên thông văn bản điện tử giữa các cơ quan nhà nước, "
            "ký số và gửi nhận qua trục liên thông. ") * 4
    while len(text.encode()) > ENVELOPE_BYTES - base:
        text = text[:-1]
    return text


def fresh_singles(n):
    """n new events, each the first of its own stream (built before timing)."""
    pad = summary_padding()
    return [make_event(new_stream(), i, summary=pad) for i in range(n)]


def fresh_batches(groups, size):
    pad = summary_padding()
    result = []
    for _ in range(groups):
        stream = new_stream()
        result.append([make_event(stream, i, summary=pad) for i in range(size)])
    return result


def purge(connection, queues):
    channel = connection.channel()
    for q in queues:
        channel.queue_purge(q)
    channel.close()


def main():
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        bench = Bench(cleanup)
        bench.setup()
        bench.facts()
        for step in (bench.single, bench.batched, bench.concurrent, bench.relay, bench.inbox):
            print(f"running {step.__name__} ...", file=sys.stderr, flush=True)
            step()
        bench.report()
    print(f"\ntotal run time {time.perf_counter() - started:.1f} s"
          f" (database {DB_NAME} and vhost {VHOST} removed)")


if __name__ == "__main__":
    main()
