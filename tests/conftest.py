from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Re-exported: older test files import these from here; new ones import tests.support.
from tests.support import EXAMPLES, ROOT, Result, example_specs, require_tool, run_mlgen  # noqa: F401

# The `mlflow server`s the tests start serve the registry only. MLflow 3 also starts a job runner
# with seven worker processes beside each server (for its GenAI jobs): twice the CPU time to start,
# and more while it polls. Set before any server starts; every server inherits it.
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")

# Under xdist only: the longest tests first, tests that share a set-up on one worker.
from tests.scheduling import pytest_collection_modifyitems  # noqa: E402, F401


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `mlgen ...` in-process (fast) and capture its output."""
    from mlgen.__main__ import main

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


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
