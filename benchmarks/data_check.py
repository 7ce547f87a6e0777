"""`mlgen data check` on CSVs where every row fails one rule: time linear in rows, memory bounded.

    python benchmarks/data_check.py [--rows SMALL LARGE] [--runs N]

Prints the time ratio LARGE / SMALL rows (goal <= 12; linear is 10), the peak memory above what
pandas alone needs to hold the LARGE frame (goal <= 200 MiB), and the size of the report (counts
plus the first rows of each finding, never one line per row).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTRACT = """\
columns:
  id: {dtype: int, unique: true}
  age: {dtype: int, min: 0, max: 120}
  email: {dtype: str, pattern: "[a-z0-9]+@example[.]org"}
  score: {dtype: float, min: 0, max: 1}
"""
# What pandas needs by itself: the same libraries loaded, the same file read with its defaults.
PANDAS_ONLY = "import sys, pandas as pd, pandera.pandas, scipy.stats; frame = pd.read_csv(sys.argv[1])"


def write_csv(path: Path, rows: int) -> None:
    """Every row breaks `age: max` (500 > 120) and nothing else."""
    import numpy as np

    rng = np.random.default_rng(0)
    with path.open("w") as out:
        out.write("id,age,email,score\n")
        for start in range(0, rows, 100_000):
            ids = np.arange(start, min(rows, start + 100_000))
            scores = rng.random(len(ids))
            out.writelines(f"{i},500,user{i}@example.org,{s:.6f}\n" for i, s in zip(ids, scores, strict=True))


def run(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run; exit 1 (a failed check) is the expected outcome."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(cmd)}\n{stderr}")
    return elapsed, usage.ru_maxrss


def check_cmd(data: Path) -> list[str]:
    return [sys.executable, "-m", "mlgen", "data", "check", "--contract", "contract.yaml", "--junit", "r.xml", "--json", "r.json",
            str(data)]


def measure(small: int, large: int, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "contract.yaml").write_text(CONTRACT)
        files = {n: work / f"fail{n}.csv" for n in (small, large)}
        for n, path in files.items():
            write_csv(path, n)
        times: dict[int, list[float]] = {small: [], large: []}
        peak = 0
        for _ in range(runs):  # interleaved, so drift in machine load hits both sizes alike
            for n, path in files.items():
                seconds, rss = run(check_cmd(path), work)
                times[n].append(seconds)
                peak = max(peak, rss) if n == large else peak
        pandas_rss = max(run([sys.executable, "-c", PANDAS_ONLY, str(files[large])], work)[1] for _ in range(runs))
        report = json.loads((work / "r.json").read_text())["files"][str(files[large])]
        shown = sum(len(f["rows"]) for f in report["findings"])
        counted = sum(f["count"] for f in report["findings"])
    return {"small_s": statistics.median(times[small]), "large_s": statistics.median(times[large]),
            "extra_mib": (peak - pandas_rss) / 1024, "pandas_mib": pandas_rss / 1024,
            "rows_shown": shown, "rows_counted": counted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs=2, default=[100_000, 1_000_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    small, large = args.rows
    m = measure(small, large, args.runs)
    print(f"data check, {large:,} / {small:,} failing rows: {m['large_s'] / m['small_s']:.2f} "
          f"(goal <= {12 * large / small / 10:g}, linear is {large / small:g})  [{m['large_s']:.1f} s vs {m['small_s']:.1f} s]")
    print(f"data check, peak RSS above pandas holding {large:,} rows: {m['extra_mib']:.0f} MiB (goal <= 200)  "
          f"[pandas alone {m['pandas_mib']:.0f} MiB]")
    print(f"data check, report of {large:,} failing rows: {m['rows_shown']:.0f} rows shown for "
          f"{m['rows_counted']:,.0f} counted (goal: a few per finding)")


if __name__ == "__main__":
    main()
