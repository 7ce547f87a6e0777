"""The runtime's command line as a whole: help, dispatch, exit codes, and staying light."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.runtime.conftest import Result, run_cli, subprocess_env

Run = Callable[..., Result]
HEAVY = ("pandas", "numpy", "pandera", "scipy", "sklearn", "mlflow", "pyarrow")


@pytest.mark.parametrize(("command", "expected"), [
    (["gate"], ["--metrics", "--gate", "--baseline-file", "--baseline-registry", "--on-missing-baseline", "--junit", "--json"]),
    (["data", "check"], ["--contract", "--reference", "DATA", "--junit"]),
    (["registry", "register"], ["--model", "--path", "--alias", "--gate-results", "--register-command"]),
    (["registry", "promote"], ["--from-alias"]),
    (["registry", "rollback"], ["--model"]),
    (["registry", "baseline"], ["--out", "--alias"]),
    (["registry", "show"], ["--json"]),
    (["canary", "step"], ["--weight", "--deploy", "--bake", "--interval", "--check", "--check-url", "--threshold", "--promote"]),
    (["canary", "promote"], ["--from-alias", "--model"]),
    (["canary", "rollback"], ["--rollback", "--model"]),
])
def test_every_command_has_help(runtime: Run, command: list[str], expected: list[str]) -> None:
    result = runtime(*command, "--help")
    assert result.code == 0
    assert f"usage: mlgen {' '.join(command)}" in result.out
    for flag in expected:
        assert flag in result.out
    assert "--spec" in result.out or command == ["registry", "show"]


@pytest.mark.parametrize(("args", "message"), [
    ([], "the following arguments are required: COMMAND"),
    (["gat"], "invalid choice: 'gat'"),
    (["data"], "the following arguments are required: COMMAND"),
    (["gate", "--metric", "m.json"], "mlgen gate: unrecognized arguments --metric m.json (did you mean '--metrics'?)"),
    (["canary", "step", "--weight", "ten"], "argument --weight: invalid int value: 'ten'"),
])
def test_usage_errors_exit_1_not_2(runtime: Run, args: list[str], message: str) -> None:
    result = runtime(*args)
    assert result.code == 1  # 2 means "drift found" in mlgen
    assert message in result.err


def test_runtime_modules_import_no_heavy_library() -> None:
    """`mlgen compile`/`check` must stay fast: the runtime loads pandas & co only when a command runs."""
    modules = sorted(p.stem for p in (Path(__file__).parents[2] / "src/mlgen/runtime").rglob("*.py") if p.stem != "__main__")
    code = ("import sys, importlib, pkgutil, mlgen.runtime, mlgen.runtime.registry\n"
            "for m in pkgutil.walk_packages(mlgen.runtime.__path__, 'mlgen.runtime.'):\n"
            "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
            "from mlgen.runtime.cli import build_parser; build_parser().parse_args(['gate', '--gate', 'a:min=1'])\n"
            f"print(sorted(set(n.split('.')[0] for n in sys.modules) & {set(HEAVY)!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), check=True)
    assert proc.stdout.strip() == "[]"
    assert len(modules) > 15  # the walk really imported the package


def test_subprocess_exit_codes_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"auc": 0.9}')
    assert run_cli("gate", "--metrics", "m.json", "--gate", "auc:min=0.8", cwd=tmp_path).code == 0
    failed = run_cli("gate", "--metrics", "m.json", "--gate", "auc:min=0.95", cwd=tmp_path)
    assert failed.code == 1 and "gate FAILED" in failed.out
    broken = run_cli("gate", "--metrics", "missing.json", "--gate", "auc:min=0.8", cwd=tmp_path)
    assert broken.code == 1 and broken.err.startswith("error: missing.json: metrics file not found")
    assert "Traceback" not in broken.err


def test_the_top_level_mlgen_command_dispatches_here(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"auc": 0.9}')
    proc = subprocess.run([sys.executable, "-m", "mlgen", "gate", "--metrics", "m.json", "--gate", "auc:min=0.95"],
                          cwd=tmp_path, capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 1 and "gate FAILED" in proc.stdout
