"""docs/fidelity.md names, for each rule of Decree 30 and QCVN 102, the code
that keeps it and the tests that prove it: every path and test it names exists
(a renamed or deleted test breaks the page, not silently)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "fidelity.md").read_text(encoding="utf-8")


def _tests_named():
    """(file, test) pairs: `file::name`, and `::name` after it in the same cell."""
    pairs = []
    for cell in PAGE.split("|"):
        current = None
        for path, name in re.findall(r"`(tests/[\w/]+\.py)?::(\w+)`", cell):
            current = path or current
            pairs.append((current, name))
    return pairs


def test_every_test_the_page_names_exists():
    pairs = _tests_named()
    assert len(pairs) > 40
    missing = [(path, name) for path, name in pairs
               if path is None or not re.search(rf"def {name}\(",
                                                (ROOT / path).read_text(encoding="utf-8"))]
    assert missing == []


def test_every_path_the_page_names_exists():
    paths = set(re.findall(r"`((?:services|shared|tests)/[\w/]+\.(?:py|json))", PAGE))
    assert len(paths) > 20
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []


def test_a_wrong_name_would_be_found():
    cell = "`tests/unit/test_signers.py::no_such_test`"
    [(path, name)] = re.findall(r"`(tests/[\w/]+\.py)?::(\w+)`", cell)
    assert not re.search(rf"def {name}\(", (ROOT / path).read_text(encoding="utf-8"))
