"""No consumer applies an event it cannot authenticate.

For each consuming service (docs, signing, routing, audit), running in this
process on the real RabbitMQ, PostgreSQL and S3, events are published on the
broker as a producer's outbox relay would publish them:

1. forged: signed by a key that is not provisioned;
2. unsigned;
3. from the wrong producer: validly signed with another service's real key,
   of a type that service does not produce, on the subscribed source's exchange;
4. genuine, then replayed.

1 to 3 are quarantined with the reason and change nothing (the service's
tables; for docs also the S3 bucket), and do not claim the event id: the
genuine event with that id, sent after them, is applied, and once only.
"""

import io
import uuid
from dataclasses import dataclass, replace
from typing import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.service import AuditService
from services.docs.service import DocsService
from services.routing.service import RoutingService
from services.signing.service import SigningService
from shared.envelope import Actor, new_event, system_actor
from shared.errors import Forbidden
from shared.eventsig import EventSigner
from shared.observability import Metrics
from shared.outbox import BrokerPublisher
from tests.integration.test_docs_incoming import issued_row
from tests.integration.test_state_summaries import issued_event, submitted_event
from tests.support.client import DISTRICT_1, DISTRICT_2, PROVINCE, Client, wait_for
from tests.support.db import query
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.integration


@dataclass
class Scenario:
    service: type
    consumer: str          # the inbox's name of the consumer under attack
    source: str            # the producer it subscribes to
    impostor: str          # a real producer that must not be believed for this type
    prepare: Callable      # (platform, document_id) -> the data the event carries
    make: Callable         # (data, document_id) -> the genuine event, unsigned
    effect: Callable       # (platform, document_id) -> what the event changes


def rows(platform, schema, sql, *params):
    return query(platform.pg_dsn, schema, sql, params)


# -- docs: a consignment (registers arrivals) and a finalization (locks files) ----------

def consignment(data, document_id):
    return new_event("ConsignmentSent", data, actor=system_actor("routing"), producer="routing",
                     stream_id=f"delivery-{document_id}").at(1, 1)


def prepare_consignment(platform, document_id):
    issued_row(platform.pg_dsn, document_id)
    return {"document_id": document_id, "consignment_id": "c-1", "sender": PROVINCE,
            "addressed": {"agencies": [DISTRICT_1]}, "recipients": [DISTRICT_1],
            "new_recipients": [DISTRICT_1], "urgency": 0}


def finalized(data, document_id):
    return new_event("DocumentFinalized", data, actor=system_actor("signing"),
                     producer="signing", stream_id=f"document-{document_id}").at(4, 4)


def prepare_finalized(platform, document_id):
    issued_row(platform.pg_dsn, document_id)
    pdf = make_pdf("phu luc")
    stored = platform.object_store().put_stream(f"documents/{document_id}/appendix.pdf",
                                                io.BytesIO(pdf), max_size=len(pdf))
    return {"document_id": document_id, "attachments": [stored.to_dict()]}


def bucket(platform):
    """Every object version in the test's bucket, with its retention (lock), if any."""
    store = platform.object_store()
    seen = []
    for obj in store.client.list_objects(bucket_name=store.bucket, recursive=True,
                                         include_version=True):
        try:
            retention = store.client.get_object_retention(
                bucket_name=store.bucket, object_name=obj.object_name,
                version_id=obj.version_id)
            lock = (retention.mode, retention.retain_until_date.isoformat()) \
                if retention else None
        except Exception:  # no retention on this version
            lock = None
        seen.append((obj.object_name, obj.version_id, lock))
    return sorted(seen)


def docs_effect(platform, document_id):
    return (rows(platform, "docs", "SELECT state, attachments::text FROM documents"),
            rows(platform, "docs", "SELECT document_id, agency, arrival_number FROM incoming"),
            rows(platform, "docs", "SELECT * FROM deliveries"),
            rows(platform, "docs", "SELECT count(*) FROM events"),
            bucket(platform))


# -- signing: a submission (what a leader is asked to sign) ------------------------------

def signing_effect(platform, document_id):
    return (rows(platform, "signing", "SELECT document_id, state, signer_user FROM documents"),
            rows(platform, "signing", "SELECT count(*) FROM events"))


# -- routing: an issued document (waits for its signatures, then goes out) ---------------

def routing_effect(platform, document_id):
    return (rows(platform, "routing", "SELECT * FROM consignments"),
            rows(platform, "routing", "SELECT count(*) FROM events"))


# -- audit: any event of a source is logged ----------------------------------------------

def registered(data, document_id):
    return new_event("DocumentRegistered", data, actor=Actor("clerk1", PROVINCE, "clerk"),
                     producer="docs", stream_id=f"document-{document_id}").at(1, 1)


def audit_effect(platform, document_id):
    return rows(platform, "audit", "SELECT idx, event_id FROM entries")


