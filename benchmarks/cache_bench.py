"""Warm vs cold pipeline on gitlab-ci-local: unchanged inputs restore the model and skip training."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
                        "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"})


def warm_cold_ratio(train_seconds: int = 5) -> tuple[float, float]:
    """(cold, warm) wall seconds of the churn pipeline on a feature branch (validate, train, evaluate)."""
    from tests.engines.gitlab.runner import run_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(ROOT / "examples" / "churn", repo, ignore=shutil.ignore_patterns(".mlgen", "model", "__pycache__"))
        spec = repo / "mlgen.yaml"
        # The baseline comes from a file here: the benchmark measures the pipeline, not a registry.
        spec.write_text(spec.read_text().replace("baseline: {registry: champion}", "baseline: {file: baseline/metrics.json}"))
        subprocess.run([sys.executable, "-m", "mlgen", "compile"], cwd=repo, check=True, capture_output=True)
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "bench")
        variables = {"PIP_NO_INDEX": "1", "MLGEN_SLOW_TRAIN_SECONDS": str(train_seconds)}
        times = []
        for _ in range(2):
            start = time.perf_counter()
            run = run_pipeline(repo, branch="feature/bench", variables=variables, timeout=900)
            times.append(time.perf_counter() - start)
            if run.result("evaluate") != "passed":
                raise SystemExit(f"benchmark pipeline failed:\n{run.stdout[-4000:]}")
        return times[0], times[1]
