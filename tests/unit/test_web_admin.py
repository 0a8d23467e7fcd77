"""The administrators' screens without a server: the directory form's change,
browsing and searching the directory, the API's schemas on the forms, and the
pages rendered (every POST form carries the session token, every control has
its label, Vietnamese first, nothing of a password hash shown)."""

import re

import pytest

from services.gateway import schemas, web, web_admin
from shared.errors import ValidationFailed

ADMIN = {"user_id": "quan.tri", "role": "admin", "agency": "000.00.00.H41"}
OPERATOR = {"user_id": "van.hanh", "role": "operator", "agency": "000.00.00.H41"}
AGENCIES = [
    {"code": "000.00.00.H41", "name": "Ủy ban nhân dân tỉnh Mẫu", "level": "province",
     "parent": None, "valid_from": "2025-07-01", "valid_to": None, "successors": []},
    {"code": "000.01.00.H41", "name": "Ủy ban nhân dân xã Đồng Hòa", "level": "commune",
     "parent": "000.00.00.H41", "valid_from": "2025-07-01", "valid_to": None, "successors": []},
    {"code": "000.02.00.H41", "name": "Ủy ban nhân dân xã Bến Lức", "level": "commune",
     "parent": "000.00.00.H41", "valid_from": "2025-07-01", "valid_to": None, "successors": []},
    {"code": "000.00.00.H42", "name": "Ủy ban nhân dân tỉnh Khác", "level": "province",
     "parent": None, "valid_from": "2025-07-01", "valid_to": None, "successors": []},
]


def render(template, actor=ADMIN, lang="vi", path="/web/admin/users", **context):
    return web._env.get_template(template).render(
        **web.helpers(lang), csrf="c5rf", path=path, flash=None, actor=actor, **context)


def check_forms_and_labels(html):
    """Every POST form has the token; every visible control has a label; the
    number of the main part's POST forms (the header's logout aside)."""
    forms = re.findall(r'<form method="post"[^>]*>(.*?)</form>', html, re.S)
    assert forms and all('<input type="hidden" name="csrf" value="c5rf">' in f for f in forms)
    controls = re.findall(r'<(input|select|textarea)\b([^>]*)>', html)
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    for tag, attrs in controls:
        if 'type="hidden"' in attrs:
            continue
        found = re.search(r'\bid="([^"]+)"', attrs)
        assert found and found.group(1) in labelled, f"{tag} {attrs} has no label"
    return len(re.findall(r'<form method="post"', html.split("<main", 1)[1]))


# -- pure helpers -----------------------------------------------------------------------

def test_the_directory_form_gives_only_the_fields_of_its_change():
    form = {"op": "create", "on": "2026-01-01", "code": "000.03.00.H41", "name": "Xã Mới",
            "level": "commune", "parent": "000.00.00.H41", "new_name": "ignored",
            "successor": ""}
    assert web_admin.directory_change(form) == {
        "op": "create", "on": "2026-01-01", "code": "000.03.00.H41", "name": "Xã Mới",
        "level": "commune", "parent": "000.00.00.H41"}
    assert web_admin.directory_change({"op": "create", "on": "2026-01-01", "code": "X",
                                       "parent": ""})["parent"] is None  # a root
    assert web_admin.directory_change({"op": "rename", "on": "2026-02-01",
                                       "code": "000.01.00.H41", "new_name": "Xã Hòa"}) == {
        "op": "rename", "on": "2026-02-01", "code": "000.01.00.H41", "new_name": "Xã Hòa"}
    assert web_admin.directory_change({"op": "dissolve", "on": "2026-03-01",
                                       "code": "000.02.00.H41", "successor": ""}) == {
        "op": "dissolve", "on": "2026-03-01", "code": "000.02.00.H41"}
    with pytest.raises(ValidationFailed) as err:
        web_admin.directory_change({"op": "merge"})
    assert err.value.field == "op"


def test_the_forms_are_checked_by_the_apis_own_schemas():
    with pytest.raises(ValidationFailed) as err:
        web_admin.loaded(schemas.NewUserSchema, {"user_id": "a", "agency": "000.00.00.H41",
                                                 "role": "clerk", "full_name": "A",
                                                 "password": "short"})
    assert err.value.field == "password"
    with pytest.raises(ValidationFailed) as err:
        web_admin.loaded(schemas.EnrollSchema, {"holder": "a", "role": "auditor",
                                                "full_name": "A"})
    assert err.value.field == "role"
    assert web_admin.loaded(schemas.RevocationSchema, {"reason": "superseded"}) == {
        "reason": "superseded"}


# -- pages ------------------------------------------------------------------------------

