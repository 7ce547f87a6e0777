from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def example_specs() -> list[Path]:
    specs = []
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        for name in ("mlgen.yaml", "pipeline.py"):
            if (folder / name).is_file():
                specs.append(folder / name)
    return specs


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `mlgen ...` in-process (fast) and capture its output."""
    from mlgen.__main__ import main

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_mlgen(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    """Run the real console entry point in a subprocess (for exit codes and tracebacks)."""
    proc = subprocess.run([sys.executable, "-m", "mlgen", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def require_tool(name: str) -> str:
    """A tool the suite needs: missing means a broken install, which must fail, never skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed; install the test dependencies (see README: pip install -e '.[test]')")
    return path


@pytest.fixture
def churn_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "churn"
    shutil.copytree(EXAMPLES / "churn", dest)
    return dest


# Hypothesis, set up here once, before any test module is imported (pytest loads this file first):
# - derandomize: the examples come from a seed derived from the test function itself, never from
#   the example database (none is used) or the clock, so CI and a developer see the same cases;
# - Hypothesis 6.13x+ also draws constants it finds in every *local* module already imported
#   (sys.modules), so the examples of one test would depend on which other test files were
#   collected first. That pool is replaced by an empty one: a test's examples depend on the
#   test alone (tests/test_hypothesis_setup.py runs one test under two import orders to prove it);
# - "ci" is the default; `pytest --hypothesis-profile=long` explores far more.
from hypothesis import HealthCheck, settings  # noqa: E402


def _no_local_constants() -> None:
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without the module has no such pool either
        return
    if hasattr(providers, "_get_local_constants"):
        empty = providers.Constants(integers=providers.SortedSet(), floats=providers.SortedSet(key=providers.float_to_int),
                                    bytes=providers.SortedSet(), strings=providers.SortedSet())
        providers._get_local_constants = lambda: empty


_no_local_constants()
_SUPPRESS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=100, derandomize=True, database=None, deadline=None, suppress_health_check=_SUPPRESS)
settings.register_profile("long", max_examples=2000, database=None, deadline=None, suppress_health_check=_SUPPRESS)
settings.load_profile("ci")
