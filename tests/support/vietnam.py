"""Times in Vietnam for the deadline tests: ``vn(...)`` a moment, ``eod(...)``
the end of a day (23:59:59.999, as the deadlines end)."""

from datetime import datetime

from shared.values import VIETNAM


def vn(y, m, d, hh=0, mm=0, ss=0, us=0):
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=VIETNAM)


def eod(y, m, d):
    return vn(y, m, d, 23, 59, 59, 999000)
