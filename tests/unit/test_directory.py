"""shared.directory: the effective-dated agency tree, its changes and addressing."""

import json
from datetime import date, datetime

import pytest

from services.routing import sample_data
from shared.directory import AGENCY_CODE, Agency, Directory
from services.routing.sample_data import (
    PROVINCE,
    REFORM_DATE,
    SAMPLE_DATE,
    apply_reform_2025,
    national,
    sample_province,
)
from shared.envelope import AGENCY_CODE as ENVELOPE_AGENCY_CODE
from shared.errors import Conflict, NotFound, ValidationFailed

Y2020, Y2024, Y2026 = date(2020, 1, 1), date(2024, 6, 1), date(2026, 1, 1)
ROOT, A, B, C = "000.00.00.H99", "000.01.00.H99", "000.02.00.H99", "000.03.00.H99"
A1, A2, B1 = "001.01.00.H99", "002.01.00.H99", "001.02.00.H99"
DIEN_CHAU, DIEN_HOA, DIEN_PHONG = "000.01.00.H41", "001.01.00.H41", "002.01.00.H41"
DIEN_HOA_PHONG = "001.00.00.H41"  # the first commune the sample reform creates


def small():
    """ROOT > A > (A1, A2); ROOT > B > B1; all from 2020."""
    d = Directory()
    d.create(ROOT, "UBND tỉnh thử", "province", None, Y2020)
    d.create(A, "UBND huyện A", "district", ROOT, Y2020)
    d.create(B, "UBND huyện B", "district", ROOT, Y2020)
    d.create(A1, "UBND xã A1", "commune", A, Y2020)
    d.create(A2, "UBND xã A2", "commune", A, Y2020)
    d.create(B1, "UBND xã B1", "commune", B, Y2020)
    return d


def codes(agencies):
    return [a.code for a in agencies]


@pytest.fixture
def reformed():
    return apply_reform_2025(sample_province())


# ---- the code rule ---------------------------------------------------------------

def test_the_code_rule_is_the_envelopes():
    assert AGENCY_CODE.pattern == ENVELOPE_AGENCY_CODE.pattern


# ---- create ----------------------------------------------------------------------

def test_create_returns_the_change_record_and_the_agency_is_effective_from_its_date():
    d = Directory()
    record = d.create(ROOT, " UBND tỉnh thử ", "province", None, Y2020)
    assert record == {"op": "create", "on": "2020-01-01", "code": ROOT,
                      "name": "UBND tỉnh thử", "level": "province", "parent": None}
    assert d.get(ROOT, Y2020) == Agency(ROOT, "UBND tỉnh thử", "province", None, Y2020)
    with pytest.raises(NotFound, match=r"000.00.00.H99 is not effective on 2019-12-31: "
                                       r"it was created on 2020-01-01"):
        d.get(ROOT, date(2019, 12, 31))


@pytest.mark.parametrize("bad", ["000.00.00.h41", "00.00.00.H41", "000.00.00.HH1", "", None, 41])
def test_create_refuses_a_malformed_code(bad):
    with pytest.raises(ValidationFailed, match="not an agency code") as info:
        Directory().create(bad, "x", "province", None, Y2020)
    assert info.value.field == "code"


def test_create_refuses_a_code_already_used_even_after_it_retired():
    d = small()
    with pytest.raises(Conflict, match="already used") as info:
        d.create(A1, "again", "commune", A, Y2024)
    assert info.value.field == "code"
    d.dissolve(B1, Y2024)
    with pytest.raises(Conflict, match="never reused"):
        d.create(B1, "reborn", "commune", B, Y2026)


def test_create_refuses_an_unknown_parent_and_one_not_effective_that_day():
    d = small()
    with pytest.raises(NotFound, match="parent: unknown agency 000.09.00.H99") as info:
        d.create(C, "UBND huyện C", "district", "000.09.00.H99", Y2024)
    assert info.value.field == "parent"
    d.dissolve(B1, Y2024)
    with pytest.raises(ValidationFailed, match="not effective on 2026-01-01: it was dissolved"
                                               " on 2024-06-01") as info:
        d.create("009.02.00.H99", "x", "commune", B1, Y2026)
    assert info.value.field == "parent"


