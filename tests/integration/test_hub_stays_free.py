"""Database waits and CPU work must not freeze a service's other workers."""

import hashlib
import time

import eventlet
import pytest
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook

from shared.edge.providers import EventStoreProvider
from shared.green import run_cpu
from tests.support.hub import longest_pause_while

pytestmark = pytest.mark.integration


class SlowService:
    name = "slowpoke"
    events = EventStoreProvider(relay=False)

    @rpc
    def slow_query(self, seconds):
        with self.events.transaction() as conn:
            conn.execute("SELECT pg_sleep(%s)", (seconds,))
        return True


def test_eight_slow_queries_inside_a_service_overlap(run_container):
    container = run_container(SlowService)
    pool = eventlet.GreenPool()

    def call():
        with entrypoint_hook(container, "slow_query") as slow_query:
            return slow_query(0.5)

    started = time.monotonic()
    results = [pool.spawn(call) for _ in range(8)]
    assert all(gt.wait() for gt in results)
    elapsed = time.monotonic() - started
    # One after another they would take 4 s; overlapping, about 0.5 s.
    assert elapsed < 1.5, f"8 x pg_sleep(0.5) took {elapsed:.2f}s: the hub was blocked"


DATA = b"x" * (64 * 1024 * 1024)


def hash_a_lot():
    for _ in range(6):
        hashlib.sha256(DATA).digest()


def test_cpu_work_through_run_cpu_leaves_the_hub_free():
    run_cpu(lambda: None)  # tpool starts its threads on first use: not what we measure
    gap, duration, _ = longest_pause_while(lambda: run_cpu(hash_a_lot))
    # The ticker keeps ticking: no pause near the length of the work.
    assert gap < duration / 4, (gap, duration)


def test_the_same_cpu_work_on_the_hub_freezes_it():
    # The control: proves the measurement above can fail.
    gap, duration, _ = longest_pause_while(hash_a_lot)
    assert gap > duration * 0.8, (gap, duration)


def test_a_pades_signature_with_its_time_stamp_runs_off_the_hub():
    """The signing service's work: pyHanko (asyncio inside) and an HTTP round trip
    to the time-stamping authority, in a real thread while the hub keeps ticking.
    The TSA itself answers from a green thread of this process, as in the service."""
    from datetime import UTC, datetime, timedelta

    from infra.samples import make_pdf
    from services.signing import pades, pki, tsa

    now = datetime.now(UTC)
    ca = pki.create_root_ca("Root (test)", now - timedelta(days=1), now + timedelta(days=30))
    leader = pki.issue_personal_cert(ca, "Nguyễn Văn An", "000.00.00.H41", "leader")
    # Large enough that one signature (hashing included, 0.25-0.45 s here) lasts
    # well over the hub's pauses when a real thread holds the GIL (20-60 ms seen
    # quiet, 200 ms once with three test suites loading the 2 cores): on the hub,
    # one signature alone would be a pause of half the whole.
    pdf = make_pdf("hub", padding=160 * 1024 * 1024)
    with tsa.TsaServer(tsa.TimeStampAuthority(tsa.issue_tsa_cert(ca))) as server:
        def sign_two():
            for _ in range(2):
                run_cpu(pades.sign_as_leader, pdf, leader, "Chủ tịch", "Nguyễn Văn An",
                        timestamper_url=server.url)
        run_cpu(lambda: None)
        gap, duration, _ = longest_pause_while(sign_two)
    assert gap < duration / 5, (gap, duration)
