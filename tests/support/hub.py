"""Whether work leaves the eventlet hub free: a 10 ms ticker runs beside it."""

import time

import eventlet


def longest_pause_while(work):
    """``(longest gap a 10 ms ticker sees, duration of work, its result)``."""
    gaps, running = [], True

    def ticker():
        last = time.monotonic()
        while running:
            eventlet.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = eventlet.spawn(ticker)
    eventlet.sleep(0.05)
    started = time.monotonic()
    try:
        result = work()
    finally:
        running = False
    duration = time.monotonic() - started
    tick.wait()
    return max(gaps), duration, result
