"""The event catalogue's schemas (shared/events.py), without servers.

- every catalogued type has a schema, and the architecture page prints them;
- what each consumer's code reads of an event's data is declared (an AST scan
  of the functions that read it);
- the events the services' pure cores and use cases make pass, each fed on to
  its consumers' use cases as the broker would (docs → signing → docs →
  routing → docs), so one service's output is checked as the next one's input;
- an event that lacks a field its consumer relies on is refused by name.
"""

import ast
import pathlib
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.docs import commands as docs
from services.docs import copies
from services.docs.store import MemoryDocsStore
from services.gateway import domain as gateway
from services.routing import domain as routing
from services.routing import inbound
from services.routing import statuses as st
from services.signing import commands as signing
from services.signing.store import MemorySigningStore
from shared.catalogue import CATALOGUE
from shared.envelope import Actor, new_event, system_actor, thaw, utc_now
from shared.events import DATA, catalogue_table, data_problem
from shared.eventstore import InMemoryEventStore
from shared.topology import ALL, SUBSCRIPTIONS
from tests.unit.docs_store_contract import OTHER, RECIPIENT, SENDER, command, stored

ROOT = pathlib.Path(__file__).parents[2]
CLERK = Actor("van.thu", SENDER, "clerk")
LEADER = Actor("lanh.dao", SENDER, "leader")
RECIPIENT_CLERK = Actor("van.thu", RECIPIENT, "clerk")
CERTIFICATE = {"sha256": "ab" * 32, "subject": "CN=Nguyễn Văn An"}
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)


def test_every_catalogued_type_has_a_schema_and_nothing_else_does():
    assert set(DATA) == set(CATALOGUE)


def test_every_subscription_is_to_a_catalogued_type():
    for sub in SUBSCRIPTIONS:
        assert sub.event_type == ALL or CATALOGUE.get(sub.event_type) == sub.source, sub


def test_the_architecture_page_prints_the_catalogue_as_the_code_has_it():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert catalogue_table() in page


# -- what consumers read ---------------------------------------------------------------

# For each subscription (and the functions it hands the data to): where its code
# reads the event's data. (file, function, names): ``names`` hold the event
# (its ``.data`` or ``["data"]``) or, with a trailing ``=``, its data itself.
READERS = {
    "signing.on_document_submitted": [("services/signing/store.py", "_submitted_row", "event")],
    "signing.on_document_issued": [("services/signing/service.py", "on_document_issued",
                                    "event")],
    "signing.on_document_numbered": [("services/signing/store.py", "_numbering", "event")],
    "docs.on_document_signed": [("services/docs/commands.py", "signed", "cause"),
                                ("services/docs/commands.py", "follow", "cause"),
                                ("services/docs/store.py", "_changes", "cause")],
    "docs.on_document_finalized": [("services/docs/service.py", "on_document_finalized",
                                    "event")],
    "docs.on_consignment_sent": [("services/docs/commands.py", "consignment_sent", "event"),
                                 ("services/docs/commands.py", "follow", "cause")],
    "docs.on_recall_requested": [("services/docs/commands.py", "recall_requested", "event"),
                                 ("services/docs/commands.py", "follow", "cause")],
    "docs.on_delivery_refused": [("services/docs/commands.py", "delivery_refused", "event"),
                                 ("services/docs/commands.py", "follow", "cause"),
                                 ("services/docs/domain.py", "state_changed", "cause")],
    "docs.on_recall_answered": [("services/docs/commands.py", "recall_answered", "event")],
    "docs.on_directory_changed": [("services/docs/commands.py", "directory_changed",
                                   "event")],
    "routing.on_document_issued": [
        ("services/routing/store.py", "follow", "event"),
        ("services/routing/commands.py", "follow_issue", "document="),
        ("services/routing/commands.py", "check_exchangeable", "document="),
        ("services/routing/connector.py", "package_of", "registered"),
        ("services/routing/domain.py", "signature_problem", "issued="),
        ("services/routing/domain.py", "consignment_events", "registered="),
        ("services/routing/domain.py", "initial_delivery", "registered=")],
    "routing.on_document_finalized": [
        ("services/routing/store.py", "follow", "event"),
        ("services/routing/domain.py", "signature_problem", "sealed=")],
    "routing.on_incoming_accepted": [("services/routing/commands.py", "follow_status",
                                      "event")],
}
# docs' signed, returned and sealed events go through the same follow/_changes.
for _same in ("docs.on_document_returned", "docs.on_document_sealed"):
    READERS[_same] = READERS["docs.on_document_signed"]
READERS["routing.on_incoming_returned"] = READERS["routing.on_incoming_accepted"]