USERS = [{"user_id": "van.thu", "agency": "000.00.00.H41", "role": "clerk",
          "full_name": "Trần Thị <b>Bình</b>", "created_at": "2026-12-01T03:00:00+00:00",
          "disabled_at": None},
         {"user_id": "cu.nhan", "agency": "000.00.00.H41", "role": "leader",
          "full_name": "Lê Văn Cũ", "created_at": "2026-01-05T20:00:00+00:00",
          "disabled_at": "2026-12-03T18:30:00+00:00"},
         {**ADMIN, "full_name": "Vũ Thị Giang", "created_at": "2026-01-01T00:00:00+00:00",
          "disabled_at": None}]


def test_the_users_page_lists_disables_and_resets_in_vietnamese():
    html = render("admin_users.html", users=USERS, roles=("clerk", "leader", "admin"),
                  values={})
    assert "Quản trị người dùng" in html and "Người dùng của đơn vị 000.00.00.H41" in html
    # two forms for the active user (disable, reset), none for the disabled one or oneself
    assert check_forms_and_labels(html) == 3
    assert 'action="/web/admin/users/van.thu/disable"' in html
    assert 'action="/web/admin/users/van.thu/password"' in html
    assert "/web/admin/users/cu.nhan/" not in html and "/web/admin/users/quan.tri/" not in html
    assert "Đã khóa lúc 04/12/2026 01:30" in html  # Vietnam time, dd/mm/yyyy
    assert "01/12/2026" in html and "06/01/2026" in html
    assert "&lt;b&gt;Bình&lt;/b&gt;" in html  # escaped
    assert 'name="agency"' not in html  # an agency admin creates users of its own agency
    assert '<option value="auditor"' not in html
    english = render("admin_users.html", lang="en", users=USERS, roles=("clerk",), values={})
    assert "User administration" in english and "Reset password" in english


def test_the_operator_names_the_agency_of_a_new_user_and_sees_every_role():
    html = render("admin_users.html", actor=OPERATOR, users=[], values={"user_id": "x"},
                  roles=("clerk", "leader", "auditor", "admin", "operator"))
    check_forms_and_labels(html)
    assert 'name="agency"' in html and '<option value="operator">' in html
    assert 'value="x"' in html  # a refused form keeps what was typed (never the password)


def test_the_certificates_page_shows_validity_revocation_and_the_enrol_form():
    certs = [{"serial": "1a2b", "holder": "chu.tich", "agency": "000.00.00.H41",
              "role": "leader", "not_before": "2026-01-02T00:00:00+00:00",
              "not_after": "2027-01-02T00:00:00+00:00", "revoked_at": None, "reason": None},
             {"serial": "3c4d", "holder": "000.00.00.H41", "agency": "000.00.00.H41",
              "role": "agency", "not_before": "2025-01-02T00:00:00+00:00",
              "not_after": "2026-01-02T00:00:00+00:00",
              "revoked_at": "2025-06-01T02:00:00+00:00", "reason": "superseded"}]
    html = render("admin_certificates.html", path="/web/admin/certificates",
                  certificates=certs, reasons=web_admin.REVOCATION_REASONS,
                  enrol_roles=web_admin.ENROL_ROLES, values={})
    assert check_forms_and_labels(html) == 2  # revoke the valid one; enrol
    assert 'action="/web/admin/certificates/1a2b/revoke"' in html
    assert "/3c4d/revoke" not in html
    assert "Từ 02/01/2026 đến 02/01/2027" in html
    assert "Thu hồi lúc 01/06/2025 09:00" in html and "Đã được thay thế" in html
    assert "Cấp chứng thư số" in html and 'name="public_key"' in html
    issued = render("admin_certificates.html", path="/web/admin/certificates",
                    certificates=[], reasons=(), enrol_roles=(), values={},
                    issued={"serial": "5e", "subject": "CN=X", "pem": "-----BEGIN"})
    assert "Đã cấp chứng thư số 5e" in issued and "-----BEGIN" in issued
    kept = render("admin_certificates.html", path="/web/admin/certificates", certificates=[],
                  reasons=(), enrol_roles=(), values={}, issued={"serial": "6f", "subject": "CN=Y"})
    assert "Đã cấp chứng thư số 6f" in kept and "issued-pem" not in kept  # a key kept by signing
    auditor = render("admin_certificates.html", actor={**ADMIN, "role": "auditor"},
                     path="/web/admin/certificates", certificates=certs,
                     reasons=web_admin.REVOCATION_REASONS, enrol_roles=(), values={})
    assert "1a2b" in auditor and 'method="post"' not in auditor.split("<main")[1]


