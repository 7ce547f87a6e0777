"""The `mlflow` extra is mlflow-skinny: the registry client flow never needs what only full mlflow ships.

Full mlflow is installed for the tests (it runs the server), so the client flow runs in a
process where everything else is hidden: `mlflow` modules that mlflow-skinny does not ship,
and every installed package outside the dependencies of mlgen and mlflow-skinny. Optional
imports (IPython, say) then fail as they would where only mlflow-skinny is installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, files, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

from tests.runtime.conftest import subprocess_env

PROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# Hides modules as if their packages were not installed, then runs the client side as CI does.
DRIVER = """
import importlib.abc, json, sys
hidden_tops, skinny, hidden_dists = (set(json.loads(arg)) for arg in sys.argv[1:4])

class Hide(importlib.abc.MetaPathFinder):
    # Wraps each finder, so a hidden module is not found at all (find_spec() gives None too).
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in hidden_tops or (top == "mlflow" and name not in skinny):
            return None
        return self.finder.find_spec(name, path, target) if hasattr(self.finder, "find_spec") else None

    def find_distributions(self, *args, **kwargs):  # what importlib.metadata sees as installed
        found = getattr(self.finder, "find_distributions", lambda *a, **k: [])(*args, **kwargs)
        return [d for d in found if d.metadata["Name"].lower().replace("_", "-") not in hidden_dists]

    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()

sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
from mlgen.runtime.__main__ import main
for args in (["registry", "register", "--model", "m", "--path", "model"], ["registry", "promote", "--model", "m"],
             ["registry", "register", "--model", "m", "--path", "model"], ["registry", "promote", "--model", "m"],
             ["registry", "rollback", "--model", "m"], ["gate", "--metrics", "m.json", "--gate", "auc:max_drop=0.5",
             "--baseline-registry", "champion", "--model", "m"]):
    code = main(args)
    assert code == 0, (args, code)
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


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _hidden_modules() -> tuple[list[str], list[str], list[str]]:
    """Top-level modules of installed packages outside the allowed set, the mlflow modules of
    mlflow-skinny, and the distributions to hide (full mlflow among them)."""
    allowed = _closure(*(Requirement(r).name for r in PROJECT["dependencies"]), "mlflow-skinny", PROJECT["name"])
    by_top = packages_distributions()
    hidden = sorted(top for top, dists in by_top.items() if top != "mlflow" and not any(_normal(d) in allowed for d in dists))
    hidden_dists = sorted({_normal(d) for dists in by_top.values() for d in dists} - allowed)
    skinny = sorted(".".join(Path(str(f)).with_suffix("").parts).removesuffix(".__init__")
                    for f in files("mlflow-skinny") or [] if str(f).startswith("mlflow/") and str(f).endswith(".py"))
    return hidden, skinny, hidden_dists


def test_registry_client_flow_needs_only_mlflow_skinny(tmp_path: Path, mlflow_server: str) -> None:
    assert [Requirement(r).name for r in PROJECT["optional-dependencies"]["mlflow"]] == ["mlflow-skinny"]
    hidden, skinny, hidden_dists = _hidden_modules()
    assert {"flask", "sqlalchemy", "alembic"} <= set(hidden)  # what full mlflow adds for its server is hidden
    assert "mlflow" in hidden_dists and "mlflow-skinny" not in hidden_dists
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"w")
    (tmp_path / "m.json").write_text(json.dumps({"auc": 0.9}))
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(hidden), json.dumps(skinny), json.dumps(hidden_dists)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=subprocess_env({"MLFLOW_TRACKING_URI": mlflow_server}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rolled back m" in proc.stdout