@pytest.mark.parametrize("field, value", [("name", "  "), ("level", None), ("name", 3)])
def test_create_refuses_a_blank_name_or_level(field, value):
    args = {"code": ROOT, "name": "x", "level": "province", "parent": None, "on": Y2020}
    with pytest.raises(ValidationFailed, match=f"{field}: a non-empty text"):
        Directory().create(**{**args, field: value})


def test_a_change_dated_with_a_datetime_or_garbage_is_refused():
    for bad in (datetime(2020, 1, 1, 8, 0), "1 July 2025", None):
        with pytest.raises(ValidationFailed, match="is not a date") as info:
            Directory().create(ROOT, "x", "province", None, bad)
        assert info.value.field == "on"


# ---- rename ----------------------------------------------------------------------

def test_rename_takes_effect_on_its_date_and_keeps_the_old_name_before():
    d = small()
    assert d.rename(A, "UBND thị xã A", Y2024) == {
        "op": "rename", "on": "2024-06-01", "code": A, "new_name": "UBND thị xã A"}
    assert d.get(A, date(2024, 5, 31)).name == "UBND huyện A"
    assert d.get(A, Y2024).name == "UBND thị xã A"
    assert [(v.name, v.valid_from, v.valid_to) for v in d.history(A)] == [
        ("UBND huyện A", Y2020, Y2024), ("UBND thị xã A", Y2024, None)]
    assert d.resolve(A, Y2026) == [d.get(A, Y2026)]  # a rename keeps the code: no successor


def test_rename_refusals():
    d = small()
    with pytest.raises(NotFound, match="code: unknown agency 000.07.00.H99"):
        d.rename("000.07.00.H99", "x", Y2024)
    with pytest.raises(ValidationFailed, match="already named"):
        d.rename(A, "UBND huyện A", Y2024)
    d.create(C, "UBND huyện C", "district", ROOT, Y2026)
    with pytest.raises(ValidationFailed, match="before agency 000.03.00.H99 exists "
                                               r"\(created 2026-01-01\)") as info:
        d.rename(C, "UBND huyện C mới", Y2024)
    assert info.value.field == "on"


def test_two_changes_to_one_agency_on_one_day_leave_one_version():
    d = Directory()
    d.create(ROOT, "tên tạm", "province", None, Y2020)
    d.rename(ROOT, "UBND tỉnh thử", Y2020)
    assert d.history(ROOT) == [Agency(ROOT, "UBND tỉnh thử", "province", None, Y2020)]


def test_changes_must_come_in_date_order():
    d = small()
    d.rename(A, "UBND thị xã A", Y2026)
    with pytest.raises(ValidationFailed, match="date order; 2024-06-01 is before the last "
                                               "change") as info:
        d.rename(B, "UBND thị xã B", Y2024)
    assert info.value.field == "on"


# ---- move ------------------------------------------------------------------------

def test_move_reparents_from_its_date():
    d = small()
    d.move(A1, B, Y2024)
    assert codes(d.children(A, Y2020)) == [A1, A2]
    assert codes(d.children(A, Y2024)) == [A2]
    assert codes(d.children(B, Y2024)) == [A1, B1]
    assert codes(d.ancestors(A1, Y2020)) == [A, ROOT]
    assert codes(d.ancestors(A1, Y2026)) == [B, ROOT]


def test_move_to_the_root_and_refusals():
    d = small()
    d.move(A, None, Y2024)
    assert d.ancestors(A1, Y2024)[-1].code == A and d.ancestors(A, Y2024) == []
    with pytest.raises(ValidationFailed, match="already under"):
        d.move(A1, A, Y2024)
    with pytest.raises(NotFound, match="new_parent: unknown"):
        d.move(A1, "000.09.00.H99", Y2024)


