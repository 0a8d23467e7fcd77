"""The dashboard page's pure parts (``services/gateway/web_dashboard.py``): the
query's defaults, numbers in the user's language, the SVG charts, the CSV, and
the page rendered from figures the audit service's fold really gives."""

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date

from services.audit import dashboard
from services.gateway import web, web_dashboard
from shared.envelope import Actor
from tests.support.dashboard_history import PROVINCE, TREE, history


def figures(granularity="week"):
    p = dashboard.fold(history()[0])
    codes = dashboard.subtree(PROVINCE, TREE)
    result = dashboard.figures(p.sent.values(), p.copies.values(), codes,
                               dashboard.period("2026-11-01", "2026-11-30", granularity))
    return {"agency": PROVINCE, "agency_count": len(codes),
            "names": {c: f"Tên {c}" for c in codes}, **result}


def test_the_query_defaults_to_the_last_twelve_weeks_per_week():
    assert web_dashboard.asked({}, date(2026, 12, 4)) == (
        None, "2026-09-12", "2026-12-04", "week")
    assert web_dashboard.asked({"agency": " 000.01.00.H41 ", "end": "2026-06-30",
                                "granularity": "month"}, date(2026, 12, 4)) == (
        "000.01.00.H41", "2026-04-08", "2026-06-30", "month")
    # A bad end is passed on for the audit service to name.
    assert web_dashboard.asked({"end": "x"}, date(2026, 12, 4))[2] == "x"


def test_numbers_in_the_users_language():
    assert web_dashboard.percent(0.75, "vi") == "75,0%"
    assert web_dashboard.percent(0.75, "en") == "75.0%"
    assert web_dashboard.percent(None, "vi") == "—"
    assert web_dashboard.hours(9000, "vi") == "2,5 giờ"
    assert web_dashboard.hours(9000, "en") == "2.5 h"


def test_the_charts_are_svg_with_a_title_a_description_and_a_bar_per_value():
    t = web.translator("vi")
    shown = web_dashboard.charts(figures(), t, lambda d: d[5:])
    assert [c["title"] for c in shown] == [t("dash_chart_volume"), t("dash_chart_on_time")]
    volume, on_time = (c["svg"] for c in shown)
    for chart in (volume, on_time):
        root = ET.fromstring(str(chart))
        ns = "{http://www.w3.org/2000/svg}"
        assert root.get("role") == "img"
        assert root.find(ns + "title").text and root.find(ns + "desc").text
    bars = ET.fromstring(str(volume)).findall("{http://www.w3.org/2000/svg}rect")
    trend = figures()["trend"]
    assert len([b for b in bars if b.find("{http://www.w3.org/2000/svg}title") is not None]) \
        == 3 * len(trend)
    assert "<polyline" in str(on_time) or "<circle" in str(on_time)


def test_chart_labels_are_escaped():
    chart = web_dashboard.bar_chart("c", "<b>", "d", ["<x>"], [("<s>", [1])])
    assert "<b>" not in str(chart) and "&lt;x&gt;" in str(chart)
    ET.fromstring(str(chart))


def test_the_csv_has_a_line_per_period_and_the_totals():
    text = web_dashboard.csv_of(figures(), web.translator("vi"), "vi")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][:3] == ["Kỳ bắt đầu từ", "Tổng số văn bản đi", "Văn bản đi có đủ chữ ký số"]
    assert len(rows) == 1 + len(figures()["trend"]) + 1
    assert rows[-1][0] == "Cả kỳ" and rows[-1][1] == "3" and rows[-1][-1] == "75,0%"


def test_the_page_shows_the_figures_the_lists_and_accessible_charts():
    f = figures()
    html = web._env.get_template("dashboard.html").render(
        **web.helpers("vi"), actor=Actor("chu.tich", PROVINCE, "leader"), csrf="x",
        path="/web/dashboard", flash=None, f=f,
        values={"agency": PROVINCE, "start": f["start"], "end": f["end"],
                "granularity": "week"},
        charts=web_dashboard.charts(f, web.translator("vi"), lambda d: d[5:]),
        percent=lambda s: web_dashboard.percent(s, "vi"),
        hours=lambda s: web_dashboard.hours(s, "vi"),
        trend_columns=web_dashboard.TREND,
        cell=lambda c, v: web_dashboard.cell(c, v, "vi"))
    assert "<h1>Bảng điều hành</h1>" in html
    assert 'aria-current="page">Bảng điều hành' in html
    assert "Tổng số văn bản đi</dt><dd>3</dd>" in html
    assert "75,0%" in html and "2,0 giờ" in html
    assert "Danh sách văn bản quá hạn (1)" in html and "Quá hạn tiếp nhận" in html
    assert "<td>03 Đã tiếp nhận</td>" in html  # the overdue copy was accepted late
    assert 'role="img"' in html and "format=csv" in html
    assert "<figcaption>Tỷ lệ xử lý đúng hạn theo kỳ</figcaption>" in html
    for control in ("agency", "start", "end", "granularity"):
        assert f'<label for="{control}">' in html and f'id="{control}"' in html
