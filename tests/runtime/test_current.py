"""`mlgen.runtime.current` says "installed already" only when pip would change nothing, and only when sure."""

from __future__ import annotations

from importlib import metadata

import pytest

from mlgen.runtime import current

DISTS = {"mlgen-ci": "0.1.0", "pandas": "2.2.3", "numpy": "1.26.4", "mlflow-skinny": "2.9.0", "rc": "2.0.0rc1"}
REQUIRES = ["pydantic<3,>=2.6", "ruamel-yaml-clib>=0.2.8; platform_python_implementation == 'CPython'",
            "pandas>=2.0; extra == 'data'", "numpy>=1.26; extra == 'data'", "mlflow-skinny>=2.9; extra == 'mlflow'",
            "mlflow>=2.9; extra == 'server'", "rc>=1; extra == 'pre'", "weird>=1; extra == 'odd' and python_version < '3.12'"]


@pytest.fixture(autouse=True)
def installed(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    dists = dict(DISTS)

    def version(name: str) -> str:
        if name not in dists:
            raise metadata.PackageNotFoundError(name)
        return dists[name]

    monkeypatch.setattr(current.metadata, "version", version)
    monkeypatch.setattr(current.metadata, "requires", lambda name: REQUIRES if name == "mlgen-ci" else [])
    return dists


@pytest.mark.parametrize(("requirement", "answer"), [
    ("mlgen-ci==0.1.0", True),  # base requirements came with it
    ("mlgen-ci[data]==0.1.0", True),
    ("mlgen-ci[data,mlflow]==0.1.0", True),
    ("mlgen-ci==0.1.1", False),  # another version: install
    ("mlgen-ci>=0.1", False),  # not a pin: the installer decides
    ("mlgen-ci[server]==0.1.0", False),  # mlflow is missing
    ("mlgen-ci[pre]==0.1.0", False),  # a pre-release is not judged here
    ("mlgen-ci[odd]==0.1.0", False),  # a marker it cannot evaluate
    ("other==1.0", False),
    ("", False),
])
def test_current_only_when_sure(requirement: str, answer: bool) -> None:
    assert current.is_current(requirement) is answer
    assert current.main([requirement]) == (0 if answer else 1)


@pytest.mark.parametrize(("specifiers", "version", "allowed"), [
    (">=2.0", "2.0", True), (">=2.0", "1.9.9", False), (">=2", "10.0", True),  # numeric, not text, order
    ("<3,>=2.6", "2.10.1", True), ("<3,>=2.6", "3.0", False), ("<3,>=2.6", "2.5", False),
    ("==1.26", "1.26.0", True), ("!=1.26", "1.26.0", False), (">1.0", "1.0.0", False), ("<=1.0", "1.0", True),
    ("~=1.2", "1.3", False),  # compatible-release: not evaluated here, so not "current"
    (">=2.0", "2.0.post1", False),
])
def test_specifiers(specifiers: str, version: str, allowed: bool) -> None:
    assert current._allows(specifiers, version) is allowed


def test_a_dependency_too_old_is_not_current(installed: dict[str, str]) -> None:
    installed["pandas"] = "1.5.3"
    assert not current.is_current("mlgen-ci[data]==0.1.0")
