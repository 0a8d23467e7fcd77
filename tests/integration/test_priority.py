"""Urgent documents overtake normal ones waiting in the same queue.

Every subscriber queue is a RabbitMQ priority queue, declared alike by the
outbox relay and by the consumer, and each event is published with its
document's urgency as priority. Here everything is the real path: docs
registers twenty normal documents and then one Hỏa tốc (urgency 3), its
relay publishes the events while the consumer is down; then the audit
service starts with one worker (prefetch 1: one message at a time) and logs
the urgent registration first. The audit log's leaf order is the order in
which audit handled the events.
"""

import pytest

from services.audit.service import AuditService
from services.docs.service import DocsService
from tests.support.client import DIRECTIVE, Client, wait_for
from tests.support.db import query, scalar
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.integration

NORMAL = 20
HOA_TOC = 3


def test_an_urgent_document_overtakes_twenty_normal_ones_waiting(run_container, platform):
    docs = run_container(DocsService)
    client = Client(platform)
    clerk = client.token("clerk")
    registered = []
    for n, urgency in enumerate([0] * NORMAL + [HOA_TOC]):
        response = client.register(clerk, make_pdf(f"van ban {n}"),
                                   {**DIRECTIVE, "urgency": urgency})
        assert response.status_code == 201, response.text
        registered.append(response.json()["document_id"])
    # docs' own relay has published all of them (confirmed), none handled yet.
    dsn = platform.pg_dsn
    wait_for(lambda: scalar(dsn, "docs", "SELECT max(position) FROM outbox_cursor")
             == NORMAL + 1, what="docs' relay to publish the backlog")
    assert scalar(dsn, "docs", "SELECT max(position) FROM events") == NORMAL + 1
    docs.stop()  # nothing more from docs while audit drains

    run_container(AuditService, max_workers=1)

    def logged():
        return [r[0] for r in query(dsn, "audit", "SELECT document_id FROM entries"
                                    " ORDER BY idx")]
    wait_for(lambda: len(logged()) == NORMAL + 1, what="audit to log the backlog")
    urgent, normal = registered[-1], registered[:-1]
    # Without priorities the urgent one, published last, would be logged last.
    assert logged() == [urgent, *normal]
