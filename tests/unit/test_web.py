"""The web application's pure helpers: words in both languages, Vietnam dates,
the session cookie, and the compose form turned into docs' parts."""

import io
import re
import unicodedata
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import requests
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from services.audit import replay
from services.docs import domain as docs_domain
from services.docs import queries
from services.gateway import web, web_admin, web_audit, web_lists
from services.gateway.routes import CONSUMERS
from services.gateway.web_text import EN, TEXT, VI
from shared import errors
from shared.multipart import MultipartStream

TEMPLATES = Path(web.__file__).parent / "templates"


def test_every_key_is_in_both_languages_and_vietnamese_is_nfc():
    assert set(VI) == set(EN)
    for key, text in VI.items():
        assert text and unicodedata.normalize("NFC", text) == text, key
    assert all(EN.values())


def test_every_word_the_pages_ask_for_exists():
    used = set()
    for source in [*TEMPLATES.glob("*.html"), Path(web.__file__), Path(web_admin.__file__)]:
        used |= {key for key in re.findall(r"""\bt\(\s*["']([a-z_A-Z0-9]+)["']""",
                                           source.read_text())
                 if not key.endswith("_")}  # a prefix: its keys are listed below
    # Keys made at run time: states, urgency, roles, events, outcomes, error codes.
    used |= {f"state_{s}" for s in (*docs_domain.STATES, docs_domain.EXTERNAL)}
    used |= {f"arrival_{s}" for s in ("arrived", "accepted", "returned", "withdrawn")}
    used |= {f"{kind}_{n}" for kind in ("urgency", "secrecy") for n in range(4)}
    used |= {f"role_{r}" for r in ("clerk", "leader", "auditor", "admin", "operator")}
    used |= {f"ok_{a}" for a in (*web.ACTIONS, "created", "logout")}
    used |= {"overdue_registration", "overdue_completion", "overdue_issue"}
    used |= {f"ok_{o}" for o in ("user_created", "user_disable", "user_password", "revoked",
                                   "directory_changed", "replayed")}
    used |= {f"cert_role_{r}" for r in web_admin.ENROL_ROLES}
    used |= {f"revoke_{r}" for r in web_admin.REVOCATION_REASONS}
    used |= {f"change_{op}" for op in web_admin.DIRECTORY_OPS}
    used |= {f"service_{s}" for s in CONSUMERS}
    used |= {f"{k}_{r}" for k in ("users_help", "directory_help") for r in ("admin", "operator")}
    used |= {f"status_{c}" for c in ("01", "02", "03", "04", "05", "06", "13", "15", "16")}
    used |= {f"recall_type_{n}" for n in (1, 2, 3)}
    used |= {f"recall_state_{s}" for s in ("pending", "agreed", "refused")}
    used |= {f"rfield_{f}" for f in ("document", *replay.FIELDS)}
    used |= {f"value_{v}" for v in (replay.PRESENT, replay.ABSENT)}
    used |= {*web.BODIES, *(n for _, names in web.BODIES.values() for n in names.values())}
    used |= {f"event_{e}" for e in re.findall(r'"((?:Document|Incoming|External|Issue)\w+)"',
                                              Path(docs_domain.__file__).read_text())
             if e not in ("DocumentSigned", "DocumentReturned", "DocumentSealed",
                          "DocumentFinalized")}
    used |= {f"error_{c.code}" for c in vars(errors).values()
             if isinstance(c, type) and issubclass(c, errors.LienThongError)}
    for lang, table in TEXT.items():
        missing = sorted(used - set(table))
        assert not missing, f"{lang}: {missing}"


def test_dates_are_day_month_year_in_vietnam_time():
    assert web.format_date("2026-12-03T20:30:00+00:00", True) == "04/12/2026 03:30"
    assert web.format_date("2026-12-03T20:30:00+00:00") == "04/12/2026"
    assert web.format_date(datetime(2026, 1, 5, 1, 2, tzinfo=timezone.utc), True) == \
        "05/01/2026 08:02"
    assert web.format_date("2026-12-05") == "05/12/2026"
    assert web.format_date(date(2026, 2, 1)) == "01/02/2026"
    assert web.format_date(None) == "" and web.format_date("") == ""


