"""Named crash points for tests that kill a service at an exact moment.

``LIENTHONG_FAILPOINTS=outbox.before_publish`` makes the process SIGKILL
itself the first time it reaches :func:`failpoint("outbox.before_publish")`.
A real SIGKILL, not an exception: no ``finally`` block runs, no buffer is
flushed. ``name:raise`` raises :class:`FailpointError` there instead, each
time while set: a failure the code must recover from (its transaction rolls
back). Unset in production, the check is one dictionary lookup.
"""

import os
import signal


class FailpointError(RuntimeError):
    """A failure injected by a ``name:raise`` failpoint (tests only)."""


def failpoint(name: str) -> None:
    names = os.environ.get("LIENTHONG_FAILPOINTS")
    if not names:
        return
    for entry in names.split(","):
        point, _, mode = entry.partition(":")
        if point == name:
            if mode == "raise":
                raise FailpointError(f"failpoint {name}")
            os.kill(os.getpid(), signal.SIGKILL)
