"""Do confidence-bound gates tell a real regression from noise? Calibration, power and speed.

Models are simulated in the binormal model: a model's score is `d * y + noise` with unit-variance
noise in each class, so its true ROC AUC is Φ(d / √2) exactly. Two models share part of their
noise (correlation `rho`), as two models trained on the same data do.

    python benchmarks/gate_stats.py            # everything (a few minutes on 2 cores)
    python benchmarks/gate_stats.py speed      # one part: calibration, power or speed

Prints pass rates of a `max_drop` gate on ROC AUC, with the bootstrap bound (confidence 0.95)
and with today's point comparison, and the time and memory of 2,000 paired resamples of 100,000
examples.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
from statistics import NormalDist

import numpy as np

from mlgen.runtime.gate import stats

NORMAL = NormalDist()
RHO = 0.9  # two models trained on the same data share most of their errors
POSITIVE_RATE = 0.3


def separation(auc: float) -> float:
    return math.sqrt(2) * NORMAL.inv_cdf(auc)


def simulate(rng: np.random.Generator, n: int, champion_auc: float, challenger_auc: float,
             rho: float = RHO) -> tuple[stats.Predictions, stats.Predictions]:
    y = (rng.random(n) < POSITIVE_RATE).astype(np.float64)
    shared = rng.normal(size=n)

    def model(auc: float) -> np.ndarray:
        return np.asarray(separation(auc) * y + math.sqrt(rho) * shared + math.sqrt(1 - rho) * rng.normal(size=n))

    return (stats.Predictions(y, model(challenger_auc), ids=np.arange(n)),
            stats.Predictions(y, model(champion_auc), ids=np.arange(n)))


def pass_rates(*, pipelines: int, n: int, champion_auc: float, drop: float, margin: float, resamples: int,
               seed: int, rho: float = RHO) -> tuple[float, float]:
    """(bootstrap gate pass rate, point comparison pass rate) for `auc: {max_drop: margin}`."""
    rng = np.random.default_rng(seed)
    bound_passes = point_passes = 0
    for i in range(pipelines):
        challenger, champion = simulate(rng, n, champion_auc, champion_auc - drop, rho)
        result = stats.compare("roc_auc", challenger, champion, resamples=resamples, seed=seed * 100_000 + i)
        assert result.difference is not None
        bound_passes += result.difference.lower >= -margin
        point_passes += result.difference.estimate >= -margin
    return bound_passes / pipelines, point_passes / pipelines


def calibration() -> dict[str, float]:
    bound, point = pass_rates(pipelines=1000, n=2000, champion_auc=0.80, drop=0.01, margin=0.01,
                              resamples=stats.DEFAULT_RESAMPLES, seed=1)
    print(f"calibration: true drop = margin = 0.01, n = 2,000, 1,000 pipelines: the gate passes {bound:.1%} "
          f"(goal <= 5%); the point comparison passes {point:.1%}")
    return {"calibration_bound": bound, "calibration_point": point}


def power() -> dict[str, float]:
    out = {}
    for rho in (0.9, 0.75):
        aa, aa_point = pass_rates(pipelines=200, n=10_000, champion_auc=0.80, drop=0.0, margin=0.01, resamples=1000,
                                  seed=2, rho=rho)
        bad, bad_point = pass_rates(pipelines=200, n=10_000, champion_auc=0.80, drop=0.03, margin=0.01, resamples=1000,
                                    seed=3, rho=rho)
        print(f"power (model noise correlation {rho}): A/A, n = 10,000, max_drop 0.01: passes {aa:.1%} (goal >= 95%; "
              f"point comparison {aa_point:.1%}); a true drop of 0.03 fails {1 - bad:.1%} (goal >= 95%; point "
              f"comparison {1 - bad_point:.1%})")
        out[f"aa_pass_{rho}"], out[f"drop_fail_{rho}"] = aa, 1 - bad
    return out


def _speed_child() -> None:
    rng = np.random.default_rng(0)
    challenger, champion = simulate(rng, 100_000, 0.8, 0.8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    stats.compare("roc_auc", challenger, champion, resamples=2000, seed=1)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "added_mib": (peak - before) / 1024}))


def speed() -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "_speed_child"], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    print(f"speed: 2,000 paired resamples of 100,000 examples, ROC AUC: {result['seconds']:.2f} s (goal <= 2 s), "
          f"peak {result['peak_mib']:.0f} MiB, {result['added_mib']:.0f} MiB above the data (goal < 500 MiB)")
    return result


PARTS = {"calibration": calibration, "power": power, "speed": speed}


def main(argv: list[str]) -> int:
    if argv[:1] == ["_speed_child"]:
        _speed_child()
        return 0
    for name in argv or list(PARTS):
        PARTS[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