def _function(path, name):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    found = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name]
    assert found, f"{path}: no function {name} (update READERS)"
    return found[0]


def _key(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def reads(path, name, names):
    """The data keys the function reads: ``{key: read only without a default}``."""
    events = {n for n in names.split() if not n.endswith("=")}
    data = {n.rstrip("=") for n in names.split() if n.endswith("=")}
    func = _function(path, name)

    def is_data(node):
        if isinstance(node, ast.Name):
            return node.id in data
        if isinstance(node, ast.Attribute) and node.attr == "data":
            return isinstance(node.value, ast.Name) and node.value.id in events
        if isinstance(node, ast.Subscript) and _key(node.slice) == "data":
            return isinstance(node.value, ast.Name) and node.value.id in events
        if isinstance(node, ast.Call) and len(node.args) == 1:  # thaw(event.data)
            return is_data(node.args[0])
        return False

    for node in ast.walk(func):  # aliases: data = event.data, d = thaw(event.data)
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple)
                     and isinstance(node.value, ast.Tuple) else [(target, node.value)])
            data.update(t.id for t, v in pairs if isinstance(t, ast.Name) and is_data(v))
    indexed, got = set(), set()
    for node in ast.walk(func):
        if isinstance(node, ast.Subscript) and is_data(node.value) and _key(node.slice):
            indexed.add(_key(node.slice))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "get" and is_data(node.func.value)
              and node.args and _key(node.args[0])):
            got.add(_key(node.args[0]))
    # A key also read with .get is taken as guarded (``x[k] if x.get(k) else ...``).
    return {key: key not in got for key in indexed | got}


@pytest.mark.parametrize("sub", [s for s in SUBSCRIPTIONS if s.event_type != ALL],
                         ids=lambda s: f"{s.consumer}.{s.method}")
def test_what_each_consumer_reads_is_declared_in_its_schema(sub):
    consumer = f"{sub.consumer}.{sub.method}"
    assert consumer in READERS, f"{consumer}: say in READERS where it reads the data"
    spec = DATA[sub.event_type]
    found = {}
    for path, name, names in READERS[consumer]:
        for key, strict in reads(path, name, names).items():
            found[key] = found.get(key, False) or strict
    # Keys another event type (read by the same shared function) has are not this one's.
    own = {k: strict for k, strict in found.items()
           if k in spec.fields() or not _read_for_another_type(k, consumer)}
    assert own, f"{consumer}: the scan found no reads (update READERS)"
    undeclared = sorted(k for k in own if k not in spec.fields())
    assert not undeclared, f"{sub.event_type}: {consumer} reads {undeclared}, not declared"
    loose = sorted(k for k, strict in own.items()
                   if strict and k not in spec.required_by(consumer))
    assert not loose, f"{sub.event_type}: {consumer} needs {loose}, declared optional"


def _read_for_another_type(key, consumer):
    # routing's _record and signature_problem read both halves (issued, finalized).
    shared_halves = {"routing.on_document_issued": "DocumentFinalized",
                     "routing.on_document_finalized": "DocumentIssued"}
    other = shared_halves.get(consumer)
    return other is not None and key in DATA[other].fields()


# -- what producers make ---------------------------------------------------------------

