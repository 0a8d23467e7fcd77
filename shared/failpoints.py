"""Named crash points for tests that kill a service at an exact moment.

``LIENTHONG_FAILPOINTS=outbox.before_publish`` makes the process SIGKILL
itself the first time it reaches :func:`failpoint("outbox.before_publish")`.
A real SIGKILL, not an exception: no ``finally`` block runs, no buffer is
flushed. Unset in production, the check is one dictionary lookup.
"""

import os
import signal


def failpoint(name):
    names = os.environ.get("LIENTHONG_FAILPOINTS")
    if names and name in names.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