def test_the_certificates_page_lists_pending_requests_to_approve_or_reject():
    requests = [{"request_id": "9b2f6a4e-0000-4000-8000-000000000001", "holder": "chu.tich",
                 "agency": "000.00.00.H41", "role": "leader",
                 "full_name": "Nguyễn <b>Văn</b> An", "key_sha256": "ab" * 32,
                 "requested_at": "2026-11-20T02:00:00+00:00"}]
    html = render("admin_certificates.html", path="/web/admin/certificates", certificates=[],
                  reasons=(), enrol_roles=(), values={}, requests=requests)
    assert check_forms_and_labels(html) == 3  # approve, reject (with why); enrol
    base = "/web/admin/certificates/requests/9b2f6a4e-0000-4000-8000-000000000001"
    assert f'action="{base}/approve"' in html and f'action="{base}/reject"' in html
    assert "Nguyễn &lt;b&gt;Văn&lt;/b&gt; An" in html and "20/11/2026 09:00" in html
    english = render("admin_certificates.html", lang="en", path="/web/admin/certificates",
                     certificates=[], reasons=(), enrol_roles=(), values={}, requests=[])
    assert "No certificate request awaits approval." in english
    auditor = render("admin_certificates.html", actor={**ADMIN, "role": "auditor"},
                     path="/web/admin/certificates", certificates=[], reasons=(),
                     enrol_roles=(), values={}, requests=requests)
    assert "chu.tich" in auditor and 'method="post"' not in auditor.split("<main")[1]


def _agencies_page(actor, **extra):
    context = {"agencies": AGENCIES[1:3], "parent": "000.00.00.H41", "q": "",
               "names": {a["code"]: a["name"] for a in AGENCIES}, "links": None,
               "ops": web_admin.DIRECTORY_OPS, "values": {}, "has_children": set()}
    context.update(extra)
    return render("admin_agencies.html", actor=actor, path="/web/admin/agencies", **context)


def test_the_directory_is_read_by_admins_and_changed_by_operators():
    html = _agencies_page(ADMIN)
    assert "Danh mục cơ quan, đơn vị" in html and "Ủy ban nhân dân xã Đồng Hòa" in html
    assert 'method="post"' not in html.split("<main")[1]  # an admin only reads
    assert 'href="/web/admin/agencies/000.01.00.H41"' in html
    html = _agencies_page(OPERATOR)
    assert check_forms_and_labels(html) == 1  # the change
    assert 'action="/web/admin/agencies/changes"' in html and 'type="date"' in html
    assert 'name="parent" maxlength="13" value="000.00.00.H41"' in html


def test_an_agencys_history_in_dates_of_vietnam():
    history = [{**AGENCIES[1], "valid_to": "2026-03-01", "successors": []},
               {**AGENCIES[1], "name": "Xã Hòa", "valid_from": "2026-03-01",
                "valid_to": "2026-06-01", "successors": ["000.02.00.H41"]}]
    html = render("admin_agency.html", path="/web/admin/agencies/000.01.00.H41",
                  code="000.01.00.H41", history=history)
    assert "Xã Hòa (000.01.00.H41)" in html and "Lịch sử thay đổi" in html
    assert "01/03/2026" in html and "01/06/2026" in html
    assert 'href="/web/admin/agencies/000.02.00.H41"' in html


def test_dead_letters_each_with_a_replay_form_until_replayed():
    letters = [{"id": 7, "consumer": "docs.on_document_signed", "event_id": "e1",
                "error": "ValueError: boom", "attempts": 5,
                "failed_at": "2026-12-04T01:00:00+00:00", "replayed_at": None},
               {"id": 8, "consumer": "docs.on_document_sealed", "event_id": "e2",
                "error": "x", "attempts": 5, "failed_at": "2026-12-04T01:00:00+00:00",
                "replayed_at": "2026-12-04T02:00:00+00:00"}]
    html = render("admin_dead_letters.html", actor=OPERATOR, path="/web/admin/dead-letters",
                  service="docs", services=("docs", "signing", "routing"), letters=letters)
    assert check_forms_and_labels(html) == 1  # replay letter 7
    assert 'action="/web/admin/dead-letters/docs/7/replay"' in html
    assert "/docs/8/replay" not in html and "Đã gửi lại lúc 04/12/2026 09:00" in html
    assert "Thông điệp lỗi" in html and 'aria-current="page">Văn bản (docs)' in html


def test_the_navigation_and_home_lead_each_administrator_to_their_screens():
    admin = render("home.html", path="/web/", groups=[], note=None, overdue={})
    assert 'href="/web/admin/certificates"' in admin and "/web/admin/dead-letters" not in admin
    operator = render("home.html", actor=OPERATOR, path="/web/", groups=[], note=None,
                      overdue={})
    assert 'href="/web/admin/dead-letters"' in operator
    assert "/web/admin/certificates" not in operator
    clerk = render("home.html", actor={**ADMIN, "role": "clerk"}, path="/web/", groups=[],
                   note=None, overdue={})
    assert "/web/admin/" not in clerk
