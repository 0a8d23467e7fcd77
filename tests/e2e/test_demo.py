"""The README's first command, as a new user runs it: the whole scenario passes;
with ``--keep`` six past weeks of history are on the leaders' dashboard, a
service that dies is restarted by the demo's supervisor, and a SIGTERM
(``kill``, a process manager) leaves no process behind."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
import requests

from infra.client import wait_for
from infra.stack import ROOT, free_port
from tests.e2e.test_signatures import tool
from shared.values import VIETNAM

pytestmark = pytest.mark.e2e


def children(pid):
    """PIDs of ``pid``'s child processes (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def token_of(url, users, user_id):
    user = next(u for u in users if u["user_id"] == user_id)
    answer = requests.post(f"{url}/v1/auth/login", timeout=30, json={
        "user_id": user_id, "password": user["password"]})
    assert answer.status_code == 200, (user_id, answer.text)
    return answer.json()["token"]


def the_history_is_on_the_leaders_dashboard(url, users, text):
    """--keep seeds 6 past weeks (infra/history.py) on the development clock:
    the leader's dashboard shows each week's document and the copies the
    second district left past their deadline (weeks 1, 3, 5 back)."""
    assert "history: 6 past weeks seeded" in text
    assert "the 6 past weeks hold 6 documents sent, 18 copies received, 3 overdue" in text
    headers = {"Authorization": f"Bearer {token_of(url, users, 'chu.tich@ubnd-tinh')}"}
    board = requests.get(f"{url}/v1/dashboard", headers=headers, timeout=60).json()
    today = datetime.now(VIETNAM).date()
    monday = today - timedelta(days=today.weekday())
    trend = {b["bucket"]: b for b in board["trend"]}
    for back in range(1, 7):
        week = trend[(monday - timedelta(weeks=back)).isoformat()]
        assert (week["sent"], week["received"], week["overdue"], week["on_time"]) == \
            (1, 3, back % 2, 3 - back % 2), (back, week)
        assert week["received_urgent"] == (3 if back % 3 == 0 else 0)
        assert week["median_accept_seconds"] > 1800  # accepted 45 min or hours after arrival
    for back in range(7, 12):  # nothing before the history
        assert trend[(monday - timedelta(weeks=back)).isoformat()]["received"] == 0
    late = board["overdue"]
    assert board["overdue_total"] == 3 and len(late) == 3
    assert {row["recipient"] for row in late} == {"000.02.00.H41"}
    assert {row["overdue_kind"] for row in late} == {"registration"}
    assert board["totals"]["urgent_overdue"] == 1  # week 3 back: Khẩn, left at 01
    # The documents are dated in their weeks (the development clock's), their
    # numbers before today's directive's.
    document = requests.get(f"{url}/v1/documents/{late[0]['document_id']}", headers=headers,
                            timeout=60).json()
    issued = datetime.fromisoformat(document["issued_at"]).date()
    assert monday - timedelta(weeks=5) <= issued < monday - timedelta(weeks=4), issued


def page_one_text(path, *options):
    return subprocess.run([tool("pdftotext", "poppler-utils"), *options, "-f", "1", "-l", "1",
                           path, "-"], capture_output=True, text=True, timeout=60,
                          check=True).stdout


def picture_of_page_one(path, name):
    """Page one as $LIENTHONG_SCREENSHOTS/``name``.png, if that is set (the README's)."""
    if shots := os.environ.get("LIENTHONG_SCREENSHOTS"):
        subprocess.run([tool("pdftoppm", "poppler-utils"), "-png", "-r", "72", "-f", "1", "-l",
                        "1", "-singlefile", path, os.path.join(shots, name)],
                       check=True, timeout=60)


def the_directive_reads_its_number_and_date():
    """The demo's directive, laid out as Decree 30 Appendix I shows, carries on its
    page the number and the place-and-date line given at the leader's signature, as
    a recipient downloaded it; its picture goes to $LIENTHONG_SCREENSHOTS if set.
    Returns its number and notation."""
    delivered = os.path.join(ROOT, "var", "demo", "chi-thi-as-delivered.pdf")
    text = page_one_text(delivered, "-layout")
    number = re.search(r"Số: (\d{2,}/CT-UBND)", text)
    assert number, text
    assert re.search(r"Nghệ An, ngày \d{2} tháng \d{1,2} năm \d{4}", text), text
    assert "CHỈ THỊ" in text and "bão số 3" in text
    picture_of_page_one(delivered, "van-ban-da-ky")
    return number.group(1)


