"""The administrators' screens on the real stack, as a browser without
JavaScript uses them: an agency admin creates a user, resets their password
and disables them (their login then refused, their open session ended),
issues and revokes a certificate, browses the directory; the system
administrator changes the directory from a date and reads each service's
failed messages (dead letters); a clerk is refused every admin page; a form
without its anti-forgery token changes nothing."""

from datetime import datetime

import pytest

from shared.values import VIETNAM
from tests.e2e.test_web import csrf_of, log_in, session
from tests.support import db
from tests.support.client import DISTRICT_1, OUTSIDER, PROVINCE, wait_for
from tests.support.edxml import package
from tests.support.gateway import Api, seed_file

pytestmark = pytest.mark.e2e

USERS = [
    {"user_id": "quan.tri", "agency": PROVINCE, "role": "admin", "full_name": "Vũ Thị Giang"},
    {"user_id": "van.hanh", "agency": PROVINCE, "role": "operator", "full_name": "Đinh Văn Hà"},
    {"user_id": "van.thu", "agency": PROVINCE, "role": "clerk", "full_name": "Trần Thị Bình"},
    {"user_id": "van.thu.h3", "agency": OUTSIDER, "role": "clerk",
     "full_name": "Phạm Thị Dung"},
]
NEW_PASSWORD = "mật khẩu ban đầu 2026"
RESET_PASSWORD = "mật khẩu đặt lại 2026"


@pytest.fixture
def web(stack, platform, tmp_path):
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start()
    return platform.gateway_url


def submit(browser, url, page, action, fields=None, csrf=True):
    """POST a form of ``page`` (its token read from it) to ``action``."""
    data = dict(fields or {})
    if csrf:
        data["csrf"] = csrf_of(browser.get(url + page, timeout=60).text)
    return browser.post(url + action, data=data, allow_redirects=False, timeout=60)


def docs_sql(platform, sql):
    import psycopg

    with psycopg.connect(platform.pg_dsn, options="-c search_path=docs",
                         autocommit=True) as conn:
        conn.execute(sql)


def user_ids(api, who="van.hanh"):
    return {u["user_id"] for u in api.get(who, "/v1/admin/users").json()}