def test_the_language_comes_from_the_query_then_the_cookie():
    assert web.pick_language({}, {}) == ("vi", False)
    assert web.pick_language({"lang": "en"}, {}) == ("en", True)
    assert web.pick_language({"lang": "en"}, {"lt_lang": "en"}) == ("en", False)
    assert web.pick_language({}, {"lt_lang": "en"}) == ("en", False)
    assert web.pick_language({"lang": "fr"}, {"lt_lang": "xx"}) == ("vi", False)
    assert web.translator("en")("count", n=3) == "3 document(s)"
    assert web.translator("vi")("count", n=3) == "3 văn bản"


@pytest.mark.parametrize("secure", [True, False])
def test_the_session_cookie_is_httponly_strict_and_secure_when_asked(secure):
    response = Response()
    response.set_cookie(**web.session_cookie("tok.en", 3600.7, secure))
    flags = [f.strip().lower() for f in response.headers["Set-Cookie"].split(";")]
    assert flags[0] == "lt_session=tok.en"
    assert {"httponly", "samesite=strict", "path=/", "max-age=3600"} <= set(flags)
    assert ("secure" in flags) is secure


def test_tokens_compare_whole_and_never_empty():
    assert web.same_token("abc", "abc")
    assert not web.same_token("abc", "abd") and not web.same_token("", "")
    assert not web.same_token(None, "abc") and not web.same_token("abc", None)


def _browser_body(attachments):
    """A compose form as requests (like a browser) encodes it: fields, then files."""
    prepared = requests.Request("POST", "http://x/web/new", data={
        "csrf": "t0k", "subject": "Chỉ thị", "document_type": "CT", "urgency": "1",
        "agency_abbreviation": "UBND", "position": "Chủ tịch", "full_name": "An",
        "recipients": "000.01.00.H41\r\n000.02.00.H41", "due_date": ""},
        files=[("file", ("a.pdf", b"%PDF-1.7 main", "application/pdf")), *attachments]
    ).prepare()
    boundary = prepared.headers["Content-Type"].split("boundary=")[1].encode()
    return prepared.body, boundary


def _parts(body, boundary):
    form = MultipartStream(io.BytesIO(body), boundary.decode())
    parts = []
    while (part := form.next_part()) is not None:
        data = form.read_field() if part[0] == "field" else form.file_stream().read()
        parts.append((part[1], part[2], data))
    return parts


def test_the_compose_form_becomes_docs_parts_of_the_same_length():
    empty = ("attachment", ("", b"", "application/octet-stream"))
    body, boundary = _browser_body([empty])
    raw_fields, rest = web.split_fields(io.BytesIO(body), boundary, limit=4096)
    fields = web.read_fields(raw_fields, boundary)
    assert fields["csrf"] == "t0k" and fields["subject"] == "Chỉ thị"
    metadata = web.metadata_of(fields)
    assert metadata["recipients"] == ["000.01.00.H41", "000.02.00.H41"]
    assert metadata["urgency"] == 1 and "due_date" not in metadata
    assert metadata["signer"] == {"competence": "", "position": "Chủ tịch", "full_name": "An"}

    # The empty attachment input is cut, the length kept (an epilogue pads it).
    trimmed = web.trim_empty_attachment(rest, boundary)
    assert len(trimmed) == len(rest) and trimmed != rest
    assert _parts(trimmed, boundary) == [("file", "a.pdf", b"%PDF-1.7 main")]
    # A real attachment is left as it came.
    body, boundary = _browser_body([("attachment", ("b.png", b"\x89PNG", "image/png"))])
    _, rest = web.split_fields(io.BytesIO(body), boundary, limit=4096)
    assert web.trim_empty_attachment(rest, boundary) == rest
    assert [p[:2] for p in _parts(rest, boundary)] == [("file", "a.pdf"),
                                                       ("attachment", "b.png")]


