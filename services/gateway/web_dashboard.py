"""Bảng điều hành (the leaders' dashboard): the audit service's ``dashboard``
figures for a period, with the overdue and urgent lists, the trend as
server-rendered SVG charts (no JavaScript: each chart is described in words
and repeated as a table), and a CSV export. Leaders see their own agency and
those under it, auditors any: the audit service decides, as for the API's
``GET /v1/dashboard``."""

import csv
import io
from datetime import date, timedelta

from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from shared.errors import NotFound, ValidationFailed

DEFAULT_WEEKS = 12
# The trend's columns, in the order the table and the CSV show them.
TREND = ("sent", "sent_signed", "received", "on_time", "overdue", "pending",
         "median_accept_seconds", "median_complete_seconds", "received_urgent")
SHARES = ("signed_share", "on_time_share")
SECONDS = ("median_accept_seconds", "median_complete_seconds",
           "urgent_median_accept_seconds", "urgent_median_complete_seconds")


def asked(args, today):
    """``(agency, start, end, granularity)`` of a request's query (API and page):
    by default the last 12 weeks to today, per week, and the caller's agency
    (None: the audit service takes the caller's). The audit service checks
    the dates; here only the agency's length."""
    end = args.get("end") or today.isoformat()
    start = args.get("start") or _weeks_before(end, today)
    agency = (args.get("agency") or "").strip() or None
    if agency and len(agency) > 100:
        raise ValidationFailed("agency: an agency code", field="agency")
    return agency, start, end, args.get("granularity") or "week"


def _weeks_before(end, today):
    try:
        last = date.fromisoformat(end)
    except ValueError:
        last = today  # the service names ``end`` as the bad field
    return (last - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)).isoformat()


# -- words and numbers -----------------------------------------------------------------

def percent(share, lang):
    """75,0% in Vietnamese, 75.0% in English; an em dash when nothing to share."""
    if share is None:
        return "—"
    text = f"{share * 100:.1f}%"
    return text.replace(".", ",") if lang == "vi" else text


def hours(seconds, lang):
    """A duration in hours, one decimal (2,5 giờ / 2.5 h); an em dash for none."""
    if seconds is None:
        return "—"
    text = f"{seconds / 3600:.1f}"
    return (text.replace(".", ",") + " giờ") if lang == "vi" else text + " h"


def cell(name, value, lang):
    if name in SHARES:
        return percent(value, lang)
    if name in SECONDS:
        return hours(value, lang)
    return str(value)


# -- charts: SVG made here, shown inline ---------------------------------------------------

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 40, 40, 12
COLOURS = ("#1f5f99", "#c0392b", "#1e7a45")   # contrast >= 4.5:1 on white


