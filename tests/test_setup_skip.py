"""`defaults.setup` of the form `python -m pip install -r FILE...` is skipped where the files' requirements
are installed already; any other set-up runs exactly as written, on every target."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.runtime.current import main as current_main
from mlgen.targets.install import project_setup, requirement_files
from tests.support import compile_model

WRAPPED = [
    ("python -m pip install -r requirements.txt", ["requirements.txt"]),
    ("python -m pip install -r requirements.txt -r requirements-ml.txt", ["requirements.txt", "requirements-ml.txt"]),
    ("python  -m pip install -r deps/prod.txt", ["deps/prod.txt"]),
]
AS_WRITTEN = [
    "pip install -r requirements.txt",  # `pip` may belong to another interpreter than `python`
    "python -m pip install -r requirements.txt && python setup.py build",
    "python -m pip install -e .",
    "python -m pip install -r requirements.txt --upgrade",
    "python -m pip install -U -r requirements.txt",
    "python -m pip install -r $REQS",
    "python -m pip install -r 'my file.txt'",
    "python -m pip install -r -e",
    "python -m pip install",
    "python3 -m pip install -r requirements.txt",
    "make setup",
    "python -m pip install -r requirements.txt\n-r more.txt",  # two shell commands
    "python -m pip install -r a.txt\tb",
]


@pytest.mark.parametrize(("setup", "files"), WRAPPED)
def test_plain_requirement_installs_are_skipped_when_current(setup: str, files: list[str]) -> None:
    assert requirement_files(setup) == files
    line = project_setup(setup, "pip")
    flags = " ".join(f"-r {f}" for f in files)
    assert line == f"python -m mlgen.runtime.current {flags} 2>/dev/null || {setup}"
    # the flags are the ones the runtime's own parser takes
    words = shlex.split(line.split(" 2>/dev/null")[0])[3:]
    assert words[0::2] == ["-r"] * len(files) and words[1::2] == files
    assert current_main(["-r", "/nonexistent/x.txt"]) == 1  # an unreadable file: pip runs


@pytest.mark.parametrize("setup", AS_WRITTEN)
def test_anything_else_runs_as_written(setup: str) -> None:
    assert requirement_files(setup) is None
    assert project_setup(setup, "pip") == setup


@given(st.text(min_size=1, max_size=60))
def test_a_setup_is_wrapped_only_around_itself(setup: str) -> None:
    line = project_setup(setup, "pip")
    assert line == setup or (line is not None and line.endswith(f" || {setup}") and requirement_files(setup) is not None)


def test_uv_setups_are_left_alone() -> None:
    line = project_setup("python -m pip install -r requirements.txt", "uv")
    assert line is not None and "mlgen.runtime.current -r" not in line


SPEC = {"version": 1, "name": "p", "defaults": {"setup": WRAPPED[0][0], "requirements": ["requirements.txt"]},
        "stages": [{"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"], "cache": {"key": ["data/**"]}},
                   {"name": "evaluate", "kind": "evaluate", "run": "python ev.py", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}}]}


@pytest.mark.parametrize("target", ["github", "gitlab", "jenkins"])
def test_every_target_checks_before_installing(target: str) -> None:
    text = compile_model(SPEC, bodies=True)[target]
    check = "python -m mlgen.runtime.current -r requirements.txt 2>/dev/null || python -m pip install -r requirements.txt"
    bare = text.replace(check, "")
    assert text.count(check) >= 2, text  # train (on a miss) and evaluate
    assert "pip install -r requirements.txt" not in bare  # never unguarded
