"""Chọn nơi nhận on the real stack, as a clerk without JavaScript uses it:
the compose form opens the directory picker (its token kept out of URLs),
which searches routing's directory by Vietnamese name with and without
diacritics, opens a province's communes (after the 2025 reform), adds ticked
agencies or a whole subtree, takes one out, and brings the codes and the
fields typed back into the compose form, from which docs registers them. A
saved recipient group (nhóm nơi nhận) round-trips and stays invisible to
another agency's clerk; bad parameters are refused naming the field. The
API's directory search and groups too; and in Chromium, the compose form's
script fills the field in place."""

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_web import csrf_of, session
from tests.e2e.test_web_browser import Screen
from tests.support import db
from tests.support.client import PROVINCE
from tests.support.gateway import Api, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

COMMUNE_1 = "001.00.00.H41"   # UBND xã Diễn Hoa – Diễn Phong, after the reform
COMMUNE_2 = "002.00.00.H41"   # UBND xã Diễn Kỷ – Diễn Vạn
DEPARTMENT = "000.00.02.H41"  # Sở Nội vụ Nghệ An
USERS = [
    {"user_id": "van.thu", "agency": PROVINCE, "role": "clerk", "full_name": "Trần Thị Bình"},
    {"user_id": "van.thu.xa", "agency": COMMUNE_2, "role": "clerk", "full_name": "Lê Văn Cường"},
    {"user_id": "chu.tich", "agency": PROVINCE, "role": "leader", "full_name": "Nguyễn Văn An"},
]
SUBJECT = "Công văn về phòng, chống bão số 3"


@pytest.fixture
def web(stack, platform, tmp_path):
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack["routing"].env["LIENTHONG_DIRECTORY_SEED"] = "sample+reform"  # communes under provinces
    stack.start()
    return platform.gateway_url


def get(clerk, url, path, **params):
    return clerk.get(url + path, params=params, allow_redirects=False, timeout=60)


def followed(clerk, url, answer):
    assert answer.status_code == 303, answer.text[:2000]
    return clerk.get(url + answer.headers["Location"], timeout=60)


def chosen_of(location):
    return parse_qs(urlsplit(location).query).get("recipients", [""])[0].split()


def textarea(page, name):
    return html.unescape(re.search(rf'<textarea id="{name}"[^>]*>([^<]*)</textarea>',
                                   page).group(1))


def test_a_clerk_picks_recipients_from_the_directory_into_the_compose_form(web):
    url, api = web, Api(web)
    clerk = session(url, "van.thu")
    compose = clerk.get(f"{url}/web/new", timeout=60)
    assert 'formaction="/web/directory"' in compose.text
    assert '<script src="/web/static/picker.js"' in compose.text
    assert "script-src 'self'" in compose.headers["Content-Security-Policy"]
    script = clerk.get(f"{url}/web/static/picker.js", timeout=60)
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert "/web/directory/json" in script.text

    # From the compose form, by POST: the fields typed come along, the token does not.
    opened = clerk.post(f"{url}/web/directory", allow_redirects=False, timeout=60, data={
        "csrf": csrf_of(compose.text), "subject": SUBJECT, "document_type": "CV",
        "urgency": "1", "recipients": "", "position": "Chủ tịch"})
    assert opened.status_code == 303 and "csrf" not in opened.headers["Location"]
    picker = followed(clerk, url, opened)
    assert "Chọn nơi nhận" in picker.text and PROVINCE in picker.text
    draft = {"subject": SUBJECT, "document_type": "CV", "urgency": "1",
             "position": "Chủ tịch"}

    # Search by name, with and without diacritics; by code.
    for q in ("Diễn Hoa", "dien hoa", "DIEN HOA", COMMUNE_1):
        found = get(clerk, url, "/web/directory", q=q, **draft)
        assert found.status_code == 200 and COMMUNE_1 in found.text, q
        assert "UBND xã Diễn Hoa – Diễn Phong" in found.text and COMMUNE_2 not in found.text
    # The tree: the province's communes, one level down.
    assert f"parent={PROVINCE}" in picker.text  # its "Xem đơn vị trực thuộc" link
    under = get(clerk, url, "/web/directory", parent=PROVINCE)
    assert under.status_code == 200
    assert all(code in under.text for code in (COMMUNE_1, COMMUNE_2, "006.00.00.H41",
                                                DEPARTMENT))

    # Tick two, take one out; then a whole subtree (never the clerk's own agency).
    added = get(clerk, url, "/web/directory", add=[COMMUNE_1, DEPARTMENT], **draft)
    assert chosen_of(added.headers["Location"]) == [COMMUNE_1, DEPARTMENT]
    page = followed(clerk, url, added)
    assert "Nơi nhận đã chọn (2)" in page.text
    removed = get(clerk, url, "/web/directory", recipients=f"{COMMUNE_1} {DEPARTMENT}",
                  remove=DEPARTMENT, **draft)
    assert chosen_of(removed.headers["Location"]) == [COMMUNE_1]
    whole = get(clerk, url, "/web/directory", recipients=COMMUNE_1, subtree=PROVINCE,
                **draft)
    everything = chosen_of(whole.headers["Location"])
    assert len(everything) == 9 and PROVINCE not in everything  # 3 sở, 6 xã
    assert everything[0] == COMMUNE_1 and COMMUNE_2 in everything

    # "Xong": back in the compose form with the codes and what was typed.
    back = get(clerk, url, "/web/new", picked="1", recipients=f"{COMMUNE_1} {COMMUNE_2}",
               add=DEPARTMENT, **draft)
    assert back.status_code == 200
    assert textarea(back.text, "recipients").split() == [COMMUNE_1, COMMUNE_2, DEPARTMENT]
    assert textarea(back.text, "subject") == SUBJECT
    assert 'value="Chủ tịch"' in back.text and '<option value="CV" selected>' in back.text
    # And from there to docs: the draft is registered with those recipients.
    created = clerk.post(f"{url}/web/new", allow_redirects=False, timeout=60, data={
        "csrf": csrf_of(back.text), "subject": SUBJECT, "document_type": "CV",
        "urgency": "1", "secrecy": "0", "agency_abbreviation": "UBND", "competence": "",
        "position": "Chủ tịch", "full_name": "Nguyễn Văn An",
        "recipients": textarea(back.text, "recipients"), "page_count": "1"},
        files=[("file", ("cong-van.pdf", make_pdf("Cong van"), "application/pdf"))])
    assert created.status_code == 303, created.text[:2000]
    document_id = re.search(r"/web/documents/([0-9a-f-]{36})", created.headers["Location"])[1]
    document = api.get("van.thu", f"/v1/documents/{document_id}").json()
    assert document["recipients"] == sorted([COMMUNE_1, COMMUNE_2, DEPARTMENT])


