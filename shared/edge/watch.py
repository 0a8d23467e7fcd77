"""A dependency that runs a check every so often in the service's own
process, beside its entrypoints (the overdue watches of docs and routing)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from nameko.extensions import DependencyProvider

from shared.edge.providers import EventStoreProvider
from shared.envelope import utc_now

log = logging.getLogger(__name__)


class PeriodicWatch(DependencyProvider):
    """Every ``interval(config)`` seconds, ``check(events, now)`` with the
    service's ``EventStoreProvider`` dependency. A failed check (the database
    down) is logged and tried again at the next interval."""

    what = "periodic check"

    def interval(self, config: Any) -> float:
        raise NotImplementedError

    def check(self, events: Any, now: datetime) -> Any:
        raise NotImplementedError

    def setup(self) -> None:
        self.seconds = self.interval(self.container.config)
        self._running = False

    def start(self) -> None:
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._loop)

    def _loop(self) -> None:
        events = next(d for d in self.container.dependencies
                      if isinstance(d, EventStoreProvider)).get_dependency(None)
        next_check = time.monotonic() + self.seconds
        while self._running:
            time.sleep(0.2)  # short naps, so that stop() does not wait a whole interval
            if time.monotonic() < next_check:
                continue
            next_check = time.monotonic() + self.seconds
            try:
                self.check(events, utc_now())
            except Exception as err:  # the database is down: try again next time
                log.error("%s failed: %s", self.what, err)

    def stop(self) -> None:
        self._running = False
        self._thread.wait()

    def kill(self) -> None:
        self._running = False