def test_the_compose_form_is_refused_without_its_file_or_with_a_bad_number():
    prepared = requests.Request("POST", "http://x", data={"csrf": "t"},
                                files=[("other", ("a", b"x"))]).prepare()
    boundary = prepared.headers["Content-Type"].split("boundary=")[1].encode()
    with pytest.raises(errors.ValidationFailed) as refused:
        web.split_fields(io.BytesIO(prepared.body), boundary, limit=4096)
    assert refused.value.field == "file"
    with pytest.raises(errors.ValidationFailed) as refused:
        web.metadata_of({"urgency": "khẩn"})
    assert refused.value.field == "urgency"


def _render_inbox(lang, documents, overdue, links=None):
    return _render("list.html", lang=lang, path="/web/inbox", title="Văn bản đến",
                   kind="inbox", documents=documents, overdue=overdue, search={},
                   states=[], state_choices=(), links=links)


def test_the_inbox_marks_what_routing_finds_overdue_and_escapes_subjects():
    row = {"document_id": "d1", "urgency": 3, "number_notation": "01/CĐ-UBND",
           "subject": "<script>alert(1)</script>", "issuing_agency": "000.00.00.H41",
           "arrival_number": 4, "arrived_at": "2026-12-01T01:00:00+00:00",
           "arrival_state": "arrived"}
    late = {"d1": {"document_id": "d1", "kind": "registration",
                   "deadline": "2026-12-01T05:00:00+00:00"}}
    html = _render_inbox("vi", [row, {**row, "document_id": "d2"}], late)
    assert html.count("Quá hạn tiếp nhận") == 1 and "01/12/2026 12:00" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "Hỏa tốc" in html and "01 Đã đến" in html
    assert "Overdue for acceptance" in _render_inbox("en", [row], late)
    assert "Chưa lấy được thông tin quá hạn" in _render_inbox("vi", [row], None)
    assert "Chưa lấy được" not in _render_inbox("vi", [row], {})


def test_the_outgoing_list_marks_what_docs_finds_not_issued_in_time():
    row = {"document_id": "d1", "urgency": 0, "number_notation": None,
           "subject": "Kế hoạch", "registered_at": "2026-11-19T02:00:00+00:00",
           "state": "sealed"}
    late = {"d1": {"document_id": "d1", "kind": "issue",
                   "deadline": "2026-11-23T16:59:59.999000+00:00"}}

    def render(lang, overdue):
        return _render("list.html", lang=lang, path="/web/outgoing", title="Văn bản đi",
                       kind="outgoing", documents=[row, {**row, "document_id": "d2"}],
                       overdue=overdue, search={}, states=[], state_choices=(), links=None)
    html = render("vi", late)
    assert html.count("Quá hạn phát hành") == 1 and "23/11/2026 23:59" in html
    assert "Overdue for issue" in render("en", late)
    assert "Chưa lấy được thông tin quá hạn" in render("vi", None)
    assert "Quá hạn" not in render("vi", {})


def _render(template, lang="vi", path="/web/", actor=None, **context):
    """A page rendered as ``Page.render`` does, without a server."""
    return web._env.get_template(template).render(
        **web.helpers(lang), csrf="c5rf", path=path, flash=None,
        actor=actor or {"user_id": "van.thu", "role": "clerk", "agency": "000.01.00.H41"},
        **context)


def _posts_carry_the_token(html):
    forms = re.findall(r'<form method="post"[^>]*>(.*?)</form>', html, re.S)
    assert forms and all('<input type="hidden" name="csrf" value="c5rf">' in f for f in forms)
    return len(forms)


def test_a_deputy_under_the_committee_is_taken_from_the_form_and_shown():
    fields = {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân", "deputy_for": "Chủ tịch",
              "position": "Phó Chủ tịch", "full_name": "Bình"}
    assert web.metadata_of(fields)["signer"] == fields
    document = {"document_id": "d1", "subject": "Chỉ thị", "number_notation": None,
                "issued_at": None, "document_type": "CT", "issuing_agency": "000.01.00.H41",
                "state": "draft", "urgency": 0, "secrecy": 0, "due_date": None,
                "signer": fields, "recipients": [], "page_count": 1, "attachments": []}
    html = _render("document.html", document=document, timeline=[], arrival=None,
                   leaders=[], **web.routing_view("clerk", "000.01.00.H41", []))
    assert "TM. Ủy ban nhân dân KT. Chủ tịch Phó Chủ tịch" in html
    compose = _render("compose.html", values={"deputy_for": "Chủ tịch"})
    assert '<label for="deputy_for">' in compose and 'value="Chủ tịch"' in compose


