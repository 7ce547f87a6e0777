"""The one engine-runner interface (tests/engines/runner.py) says the same thing for the same run on
every engine: job statuses in the plan's job ids, a cache hit, a rollback, and each job's own log.

One small project runs twice per engine on main: a cached train stage and a two-step canary whose
health check fails at 100%. The first run trains, deploys 50%, fails at 100% and rolls back; the
second finds the training cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines import runner as engines
from tests.support import init_and_commit, run_mlgen

pytestmark = pytest.mark.engine

SPEC = """\
version: 1
name: iface
triggers: {push: [main], pull_request: true, manual: false}
stages:
  - {name: train, kind: train, run: python train.py, outputs: [model/], cache: {key: [data.txt, train.py]}}
  - name: canary
    kind: canary
    approval: false
    steps: [50, 100]
    bake: 1s
    interval: 1s
    deploy: echo "weight=$MLGEN_CANARY_WEIGHT" >> "$IFACE_LOG"
    check: "! grep -q weight=100 \\"$IFACE_LOG\\""
    rollback: echo IFACE-ROLLBACK >> "$IFACE_LOG"
"""
TRAIN = 'from pathlib import Path\nPath("model").mkdir(exist_ok=True)\nPath("model/m.txt").write_text("m")\nprint("IFACE-TRAINED")\n'


def make_repo(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "mlgen.yaml").write_text(SPEC, encoding="utf-8")
    (folder / "train.py").write_text(TRAIN, encoding="utf-8")
    (folder / "data.txt").write_text("1\n", encoding="utf-8")
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    init_and_commit(folder, "iface project")
    return folder


@pytest.fixture(scope="module", params=sorted(engines.ENGINES))
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[engines.EngineRun]:
    base = tmp_path_factory.mktemp(request.param)
    repo = make_repo(base / "repo")
    variables = {"PIP_NO_INDEX": "1", "IFACE_LOG": str(base / "deploy.log")}
    return [engines.run(request.param, repo, variables=variables, state=base, timeout=600) for _ in range(2)]


def test_statuses_in_plan_job_ids(runs: list[engines.EngineRun]) -> None:
    first = runs[0]
    assert first.statuses == {"train": "passed", "canary-50": "passed", "canary-50-rollback": "skipped",
                              "canary-100": "failed", "canary-100-rollback": "passed"}, first.log()[-4000:]


def test_cached_only_when_training_was_skipped(runs: list[engines.EngineRun]) -> None:
    first, second = runs
    assert not first.cached("train") and "IFACE-TRAINED" in first.log("train")
    assert second.cached("train"), second.log("train")[-4000:]
    assert "IFACE-TRAINED" not in second.log("train")
    assert not second.cached("canary-50")  # not a cached job: never "cached"


def test_each_job_has_its_own_log(runs: list[engines.EngineRun]) -> None:
    first = runs[0]
    assert "IFACE-TRAINED" in first.log("train") and "IFACE-TRAINED" not in first.log("canary-50")
    assert "IFACE-TRAINED" in first.log()
