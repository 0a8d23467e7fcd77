"""Text that can be stored: what a JSON body may not carry into the services.

JSON allows ``\\u0000`` and lone surrogates (``\\ud800``); PostgreSQL text and
jsonb refuse the first, UTF-8 cannot encode the second. Both are refused at
the edge with an error naming the field, instead of failing deep inside.
"""

import unicodedata
from typing import TypeVar

from shared.errors import ValidationFailed

_Value = TypeVar("_Value")


def check_storable(value: _Value, path: str = "") -> _Value:
    """Raise ValidationFailed naming the first string (or key) that cannot be stored."""
    if isinstance(value, str):
        _check(value, path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            _check(str(key), where)
            check_storable(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_storable(item, f"{path}.{index}" if path else str(index))
    return value


def _check(text, field):
    if "\x00" in text:
        raise ValidationFailed(f"{field}: contains a NUL character", field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(f"{field}: not valid Unicode (a lone surrogate)",
                               field=field) from None


def folded(text: str) -> str:
    """Lower case without diacritics, for a search: "ha noi" finds "Hà Nội"."""
    text = unicodedata.normalize("NFD", text.casefold()).replace("đ", "d")
    return "".join(c for c in text if not unicodedata.combining(c))