@pytest.mark.parametrize("code, new_parent", [(A, A), (A, A1), (ROOT, A2)])
def test_move_under_itself_or_a_descendant_is_a_cycle_and_refused(code, new_parent):
    d = small()
    with pytest.raises(ValidationFailed, match="would create a cycle") as info:
        d.move(code, new_parent, Y2024)
    assert info.value.field == "new_parent"


# ---- merge -----------------------------------------------------------------------

def test_merge_into_a_new_code_retires_the_merged_and_moves_their_children():
    d = small()
    record = d.merge([A, B], C, "UBND huyện C", "district", ROOT, Y2024)
    assert record == {"op": "merge", "on": "2024-06-01", "codes": [A, B], "into_code": C,
                      "into_name": "UBND huyện C", "level": "district", "parent": ROOT}
    assert codes(d.children(ROOT, Y2024)) == [C]
    assert codes(d.children(C, Y2024)) == sorted([A1, A2, B1])
    assert codes(d.children(ROOT, Y2020)) == [A, B]
    assert d.history(A)[-1].successors == (C,)
    assert codes(d.resolve(A, Y2024)) == [C]
    with pytest.raises(NotFound, match="000.01.00.H99 is not effective on 2026-01-01: it "
                                       "retired on 2024-06-01, succeeded by 000.03.00.H99"):
        d.get(A, Y2026)


def test_merge_into_one_of_the_merged_continues_that_agency():
    d = small()
    d.merge([A, B], A, "UBND huyện A (mới)", "district", ROOT, Y2024)
    assert d.get(A, Y2024).name == "UBND huyện A (mới)"
    assert d.get(A, Y2020).name == "UBND huyện A"
    assert codes(d.resolve(B, Y2026)) == [A]
    assert codes(d.children(A, Y2024)) == sorted([A1, A2, B1])


def test_merge_into_an_existing_agency_that_was_not_listed():
    d = small()
    d.merge([A1], A2, "UBND xã A2", "commune", A, Y2024)  # A2 absorbs A1, unchanged
    assert len(d.history(A2)) == 1
    assert codes(d.resolve(A1, Y2026)) == [A2]


def test_merging_one_agency_into_a_new_code_renumbers_it():
    d = small()
    d.merge([B1], "009.02.00.H99", "UBND xã B1", "commune", B, Y2024)
    assert codes(d.resolve(B1, Y2024)) == ["009.02.00.H99"]


def test_merge_refusals():
    d = small()
    with pytest.raises(ValidationFailed, match="into itself"):
        d.merge([A], A, "x", "district", ROOT, Y2024)
    with pytest.raises(ValidationFailed, match="listed twice"):
        d.merge([A, A], C, "x", "district", ROOT, Y2024)
    with pytest.raises(ValidationFailed, match="non-empty list"):
        d.merge([], C, "x", "district", ROOT, Y2024)
    with pytest.raises(NotFound, match="codes: unknown agency"):
        d.merge([A, "000.09.00.H99"], C, "x", "district", ROOT, Y2024)
    with pytest.raises(ValidationFailed, match="would create a cycle") as info:
        d.merge([A, B], C, "x", "district", A1, Y2024)
    assert info.value.field == "parent"
    d.dissolve(B1, Y2024)
    with pytest.raises(Conflict, match="never reused") as info:
        d.merge([A1, A2], B1, "x", "commune", A, Y2024)
    assert info.value.field == "into_code"
    assert codes(d.children(A, Y2026)) == [A1, A2]  # nothing half-applied


# ---- split -----------------------------------------------------------------------