def test_an_agency_admin_manages_users_and_certificates(web):
    url, api = web, Api(web)
    admin = session(url, "quan.tri")
    page = admin.get(f"{url}/web/admin/users", timeout=60)
    assert page.status_code == 200 and "Quản trị người dùng" in page.text
    assert "van.thu" in page.text and "van.thu.h3" not in page.text  # its own agency only
    new = {"user_id": "van.thu.moi", "role": "clerk", "full_name": "Lý Thị Mới",
           "password": NEW_PASSWORD}

    # Without the token, nothing is done; a short password is the domain's refusal.
    refused = submit(admin, url, "/web/admin/users", "/web/admin/users", new, csrf=False)
    assert refused.status_code == 403 and "van.thu.moi" not in user_ids(api)
    short = submit(admin, url, "/web/admin/users", "/web/admin/users",
                   {**new, "password": "ngắn"})
    assert short.status_code == 400 and "Trường: Mật khẩu" in short.text
    assert 'value="van.thu.moi"' in short.text and "ngắn" not in short.text
    assert "van.thu.moi" not in user_ids(api)
    # An agency admin may not create an operator: the API's scope rule, recorded.
    operator = submit(admin, url, "/web/admin/users", "/web/admin/users",
                      {**new, "role": "operator"})
    assert operator.status_code == 403 and "van.thu.moi" not in user_ids(api)

    created = submit(admin, url, "/web/admin/users", "/web/admin/users", new)
    assert created.status_code == 303, created.text
    assert created.headers["Location"] == "/web/admin/users?ok=user_created"
    listed = admin.get(url + created.headers["Location"], timeout=60).text
    assert "Đã tạo người dùng." in listed and "Lý Thị Mới" in listed
    assert [u for u in api.get("quan.tri", "/v1/admin/users").json()
            if u["user_id"] == "van.thu.moi"][0]["agency"] == PROVINCE
    again = submit(admin, url, "/web/admin/users", "/web/admin/users", new)
    assert again.status_code == 409 and "Trường: Tên đăng nhập" in again.text

    # A new password: the old one stops, the new one works.
    _, first = log_in(url, "van.thu.moi", NEW_PASSWORD)
    assert first.status_code == 303
    reset = submit(admin, url, "/web/admin/users", "/web/admin/users/van.thu.moi/password",
                   {"password": RESET_PASSWORD})
    assert reset.status_code == 303 and reset.headers["Location"].endswith("ok=user_password")
    assert log_in(url, "van.thu.moi", NEW_PASSWORD)[1].status_code == 401
    newcomer, answer = log_in(url, "van.thu.moi", RESET_PASSWORD)
    assert answer.status_code == 303
    assert newcomer.get(f"{url}/web/", timeout=60, allow_redirects=False).status_code == 200

    # Disabled: no more logins, and the open session ends at once.
    disabled = submit(admin, url, "/web/admin/users", "/web/admin/users/van.thu.moi/disable")
    assert disabled.status_code == 303
    assert log_in(url, "van.thu.moi", RESET_PASSWORD)[1].status_code == 401
    ended = newcomer.get(f"{url}/web/", timeout=60, allow_redirects=False)
    assert ended.status_code == 303 and ended.headers["Location"].startswith("/web/login")
    assert "Đã khóa lúc" in admin.get(f"{url}/web/admin/users", timeout=60).text
    # Another agency's user: refused by name, as the API refuses it.
    other = submit(admin, url, "/web/admin/users", "/web/admin/users/van.thu.h3/disable")
    assert other.status_code == 403
    assert log_in(url, "van.thu.h3")[1].status_code == 303

    # A certificate issued (a key the platform keeps), then revoked with a reason.
    certs = admin.get(f"{url}/web/admin/certificates", timeout=60)
    assert certs.status_code == 200 and "Chứng thư số" in certs.text
    issued = submit(admin, url, "/web/admin/certificates", "/web/admin/certificates",
                    {"holder": "van.thu", "role": "clerk", "full_name": "Trần Thị Bình"})
    assert issued.status_code == 200 and "Đã cấp chứng thư số" in issued.text, issued.text
    [serial] = [c["serial"] for c in api.get("quan.tri", "/v1/admin/certificates").json()
                if c["holder"] == "van.thu"]
    assert f"/web/admin/certificates/{serial}/revoke" in issued.text
    bad = submit(admin, url, "/web/admin/certificates",
                 f"/web/admin/certificates/{serial}/revoke", {"reason": "noReason"})
    assert bad.status_code == 400 and "Trường: Lý do" in bad.text
    revoked = submit(admin, url, "/web/admin/certificates",
                     f"/web/admin/certificates/{serial}/revoke", {"reason": "superseded"})
    assert revoked.status_code == 303
    shown = admin.get(url + revoked.headers["Location"], timeout=60).text
    assert "Đã thu hồi chứng thư số." in shown and "Đã được thay thế" in shown
    [cert] = [c for c in api.get("quan.tri", "/v1/admin/certificates").json()
              if c["serial"] == serial]
    assert cert["revoked_at"] and cert["reason"] == "superseded"

    # The directory: readable, not changeable, by an agency admin.
    roots = admin.get(f"{url}/web/admin/agencies", timeout=60)
    assert roots.status_code == 200 and PROVINCE in roots.text
    assert "/web/admin/agencies/changes" not in roots.text
    under = admin.get(f"{url}/web/admin/agencies", params={"parent": PROVINCE}, timeout=60)
    assert DISTRICT_1 in under.text
    change = submit(admin, url, "/web/admin/agencies", "/web/admin/agencies/changes",
                    {"op": "rename", "on": "2030-01-01", "code": DISTRICT_1, "new_name": "X"})
    assert change.status_code == 403


