"""Secrets a service needs, checked when it starts: no default secret runs.

A service calls :func:`require_secret` for each secret or passphrase in its
dependency providers' ``setup``; a missing, short or well-known value stops
the container with :class:`InsecureConfiguration`, naming the setting. Only a
service started with ``DEV_MODE`` (``LIENTHONG_DEV_MODE=1``) runs with such a
value, and says so loudly in its log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 16
# Values that shipped as defaults or that people type: never a real secret.
KNOWN_DEFAULTS = frozenset({
    "dev-only-change-me", "dev-only-passphrase", "change-me", "changeme", "secret",
    "password", "passphrase", "lienthong", "lienthong-secret", "minioadmin", "guest",
    "testing", "admin",
})


class InsecureConfiguration(RuntimeError):
    """A setting that would let the service run with a guessable secret."""

    def __init__(self, setting: str, problem: str):
        self.setting, self.problem = setting, problem
        super().__init__(
            f"{setting} {problem}: give it a fresh random value (for example"
            f" `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or start"
            f" the service in development mode (LIENTHONG_DEV_MODE=1), never in production")


def is_on(config: Mapping[str, Any], setting: str) -> bool:
    """An on/off setting: 1, true, yes or on (any case) is on; anything else off."""
    return str(config.get(setting, "")).strip().lower() in ("1", "true", "yes", "on")


def is_dev_mode(config: Mapping[str, Any]) -> bool:
    return is_on(config, "DEV_MODE")


def secret_problem(value: object, min_length: int = MIN_SECRET_LENGTH) -> str | None:
    """Why ``value`` is not an acceptable secret, or None."""
    if value is None or str(value) == "":
        return "is missing"
    text = str(value)
    if text.lower() in KNOWN_DEFAULTS or text.lower().startswith("dev-only"):
        return "is a known default"
    if len(text) < min_length:
        return f"is shorter than {min_length} characters"
    return None


def require_secret(config: Mapping[str, Any], setting: str,
                   min_length: int = MIN_SECRET_LENGTH) -> str:
    """``config[setting]`` as text, if it is a real secret; else refuse to start.

    In development mode a weak value is accepted with a warning; a missing one
    is still refused (there is nothing to run with).
    """
    value = config.get(setting)
    problem = secret_problem(value, min_length)
    if problem is None:
        return str(value)
    if is_dev_mode(config) and problem != "is missing":
        log.warning("DEVELOPMENT MODE: %s %s; this service must not run in production",
                    setting, problem)
        return str(value)
    raise InsecureConfiguration(setting, problem)


class DevelopmentOnly(RuntimeError):
    """A setting whose value is for development only, outside development mode."""

    def __init__(self, setting: str, problem: str):
        self.setting, self.problem = setting, problem
        super().__init__(f"{setting} {problem}: allowed only in development mode"
                         f" (LIENTHONG_DEV_MODE=1), never in production")


def development_only(config: Mapping[str, Any], setting: str, enabled: bool,
                     problem: str) -> bool:
    """``enabled`` if it may be: a development-only behaviour (``setting`` on,
    ``problem`` saying what it does) refuses to start outside development mode
    and is logged loudly in it."""
    if not enabled:
        return False
    if not is_dev_mode(config):
        raise DevelopmentOnly(setting, problem)
    log.warning("DEVELOPMENT MODE: %s %s; this service must not run in production",
                setting, problem)
    return True
