"""Two pipelines in flight against a real MLflow server: each rollout acts on the version it registered.

The command lines are the ones the compiler generates (taken from the plan), run in each pipeline's
own workspace, interleaved in many orders. Whatever the order, no version becomes champion that its
own pipeline did not canary at 100%, and every deploy, check and rollback command is told the
version its pipeline registered.
"""

from __future__ import annotations

import itertools
import json
import random
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgen.compile import plan
from mlgen.spec.models import Pipeline
from tests.runtime.conftest import Result

Run = Callable[..., Result]
_models = itertools.count()


def _spec(model: str, log: Path) -> dict[str, Any]:
    record = f'echo "$MLGEN_RUN_ID $0 v$MLGEN_MODEL_VERSION w$MLGEN_CANARY_WEIGHT" >> {shlex.quote(str(log))}'
    return {
        "version": 1, "name": "roll", "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"},
        "stages": [
            {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"]},
            {"name": "register", "kind": "register", "registry": "mlflow", "model": model, "path": "model/"},
            {"name": "canary", "kind": "canary", "steps": [10, 100], "bake": "200ms", "interval": "100ms",
             "deploy": f"sh -c {shlex.quote(record)} deploy", "check": f"sh -c {shlex.quote(record)} check",
             "rollback": f"sh -c {shlex.quote(record)} rollback"},
        ],
        "targets": {"github": {"path": "gh.yml"}},
    }


def _runtime_args(script: str) -> list[str]:
    """The generated command line (after its shellcheck comment) as the runtime's argv."""
    line = [ln for ln in script.splitlines() if not ln.startswith("#")][-1]
    words = shlex.split(line)
    assert words[0] == "mlgen"
    return words[1:]


def _rollout(spec: dict[str, Any]) -> dict[str, list[list[str]]]:
    """job id -> the runtime commands the compiler gave it."""
    jobs = plan.build(Pipeline.model_validate(spec), "0").jobs
    return {j.id: [_runtime_args(c.script) for c in j.commands] for j in jobs if j.stage in ("register", "canary")}