def test_split_creates_the_parts_and_the_old_code_resolves_to_all_of_them():
    d = small()
    record = d.split(A, [(C, "UBND huyện C"), ("000.04.00.H99", "UBND huyện D")], Y2024,
                     children_to={A1: C, A2: "000.04.00.H99"})
    assert record["parts"] == [{"code": C, "name": "UBND huyện C"},
                               {"code": "000.04.00.H99", "name": "UBND huyện D"}]
    assert codes(d.resolve(A, Y2026)) == [C, "000.04.00.H99"]
    assert {a.level for a in d.resolve(A, Y2026)} == {"district"}
    assert d.get(C, Y2024).parent == ROOT
    assert codes(d.ancestors(A2, Y2024)) == ["000.04.00.H99", ROOT]
    assert d.address({"agencies": [A]}, Y2026) == [C, "000.04.00.H99"]


def test_split_refusals():
    d = small()
    parts = [(C, "C"), ("000.04.00.H99", "D")]
    with pytest.raises(ValidationFailed, match="still has 2 effective children") as info:
        d.split(A, parts, Y2024)
    assert info.value.field == "children_to"
    with pytest.raises(ValidationFailed, match="no new parent for child 002.01.00.H99"):
        d.split(A, parts, Y2024, children_to={A1: C})
    with pytest.raises(ValidationFailed, match="is not one of the parts"):
        d.split(A, parts, Y2024, children_to=B)
    with pytest.raises(ValidationFailed, match="at least two parts"):
        d.split(A, parts[:1], Y2024, children_to=C)
    with pytest.raises(Conflict, match="already used"):
        d.split(A, [(C, "C"), (B, "B")], Y2024, children_to=C)
    d.split(A, parts, Y2024, children_to=C)
    assert codes(d.children(C, Y2024)) == [A1, A2]


# ---- dissolve ----------------------------------------------------------------------

def test_dissolve_needs_the_children_moved_first_or_children_to():
    d = small()
    with pytest.raises(ValidationFailed, match=r"000.01.00.H99 still has 2 effective children "
                                               r"\(001.01.00.H99, 002.01.00.H99\)"):
        d.dissolve(A, Y2024)
    d.move(A1, B, Y2024)
    d.move(A2, B, Y2024)
    d.dissolve(A, Y2024)
    assert codes(d.children(ROOT, Y2024)) == [B]


def test_dissolve_with_children_to_reparents_them_in_the_same_change():
    d = small()
    d.dissolve(A, Y2024, children_to=ROOT)
    assert codes(d.children(ROOT, Y2024)) == sorted([A1, A2, B])
    assert codes(d.ancestors(A1, Y2020)) == [A, ROOT]
    with pytest.raises(ValidationFailed, match="agency 000.01.00.H99 was dissolved on "
                                               "2024-06-01 with no successor"):
        d.resolve(A, Y2026)
    assert codes(d.resolve(A, Y2020)) == [A]


def test_dissolve_with_a_successor_resolves_to_it():
    d = small()
    d.dissolve(B1, Y2024, successor=A1)
    assert codes(d.resolve(B1, Y2026)) == [A1]


def test_dissolve_refusals():
    d = small()
    with pytest.raises(ValidationFailed, match="cannot succeed itself"):
        d.dissolve(B1, Y2024, successor=B1)
    with pytest.raises(ValidationFailed, match="form a cycle"):
        d.dissolve(A, Y2024, children_to=A1)
    d.dissolve(B1, Y2024)
    with pytest.raises(ValidationFailed, match="code: agency 001.02.00.H99 is not effective on "
                                               "2026-01-01: it was dissolved on 2024-06-01"):
        d.dissolve(B1, Y2026)
    with pytest.raises(ValidationFailed, match="successor: agency 001.02.00.H99 is not effective"):
        d.dissolve(A1, Y2026, successor=B1)


# ---- apply: the change dicts -------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ("create", "change"),
    ({"op": "explode", "on": "2024-01-01"}, "op"),
    ({"op": "rename", "on": "2024-01-01", "code": A, "new_name": "x", "colour": 1}, "colour"),
    ({"op": "rename", "on": "2024-01-01", "code": A}, "new_name"),
    ({"op": "rename", "on": "01/01/2024", "code": A, "new_name": "x"}, "on"),
])
def test_apply_refuses_malformed_changes_naming_the_field(change, field):
    with pytest.raises(ValidationFailed) as info:
        small().apply(change)
    assert info.value.field == field and field in info.value.message


