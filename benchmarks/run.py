"""Measure mlgen's speed targets as ratios against reference commands run side by side.

    python benchmarks/run.py [--quick]

Prints one line per target: `name: ratio (goal)`. Ratios, not seconds, so the numbers carry
across machines; both sides of a ratio are measured in the same run, interleaved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PY = sys.executable
MLGEN = str(BIN / "mlgen")


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one run of `cmd`."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss


def median_pair(a: Callable[[], float], b: Callable[[], float], runs: int) -> tuple[float, float]:
    xs, ys = [], []
    for _ in range(runs):  # interleaved, so drift in machine load hits both sides alike
        xs.append(a())
        ys.append(b())
    return statistics.median(xs), statistics.median(ys)


def line(name: str, ratio: float, goal: str, detail: str = "") -> None:
    print(f"{name}: {ratio:.2f} ({goal}){'  ' + detail if detail else ''}", flush=True)


def bench_check(runs: int) -> None:
    churn = ROOT / "examples" / "churn"
    # The yardstick is the interpreter that runs `mlgen` itself: a faster or slower Python elsewhere
    # would move the ratio without mlgen changing.
    check, base = median_pair(lambda: timed([MLGEN, "check"], churn)[0], lambda: timed([PY, "-I", "-c", "pass"], churn)[0], runs)
    line(f"check, up to date, churn, vs `{PY} -I -c pass`", check / base, "goal <= 2.0",
         f"[{check * 1000:.1f} ms vs {base * 1000:.1f} ms]")
    cjs = str(BIN / "check-jsonschema")
    workflow = ".github/workflows/mlgen.yml"
    check, other = median_pair(lambda: timed([MLGEN, "check"], churn)[0],
                               lambda: timed([cjs, "--builtin-schema", "vendor.github-workflows", workflow], churn)[0], max(3, runs // 3))
    line("check, up to date, vs check-jsonschema on the workflow", check / other, "goal < 1", f"[{check * 1000:.0f} ms vs {other * 1000:.0f} ms]")


def bytecode_written() -> None:
    """Write the checkout's bytecode, as installing a package does. Where PYTHONDONTWRITEBYTECODE
    is set (as in many containers) every timed run would otherwise compile each of mlgen's modules
    from source again, a tenth of a second no installed copy pays, while the yardstick's packages
    come with their bytecode."""
    import compileall

    compileall.compile_dir(str(ROOT / "src"), quiet=1)


def checkout_env() -> dict[str, str]:
    """Run this checkout's mlgen, whatever mlgen-ci the interpreter has installed."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}


def bench_compile(runs: int, stages: int = 1000) -> None:
    """Compile of a large spec (fan-out, fan-in, matrix, caches, gates) vs importing the stack it uses."""
    from benchmarks.genspec import spec

    yardstick = [PY, "-c", "import pydantic, ruamel.yaml, jsonschema, typer"]
    bytecode_written()
    env = checkout_env()
    peak = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "mlgen.yaml").write_text(spec(stages), encoding="utf-8")

        def compile_once() -> float:
            nonlocal peak
            seconds, rss = timed([PY, "-m", "mlgen", "compile"], work, env)
            peak = max(peak, rss)
            return seconds

        compile_s, base = median_pair(compile_once, lambda: timed(yardstick, work, env)[0], runs)
    line(f"compile, {stages} stages, vs python -c 'import pydantic, ruamel.yaml, jsonschema, typer'", compile_s / base,
         "goal <= 8", f"[{compile_s:.2f} s vs {base:.2f} s]")
    line(f"compile, {stages} stages, peak RSS / 150 MiB", peak / 1024 / 150, "goal <= 1", f"[{peak / 1024:.0f} MiB]")


def bench_scale(sizes: list[int]) -> None:
    """Linearity: compile time grows with the spec, not faster."""
    from benchmarks.genspec import spec

    results = {}
    bytecode_written()
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            folder = Path(tmp) / f"s{n}"
            folder.mkdir()
            (folder / "mlgen.yaml").write_text(spec(n))
            results[n] = timed([PY, "-m", "mlgen", "compile"], folder, checkout_env())
            print(f"  scale {n} stages: {results[n][0]:.2f} s, peak RSS {results[n][1] / 1024:.0f} MiB", flush=True)
    small, large = sizes[-2], sizes[-1]
    line(f"scale, compile time {large} / {small} stages", results[large][0] / results[small][0],
         f"goal <= {1.2 * large / small:.0f}, linear is {large / small:.0f}")


def bench_cache(quick: bool) -> None:
    """Warm vs cold pipeline on gitlab-ci-local: the second run restores the model and skips training.

    The yardstick is the cold run of the same pair (a fresh clone, empty caches), right before it.
    """
    from benchmarks.cache_bench import warm_cold_runs

    seconds = 5 if quick else 10
    pairs = warm_cold_runs(train_seconds=seconds, pairs=1 if quick else 3)
    ratios = sorted(warm.seconds / cold.seconds for cold, warm in pairs)
    each = ", ".join(f"{warm.seconds:.1f} s vs {cold.seconds:.1f} s" for cold, warm in pairs)
    line(f"cache, gitlab-ci-local pipeline of the churn merge request, warm / cold run of the same pair (training {seconds} s)",
         statistics.median(ratios), "goal <= 0.35",
         f"[median of {len(ratios)}: {' '.join(f'{r:.2f}' for r in ratios)}; {each}; load {os.getloadavg()[0]:.1f}]")


def bench_data_check(quick: bool) -> None:
    """`mlgen data check` where every row fails a rule: linear time, bounded memory and report."""
    from benchmarks.data_check import measure

    small, large = (20_000, 200_000) if quick else (100_000, 1_000_000)
    m = measure(small, large, 1 if quick else 3)
    line(f"data check, {large:,} / {small:,} failing rows", m["large_s"] / m["small_s"], "goal <= 12, linear is 10",
         f"[{m['large_s']:.1f} s vs {m['small_s']:.1f} s]")
    line(f"data check, peak RSS above pandas holding {large:,} rows / 200 MiB", m["extra_mib"] / 200, "goal <= 1",
         f"[{m['extra_mib']:.0f} MiB; report shows {m['rows_shown']:.0f} of {m['rows_counted']:,.0f} rows]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller scale (for CI smoke runs)")
    args = parser.parse_args()
    runs = 5 if args.quick else 15
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    bench_check(runs)
    bench_compile(3 if args.quick else 5, 200 if args.quick else 1000)
    bench_scale([10, 100] if args.quick else [100, 1000])
    bench_cache(args.quick)
    bench_data_check(args.quick)


if __name__ == "__main__":
    main()
