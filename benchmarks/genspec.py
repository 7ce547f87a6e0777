"""Generate large specs for the scale benchmark: chains with fan-out, fan-in and matrix legs."""

from __future__ import annotations

import sys


def spec(stages: int) -> str:
    lines = ["version: 1", "name: scale", "secrets: [TOKEN]", "env: {MLFLOW_TRACKING_URI: 'https://mlflow.example.com'}", "stages:"]
    lines.append("  - {name: s0, kind: validate, run: 'python check.py'}")
    kinds = ["train", "evaluate", "train", "validate", "train"]
    for i in range(1, stages - 2):
        kind = kinds[i % len(kinds)]
        # every fourth stage fans out from an older one; every seventh fans in two branches
        needs = f"[s{i - 1}]"
        if i % 4 == 0 and i >= 4:
            needs = f"[s{i - 4}]"
        if i % 7 == 0 and i >= 7:
            needs = f"[s{i - 1}, s{i - 3}]"
        if kind == "train":
            extra = f", outputs: [out/s{i}/], cache: {{key: ['data/**']}}"
            if i % 10 == 1:
                extra += ", matrix: {model: [a, b, c]}"
            lines.append(f"  - {{name: s{i}, kind: train, run: 'python train.py s{i}', needs: {needs}{extra}}}")
        elif kind == "evaluate":
            lines.append(f"  - {{name: s{i}, kind: evaluate, run: 'python eval.py', needs: {needs}, metrics: m{i}.json, "
                         "gates: {auc: {min: 0.8, max_drop: '2%'}}, baseline: {file: base.json}}")
        else:
            lines.append(f"  - {{name: s{i}, kind: validate, run: 'python check.py s{i}', needs: {needs}}}")
    n = stages - 2
    lines.append(f"  - {{name: s{n}, kind: register, model: m, path: out/s{n - 1}/, needs: [s{n - 1}]}}")
    lines.append(f"  - {{name: s{n + 1}, kind: canary, deploy: ./deploy.sh, check: ./check.sh, rollback: ./rollback.sh}}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(spec(int(sys.argv[1])))