def test_a_refused_change_changes_nothing():
    d = small()
    before = (d.to_json(), d.export_csv(Y2026))
    with pytest.raises(ValidationFailed):
        d.split(A, [(C, "C"), ("000.04.00.H99", "D")], Y2024, children_to={A1: C, A2: B})
    assert (d.to_json(), d.export_csv(Y2026)) == before
    assert C not in d


# ---- resolve -----------------------------------------------------------------------

def test_resolve_follows_merges_transitively(reformed):
    later = date(2027, 1, 1)
    reformed.merge([DIEN_HOA_PHONG, "002.00.00.H41"], "101.00.00.H41", "UBND xã Diễn Châu",
                   "commune", PROVINCE, later)
    assert codes(reformed.resolve(DIEN_HOA, Y2024)) == [DIEN_HOA]
    assert codes(reformed.resolve(DIEN_HOA, Y2026)) == [DIEN_HOA_PHONG]
    assert codes(reformed.resolve(DIEN_HOA, date(2028, 1, 1))) == ["101.00.00.H41"]


def test_resolve_follows_a_split_then_a_merge_of_one_part():
    d = small()
    d.split(B1, [("007.02.00.H99", "Bắc"), ("008.02.00.H99", "Nam")], Y2024)
    d.merge(["008.02.00.H99", A1], "009.01.00.H99", "xã mới", "commune", A, Y2026)
    assert codes(d.resolve(B1, Y2026)) == ["007.02.00.H99", "009.01.00.H99"]


def test_resolve_refuses_a_chain_ending_in_a_dissolution():
    d = small()
    d.merge([B1], "009.02.00.H99", "UBND xã B1", "commune", B, Y2024)
    d.dissolve("009.02.00.H99", Y2026)
    with pytest.raises(ValidationFailed, match=r"agency 009.02.00.H99 was dissolved on "
                                               r"2026-01-01 with no successor \(followed "
                                               r"from 001.02.00.H99\)"):
        d.resolve(B1, Y2026)


def test_resolve_of_an_unknown_code_or_one_not_yet_created_is_not_found():
    d = small()
    with pytest.raises(NotFound, match="unknown agency 000.09.00.H99"):
        d.resolve("000.09.00.H99", Y2024)
    with pytest.raises(NotFound, match="did not exist yet on 2019-01-01"):
        d.resolve(A, date(2019, 1, 1))
    with pytest.raises(ValidationFailed, match="not an agency code"):
        d.resolve("H41", Y2024)


# ---- queries over a tree -------------------------------------------------------------

def test_subtree_by_level_and_agencies_on_a_date(reformed):
    assert codes(reformed.subtree(DIEN_CHAU, Y2024)) == [
        DIEN_HOA, DIEN_PHONG, "003.01.00.H41", "004.01.00.H41"]
    assert len(reformed.subtree(PROVINCE, Y2024)) == 18
    assert len(reformed.subtree(PROVINCE, Y2024, level="commune")) == 12
    assert len(reformed.subtree(PROVINCE, Y2026, level="commune")) == 6
    assert reformed.subtree(PROVINCE, Y2026, level="district") == []
    assert len(reformed.agencies(Y2024)) == 19 and len(reformed.agencies(Y2026)) == 10
    with pytest.raises(NotFound, match="000.01.00.H41 is not effective on 2026-01-01: "
                                       "it was dissolved on 2025-07-01"):
        reformed.children(DIEN_CHAU, Y2026)