def test_every_form_of_the_document_page_carries_the_session_token():
    document = {"document_id": "d1", "subject": "Chỉ thị", "number_notation": None,
                "issued_at": None, "document_type": "CT", "issuing_agency": "000.01.00.H41",
                "state": "submitted", "urgency": 0, "secrecy": 0, "due_date": None,
                "signer": {"competence": "TM.", "position": "Chủ tịch", "full_name": "An",
                           "on_behalf_of": None},
                "recipients": [], "page_count": 1, "attachments": []}
    leader = {"user_id": "chu.tich", "role": "leader", "agency": "000.01.00.H41"}
    html = _render("document.html", actor=leader, document=document, timeline=[],
                   leaders=[], arrival=None, **web.routing_view("leader", leader["agency"], []))
    # Đăng xuất, Ký số, Trả lại (with its comment).
    assert _posts_carry_the_token(html) == 3 and 'name="comment"' in html
    draft = {**document, "state": "draft"}
    html = _render("document.html", document=draft, timeline=[], arrival=None,
                   leaders=[{"user_id": "chu.tich", "full_name": "Nguyễn Văn An"}],
                   **web.routing_view("clerk", draft["issuing_agency"], []))
    assert _posts_carry_the_token(html) == 2 and "Trình ký" in html


SENT = {"document_id": "d1", "subject": "Chỉ thị", "number_notation": "01/CT-UBND",
        "issued_at": "2026-12-01", "document_type": "CT", "issuing_agency": "000.00.00.H41",
        "state": "sent", "urgency": 0, "secrecy": 0, "due_date": None,
        "signer": {"competence": "TM.", "position": "Chủ tịch", "full_name": "An",
                   "on_behalf_of": None},
        "recipients": ["000.01.00.H41"], "page_count": 1, "attachments": []}


def test_the_sender_sees_why_the_first_delivery_was_refused():
    refused = {**SENT, "state": "undeliverable",
               "delivery_refused": "recipients.0: 000.09.00.H41 has no successor"}
    html = _render("document.html", actor={"user_id": "u", "role": "clerk",
                                           "agency": SENT["issuing_agency"]},
                   document=refused, timeline=[], leaders=[], arrival=None,
                   **web.routing_view("clerk", SENT["issuing_agency"], []))
    banner = re.search(r'<div class="error" role="alert" id="delivery-refused">(.*?)</div>',
                       html, re.S).group(1)
    assert "hệ thống liên thông từ chối chuyển" in banner and "000.09.00.H41" in banner
    assert "Không gửi được" in html  # the state, in words
    assert 'id="delivery-refused"' not in _sent_page("clerk", SENT["issuing_agency"], [])


def _copy(status="03", recall=None, nxt=("04", "05")):
    return {"recipient": "000.01.00.H41", "sender": "000.00.00.H41", "status": status,
            "recalled": False, "history": [], "next": list(nxt), "recall": recall}


def _sent_page(role, agency, statuses, outcome=None, arrival=None):
    actor = {"user_id": "u", "role": role, "agency": agency}
    return _render("document.html", actor=actor, document=SENT, timeline=[], leaders=[],
                   arrival=arrival, **web.routing_view(role, agency, statuses, outcome))