def _all_events():
    """Every event type the pure cores and use cases make, each handed on to
    its consumers' use cases as the broker would."""
    made = []
    docs_store, docs_log = MemoryDocsStore(), InMemoryEventStore()
    signing_store, signing_log = MemorySigningStore(), InMemoryEventStore()

    def follow(event, command_):
        with docs_store.transaction() as conn:
            docs.follow(conn, docs_store, docs_log, event, command_)

    # A draft, returned once by the leader and revised, then approved.
    document_id = str(uuid.uuid4())
    docs.register(docs_store, docs_log, document_id, command(),
                  [stored("main.pdf"), stored("a.pdf")], CLERK)
    submitted = docs.submit(docs_store, docs_log, document_id, LEADER.user_id, CLERK)
    with signing_store.transaction() as conn:
        signing_store.submitted(submitted, conn)
    follow(signing.return_document(signing_store, signing_log, document_id, "Sửa lại",
                                   LEADER), "return")
    docs.revise(docs_store, docs_log, document_id, stored("main.pdf", "cd"), CLERK)
    submitted = docs.submit(docs_store, docs_log, document_id, LEADER.user_id, CLERK)
    with signing_store.transaction() as conn:
        signing_store.submitted(submitted, conn)
    signed = signing.record_signature(signing_store, signing_log, document_id,
                                      stored("signed.pdf", "11").to_dict(), CERTIFICATE,
                                      LEADER)
    with docs_store.transaction() as conn:  # signed, numbered and dated at once
        docs.signed(conn, docs_store, docs_log, signed, separate_secret_series=False)
    [numbered] = [e for e in docs_log.read_all() if e.event_type == "DocumentNumbered"]
    with signing_store.transaction() as conn:  # the seal writes the number on the page
        signing_store.numbered(numbered, conn)
    follow(signing.record_seal(signing_store, signing_log, document_id,
                               stored("sealed.pdf", "22").to_dict(), CERTIFICATE, CLERK),
           "seal")
    issued = docs.issue(docs_store, docs_log, document_id, CLERK,
                        separate_secret_series=False)
    with signing_store.transaction() as conn:
        finalized = signing.finalize(
            conn, signing_store, signing_log, signing_store.row(conn, document_id, lock=True),
            issued.data["number_notation"], [stored("a-sealed.pdf", "33").to_dict()],
            stored("manifest.json", "44").to_dict(), stored("manifest.p7s", "55").to_dict(),
            CERTIFICATE, issued)
        docs_store.set_attachments(conn, document_id, thaw(finalized.data["attachments"]))

    # routing: the first consignment, once both halves are in.
    assert routing.signature_problem(issued.data, finalized.data) is None
    sent = routing.initial_delivery(issued.data, finalized.data, [RECIPIENT, OTHER], set(),
                                    NOW, causation=finalized)
    made += sent + [routing.refused(document_id, "thử", finalized)]
    with docs_store.transaction() as conn:
        docs.consignment_sent(conn, docs_store, docs_log, sent[0])
    _, accepted = docs.decide_incoming(docs_store, docs_log, document_id, "accept",
                                       RECIPIENT_CLERK)
    # The recipient copies what it accepted (a sao y under its own abbreviation).
    docs.copy(docs_store, docs_log, document_id, str(uuid.uuid4()),
              copies.check_request({"form": "SY", "agency_abbreviation": "SNV"}),
              RECIPIENT_CLERK, lambda source, notation, at: stored("copy.pdf", "44").to_dict())
    # routing's statuses, made into events as its shell does (the change's to_dict()).
    state, arrived = st.delivered(document_id, RECIPIENT, sender=SENDER, at=NOW)
    _, reported = st.report(state, st.ACCEPTED, by_agency=RECIPIENT, recipient=RECIPIENT,
                            at=NOW, user="van.thu")
    request, asked = st.request_recall(state, business_type=1, by_agency=SENDER, at=NOW,
                                       user="van.thu", reason="Thu hồi")
    _, _, answered = st.answer_recall(request, state, "15", by_agency=RECIPIENT, at=NOW,
                                      user="van.thu")
    changes = [new_event(kind, change.to_dict(), actor=CLERK, producer="routing",
                         stream_id=routing.stream_of(document_id))
               for kind, change in (("StatusReported", arrived), ("StatusReported", reported),
                                    ("RecallRequested", asked), ("RecallAnswered", answered))]
    made += changes
    with docs_store.transaction() as conn:
        docs.recall_requested(conn, docs_store, docs_log, changes[2])
        docs.recall_answered(conn, docs_store, docs_log, changes[3])

    # A second document, returned by its recipient.
    other = str(uuid.uuid4())
    _issue_quickly(docs_store, docs_log, other)
    with docs_store.transaction() as conn:
        docs.consignment_sent(conn, docs_store, docs_log, new_event(
            "ConsignmentSent", {"document_id": other, "new_recipients": [RECIPIENT]},
            actor=CLERK, producer="routing", stream_id=routing.stream_of(other)))
    docs.decide_incoming(docs_store, docs_log, other, "return", RECIPIENT_CLERK, "Sai")

    # A document from outside, through routing's import and docs' consumer.
    from tests.unit.test_routing_inbound import package

    record = inbound.record(package(), str(uuid.uuid4()), [RECIPIENT], [
        {**stored("x.pdf").to_dict(), "name": "x.pdf"}], NOW)
    received = inbound.received_events(record, system_actor("routing"), NOW)
    made += received
    with docs_store.transaction() as conn:
        docs.consignment_sent(conn, docs_store, docs_log, received[1])

    made += _routing_use_cases()
    # A third, signed and never issued: recorded once it is past its issue deadline.
    late = str(uuid.uuid4())
    docs.register(docs_store, docs_log, late, command(), [stored("main.pdf")], CLERK)
    docs.submit(docs_store, docs_log, late, LEADER.user_id, CLERK)
    with docs_store.transaction() as conn:
        docs.follow(conn, docs_store, docs_log, new_event(
            "DocumentSigned", {"document_id": late, "signed_file": stored("s.pdf").to_dict()},
            actor=LEADER, producer="signing", stream_id=f"signature-{late}"), "sign")
    assert docs.record_issue_overdue(docs_store, docs_log, utc_now() + timedelta(days=30)) == 1

    made += _enrolment_events()
    made += [gateway.login_failed("ai", "sai mật khẩu", "10.0.0.1"),
             gateway.login_failures_summarised("user:ai", 3, 0, NOW, NOW),
             gateway.request_denied(CLERK, "GET", "/v1/x", "cấm"),
             gateway.data_erasure_ordered(
                 Actor("van.hanh", SENDER, "operator"), uuid.uuid4(),
                 "12/QĐ-UBND ngày 01/12/2026", "Văn bản đã bị thu hồi theo quyết định")]
    made += [e for e in docs_log.read_all()] + [e for e in signing_log.read_all()]
    assert accepted in made
    return made