def test_a_saved_recipient_group_round_trips_within_its_agency_only(web, platform):
    url, api = web, Api(web)
    clerk, other = session(url, "van.thu"), session(url, "van.thu.xa")
    page = get(clerk, url, "/web/directory", recipients=f"{COMMUNE_1} {COMMUNE_2}")
    assert "Lưu nhóm nơi nhận" in page.text
    token = csrf_of(page.text)
    saved = clerk.post(f"{url}/web/directory/groups", allow_redirects=False, timeout=60,
                         data={"csrf": token, "name": "Các xã Diễn Châu cũ",
                               "recipients": f"{COMMUNE_1} {COMMUNE_2}"})
    shown = followed(clerk, url, saved)
    assert "Đã lưu nhóm nơi nhận." in shown.text
    assert "Dùng nhóm “Các xã Diễn Châu cũ” (2)" in shown.text
    [group] = api.get("van.thu", "/v1/recipient-groups").json()
    assert group["name"] == "Các xã Diễn Châu cũ"
    assert group["recipients"] == [COMMUNE_1, COMMUNE_2] and group["saved_by"] == "van.thu"

    # Picked later, from an empty selection: its codes are the selection.
    used = get(clerk, url, "/web/directory", group=str(group["group_id"]))
    assert chosen_of(used.headers["Location"]) == [COMMUNE_1, COMMUNE_2]

    # Another agency's clerk sees none of it and can neither use nor delete it.
    assert api.get("van.thu.xa", "/v1/recipient-groups").json() == []
    assert "Các xã Diễn Châu cũ" not in get(other, url, "/web/directory").text
    assert get(other, url, "/web/directory", group=str(group["group_id"])).status_code == 404
    theirs = csrf_of(get(other, url, "/web/directory").text)
    refused = other.post(f"{url}/web/directory/groups/{group['group_id']}/delete",
                         data={"csrf": theirs}, allow_redirects=False, timeout=60)
    assert refused.status_code == 404
    assert requests_delete(api, "van.thu.xa", group["group_id"]).status_code == 404
    denied = [row[0]["data"] for row in db.query(
        platform.pg_dsn, "gateway", "SELECT envelope FROM events"
        " WHERE event_type = 'RequestDenied' ORDER BY position")]
    assert [d["user_id"] for d in denied if "group_id" in d["reason"]] == ["van.thu.xa"] * 3
    assert [g["name"] for g in api.get("van.thu", "/v1/recipient-groups").json()] == [
        "Các xã Diễn Châu cũ"]
    assert api.get("chu.tich", "/v1/recipient-groups").status_code == 403  # clerks only

    # Saving under the same name replaces it; its own clerk deletes it.
    again = clerk.post(f"{url}/web/directory/groups", allow_redirects=False, timeout=60,
                         data={"csrf": token, "name": "Các xã Diễn Châu cũ",
                               "recipients": COMMUNE_1})
    assert again.status_code == 303
    [replaced] = api.get("van.thu", "/v1/recipient-groups").json()
    assert replaced["group_id"] == group["group_id"] and replaced["recipients"] == [COMMUNE_1]
    gone = clerk.post(f"{url}/web/directory/groups/{group['group_id']}/delete",
                        data={"csrf": token}, allow_redirects=False, timeout=60)
    assert "Đã xóa nhóm nơi nhận." in followed(clerk, url, gone).text
    assert api.get("van.thu", "/v1/recipient-groups").json() == []

    # Through the API: saved, listed, deleted.
    made = api.post("van.thu.xa", "/v1/recipient-groups",
                    {"name": "Tỉnh", "recipients": [PROVINCE]})
    assert made.status_code == 201 and made.json()["recipients"] == [PROVINCE]
    assert requests_delete(api, "van.thu.xa", made.json()["group_id"]).json() == {
        "deleted": made.json()["group_id"]}


