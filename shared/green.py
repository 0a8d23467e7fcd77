"""Keeping the eventlet hub free.

nameko runs every worker as a green thread on one OS thread. A call that
blocks in C (psycopg's default wait, RSA signing, hashing a large file)
freezes every other worker and the broker heartbeats with it. Two remedies:
database waits go through the selector (which eventlet patches), and CPU work
goes to a real OS thread with :func:`run_cpu`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    import threading

_P = ParamSpec("_P")
_T = TypeVar("_T")


def eventlet_patched() -> bool:
    patcher = sys.modules.get("eventlet.patcher")
    return bool(patcher and patcher.is_monkey_patched("select"))


def make_psycopg_cooperative() -> None:
    """Make psycopg wait on sockets through ``selectors`` when eventlet is active.

    psycopg's C wait blocks the hub during a query (eight concurrent
    ``pg_sleep(0.5)`` took 4 s); the selector wait yields to other green threads.
    """
    if eventlet_patched():
        from psycopg import waiting

        waiting.wait = waiting.wait_selector


def os_thread_lock() -> threading.Lock:
    """A lock of the OS's threads, for state shared by code that runs in
    :func:`run_cpu`'s real threads. Under eventlet, ``threading.Lock()`` made
    after the monkey patch is a green lock, and a real thread that blocks on it
    makes the hub fail ("Cannot switch to a different thread")."""
    if eventlet_patched():
        from eventlet import patcher

        return patcher.original("threading").Lock()
    import threading

    return threading.Lock()


def os_thread_rlock() -> threading.RLock:
    """:func:`os_thread_lock`, re-entrant (what ``logging`` handlers hold)."""
    if eventlet_patched():
        from eventlet import patcher

        return patcher.original("threading").RLock()
    import threading

    return threading.RLock()


def run_cpu(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run CPU-bound ``func`` off the hub when eventlet is active (real thread)."""
    if eventlet_patched():
        from eventlet import tpool

        return tpool.execute(func, *args, **kwargs)
    return func(*args, **kwargs)
