"""The services' clock: the real time, or in development mode the real time
moved back by an offset, so that a demo can seed weeks of history through the
services' normal paths (``infra/demo.py --history``).

What follows the clock: event times (``shared.envelope.utc_now``), the
Vietnam "today" of docs and routing, the deadlines and the overdue watches.
What never does (``real_now``, or ``datetime.now`` where they are taken):
certificates, CRLs and time stamps (nothing is back-dated in the PKI),
tokens and sessions, S3 retention locks, the audit log's checkpoints.

Setting ``DEV_CLOCK_FILE`` (docs, signing, routing): a file holding the
offset in seconds, zero or negative (at most ``MAX_BACK`` back), read again
whenever it changes; no file, or an empty one: no offset. Refused outside
development mode (``shared.settings.development_only``): a production
service cannot be told another time.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.settings import development_only

SETTING = "DEV_CLOCK_FILE"
ZERO = timedelta(0)
MAX_BACK = timedelta(days=366)

_lock = threading.Lock()
_path: str | None = None
_seen: tuple | None = None      # the file's (inode, size, mtime) when last read
_offset = ZERO


def real_now() -> datetime:
    """The real time, UTC, whatever the development clock says."""
    return datetime.now(timezone.utc)


def retained_until(days: float) -> datetime:
    """An S3 retention date ``days`` ahead, on the real time: a lock is never
    shortened (nor set in the past) by the development clock."""
    return real_now() + timedelta(days=days)


def now() -> datetime:
    """The services' time, UTC: the real time plus the development offset, if any."""
    return real_now() + offset()


def configure(config: Mapping[str, Any]) -> bool:
    """Follow ``DEV_CLOCK_FILE`` if ``config`` sets it: only in development
    mode (``DevelopmentOnly`` else, and the service does not start). Whether
    the clock is now moved by that file."""
    global _path, _seen
    path = str(config.get(SETTING) or "").strip()
    if not development_only(config, SETTING, bool(path),
                            "moves event times and deadlines by the offset in that file"):
        return False
    with _lock:
        _path, _seen = path, None
    offset()  # a bad file is said at start, naming the setting
    return True


def reset() -> None:
    """Back to the real time (for tests)."""
    global _path, _seen, _offset
    with _lock:
        _path, _seen, _offset = None, None, ZERO


def offset() -> timedelta:
    """The development offset now (``ZERO`` unless configured)."""
    global _seen, _offset
    path = _path
    if path is None:
        return ZERO
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return ZERO
    seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _lock:
        if seen != _seen:
            with open(path, encoding="utf-8") as fh:
                _offset = parse_offset(fh.read(), path)
            _seen = seen
        return _offset


def parse_offset(text: str, path: str = SETTING) -> timedelta:
    """The offset a ``DEV_CLOCK_FILE`` holds: seconds, zero or back in time."""
    text = text.strip()
    if not text:
        return ZERO
    try:
        seconds = float(text)
        if not math.isfinite(seconds):
            raise ValueError
    except ValueError:
        raise ValueError(f"{SETTING} {path}: the offset in seconds (a number),"
                         f" got {text[:40]!r}") from None
    moved = timedelta(seconds=seconds)
    if not -MAX_BACK <= moved <= ZERO:
        raise ValueError(f"{SETTING} {path}: an offset back in time of at most"
                         f" {MAX_BACK.days} days (-{int(MAX_BACK.total_seconds())}..0),"
                         f" got {text[:40]!r}")
    return moved


def write_offset(path: str, moved: timedelta) -> None:
    """Set the development clock's offset (the demo's side), atomically."""
    parse_offset(str(moved.total_seconds()), path)  # the same bounds as the reader's
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"{moved.total_seconds():.6f}\n")
    os.replace(tmp, path)
