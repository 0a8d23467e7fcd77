"""A stream of documents driven through the real services while faults hit them,
and a counting oracle that says whether anything was lost or done twice.

:class:`DocumentStream` plays the clerks and leaders: each document is
registered, submitted, signed, sealed, issued (which sends it to the
recipients its metadata names) and then sent to more agencies. A step that
fails (broker down, database down, service killed, RPC timeout) is retried
until it succeeds, within a bound; a step whose answer was lost is recognised
by the document's state (or, for a sending, by its consignment id).

:class:`Oracle` then counts, in the services' own tables: each accepted
document reached each of its recipients exactly once (routing's
``DocumentDelivered``, docs' ``IncomingRegistered`` and their projections),
no number was taken twice, no event was dead-lettered or quarantined, every
stored event is in the audit log exactly once and the log verifies, and every
service process still runs and answers, and no object is left in the bucket
that no event names (a killed command's files swept, ``shared/uploads.py``).
"""

import collections
import itertools
import time

import eventlet

from tests.support.client import DIRECTIVE, wait_for
from shared.uploads import named_versions
from tests.support.db import query, scalar
from tests.support.pdf import make_pdf

DISTRICT_3 = "000.03.00.H41"
# After the issue's own recipients, each document goes to district 3 and its
# four communes (sample directory): seven recipients in all.
MORE = {"subtree": DISTRICT_3}
AUDITOR_AGENCY = "000.00.00.G22"
PRODUCERS_WITH_TABLES = ("docs", "signing", "routing", "gateway")
CONSUMING = ("docs", "signing", "routing")
UPLOADING = ("docs", "signing")  # the services with upload intents


def pending_uploads(dsn):
    """Upload intents not yet settled or swept, per service."""
    return {s: n for s in UPLOADING
            if scalar(dsn, s, "SELECT to_regclass('pending_uploads') IS NOT NULL")
            and (n := scalar(dsn, s, "SELECT count(*) FROM pending_uploads"))}


def unnamed_objects(platform):
    """Versions under documents/ that no event of docs, signing or routing names."""
    named = set()
    for schema in CONSUMING:
        for (data,) in query(platform.pg_dsn, schema, "SELECT envelope->'data' FROM events"):
            named |= named_versions(data)
    return [(key, version) for key, version, _ in
            platform.object_store().versions("documents/") if version not in named]


class Journey:
    """One accepted document: what the stream was told about it."""

    def __init__(self, document_id):
        self.document_id = document_id
        self.recipients = set(DIRECTIVE["recipients"])
        self.sent = False  # the last step (sending to more agencies) answered
        self.consignment_id = f"more-{document_id[:8]}"