SCENARIOS = {
    "docs-consignment": Scenario(DocsService, "docs.on_consignment_sent", "routing", "docs",
                                 prepare_consignment, consignment, docs_effect),
    "docs-finalized": Scenario(DocsService, "docs.on_document_finalized", "signing", "docs",
                               prepare_finalized, finalized, docs_effect),
    "signing-submitted": Scenario(SigningService, "signing.on_document_submitted", "docs",
                                  "routing", lambda p, d: None,
                                  lambda data, d: submitted_event(d), signing_effect),
    "routing-issued": Scenario(RoutingService, "routing.on_document_issued", "docs",
                               "signing", lambda p, d: None,
                               lambda data, d: issued_event(d), routing_effect),
    "audit": Scenario(AuditService, "audit", "docs", "signing",
                      lambda p, d: {"document_id": d, "recipients": [DISTRICT_2]},
                      registered, audit_effect),
}


def publish(platform, exchange_of, event):
    """Onto ``exchange_of``'s events exchange, as its outbox relay publishes (confirmed)."""
    publisher = BrokerPublisher(platform.amqp_uri, exchange_of)
    try:
        publisher.publish_batch([event])
    finally:
        publisher.close()


def quarantine_reasons(platform, schema):
    return [r for (r,) in rows(platform, schema, "SELECT reason FROM quarantine ORDER BY id")]


def inbox_claims(platform, scenario, event_id):
    if scenario.consumer == "audit":  # audit keeps no inbox: its log is once per event id
        return None
    return rows(platform, scenario.service.name, "SELECT count(*) FROM inbox"
                " WHERE consumer = %s AND event_id = %s", scenario.consumer, event_id)[0][0]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_forged_unsigned_and_wrong_producer_events_are_quarantined_and_change_nothing(
        run_container, platform, name):
    scenario = SCENARIOS[name]
    schema = scenario.service.name
    # One worker: the queue's events are handled one after the other, in order.
    container = run_container(scenario.service, max_workers=1)
    document_id = str(uuid.uuid4())
    data = scenario.prepare(platform, document_id)
    genuine = scenario.make(data, document_id)
    assert genuine.producer == scenario.source
    real_key = platform.event_signer(scenario.source)
    wait_for(lambda: quarantine_reasons(platform, schema) == [], what=f"{schema} up")
    before = scenario.effect(platform, document_id)

    # 1-3, all with the genuine event's id: none of them may use it up.
    forged = EventSigner(scenario.source, Ed25519PrivateKey.generate()).sign(genuine)
    unsigned = genuine
    impostor = platform.event_signer(scenario.impostor).sign(
        replace(genuine, producer=scenario.impostor))
    for event in (forged, unsigned, impostor):
        publish(platform, scenario.source, event)
    reasons = wait_for(lambda: len(quarantine_reasons(platform, schema)) == 3
                       and quarantine_reasons(platform, schema), what="three quarantined")
    assert f"no trusted key {forged.signature['key_id']} for producer {scenario.source}" \
        in reasons[0]
    assert reasons[1] == f"event {genuine.event_id} from {scenario.source} is unsigned"
    assert f"is produced by {scenario.source} only, not by {scenario.impostor}" in reasons[2]
    assert scenario.effect(platform, document_id) == before
    assert inbox_claims(platform, scenario, genuine.event_id) in (0, None)

    # 4: the genuine event is applied, once, though the broker brings it twice.
    signed = real_key.sign(genuine)
    publish(platform, scenario.source, signed)
    wait_for(lambda: scenario.effect(platform, document_id) != before,
             what="the genuine event applied")
    after = scenario.effect(platform, document_id)
    publish(platform, scenario.source, signed)
    # A marker behind the replay on the same queue: once it is quarantined, the
    # replay before it has been handled.
    publish(platform, scenario.source, replace(genuine, event_id=str(uuid.uuid4())))
    wait_for(lambda: len(quarantine_reasons(platform, schema)) == 4, what="the marker")
    assert scenario.effect(platform, document_id) == after
    assert inbox_claims(platform, scenario, genuine.event_id) in (1, None)
    [metrics] = [d for d in container.dependencies if isinstance(d, Metrics)]
    assert metrics.registry.get_sample_value("lienthong_events_quarantined_total", {
        "service": schema, "consumer": scenario.consumer}) == 4  # alerting counts them

    # Operators see what was refused, and why; nobody else does.
    client = Client(platform)
    with client.rpc(client.token("operator", agency=PROVINCE)) as rpc:
        listed = getattr(rpc, schema).quarantined()
    assert [q["reason"] for q in listed] == list(reversed(quarantine_reasons(platform, schema)))
    assert {q["consumer"] for q in listed} == {scenario.consumer}
    assert listed[-1]["event_id"] == genuine.event_id
    for role in ("clerk", "admin"):  # an agency's administrator is no operator
        with client.rpc(client.token(role, agency=PROVINCE)) as rpc:
            with pytest.raises(Forbidden):
                getattr(rpc, schema).quarantined()