def test_the_system_administrator_changes_the_directory_and_reads_dead_letters(web):
    url, api = web, Api(web)
    operator = session(url, "van.hanh")
    today = datetime.now(VIETNAM).date().isoformat()
    code = "000.09.09.H41"
    create = {"op": "create", "on": today, "code": code, "name": "UBND xã Thử Nghiệm",
              "level": "commune", "parent": PROVINCE}
    no_token = submit(operator, url, "/web/admin/agencies", "/web/admin/agencies/changes",
                      create, csrf=False)
    assert no_token.status_code == 403
    assert code not in {a["code"] for a in api.get("van.hanh", "/v1/admin/agencies").json()}
    nameless = submit(operator, url, "/web/admin/agencies", "/web/admin/agencies/changes",
                      {**create, "name": ""})
    assert nameless.status_code == 400 and "changes.0" in nameless.text
    done = submit(operator, url, "/web/admin/agencies", "/web/admin/agencies/changes", create)
    assert done.status_code == 303, done.text
    assert done.headers["Location"] == f"/web/admin/agencies/{code}?ok=directory_changed"
    history = operator.get(url + done.headers["Location"], timeout=60).text
    assert "UBND xã Thử Nghiệm" in history and datetime.now(VIETNAM).strftime(
        "%d/%m/%Y") in history
    found = operator.get(f"{url}/web/admin/agencies", params={"q": "thu nghiem"}, timeout=60)
    assert code in found.text
    # A rename dated before the agency existed is the directory's refusal: nothing changes.
    early = submit(operator, url, "/web/admin/agencies", "/web/admin/agencies/changes",
                   {"op": "rename", "on": "2000-01-01", "code": code, "new_name": "Sai"})
    assert early.status_code == 400 and "changes.0" in early.text
    assert [v["name"] for v in api.get("van.hanh", f"/v1/admin/agencies/{code}/history")
            .json()] == ["UBND xã Thử Nghiệm"]

    for service in ("signing", "routing"):
        page = operator.get(f"{url}/web/admin/dead-letters", params={"service": service},
                            timeout=60)
        assert page.status_code == 200 and "Thông điệp lỗi" in page.text
        letters = api.get("van.hanh", f"/v1/admin/dead-letters/{service}").json()
        assert page.text.count('/replay"') == len([d for d in letters if not d["replayed_at"]])
    assert operator.get(f"{url}/web/admin/dead-letters", params={"service": "audit"},
                        timeout=60).status_code == 404


def test_the_system_administrator_replays_a_dead_letter(web, platform):
    """docs cannot register an arrival (a fault put in its table), gives the
    event up after its tries; the operator sees it, the cause is fixed, and
    Gửi lại sends it back: the arrival is registered once."""
    url, api = web, Api(web)
    operator = session(url, "van.hanh")
    empty = operator.get(f"{url}/web/admin/dead-letters", timeout=60)
    assert empty.status_code == 200 and "Không có thông điệp lỗi nào." in empty.text
    docs_sql(platform, "ALTER TABLE incoming ADD CONSTRAINT closed CHECK (false) NOT VALID")
    taken = api.post("van.hanh", "/v1/edxml/documents",
                     {"package": package(to=(DISTRICT_1,))})
    assert taken.status_code == 200, taken.text
    [letter] = wait_for(lambda: api.get("van.hanh", "/v1/admin/dead-letters/docs").json(),
                        what="docs giving the arrival up", timeout=90)
    page = operator.get(f"{url}/web/admin/dead-letters?service=docs", timeout=60).text
    action = f"/web/admin/dead-letters/docs/{letter['id']}/replay"
    assert action in page and letter["consumer"] in page

    docs_sql(platform, "ALTER TABLE incoming DROP CONSTRAINT closed")  # the fix
    no_token = submit(operator, url, "/web/admin/dead-letters", action, csrf=False)
    assert no_token.status_code == 403
    assert api.get("van.hanh", "/v1/admin/dead-letters/docs").json()[0]["replayed_at"] is None
    replayed = submit(operator, url, "/web/admin/dead-letters", action)
    assert replayed.status_code == 303, replayed.text
    assert replayed.headers["Location"] == "/web/admin/dead-letters?service=docs&ok=replayed"
    shown = operator.get(url + replayed.headers["Location"], timeout=60).text
    assert "Đã gửi lại thông điệp." in shown and "Đã gửi lại lúc" in shown
    assert action not in shown
    wait_for(lambda: db.scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM incoming"),
             what="docs registering the replayed arrival")
    assert submit(operator, url, "/web/admin/dead-letters", action).status_code == 404
    missing = submit(operator, url, "/web/admin/dead-letters",
                     "/web/admin/dead-letters/docs/999999/replay")
    assert missing.status_code == 404


