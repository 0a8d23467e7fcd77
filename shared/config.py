"""Typed settings read once, when a service starts.

A service declares its settings as a frozen dataclass whose fields have
their defaults; :func:`load_settings` builds it from the nameko config
(upper-case keys: ``max_upload_bytes`` is ``MAX_UPLOAD_BYTES``), converting
each value to the field's type and refusing a value that does not convert,
naming the setting. :class:`SettingsProvider` does it in ``setup``: a
service with a bad setting does not start, and entrypoints read
``self.settings.max_upload_bytes`` instead of parsing config each call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from nameko.extensions import DependencyProvider

S = TypeVar("S")

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class BadSetting(ValueError):
    def __init__(self, setting: str, value: Any, expected: str):
        super().__init__(f"{setting}: {expected}, got {value!r}")
        self.setting = setting


def _convert(setting: str, value: Any, kind: type) -> Any:
    if kind is bool:
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise BadSetting(setting, value, "true or false")
    if kind is int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise BadSetting(setting, value, "a whole number") from None
        if number <= 0:
            raise BadSetting(setting, value, "a number above 0")
        return number
    if kind is float:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise BadSetting(setting, value, "a number") from None
        if not number > 0:
            raise BadSetting(setting, value, "a number above 0")
        return number
    return kind(value)


def load_settings(cls: type[S], config: Mapping[str, Any]) -> S:
    """``cls`` (a dataclass with defaults) from ``config``; a missing or empty
    key keeps its default."""
    types = {"int": int, "bool": bool, "str": str, "float": float,
             int: int, bool: bool, str: str, float: float}
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        setting = field.name.upper()
        value = config.get(setting)
        if value is None or (value == "" and types[field.type] is not bool):
            continue
        values[field.name] = _convert(setting, value, types[field.type])
    return cls(**values)


class SettingsProvider(DependencyProvider):
    """Hands each worker the service's settings, read once at ``setup``."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def setup(self) -> None:
        self.settings = load_settings(self.cls, self.container.config)

    def get_dependency(self, worker_ctx: Any) -> Any:
        return self.settings
