"""The public functions of shared/ and of each service's store carry complete
type hints (issue 14): every parameter but self/cls is annotated, and so is the
return (except for __init__). An AST walk, so nothing is imported or run."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def checked_files():
    return sorted([*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/*/store.py")])


def _public(name):
    return not name.startswith("_") or name == "__init__"


def _missing(func, method):
    """What the signature of func lacks: the unannotated parameter names, and
    'return' when the return type is missing."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod"
                 for d in func.decorator_list)
    if method and not static and positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    params = [*positional, *args.kwonlyargs,
              *(a for a in (args.vararg, args.kwarg) if a is not None)]
    missing = [a.arg for a in params if a.annotation is None]
    if func.returns is None and func.name != "__init__":
        missing.append("return")
    return missing


def _walk(body, prefix, method):
    """Public functions of a module body or of a public class body (nested public
    classes, and definitions under ``if``/``try``, included), as (qualified name,
    missing annotations)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(node.name):
            yield prefix + node.name, _missing(node, method)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from _walk(node.body, f"{prefix}{node.name}.", True)
        elif isinstance(node, (ast.If, ast.Try)):
            for branch in (node.body, node.orelse, getattr(node, "finalbody", []),
                           *(h.body for h in getattr(node, "handlers", []))):
                yield from _walk(branch, prefix, method)


def public_functions(source):
    return list(_walk(ast.parse(source).body, "", False))


def _report(label, found):
    """'label:function (missing ...)' for each function lacking hints."""
    return [f"{label}:{name} (missing {', '.join(missing)})" for name, missing in found if missing]


def unannotated(source, label):
    return _report(label, public_functions(source))


def test_every_public_function_of_shared_and_the_stores_is_annotated():
    files = checked_files()
    walked = {path.relative_to(ROOT).as_posix(): public_functions(path.read_text(encoding="utf-8"))
              for path in files}
    # The walk reaches the stores and the classes of shared/, not just a few names.
    names = {f"{label}:{name}" for label, found in walked.items() for name, _ in found}
    assert {"shared/eventstore.py:PostgresEventStore.append",
            "shared/edge/inbox.py:ServiceEvents.handle_once",
            "services/docs/store.py:DocsStore.__init__"} <= names
    problems = [problem for label, found in walked.items() for problem in _report(label, found)]
    assert problems == [], "missing type hints:\n" + "\n".join(problems)


@pytest.mark.parametrize("source, expected", [
    ("def f(a, b: int): return a\n", ["m.py:f (missing a, return)"]),
    ("class C:\n    def __init__(self, x): pass\n", ["m.py:C.__init__ (missing x)"]),
    ("class C:\n    @classmethod\n    def make(cls, *args, **kw) -> 'C': pass\n",
     ["m.py:C.make (missing args, kw)"]),
    ("class C:\n    @staticmethod\n    def s(self) -> None: pass\n", ["m.py:C.s (missing self)"]),
    ("class C:\n    class D:\n        def g(self, *, k) -> None: pass\n",
     ["m.py:C.D.g (missing k)"]),
    ("async def a(x: int): pass\n", ["m.py:a (missing return)"]),
    ("try:\n    def t(x) -> None: pass\nexcept ImportError:\n    pass\n",
     ["m.py:t (missing x)"]),
])
def test_the_check_reports_an_unannotated_signature(source, expected):
    assert unannotated(source, "m.py") == expected


def test_the_check_passes_complete_hints_and_skips_private_names():
    source = ("from typing import Any\n"
              "def f(a: int, *rest: str, k: bool = True, **kw: Any) -> int: return a\n"
              "def _private(a): pass\n"
              "class _Hidden:\n    def open(self, x): pass\n"
              "class C:\n    def __init__(self, x: int): pass\n"
              "    def _helper(self, y): pass\n"
              "    def run(self) -> None:\n        def inner(z): pass\n")
    assert [name for name, _ in public_functions(source)] == ["f", "C.__init__", "C.run"]
    assert unannotated(source, "m.py") == []
