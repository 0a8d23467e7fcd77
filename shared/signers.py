"""The signer's lines above a signature (Decree 30/2020/NĐ-CP Art. 13 and
Appendix I), one rule for docs' metadata, signing's PDF appearance and
routing's edXML ``SignerInfo``.

- ``""``: the head signs directly: ``CHỦ TỊCH``.
- ``Q.`` (acting) prefixes the position: ``Q. CHỦ TỊCH``.
- ``KT.``, ``TM.``, ``TL.``, ``TUQ.`` sign for someone else, named by
  ``on_behalf_of``: ``KT. CHỦ TỊCH`` / ``PHÓ CHỦ TỊCH``.
- Under ``TM.`` (for a collective) or ``TL.`` (by order) the one who signs may
  be a deputy of the head: ``deputy_for`` adds the ``KT.`` line,
  ``TM. ỦY BAN NHÂN DÂN`` / ``KT. CHỦ TỊCH`` / ``PHÓ CHỦ TỊCH``.
  ``TUQ.`` may not be passed on (Art. 13(4)), nor may ``KT.`` or ``Q.``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import ValidationFailed

COMPETENCES = ("", "TM.", "Q.", "KT.", "TL.", "TUQ.")
FOR_SOMEONE = ("TM.", "KT.", "TL.", "TUQ.")
DEPUTY_UNDER = ("TM.", "TL.")


def authority_lines(competence: str = "", on_behalf_of: str | None = None,
                    deputy_for: str | None = None) -> list[str]:
    """The lines above the position, as given (case kept): ``[]`` for a
    direct or acting signature. Raises :class:`ValidationFailed` naming the
    field that breaks the rule."""
    if competence not in COMPETENCES:
        raise ValidationFailed(
            "competence: one of TM., Q., KT., TL., TUQ. or empty (signs directly)",
            field="competence")
    if competence in FOR_SOMEONE and not (on_behalf_of or "").strip():
        raise ValidationFailed(f"on_behalf_of: required with competence {competence}",
                               field="on_behalf_of")
    if deputy_for and competence not in DEPUTY_UNDER:
        raise ValidationFailed("deputy_for: only under TM. or TL. (Decree 30 Art. 13:"
                               " a deputy signs KT. for the head)", field="deputy_for")
    if competence not in FOR_SOMEONE:
        return []
    lines = [f"{competence} {on_behalf_of.strip()}"]
    if deputy_for and deputy_for.strip():
        lines.append(f"KT. {deputy_for.strip()}")
    return lines


def signature_lines(position: str, competence: str = "", on_behalf_of: str | None = None,
                    deputy_for: str | None = None) -> list[str]:
    """Every line above the signature, upper case, as the PDF shows them."""
    if not position or not position.strip():
        raise ValidationFailed("position: required", field="position")
    position = position.strip()
    lines = authority_lines(competence, on_behalf_of, deputy_for)
    if competence == "Q.":
        position = f"Q. {position}"
    return [line.upper() for line in [*lines, position]]


def competence_text(signer: Mapping[str, Any]) -> str:
    """edXML's ``SignerInfo/Competence``: the authority lines on one line
    ("TM. Ủy ban nhân dân KT. Chủ tịch"), or the acting prefix ("Q.")."""
    competence = signer.get("competence", "") or ""
    if competence not in COMPETENCES:  # an imported signer's text, kept as it came
        return competence
    lines = authority_lines(competence, signer.get("on_behalf_of"), signer.get("deputy_for"))
    return " ".join(lines) if lines else competence
