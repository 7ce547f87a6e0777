"""Every registry transition survives a failure of any one of its HTTP calls.

A fault proxy sits between mlgen and a real `mlflow server`. For each command (promote, register,
rollback) the calls of an undisturbed run are counted; then, for every call k and both ways a call
can fail (the server never saw it / the server did it but the answer was lost), the command runs
with call k failing, and the registry must end right after (a) a retry of the same command and
(b) the rollback job's `mlgen canary rollback`.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import Result
from tests.runtime.faultproxy import FaultPlan, fault_proxy

Run = Callable[..., Result]
MODES = ("before", "after")


@pytest.fixture(scope="module")
def proxy(mlflow_server: str) -> Iterator[tuple[str, FaultPlan]]:
    with fault_proxy(mlflow_server) as found:
        yield found


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # an injected 500 must not be retried away


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def intent(run: str, replaces: str | None, previous: str | None) -> str:
    return json.dumps({"run": run, "replaces": replaces, "previous": previous, "done": False}, sort_keys=True)


@dataclass
class Scenario:
    """One registry state to start from, the command to break, and what must hold afterwards."""

    name: str
    versions: list[dict[str, str]]  # tags of versions 1..n
    aliases: dict[str, str]
    command: list[str]
    after_retry: Callable[[dict[str, str], Any, str, str], None]
    after_rollback: Callable[[dict[str, str], Any, str, str], None]


def _promoted(aliases: dict[str, str], api: Any, model: str, run: str) -> None:
    assert aliases == {"champion": "3", "previous-champion": "2"}


def _promotion_undone(aliases: dict[str, str], api: Any, model: str, run: str) -> None:
    assert aliases == {"champion": "2", "previous-champion": "1", "canary-failed": "3"}
    assert api.get_model_version(model, "3").tags["mlgen.canary"] == "failed"


def _registered(aliases: dict[str, str], api: Any, model: str, run: str) -> None:
    ours = _versions_of(api, model, run)
    assert len(ours) == 1, f"a retry must not register the same model twice: versions {ours}"
    assert aliases == {"champion": "2", "previous-champion": "1", "challenger": ours[0]}


def _register_undone(aliases: dict[str, str], api: Any, model: str, run: str) -> None:
    failed = aliases.pop("canary-failed", None)
    assert aliases == {"champion": "2", "previous-champion": "1"}
    assert failed is None or failed in _versions_of(api, model, run)


def _rolled_back(aliases: dict[str, str], api: Any, model: str, run: str) -> None:
    assert aliases == {"champion": "2", "previous-champion": "1"}


def _rollback_consistent(aliases: dict[str, str], api: Any, model: str, run: str) -> None:
    # The rollback job of a run that promoted nothing leaves the hand-made rollback either not
    # begun or finished, never half-way (champion == previous-champion).
    assert aliases in ({"champion": "3", "previous-champion": "2"}, {"champion": "2", "previous-champion": "1"})


def _versions_of(api: Any, model: str, run: str) -> list[str]:
    found = api.search_model_versions(f"name = '{model}' and tags.`mlgen.run_id` = '{run}'")
    return sorted(str(v.version) for v in found)


SCENARIOS = [
    Scenario("promote", [{"mlgen.promotion": intent("old-1", None, None)}, {"mlgen.promotion": intent("old-2", "1", None)},
                         {"mlgen.run_id": "{run}"}],
             {"champion": "2", "previous-champion": "1", "challenger": "3"},
             ["canary", "promote"], _promoted, _promotion_undone),
    Scenario("register", [{"mlgen.promotion": intent("old-1", None, None)}, {"mlgen.promotion": intent("old-2", "1", None)}],
             {"champion": "2", "previous-champion": "1"},
             ["registry", "register", "--path", "{model_dir}"], _registered, _register_undone),
    Scenario("rollback", [{"mlgen.promotion": intent("old-1", None, None)}, {"mlgen.promotion": intent("old-2", "1", None)},
                          {"mlgen.promotion": intent("old-3", "2", "1")}],
             {"champion": "3", "previous-champion": "2"},
             ["registry", "rollback"], _rolled_back, _rollback_consistent),
]


class Harness:
    def __init__(self, runtime: Run, server: str, proxy_url: str, plan: FaultPlan, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.runtime, self.server, self.proxy_url, self.plan = runtime, server, proxy_url, plan
        self.tmp_path, self.monkeypatch, self.api = tmp_path, monkeypatch, client(server)
        self.counter = itertools.count()
        self.seed = self.api.create_run("0")  # the versions of a scenario are made from one run's files

    def setup(self, scenario: Scenario) -> tuple[str, str]:
        """A fresh model in the scenario's state, a fresh workspace and a fresh CI run id."""
        case = next(self.counter)
        model, run = f"faults-{scenario.name}-{uuid.uuid4().hex[:8]}", f"run-{uuid.uuid4().hex[:8]}"
        self.api.create_registered_model(model)
        for tags in scenario.versions:
            filled = {k: v.replace("{run}", run) for k, v in tags.items()}
            self.api.create_model_version(model, source=f"{self.seed.info.artifact_uri}/model",
                                          run_id=self.seed.info.run_id, tags=filled)
        for alias, version in scenario.aliases.items():
            self.api.set_registered_model_alias(model, alias, version)
        workspace = self.tmp_path / f"case-{case}"
        (workspace / "model").mkdir(parents=True)
        (workspace / "model" / "weights.bin").write_bytes(b"weights of " + model.encode())
        self.monkeypatch.chdir(workspace)
        self.monkeypatch.setenv("MLGEN_RUN_ID", run)
        return model, run

    def command(self, scenario: Scenario, model: str) -> list[str]:
        args = [a.replace("{model_dir}", "model") for a in scenario.command]
        return [*args, "--model", model, "--tracking-uri", self.proxy_url]

    def run(self, args: list[str], fail_at: int | None = None, mode: str = "before") -> Result:
        self.plan.reset(fail_at, mode)
        return self.runtime(*args)

    def aliases(self, model: str) -> dict[str, str]:
        return {k: str(v) for k, v in self.api.get_registered_model(model).aliases.items()}