def test_the_reform_sample(reformed):
    assert codes(reformed.ancestors(DIEN_HOA, Y2024)) == [DIEN_CHAU, PROVINCE]
    merged = reformed.get(DIEN_HOA_PHONG, Y2026)
    assert (merged.name, merged.level, merged.parent) == (
        "UBND xã Diễn Hoa – Diễn Phong", "commune", PROVINCE)
    assert codes(reformed.resolve(DIEN_PHONG, Y2026)) == [DIEN_HOA_PHONG]
    assert reformed.history(DIEN_HOA)[-1].parent == DIEN_CHAU  # its last version, in 2025
    with pytest.raises(NotFound):
        reformed.get(DIEN_HOA_PHONG, Y2024)


# ---- addressing ------------------------------------------------------------------

def test_a_districts_communes_in_2024_and_in_2026_when_districts_are_gone(reformed):
    spec = {"subtree": DIEN_CHAU, "level": "commune"}
    assert reformed.address(spec, Y2024) == [DIEN_HOA, DIEN_PHONG, "003.01.00.H41",
                                             "004.01.00.H41"]
    with pytest.raises(ValidationFailed, match="spec.subtree: agency 000.01.00.H41 was "
                                               "dissolved on 2025-07-01 with no successor"
                       ) as info:
        reformed.address(spec, Y2026)
    assert info.value.field == "spec.subtree"


def test_every_commune_of_the_province_before_and_after_the_reform(reformed):
    spec = {"subtree": PROVINCE, "level": "commune"}
    assert len(reformed.address(spec, Y2024)) == 12
    assert reformed.address(spec, Y2026) == [f"00{n}.00.00.H41" for n in range(1, 7)]


def test_an_explicit_list_resolves_each_code_and_deduplicates(reformed):
    spec = {"agencies": [DIEN_PHONG, DIEN_HOA, "000.00.02.H41", DIEN_HOA]}
    assert reformed.address(spec, Y2024) == ["000.00.02.H41", DIEN_HOA, DIEN_PHONG]
    assert reformed.address(spec, Y2026) == ["000.00.02.H41", DIEN_HOA_PHONG]


def test_parents_of_before_and_after_the_reform(reformed):
    assert reformed.address({"parents_of": DIEN_HOA}, Y2024) == [PROVINCE, DIEN_CHAU]
    assert reformed.address({"parents_of": DIEN_HOA}, Y2026) == [PROVINCE]
    with pytest.raises(ValidationFailed, match="no agency matches"):
        reformed.address({"parents_of": PROVINCE}, Y2026)


def test_subtree_with_its_root():
    d = small()
    assert d.address({"subtree": A, "include_root": True}, Y2024) == [A, A1, A2]
    assert d.address({"subtree": A, "level": "commune", "include_root": True}, Y2024) == [
        A, A1, A2]
    assert d.address({"subtree": A}, Y2024) == [A1, A2]
    with pytest.raises(ValidationFailed, match="no agency matches"):
        d.address({"subtree": A1}, Y2024)


def test_an_address_for_2024_is_the_same_after_the_reform_was_recorded():
    before = sample_province().address({"subtree": PROVINCE}, Y2024)
    assert apply_reform_2025(sample_province()).address({"subtree": PROVINCE}, Y2024) == before


@pytest.mark.parametrize("spec, field", [
    ([A], "spec"),
    ({}, "spec"),
    ({"agencies": [A], "subtree": A}, "spec"),
    ({"agencies": []}, "spec.agencies"),
    ({"agencies": [A], "level": "commune"}, "spec.level"),
    ({"subtree": A, "include_root": "yes"}, "spec.include_root"),
    ({"subtree": A, "level": 2}, "spec.level"),
    ({"subtree": 41}, "spec.subtree"),
    ({"agencies": [A, "000.09.00.H99"]}, "spec.agencies"),
])
def test_a_malformed_address_is_refused_naming_the_field(spec, field):
    with pytest.raises((ValidationFailed, NotFound)) as info:
        small().address(spec, Y2024)
    assert info.value.field == field


# ---- JSON and CSV --------------------------------------------------------------------

