"""The web application on the real stack, as a browser without JavaScript uses
it (requests.Session keeps the cookies): login, the leader's Chờ ký, the clerk's
compose → Trình ký → Đóng dấu số → Phát hành, the recipient's Tiếp nhận and
Cập nhật tiến độ, the sender's Yêu cầu lấy lại and the recipient's answer;
search and pages of the lists, the registers and their CSV, the inspector's log
screens, reconcile and evidence bundle (checked by the offline verifier); the
session cookie's flags, CSRF refusals that change nothing, another agency's
clerk refused, the English switch, escaping, logout."""

import csv
import os
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from shared.values import VIETNAM
from tests.support import db
from tests.support.client import DISTRICT_1, OUTSIDER, PROVINCE, wait_for
from tests.support.gateway import PASSWORD, Api, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

USERS = [
    {"user_id": "van.thu", "agency": PROVINCE, "role": "clerk", "full_name": "Trần Thị Bình"},
    {"user_id": "chu.tich", "agency": PROVINCE, "role": "leader", "full_name": "Nguyễn Văn An"},
    {"user_id": "pho.chu.tich", "agency": PROVINCE, "role": "leader",
     "full_name": "Đỗ Thị Lan"},
    {"user_id": "thanh.tra", "agency": "000.00.00.G22", "role": "auditor",
     "full_name": "Hoàng Văn Em"},
    {"user_id": "van.thu.h1", "agency": DISTRICT_1, "role": "clerk", "full_name": "Lê Văn Cường"},
    {"user_id": "van.thu.h3", "agency": OUTSIDER, "role": "clerk", "full_name": "Phạm Thị Dung"},
]
SUBJECT = "Chỉ thị <script>alert('x')</script> về phòng, chống bão"


@pytest.fixture
def web(stack, platform, tmp_path):
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start()
    return platform.gateway_url