class CiRun:
    """One CI run in its own workspace: register, the steps, promote; the step's rollback on failure."""

    def __init__(self, runtime: Run, root: Path, run_id: str, jobs: dict[str, list[list[str]]],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.runtime, self.run_id, self.monkeypatch = runtime, run_id, monkeypatch
        self.dir = root / run_id
        (self.dir / "model").mkdir(parents=True)
        (self.dir / "model" / "w.bin").write_text(run_id)
        self.commands = self._commands(jobs)
        self.failed_job: str | None = None
        self.passed_100 = False

    @staticmethod
    def _commands(jobs: dict[str, list[list[str]]]) -> Iterator[tuple[str, list[str]]]:
        for job_id in ("register", "canary-10", "canary-100"):
            for argv in jobs[job_id]:
                yield job_id, argv

    def next(self, jobs: dict[str, list[list[str]]]) -> bool:
        """Run this pipeline's next command; False once it has finished."""
        if self.failed_job == "done":
            return False
        if self.failed_job is not None:  # the failed step's rollback job, then the run is over
            for argv in jobs.get(f"{self.failed_job}-rollback", []):
                assert self(argv).code == 0
            self.failed_job = "done"
            return True
        try:
            job_id, argv = next(self.commands)
        except StopIteration:
            self.failed_job = "done"
            return False
        result = self(argv)
        if result.code != 0:
            self.failed_job = "done" if job_id == "register" else job_id
        elif job_id == "canary-100" and argv[:2] == ["canary", "step"]:
            self.passed_100 = True
        return True

    def __call__(self, argv: list[str]) -> Result:
        self.monkeypatch.chdir(self.dir)
        self.monkeypatch.setenv("MLGEN_RUN_ID", self.run_id)
        return self.runtime(*argv)

    def registered(self) -> str | None:
        path = self.dir / ".mlgen" / "registered.json"
        return str(json.loads(path.read_text())["version"]) if path.exists() else None


def _champion(uri: str, model: str) -> str | None:
    from mlflow import MlflowClient

    aliases: Any = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(model).aliases
    return str(aliases["champion"]) if "champion" in aliases else None


def _orders() -> list[list[str]]:
    """Interleavings of two runs: the classic race (both register, then both roll out) and random ones."""
    rng = random.Random(14)
    orders = [["a", "b"] + ["a"] * 12 + ["b"] * 12, ["a"] * 14 + ["b"] * 14]
    for _ in range(4):
        order = ["a"] * 14 + ["b"] * 14
        rng.shuffle(order)
        orders.append(order)
    return orders


@pytest.mark.parametrize("order", _orders(), ids=lambda o: "".join(o[:12]))
def test_interleaved_pipelines_never_promote_a_version_that_was_not_canaried(
        runtime: Run, tmp_path: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch, order: list[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    model = f"rollout{next(_models)}-{tmp_path.name[-12:].replace('_', '-')}"
    log = tmp_path / "actions.log"
    jobs = _rollout(_spec(model, log))
    runs = {name: CiRun(runtime, tmp_path, name, jobs, monkeypatch) for name in ("a", "b")}
    canaried: set[str] = set()
    for name in [*order, *["a", "b"] * 12]:  # the given order, then each run to its end
        run = runs[name]
        if not run.next(jobs):
            continue
        if run.passed_100 and run.registered():
            canaried.add(str(run.registered()))
        champion = _champion(mlflow_server, model) if any(r.registered() for r in runs.values()) else None
        assert champion is None or champion in canaried, f"v{champion} became champion without its canary"
    lines = [ln.split() for ln in log.read_text().splitlines()]
    for name, run in runs.items():
        seen = {version for run_id, _, version, _ in lines if run_id == name}
        assert seen <= {f"v{run.registered()}"}, f"run {name} acted on {seen}, registered v{run.registered()}"
    assert {v for _, what, v, _ in lines if what == "deploy"} == {f"v{r.registered()}" for r in runs.values()}


def test_generated_rollout_commands_all_read_the_registered_version() -> None:
    jobs = _rollout(_spec("m", Path("log")))
    for job_id, commands in jobs.items():
        for argv in commands:
            if argv[0] == "canary":
                assert argv[argv.index("--version-from") + 1] == ".mlgen/registered-m.json", (job_id, argv)


@pytest.mark.parametrize(("printed", "seen"), [("", "v"), ("build-7", "vbuild-7"), ("42", "v42")])
def test_a_command_registry_pins_whatever_version_its_register_command_printed(runtime: Run, tmp_path: Path,
                                                                             printed: str, seen: str) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_text("w")
    register = ["registry", "register", "--registry", "command", "--model", "m", "--path", "model",
                "--register-command", f"echo {shlex.quote(printed)}" if printed else "true"]
    assert runtime(*register).code == 0
    log = tmp_path / "deployed"
    step = runtime("canary", "step", "--weight", "10", "--deploy", f'echo "v$MLGEN_MODEL_VERSION" >> {log}',
                   "--bake", "100ms", "--interval", "50ms", "--check", "true", "--model", "m",
                   "--version-from", ".mlgen/registered-m.json")
    assert step.code == 0, step.out + step.err
    assert log.read_text().split() == [seen]  # no version printed: nothing pinned, the rollout still runs


@pytest.mark.parametrize(("record", "message"), [
    (None, "the record of the registered version is missing"),
    ("{", "the record of the registered version is unreadable"),
    ('{"model": "other", "version": "3"}', "the record is for model `other`, not `m`"),
    ('{"model": "m", "version": "x1", "registry": "mlflow"}', "the recorded MLflow version `x1` is not a version number"),
    ('[]', "this is not a record written by `mlgen registry register`"),
])
def test_a_bad_record_stops_the_step_before_any_traffic_moves(runtime: Run, tmp_path: Path, record: str | None,
                                                              message: str) -> None:
    if record is not None:
        (tmp_path / ".mlgen").mkdir()
        (tmp_path / ".mlgen" / "registered-m.json").write_text(record)
    step = runtime("canary", "step", "--weight", "10", "--deploy", f"touch {tmp_path / 'routed'}", "--bake", "1s",
                   "--check", "true", "--model", "m", "--version-from", ".mlgen/registered-m.json")
    assert step.code == 1 and message in step.err
    assert not (tmp_path / "routed").exists()
    # the rollback still routes traffic back when the record is missing
    if record is None:
        back = runtime("canary", "rollback", "--rollback", f"touch {tmp_path / 'back'}", "--version-from",
                       ".mlgen/registered-m.json")
        assert back.code == 0 and (tmp_path / "back").exists()
