"""Chọn nơi nhận's pure parts: the recipients field read as codes, the picker's
state carried in a query string and back into the compose form, a group's
name and codes checked naming the field, and the page's forms (GET forms
carry the state, POST forms the session's token, no inline script)."""

import re
from urllib.parse import parse_qsl

import pytest
from werkzeug.datastructures import MultiDict

from services.gateway import recipients, web_directory
from shared import errors
from tests.unit.test_web import _posts_carry_the_token, _render

A, B, C = "001.00.00.H41", "002.00.00.H41", "000.00.02.H41"


def test_the_recipients_field_reads_as_codes_in_order_each_once():
    assert recipients.codes_of(f" {A},{B};\n{A}\r\n{C.lower()} ") == [A, B, C]
    assert recipients.codes_of([f"{A} {B}", "", B]) == [A, B]
    assert recipients.chosen([A, B], [C, A], [B]) == [A, C]
    assert recipients.chosen([], [], [A]) == []


@pytest.mark.parametrize("codes, field", [([], "recipients"), (["000.01.00"], "recipients"),
                                          ([A] * 1001, "recipients")])
def test_codes_out_of_form_are_refused_naming_the_field(codes, field):
    with pytest.raises(errors.ValidationFailed) as refused:
        recipients.checked_codes(codes)
    assert refused.value.field == field


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "a\x00b", 7])
def test_a_groups_name_is_text_of_1_to_100_characters(name):
    with pytest.raises(errors.ValidationFailed) as refused:
        recipients.checked_name(name)
    assert refused.value.field == "name"


def test_a_groups_name_is_kept_in_nfc_and_trimmed():
    assert recipients.checked_name(" Cac xa\u0300 ") == "Cac xà"


def test_the_state_rides_in_the_query_string_and_back_into_the_compose_form():
    args = MultiDict([("subject", "Công văn"), ("urgency", "1"), ("csrf", "secret"),
                      ("recipients", f"{A} {B}"), ("q", " dien "), ("parent", ""),
                      ("file", "a.pdf"), ("add", C)])
    state = web_directory.state_of(args)
    assert state == {"draft": {"subject": "Công văn", "urgency": "1"},
                     "recipients": [A, B], "q": "dien", "parent": ""}
    carried = dict(parse_qsl(web_directory.query(state, ok="group_saved")))
    assert carried == {"subject": "Công văn", "urgency": "1", "recipients": f"{A} {B}",
                       "q": "dien", "ok": "group_saved"}  # never the token, never a file
    assert web_directory.compose_values(args) == {
        "subject": "Công văn", "urgency": "1", "recipients": f"{A}\n{B}\n{C}"}
    assert web_directory.compose_values(MultiDict()) == {}


def test_the_picker_page_carries_its_state_and_its_posts_the_token():
    state = {"draft": {"subject": "Công <b>văn</b>"}, "recipients": [A], "q": "", "parent": ""}
    html = _render("directory.html", path="/web/directory", state=state, names={},
                   agencies=[{"code": "000.00.00.H41", "name": "UBND tỉnh Nghệ An",
                              "parent": None, "has_children": True},
                             {"code": A, "name": "UBND xã Diễn Hoa", "parent": None,
                              "has_children": False}],
                   links=None, link=lambda parent="": f"/web/directory?parent={parent}",
                   known={A: "UBND xã Diễn Hoa"},
                   groups=[{"group_id": 3, "name": "Các xã", "recipients": [A, B]}],
                   values={})
    assert _posts_carry_the_token(html) == 3  # log out, delete a group, save one
    gets = re.findall(r'<form method="get"[^>]*>(.*?)</form>', html, re.S)
    assert gets and all('name="subject" value="Công &lt;b&gt;văn&lt;/b&gt;"' in f
                        and f'name="recipients" value="{A}"' in f for f in gets)
    assert 'name="subtree" value="000.00.00.H41"' in html
    assert f'value="{A}" id="add-{A}"' not in html and "Đã chọn" in html
    assert 'formaction="/web/new"' in html and "<script" not in html
    assert "Dùng nhóm “Các xã” (2)" in html


def test_the_compose_form_opens_the_picker_by_post_and_loads_the_script():
    html = _render("compose.html", path="/web/new", values={"recipients": f"{A}\n{B}"})
    assert re.search(r'formaction="/web/directory" formmethod="post"', html)
    assert f">{A}\n{B}</textarea>" in html
    assert '<script src="/web/static/picker.js" defer></script>' in html
    assert "onclick" not in html and "<script>" not in html  # the policy allows no inline code


def test_a_selection_too_long_for_a_url_is_refused_naming_the_field():
    codes = [f"{n:03d}.00.00.H41" for n in range(1, 451)]
    state = {"draft": {"subject": "Công văn"}, "recipients": codes, "q": "", "parent": ""}
    assert len(web_directory.carried(state)) < web_directory.QUERY_LIMIT
    state["recipients"] = codes + [f"{n:03d}.00.00.H42" for n in range(1, 100)]
    with pytest.raises(errors.ValidationFailed) as refused:
        web_directory.carried(state)
    assert refused.value.field == "recipients"