def the_appendix_reads_the_same_number_in_its_free_margin(number_notation):
    """The directive's appendix, in its own file as a recipient downloaded it, carries
    the agency's number and signing time at the top right of page one (Decree 30
    Appendix I: the seal on an attachment is invisible, these two lines show it),
    over none of the page's own text; its picture goes to $LIENTHONG_SCREENSHOTS."""
    delivered = os.path.join(ROOT, "var", "demo", "phu-luc-as-delivered.pdf")
    text = page_one_text(delivered, "-layout")
    assert "PHỤ LỤC" in text and "DANH SÁCH CÁC ĐIỂM SƠ TÁN DÂN" in text, text
    assert "của Ủy ban nhân dân tỉnh Nghệ An" in text and "Quỳnh Thạch" in text, text
    words = [(word, *map(float, box)) for *box, word in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
        page_one_text(delivered, "-bbox"))]
    time_stamp = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+07:00")
    marks = [w for w in words if w[0] == number_notation or time_stamp.fullmatch(w[0])]
    own = [w for w in words if w not in marks]
    assert [w[0] for w in marks][:1] == [number_notation] and len(marks) == 2, marks
    assert len(own) > 40, own  # the heading, the title, the table
    for _, x1, y1, x2, y2 in marks:
        for word, a1, b1, a2, b2 in own:  # no overlap with any word of the page
            assert x2 <= a1 or a2 <= x1 or y2 <= b1 or b2 <= y1, (word, marks)
        assert x2 > 595 / 2 and y2 < min(w[2] for w in own)  # top right, above all text
    picture_of_page_one(delivered, "phu-luc-da-ky")


def test_the_main_job_runs_the_whole_scenario_then_survives_a_dead_service(tmp_path):
    port = free_port()
    env = {**os.environ, "LIENTHONG_GATEWAY_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    for name in [k for k in env if k.startswith("LIENTHONG_S3")]:
        env.pop(name)  # the demo starts its own S3 server, as on a fresh machine
    out_path = tmp_path / "demo.out"
    with open(out_path, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "infra.demo", "--keep"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def output():
        return out_path.read_text(encoding="utf-8", errors="replace")

    try:
        wait_for(lambda: "Dùng thử" in output() or demo.poll() is not None, timeout=480,
                 interval=1, what="the demo's scenario")
        text = output()
        assert demo.poll() is None, text[-3000:]
        assert "sent to every district and commune: 15 agencies" in text
        assert "signatures VALID" in text and "recalled (13)" in text
        # the seal's certificate, whose name its ring shows, names the agency, not its code
        assert "UBND tỉnh Nghệ An (mẫu)) from the development root CA" in text
        assert "seal keys made inside SoftHSM2 tokens" in text  # the CA, TSA and seal
        assert "cancelled their copies and reported 15" in text  # Decree 30 Art. 18(4)
        assert "0 difference(s)" in text and "offline verifier" in text and "ACCEPTED" in text
        # --keep: the web's address and every demo user with their role, in Vietnamese.
        assert f"Trang web      http://127.0.0.1:{port}/web/" in text
        assert re.search(r"van\.thu@ubnd-tinh +văn thư +000\.00\.00\.H41", text)
        assert re.search(r"chu\.tich@ubnd-tinh +lãnh đạo", text) and "thanh tra" in text
        users_file = os.path.join(ROOT, re.search(r"^  Mật khẩu +(\S+) +\(", text, re.M).group(1))
        with open(users_file, encoding="utf-8") as fh:
            users = json.load(fh)
        url = f"http://127.0.0.1:{port}"
        the_history_is_on_the_leaders_dashboard(url, users, text)
        the_appendix_reads_the_same_number_in_its_free_margin(
            the_directive_reads_its_number_and_date())
        assert "van.thu@huyen-1: the directive's appendix (Phụ lục" in text

        # A service dies (SIGKILL): the supervisor brings it back, and it answers.
        routing = [p for p in children(demo.pid) if "RoutingService" in command_line(p)]
        assert len(routing) == 1, [command_line(p) for p in children(demo.pid)]
        os.kill(routing[0], signal.SIGKILL)
        wait_for(lambda: "supervisor: routing exited with -9" in output(), timeout=10,
                 what="the supervisor to see routing die")
        token = token_of(url, users, "van.thu@huyen-1")

        def inbox_answers():
            return requests.get(f"{url}/v1/inbox", timeout=30,
                                headers={"Authorization": f"Bearer {token}"}).status_code == 200
        wait_for(inbox_answers, timeout=60, interval=1, what="the restarted routing to answer")
        restarted = [p for p in children(demo.pid) if "RoutingService" in command_line(p)]
        assert restarted and restarted != routing

        # SIGTERM: the demo stops its services and the S3 server, then exits.
        services = children(demo.pid)
        assert len(services) >= 6  # five services and the S3 server
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(60) == 0
        deadline = time.monotonic() + 30
        while any(os.path.exists(f"/proc/{p}") and command_line(p) for p in services):
            assert time.monotonic() < deadline, [command_line(p) for p in services
                                                 if os.path.exists(f"/proc/{p}")]
            time.sleep(0.2)
    finally:
        if demo.poll() is None:
            demo.terminate()
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                demo.kill()  # its servers die with it (infra.stack._die_with_parent)
                demo.wait()
