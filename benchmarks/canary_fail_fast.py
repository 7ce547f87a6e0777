"""How fast a failing canary step gives up, as a ratio of the bake it would otherwise wait out.

    python benchmarks/canary_fail_fast.py

Moved out of the unit tests, where a wall-clock bound fails on a loaded machine for no fault of
the code. Prints `name: ratio (goal)`; a ratio near 1 means the step waited out the whole bake.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = f'{ROOT / "examples/churn/deploy.sh"} --weight "$MLGEN_CANARY_WEIGHT"'
CASES = {  # name -> (check command, extra flags, bake seconds)
    "failing check, 30 s bake": ("echo 'p95 too high' >&2; exit 4", ["--interval", "1s"], 30),
    "hanging check with --check-timeout 300ms, 30 s bake": ("sleep 60", ["--check-timeout", "300ms"], 30),
}


def elapsed(check: str, flags: list[str], bake: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "mlgen", "canary", "step", "--weight", "10", "--deploy", DEPLOY,
                   "--bake", f"{bake}s", "--check", check, *flags]
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        took = time.perf_counter() - started
    if proc.returncode != 1:
        raise SystemExit(f"expected the step to fail (exit 1), got {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return took


def main() -> None:
    for name, (check, flags, bake) in CASES.items():
        took = elapsed(check, flags, bake)
        print(f"{name}: {took / bake:.2f} (goal < 0.2)  [{took:.1f} s]", flush=True)


if __name__ == "__main__":
    main()