def test_a_recipient_reports_the_progress_routing_allows_next():
    html = _sent_page("clerk", "000.01.00.H41", [_copy()], arrival="accepted")
    assert 'action="/web/documents/d1/progress"' in html and _posts_carry_the_token(html) == 2
    assert '<option value="04">04 Đã phân công</option>' in html
    assert '<option value="06">' not in html  # 03 -> 06 is not allowed
    history = [{"code": code, "at": f"2026-12-01T0{n}:00:00+00:00", "user": user,
                "reason": None} for n, (code, user) in enumerate(
                    (("01", "service:routing"), ("03", "van.thu.h1"), ("06", "van.thu.h1")))]
    done = _sent_page("clerk", "000.01.00.H41", [{**_copy("06", nxt=()), "history": history}],
                      arrival="accepted")
    assert "/progress" not in done
    assert "01 Đã đến · 01/12/2026 07:00 · service:routing" in done  # routing's history
    assert "06 Hoàn thành · 01/12/2026 09:00 · van.thu.h1" in done
    # A leader of the recipient, or the sender's clerk: no progress form.
    assert "/progress" not in _sent_page("leader", "000.01.00.H41", [_copy()])
    assert "/progress" not in _sent_page("clerk", "000.00.00.H41", [_copy()])


def test_the_sender_asks_a_recall_and_the_recipient_answers_it():
    sender = _sent_page("clerk", "000.00.00.H41", [_copy()])
    assert 'action="/web/documents/d1/recall"' in sender and 'name="recall_reason"' in sender
    assert '<option value="1">Thu hồi</option>' in sender
    asked = {"business_type": 1, "reason": "Sai thẩm quyền", "answer": None,
             "requested_at": "2026-12-01T01:00:00+00:00", "requested_by": "van.thu",
             "answer_reason": None, "answered_at": None}
    waiting = _sent_page("clerk", "000.00.00.H41", [_copy(recall=asked)], outcome={
        "document_id": "d1", "state": "pending", "agreed": [], "refused": [],
        "pending": ["000.01.00.H41"]})
    assert "/recall\"" not in waiting and 'action="/web/documents/d1/recall"' not in waiting
    assert "Kết quả yêu cầu lấy lại" in waiting and "Còn cơ quan nhận chưa trả lời." in waiting
    assert "Thu hồi (Sai thẩm quyền) · chờ trả lời" in waiting
    recipient = _sent_page("clerk", "000.01.00.H41", [_copy(recall=asked)])
    assert 'action="/web/documents/d1/answer-recall"' in recipient
    assert "lúc 01/12/2026 08:00" in recipient and "Sai thẩm quyền" in recipient
    assert '<option value="false">' not in recipient  # a revoke is not refused
    update = _sent_page("clerk", "000.01.00.H41", [_copy(recall={**asked, "business_type": 2})])
    assert '<option value="false">16 Không đồng ý</option>' in update
    answered = {**asked, "answer": "15"}
    after = _sent_page("clerk", "000.01.00.H41", [_copy(recall=answered)])
    assert "/answer-recall" not in after and "Thu hồi (Sai thẩm quyền) · 15 Đồng ý" in after


def test_routing_forms_are_read_as_the_api_bodies_and_errors_name_the_form_field():
    assert web.body_of("progress", {"status_code": "04"}) == {"code": "04", "reason": None}
    assert web.body_of("recall", {"business_type": "1", "recall_reason": "Sai"}) == {
        "business_type": 1, "reason": "Sai"}
    assert web.body_of("answer-recall", {"agree": "false", "answer_reason": "Đã xử lý"}) == {
        "agree": False, "reason": "Đã xử lý"}
    for action, form, field in (("progress", {"status_code": "13"}, "status_code"),
                                ("recall", {"business_type": "9"}, "business_type"),
                                ("recall", {"business_type": "1",
                                            "recall_reason": "x" * 2001}, "recall_reason"),
                                ("answer-recall", {"agree": "có lẽ"}, "agree")):
        with pytest.raises(errors.ValidationFailed) as err:
            web.body_of(action, form)
        assert err.value.field == field, (action, err.value)
    # routing's refusal of a revoke's "16" names its code: the form's "agree".
    assert web._renamed(errors.Conflict("no", field="code"), "answer-recall").field == "agree"
    assert VI["status_code"] == "Tiến độ xử lý" and VI["agree"] == "Trả lời"


