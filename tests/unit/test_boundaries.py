"""No service imports another service's code.

Each service is built and deployed on its own: what two services share lives
in ``shared/`` (the vocabulary, the event store, the nameko edge). The check
reads every module's imports with ``ast`` (nothing is imported), absolute
and relative forms alike, including imports inside functions.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """``(line, dotted module)`` of every import in ``path``; relative imports
    are resolved against ``package`` (the module's own package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[:len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # ``from services import docs`` names the package in the alias.
            if module == "services":
                found.extend((node.lineno, f"services.{a.name}") for a in node.names)
    return found


def violations(root: Path = SERVICES) -> list[str]:
    """Each import of ``services.<b>`` from a module under ``services/<a>/``, b != a."""
    problems = []
    for service in sorted(p for p in root.iterdir() if (p / "__init__.py").exists()):
        for path in sorted(service.rglob("*.py")):
            package = ".".join(("services",) + path.relative_to(root).parent.parts)
            for line, module in imported_modules(path, package):
                parts = module.split(".")
                if parts[0] == "services" and len(parts) > 1 and parts[1] != service.name:
                    problems.append(f"{path.relative_to(root.parent)}:{line} imports {module}")
    return problems


def test_no_service_imports_another_service():
    assert violations() == [], "services import each other (move the shared part to shared/)"


def test_every_service_package_is_checked():
    checked = {p.name for p in SERVICES.iterdir() if (p / "__init__.py").exists()}
    assert {"docs", "signing", "routing", "audit", "gateway"} <= checked


@pytest.mark.parametrize("source", [
    "from services.docs import domain",
    "from services.docs.domain import VIETNAM",
    "import services.docs.domain",
    "import services.docs",
    "from services import docs",
    "from ...docs import domain",          # from services/routing/sub/x.py
    "def f():\n    from services.docs import domain\n",
])
def test_the_check_sees_each_form_of_import(tmp_path, source):
    routing = tmp_path / "services" / "routing"
    (routing / "sub").mkdir(parents=True)
    for package in (tmp_path / "services", routing, routing / "sub"):
        (package / "__init__.py").write_text("")
    (tmp_path / "services" / "docs").mkdir()
    (tmp_path / "services" / "docs" / "__init__.py").write_text("")
    (routing / "sub" / "x.py").write_text(source + "\n")
    assert len(violations(tmp_path / "services")) == 1


@pytest.mark.parametrize("source", [
    "from services.routing import domain",
    "from .. import domain",
    "from ..domain import stream_of",
    "from shared.values import VIETNAM",
    "import json",
])
def test_the_check_allows_own_package_and_shared(tmp_path, source):
    routing = tmp_path / "services" / "routing"
    (routing / "sub").mkdir(parents=True)
    for package in (tmp_path / "services", routing, routing / "sub"):
        (package / "__init__.py").write_text("")
    (routing / "sub" / "x.py").write_text(source + "\n")
    assert violations(tmp_path / "services") == []


def _absolute_imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports absolutely, ``from shared import x`` also as ``shared.x``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
    return found


def test_nothing_imports_the_retired_nameko_ext():
    """The nameko edge is ``shared/edge/`` (one concept a module), with no shim."""
    assert not (ROOT / "shared" / "nameko_ext.py").exists()
    found = [f"{path.relative_to(ROOT)}:{line}"
             for top in ("shared", "services", "infra", "bench", "tests")
             for path in sorted((ROOT / top).rglob("*.py"))
             for line, module in _absolute_imports(path)
             if module.startswith("shared.nameko_ext")]
    assert found == []


def test_the_envelope_is_pure():
    """``shared/envelope.py`` holds the envelope alone: its marshmallow wire
    schemas are ``shared/wire.py``."""
    imported = {module.split(".")[0]
                for _, module in _absolute_imports(ROOT / "shared" / "envelope.py")}
    assert "marshmallow" not in imported
