"""Recipients checked at registration against docs' copy of routing's agency
directory, which docs builds from routing's ``DirectoryChanged`` events (real
PostgreSQL, RabbitMQ handler, S3): a code unknown, abolished by the 2025
reform or not yet effective is refused with its index, and nothing is stored."""

import pytest

from services.docs.service import DocsService
from services.routing.sample_data import apply_reform_2025, sample_province
from tests.support.client import DIRECTIVE, DISTRICT_1, Client
from tests.support.db import scalar
from tests.support.directory import give_docs_the_directory
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.integration

MERGED = "001.00.00.H41"  # a commune made by the reform's merger on 1 July 2025
COMMUNE = "001.01.00.H41"  # one of the two merged into it


def _nothing_stored(platform):
    return (scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM events") == 0
            and platform.object_store().keys() == [])


def _register(platform, recipients):
    client = Client(platform)
    return client.register(client.token("clerk"), make_pdf(),
                           metadata={**DIRECTIVE, "recipients": recipients})


def test_before_routing_sends_the_directory_registration_is_refused_for_now(
        run_container, platform):
    container = run_container(DocsService, directory=False)
    response = _register(platform, [DISTRICT_1])
    assert response.status_code == 503, response.text
    assert response.json()["error"]["field"] == "recipients"
    assert _nothing_stored(platform)
    # routing's seed arrives: the same registration goes through.
    give_docs_the_directory(container, platform)
    assert _register(platform, [DISTRICT_1]).status_code == 201


def test_the_reform_as_routing_sends_it_retires_districts_and_merged_communes(
        run_container, platform):
    container = run_container(DocsService)  # the sample province, before the reform
    reform = apply_reform_2025(sample_province()).changes[len(sample_province().changes):]
    give_docs_the_directory(container, platform, reform, version=2)
    response = _register(platform, [MERGED, DISTRICT_1, COMMUNE])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "recipients.1"
    assert error["message"].startswith(
        f"recipients.1: agency {DISTRICT_1} (UBND huyện Diễn Châu) was dissolved on"
        " 2025-07-01 with no successor; recipients.2: agency")
    assert f"address its successor {MERGED}" in error["message"]
    assert _nothing_stored(platform)
    assert _register(platform, [MERGED]).status_code == 201


def test_a_redelivered_directory_event_is_applied_once(run_container, platform):
    container = run_container(DocsService)
    give_docs_the_directory(container, platform)  # the broker delivers it again
    assert scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM directory_changes") == 1
    assert _register(platform, [DISTRICT_1]).status_code == 201