def test_json_round_trip_rebuilds_the_same_directory(reformed):
    text = reformed.to_json()
    assert "Diễn Hoa" in text  # readable, not \u-escaped
    again = Directory.from_json(text)
    assert again.changes == reformed.changes == json.loads(text)
    for on in (Y2020, Y2024, REFORM_DATE, Y2026):
        assert again.agencies(on) == reformed.agencies(on)
    assert again.history(DIEN_HOA) == reformed.history(DIEN_HOA)


def test_from_json_validates_every_change():
    changes = small().changes
    changes.append({"op": "create", "on": "2024-01-01", "code": A1, "name": "x",
                    "level": "commune", "parent": A})
    with pytest.raises(Conflict, match="already used"):
        Directory.from_json(json.dumps(changes))
    with pytest.raises(ValidationFailed, match="list of changes"):
        Directory.from_json('{"op": "create"}')
    with pytest.raises(ValidationFailed, match="not valid JSON"):
        Directory.from_json("[")


def test_changes_is_a_copy():
    d = small()
    d.changes[0]["name"] = "tampered"
    assert d.changes[0]["name"] == "UBND tỉnh thử"


def test_csv_export_then_import_rebuilds_the_tree(reformed):
    text = reformed.export_csv(Y2024)
    lines = text.splitlines()
    assert lines[0] == "code,name,level,parent,valid_from,valid_to,successors"
    assert lines[1].startswith(PROVINCE + ",UBND tỉnh Nghệ An (mẫu),province,,2020-01-01,,")
    assert f"{DIEN_HOA},UBND xã Diễn Hoa,commune,{DIEN_CHAU},2020-01-01,2025-07-01," \
           f"{DIEN_HOA_PHONG}" in lines
    copy = Directory()
    applied = copy.import_csv(text, Y2024)
    assert len(applied) == 19 and {c["op"] for c in applied} == {"create"}
    assert [(a.code, a.name, a.level, a.parent) for a in copy.agencies(Y2024)] == [
        (a.code, a.name, a.level, a.parent) for a in reformed.agencies(Y2024)]


def test_csv_import_puts_parents_before_children_and_accepts_existing_parents():
    d = small()
    text = ("code,name,level,parent\n"
            "009.04.00.H99,UBND xã mới,commune,000.04.00.H99\n"
            "000.04.00.H99,UBND huyện D,district,000.00.00.H99\n")
    applied = d.import_csv(text, Y2024)
    assert [c["code"] for c in applied] == ["000.04.00.H99", "009.04.00.H99"]
    assert codes(d.ancestors("009.04.00.H99", Y2024)) == ["000.04.00.H99", ROOT]


@pytest.mark.parametrize("body, error, message", [
    ("009.04.00.H99,x,commune,000.04.00.H99\n", NotFound, "line 2: parent: unknown agency"),
    ("009.04.00.H99,x,commune,\n009.04.00.H99,y,commune,\n", Conflict,
     "line 3: code 009.04.00.H99 appears twice"),
    ("009.04.00.H99,x,commune,008.04.00.H99\n008.04.00.H99,y,commune,009.04.00.H99\n",
     ValidationFailed, "form a cycle"),
    ("009.04.00.H99,x,commune,\nbad,y,commune,\n", ValidationFailed,
     "line 3: code: 'bad' is not an agency code"),
])
def test_csv_import_refusals_name_the_line_and_apply_nothing(body, error, message):
    d = small()
    before = d.to_json()
    with pytest.raises(error, match=message):
        d.import_csv("code,name,level,parent\n" + body, Y2024)
    assert d.to_json() == before


def test_csv_import_needs_the_columns():
    with pytest.raises(ValidationFailed, match="missing column parent"):
        Directory().import_csv("code,name,level\n", Y2024)


# ---- the national generator ------------------------------------------------------------

