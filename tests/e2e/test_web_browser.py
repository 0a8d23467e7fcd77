"""The web application in a real browser: Debian's headless Chromium, driven by
Selenium through chromium-driver (nothing downloaded at run time), through one
document's whole life: a clerk composes it with a PDF upload and submits it
and its recipients chosen with the directory picker's "whole subtree" (a
district and its four communes; a form whose anti-forgery token was taken
out is refused and changes nothing), the leader signs it from Chờ ký, the
clerk seals and issues it, which sends it to that subtree: each of its five
agencies has it (routing's statuses, and each commune clerk's inbox); the
district's clerk finds it in Văn bản đến, accepts it and reports its
progress (04, then 06); the inspector verifies the log, reconciles it with
the services, reads the signature in the document's history and downloads
its evidence bundle; the dashboard counts it sent by the province and
received by the district's subtree (five copies).

(The other agency's refusal, CSRF on every form and the session's expiry are
tests/e2e/test_web.py's, without a browser.)

Screenshots of the pages go to ``$LIENTHONG_SCREENSHOTS`` when it is set (the
README's, docs/screenshots), else to the test's temporary directory."""

import json
import os
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import (
    StaleElementReferenceException, TimeoutException, WebDriverException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from infra.client import wait_for
from tests.e2e.test_web import USERS
from tests.support.client import DISTRICT_1, PROVINCE
from tests.support.gateway import PASSWORD, Api, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

SUBJECT = "Kế hoạch phòng, chống thiên tai năm 2027"
# The district (huyện Diễn Châu, in the sample directory) and its four communes,
# each with a clerk of its own here: the subtree the document is sent to.
COMMUNES = [f"00{n}.01.00.H41" for n in range(1, 5)]
SUBTREE = [DISTRICT_1, *COMMUNES]
COMMUNE_CLERKS = {f"van.thu.x{n}": code for n, code in enumerate(COMMUNES, start=1)}


@pytest.fixture
def web(stack, platform, tmp_path):
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS + [
        {"user_id": user, "agency": code, "role": "clerk", "full_name": f"Văn thư xã {user}"}
        for user, code in COMMUNE_CLERKS.items()])
    stack.start()
    return platform.gateway_url


class Screen:
    """The browser as a user sees it: pages, fields by label id, buttons by text."""

    def __init__(self, driver, url, shots):
        self.driver, self.url, self.shots = driver, url, shots

    def open(self, path):
        self.driver.get(self.url + path)

    def text(self):
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except WebDriverException as error:
            # Chromium may answer a body replaced between the find and the read
            # (a form's redirect) with an "unknown error" of its inspector, not
            # a stale element: it is the same thing, so callers read again.
            if "does not belong to the document" in (error.msg or ""):
                raise StaleElementReferenceException(error.msg) from error
            raise

    def type(self, field, value):
        element = self.driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)

    def press(self, label):
        self.driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()

    def wait_text(self, text, timeout=30):
        # The page may be replaced while it is read (a form's redirect): read again.
        WebDriverWait(self.driver, timeout, poll_frequency=0.5,
                      ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda _: text in self.text(), f"{text!r} on {self.driver.current_url}")

    def log_in(self, user_id):
        self.open("/web/login")
        self.type("user_id", user_id)
        self.type("password", PASSWORD)
        self.press("Đăng nhập")
        self.wait_text("Việc cần làm")

    def log_out(self):
        self.press("Đăng xuất")
        self.wait_text("Đã đăng xuất.")

    def shot(self, name, whole=False):
        """A screenshot; ``whole``: the page's full height, not only the window's."""
        size = self.driver.get_window_size()
        if whole:  # the window's own bars come on top of the page's height
            page, inner = self.driver.execute_script(
                "return [document.documentElement.scrollHeight, window.innerHeight]")
            self.driver.set_window_size(size["width"], min(page + size["height"] - inner, 3000))
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))
        if whole:
            self.driver.set_window_size(size["width"], size["height"])

    def act(self, document_id, label, done, choose=None, timeout=30):
        """On the document's page, pick ``choose`` (select id, value) and press
        ``label`` until the page says ``done``: the step before may still be on
        its way (its button not shown yet, or the service refusing for now)."""
        deadline = time.monotonic() + timeout
        while True:
            self.open(f"/web/documents/{document_id}")
            if self.driver.find_elements(By.XPATH, f"//button[normalize-space()='{label}']"):
                if choose:
                    Select(self.driver.find_element(By.ID, choose[0])).select_by_value(
                        choose[1])
                self.press(label)
                try:
                    return self.wait_text(done, timeout=5)
                except TimeoutException:
                    pass
            assert time.monotonic() < deadline, f"{label}: {self.text()}"
            time.sleep(0.5)

    def until_shown(self, path, text, timeout=30):
        """Open ``path`` again until it shows ``text`` (an event on its way)."""
        deadline = time.monotonic() + timeout
        while True:
            self.open(path)
            if text in self.text():
                return
            assert time.monotonic() < deadline, f"{text!r} on {path}: {self.text()}"
            time.sleep(0.5)

    def figure(self, label):
        """The figure a ``<dt>label</dt><dd>n</dd>`` pair shows."""
        return self.driver.find_element(
            By.XPATH, f"//dt[normalize-space()='{label}']/following-sibling::dd[1]").text


