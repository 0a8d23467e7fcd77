"""Failpoints: ``name:raise`` raises where the code reaches ``name``, each time while
set; other names and an unset variable do nothing (the SIGKILL mode is shown by
the end-to-end crash tests)."""

import pytest

from shared.failpoints import FailpointError, failpoint


def test_a_raising_failpoint_raises_only_at_its_own_name(monkeypatch):
    monkeypatch.setenv("LIENTHONG_FAILPOINTS",
                       "outbox.before_publish,docs.issue.after_number:raise")
    for _ in range(2):
        with pytest.raises(FailpointError, match="docs.issue.after_number"):
            failpoint("docs.issue.after_number")
    failpoint("docs.issue")  # a prefix is not the name
    monkeypatch.delenv("LIENTHONG_FAILPOINTS")
    failpoint("docs.issue.after_number")
