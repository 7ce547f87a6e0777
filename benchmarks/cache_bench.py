"""Warm vs cold pipeline on gitlab-ci-local: unchanged inputs restore the model and skip training."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def warm_cold_ratio(train_seconds: int = 5) -> tuple[float, float]:
    """(cold, warm) wall seconds of the churn pipeline for a merge request (validate, train, evaluate)."""
    from tests.engines.gitlab.runner import run_pipeline
    from tests.gitrepo import init_and_commit

    with tempfile.TemporaryDirectory() as tmp:
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
            start = time.perf_counter()
            run = run_pipeline(repo, branch="feature/bench", merge_request=True, variables=variables, timeout=900)
            times.append(time.perf_counter() - start)
            if run.result("evaluate") != "passed":
                raise SystemExit(f"benchmark pipeline failed:\n{run.stdout[-4000:]}")
        return times[0], times[1]