def test_reconcile_differences_are_said_in_words():
    row = web_audit.difference_row({"document_id": "d1", "service": "routing",
                                    "field": "document", "log_value": "present",
                                    "service_value": "absent"}, "vi")
    assert row == {"document_id": "d1", "service": "Gửi nhận (routing)", "field": "Văn bản",
                   "log_value": "có", "service_value": "không có"}
    row = web_audit.difference_row({"document_id": "d1", "service": "docs",
                                    "field": "delivered_to", "log_value": ["A", "B"],
                                    "service_value": []}, "en")
    assert (row["field"], row["log_value"], row["service_value"]) == ("Delivered to", "A, B", "—")
    page = _render("audit_reconcile.html", actor=AUDITOR, documents=3, differences=[row])
    assert "Có 1 sai lệch" in page and "Delivered to" in page
    assert page.count('<form method="post"') == 1  # Đăng xuất only: the page is read-only
    clean = _render("audit_reconcile.html", actor=AUDITOR, documents=3, differences=[])
    assert "Không có sai lệch" in clean and "<table" not in clean


def test_the_pager_keeps_the_search_and_names_both_ends():
    args = MultiDict([("q", "bão lũ"), ("state", "draft"), ("state", "returned"),
                      ("page", "2"), ("ok", "sign")])
    listing = {"items": [{}] * 20, "total": 45, "page": 2, "size": 20}
    links = web_lists.page_links("/web/outgoing", args, listing)
    assert links["previous"] == ("/web/outgoing?q=b%C3%A3o+l%C5%A9&state=draft"
                                 "&state=returned&page=1")
    assert links["next"].endswith("&state=returned&page=3")
    assert (links["pages"], links["first"], links["last"]) == (3, 21, 40)
    last = web_lists.page_links("/web/outgoing", args, {**listing, "page": 3,
                                                         "items": [{}] * 5})
    assert last["next"] is None and (last["first"], last["last"]) == (41, 45)
    empty = web_lists.page_links("/web/inbox", MultiDict(), {"items": [], "total": 0,
                                                            "page": 1, "size": 20})
    assert empty["previous"] is None and empty["next"] is None and empty["pages"] == 1
    assert web_lists.search_of(MultiDict([("q", "x"), ("start", ""), ("bogus", "1")])) == {
        "q": "x"}


def test_a_list_page_shows_its_pager_in_vietnamese():
    row = {"document_id": "d1", "urgency": 0, "number_notation": None, "subject": "Kế hoạch",
           "issuing_agency": "000.00.00.H41", "arrival_number": 4,
           "arrived_at": "2026-12-01T01:00:00+00:00", "arrival_state": "arrived"}
    links = web_lists.page_links("/web/inbox", MultiDict([("q", "kế")]), {
        "items": [row], "total": 21, "page": 2, "size": 20})
    html = _render_inbox("vi", [row], {}, links)
    assert "Văn bản 21–21 trong tổng số 21" in html and "Trang 2/2" in html
    assert 'href="/web/inbox?q=k%E1%BA%BF&amp;page=1" rel="prev">Trang trước' in html
    assert "Trang sau" not in html
    assert "Previous page" in _render_inbox("en", [row], {}, links)


def test_a_search_is_checked_before_any_query():
    checked = queries.page_request({"q": " 50%_off ", "start": "2026-12-01",
                                    "end": "2026-12-01", "page": "3", "size": "10"})
    assert checked["q"] == "%50\\%\\_off%" and checked["offset"] == 20
    assert checked["from"] == datetime(2026, 11, 30, 17, tzinfo=timezone.utc)
    assert checked["until"] == datetime(2026, 12, 1, 17, tzinfo=timezone.utc)
    assert queries.page_request()["q"] is None and queries.page_request()["size"] == 20
    for search, field in (({"page": "0"}, "page"), ({"page": "một"}, "page"),
                          ({"size": "101"}, "size"), ({"start": "01/12/2026"}, "start"),
                          ({"start": "2026-12-02", "end": "2026-12-01"}, "start"),
                          ({"q": "x" * 201}, "q"), ({"sort": "subject"}, "sort")):
        with pytest.raises(errors.ValidationFailed) as refused:
            queries.page_request(search)
        assert refused.value.field == field, search


