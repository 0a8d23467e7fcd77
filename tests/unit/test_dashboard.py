"""The dashboard's fold and figures (``services/audit/dashboard.py``), pure."""

from dataclasses import astuple
from datetime import date, timedelta

import pytest

from services.audit import dashboard
from shared.errors import ValidationFailed
from tests.support.dashboard_history import (
    C11, D1, D2, PROVINCE, T0, TREE, ev, history,
)


def test_the_fold_keeps_one_row_per_document_sent_and_per_copy():
    events, (a, b, c) = history()
    p = dashboard.fold(events)
    assert set(p.sent) == {a, b, c}
    assert p.sent[a].agency == PROVINCE and p.sent[a].sent_at == T0
    assert (p.sent[a].signed, p.sent[a].sealed) == (True, True)
    assert (p.sent[b].signed, p.sent[b].urgency) == (False, 3)
    assert len(p.copies) == 5
    d2 = p.copies[(a, D2)]
    # routing's rule: a normal document arrived on Monday is due by the end of Tuesday.
    assert d2.code == "03" and d2.overdue
    assert d2.overdue_registration == T0 + timedelta(hours=39) - timedelta(milliseconds=1)
    assert p.copies[(a, D1)].completed_at == T0 + timedelta(hours=50)
    assert p.copies[(a, C11)].code == "01" and not p.copies[(a, C11)].handled


def test_the_figures_of_the_province_and_its_subtree():
    events, _ = history()
    p = dashboard.fold(events)
    codes = dashboard.subtree(PROVINCE, TREE)
    asked = dashboard.period("2026-11-01", "2026-11-30", "week")
    f = dashboard.figures(p.sent.values(), p.copies.values(), codes, asked)
    t = f["totals"]
    assert (t["sent"], t["sent_signed"], t["sent_urgent"]) == (3, 2, 1)
    assert t["signed_share"] == pytest.approx(2 / 3)
    assert (t["received"], t["on_time"], t["overdue"], t["pending"], t["returned"]) == \
        (5, 3, 1, 1, 1)
    assert t["on_time_share"] == pytest.approx(3 / 4)
    # Acceptance after 2 h, 41 h and 0.5 h: the median is 2 h; completion 50 h and 4 h.
    assert t["median_accept_seconds"] == 2 * 3600
    assert t["median_complete_seconds"] == (50 + 4) / 2 * 3600
    assert (t["received_urgent"], t["urgent_median_accept_seconds"]) == (1, 1800)
    assert [b["bucket"] for b in f["trend"]] == [
        "2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]
    first_week = f["trend"][1]
    assert (first_week["sent"], first_week["received"], first_week["overdue"]) == (2, 4, 1)
    assert f["trend"][2]["returned"] == 1
    assert [o["recipient"] for o in f["overdue"]] == [D2] and f["overdue_total"] == 1
    assert f["overdue"][0]["overdue_kind"] == "registration"
    assert [u["accept_seconds"] for u in f["urgent"]] == [1800]
    by_agency = {a["agency"]: a for a in f["agencies"]}
    assert by_agency[PROVINCE]["sent"] == 3 and by_agency[D1]["received"] == 2


def test_a_district_sees_only_its_own_subtree():
    events, _ = history()
    p = dashboard.fold(events)
    codes = dashboard.subtree(D1, TREE)
    assert codes == [D1, C11]
    f = dashboard.figures(p.sent.values(), p.copies.values(), codes,
                          dashboard.period("2026-11-01", "2026-11-30", "month"))
    assert (f["totals"]["sent"], f["totals"]["received"], f["totals"]["pending"]) == (0, 3, 1)
    assert [b["bucket"] for b in f["trend"]] == ["2026-11-01"]


def test_the_period_bounds_are_vietnam_days():
    events, _ = history()
    p = dashboard.fold(events)
    codes = dashboard.subtree(PROVINCE, TREE)
    # T0 is 09:00 on the 2nd in Vietnam (02:00 UTC): the 1st alone holds nothing.
    f = dashboard.figures(p.sent.values(), p.copies.values(), codes,
                          dashboard.period("2026-11-01", "2026-11-01", "day"))
    assert f["totals"]["sent"] == 0
    f = dashboard.figures(p.sent.values(), p.copies.values(), codes,
                          dashboard.period("2026-11-02", "2026-11-02", "day"))
    assert (f["totals"]["sent"], f["totals"]["received"]) == (1, 3)


def test_folding_in_batches_from_stored_rows_gives_the_rows_of_one_fold():
    """What the live projection does (load the touched rows, apply a batch,
    write back) gives the rows a rebuild's single fold gives."""
    events, _ = history()
    whole = dashboard.fold(events)
    stored_sent, stored_copies = {}, {}
    for i in range(0, len(events), 4):
        batch = events[i:i + 4]
        ids = {str(e.data["document_id"]) for e in batch}
        p = dashboard.Projection(
            [dashboard.Sent(*row) for k, row in stored_sent.items() if k in ids],
            [dashboard.Copy(*row) for k, row in stored_copies.items() if k[0] in ids])
        for event in batch:
            p.apply(event)
        stored_sent.update({k: astuple(p.sent[k]) for k in p.dirty_sent})
        stored_copies.update({k: astuple(p.copies[k]) for k in p.dirty_copies})
    assert stored_sent == {k: astuple(v) for k, v in whole.sent.items()}
    assert stored_copies == {k: astuple(v) for k, v in whole.copies.items()}


def test_an_agreed_revoke_takes_the_copy_out_of_the_handling_figures():
    events, (a, _, _) = history()
    events.append(ev("routing", "RecallAnswered", {
        "document_id": a, "recipient": C11, "code": "15", "business_type": 1}, T0))
    p = dashboard.fold(events)
    f = dashboard.figures(p.sent.values(), p.copies.values(),
                          dashboard.subtree(PROVINCE, TREE),
                          dashboard.period("2026-11-01", "2026-11-30", "week"))
    assert (f["totals"]["received"], f["totals"]["recalled"], f["totals"]["pending"]) == \
        (5, 1, 0)


def test_events_the_dashboard_does_not_read_change_nothing():
    p = dashboard.fold([ev("docs", "DocumentRegistered", {"document_id": "x"}, T0),
                        ev("gateway", "RequestDenied", {"document_id": "x"}, T0)])
    assert (p.sent, p.copies) == ({}, {})


@pytest.mark.parametrize("start, end, granularity, field", [
    ("2026-13-01", "2026-12-31", "week", "start"),
    ("2026-12-01", "", "week", "end"),
    ("2026-12-31", "2026-12-01", "week", "end"),
    ("2026-12-01", "2026-12-31", "year", "granularity"),
    ("2026-01-01", "2026-12-31", "day", "granularity"),
    ("2020-01-01", "2026-12-31", "month", "end"),
])
def test_a_bad_period_is_refused_naming_its_field(start, end, granularity, field):
    with pytest.raises(ValidationFailed) as refused:
        dashboard.period(start, end, granularity)
    assert refused.value.field == field


def test_buckets_start_on_monday_or_the_first_of_the_month():
    asked = dashboard.period("2026-01-30", "2026-03-02", "month")
    assert asked.buckets() == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert dashboard.bucket_of(date(2026, 12, 13), "week") == date(2026, 12, 7)


def test_the_subtree_is_the_agency_and_every_descendant():
    assert dashboard.subtree(PROVINCE, TREE) == sorted([PROVINCE, D1, D2, C11])
    assert dashboard.subtree(D2, TREE) == [D2]