def test_a_document_from_compose_to_completion_in_chromium(web, browser, tmp_path):
    shots = Path(os.environ.get("LIENTHONG_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    screen, api = Screen(browser, web, shots), Api(web)
    pdf = tmp_path / "ke-hoach.pdf"
    pdf.write_bytes(make_pdf("Ke hoach qua trinh duyet", padding=200_000))

    # Văn thư: Tạo văn bản, the PDF chosen in the file input and uploaded; the
    # recipients from the directory: the district found by name, then "Chọn cả
    # đơn vị trực thuộc" (the picker's script fills the field in place).
    screen.log_in("van.thu")
    screen.open("/web/new")
    screen.type("subject", SUBJECT)
    Select(browser.find_element(By.ID, "document_type")).select_by_value("KH")
    Select(browser.find_element(By.ID, "urgency")).select_by_value("1")
    for field, value in (("agency_abbreviation", "UBND"), ("position", "Chủ tịch"),
                         ("full_name", "Nguyễn Văn An")):
        screen.type(field, value)
    screen.type("picker-q", "dien chau")
    screen.wait_text(f"UBND huyện Diễn Châu ({DISTRICT_1})")
    browser.find_element(By.XPATH, f"//ul[@id='picker-list']/li[span[contains(., '{DISTRICT_1}')]]"
                         "/button[.='Chọn cả đơn vị trực thuộc']").click()
    field = browser.find_element(By.ID, "recipients")
    WebDriverWait(browser, 10).until(lambda _: len(field.get_attribute("value").split()) == 5)
    assert sorted(field.get_attribute("value").split()) == SUBTREE
    browser.find_element(By.ID, "file").send_keys(str(pdf))
    screen.press("Lưu dự thảo")
    screen.wait_text("Đã tạo dự thảo.")
    document_id = browser.current_url.split("/web/documents/")[1].split("?")[0]
    registered = api.get("van.thu", f"/v1/documents/{document_id}").json()
    assert registered["file"]["size"] == pdf.stat().st_size
    assert registered["recipients"] == SUBTREE

    # A form without its anti-forgery token (taken out of the page): refused, no change.
    browser.execute_script(
        "document.querySelector('form[action$=\"/submit\"] input[name=csrf]').remove()")
    screen.press("Trình ký")
    screen.wait_text("mã chống giả mạo")
    assert "không có gì bị thay đổi" in screen.text()
    assert api.get("van.thu", f"/v1/documents/{document_id}").json()["state"] == "draft"

    # With its token: Trình ký to the chairman.
    screen.open(f"/web/documents/{document_id}")
    Select(browser.find_element(By.ID, "signer_user")).select_by_value("chu.tich")
    screen.press("Trình ký")
    screen.wait_text("Đã trình ký.")
    screen.log_out()

    # Lãnh đạo: the document waits in Chờ ký; opened from there and signed.
    screen.log_in("chu.tich")
    screen.open("/web/queue")
    screen.wait_text(SUBJECT)
    screen.shot("leader-queue")
    browser.find_element(By.LINK_TEXT, SUBJECT).click()
    WebDriverWait(browser, 30).until(lambda d: document_id in d.current_url)
    screen.act(document_id, "Ký số", "Đã ký số văn bản.")  # signing may not know of it yet
    screen.log_out()

    # Văn thư: Đóng dấu số, then Phát hành, which sends it to the subtree chosen
    # at compose: every one of its agencies has it (routing's statuses, the
    # sender's page, and each commune clerk's inbox through the API).
    screen.log_in("van.thu")
    screen.act(document_id, "Đóng dấu số", "Đã đóng dấu số.")
    screen.act(document_id, "Phát hành", "Đã phát hành văn bản.")
    assert "01/KH-UBND" in screen.text()
    wait_for(lambda: sorted(
        s["recipient"] for s in api.get("van.thu", f"/v1/documents/{document_id}/statuses")
        .json() if s["status"] == "01") == SUBTREE, what="a delivery to the whole subtree")
    screen.until_shown(f"/web/documents/{document_id}", "Tình hình gửi, nhận")
    rows = browser.find_elements(By.CSS_SELECTOR, "section[aria-labelledby=delivery] tbody tr")
    assert sorted(r.find_element(By.TAG_NAME, "td").text for r in rows) == SUBTREE
    assert all("01 Đã đến" in r.text for r in rows)
    for user, code in COMMUNE_CLERKS.items():
        inbox = api.get(user, "/v1/inbox").json()
        assert [(i["document_id"], i["status"]) for i in inbox] == [(document_id, "01")], code
    screen.log_out()

    # The district's văn thư (the district is of the subtree): the arrival in
    # Văn bản đến, Tiếp nhận, then the progress routing allows: 04 Đã phân
    # công, then 06 Hoàn thành.
    assert next(u["agency"] for u in USERS if u["user_id"] == "van.thu.h1") in SUBTREE
    screen.log_in("van.thu.h1")
    screen.until_shown("/web/inbox", SUBJECT)
    assert "01 Đã đến" in screen.text()
    screen.shot("clerk-inbox")
    browser.find_element(By.LINK_TEXT, SUBJECT).click()
    screen.press("Tiếp nhận")
    screen.wait_text("Đã tiếp nhận văn bản.")
    screen.act(document_id, "Cập nhật tiến độ", "Đã cập nhật tiến độ xử lý.",
               choose=("status_code", "04"))  # once routing knows of 03
    assert "04 Đã phân công" in screen.text()
    screen.act(document_id, "Cập nhật tiến độ", "Đã cập nhật tiến độ xử lý.",
               choose=("status_code", "06"))
    assert "06 Hoàn thành" in screen.text() and not browser.find_elements(By.ID, "status_code")
    screen.shot("document-timeline", whole=True)
    screen.log_out()

    # Thanh tra: the log verified, reconciled with the services, the document's
    # history (its signature) and its evidence bundle downloaded; nothing to post.
    screen.log_in("thanh.tra")
    screen.open("/web/audit")
    browser.find_element(By.LINK_TEXT, "Kiểm tra toàn vẹn nhật ký").click()
    screen.wait_text("Nhật ký toàn vẹn")
    screen.open("/web/audit")
    browser.find_element(By.LINK_TEXT, "Đối soát nhật ký với các dịch vụ").click()
    screen.wait_text("Số văn bản dựng lại từ nhật ký")
    screen.until_shown("/web/audit/reconcile", "Không có sai lệch")  # every event in
    assert screen.figure("Số văn bản dựng lại từ nhật ký") == "1"
    screen.shot("audit-reconcile")
    screen.open("/web/audit")
    screen.type("document_id", document_id)
    screen.press("Xem lịch sử")
    screen.wait_text("Lịch sử văn bản trong nhật ký")
    WebDriverWait(browser, 30, poll_frequency=0.5).until(
        lambda d: (d.refresh() or True) and any(
            cell.text == "Ký số" for cell in d.find_elements(By.CSS_SELECTOR, "tbody td")),
        "the signature in the log's history")
    assert "chu.tich" in screen.text() and not browser.find_elements(
        By.CSS_SELECTOR, "main form[method=post]")
    screen.shot("audit-history")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {
        "behavior": "allow", "downloadPath": str(downloads)})
    bundle = downloads / f"evidence-{document_id}.json"
    deadline = time.monotonic() + 30
    while not bundle.exists():  # the bundle needs a checkpoint over its events
        assert time.monotonic() < deadline, screen.text()
        screen.open(f"/web/audit/documents/{document_id}")
        browser.find_element(By.PARTIAL_LINK_TEXT, f"evidence-{document_id}.json").click()
        time.sleep(1)
    assert json.loads(bundle.read_text(encoding="utf-8"))["format"] == "lienthong-evidence/1"

    # Bảng điều hành, from the menu: the province sent 1, the district and its
    # communes received 5 copies (audit's projection of the events, a subtree's
    # figures), the charts drawn on the server.
    browser.find_element(By.LINK_TEXT, "Bảng điều hành").click()
    for agency, label, count in ((PROVINCE, "Tổng số văn bản đi", "1"),
                                 (DISTRICT_1, "Tổng số văn bản đến", "5")):
        deadline = time.monotonic() + 30
        while True:
            screen.type("agency", agency)
            screen.press("Xem")
            screen.wait_text(label)
            if screen.figure(label) == count:
                break
            assert time.monotonic() < deadline, screen.text()
            time.sleep(0.5)
    assert screen.figure("Tổng số văn bản đi") == "0"  # the district sent nothing
    screen.type("agency", PROVINCE)
    screen.press("Xem")
    screen.wait_text(PROVINCE)
    assert browser.find_elements(By.CSS_SELECTOR, "svg[role=img] title")
    screen.shot("dashboard")
