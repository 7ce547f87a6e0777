"""The `mlflow` extra is mlflow-skinny: the registry client flow never needs what only full mlflow ships.

Full mlflow is installed for the tests (it runs the server), so the proof is what the client
flow loads: every `mlflow` module it imports is a file of mlflow-skinny, and every other
package it imports is a dependency of mlgen or of mlflow-skinny.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement

from tests.runtime.conftest import subprocess_env

PROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# Runs the client side as CI does, then reports every module it loaded and where from.
DRIVER = """
import json, sys
from mlgen.runtime.__main__ import main
for args in (["registry", "register", "--model", "m", "--path", "model"], ["registry", "promote", "--model", "m"],
             ["registry", "register", "--model", "m", "--path", "model"], ["registry", "promote", "--model", "m"],
             ["registry", "rollback", "--model", "m"], ["gate", "--metrics", "m.json", "--gate", "auc:max_drop=0.5",
             "--baseline-registry", "champion", "--model", "m"]):
    code = main(args)
    assert code == 0, (args, code)
print(json.dumps({name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}))
"""


def _closure(*names: str) -> set[str]:
    """Distributions required (without extras) by `names`, recursively, normalised."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for line in requirements:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_registry_client_flow_needs_only_mlflow_skinny(tmp_path: Path, mlflow_server: str) -> None:
    from importlib.metadata import files, packages_distributions

    extra_deps = [Requirement(r).name for r in PROJECT["optional-dependencies"]["mlflow"]]
    assert extra_deps == ["mlflow-skinny"]
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"w")
    (tmp_path / "m.json").write_text(json.dumps({"auc": 0.9}))
    proc = subprocess.run([sys.executable, "-c", DRIVER], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=subprocess_env({"MLFLOW_TRACKING_URI": mlflow_server}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded: dict[str, str | None] = json.loads(proc.stdout.strip().splitlines()[-1])

    skinny = {str(f) for f in files("mlflow-skinny") or []}
    mlflow_files = {name: path for name, path in loaded.items() if name.split(".")[0] == "mlflow" and path}
    assert mlflow_files
    outside = sorted(name for name, path in mlflow_files.items()
                     if not any(Path(path).as_posix().endswith("/" + f) for f in skinny if f.startswith("mlflow/")))
    assert outside == []

    allowed = _closure(*(Requirement(r).name for r in PROJECT["dependencies"]), "mlflow-skinny")
    by_module = packages_distributions()
    third_party = {d for name in loaded for d in by_module.get(name.split(".")[0], [])}
    extra = sorted(d for d in third_party if re.sub(r"[-_.]+", "-", d).lower() not in allowed)
    assert extra == []
