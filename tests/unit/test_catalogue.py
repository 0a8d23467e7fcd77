"""The event catalogue: one producer per event type, agreeing with the topology
and with what each service's code makes."""

import ast
import pathlib

import pytest

from shared.catalogue import CATALOGUE, PRODUCERS, origin_problem, producer_of, types_of
from shared.topology import ALL, SUBSCRIPTIONS

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAKERS = {"new_event", "_event", "_security_event", "_change_event"}


def test_every_subscription_is_to_a_type_its_source_produces():
    for sub in SUBSCRIPTIONS:
        assert sub.source in PRODUCERS, sub
        if sub.event_type != ALL:
            assert producer_of(sub.event_type) == sub.source, sub


def event_types_made_in(path):
    """Literal event types passed to the event-making helpers in one module."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            first = node.args[0]
            if name in MAKERS and isinstance(first, ast.Constant) and isinstance(
                    first.value, str):
                yield first.value


@pytest.mark.parametrize("producer", PRODUCERS)
def test_each_service_makes_only_the_types_listed_for_it(producer):
    made = {t for path in (ROOT / "services" / producer).glob("*.py")
            for t in event_types_made_in(path)}
    # docs picks one of these two by the clerk's command (a variable, not a literal).
    made |= {"IncomingAccepted", "IncomingReturned"} if producer == "docs" else set()
    assert made, f"no event found in services/{producer}"
    assert made == set(types_of(producer)), (made ^ set(types_of(producer)))


def test_the_catalogue_names_one_producer_per_type():
    assert sum(len(types_of(p)) for p in PRODUCERS) == len(CATALOGUE)


def test_an_origin_is_checked_against_the_catalogue():
    assert origin_problem("routing", "ConsignmentSent") is None
    assert origin_problem("docs", "ConsignmentSent") == \
        "ConsignmentSent is produced by routing only, not by docs"
    assert "not in the event catalogue" in origin_problem("docs", "SomethingNew")
