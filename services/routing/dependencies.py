"""The routing service's dependency providers: the agency directory (rebuilt
from its stream, cached) and the watch that records overdue copies."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from nameko.extensions import DependencyProvider

from services.routing import commands
from shared.directory import Directory
from services.routing.sample_data import (
    apply_reform_2025, merge_provinces_2025, national, sample_province,
)
from services.routing.settings import RoutingSettings
from services.routing.store import RoutingStore
from shared.config import load_settings
from shared.edge.providers import EventStoreProvider
from shared.edge.watch import PeriodicWatch
from shared.errors import ConcurrencyConflict


log = logging.getLogger(__name__)


def seeded(seed: str) -> Directory:
    """The directory a ``DIRECTORY_SEED`` names (not ``none``)."""
    if seed == "sample":
        return sample_province()
    if seed == "sample+reform":
        return apply_reform_2025(sample_province())
    if seed.startswith("national:"):
        count, _, reform = seed.split(":")[1].partition("+")
        directory = national(provinces=int(count))
        if reform == "reform":  # districts gone, communes and provinces merged
            directory = merge_provinces_2025(apply_reform_2025(directory))
        return directory
    raise ValueError(f"DIRECTORY_SEED {seed!r}: use sample, sample+reform,"
                     " national:N, national:N+reform or none")


class AgencyDirectory(DependencyProvider):
    """The agency directory, rebuilt from the ``directory`` stream and cached.

    Setting ``DIRECTORY_SEED`` (``RoutingSettings.directory_seed``): what an
    empty stream is seeded with, at start (so that its ``DirectoryChanged``
    reaches docs, which checks recipients against it, before anyone sends)
    or on first use if the database was not reachable then.
    """

    def setup(self) -> None:
        self.seed = load_settings(RoutingSettings, self.container.config).directory_seed
        self._cached: tuple[int | None, Directory | None] = (None, None)

    def start(self) -> None:
        if self.seed != "none":
            self.container.spawn_managed_thread(self._seed_at_start)

    def _seed_at_start(self) -> None:
        events = next(d for d in self.container.dependencies
                      if isinstance(d, EventStoreProvider)).get_dependency(None)
        for _ in range(30):
            try:
                self.load(events)
                return
            except Exception as err:  # the database not up yet: a while later
                log.warning("could not seed the agency directory yet: %s", err)
                time.sleep(2)

    def get_dependency(self, worker_ctx: Any) -> AgencyDirectory:
        return self

    def load(self, events: Any, conn: Any = None) -> tuple[Directory, int]:
        """The directory and the stream's version it is of (as ``conn``, an open
        transaction, sees them, if given)."""
        version = events.store.stream_version(commands.DIRECTORY_STREAM, conn=conn)
        if version == 0 and self.seed != "none":
            self._seed(events)
            version = events.store.stream_version(commands.DIRECTORY_STREAM, conn=conn)
        cached_version, directory = self._cached
        if cached_version != version or directory is None:
            directory = commands.directory_of(events.store, conn)
            self._cached = (version, directory)
        return directory, version

    def _seed(self, events: Any) -> None:
        event = commands.directory_event(seeded(self.seed).changes, actor=None)
        try:
            events.append(commands.DIRECTORY_STREAM, 0, [event])
        except ConcurrencyConflict:
            pass  # another instance seeded it first


def record_overdue(events: Any, now: datetime) -> int:
    """``commands.record_overdue`` on the service's tables and log (``events``:
    the ``EventStoreProvider``'s dependency)."""
    return commands.record_overdue(RoutingStore(events.db), events.store, now)


class OverdueWatch(PeriodicWatch):
    """Every ``OVERDUE_CHECK_SECONDS``, records each newly overdue copy once."""

    what = "overdue check"

    def interval(self, config: Any) -> float:
        return load_settings(RoutingSettings, config).overdue_check_seconds

    def check(self, events: Any, now: datetime) -> int:
        return record_overdue(events, now)
