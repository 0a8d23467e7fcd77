"""docs' copy of the agency directory in tests: routing's ``DirectoryChanged``
as routing sends it, handed to a docs container (integration tests), or
awaited from the real routing process (end-to-end)."""

from nameko.testing.services import entrypoint_hook

from infra.stack import wait_for_docs_directory as wait_until_docs_has_directory
from services.routing.sample_data import sample_province
from services.routing.commands import directory_event
from tests.support.events import signed


def directory_changed(platform, changes=None, version=1):
    """routing's ``DirectoryChanged`` (the sample province's directory by
    default), at ``version`` of its ``directory`` stream, signed by routing."""
    changes = sample_province().changes if changes is None else changes
    return signed(platform, directory_event(changes, None).at(version, version))


def give_docs_the_directory(container, platform, changes=None, version=1):
    """What routing's seed gives docs, through docs' own handler."""
    with entrypoint_hook(container, "on_directory_changed") as handle:
        handle(directory_changed(platform, changes, version))


def wait_for_docs_directory(platform, timeout=60):
    """Until docs holds routing's directory (routing seeds it at start)."""
    wait_until_docs_has_directory(platform.pg_dsn, timeout)
