"""The servers' permissions derived for each service (checked with Python's re,
which reads these expressions as RabbitMQ's PCRE does)."""

import re

import pytest

from infra import privileges as p
from shared.topology import SUBSCRIPTIONS, exchange_name


def allows(expression, name):
    return re.fullmatch(expression, name) is not None


@pytest.mark.parametrize("service", p.SERVICES)
def test_a_service_writes_on_its_own_exchange_only(service):
    perm = p.rabbit_permissions(service)
    assert allows(perm.write, exchange_name(service))
    for other in set(p.SERVICES) - {service}:
        assert not allows(perm.write, exchange_name(other))
        assert not allows(perm.write, f"rpc-{other}")
        assert not allows(perm.read, f"rpc-{other}")


def test_every_subscription_queue_is_usable_by_its_consumer_and_declarable_by_its_source():
    for sub in SUBSCRIPTIONS:
        consumer, source = p.rabbit_permissions(sub.consumer), p.rabbit_permissions(sub.source)
        for expression in (consumer.configure, consumer.write, consumer.read):
            assert allows(expression, sub.queue), (sub, expression)
        assert allows(consumer.read, exchange_name(sub.source))  # to bind
        assert allows(source.configure, sub.queue) and allows(source.write, sub.queue)
        others = set(p.SERVICES) - {sub.consumer, sub.source}
        for other in others:
            assert not allows(p.rabbit_permissions(other).read, sub.queue), (other, sub)


def test_rpc_calls_are_limited_to_what_each_service_needs():
    gateway, signing, audit, docs = (p.rabbit_permissions(s)
                                     for s in ("gateway", "signing", "audit", "docs"))
    assert allows(gateway.topic_write, "docs.submit")
    assert allows(gateway.topic_write, "audit.verify")
    assert allows(signing.topic_write, "docs.get_document")
    assert not allows(signing.topic_write, "docs.submit")
    assert allows(audit.topic_write, "routing.state_summary")
    assert not allows(audit.topic_write, "routing.send")
    assert not allows(docs.topic_write, "signing.sign_document")
    # Answers go to reply queues, bound by their UUID.
    reply = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert allows(docs.topic_write, reply) and allows(docs.topic_read, reply)
    assert allows(docs.topic_read, "docs.*") and not allows(docs.topic_read, "routing.*")


def test_postgres_roles_are_plain_logins_owning_one_schema():
    statements = [sql for sql, _ in p.postgres_statements("lienthong", "docs", "pw")]
    assert any("NOSUPERUSER" in s for s in statements)
    assert any('CREATE SCHEMA IF NOT EXISTS "docs" AUTHORIZATION "lienthong_docs"' in s
               for s in statements)
    assert not any("audit_app" in s for s in statements)
    audit = [sql for sql, _ in p.postgres_statements("lienthong", "audit", "pw")]
    assert any(p.AUDIT_APP_ROLE in s and "LOGIN" in s for s in audit)
    with pytest.raises(ValueError):
        p.postgres_statements('x"; DROP', "docs", "pw")