def csrf_of(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def log_in(url, user_id, password=PASSWORD):
    """A browser session logged in as ``user_id``; and the login's answer."""
    browser = requests.Session()
    page = browser.get(f"{url}/web/login", timeout=30)
    assert page.status_code == 200 and 'lang="vi"' in page.text
    answer = browser.post(f"{url}/web/login", allow_redirects=False, timeout=30, data={
        "csrf": csrf_of(page.text), "user_id": user_id, "password": password})
    return browser, answer


def session(url, user_id):
    browser, answer = log_in(url, user_id)
    assert answer.status_code == 303, answer.text
    return browser


def post(browser, url, path, fields=None, csrf=True):
    """POST a form of the page at ``path``'s document, with its anti-forgery token."""
    data = dict(fields or {})
    if csrf is True:
        data["csrf"] = csrf_of(browser.get(f"{url}/web/", timeout=30).text)
    elif csrf:
        data["csrf"] = csrf
    return browser.post(url + path, data=data, allow_redirects=False, timeout=60)


def until_done(call, what, timeout=30):
    """Retry a POST until it answers with its redirect (an event still on its way)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = call()
        if answer.status_code == 303 or time.monotonic() > deadline:
            assert answer.status_code == 303, f"{what}: {answer.status_code} {answer.text[:2000]}"
            return answer
        time.sleep(0.3)


def compose(browser, url, pdf, empty_attachment=True, subject=SUBJECT, urgency="2"):
    token = csrf_of(browser.get(f"{url}/web/new", timeout=30).text)
    fields = {"csrf": token, "subject": subject, "document_type": "CT", "urgency": urgency,
              "secrecy": "0", "agency_abbreviation": "UBND", "competence": "TM.",
              "on_behalf_of": "Ủy ban nhân dân", "position": "Chủ tịch",
              "full_name": "Nguyễn Văn An", "recipients": DISTRICT_1, "page_count": "1"}
    files = [("file", ("chi-thi.pdf", pdf, "application/pdf"))]
    if empty_attachment:  # what a browser sends for an attachment input left empty
        files.append(("attachment", ("", b"", "application/octet-stream")))
    else:
        files.append(("attachment", ("so-do.png", b"\x89PNG\r\n\x1a\n" + bytes(300),
                                     "image/png")))
    return browser.post(f"{url}/web/new", data=fields, files=files, allow_redirects=False,
                        timeout=60)


def test_a_document_from_compose_to_acceptance_through_the_web(web, platform, tmp_path):
    url, api = web, Api(web)
    browser, answer = log_in(url, "van.thu")
    assert answer.status_code == 303 and answer.headers["Location"] == "/web/"
    [cookie] = [c for c in answer.raw.headers.getlist("Set-Cookie")
                if c.startswith("lt_session=")]
    flags = [f.strip().lower() for f in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags  # plain HTTP here; Secure behind TLS (unit-tested)
    assert any(f.startswith("max-age=") and 0 < int(f[8:]) <= 28800 for f in flags)

    home = browser.get(f"{url}/web/", timeout=30)
    assert "Việc cần làm" in home.text and "Dự thảo và văn bản bị trả lại" in home.text

    # Tạo văn bản: the form streamed through to docs (an empty attachment input too).
    created = compose(browser, url, make_pdf("Chi thi qua web", padding=300_000))
    assert created.status_code == 303, created.text
    document_id = re.search(r"/web/documents/([0-9a-f-]{36})", created.headers["Location"])[1]
    page = browser.get(url + created.headers["Location"], timeout=30)
    assert "Đã tạo dự thảo." in page.text and "Dự thảo" in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    document = api.get("van.thu", f"/v1/documents/{document_id}").json()
    assert document["subject"] == SUBJECT and document["attachments"] == []
    assert document["urgency"] == 2 and document["signer"]["competence"] == "TM."
    with_attachment = compose(browser, url, make_pdf("Co dinh kem"), empty_attachment=False,
                              subject="Kế hoạch có phụ lục", urgency="0")
    assert with_attachment.status_code == 303, with_attachment.text
    other_id = with_attachment.headers["Location"].split("/")[-1].split("?")[0]
    assert len(api.get("van.thu", f"/v1/documents/{other_id}").json()["attachments"]) == 1

    listed = browser.get(f"{url}/web/outgoing?state=draft", timeout=30).text
    assert document_id in listed and other_id in listed
    assert document_id not in browser.get(f"{url}/web/outgoing?state=sent", timeout=30).text

    doc = f"/web/documents/{document_id}"
    submitted = post(browser, url, doc + "/submit", {"signer_user": "chu.tich"})
    assert submitted.status_code == 303, submitted.text

    # The leader's Chờ ký: the document waits there; Ký số.
    leader = session(url, "chu.tich")
    queue = leader.get(f"{url}/web/queue", timeout=30)
    assert "Chờ ký" in queue.text and document_id in queue.text and other_id not in queue.text
    # Another leader of the agency: not in their queue, and signing's rule refuses them.
    deputy = session(url, "pho.chu.tich")
    assert document_id not in deputy.get(f"{url}/web/queue", timeout=30).text
    wait_for(lambda: post(deputy, url, doc + "/sign").status_code == 403, timeout=30,
             what="signing to refuse a leader the document was not submitted to")
    assert "Bạn không có quyền" in post(deputy, url, doc + "/sign").text
    assert api.get("van.thu", f"/v1/documents/{document_id}").json()["state"] == "submitted"
    until_done(lambda: post(leader, url, doc + "/sign"), "signing to learn of the submission")
    # docs learns of the signature from signing's event: the queue empties soon after.
    wait_for(lambda: document_id not in leader.get(f"{url}/web/queue", timeout=30).text,
             timeout=30, what="the queue to drop the signed document")

    # Đóng dấu số, then Phát hành once docs learnt of the seal.
    until_done(lambda: post(browser, url, doc + "/seal"), "docs to learn of the signature")
    until_done(lambda: post(browser, url, doc + "/issue"), "docs to learn of the seal")
    page = browser.get(url + doc, timeout=30).text
    assert "01/CT-UBND" in page and ("Đã phát hành" in page or "Đã gửi" in page)
    for step in ("Tạo dự thảo", "Trình ký", "Cấp số, ngày, vào sổ", "Phát hành",
                 "van.thu (văn thư"):
        assert step in page, step
    # The inspector reads the document and its timeline (every agency's arrivals).
    inspector = session(url, "thanh.tra")
    assert "01/CT-UBND" in inspector.get(url + doc, timeout=30).text

    # The recipient's Văn bản đến: Tiếp nhận.
    district = session(url, "van.thu.h1")
    deadline = time.monotonic() + 30
    while document_id not in (inbox := district.get(f"{url}/web/inbox", timeout=30).text):
        assert time.monotonic() < deadline, "the district's inbox"
        time.sleep(0.3)
    assert "01 Đã đến" in inbox and "Thượng khẩn" in inbox
    assert "Thời hạn" in inbox and "Chưa lấy được" not in inbox  # routing's overdue answered
    # Accepting, the clerk passes it on: the register's "Đơn vị hoặc người nhận".
    assert 'name="handed_to"' in district.get(url + doc, timeout=30).text
    accepted = post(district, url, doc + "/accept", {"handed_to": "Phòng Kinh tế – Hạ tầng"})
    assert accepted.status_code == 303, accepted.text
    page = district.get(url + doc, timeout=30).text
    assert "03 Đã tiếp nhận" in page and "Tiếp nhận, vào sổ" in page
    # Search by số, ký hiệu; the registers on screen and as CSV (UTF-8 with a BOM).
    found = browser.get(f"{url}/web/outgoing", params={"q": "01/ct-ubnd"}, timeout=30).text
    assert document_id in found and other_id not in found
    assert "trong tổng số 1" in found
    assert other_id not in browser.get(f"{url}/web/outgoing", params={
        "q": "phụ lục", "start": "2000-01-01", "end": "2000-12-31"}, timeout=30).text
    bad = browser.get(f"{url}/web/outgoing", params={"page": "0"}, timeout=30)
    assert bad.status_code == 400 and "Trường: Trang" in bad.text
    register = browser.get(f"{url}/web/registers/outgoing", timeout=30).text
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐI" in register and "01/CT-UBND" in register
    arrivals = district.get(f"{url}/web/registers/incoming", timeout=30).text
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in arrivals and "01/CT-UBND" in arrivals
    exported = district.get(f"{url}/web/registers/incoming/csv", timeout=30)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith(
        "text/csv") and "attachment" in exported.headers["Content-Disposition"]
    assert exported.content.startswith(b"\xef\xbb\xbf")
    lines = exported.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Ngày đến,Số đến") and "01/CT-UBND" in lines[2]
    heading, row = next(csv.reader(lines[:1])), next(csv.reader(lines[2:3]))
    handed = dict(zip(heading, row))
    assert handed["Đơn vị hoặc người nhận"] == "Phòng Kinh tế – Hạ tầng"
    assert handed["Ngày chuyển"] == handed["Ngày đến"]  # passed on the day it came
    assert district.get(f"{url}/web/registers/incoming/csv?year=nam", timeout=30
                        ).status_code == 400
    assert inspector.get(f"{url}/web/registers/outgoing", timeout=30).status_code == 403

    # The sender sees each recipient's status (routing's), once routing learnt of it.
    wait_for(lambda: "03 Đã tiếp nhận" in (sent := browser.get(url + doc, timeout=30).text)
             and DISTRICT_1 in sent.split("Tình hình gửi, nhận")[1], timeout=30,
             what="the sender to see status 03")

    # Cập nhật tiến độ (routing knows of 03 now): the recipient's clerk reports
    # 04 then 06 (routing's rules: 03 -> 06 is refused, naming the field);
    # nobody else may.
    skipped = post(district, url, doc + "/progress", {"status_code": "06"})
    assert skipped.status_code == 400 and "Trường: Tiến độ xử lý" in skipped.text
    assert post(leader, url, doc + "/progress", {"status_code": "04"}).status_code == 403
    outsider = session(url, "van.thu.h3")
    assert post(outsider, url, doc + "/progress", {"status_code": "04"}).status_code == 404
    page = district.get(url + doc, timeout=30).text
    assert '<option value="04">04 Đã phân công</option>' in page
    for code in ("04", "06"):
        reported = post(district, url, doc + "/progress", {"status_code": code})
        assert reported.status_code == 303, reported.text
    page = district.get(url + doc + "?ok=progress", timeout=30).text
    assert "Đã cập nhật tiến độ xử lý." in page and "06 Hoàn thành" in page
    assert 'action="' + doc + '/progress"' not in page  # 06 is final
    wait_for(lambda: "06 Hoàn thành" in browser.get(url + doc, timeout=30).text, timeout=30,
             what="the sender to see 06")

    # Yêu cầu lấy lại: the sender asks for a correction (a reason is required),
    # the recipient disagrees (its reason required too), both see the outcome.
    no_reason = post(browser, url, doc + "/recall", {"business_type": "2"})
    assert no_reason.status_code == 400 and "Trường: Lý do lấy lại" in no_reason.text
    assert post(district, url, doc + "/recall", {"business_type": "2", "recall_reason": "x"}
                ).status_code == 403  # routing: only the sender asks
    asked = post(browser, url, doc + "/recall", {"business_type": "2",
                                                 "recall_reason": "Sai số liệu tại mục 2"})
    assert asked.status_code == 303, asked.text
    page = browser.get(url + doc, timeout=30).text
    assert "Kết quả yêu cầu lấy lại" in page and "Còn cơ quan nhận chưa trả lời." in page
    assert 'action="' + doc + '/recall"' not in page  # one request at a time
    page = district.get(url + doc, timeout=30).text
    assert "Sai số liệu tại mục 2" in page and 'action="' + doc + '/answer-recall"' in page
    bare = post(district, url, doc + "/answer-recall", {"agree": "false"})
    assert bare.status_code == 400 and "Trường: Lý do (bắt buộc khi không đồng ý)" in bare.text
    answered = post(district, url, doc + "/answer-recall",
                    {"agree": "false", "answer_reason": "Đơn vị đã triển khai"})
    assert answered.status_code == 303, answered.text
    page = district.get(url + doc, timeout=30).text
    assert "16 Không đồng ý (Đơn vị đã triển khai)" in page and "/answer-recall" not in page
    page = browser.get(url + doc, timeout=30).text
    assert "Có cơ quan nhận không đồng ý." in page and "Đơn vị đã triển khai" in page

    # The other draft: Trả lại (a comment is required), then signed, issued, and
    # refused by the recipient with a reason.
    other = f"/web/documents/{other_id}"
    assert post(browser, url, other + "/submit", {"signer_user": "chu.tich"}).status_code == 303
    no_comment = post(leader, url, other + "/return", {"comment": " "})
    assert no_comment.status_code == 400 and "Trường: Ý kiến" in no_comment.text
    until_done(lambda: post(leader, url, other + "/return", {"comment": "Sửa trích yếu"}),
               "signing to learn of the submission")
    wait_for(lambda: api.get("van.thu", f"/v1/documents/{other_id}").json()["state"]
             == "returned", timeout=30, what="docs to learn of the return")
    assert "Bị trả lại" in browser.get(url + other, timeout=30).text
    assert post(browser, url, other + "/submit", {"signer_user": "chu.tich"}).status_code == 303
    until_done(lambda: post(leader, url, other + "/sign"), "signing to learn of it again")
    until_done(lambda: post(browser, url, other + "/seal"), "docs to learn of the signature")
    until_done(lambda: post(browser, url, other + "/issue"), "docs to learn of the seal")
    wait_for(lambda: other_id in district.get(f"{url}/web/inbox", timeout=30).text,
             timeout=30, what="the second arrival")
    assert post(district, url, other + "/refuse", {"reason": ""}).status_code == 400
    refused = post(district, url, other + "/refuse", {"reason": "Gửi nhầm đơn vị"})
    assert refused.status_code == 303, refused.text
    page = district.get(url + other, timeout=30).text
    assert "02 Từ chối tiếp nhận" in page and "Gửi nhầm đơn vị" in page
    inbox = district.get(f"{url}/web/inbox", timeout=30).text
    assert inbox.index(other_id) > inbox.index(document_id)  # Thượng khẩn before Thường

    # Thanh tra: the log's status, its verification, the document's history and
    # its state before the signature (audit's replay), the evidence bundle, which
    # the offline verifier accepts with the command the page shows. No form writes.
    status = inspector.get(f"{url}/web/audit", timeout=30).text
    assert "Nhật ký hệ thống" in status and "Bản ghi chưa được chốt" in status
    assert 'href="/web/audit/reconcile"' in status
    # Đối soát: the log replayed agrees with docs, signing and routing (once
    # every event is in); read-only, and the auditor's only.
    reconciled = wait_for(lambda: "Không có sai lệch" in (
        got := inspector.get(f"{url}/web/audit/reconcile", timeout=60).text) and got,
        timeout=30, what="the log and the services to agree")
    assert "Số văn bản dựng lại từ nhật ký</dt><dd>2</dd>" in reconciled
    assert reconciled.count('<form method="post"') == 1  # Đăng xuất
    assert browser.get(f"{url}/web/audit/reconcile", timeout=30).status_code == 403
    assert api.get("thanh.tra", "/v1/audit/reconcile").json() == {
        "documents": 2, "erased_documents": 0, "differences": []}
    assert api.get("van.thu", "/v1/audit/reconcile").status_code == 403
    assert status.count('<form method="post"') == 1  # Đăng xuất
    assert "Nhật ký toàn vẹn" in inspector.get(f"{url}/web/audit/verify", timeout=60).text
    history_url = f"{url}/web/audit/documents/{document_id}"
    wait_for(lambda: "Ký số cơ quan" in inspector.get(history_url, timeout=30).text,
             timeout=30, what="the log to hold the seal")
    history = inspector.get(history_url, timeout=30).text
    assert "Trạng thái hiện tại theo nhật ký" in history and "01/CT-UBND" in history
    assert history.count('<form method="post"') == 1
    logged = api.get("thanh.tra", f"/v1/audit/documents/{document_id}/history").json()
    registered = datetime.fromisoformat(logged[0]["occurred_at"].replace("Z", "+00:00"))
    then = (registered + timedelta(milliseconds=1)).astimezone(VIETNAM).replace(
        tzinfo=None).isoformat()
    before = inspector.get(history_url, params={"at": then}, timeout=30).text
    assert "Trạng thái lúc" in before
    signed_then = before.split("Ký số lúc</dt>")[1].split("</dd>")[0]
    assert signed_then.strip().endswith("—"), signed_then  # not signed yet at that moment
    command = re.search(r"<pre><code>([^<]+)</code></pre>", history)[1].replace("&#39;", "'")
    assert command.startswith(f"python -m services.audit.verify_bundle evidence-{document_id}")
    bundle = wait_for(lambda: (got := inspector.get(history_url + "/evidence", timeout=30))
                      .status_code == 200 and got, timeout=30, what="a checkpoint")
    assert "attachment" in bundle.headers["Content-Disposition"]
    assert bundle.json()["format"] == "lienthong-evidence/1"
    (tmp_path / f"evidence-{document_id}.json").write_bytes(bundle.content)
    checked = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert browser.get(f"{url}/web/audit", timeout=30).status_code == 403


def test_forms_need_the_session_token_and_pages_keep_to_the_rules(web, platform):
    url, api = web, Api(web)
    browser = session(url, "van.thu")
    created = compose(browser, url, make_pdf("Chi thi CSRF"))
    assert created.status_code == 303, created.text
    document_id = created.headers["Location"].split("/")[-1].split("?")[0]
    doc = f"/web/documents/{document_id}"

    # Without, with a wrong, or with another session's token: refused, nothing changes.
    other = session(url, "chu.tich")
    others_token = csrf_of(other.get(f"{url}/web/", timeout=30).text)
    for token in (None, "sai", others_token):
        refused = post(browser, url, doc + "/submit", {"signer_user": "chu.tich"}, csrf=token)
        assert refused.status_code == 403
        assert "mã chống giả mạo" in refused.text and "không có gì bị thay đổi" in refused.text
    assert api.get("van.thu", f"/v1/documents/{document_id}").json()["state"] == "draft"
    denials = [row[0]["data"] for row in db.query(
        platform.pg_dsn, "gateway", "SELECT envelope FROM events"
        " WHERE event_type = 'RequestDenied' ORDER BY position")]
    assert [d["user_id"] for d in denials if "anti-forgery" in d["reason"]] == ["van.thu"] * 3
    page = browser.get(url + doc, timeout=30)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    # The compose form too: no draft is made.
    before = api.get("van.thu", "/v1/registers/outgoing").status_code
    forged = browser.post(f"{url}/web/new", data={"csrf": "sai", "subject": "Giả mạo"},
                          files=[("file", ("a.pdf", make_pdf("x"), "application/pdf"))],
                          allow_redirects=False, timeout=60)
    assert forged.status_code == 403 and before == 200
    assert "Giả mạo" not in browser.get(f"{url}/web/outgoing", timeout=30).text
    # The login form has its own token.
    no_token = requests.post(f"{url}/web/login", data={"user_id": "van.thu",
                                                       "password": PASSWORD},
                             allow_redirects=False, timeout=30)
    assert no_token.status_code == 403 and "lt_session" not in no_token.headers.get(
        "Set-Cookie", "")

    # docs' refusal of a field comes back on the form, in Vietnamese, values kept.
    token = csrf_of(browser.get(f"{url}/web/new", timeout=30).text)
    bad = browser.post(f"{url}/web/new", allow_redirects=False, timeout=60, data={
        "csrf": token, "subject": "Kế hoạch <b>mới</b>", "document_type": "KH",
        "agency_abbreviation": "ubnd!", "position": "Chủ tịch", "full_name": "An"},
        files=[("file", ("a.pdf", make_pdf("y", padding=3_000_000), "application/pdf"))])
    assert bad.status_code == 400, bad.text
    assert "Dữ liệu chưa hợp lệ." in bad.text and "Ký hiệu cơ quan ban hành" in bad.text
    assert "Kế hoạch &lt;b&gt;mới&lt;/b&gt;</textarea>" in bad.text

    # Another agency's clerk cannot see it; a leader may not compose.
    outsider = session(url, "van.thu.h3")
    hidden = outsider.get(url + doc, timeout=30)
    assert hidden.status_code == 404 and "Chỉ thị" not in hidden.text
    assert "Không tìm thấy" in hidden.text
    assert document_id not in outsider.get(f"{url}/web/outgoing", timeout=30).text
    assert other.get(f"{url}/web/new", timeout=30).status_code == 403

    # A wrong password: said in Vietnamese, no session.
    _, wrong = log_in(url, "van.thu", "sai mật khẩu")
    assert wrong.status_code == 401 and "Tên đăng nhập hoặc mật khẩu không đúng." in wrong.text

    # English on request, remembered by a cookie.
    english = browser.get(f"{url}/web/?lang=en", timeout=30)
    assert 'lang="en"' in english.text and "My work" in english.text
    assert "Việc cần làm" not in english.text
    assert "Outgoing documents" in browser.get(f"{url}/web/outgoing", timeout=30).text
    assert "Trang chủ" in browser.get(f"{url}/web/?lang=vi", timeout=30).text

    # Logout: the cookie goes, and the token it held no longer opens a page.
    token = browser.cookies.get("lt_session")
    out = post(browser, url, "/web/logout")
    assert out.status_code == 303 and out.headers["Location"].startswith("/web/login")
    assert "lt_session" not in browser.cookies
    replay = requests.get(f"{url}/web/", cookies={"lt_session": token}, allow_redirects=False,
                          timeout=30)
    assert replay.status_code == 303 and replay.headers["Location"].startswith("/web/login")
    assert requests.get(f"{url}/", allow_redirects=False, timeout=30).headers[
        "Location"] == "/web/"


def _gateway_with(stack, platform, tmp_path, **settings):
    """The stack started with USERS seeded and the gateway's ``settings``."""
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack["gateway"].env.update({f"LIENTHONG_{k}": v for k, v in settings.items()})
    stack.start()
    return platform.gateway_url


@pytest.fixture
def short_sessions(stack, platform, tmp_path):
    return _gateway_with(stack, platform, tmp_path, TOKEN_TTL_SECONDS="2")


def test_a_session_expires_on_the_server(short_sessions):
    url = short_sessions
    browser = session(url, "van.thu")
    assert browser.get(f"{url}/web/", allow_redirects=False, timeout=30).status_code == 200
    token = browser.cookies.get("lt_session")
    time.sleep(2 + 10.5)  # the token's life and the clock leeway (shared.auth.LEEWAY)
    # The browser would drop the cookie (Max-Age); one that keeps it is refused anyway.
    late = requests.get(f"{url}/web/outgoing", cookies={"lt_session": token},
                        allow_redirects=False, timeout=30)
    assert late.status_code == 303 and late.headers["Location"].startswith("/web/login")
    again = requests.get(url + late.headers["Location"], timeout=30)
    assert again.status_code == 200 and "Đăng nhập" in again.text


@pytest.fixture
def idle_sessions(stack, platform, tmp_path):
    return _gateway_with(stack, platform, tmp_path, WEB_IDLE_SECONDS="4")


def test_a_session_unused_too_long_ends_and_its_token_with_it(idle_sessions):
    """WEB_IDLE_SECONDS: pages opened within it keep the session; after it, the
    session is over (its token revoked) and the login page says why."""
    url = idle_sessions
    browser = session(url, "van.thu")
    for _ in range(4):  # used every 1.5 s: 6 s in all, past the 4 s, still open
        time.sleep(1.5)
        assert browser.get(f"{url}/web/", allow_redirects=False, timeout=30).status_code == 200
    token = browser.cookies.get("lt_session")
    time.sleep(5)
    idle = browser.get(f"{url}/web/outgoing", allow_redirects=False, timeout=30)
    assert idle.status_code == 303 and "ok=idle" in idle.headers["Location"], idle.headers
    said = requests.get(url + idle.headers["Location"], timeout=30)
    assert "lâu không thao tác" in said.text
    # The same cookie does not open a page again, even at once.
    again = requests.get(f"{url}/web/", cookies={"lt_session": token}, allow_redirects=False,
                         timeout=30)
    assert again.status_code == 303 and again.headers["Location"].startswith("/web/login")
    # A new login opens a new session.
    assert session(url, "van.thu").get(f"{url}/web/", allow_redirects=False,
                                       timeout=30).status_code == 200
