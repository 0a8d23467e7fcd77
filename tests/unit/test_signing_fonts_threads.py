"""The signature fonts are made in run_cpu's real threads: their lock must be the
OS's, not eventlet's green one (a real thread blocking on a green lock makes the
hub fail with "Cannot switch to a different thread", which hung signing when
three documents were signed at once)."""

import subprocess
import sys
import textwrap


def test_fonts_made_by_several_real_threads_at_once_under_eventlet():
    script = textwrap.dedent("""
        import eventlet
        eventlet.monkey_patch()
        from eventlet import patcher, tpool
        from services.signing import appearance

        fonts = [appearance._Font(bold=False) for _ in range(4)]
        real = type(patcher.original("threading").Lock())
        assert isinstance(appearance._Font._lock, real), type(appearance._Font._lock)
        pool = eventlet.GreenPool()
        made = list(pool.imap(lambda f: tpool.execute(lambda: f.font is not None), fonts))
        assert made == [True] * 4, made
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_the_services_log_handler_takes_records_from_real_threads_under_eventlet():
    """fontTools and pyHanko log from run_cpu's threads: the handler's lock must be
    the OS's (shared.observability.StreamHandler, in every service's config)."""
    script = textwrap.dedent("""
        import eventlet
        eventlet.monkey_patch()
        import logging, logging.config
        from eventlet import tpool
        logging.config.dictConfig({"version": 1, "handlers": {"console": {
            "class": "shared.observability.StreamHandler", "stream": "ext://sys.stdout"}},
            "root": {"level": "INFO", "handlers": ["console"]}})
        log = logging.getLogger("threads")

        def chatty(n):
            for i in range(300):
                log.info("thread %d line %d", n, i)
            return n

        pool = eventlet.GreenPool()
        assert list(pool.imap(lambda n: tpool.execute(chatty, n), range(4))) == [0, 1, 2, 3]
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert "Cannot switch" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