def _enrolment_events():
    """A leader's certificate request, approved; another, rejected (signing's pure core)."""
    from services.signing import enrolment
    from tests.unit.test_signing_enrolment import ADMIN, csr_of

    made = []
    for decide in (lambda r: enrolment.certificate_request_approved(
            r, {**CERTIFICATE, "serial": "1f"}, ADMIN),
            lambda r: enrolment.certificate_request_rejected(r, "Sai người", ADMIN)):
        requested = enrolment.certificate_requested(LEADER, "Nguyễn Văn An", csr_of())
        made += [requested, decide({**requested.data, "state": enrolment.PENDING})]
    return made


def _routing_use_cases():
    """Routing's directory change and an overdue copy, from its use cases."""
    from services.routing import commands as routing_commands
    from services.routing.sample_data import PROVINCE, sample_province
    from services.routing.store import MemoryRoutingStore
    from tests.unit.test_routing_commands import issue_and_seal

    store, log, directory = MemoryRoutingStore(), InMemoryEventStore(), sample_province()
    create = {"op": "create", "code": "000.00.09.H41", "name": "Sở mới",
              "level": "department", "parent": PROVINCE, "on": "2026-01-01"}
    routing_commands.change_directory(store, log, lambda conn: (directory, 0), [create],
                                      Actor("ket.noi", PROVINCE, "operator"))
    issue_and_seal(store, log, directory, urgency=3)  # delivered at the events' time, now
    later = datetime.now(timezone.utc) + timedelta(days=30)
    assert routing_commands.record_overdue(store, log, later) == 2
    return log.read_all()


def _issue_quickly(store, log, document_id):
    docs.register(store, log, document_id, command(), [stored("main.pdf")], CLERK)
    docs.submit(store, log, document_id, LEADER.user_id, CLERK)
    for kind, command_, name in (("DocumentSigned", "sign", "signed_file"),
                                 ("DocumentSealed", "seal", "sealed_file")):
        with store.transaction() as conn:
            docs.follow(conn, store, log, new_event(
                kind, {"document_id": document_id, name: stored("s.pdf").to_dict()},
                actor=LEADER, producer="signing", stream_id=f"signature-{document_id}"),
                command_)
    docs.issue(store, log, document_id, CLERK, separate_secret_series=False)


@pytest.fixture(scope="module")
def produced():
    return _all_events()


def test_the_events_the_services_make_hold_what_their_consumers_rely_on(produced):
    problems = [(e.event_type, data_problem(e.event_type, e.data)) for e in produced]
    assert [p for p in problems if p[1]] == []


def test_every_type_is_made_by_a_pure_function_or_use_case(produced):
    assert set(CATALOGUE) - {e.event_type for e in produced} == set()


# -- a producer that drops a field ------------------------------------------------------

@pytest.mark.parametrize("event_type", [t for t, spec in DATA.items() if spec.required])
def test_data_without_a_field_a_consumer_relies_on_is_refused_by_name(produced, event_type):
    event = next(e for e in produced if e.event_type == event_type)
    spec = DATA[event_type]
    for name in spec.required:
        data = {k: v for k, v in event.data.items() if k != name}
        assert data_problem(event_type, data) == \
            f"data.{name}: Missing data for required field."
        for consumer in spec.needs:  # a consumer that needs fewer fields
            assert (data_problem(event_type, data, consumer) is None) == \
                (name not in spec.needs[consumer])


def test_a_wrong_type_is_named_with_its_field():
    problem = data_problem("DocumentSigned", {"document_id": "không phải uuid",
                                              "signed_file": {"key": "k"}})
    assert problem == ("data.document_id: Not a valid UUID.;"
                       " data.signed_file: sha256: Missing data for required field.")
    assert re.match("event type Nope has no schema", data_problem("Nope", {}))
