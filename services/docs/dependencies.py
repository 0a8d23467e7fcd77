"""The docs service's watch that records each outgoing document not issued by
its issue deadline (Decree 30/2020 Art. 18(1)), like routing's ``OverdueWatch``
for incoming copies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nameko.extensions import DependencyProvider

from services.docs import commands
from services.docs.settings import DocsSettings
from services.docs.store import DocsStore
from shared.config import load_settings
from shared.directory import Directory
from shared.edge.watch import PeriodicWatch


class KnownAgencies(DependencyProvider):
    """docs' copy of routing's agency directory, rebuilt from the changes of
    routing's ``DirectoryChanged`` events (``store.directory_changes``) when
    one more has arrived, and cached: recipients are checked against it at
    registration, and the registers name agencies with it. Kept here rather
    than asked of routing by RPC, so that registering does not need routing up."""

    def setup(self) -> None:
        self._cached: tuple[int, Directory | None] = (0, None)

    def get_dependency(self, worker_ctx: Any) -> KnownAgencies:
        return self

    def load(self, store: Any) -> Directory | None:
        """The directory as docs knows it; None before routing's first event."""
        with store.transaction() as conn:
            version = store.directory_version(conn)
            cached_version, directory = self._cached
            if version and version != cached_version:
                directory = Directory.from_changes(store.directory_changes(conn, version))
                self._cached = (version, directory)
        return directory


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