def requests_delete(api, user, group_id):
    return api.request("DELETE", user, f"/v1/recipient-groups/{group_id}")


def test_bad_parameters_are_refused_naming_the_field_and_change_nothing(web):
    url, api = web, Api(web)
    clerk = session(url, "van.thu")
    token = csrf_of(get(clerk, url, "/web/directory").text)
    for params, field in (({"page": "abc"}, "Trang"), ({"page": "0"}, "Trang"),
                          ({"q": "x" * 201}, "Từ khóa tìm kiếm"),
                          ({"parent": "999.99.99.Z99"}, "Đơn vị cấp trên"),
                          ({"subtree": "999.99.99.Z99"}, "Đơn vị và các đơn vị trực thuộc"),
                          ({"group": "abc"}, "Nhóm nơi nhận")):
        refused = get(clerk, url, "/web/directory", **params)
        assert refused.status_code in (400, 404), (params, refused.status_code)
        assert f"Trường: {field}" in refused.text, params
    for fields, field in (({"name": "", "recipients": COMMUNE_1}, "Tên nhóm"),
                          ({"name": "x" * 101, "recipients": COMMUNE_1}, "Tên nhóm"),
                          ({"name": "Nhóm", "recipients": ""}, "Nơi nhận"),
                          ({"name": "Nhóm", "recipients": "không-phải-mã"}, "Nơi nhận"),
                          ({"name": "Nhóm", "recipients": "999.99.99.Z99"}, "Nơi nhận")):
        refused = clerk.post(f"{url}/web/directory/groups", allow_redirects=False,
                               timeout=60, data={"csrf": token, **fields})
        assert refused.status_code == 400, (fields, refused.status_code)
        assert f"Trường: {field}" in refused.text, fields
    assert api.get("van.thu", "/v1/recipient-groups").json() == []

    # The API's refusals name the field too.
    for query, field in (("page=0", "page"), ("size=101", "size"), ("page=x", "page"),
                         ("parent=999.99.99.Z99", "parent")):
        answer = api.get("van.thu", f"/v1/directory?{query}")
        assert answer.status_code in (400, 404) and answer.json()["error"]["field"] == field
    for body, field in (({"name": "", "recipients": [COMMUNE_1]}, "name"),
                        ({"name": "Nhóm", "recipients": ["999.99.99.Z99"]}, "recipients"),
                        ({"name": "Nhóm", "recipients": []}, "recipients")):
        answer = api.post("van.thu", "/v1/recipient-groups", body)
        assert answer.status_code == 400 and answer.json()["error"]["field"] == field, body
    assert api.get("van.thu", "/v1/recipient-groups").json() == []


def test_the_api_searches_the_directory_a_page_at_a_time(web):
    api = Api(web)
    for who in ("van.thu", "chu.tich"):  # every signed-in role may read the directory
        found = api.get(who, "/v1/directory", params={"q": "dien hoa"}).json()
        assert [a["code"] for a in found["items"]] == [COMMUNE_1]
    first = api.get("van.thu", "/v1/directory",
                    params={"parent": PROVINCE, "size": 4}).json()
    second = api.get("van.thu", "/v1/directory",
                     params={"parent": PROVINCE, "size": 4, "page": 2}).json()
    assert first["total"] == second["total"] == 9 and len(first["items"]) == 4
    codes = [a["code"] for a in first["items"] + second["items"]]
    assert len(set(codes)) == 8 and first["names"][PROVINCE] == "UBND tỉnh Nghệ An (mẫu)"
    roots = api.get("van.thu", "/v1/directory").json()
    assert [(a["code"], a["has_children"]) for a in roots["items"]] == [(PROVINCE, True)]
    assert api.get(None, "/v1/directory").status_code == 401
    spec = api.get(None, "/v1/openapi.json").json()
    assert {"q", "parent", "page", "size"} == {
        p["name"] for p in spec["paths"]["/v1/directory"]["get"]["parameters"]}


