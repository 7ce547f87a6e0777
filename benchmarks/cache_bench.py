"""Warm vs cold pipeline on gitlab-ci-local: unchanged inputs restore the model and skip training."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pipeline_seconds(log: str) -> float:
    """The pipeline's wall time as gitlab-ci-local reports it (`pipeline finished in 28 s` / `1.5 min`):
    the jobs and the gaps between them, without the test runner's own set-up."""
    match = re.search(r"pipeline finished in ([0-9.]+) (ms|s|min)", log)
    if match is None:
        raise SystemExit(f"no pipeline duration in gitlab-ci-local's log:\n{log[-2000:]}")
    return float(match.group(1)) * {"ms": 0.001, "s": 1.0, "min": 60.0}[match.group(2)]


@contextmanager
def jobs_install_this_checkout(tmp: Path) -> Iterator[None]:
    """Let the jobs' `pip install 'mlgen-ci==X'` succeed offline with this checkout's code.

    A wheel of the checkout goes into a local index (building it fetches the build backend, as
    any `pip wheel` does), and a venv that sees the machine's packages comes first on PATH: pip
    installs into it when mlgen-ci is not installed already, never into the machine's Python.
    PYTHONPATH makes the jobs run this checkout whatever mlgen-ci is installed.
    """
    wheels, venv = tmp / "wheels", tmp / "venv"
    build_env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(ROOT)],
                   check=True, env=build_env, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    saved = dict(os.environ)
    os.environ.update({"PIP_FIND_LINKS": str(wheels), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def warm_cold_ratio(train_seconds: int = 10) -> tuple[float, float]:
    """(cold, warm) wall seconds of the churn pipeline for a merge request (validate, train, evaluate)."""
    from benchmarks._support import gitlab_merge_request, init_and_commit

    with tempfile.TemporaryDirectory() as tmp, jobs_install_this_checkout(Path(tmp)):
        repo = Path(tmp) / "repo"
        shutil.copytree(ROOT / "examples" / "churn", repo, ignore=shutil.ignore_patterns(".mlgen", "model", "__pycache__"))
        spec = repo / "mlgen.yaml"
        # The baseline comes from a file here: the benchmark measures the pipeline, not a registry.
        spec.write_text(spec.read_text().replace("baseline: {registry: champion}", "baseline: {file: baseline/metrics.json}"))
        subprocess.run([sys.executable, "-m", "mlgen", "compile"], cwd=repo, check=True, capture_output=True)
        init_and_commit(repo, "bench")
        variables = {"PIP_NO_INDEX": "1", "MLGEN_SLOW_TRAIN_SECONDS": str(train_seconds)}
        times = []
        for _ in range(2):
            returncode, log = gitlab_merge_request(repo, variables)
            if returncode != 0:
                raise SystemExit(f"benchmark pipeline failed:\n{log[-4000:]}")
            times.append(pipeline_seconds(log))
        return times[0], times[1]
