"""Bảng điều hành on the real stack: a directive of the province is issued
and sent to two districts, one accepts it; the province's leader sees it on
the page (and in its CSV and the API), a district's leader sees their own
district only, a clerk is refused."""

import re

import pytest

from services.audit.dashboard import period
from tests.support.client import DISTRICT_1, DISTRICT_2, PROVINCE, wait_for
from tests.support.gateway import PASSWORD, Api, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

USERS = [
    {"user_id": "chu.tich", "agency": PROVINCE, "role": "leader", "full_name": "Nguyễn Văn An"},
    {"user_id": "van.thu", "agency": PROVINCE, "role": "clerk", "full_name": "Trần Thị Bình"},
    {"user_id": "chu.tich.h1", "agency": DISTRICT_1, "role": "leader",
     "full_name": "Lê Văn Cường"},
    {"user_id": "thanh.tra", "agency": "000.00.00.G22", "role": "auditor",
     "full_name": "Hoàng Văn Em"},
    {"user_id": "van.hanh", "agency": PROVINCE, "role": "operator", "full_name": "Vũ Văn Hành"},
]


def session(url, user_id):
    import requests

    browser = requests.Session()
    page = browser.get(f"{url}/web/login", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = browser.post(f"{url}/web/login", allow_redirects=False, timeout=30, data={
        "csrf": token, "user_id": user_id, "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    return browser


def test_the_dashboard_shows_what_was_sent_and_handled(stack, platform, client, tmp_path):
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start()
    url = platform.gateway_url
    issued = client.issue(client.token("clerk"), client.token("leader", user="chu.tich"),
                          make_pdf("Chi thi"))
    document_id = issued["document_id"]
    with client.rpc(client.token("clerk", agency=DISTRICT_1)) as rpc:
        wait_for(lambda: rpc.docs.accept_incoming(document_id), timeout=30,
                 what="the district to receive it")

    leader = session(url, "chu.tich")
    home = leader.get(f"{url}/web/", timeout=30).text
    assert 'href="/web/dashboard"' in home

    def figures_shown():
        page = leader.get(f"{url}/web/dashboard", timeout=30)
        assert page.status_code == 200, page.text[:2000]
        return "Xử lý đúng hạn: 1" in page.text and page.text
    page = wait_for(figures_shown, timeout=30, what="audit to project routing's status 03")
    assert "Tổng số văn bản đi</dt><dd>1</dd>" in page
    assert "Tổng số văn bản đến</dt><dd>2</dd>" in page
    assert "Tỷ lệ văn bản đi được ký số (lãnh đạo và cơ quan)</dt><dd>100,0%" in page
    assert "Đang trong hạn, chưa xử lý</dt><dd>1</dd>" in page
    assert page.count('role="img"') == 2 and "<svg" in page
    assert DISTRICT_1 in page and DISTRICT_2 in page
    assert "UBND tỉnh Nghệ An (mẫu) (000.00.00.H41) và các đơn vị trực thuộc" in page

    exported = leader.get(f"{url}/web/dashboard", params={"format": "csv"}, timeout=30)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith(
        "text/csv") and "attachment" in exported.headers["Content-Disposition"]
    last = exported.content.decode("utf-8-sig").splitlines()[-1].split(",")
    assert last[:4] == ["Cả kỳ", "1", "1", "2"]
    # In English (remembered from here on, as everywhere in the web app).
    english = leader.get(f"{url}/web/dashboard", params={"lang": "en"}, timeout=30).text
    assert "Documents sent</dt><dd>1</dd>" in english and "100.0%" in english

    # The district's leader: their district only; the province is refused.
    district = session(url, "chu.tich.h1")
    own = district.get(f"{url}/web/dashboard", timeout=30).text
    assert "Tổng số văn bản đến</dt><dd>1</dd>" in own
    assert "Tổng số văn bản đi</dt><dd>0</dd>" in own
    above = district.get(f"{url}/web/dashboard", params={"agency": PROVINCE}, timeout=30)
    assert above.status_code == 403
    bad = district.get(f"{url}/web/dashboard", params={"granularity": "year"}, timeout=30)
    assert bad.status_code == 400 and 'id="granularity"' in bad.text
    clerk = session(url, "van.thu")
    assert clerk.get(f"{url}/web/dashboard", timeout=30).status_code == 403

    # The API answers the same figures, to an auditor for any agency.
    api = Api(url)
    answer = api.get("thanh.tra", "/v1/dashboard", params={"agency": PROVINCE})
    assert answer.status_code == 200, answer.text
    totals = answer.json()["totals"]
    assert (totals["sent"], totals["received"], totals["on_time"]) == (1, 2, 1)
    assert period(answer.json()["start"], answer.json()["end"], "week")
    assert api.get("van.thu", "/v1/dashboard").status_code == 403
    # An operator rebuilds the projection from the log: the same figures.
    rebuilt = api.post("van.hanh", "/v1/admin/dashboard/rebuild")
    assert rebuilt.status_code == 200 and rebuilt.json() == {"sent": 1, "copies": 2}
    again = api.get("thanh.tra", "/v1/dashboard", params={"agency": PROVINCE}).json()
    assert again == answer.json()
    assert api.post("chu.tich", "/v1/admin/dashboard/rebuild").status_code == 403
