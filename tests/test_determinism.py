"""The same spec compiles to the same bytes in every process.

Compiling twice in one process cannot catch an order that comes from a `set` of strings: string
hashes are salted per process (PYTHONHASHSEED), so the order only changes between processes.
Each example, and a wide spec with many stages, is compiled in processes with different seeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mlgen.targets import yamlout
from tests.support import ROOT, example_specs

SEEDS = ("0", "1", "2", "12345")
COMPILE = """
import json, sys
from pathlib import Path
from tests.support import compile_spec
print(json.dumps({p: compile_spec(Path(p)) for p in sys.argv[1:]}))
"""


def wide_spec(folder: Path) -> Path:
    """Many stages, matrix keys and env names: enough elements that a set's order shows."""
    stages = [{"name": f"check-{c}", "kind": "validate", "run": f"echo {c}", "env": {f"V_{c.upper()}": c for c in "qwertyuiop"}}
              for c in "abcdefgh"]
    stages.append({"name": "train", "kind": "train", "run": "true", "outputs": ["model/"],
                   "needs": [s["name"] for s in stages], "matrix": {"zeta": ["1"], "alpha": ["x", "y"], "mid": ["m"]}})
    stages.append({"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json",
                   "gates": {k: {"min": 0.1} for k in ("recall", "auc", "f1", "precision", "loss_x")}})
    spec = {"version": 1, "name": "wide", "env": {f"G_{c.upper()}": c for c in "zyxwvuts"}, "secrets": ["B_TOKEN", "A_TOKEN", "C_KEY"],
            "triggers": {"push": ["main", "dev", "release/1", "alpha"]}, "stages": stages}
    folder.mkdir()
    path = folder / "mlgen.yaml"
    path.write_text(yamlout.dump(spec), encoding="utf-8")
    return path


def compile_with_seed(specs: list[Path], seed: str) -> dict[str, dict[str, str]]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run([sys.executable, "-c", COMPILE, *map(str, specs)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, dict[str, str]] = json.loads(proc.stdout)
    return result


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    specs = [*example_specs(), wide_spec(tmp_path / "wide")]
    first, *others = [compile_with_seed(specs, seed) for seed in SEEDS]
    for seed, other in zip(SEEDS[1:], others):
        for spec in first:
            for target, text in first[spec].items():
                assert other[spec][target].encode() == text.encode(), f"{spec} ({target}) differs between PYTHONHASHSEED 0 and {seed}"