def _frame(title_id, title, desc, body):
    return Markup(
        f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-labelledby="{title_id} {title_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{title_id}-desc">{escape(desc)}</desc>{body}</svg>')


def _axes(labels, top_value, suffix=""):
    plot_h = HEIGHT - BOTTOM - TOP
    parts = [f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH}" y2="{TOP + plot_h}"'
             ' stroke="#333"/>',
             f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="10"'
             f' fill="#333">{escape(_short(top_value))}{suffix}</text>',
             f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="10"'
             ' fill="#333">0</text>']
    step = (WIDTH - LEFT) / max(len(labels), 1)
    every = max(1, len(labels) // 8)   # at most about 8 labels under the axis
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(f'<text x="{LEFT + step * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}"'
                         f' text-anchor="middle" font-size="10" fill="#333">'
                         f'{escape(label)}</text>')
    return "".join(parts), step, plot_h


def _short(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def bar_chart(chart_id, title, desc, labels, series):
    """Grouped bars: ``series`` is ``[(name, [values per label])]``, with a legend."""
    top_value = max([v for _, values in series for v in values] + [1])
    axes, step, plot_h = _axes(labels, top_value)
    width = step * 0.8 / max(len(series), 1)
    bars = []
    for s, (name, values) in enumerate(series):
        colour = COLOURS[s % len(COLOURS)]
        for i, value in enumerate(values):
            h = plot_h * value / top_value
            x = LEFT + step * i + step * 0.1 + width * s
            bars.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{width:.1f}"'
                        f' height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])}:'
                        f' {escape(name)} {value}</title></rect>')
        bars.append(_legend(s, name, colour))
    return _frame(chart_id, title, desc, axes + "".join(bars))


def line_chart(chart_id, title, desc, labels, values, name):
    """One line of shares (0..1) per label, as percents; a gap where there is none."""
    axes, step, plot_h = _axes(labels, 100, "%")
    points, segments = [], []
    for i, value in enumerate(values):
        if value is None:
            if len(points) > 1:
                segments.append(points)
            points = []
            continue
        x, y = LEFT + step * (i + 0.5), TOP + plot_h * (1 - value)
        points.append(f"{x:.1f},{y:.1f}")
        segments.append([f"{x:.1f},{y:.1f}"])  # a dot even for a lone point
    if len(points) > 1:
        segments.append(points)
    body = "".join(
        f'<polyline points="{" ".join(p)}" fill="none" stroke="{COLOURS[2]}"'
        ' stroke-width="2"/>' if len(p) > 1 else
        f'<circle cx="{p[0].split(",")[0]}" cy="{p[0].split(",")[1]}" r="3"'
        f' fill="{COLOURS[2]}"/>' for p in segments)
    return _frame(chart_id, title, desc, axes + body + _legend(0, name, COLOURS[2]))


def _legend(index, name, colour):
    x = LEFT + 8 + index * 170
    return (f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="11" fill="#333">'
            f'{escape(name)}</text>')


def charts(figures, t, date_label):
    """``[{"title", "svg"}]``: the trend's two charts, each titled on the page too."""
    trend = figures["trend"]
    labels = [date_label(b["bucket"]) for b in trend]
    volume = bar_chart("chart-volume", t("dash_chart_volume"), t("dash_chart_volume_desc"),
                       labels, [(t("dash_sent"), [b["sent"] for b in trend]),
                                (t("dash_received"), [b["received"] for b in trend]),
                                (t("dash_overdue"), [b["overdue"] for b in trend])])
    on_time = line_chart("chart-on-time", t("dash_chart_on_time"),
                         t("dash_chart_on_time_desc"), labels,
                         [b["on_time_share"] for b in trend], t("dash_on_time_share"))
    return [{"title": t("dash_chart_volume"), "svg": volume},
            {"title": t("dash_chart_on_time"), "svg": on_time}]


# -- CSV ---------------------------------------------------------------------------------

def csv_of(figures, t, lang):
    """The trend and the totals, one line each (UTF-8 with a BOM, for Excel)."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = TREND + SHARES
    writer.writerow([t("dash_period_start"), *[t("dash_" + c) for c in columns]])
    for bucket in figures["trend"]:
        writer.writerow([bucket["bucket"], *[cell(c, bucket[c], lang) for c in columns]])
    writer.writerow([t("dash_total"), *[cell(c, figures["totals"][c], lang) for c in columns]])
    return "\ufeff" + out.getvalue()


# -- the page ------------------------------------------------------------------------------

def handle(ctx, today):
    """``/web/dashboard`` (GET): the page, or its CSV with ``format=csv``."""
    ctx.allow("dashboard")
    agency, start, end, granularity = asked(ctx.request.args, today)
    agency = agency or ctx.actor.agency
    values = {"agency": agency, "start": start, "end": end, "granularity": granularity}
    try:
        figures = ctx.call(lambda: ctx.service.audit.dashboard(agency, start, end,
                                                               granularity))
    except (ValidationFailed, NotFound) as err:  # said on the page, its form kept
        return ctx.error(err, template="dashboard.html", f=None, values=values, charts=[])
    if ctx.request.args.get("format") == "csv":
        response = Response(csv_of(figures, ctx.t, ctx.lang).encode("utf-8"),
                            content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="bang-dieu-hanh-{start}-{end}.csv"')
        return ctx.finish(response)
    from services.gateway.web import format_date

    return ctx.render("dashboard.html", f=figures, values=values,
                      charts=charts(figures, ctx.t, lambda d: format_date(d)[:5]),
                      percent=lambda s: percent(s, ctx.lang),
                      hours=lambda s: hours(s, ctx.lang),
                      trend_columns=TREND, cell=lambda c, v: cell(c, v, ctx.lang))