def test_national_has_about_11000_valid_unique_agencies():
    d = national()
    agencies = d.agencies(SAMPLE_DATE)
    assert len(agencies) == 63 * (1 + 11 + 11 * 15) == 11151
    assert len({a.code for a in agencies}) == len(agencies)
    assert all(AGENCY_CODE.match(a.code) for a in agencies)
    levels = [a.level for a in agencies]
    assert (levels.count("province"), levels.count("district"), levels.count("commune")) == (
        63, 693, 10395)
    by_code = {a.code: a for a in agencies}
    assert all(a.parent is None or by_code[a.parent].level != a.level for a in agencies)
    assert len(d.address({"subtree": "000.00.00.H41", "level": "commune"}, SAMPLE_DATE)) == 165


def test_national_is_deterministic_and_bounded():
    assert national(2, 2, 2).to_json() == national(2, 2, 2).to_json()
    with pytest.raises(ValidationFailed, match="fit the code scheme"):
        national(provinces=100)


def test_no_agency_is_its_own_ancestor(reformed):
    for d, on in ((national(5, 4, 3), SAMPLE_DATE), (reformed, Y2024), (reformed, Y2026)):
        for agency in d.agencies(on):
            chain = codes(d.ancestors(agency.code, on))
            assert agency.code not in chain and len(set(chain)) == len(chain)
            assert not chain or d.get(chain[-1], on).parent is None


def test_the_sample_province_shape():
    d = sample_province()
    assert d.get(PROVINCE, SAMPLE_DATE).name == "UBND tỉnh Nghệ An (mẫu)"
    assert len(d.children(PROVINCE, SAMPLE_DATE)) == 6  # 3 sở + 3 huyện
    for district in d.subtree(PROVINCE, SAMPLE_DATE, level="district"):
        assert district.name.startswith("UBND huyện ")
        assert len(d.children(district.code, SAMPLE_DATE)) == 4
    assert sample_data.commune_code(2, 3) == "003.02.00.H41"


# ---- the 2025 reform of provinces -----------------------------------------------------

def test_the_63_provinces_carry_their_decision_20_codes():
    assert len(sample_data.PROVINCES_2024) == len(set(sample_data.PROVINCES_2024)) == 63
    # The codes seen in public SDK examples and provincial services.
    for name, code in (("tỉnh Cao Bằng", "H14"), ("tỉnh Đồng Tháp", "H20"),
                       ("thành phố Hồ Chí Minh", "H29"), ("tỉnh Nghệ An", "H41")):
        assert sample_data.province_code(name) == f"000.00.00.{code}"
    assert national(63, 0, 0).get("000.00.00.H41", SAMPLE_DATE).name == "UBND tỉnh Nghệ An"


def test_the_reform_leaves_34_provinces_and_old_codes_resolve_to_their_successor():
    groups = sample_data.PROVINCE_MERGERS_2025
    merged = [name for group in groups for name in group]
    assert len(merged) == len(set(merged)) and set(merged) <= set(sample_data.PROVINCES_2024)
    d = sample_data.merge_provinces_2025(
        apply_reform_2025(national(63, 1, 2)))
    provinces = [a for a in d.agencies(Y2026) if a.level == "province"]
    assert len(provinces) == 34
    assert len([a for a in d.agencies(Y2024) if a.level == "province"]) == 63
    # Hà Giang (H22) joined Tuyên Quang (H60); Bà Rịa - Vũng Tàu (H02) joined TP HCM (H29).
    assert codes(d.resolve("000.00.00.H22", Y2026)) == ["000.00.00.H60"]
    assert codes(d.resolve("000.00.00.H02", Y2026)) == ["000.00.00.H29"]
    assert codes(d.resolve("000.00.00.H41", Y2026)) == ["000.00.00.H41"]  # Nghệ An: unchanged
    # A commune of an absorbed province now sits under the continuing one.
    communes = d.subtree("000.00.00.H60", Y2026, level="commune")
    assert {a.code[-3:] for a in communes} == {"H60", "H22"}
