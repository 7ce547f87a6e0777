"""Graph passes scale linearly: plan time for chains of register stages, as a ratio per doubling.

A chain of train -> evaluate -> register (registry baseline) -> canary blocks exercises every
graph relation (nearest register above and below, nearest evaluate, the producer of each register
path). Linear passes give a ratio near 2 per doubling; the old per-stage searches gave ~8.
Run: python -m benchmarks.graph_bench [--sizes 500 1000 2000]
"""

from __future__ import annotations

import argparse
import time

from mlgen.compile import plan
from mlgen.spec.models import Pipeline


def spec(blocks: int) -> dict[str, object]:
    stages: list[dict[str, object]] = []
    for i in range(blocks):
        stages += [
            {"name": f"t{i}", "kind": "train", "run": "true", "outputs": [f"model{i % 7}/"]},
            {"name": f"e{i}", "kind": "evaluate", "run": "true", "metrics": f"m{i}.json",
             "gates": {"auc": {"max_drop": 0.01}}, "baseline": {"registry": "champion"}},
            {"name": f"r{i}", "kind": "register", "model": f"m{i}", "path": f"model{i % 7}/"},
            {"name": f"c{i}", "kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "steps": [100]},
        ]
    return {"version": 1, "name": "chain", "stages": stages}


def seconds(stages: int) -> float:
    from pathlib import Path

    from mlgen.spec.load import check_pipeline
    from mlgen.spec.source import Source

    pipeline = Pipeline.model_validate(spec(stages // 4))
    start = time.perf_counter()
    assert not check_pipeline(pipeline, Source(path=Path("mlgen.yaml"), display="mlgen.yaml", raw=b""))
    plan.build(pipeline, "0")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    args = parser.parse_args()
    previous = None
    for size in args.sizes:
        took = seconds(size)
        ratio = f"  x{took / previous:.2f} vs previous size" if previous else ""
        print(f"graph: {size:>5} stages  {took:6.3f}s{ratio}")
        previous = took


if __name__ == "__main__":
    main()
