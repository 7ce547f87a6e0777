"""`python -m mlgen.runtime.current -r FILE` says "installed already" only where `pip install -r FILE`
would change nothing, and only when sure; pip's own dry run is the oracle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.runtime import current
from tests.runtime.conftest import subprocess_env

DISTS = {"numpy": "2.1.0", "pandas": "2.2.3", "joblib": "1.4.2", "weird": "1.0rc1", "needs-missing": "1.0"}
REQUIRES = {"pandas": ["numpy>=1.26", "tzdata>=2022.7; platform_system == 'Windows'"], "needs-missing": ["gone>=1"]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    def version(name: str) -> str:
        if name not in DISTS:
            raise metadata.PackageNotFoundError(name)
        return DISTS[name]

    monkeypatch.setattr(current.metadata, "version", version)
    monkeypatch.setattr(current.metadata, "requires", lambda name: REQUIRES.get(name, []))
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)


@pytest.mark.parametrize(("text", "answer"), [
    ("numpy>=1.26\npandas>=2.0\n", True),
    ("# comment only\n\n", True),
    ("numpy>=1.26  # pinned for the C API\n", True),
    ("pandas >= 2.0, < 3\n", True),  # spaces inside specifiers are fine
    ("numpy\n", True),  # no specifier: any installed version
    ("numpy>=3\n", False),  # installed too old: pip would upgrade
    ("numpy<2\n", False),
    ("scipy>=1\n", False),  # not installed
    ("weird>=0.5\n", False),  # a pre-release installed: not judged
    ("needs-missing>=1\n", False),  # its own requirement is missing: pip would install it
    ("numpy~=2.1\n", False),  # a specifier not judged here
    ("numpy==2.*\n", False),
    ("pandas[performance]>=2\n", False),  # extras
    ("numpy>=1; python_version >= '3.9'\n", False),  # markers
    ("numpy @ https://example.com/numpy.whl\n", False),
    ("-e .\n", False),
    ("--index-url https://example.com/simple\nnumpy\n", False),
    ("-r other.txt\n", False),
    ("-c constraints.txt\nnumpy\n", False),
    ("numpy>=1 \\\n  --hash=sha256:abc\n", False),
    ("numpy==2.1.0 --hash=sha256:abc\n", False),
])
def test_lines(fake: None, tmp_path: Path, text: str, answer: bool) -> None:
    (tmp_path / "r.txt").write_text(text)
    assert current.files_current([str(tmp_path / "r.txt")]) is answer


@pytest.mark.parametrize(("env", "answer"), [
    ({"PIP_NO_INDEX": "1", "PIP_CACHE_DIR": "/tmp/c", "PIP_FIND_LINKS": "/w"}, True),
    ({"PIP_UPGRADE": "1"}, False),
    ({"PIP_FORCE_REINSTALL": "1"}, False),
    ({"PIP_TARGET": "/elsewhere"}, False),
    ({"PIP_CONFIG_FILE": "/etc/other.conf"}, False),
])
def test_pip_variables(fake: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], answer: bool) -> None:
    (tmp_path / "r.txt").write_text("numpy>=1\n")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert current.files_current([str(tmp_path / "r.txt")]) is answer


def test_every_file_counts(fake: None, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("numpy>=1\n")
    (tmp_path / "b.txt").write_text("scipy>=1\n")
    assert current.main(["-r", str(tmp_path / "a.txt")]) == 0
    assert current.main(["-r", str(tmp_path / "a.txt"), "-r", str(tmp_path / "b.txt")]) == 1
    assert current.main(["-r", str(tmp_path / "missing.txt")]) == 1
    assert current.main(["-r"]) == 1
    assert current.main(["-r", str(tmp_path / "a.txt"), "-x", str(tmp_path / "a.txt")]) == 1


# --- against pip itself, in this environment -----------------------------------------------------

def _installed_here() -> list[tuple[str, str]]:
    names = ["numpy", "pandas", "joblib", "pydantic", "jinja2"]
    return [(n, metadata.version(n)) for n in names]


def _bumped(version: str, by: int) -> str:
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return f"{parts[0] + by}.0"


LINES = st.sampled_from(_installed_here()).flatmap(lambda nv: st.sampled_from([
    nv[0], f"{nv[0]}>={nv[1]}", f"{nv[0]}=={nv[1]}", f"{nv[0]}>={_bumped(nv[1], 1)}", f"{nv[0]}<{_bumped(nv[1], 0)}",
    f"{nv[0]}!={nv[1]}", f"{nv[0]} >= 0.1, < {_bumped(nv[1], 1)}",
]))


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=3))
def test_current_means_pip_would_install_nothing(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    folder = tmp_path_factory.mktemp("req")
    (folder / "requirements.txt").write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("PIP_")}
    ours = subprocess.run([sys.executable, "-m", "mlgen.runtime.current", "-r", "requirements.txt"], cwd=folder, env=env)
    if ours.returncode != 0:
        return  # "not current" is always safe: pip runs
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--quiet", "--report", "-",
                          "-r", "requirements.txt"], cwd=folder, env=env, capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    assert json.loads(pip.stdout)["install"] == [], lines


@pytest.mark.slow
def test_installed_requirements_are_current_here(tmp_path: Path) -> None:
    """The case the skip exists for: everything installed, so ours says current (and pip agrees, above)."""
    (tmp_path / "requirements.txt").write_text("".join(f"{n}>={v}\n" for n, v in _installed_here()))
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("PIP_")}
    ours = subprocess.run([sys.executable, "-m", "mlgen.runtime.current", "-r", "requirements.txt"], cwd=tmp_path, env=env)
    assert ours.returncode == 0
