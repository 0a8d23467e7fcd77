"""The dashboard's projection in the audit service: it follows the log (each
entry folded once, off the append's transaction), and a rebuild from the log
gives the same rows and the same figures.
Real PostgreSQL and RabbitMQ; routing runs for the agency tree (its sample
province: the districts 000.01 and 000.02 under 000.00.00.H41, communes
under each)."""

import psycopg
import pytest
from nameko.testing.services import entrypoint_hook

from services.audit import dashboard_store
from services.audit.service import AuditService
from services.routing.service import RoutingService
from shared.db import Database
from shared.errors import Forbidden, ValidationFailed
from tests.support.client import Client
from tests.support.dashboard_history import C11, D1, PROVINCE, history

pytestmark = pytest.mark.integration

PERIOD = ("2026-11-01", "2026-11-30", "week")


@pytest.fixture
def audit(run_container, platform):
    """audit (and routing) running; the history's events signed by their producers."""
    signers = {p: platform.event_signer(p) for p in ("docs", "signing", "routing")}
    container = run_container(AuditService)
    run_container(RoutingService)
    events, ids = history()
    signed = [signers[e.producer].sign(e.at(i + 1, i + 1)) for i, e in enumerate(events)]

    def feed(chosen):
        for event in chosen:  # each its own append (and projection) transaction
            with entrypoint_hook(container, f"on_{event.producer}_event") as handle:
                handle(event.to_wire())
    return feed, signed, ids


@pytest.fixture
def stack(audit, platform):
    feed, signed, ids = audit
    feed(signed)
    return Client(platform), ids


def caught_up(platform):
    """What a dashboard answer folds first: every entry logged after the cursor."""
    db = Database(platform.pg_dsn, "audit")
    try:
        return dashboard_store.catch_up(db)
    finally:
        db.close()


def rows(platform):
    with psycopg.connect(platform.pg_dsn, autocommit=True,
                         options="-c search_path=audit") as conn:
        return dashboard_store.snapshot(conn)


def figures(client, role, agency_of_user, agency=None):
    with client.rpc(client.token(role, agency=agency_of_user)) as rpc:
        return rpc.audit.dashboard(agency, *PERIOD)


def test_the_live_projection_gives_the_figures_of_the_events(stack, platform):
    client, (a, b, c) = stack
    f = figures(client, "auditor", "000.00.00.G22", PROVINCE)
    t = f["totals"]
    assert (t["sent"], t["sent_signed"], t["received"]) == (3, 2, 5)
    assert (t["on_time"], t["overdue"], t["pending"], t["returned"]) == (3, 1, 1, 1)
    assert t["median_accept_seconds"] == 2 * 3600
    assert f["agency_count"] > 10  # the province, its departments, districts, communes
    assert f["names"][PROVINCE] == "UBND tỉnh Nghệ An (mẫu)"
    assert [o["number_notation"] for o in f["overdue"]] == [f"{a[:2]}/CT-UBND"]
    # A district's leader: their own subtree, by default their own agency.
    mine = figures(client, "leader", D1)
    assert mine["agency"] == D1 and C11 in mine["names"]
    assert (mine["totals"]["sent"], mine["totals"]["received"]) == (0, 3)


def test_a_leader_is_refused_an_agency_above_or_beside_theirs_and_a_clerk_any(stack):
    client, _ = stack
    with pytest.raises(Forbidden) as refused:
        figures(client, "leader", D1, PROVINCE)
    assert refused.value.field == "agency"
    with pytest.raises(Forbidden) as refused:
        figures(client, "clerk", PROVINCE)
    assert refused.value.field == "role"
    with client.rpc(client.token("leader")) as rpc, pytest.raises(ValidationFailed) as bad:
        rpc.audit.dashboard(None, "2026-11-30", "2026-11-01", "week")
    assert bad.value.field == "end"


def test_the_rebuilt_projection_gives_the_same_rows_and_figures(stack, platform):
    client, _ = stack
    live = figures(client, "auditor", "000.00.00.G22", PROVINCE)  # caught up first
    live_rows = rows(platform)
    assert len(live_rows[0]) == 3 and len(live_rows[1]) == 5
    # Lost (as a superuser may), then rebuilt from the log alone.
    with psycopg.connect(platform.pg_dsn, autocommit=True,
                         options="-c search_path=audit") as conn:
        conn.execute("DELETE FROM dashboard_sent")
        conn.execute("DELETE FROM dashboard_copies")
    assert rows(platform) == ([], [])
    with client.rpc(client.token("operator")) as rpc:
        assert rpc.audit.rebuild_dashboard() == {"sent": 3, "copies": 5}
    assert rows(platform) == live_rows
    assert figures(client, "auditor", "000.00.00.G22", PROVINCE) == live
    with client.rpc(client.token("leader")) as rpc, pytest.raises(Forbidden):
        rpc.audit.rebuild_dashboard()


def test_an_event_delivered_again_is_not_counted_again(audit, platform):
    feed, signed, _ = audit
    feed(signed)
    caught_up(platform)
    assert caught_up(platform) == 0  # every entry is folded once
    once = rows(platform)
    # Redelivered (a retry): older statuses that, projected again, would take
    # copies back from 06 to 03 or 04. The log appends nothing, so nothing moves.
    older = [e for e in signed if e.event_type == "StatusReported"
             and e.data["code"] in ("03", "04")]
    feed(older)
    assert caught_up(platform) == 0
    assert rows(platform) == once
    assert {r[5] for r in once[1]} >= {"06"}  # code: some copies completed
