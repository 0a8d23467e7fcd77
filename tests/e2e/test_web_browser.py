"""The web application in a real browser: Debian's headless Chromium, driven by
Selenium through chromium-driver (nothing downloaded at run time). A clerk
composes a document with a PDF upload and submits it, the leader signs it
from Chờ ký, the inspector sees the signature in the document's history from
the audit log; a form whose anti-forgery token was taken out is refused and
changes nothing.

Screenshots of the pages go to ``$LIENTHONG_SCREENSHOTS`` when it is set (the
README's), else to the test's temporary directory."""

import os
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.test_web import USERS
from tests.support.client import DISTRICT_1
from tests.support.gateway import PASSWORD, Api, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

SUBJECT = "Kế hoạch phòng, chống thiên tai năm 2027"


@pytest.fixture
def web(stack, platform, tmp_path):
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start()
    return platform.gateway_url


class Screen:
    """The browser as a user sees it: pages, fields by label id, buttons by text."""

    def __init__(self, driver, url, shots):
        self.driver, self.url, self.shots = driver, url, shots

    def open(self, path):
        self.driver.get(self.url + path)

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

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

    def shot(self, name):
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))


def test_compose_sign_and_audit_in_chromium(web, browser, tmp_path):
    shots = Path(os.environ.get("LIENTHONG_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    screen, api = Screen(browser, web, shots), Api(web)
    pdf = tmp_path / "ke-hoach.pdf"
    pdf.write_bytes(make_pdf("Ke hoach qua trinh duyet", padding=200_000))

    # Văn thư: Tạo văn bản, the PDF chosen in the file input and uploaded.
    screen.log_in("van.thu")
    screen.open("/web/new")
    screen.type("subject", SUBJECT)
    Select(browser.find_element(By.ID, "document_type")).select_by_value("KH")
    Select(browser.find_element(By.ID, "urgency")).select_by_value("1")
    for field, value in (("agency_abbreviation", "UBND"), ("position", "Chủ tịch"),
                         ("full_name", "Nguyễn Văn An"), ("recipients", DISTRICT_1)):
        screen.type(field, value)
    browser.find_element(By.ID, "file").send_keys(str(pdf))
    screen.press("Lưu dự thảo")
    screen.wait_text("Đã tạo dự thảo.")
    document_id = browser.current_url.split("/web/documents/")[1].split("?")[0]
    assert api.get("van.thu", f"/v1/documents/{document_id}").json()["file"]["size"] == \
        pdf.stat().st_size

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
    screen.shot("document-timeline")
    screen.log_out()

    # Lãnh đạo: the document waits in Chờ ký; opened from there and signed.
    screen.log_in("chu.tich")
    screen.open("/web/queue")
    screen.wait_text(SUBJECT)
    screen.shot("leader-queue")
    browser.find_element(By.LINK_TEXT, SUBJECT).click()
    deadline = time.monotonic() + 30
    while "Đã ký số văn bản." not in screen.text():  # signing may not know of it yet
        assert time.monotonic() < deadline, screen.text()
        screen.open(f"/web/documents/{document_id}")
        screen.press("Ký số")
        time.sleep(0.5)
    screen.log_out()

    # Thanh tra: the signature in the document's history, from the audit log.
    screen.log_in("thanh.tra")
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

    # Bảng điều hành, from the menu: the province's figures (what this flow
    # left: a document signed, none sent yet), its charts drawn on the server.
    browser.find_element(By.LINK_TEXT, "Bảng điều hành").click()
    screen.type("agency", "000.00.00.H41")
    screen.press("Xem")
    screen.wait_text("Tổng số văn bản đi")
    assert browser.find_elements(By.CSS_SELECTOR, "svg[role=img] title")
    screen.shot("dashboard")
