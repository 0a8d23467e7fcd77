"""The demo's history (``infra/demo.py --history N``, on by default with
``--keep``): N past weeks of documents, so that the leaders' dashboard (bảng
điều hành) has weeks to show and overdue copies to list.

Everything goes through the gateway's HTTP API as in the demo's scenario,
each user doing their part; only the time is moved, by the development
clock (``shared.clock``: docs, signing and routing started in development
mode with ``DEV_CLOCK_FILE``). Certificates and time stamps stay on the real
time: a signature of a document dated five weeks back carries today's time
stamp, as it truly was made today.

Each past week k (N weeks back to 1), the province sends one công văn to two
districts and a commune on the Tuesday at 08:30 (every third week Khẩn,
urgent: two hours to register it). The first district and the commune
accept it (an urgent one within the hour, else in the afternoon); the second
district accepts it only in the even weeks, so in the odd weeks its copy is
left at 01 past its deadline and routing's overdue watch reports it. On the
Friday the first district reports 04 and completes it (06), the commune 04.

The figures the dashboard then shows, per past week: 1 sent, 3 received,
1 overdue in the odd weeks (``expected``).
"""

import io
from datetime import datetime, time as day_time, timedelta

from infra.client import wait_for
from infra.samples import make_pdf
from shared import clock
from shared.values import VIETNAM

SUBJECT = "Công văn về báo cáo tình hình tuần {week}"
SENDER_CLERK, LEADER = "van.thu@ubnd-tinh", "chu.tich@ubnd-tinh"
ON_TIME, LATE_IN_ODD_WEEKS, COMMUNE_CLERK = "van.thu@huyen-1", "van.thu@huyen-2", \
    "van.thu@xa-1-1"


def week_start(real_now):
    """The Monday (Vietnam day) of the week ``real_now`` is in."""
    today = real_now.astimezone(VIETNAM).date()
    return today - timedelta(days=today.weekday())


def expected(weeks, real_now=None):
    """What the dashboard shows of the history, per week (its Monday, ISO):
    ``{monday: {sent, received, overdue, urgent}}``."""
    monday = week_start(real_now or clock.real_now())
    return {(monday - timedelta(weeks=k)).isoformat():
            {"sent": 1, "received": 3, "overdue": k % 2, "urgent": int(k % 3 == 0)}
            for k in range(weeks, 0, -1)}


class DevClock:
    """The demo's side of the development clock: the services read the offset
    this writes (``shared.clock``)."""

    def __init__(self, path):
        self.path = path

    def set(self, moment):
        """Move the services' time to ``moment`` (in the past) from now on."""
        clock.write_offset(self.path, moment - clock.real_now())

    def real(self):
        clock.write_offset(self.path, timedelta(0))


def at(monday, day, hour, minute=0):
    return datetime.combine(monday + timedelta(days=day), day_time(hour, minute), VIETNAM)


def seed(as_user, dev_clock, weeks, addressees, say):
    """``weeks`` past weeks of documents (the module's doc); ``addressees``:
    the clerks' agencies ``{user_id: agency}``. Back on the real time after."""
    clerk, leader = as_user[SENDER_CLERK], as_user[LEADER]
    recipients = [addressees[u] for u in (ON_TIME, LATE_IN_ODD_WEEKS, COMMUNE_CLERK)]
    this_week = week_start(clock.real_now())
    pdf = make_pdf("Cong van bao cao tuan")
    try:
        for k in range(weeks, 0, -1):
            monday = this_week - timedelta(weeks=k)
            urgent = k % 3 == 0
            dev_clock.set(at(monday, 1, 8, 30))   # Tuesday 08:30
            document_id, number = _send(clerk, leader, pdf, monday, urgent, recipients)
            # The afternoon (an urgent one: within the hour): acceptances.
            dev_clock.set(at(monday, 1, 9, 15) if urgent else at(monday, 1, 14, 0))
            takers = [ON_TIME, COMMUNE_CLERK] + ([LATE_IN_ODD_WEEKS] if k % 2 == 0 else [])
            for user in takers:
                wait_for(lambda u=user: as_user[u].post(f"/v1/incoming/{document_id}/accept"),
                         what=f"{user}'s arrival of {number}")
            accepted = {addressees[u] for u in takers}
            wait_for(lambda: {s["recipient"] for s in clerk.get(
                f"/v1/documents/{document_id}/statuses") if s["status"] == "03"} == accepted,
                     what="the acceptances to reach routing")
            dev_clock.set(at(monday, 4, 10, 0))   # Friday 10:00: progress
            for code in ("04", "06"):
                as_user[ON_TIME].post(f"/v1/documents/{document_id}/status", {"code": code})
            as_user[COMMUNE_CLERK].post(f"/v1/documents/{document_id}/status", {"code": "04"})
            say(f"history, week of {monday:%d/%m/%Y}: Số {number}"
                f"{' (Khẩn)' if urgent else ''} to {len(recipients)} agencies,"
                f" {len(takers)} accepted"
                + ("" if k % 2 == 0 else f", {addressees[LATE_IN_ODD_WEEKS]} left it past"
                   " its deadline (overdue)"))
    finally:
        dev_clock.real()


def _send(clerk, leader, pdf, monday, urgent, recipients):
    """Drafted, signed, sealed, issued and delivered to ``recipients`` (issue
    sends to the draft's recipients); (document id, number)."""
    document = clerk.register(
        {"subject": SUBJECT.format(week=f"{monday:%d/%m/%Y}"), "document_type": "CV",
         "urgency": 1 if urgent else 0, "recipients": recipients,
         "agency_abbreviation": "UBND", "drafting_unit_abbreviation": "VP",
         "signer": {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân",
                    "position": "Chủ tịch", "full_name": "Nguyễn Văn An"}},
        [("file", "cong-van.pdf", io.BytesIO(pdf), len(pdf), "application/pdf")])
    document_id = document["document_id"]
    clerk.post(f"/v1/documents/{document_id}/submit", {"signer_user": LEADER})
    wait_for(lambda: leader.post(f"/v1/documents/{document_id}/sign"), what="signing")
    clerk.post(f"/v1/documents/{document_id}/seal")
    issued = wait_for(lambda: clerk.post(f"/v1/documents/{document_id}/issue"),
                      what="the issue")
    wait_for(lambda: len(clerk.get(f"/v1/documents/{document_id}/statuses"))
             == len(recipients), what="the deliveries")
    return document_id, issued["number_notation"]


def shown(leader, weeks):
    """Once routing's overdue watch has reported every late copy and the audit
    log has them all: the leader's dashboard's past weeks, as ``expected``
    says; the dashboard's answer."""
    wanted = expected(weeks)

    def as_expected():
        board = leader.get("/v1/dashboard")  # the last 12 weeks, per week, their subtree
        trend = {b["bucket"]: b for b in board["trend"]}
        return all(trend.get(week, {}).get(name) == count
                   for week, figures in wanted.items()
                   for name, count in (("sent", figures["sent"]),
                                       ("received", figures["received"]),
                                       ("overdue", figures["overdue"]),
                                       ("received_urgent", 3 * figures["urgent"])))\
            and board
    return wait_for(as_expected, timeout=60, interval=1,
                    what="the dashboard to show the history's weeks and overdue copies")