class DocumentStream:
    """Drives documents through the flow in ``concurrency`` green threads until
    ``target`` documents are done (the test may raise ``target`` meanwhile)."""

    def __init__(self, client, target, concurrency=2, step_timeout=10, bound=150):
        self.client, self.target, self.concurrency = client, target, concurrency
        self.step_timeout, self.bound = step_timeout, bound
        self.clerk = client.token("clerk")
        self.leader = client.token("leader")
        self.leader_user = client.actor(self.leader).user_id
        self.journeys = {}        # document_id -> Journey, in acceptance order
        self.failures = collections.Counter()  # failed attempts per step
        self.last_errors = collections.deque(maxlen=20)
        self._numbers = itertools.count(1)
        self._threads = []
        self._started = 0

    # -- running --------------------------------------------------------------

    def start(self):
        self._threads = [eventlet.spawn(self._work) for _ in range(self.concurrency)]
        return self

    def more(self, count):
        """``count`` more documents than started so far (a worker again if all ended)."""
        self.target = max(self.target, self._started + count)
        if all(thread.dead for thread in self._threads):
            self._threads.append(eventlet.spawn(self._work))

    def _work(self):
        while self._started < self.target:
            self._started += 1
            self._one(next(self._numbers))

    @property
    def done(self):
        return sum(j.sent for j in self.journeys.values())

    @property
    def failed_attempts(self):
        return sum(self.failures.values())

    def wait(self, timeout):
        """Until every thread finished; raises what a thread raised."""
        with eventlet.Timeout(timeout, AssertionError(
                f"the stream did not finish in {timeout}s: {self.done} of {self.target} done;"
                f" last errors {list(self.last_errors)}")):
            for thread in self._threads:
                thread.wait()
        return self

    # -- one document's way -----------------------------------------------------

    def _try(self, step, action):
        """``action()``, or None when it failed (counted, kept for the report)."""
        try:
            with eventlet.Timeout(self.step_timeout + 5):
                return action()
        except (Exception, eventlet.Timeout) as err:
            self.failures[step] += 1
            self.last_errors.append(f"{step}: {err!r}"[:300])
            return None

    def _call(self, token, service, method, *args):
        with self.client.rpc(token, timeout=self.step_timeout) as rpc:
            return getattr(getattr(rpc, service), method)(*args)

    def _register(self, number):
        response = self.client.register(self.clerk, make_pdf(f"luồng {number}"))
        if response.status_code != 201:
            raise RuntimeError(f"registration answered {response.status_code}")
        return response.json()["document_id"]

    def _one(self, number):
        deadline = time.monotonic() + self.bound

        def within():
            if time.monotonic() > deadline:
                raise AssertionError(f"document {number} not through in {self.bound}s;"
                                     f" last errors {list(self.last_errors)}")
            return True

        # A registration whose answer is lost leaves a draft nobody goes on with:
        # not accepted, so the oracle expects nothing of it.
        while within() and (document_id := self._try(
                "register", lambda: self._register(number))) is None:
            eventlet.sleep(0.3)
        journey = self.journeys[document_id] = Journey(document_id)
        steps = {"draft": ("submit", self.clerk, "docs", "submit", self.leader_user),
                 "submitted": ("sign", self.leader, "signing", "sign_document"),
                 "signed": ("seal", self.clerk, "signing", "seal_document"),
                 "sealed": ("issue", self.clerk, "docs", "issue")}
        while within():
            state = self._try("read", lambda: self._call(self.clerk, "docs", "get_document",
                                                         document_id)["state"])
            if state == "sent":  # issued, and docs learnt of the first consignment
                break
            if state in steps:
                step, token, service, method, *extra = steps[state]
                if self._try(step, lambda: self._call(token, service, method, document_id,
                                                      *extra)) is not None:
                    continue
            # Not there yet (an event on its way, a server down): look again soon.
            eventlet.sleep(0.2)
        # The consignment id makes a retry harmless: the first answer comes back.
        while within():
            answer = self._try("send", lambda: self._call(
                self.clerk, "routing", "send", document_id, MORE, journey.consignment_id))
            if answer is not None:
                journey.recipients |= set(answer["recipients"])
                journey.sent = True
                return
            eventlet.sleep(0.3)


