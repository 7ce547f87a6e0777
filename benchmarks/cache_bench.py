"""Warm vs cold pipeline on gitlab-ci-local: unchanged inputs restore the model and skip training.

    python -m benchmarks.cache_bench [--pairs 3] [--train-seconds 10]

Prints each pair's ratio and every job's own time in both runs (what the fixed costs are).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    # As a runner's `pip install mlgen-ci` leaves it: the `mlgen` script beside the job's python.
    # Without it, `mlgen` is whatever the machine has on PATH (a pyenv shim costs a shell and a
    # version lookup per call, a few tenths of a second under load, that no CI runner pays).
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--ignore-installed", "--find-links", str(wheels), "mlgen-ci"], check=True, env=build_env,
                   stdout=subprocess.DEVNULL)
    saved = dict(os.environ)
    os.environ.update({"PIP_FIND_LINKS": str(wheels), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass(frozen=True)
class Run:
    """One pipeline: its wall time and each job's own time (`<job> finished in 1.2 s`)."""

    seconds: float
    jobs: dict[str, float]


def job_seconds(log: str) -> dict[str, float]:
    found = re.findall(r"^(\S.*?)\s+finished in ([0-9.]+) (ms|s|min)$", log, re.MULTILINE)
    units = {"ms": 0.001, "s": 1.0, "min": 60.0}
    return {name.strip(): float(n) * units[unit] for name, n, unit in found if name.strip() != "pipeline"}


def _churn_repo(repo: Path) -> None:
    from benchmarks._support import init_and_commit

    shutil.copytree(ROOT / "examples" / "churn", repo, ignore=shutil.ignore_patterns(".mlgen", "model", "__pycache__"))
    spec = repo / "mlgen.yaml"
    # The baseline comes from a file here: the benchmark measures the pipeline, not a registry.
    spec.write_text(spec.read_text().replace("baseline: {registry: champion}", "baseline: {file: baseline/metrics.json}"))
    subprocess.run([sys.executable, "-m", "mlgen", "compile"], cwd=repo, check=True, capture_output=True)
    init_and_commit(repo, "bench")


def warm_cold_runs(train_seconds: int = 10, pairs: int = 1) -> list[tuple[Run, Run]]:
    """(cold, warm) runs of the churn pipeline for a merge request (validate, train, evaluate, report),
    `pairs` times, each pair in a fresh clone (an empty cache), so load drift hits both runs of a pair alike."""
    from benchmarks._support import gitlab_merge_request

    variables = {"PIP_NO_INDEX": "1", "MLGEN_SLOW_TRAIN_SECONDS": str(train_seconds)}
    out = []
    with tempfile.TemporaryDirectory() as tmp, jobs_install_this_checkout(Path(tmp)):
        for i in range(pairs):
            repo = Path(tmp) / f"repo{i}"
            _churn_repo(repo)
            runs = []
            for _ in range(2):
                returncode, log = gitlab_merge_request(repo, variables)
                if returncode != 0:
                    raise SystemExit(f"benchmark pipeline failed:\n{log[-4000:]}")
                runs.append(Run(pipeline_seconds(log), job_seconds(log)))
            out.append((runs[0], runs[1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--train-seconds", type=int, default=10)
    args = parser.parse_args()
    for cold, warm in warm_cold_runs(args.train_seconds, args.pairs):
        load = os.getloadavg()[0]
        print(f"warm / cold {warm.seconds / cold.seconds:.2f}  [{warm.seconds:.1f} s vs {cold.seconds:.1f} s, load {load:.1f}]")
        for job in dict.fromkeys([*cold.jobs, *warm.jobs]):
            print(f"    {job:<20} cold {cold.jobs.get(job, 0):5.2f} s  warm {warm.jobs.get(job, 0):5.2f} s")


if __name__ == "__main__":
    main()