def test_a_register_on_screen_keeps_the_printed_cells_and_links_its_exports():
    view = {"title": "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN", "columns": [
        {"id": "arrival_date", "heading": "Ngày đến"}, {"id": "arrival_number",
                                                        "heading": "Số đến"}],
        "items": [["05/12/2026", "01"], ["<b>06/12/2026</b>", "02"]], "total": 2,
        "page": 1, "size": 20}
    filters = web_lists.register_filters(MultiDict(), date(2026, 12, 5))
    assert filters == {"year": "2026"}
    html = _render("register.html", path="/web/registers/incoming", kind="incoming",
                   kinds=web_lists.REGISTERS, filters=filters, view=view,
                   links=web_lists.page_links("/web/registers/incoming", MultiDict(), view),
                   exports={"csv": "/web/registers/incoming/csv?year=2026", "pdf": "/p"})
    assert "Sổ văn bản đến</a>" in html and 'aria-current="page">Sổ văn bản đến' in html
    assert "<th scope=\"col\">Số đến</th>" in html and "<td>01</td>" in html
    assert "&lt;b&gt;06/12/2026&lt;/b&gt;" in html and "(2)</th>" in html
    assert 'href="/web/registers/incoming/csv?year=2026" download>Xuất CSV' in html
    assert web_lists.register_filters(MultiDict([("start", "2026-01-01"), ("page", "2")]),
                                      date(2026, 12, 5)) == {"start": "2026-01-01"}


def test_a_moment_typed_is_vietnam_time_and_witnesses_are_read_from_the_note():
    assert web_audit.moment_of("2026-12-03T17:05") == "2026-12-03T17:05:00+07:00"
    assert web_audit.moment_of("") is None
    with pytest.raises(errors.ValidationFailed) as refused:
        web_audit.moment_of("03/12/2026 17:05")
    assert refused.value.field == "at"
    note = ("lienthong.local/audit\n12\nq83+Ag==\n\n\u2014 lienthong.local/audit AbCdEf==\n"
            "\u2014 witness.example/w1 GhIjKl==\n")
    assert web_audit.signers_of(note) == ["lienthong.local/audit", "witness.example/w1"]
    assert web_audit.signers_of("") == []


AUDITOR = {"user_id": "thanh.tra", "role": "auditor", "agency": "000.00.00.G22"}
STATUS = {"origin": "lienthong.local/audit", "verifier_key": "lienthong.local/audit+1+AQ",
          "size": 12345, "checkpoint_size": 12000, "checkpoint_age_seconds": 61.6,
          "uploaded_size": 12000, "entries_not_checkpointed": 345, "entries_not_in_worm": 345,
          "quarantined": 0, "alerts": [{"kind": "witness_late", "detail": "w1 <late>",
                                        "raised_at": "2026-12-03T10:00:00Z"}]}