class Oracle:
    """Counts what the services stored against what the stream was told."""

    def __init__(self, platform, client, stream):
        self.platform, self.client, self.stream = platform, client, stream
        self.dsn = platform.pg_dsn

    # -- what the tables hold ----------------------------------------------------

    def delivered(self):
        """routing's ``DocumentDelivered`` events: Counter of (document, recipient)."""
        return collections.Counter(query(
            self.dsn, "routing", "SELECT envelope->'data'->>'document_id',"
            " envelope->'data'->>'recipient' FROM events WHERE event_type = 'DocumentDelivered'"))

    def registered(self):
        """docs' ``IncomingRegistered`` events: Counter of (document, agency)."""
        return collections.Counter(query(
            self.dsn, "docs", "SELECT envelope->'data'->>'document_id',"
            " envelope->'data'->>'agency' FROM events WHERE event_type = 'IncomingRegistered'"))

    def expected(self):
        return collections.Counter({(j.document_id, r): 1 for j in self.stream.journeys.values()
                                    for r in j.recipients})

    def stored_events(self):
        """Every event the producers stored: Counter of event id."""
        ids = collections.Counter()
        for schema in PRODUCERS_WITH_TABLES:
            if scalar(self.dsn, schema, "SELECT to_regclass('events') IS NOT NULL"):
                ids.update(str(r[0]) for r in query(self.dsn, schema,
                                                    "SELECT event_id FROM events"))
        return ids

    def logged_events(self):
        return collections.Counter(str(r[0]) for r in query(self.dsn, "audit",
                                                            "SELECT event_id FROM entries"))

    def settled(self):
        """Everything expected has arrived (duplicates are judged by :meth:`check`)."""
        expected = self.expected()
        return (not expected - self.delivered() and not expected - self.registered()
                and not self.stored_events() - self.logged_events())

    # -- the verdict -----------------------------------------------------------

    def check(self, stack, killed=None, timeout=60):
        """Assert exactly-once everywhere; ``killed`` {service: times} are the
        processes the test killed (and restarted) on purpose."""
        stream = self.stream
        print(f"{len(stream.journeys)} documents; failed attempts, retried:"
              f" {dict(stream.failures)}")
        assert stream.done == len(stream.journeys) == stream.target, \
            f"{stream.done} of {len(stream.journeys)} accepted documents done"
        wait_for(self.settled, timeout=timeout, interval=0.5,
                 what="every delivery, arrival and audit entry to settle")
        self.check_counts()
        self.check_audit()
        self.check_objects()
        self.check_running(stack, killed)

    def check_counts(self):
        """What the services' tables hold, against what the stream was told."""
        stream = self.stream
        expected = self.expected()
        # Each accepted document reached each of its recipients once, and nothing else went.
        assert self.delivered() == expected, _diff(self.delivered(), expected)
        assert self.registered() == expected, _diff(self.registered(), expected)
        assert collections.Counter(query(self.dsn, "routing", "SELECT document_id::text,"
                                         " recipient FROM inbox_items")) == expected
        assert collections.Counter(query(self.dsn, "docs", "SELECT document_id::text, agency"
                                         " FROM deliveries")) == expected
        # No event applied twice: a doubly applied issue or arrival takes a second number.
        numbers = [r[0] for r in query(self.dsn, "docs", "SELECT number FROM documents"
                                       " WHERE number IS NOT NULL ORDER BY number")]
        assert numbers == list(range(1, len(stream.journeys) + 1)), numbers
        # Each arrival registered once; a số đến is given at acceptance (none here
        # unless accepted), and the numbers given run 1..N per agency.
        assert collections.Counter(query(self.dsn, "docs", "SELECT document_id::text, agency"
                                         " FROM incoming")) == expected
        arrivals = collections.defaultdict(list)
        for agency, number in query(self.dsn, "docs", "SELECT agency, arrival_number"
                                    " FROM incoming WHERE arrival_number IS NOT NULL"
                                    " ORDER BY arrival_number"):
            arrivals[agency].append(number)
        for agency, got in arrivals.items():
            assert got == list(range(1, len(got) + 1)), (agency, got)
        assert scalar(self.dsn, "signing", "SELECT count(*) FROM documents") == \
            len(stream.journeys)
        # Nothing given up on, nothing refused.
        for schema in CONSUMING:
            assert query(self.dsn, schema, "SELECT consumer, event_id, error FROM"
                         " dead_letters") == [], schema
        for schema in (*CONSUMING, "audit"):
            assert query(self.dsn, schema, "SELECT consumer, reason FROM quarantine") == [], \
                schema

    def check_audit(self):
        """Every stored event is logged exactly once, and the log verifies."""
        stored, logged = self.stored_events(), self.logged_events()
        assert set(stored.values()) == {1} and set(logged.values()) == {1}
        assert set(logged) == set(stored), _diff(logged, stored)
        auditor = self.client.token("auditor", agency=AUDITOR_AGENCY)
        with self.client.rpc(auditor, timeout=30) as rpc:
            verdict = rpc.audit.verify()
        assert verdict["ok"] and verdict["entries"] == len(stored), verdict

    def check_objects(self, timeout=90):
        """Once every upload intent is settled or swept: no orphan in the bucket."""
        wait_for(lambda: not pending_uploads(self.dsn), timeout=timeout, interval=0.5,
                 what="every upload intent to be settled or swept")
        assert unnamed_objects(self.platform) == []

    def check_running(self, stack, killed=None):
        """Every process runs, started once more per kill the test made, and answers:
        the others reconnected by themselves."""
        killed = killed or {}
        for name, process in stack.items():
            assert process.proc.poll() is None, f"{name} exited: see {process.log_path}"
            assert process.starts == 1 + killed.get(name, 0), \
                f"{name} was started {process.starts} times; killed {killed.get(name, 0)}"
        auditor = self.client.token("auditor")
        for name, process in stack.items():
            process.wait_ready(self.client, auditor, timeout=30)


def _diff(got, expected):
    extra = {k: v for k, v in got.items() if v != expected.get(k)}
    missing = {k: v for k, v in expected.items() if k not in got}
    return f"unexpected or repeated: {extra}; missing: {missing}"

