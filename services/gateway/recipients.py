"""Nơi nhận: choosing a document's recipient agencies, for the API and the web.

A recipient group (nhóm nơi nhận) is a named list of agency codes a clerk
saved to pick again; it belongs to the clerk's agency (every clerk of it sees
and uses it, no other agency's does). Groups live in the gateway's own
schema (``dependencies.RecipientGroups``): they are a convenience of the
compose screen, not a fact of any document, so no service's events carry
them; a document records the codes it was sent to, never the group.

``gateway`` is the nameko service instance (its ``events.groups`` and
``routing`` proxy, called as the admitted user); ``actor`` the caller.
"""

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from shared.envelope import AGENCY_CODE
from shared.errors import LienThongError, NotFound, ValidationFailed
from shared.text import check_storable

MAX_RECIPIENTS = 1000   # docs' bound on a document's recipients
MAX_NAME = 100
MAX_GROUPS = 200        # per agency: a list one can still read
_SEPARATORS = re.compile(r"[\s,;]+")


# -- pure helpers (unit-tested) ---------------------------------------------------------

def codes_of(text: str | Iterable[str]) -> list[str]:
    """The codes of a recipients field (spaces, commas, semicolons or new lines
    between them), or of a list of such texts; in order, each once."""
    texts = [text] if isinstance(text, str) else list(text)
    seen: dict[str, None] = {}
    for part in texts:
        for code in _SEPARATORS.split(part or ""):
            if code:
                seen.setdefault(code.upper(), None)
    return list(seen)


def chosen(current: Iterable[str], added: Iterable[str] = (),
           removed: Iterable[str] = ()) -> list[str]:
    """The selection after adding ``added`` and taking out ``removed``."""
    out = set(codes_of(list(removed)))
    return [c for c in codes_of(list(current) + list(added)) if c not in out]


def checked_codes(codes: list[str], field: str = "recipients") -> list[str]:
    """Agency codes of the right form, at least one, at most ``MAX_RECIPIENTS``."""
    if not codes:
        raise ValidationFailed(f"{field}: at least one agency", field=field)
    if len(codes) > MAX_RECIPIENTS:
        raise ValidationFailed(f"{field}: at most {MAX_RECIPIENTS} agencies", field=field)
    for code in codes:
        if not isinstance(code, str) or not AGENCY_CODE.match(code):
            raise ValidationFailed(f"{field}: {str(code)[:20]!r} is not an agency code of the"
                                   " form XXX.XX.XX.Ynn", field=field)
    return codes


def checked_name(name: Any) -> str:
    """A group's name: text, 1 to ``MAX_NAME`` characters, kept in NFC."""
    if not isinstance(name, str):
        raise ValidationFailed("name: text", field="name")
    name = unicodedata.normalize("NFC", name).strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationFailed(f"name: 1 to {MAX_NAME} characters", field="name")
    check_storable(name, "name")
    return name


# -- use cases --------------------------------------------------------------------------

def known(gateway: Any, codes: list[str]) -> list[str]:
    """``codes`` if the directory knows each of them today (routing resolves
    them as a send would); else ValidationFailed naming ``recipients``."""
    try:
        gateway.routing.resolve_addressing({"agencies": codes})
    except LienThongError as err:
        if not isinstance(err, (NotFound, ValidationFailed)):
            raise
        message = err.message.split(": ", 1)[-1]
        raise ValidationFailed(f"recipients: {message}", field="recipients") from None
    return codes


def subtree(gateway: Any, actor: Any, code: str) -> list[str]:
    """An agency and every agency under it today (a province and its communes),
    but the caller's own agency: an agency does not send a document to itself."""
    try:
        found = gateway.routing.resolve_addressing(
            {"subtree": code, "include_root": True})["recipients"]
    except (NotFound, ValidationFailed) as err:
        raise type(err)(f"subtree: {err.message.split(': ', 1)[-1]}", field="subtree") from None
    return [c for c in found if c != actor.agency]


def listed(gateway: Any, actor: Any) -> list[dict]:
    return gateway.events.groups.of(actor.agency)


def group(gateway: Any, actor: Any, group_id: Any) -> dict:
    """One of the caller's agency's groups; NotFound naming ``group_id`` else."""
    found = gateway.events.groups.get(actor.agency, _group_id(group_id))
    if found is None:
        raise NotFound(f"group_id: your agency has no group {group_id}", field="group_id")
    return found


def save(gateway: Any, actor: Any, name: Any, recipients: Any) -> dict:
    """Save (or replace, under the same name) a group of the caller's agency."""
    name = checked_name(name)
    if not isinstance(recipients, list):
        raise ValidationFailed("recipients: a list of agency codes", field="recipients")
    codes = known(gateway, checked_codes(codes_of(recipients)))
    saved = gateway.events.groups.save(actor.agency, name, codes, actor.user_id, MAX_GROUPS)
    if saved is None:
        raise ValidationFailed(f"name: your agency has {MAX_GROUPS} groups already; delete"
                               " one first", field="name")
    return saved


def delete(gateway: Any, actor: Any, group_id: Any) -> dict:
    number = _group_id(group_id)
    if not gateway.events.groups.delete(actor.agency, number):
        raise NotFound(f"group_id: your agency has no group {group_id}", field="group_id")
    return {"deleted": number}


def _group_id(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("group_id: a whole number", field="group_id") from None
    if not 1 <= number <= 2**31 - 1:
        raise NotFound(f"group_id: no group {number}", field="group_id")
    return number