@pytest.fixture
def harness(runtime: Run, mlflow_server: str, proxy: tuple[str, FaultPlan], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(runtime, mlflow_server, proxy[0], proxy[1], tmp_path, monkeypatch)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_failed_call_is_repaired_by_a_retry_and_by_the_rollback_job(harness: Harness, scenario: Scenario) -> None:
    model, run = harness.setup(scenario)
    clean = harness.run(harness.command(scenario, model))
    assert clean.code == 0, clean.err
    calls = list(harness.plan.calls)
    scenario.after_retry(harness.aliases(model), harness.api, model, run)
    assert len(calls) >= 3, calls

    problems: list[str] = []
    for k, mode, follow_up in itertools.product(range(len(calls)), MODES, ("retry", "rollback job")):
        model, run = harness.setup(scenario)
        case = f"call {k} ({calls[k]}) failing {mode} the server, then the {follow_up}"
        broken = harness.run(harness.command(scenario, model), fail_at=k, mode=mode)
        if broken.code != 1 or harness.proxy_url not in broken.err or "Traceback" in broken.err:
            problems.append(f"{case}: the failure was not reported as a user error naming the server: "
                            f"{broken.code} {broken.err[-300:]}")
            continue
        if follow_up == "retry":
            again = harness.run(harness.command(scenario, model))
            check = scenario.after_retry
        else:
            again = harness.run(["canary", "rollback", "--rollback", "true", "--model", model,
                                 "--tracking-uri", harness.proxy_url])
            check = scenario.after_rollback
        if again.code != 0:
            problems.append(f"{case}: exit {again.code}: {again.err[-300:]}")
            continue
        try:
            check(harness.aliases(model), harness.api, model, run)
        except AssertionError as exc:
            problems.append(f"{case}: {harness.aliases(model)}: {exc}")
    assert not problems, f"{len(problems)} of {len(calls) * 4} cases ended wrong:\n" + "\n".join(problems)


def test_a_rolled_back_version_is_never_promoted_again(harness: Harness) -> None:
    scenario = SCENARIOS[0]
    model, _ = harness.setup(scenario)
    assert harness.run(harness.command(scenario, model)).code == 0
    undo = harness.run(["canary", "rollback", "--rollback", "true", "--model", model, "--tracking-uri", harness.proxy_url])
    assert undo.code == 0 and "undid this run's promotion of v3; champion is now v2" in undo.out
    # The canary job runs again (a re-run, or another pipeline that finds the version): refused.
    harness.api.set_registered_model_alias(model, "challenger", "3")
    again = harness.run(harness.command(scenario, model))
    assert again.code == 1
    assert f"version 3 of `{model}` failed its canary and is not promoted" in again.err
    assert harness.aliases(model) == {"champion": "2", "previous-champion": "1", "canary-failed": "3", "challenger": "3"}
