"""Once-only handling: the inbox row and the effects commit together."""

import json
import uuid
from dataclasses import replace

import eventlet
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.db import Database
from shared.edge.inbox import QUARANTINE_DDL, ServiceEvents
from shared.errors import Conflict, NotFound
from shared.eventsig import EventSigner, TrustedKeys
from shared.eventstore import EVENT_STORE_DDL, PostgresEventStore
from shared.topology import ALL, SUBSCRIPTIONS, Subscription
from tests.unit.eventstore_contract import make_event, new_stream

pytestmark = pytest.mark.integration

EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS effects (event_id uuid, note text);"
# docs' key, trusted by this routing; the test consumers listen to all of docs' events.
DOCS = EventSigner("docs", Ed25519PrivateKey.generate())
TEST_CONSUMERS = tuple(Subscription("docs", ALL, "routing", m) for m in ("test", "a", "b"))


@pytest.fixture
def events(pg_dsn):
    db = Database(pg_dsn, "routing", max_size=10)
    db.ensure_schema(EVENT_STORE_DDL + QUARANTINE_DDL + EFFECTS_DDL)
    trusted = TrustedKeys()
    trusted.add("docs", DOCS.public_raw)
    yield ServiceEvents(PostgresEventStore(db), "routing", trusted=trusted,
                        subscriptions=SUBSCRIPTIONS + TEST_CONSUMERS)
    db.close()


def record(event, conn):
    conn.execute("SELECT pg_sleep(0.05)")  # widen the race window
    conn.execute("INSERT INTO effects VALUES (%s, 'applied')", (event.event_id,))


def effect_count(events):
    with events.transaction() as conn:
        return conn.execute("SELECT count(*) FROM effects").fetchone()[0]


def payload():
    stream = new_stream()
    return DOCS.sign(make_event(stream).at(1, 1)).to_wire()


def test_a_redelivered_event_changes_nothing_the_second_time(events):
    message = payload()
    events.handle_once("routing.test", message, record)
    events.handle_once("routing.test", message, record)
    assert effect_count(events) == 1


def test_concurrent_deliveries_of_one_event_apply_it_once(events):
    message = payload()
    pool = eventlet.GreenPool()
    for _ in range(6):
        pool.spawn(events.handle_once, "routing.test", message, record)
    pool.waitall()
    assert effect_count(events) == 1


def test_effects_that_fail_leave_the_event_unhandled_for_the_retry(events):
    message = payload()

    def failing(event, conn):
        record(event, conn)
        raise RuntimeError("database went away mid-handler")

    with pytest.raises(RuntimeError):
        events.handle_once("routing.test", message, failing)
    assert effect_count(events) == 0
    events.handle_once("routing.test", message, record)
    assert effect_count(events) == 1


def test_each_consumer_has_its_own_inbox(events):
    message = payload()
    events.handle_once("routing.a", message, record)
    events.handle_once("routing.b", message, record)
    assert effect_count(events) == 2


def test_a_malformed_event_is_quarantined_not_applied(events):
    message = {**payload(), "actor": {"user_id": "x", "agency": "nowhere", "role": "clerk"}}
    events.handle_once("routing.test", message, record)
    assert effect_count(events) == 0
    with events.transaction() as conn:
        rows = conn.execute("SELECT consumer, reason FROM quarantine").fetchall()
    assert rows == [("routing.test", "actor.agency: not an agency code of the form XXX.XX.XX.Ynn")]


def test_a_failing_event_is_retried_then_dead_lettered_and_can_be_replayed(events):
    message = payload()
    events.max_attempts = 3
    calls = []

    def broken(event, conn):
        calls.append(event.event_id)
        raise RuntimeError("a bug in the handler")

    for _ in range(2):  # the broker would redeliver after each raise
        with pytest.raises(RuntimeError):
            events.handle_once("routing.test", message, broken)
    assert events.handle_once("routing.test", message, broken) is None  # third: given up
    assert len(calls) == 3
    [letter] = events.dead_letters("routing.")
    assert letter["attempts"] == 3 and "a bug in the handler" in letter["error"]
    assert effect_count(events) == 0

    # Fixed: the letter goes back to its consumer's queue (over the broker in
    # tests/integration/test_dead_letters.py); here, handled from there.
    sent = []
    with pytest.raises(Conflict, match="routing.test no longer subscribes"):
        events.replay_dead_letter(letter["id"], lambda queue, body: sent.append(body))
    assert sent == [] and events.dead_letters()[0]["replayed_at"] is None
    with events.transaction() as conn:  # a consumer the topology knows
        conn.execute("UPDATE dead_letters SET consumer = 'routing.on_incoming_accepted'")
    # (with the data routing relies on, shared/events.py)
    accepted = make_event(new_stream(), event_id=message["event_id"],
                          document_id=str(uuid.uuid4()), agency="000.01.00.H41")
    message = DOCS.sign(replace(accepted.at(1, 1), event_type="IncomingAccepted")).to_wire()
    with events.transaction() as conn:
        conn.execute("UPDATE dead_letters SET payload = %s", (json.dumps(message),))
    answer = events.replay_dead_letter(letter["id"], lambda queue, body: sent.append(body))
    assert answer["queue"] == "evt-docs-IncomingAccepted--routing.on_incoming_accepted"
    assert sent == [message] and events.dead_letters()[0]["replayed_at"] is not None
    events.handle_once("routing.on_incoming_accepted", sent[0], record)
    assert effect_count(events) == 1
    with pytest.raises(NotFound):
        events.replay_dead_letter(letter["id"], lambda queue, body: sent.append(body))


def issued(**drop):
    """docs' DocumentIssued as routing and signing rely on it, minus ``drop``'s fields."""
    from shared.envelope import Actor, new_event

    document_id = str(uuid.uuid4())
    stored = {"key": f"documents/{document_id}/main.pdf", "sha256": "ab" * 32,
              "version_id": "v1", "size": 10}
    data = {"document_id": document_id, "issuing_agency": "000.00.00.H41",
            "recipients": ["000.01.00.H41"], "file": stored, "urgency": 0, "secrecy": 0,
            "number_notation": "1/CT-UBND", "issued_at": "2026-11-22T10:00:00+07:00",
            "document_type": "CT", "subject": "Chỉ thị"}
    data = {k: v for k, v in data.items() if k not in drop}
    return DOCS.sign(new_event("DocumentIssued", data, actor=Actor("van.thu", "000.00.00.H41",
                                                            "clerk"), producer="docs",
                               stream_id=f"document-{document_id}").at(1, 1)).to_wire()


def test_an_event_without_a_field_its_consumer_relies_on_is_quarantined_by_name(events):
    message = issued(number_notation=True)
    assert events.handle_once("routing.on_document_issued", message, record) is None
    assert effect_count(events) == 0
    with events.transaction() as conn:
        rows = conn.execute("SELECT consumer, reason FROM quarantine").fetchall()
        claimed = conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
    assert rows == [("routing.on_document_issued",
                     f"event {message['event_id']} (DocumentIssued) lacks what"
                     " routing.on_document_issued relies on: data.number_notation:"
                     " Missing data for required field.")]
    assert claimed == 0  # the genuine event of that id is still handled when it comes
    events.handle_once("routing.on_document_issued", issued(), record)
    assert effect_count(events) == 1
