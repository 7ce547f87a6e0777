"""The suite's xdist scheduling (tests/scheduling.py): shared set-ups once, the longest tests first.

A small generated suite runs on two workers as scripts/test.sh runs the real one; every test and
every module-fixture set-up logs which worker ran it, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.scheduling import MAX_GROUP
from tests.support import ROOT

INI = """\
[pytest]
markers =
    e2e: long
    engine: long
"""
CONFTEST = f"""\
import json, os, sys
sys.path.insert(0, {str(ROOT)!r})
from tests.scheduling import pytest_collection_modifyitems

def record(**fields):
    with open(os.environ["SCHED_LOG"], "a") as log:
        log.write(json.dumps({{"worker": os.environ.get("PYTEST_XDIST_WORKER", "-"),
                               "nodeid": os.environ["PYTEST_CURRENT_TEST"].rsplit(" (", 1)[0], **fields}}) + "\\n")
"""
SHARED = """\
import pytest
from conftest import record

@pytest.fixture(scope="module")
def server():
    record(setup="server")
    return "up"

@pytest.mark.parametrize("n", range(8))
def test_uses_server(server, n):
    record(test=f"shared-{n}")
"""
PARAMETRIZED = """\
import pytest
from conftest import record

@pytest.fixture(scope="module", params=["x", "y"])
def engine(request):
    record(setup=f"engine-{request.param}")
    return request.param

@pytest.mark.parametrize("n", range(4))
def test_per_engine(engine, n):
    record(test=f"{engine}-{n}")
"""
BIG = f"""\
import pytest
from conftest import record

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("big")

@pytest.mark.parametrize("n", range({MAX_GROUP + 1}))
def test_many(folder, n):
    record(test=f"big-{{n}}")
"""
PLAIN = """\
import pytest
from conftest import record

@pytest.mark.parametrize("n", range(20))
def test_plain(n):
    record(test=f"plain-{n}")
"""
LONG = """\
import time
import pytest
from conftest import record

@pytest.mark.e2e
def test_long():
    record(test="long")
    time.sleep(1)
"""


def run_suite(folder: Path, *args: str) -> list[dict[str, str]]:
    for name, text in {"pytest.ini": INI, "conftest.py": CONFTEST, "test_a_shared.py": SHARED,
                       "test_b_parametrized.py": PARAMETRIZED, "test_c_plain.py": PLAIN, "test_d_big.py": BIG, "test_z_long.py": LONG}.items():
        (folder / name).write_text(text)
    log = folder / "log.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
                          cwd=folder, capture_output=True, text=True, timeout=300,
                          env={**_env(), "SCHED_LOG": str(log)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def _env() -> dict[str, str]:
    """This process's environment without the outer run's pytest and xdist settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SCHED_"))}


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    return run_suite(tmp_path_factory.mktemp("sched"), "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder")


def test_a_module_fixture_is_set_up_once_and_its_tests_share_a_worker(records: list[dict[str, str]]) -> None:
    setups = Counter(r["setup"] for r in records if "setup" in r)
    assert setups == {"server": 1, "engine-x": 1, "engine-y": 1}, records
    for prefix in ("shared-", "x-", "y-"):
        workers = {r["worker"] for r in records if r.get("test", "").startswith(prefix)}
        assert len(workers) == 1, (prefix, records)


def test_the_longest_test_starts_first_on_its_worker(records: list[dict[str, str]]) -> None:
    long_worker = next(r["worker"] for r in records if r.get("test") == "long")
    first = next(r for r in records if r["worker"] == long_worker)
    assert first.get("test") == "long", records


def test_only_tests_that_share_a_set_up_are_grouped(records: list[dict[str, str]]) -> None:
    # xdist hands out a grouped node id (`...@group`) as one unit, any other test by itself.
    groups = {r["test"]: r["nodeid"].partition("@")[2] for r in records if "test" in r}
    assert {groups[f"plain-{n}"] for n in range(20)} == {""} and groups["long"] == "", groups
    assert {groups[f"shared-{n}"] for n in range(8)} == {"test_a_shared.py::server"}, groups
    assert groups["x-0"] != groups["y-0"] and {groups[f"x-{n}"] for n in range(4)} == {groups["x-0"]}, groups
    # More tests than MAX_GROUP behind one cheap module fixture: spread out like any others.
    assert {groups[f"big-{n}"] for n in range(MAX_GROUP + 1)} == {""}, groups


def test_without_xdist_the_order_is_pytests_own(tmp_path: Path) -> None:
    tests = [r["test"] for r in run_suite(tmp_path) if "test" in r]
    assert tests[-1] == "long" and tests[0] == "shared-0", tests
