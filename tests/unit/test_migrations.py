"""The migration lists' shape, without a server."""

import pytest

from shared.migrations import Component, Migration, initial


def test_versions_must_run_one_two_three():
    with pytest.raises(ValueError, match=r"versions must be 1, 2, 3 \.\.\. in order, got \[1, 3\]"):
        Component("docs", (Migration(1, "a", "SELECT 1"), Migration(3, "b", "SELECT 1")))


def test_then_adds_the_next_migration():
    component = initial("docs", "SELECT 1").then(2, "b", "SELECT 2")
    assert [m.version for m in component.migrations] == [1, 2]
    with pytest.raises(ValueError, match="got \\[1, 2, 4\\]"):
        component.then(4, "c", "SELECT 3")