def test_the_script_fills_the_field_in_place_in_chromium(web, browser, tmp_path):
    """With JavaScript (Chromium enforcing the gateway's Content-Security-Policy),
    the compose form searches and fills the recipients field without leaving."""
    screen = Screen(browser, web, tmp_path)
    screen.log_in("van.thu")
    screen.open("/web/new")
    screen.type("subject", SUBJECT)
    screen.type("picker-q", "dien hoa")
    screen.wait_text(f"UBND xã Diễn Hoa – Diễn Phong ({COMMUNE_1})")
    row = "//ul[@id='picker-list']/li[span[contains(., '{}')]]"
    browser.find_element(By.XPATH, row.format(COMMUNE_1) + "/button[.='Thêm']").click()
    field = browser.find_element(By.ID, "recipients")
    WebDriverWait(browser, 10).until(lambda _: field.get_attribute("value") == COMMUNE_1)
    screen.type("picker-q", "nghe an")
    screen.wait_text(f"UBND tỉnh Nghệ An (mẫu) ({PROVINCE})")
    browser.find_element(By.XPATH, row.format(PROVINCE)
                         + "/button[.='Chọn cả đơn vị trực thuộc']").click()
    WebDriverWait(browser, 10).until(lambda _: len(field.get_attribute("value").split()) == 9)
    codes = field.get_attribute("value").split()
    assert codes[0] == COMMUNE_1 and len(set(codes)) == 9 and PROVINCE not in codes
    assert browser.current_url.endswith("/web/new")  # never left the page
    assert browser.find_element(By.ID, "subject").get_attribute("value") == SUBJECT


def test_the_compose_form_shows_the_upload_s_progress_in_chromium(web, browser, tmp_path):
    """With JavaScript, the compose form's files go up with a progress bar (the
    upload slowed down in Chromium so it can be seen moving), then the page is
    the new document's, holding every byte; a refusal shows the gateway's page."""
    pdf = tmp_path / "ke-hoach.pdf"
    pdf.write_bytes(make_pdf("Ke hoach", padding=1_500_000))
    screen = Screen(browser, web, tmp_path)
    screen.log_in("van.thu")
    # A refusal comes back as the page the form would have shown (here: no token).
    small = tmp_path / "nho.pdf"
    small.write_bytes(make_pdf("Nho"))

    def compose(path):
        screen.open("/web/new")
        for field, value in (("subject", SUBJECT), ("agency_abbreviation", "UBND"),
                             ("position", "Chủ tịch"), ("full_name", "Nguyễn Văn An"),
                             ("recipients", COMMUNE_1)):
            screen.type(field, value)
        browser.find_element(By.ID, "file").send_keys(str(path))

    compose(small)
    browser.execute_script("document.querySelector('#compose input[name=csrf]').remove()")
    screen.press("Lưu dự thảo")
    screen.wait_text("Biểu mẫu không hợp lệ hoặc đã cũ")
    assert browser.current_url.endswith("/web/new")
    compose(pdf)
    browser.set_network_conditions(offline=False, latency=5, download_throughput=10_000_000,
                                   upload_throughput=300_000)  # bytes/s: about 5 s
    bar = browser.find_element(By.ID, "upload-progress")
    assert not bar.is_displayed()
    screen.press("Lưu dự thảo")
    seen, said = set(), set()

    def moving(_):
        try:
            value = int(bar.get_attribute("value"))
            if bar.is_displayed() and 0 < value < 100:
                seen.add(value)
                said.add(browser.find_element(By.ID, "upload-status").text)
        except StaleElementReferenceException:
            return True  # the page moved on
        return len(seen) >= 3

    WebDriverWait(browser, 60, poll_frequency=0.1).until(moving)
    screen.wait_text("Đã tạo dự thảo.", timeout=120)
    browser.delete_network_conditions()
    assert len(seen) >= 3, f"the bar was seen at {sorted(seen)} only"
    assert any(re.fullmatch(r"Đang tải tệp lên: ([1-9]|[1-9][0-9])%", t) for t in said), said
    document_id = browser.current_url.split("/web/documents/")[1].split("?")[0]
    api = Api(web)
    assert api.get("van.thu", f"/v1/documents/{document_id}").json()["file"]["size"] == \
        pdf.stat().st_size