def test_the_apis_administration_endpoints_the_pages_stand_for(web):
    """Password reset, enrolment for a token's public key, revocation, an
    agency's history and a dated change, over the JSON API, with its roles."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    api = Api(web)
    assert api.post("van.thu", "/v1/admin/users/van.thu.h3/password",
                    {"password": RESET_PASSWORD}).status_code == 403
    assert api.post("quan.tri", "/v1/admin/users/van.thu.h3/password",
                    {"password": RESET_PASSWORD}).status_code == 403  # another agency's
    short = api.post("quan.tri", "/v1/admin/users/van.thu/password", {"password": "ngắn"})
    assert short.status_code == 400 and short.json()["error"]["field"] == "password"
    assert api.post("quan.tri", "/v1/admin/users/van.thu/password",
                    {"password": RESET_PASSWORD}).json() == {"user_id": "van.thu",
                                                             "password_reset": True}
    assert api.get("van.thu", "/v1/inbox").status_code == 401  # the token held before
    assert api.login("van.thu").status_code == 401
    assert api.login("van.thu", RESET_PASSWORD).status_code == 200

    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    body = {"holder": "van.thu", "role": "clerk", "full_name": "Trần Thị Bình",
            "public_key": key}
    assert api.post("van.hanh", "/v1/admin/certificates", body).status_code == 403
    issued = api.post("quan.tri", "/v1/admin/certificates", body)
    assert issued.status_code == 200, issued.text
    assert issued.json()["pem"].startswith("-----BEGIN CERTIFICATE-----")
    serial = issued.json()["serial"]
    revoked = api.post("quan.tri", f"/v1/admin/certificates/{serial}/revoke",
                       {"reason": "affiliationChanged"})
    assert revoked.status_code == 200 and revoked.json()["reason"] == "affiliationChanged"

    history = api.get("quan.tri", f"/v1/admin/agencies/{DISTRICT_1}/history")
    assert history.status_code == 200 and history.json()[0]["code"] == DISTRICT_1
    assert api.get("van.thu.h3",
                   f"/v1/admin/agencies/{DISTRICT_1}/history").status_code == 403
    change = {"changes": [{"op": "rename", "on": "2030-01-01", "code": DISTRICT_1,
                           "new_name": "UBND xã Đổi Tên"}]}
    assert api.post("quan.tri", "/v1/admin/agencies/changes", change).status_code == 403
    assert api.post("van.hanh", "/v1/admin/agencies/changes", change).json() == {"applied": 1}
    names = [v["name"] for v in api.get("van.hanh",
                                        f"/v1/admin/agencies/{DISTRICT_1}/history").json()]
    assert names[-1] == "UBND xã Đổi Tên" and len(names) >= 2


def test_a_clerk_is_refused_every_admin_page(web):
    url = web
    clerk = session(url, "van.thu")
    for page in ("users", "certificates", "agencies", "dead-letters",
                 f"agencies/{PROVINCE}"):
        answer = clerk.get(f"{url}/web/admin/{page}", timeout=60, allow_redirects=False)
        assert answer.status_code == 403, page
    home = clerk.get(f"{url}/web/", timeout=60).text
    assert "/web/admin/" not in home
    posted = submit(clerk, url, "/web/", "/web/admin/users",
                    {"user_id": "x", "role": "clerk", "full_name": "X",
                     "password": NEW_PASSWORD})
    assert posted.status_code == 403
    assert "x" not in user_ids(Api(url))
