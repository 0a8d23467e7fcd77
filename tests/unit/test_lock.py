"""The hash locks (infra/requirements*.lock) pin every pyproject dependency
as pyproject.toml does, with hashes, and hold no package twice."""

import pathlib
import re
import tomllib

import pytest

ROOT = pathlib.Path(__file__).parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*([=<>!~].*)?$")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements(extras=()):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    parsed = {}
    for requirement in wanted:
        name, spec = PIN.match(requirement.replace(" ", "")).groups()
        parsed[canonical(name)] = spec or ""
    return parsed


def locked(path):
    """{name: (version, number of hashes)} of a lock made by uv/pip-compile."""
    text = (ROOT / path).read_text(encoding="utf-8")
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = block.split("\n", 1)[0]
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", first)
        if match:
            name = canonical(match.group(1))
            assert name not in entries, f"{path}: {name} locked twice"
            entries[name] = (match.group(2), block.count("--hash=sha256:"))
    return entries


@pytest.mark.parametrize("path, extras", [("infra/requirements.lock", ()),
                                          ("infra/requirements-test.lock", ("test",))])
def test_the_lock_pins_every_pyproject_dependency_as_pyproject_does(path, extras):
    lock = locked(path)
    for name, spec in pyproject_requirements(extras).items():
        assert name in lock, f"{path}: {name} (pyproject: {spec}) is not locked"
        version = lock[name][0]
        if spec.startswith("=="):
            assert version == spec[2:], f"{path}: {name}=={version}, pyproject says {spec}"
        elif spec:  # a range (setuptools<81): the locked version must be in it
            from packaging.specifiers import SpecifierSet

            assert version in SpecifierSet(spec), f"{path}: {name}=={version} not {spec}"
    unhashed = sorted(name for name, (_, hashes) in lock.items() if hashes == 0)
    assert not unhashed, f"{path}: without a hash: {unhashed}"


def test_the_runtime_lock_is_the_test_locks_subset_at_the_same_versions():
    runtime, test = locked("infra/requirements.lock"), locked("infra/requirements-test.lock")
    assert {n: v for n, (v, _) in runtime.items()} == \
        {n: test[n][0] for n in runtime}
