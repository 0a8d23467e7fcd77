"""The signer's lines (shared/signers.py): Decree 30 Art. 13's prefixes, alone
and combined, as the PDF shows them and as edXML's Competence carries them."""

import pytest

from shared.errors import ValidationFailed
from shared.signers import authority_lines, competence_text, signature_lines


@pytest.mark.parametrize("position, competence, on_behalf_of, deputy_for, lines", [
    ("Chủ tịch", "", None, None, ["CHỦ TỊCH"]),
    ("Chủ tịch", "Q.", None, None, ["Q. CHỦ TỊCH"]),
    ("Phó Chủ tịch", "KT.", "Chủ tịch", None, ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]),
    ("Chủ tịch", "TM.", "Ủy ban nhân dân", None, ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]),
    ("Chánh Văn phòng", "TUQ.", "Chủ tịch", None, ["TUQ. CHỦ TỊCH", "CHÁNH VĂN PHÒNG"]),
    ("Phó Chủ tịch", "TM.", "Ủy ban nhân dân", "Chủ tịch",
     ["TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]),
    ("Phó Chánh Văn phòng", "TL.", "Chủ tịch", "Chánh Văn phòng",
     ["TL. CHỦ TỊCH", "KT. CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG"]),
])
def test_the_lines_follow_the_competence(position, competence, on_behalf_of, deputy_for,
                                         lines):
    assert signature_lines(position, competence, on_behalf_of, deputy_for) == lines


@pytest.mark.parametrize("args, field", [
    (("Chủ tịch", "XX."), "competence"),
    (("Phó Chủ tịch", "KT."), "on_behalf_of"),
    (("Chủ tịch", "TM.", "  "), "on_behalf_of"),
    (("", "TM.", "Ủy ban nhân dân"), "position"),
    # A deputy signs KT. under TM. or TL. only: not under KT., Q., TUQ. (not passed on).
    (("Phó Chủ tịch", "KT.", "Chủ tịch", "Chủ tịch"), "deputy_for"),
    (("Chánh Văn phòng", "TUQ.", "Chủ tịch", "Chủ tịch"), "deputy_for"),
    (("Chủ tịch", "Q.", None, "Chủ tịch"), "deputy_for"),
    (("Chủ tịch", "", None, "Chủ tịch"), "deputy_for"),
])
def test_a_line_against_the_rule_is_refused_by_name(args, field):
    with pytest.raises(ValidationFailed) as caught:
        signature_lines(*args)
    assert caught.value.field == field


def test_edxml_competence_keeps_the_case_and_every_authority_line():
    assert competence_text({"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân",
                            "deputy_for": "Chủ tịch"}) == "TM. Ủy ban nhân dân KT. Chủ tịch"
    assert competence_text({"competence": "KT.", "on_behalf_of": "Chủ tịch"}) == "KT. Chủ tịch"
    assert competence_text({"competence": "Q."}) == "Q."
    assert competence_text({"competence": ""}) == ""
    # An imported signer's SDK text is not ours to rewrite.
    assert competence_text({"competence": "KT. Bộ trưởng"}) == "KT. Bộ trưởng"
    assert authority_lines("") == []


def test_routing_exports_every_authority_line_and_reads_it_back():
    from services.routing import connector, edxml
    from services.routing.sample_data import PROVINCE, district_code
    from tests.unit.routing_store_contract import issued

    signer = {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân",
              "deputy_for": "Chủ tịch", "position": "Phó Chủ tịch",
              "full_name": "Trần Thị Bình"}
    event = issued(PROVINCE, [district_code(1)], signer=signer)
    package = connector.package_of({"data": event.data}, [])
    assert package.signer == edxml.Signer(competence="TM. Ủy ban nhân dân KT. Chủ tịch",
                                          position="Phó Chủ tịch", full_name="Trần Thị Bình")
    assert edxml.import_package(edxml.export_package(package)).signer == package.signer
