"""The `command` registry: the user's own shell templates, with shell-quoted placeholders.

The "registry" here is a directory of files driven by a small Python script, so every template
does real work that the test can inspect.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.runtime.conftest import Result

Run = Callable[..., Result]

REGISTRY = """\
import json, pathlib, sys
root = pathlib.Path(sys.argv[1]); op = sys.argv[2]; root.mkdir(exist_ok=True)
state = json.loads((root / "state.json").read_text()) if (root / "state.json").exists() else {"versions": [], "aliases": {}}
if op == "register":
    path, alias = sys.argv[3], sys.argv[4]
    state["versions"].append({"path": path, "files": sorted(p.name for p in pathlib.Path(path).iterdir())})
    state["aliases"][alias] = str(len(state["versions"]))
    print("uploading", path); print(len(state["versions"]))
elif op == "promote":
    src = state["aliases"].pop(sys.argv[3]); old = state["aliases"].get("champion")
    state["aliases"]["champion"] = src
    if old: state["aliases"]["previous-champion"] = old
    state["promoted_version_arg"] = sys.argv[4]
    print(src)
elif op == "rollback":
    state["aliases"]["champion"] = state["aliases"].pop("previous-champion")
elif op == "baseline":
    v = state["aliases"].get(sys.argv[3])
    if v: print(json.dumps({"auc": 0.9, "version": int(v)}))
(root / "state.json").write_text(json.dumps(state))
"""


@pytest.fixture
def commands(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_registry.py"
    script.write_text(REGISTRY)
    base = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(tmp_path / 'reg'))}"
    return ["--registry", "command",
            "--register-command", f"{base} register {{path}} {{alias}}",
            "--promote-command", f"{base} promote {{from_alias}} {{version}}",
            "--rollback-command", f"{base} rollback",
            "--baseline-command", f"{base} baseline {{alias}}"]


def state(tmp_path: Path) -> dict[str, object]:
    result: dict[str, object] = json.loads((tmp_path / "reg/state.json").read_text())
    return result


def test_full_cycle_with_awkward_paths(runtime: Run, tmp_path: Path, commands: list[str]) -> None:
    model = tmp_path / "my model's dir $HOME"  # spaces, a quote and a dollar must arrive verbatim
    model.mkdir()
    (model / "m.bin").write_text("x")
    result = runtime("registry", "register", "--model", "churn", "--path", str(model), *commands)
    assert result.code == 0, result.err
    assert "registered churn version 1 with alias `challenger` (command registry)" in result.out
    assert state(tmp_path)["versions"] == [{"path": str(model), "files": ["m.bin"]}]

    (tmp_path / "m.json").write_text('{"auc": 0.8}')
    gate = ("gate", "--metrics", "m.json", "--gate", "auc:max_drop=0.05", "--baseline-registry", "champion", "--model", "churn")
    result = runtime(*gate, *commands)
    assert result.code == 0 and "the baseline command printed nothing" in result.out

    assert runtime("canary", "promote", "--model", "churn", *commands).code == 0
    assert state(tmp_path)["aliases"] == {"champion": "1"}
    assert state(tmp_path)["promoted_version_arg"] == "1"  # {version}: what register recorded here
    result = runtime(*gate, *commands)
    assert result.code == 1 and "dropped 0.1 (11.1%) vs baseline 0.9" in result.out

    result = runtime("registry", "baseline", "--model", "churn", "--out", "b.json", *commands)
    assert json.loads((tmp_path / "b.json").read_text()) == {"auc": 0.9, "version": 1}

    # canary rollback: this workspace's record says we promoted, so the rollback template runs
    runtime("registry", "register", "--model", "churn", "--path", str(model), *commands)
    runtime("canary", "promote", "--model", "churn", *commands)
    assert state(tmp_path)["aliases"] == {"champion": "2", "previous-champion": "1"}
    result = runtime("canary", "rollback", "--rollback", "true", "--model", "churn", *commands)
    assert result.code == 0 and "undid this run's promotion" in result.out
    assert state(tmp_path)["aliases"] == {"champion": "1"}
    # ...and without a record it leaves the registry alone
    result = runtime("canary", "rollback", "--rollback", "true", "--model", "churn", *commands)
    assert "left unchanged (no record that this run promoted a model)" in result.out
    assert state(tmp_path)["aliases"] == {"champion": "1"}


def test_fill_template_quotes_and_keeps_shell_variables() -> None:
    from mlgen.runtime.shell import fill_template

    filled = fill_template("push {path} --tag ${TAG} {model}", {"path": "a b'c", "model": "m"}, where="t")
    assert filled == "push 'a b'\"'\"'c' --tag ${TAG} m"


def test_unknown_placeholder_suggests_the_known_one(runtime: Run, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model/f").write_text("x")
    result = runtime("registry", "register", "--registry", "command", "--model", "churn", "--path", "model",
                     "--register-command", "upload {modle} {path}")
    assert result.code == 1
    assert "unknown placeholder {modle} (did you mean 'model'?)" in result.err


def test_failing_command_shows_its_output(runtime: Run, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model/f").write_text("x")
    result = runtime("registry", "register", "--registry", "command", "--model", "churn", "--path", "model",
                     "--register-command", "echo 'permission denied for {model}' >&2; exit 3")
    assert result.code == 1
    assert "the registry register command failed with exit code 3" in result.err
    assert "permission denied for churn" in result.err


def test_missing_template_and_bad_baseline_output(runtime: Run, tmp_path: Path) -> None:
    result = runtime("canary", "promote", "--registry", "command", "--model", "churn")
    assert result.code == 1 and "has no `promote` command" in result.err and "--promote-command" in result.err
    (tmp_path / "m.json").write_text('{"auc": 0.8}')
    result = runtime("gate", "--metrics", "m.json", "--gate", "auc:max_drop=0.05", "--baseline-registry", "champion",
                     "--model", "churn", "--registry", "command", "--baseline-command", "echo champion-is-v3")
    assert result.code == 1 and "printed something that is not JSON" in result.err