def test_the_inspectors_pages_say_the_logs_state_and_hold_no_form_that_writes():
    html = _render("audit.html", actor=AUDITOR, path="/web/audit", log_status=STATUS,
                   checkpoint={"note": "x\n\n\u2014 a b\n"}, log_signer="lienthong.local/audit",
                   witnesses=["witness.example/w1"])
    assert "12.345" in html and "12.000" in html and "cách đây 62 giây" in html
    assert "Bản ghi chưa được chốt" in html and "witness.example/w1" in html
    assert "w1 &lt;late&gt;" in html and "03/12/2026 17:00" in html
    assert _posts_carry_the_token(html) == 1  # Đăng xuất only
    assert 'aria-current="page">Nhật ký hệ thống' in html
    failed = _render("audit_verify.html", actor=AUDITOR, report={
        "ok": False, "entries": 3, "checkpoints": 1, "covered": 2, "first_problem": None,
        "problems": [{"index": 1, "event_id": "e1", "reason": "leaf hash differs"}],
        "notes": []})
    assert "Phát hiện sai lệch" in failed and "leaf hash differs" in failed
    history = [{"index": 7, "event_id": "e7", "occurred_at": "2026-12-03T01:00:00Z",
                "event_type": "DocumentSigned", "producer": "signing", "actor": "chu.tich",
                "agency": "000.00.00.H41", "role": "leader", "summary": "signed by chu.tich"},
               {"index": 9, "event_id": "e9", "occurred_at": "2026-12-03T02:00:00Z",
                "event_type": "SomethingNew", "producer": "docs", "actor": "system",
                "agency": "", "role": "service", "summary": "SomethingNew from docs"}]
    page = _render("audit_document.html", actor=AUDITOR, path="/web/audit/documents/d1",
                   document_id="d1", at="2026-12-03T09:30",
                   moment=web_audit.moment_of("2026-12-03T09:30"),
                   state=[("number_notation", "01/CT-UBND"), ("sealed", True),
                          ("delivered_to", ["000.01.00.H41"]), ("signed_at", None),
                          ("last_event_at", "2026-12-03T02:00:00Z")],
                   history=history, command="python -m services.audit.verify_bundle x.json")
    assert "Trạng thái lúc 03/12/2026 09:30 theo nhật ký" in page
    assert "<dd>Có</dd>" in page and "<dd>000.01.00.H41</dd>" in page
    assert "<td>Ký số</td>" in page and "<td>SomethingNew</td>" in page
    assert "chu.tich (lãnh đạo, 000.00.00.H41)" in page
    assert "python -m services.audit.verify_bundle x.json" in page
    assert _posts_carry_the_token(page) == 1


def test_the_document_page_offers_a_copy_to_a_clerk_holding_it_and_lists_copies():
    issued = {**SENT, "issuing_agency": "000.01.00.H41"}
    made = {"copy_id": "c1", "form": "SY", "number_notation": "01/SY-UBND", "pages": None,
            "copied_at": "2026-12-05T10:00:00+07:00", "copied_by": "van.thu"}
    html = _render("document.html", document=issued, timeline=[], leaders=[], arrival=None,
                   copies=[made], copyable=True,
                   **web.routing_view("clerk", issued["issuing_agency"], []))
    assert "Sao văn bản" in html and 'name="copy_form"' in html
    assert 'value="SL"' in html and "01/SY-UBND" in html  # a sao lục of the sao y
    assert 'href="/web/documents/d1/copies/c1/file"' in html
    assert 'name="copy_abbreviation"' not in html  # the issuer's own notation
    # a recipient that accepted it copies under its own abbreviation; one that did not,
    # and a leader, get no form
    other = {"user_id": "van.thu", "role": "clerk", "agency": "000.02.00.H41"}
    for arrival, role, offered in (("accepted", "clerk", True), ("arrived", "clerk", False),
                                   ("accepted", "leader", False)):
        html = _render("document.html", actor={**other, "role": role}, document=issued,
                       timeline=[], leaders=[], arrival=arrival, copies=[], copyable=True,
                       **web.routing_view(role, other["agency"], []))
        assert ('name="copy_abbreviation"' in html) is offered, (arrival, role)


def test_the_copy_form_is_read_as_the_api_body_and_errors_name_the_form_field():
    assert web.copy_request({"copy_form": "TrS", "copy_pages": "1, 3"}) == {
        "form": "TrS", "pages": [1, 3]}
    assert web.copy_request({"copy_form": "SY", "copy_pages": " ", "copy_abbreviation": "SNV"}) \
        == {"form": "SY", "agency_abbreviation": "SNV"}
    for form, field in (({"copy_form": "XX"}, "copy_form"),
                        ({"copy_form": "TrS", "copy_pages": "một"}, "copy_pages"),
                        ({"copy_form": "TrS", "copy_pages": "0"}, "copy_pages"),
                        ({"copy_form": "SY", "copy_abbreviation": "x" * 21},
                         "copy_abbreviation")):
        with pytest.raises(errors.ValidationFailed) as err:
            web.copy_request(form)
        assert err.value.field == field, (form, err.value)
    assert web._renamed(errors.ValidationFailed("no", field="pages"), "copy").field == \
        "copy_pages"
