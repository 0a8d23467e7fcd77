"""The docs service's watch that records each outgoing document not issued by
its issue deadline (Decree 30/2020 Art. 18(1)), like routing's ``OverdueWatch``
for incoming copies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.docs import commands
from services.docs.settings import DocsSettings
from services.docs.store import DocsStore
from shared.config import load_settings
from shared.edge.watch import PeriodicWatch


def record_issue_overdue(events: Any, now: datetime) -> int:
    """``commands.record_issue_overdue`` on the service's tables and log
    (``events``: the ``EventStoreProvider``'s dependency)."""
    return commands.record_issue_overdue(DocsStore(events.db, events.writing),
                                         events.store, now)


class IssueOverdueWatch(PeriodicWatch):
    """Every ``OVERDUE_CHECK_SECONDS``, records each newly overdue issue once
    (several instances may run it: each document's is recorded once)."""

    what = "issue overdue check"

    def interval(self, config: Any) -> float:
        return load_settings(DocsSettings, config).overdue_check_seconds

    def check(self, events: Any, now: datetime) -> int:
        return record_issue_overdue(events, now)
