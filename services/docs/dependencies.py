"""The docs service's watch that records each outgoing document not issued by
its issue deadline (Decree 30/2020 Art. 18(1)), like routing's ``OverdueWatch``
for incoming copies."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from nameko.extensions import DependencyProvider

from services.docs import commands
from services.docs.settings import DocsSettings
from services.docs.store import DocsStore
from shared.config import load_settings
from shared.edge.providers import EventStoreProvider
from shared.envelope import utc_now

log = logging.getLogger(__name__)


def record_issue_overdue(events: Any, now: datetime) -> int:
    """``commands.record_issue_overdue`` on the service's tables and log
    (``events``: the ``EventStoreProvider``'s dependency)."""
    return commands.record_issue_overdue(DocsStore(events.db, events.writing),
                                         events.store, now)


class IssueOverdueWatch(DependencyProvider):
    """Every ``OVERDUE_CHECK_SECONDS``, records each newly overdue issue once
    (several instances may run it: each document's is recorded once)."""

    def setup(self) -> None:
        self.interval = load_settings(DocsSettings, self.container.config).overdue_check_seconds
        self._running = False

    def start(self) -> None:
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._loop)

    def _loop(self) -> None:
        events = next(d for d in self.container.dependencies
                      if isinstance(d, EventStoreProvider)).get_dependency(None)
        next_check = time.monotonic() + self.interval
        while self._running:
            time.sleep(0.2)  # short naps, so that stop() does not wait a whole interval
            if time.monotonic() < next_check:
                continue
            next_check = time.monotonic() + self.interval
            try:
                record_issue_overdue(events, utc_now())
            except Exception as err:  # the database is down: try again next time
                log.error("issue overdue check failed: %s", err)

    def stop(self) -> None:
        self._running = False
        self._thread.wait()

    def kill(self) -> None:
        self._running = False
