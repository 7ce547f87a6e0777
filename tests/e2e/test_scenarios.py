"""examples/churn end to end on the three real engines, with the same outcome on all three.

Each engine gets its own copy of the project (a git repository), its own MLflow registry
(SQLite) and its own health service on loopback. The scenarios run in order per engine; the
engines run side by side. The test prints one table of per-stage outcomes and asserts that
every engine matches the expected outcome of every scenario, so the engines agree.

The review report's comment is a column of the table too: each engine talks to a loopback
stand-in of the GitHub or GitLab API (`tests/runtime/fakeapi.py`, which checks every request
against the published API description), and the requests it observed during a run are the
evidence for that run's cell: a pull/merge request posts exactly one comment, a second run edits
it, a run without a write token (as from a fork) posts nothing and its report job still passes,
and a push never calls the API.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.engines import runner as engines
from tests.runtime.fakeapi import FakeApi, serve
from tests.support import EXAMPLES, die_with_parent, git, init_and_commit, tied

pytestmark = [pytest.mark.engine, pytest.mark.e2e]

STAGES = ["validate", "train", "evaluate", "register", "canary-10", "canary-50", "canary-100", "rollback"]
P, F, S, C = "passed", "failed", "skipped", "cached"
A = engines.ABORTED  # stopped mid-bake (a timeout or an abort), after which its rollback ran
NA = "n/a"  # the local engine cannot play the scenario; a semantic test holds the rule instead
ENGINES = tuple(engines.ENGINES)
# The report's comment, as the API stand-in saw it during one run: exactly one comment created,
# that one edited, or no request at all.
POSTED, EDITED, NO_REQUEST = "posted", "edited", "none"
MARKER = "<!-- mlgen-report:churn:evaluate -->"
REUSED = "reused from the cache"  # what the report says of a training leg restored from the cache


@dataclass(frozen=True)
class Scenario:
    name: str
    branch: str = "main"
    approve: bool = True
    pull_request: bool = False  # a pull/merge request from `branch` instead of a push
    broken_data: bool = False
    strong_champion: bool = False  # a champion the new model cannot match: a regression
    fail_canary_at: int | None = None  # the service is unhealthy while this canary weight is deployed
    expected: dict[str, str] = field(default_factory=dict)
    champion_changes: bool = False
    append_row: bool = False  # one more row in data/train.csv (committed) after a run that filled the cache
    # Where a platform rule (not the local engine) makes one target differ; each entry says why.
    engine_expected: dict[str, dict[str, str]] = field(default_factory=dict)
    bake: str = "1s"
    canary_timeout: str | None = None  # the canary stage's `timeout` (a fresh project), so it can fire in a test
    env: dict[str, str] = field(default_factory=dict)  # more job environment (harness knobs)
    # Engines that can play it; the others show n/a, and the semantic tests named here hold the rule.
    engines: tuple[str, ...] = ENGINES
    held_elsewhere: str = ""
    # engine -> what its log must show, so a knob the engine ignored cannot pass as the scenario played
    evidence: dict[str, str] = field(default_factory=dict)
    comment: str = NO_REQUEST  # what the report did on the pull/merge request (the API's requests show it)
    write_token: bool = True  # a pull/merge request run gets the report's write token (False: as from a fork)
    requires: tuple[str, ...] = ()  # scenarios that must run before it on the same project
    in_flight: int = 1  # pipelines of the commit started at the same time (sharing registry, service and locks)

    def expected_for(self, engine: str) -> dict[str, str]:
        if engine not in self.engines:
            return dict.fromkeys(STAGES, NA)
        return {**self.expected, **self.engine_expected.get(engine, {})}


ALL_PASS = {**dict.fromkeys(STAGES[:-1], P), "rollback": S}
NOTHING = dict.fromkeys(STAGES, S)
# In the order they run: the first four share one project (each builds on the cache and champion the
# runs before it left); the others each start from a fresh copy (FRESH_PROJECT).
SCENARIOS = [
    Scenario("push to main: every stage passes and the champion changes", expected=ALL_PASS, champion_changes=True),
    # GitHub lets a pull request restore the base branch's cache. GitLab keeps separate caches for
    # protected and unprotected refs by default (the merge request runs unprotected; the runner
    # models it), and a Jenkins multibranch pull request builds in a workspace of its own: both retrain.
    Scenario("pull request, unchanged inputs: training cached, nothing deployed", branch="feature/rerun", pull_request=True,
             expected={**NOTHING, "validate": P, "train": C, "evaluate": P},
             engine_expected={"gitlab": {"train": P}, "jenkins": {"train": P}}, comment=POSTED,
             requires=("push to main",)),
    # The same request runs again: the report finds its comment by the hidden marker and edits it.
    # The first run filled the request's own cache on GitLab (unprotected ref) and its workspace on Jenkins.
    Scenario("pull request, run again: the report edits its one comment", branch="feature/rerun", pull_request=True,
             expected={**NOTHING, "validate": P, "train": C, "evaluate": P}, comment=EDITED,
             requires=("push to main", "pull request, unchanged inputs")),
    Scenario("pull request without a write token (as from a fork): no comment, the report still passes",
             branch="feature/rerun", pull_request=True, write_token=False,
             expected={**NOTHING, "validate": P, "train": C, "evaluate": P}, comment=NO_REQUEST,
             requires=("push to main", "pull request, unchanged inputs")),
    Scenario("approval rejected: no canary step runs", approve=False,
             expected={**NOTHING, "validate": P, "train": C, "evaluate": P, "register": P}),
    Scenario("data changed: every engine retrains", approve=False, append_row=True,
             expected={**NOTHING, "validate": P, "train": P, "evaluate": P, "register": P}),
    Scenario("broken data: validate fails, nothing after it runs", broken_data=True, expected={**NOTHING, "validate": F}),
    Scenario("regression against the champion: evaluate fails", strong_champion=True,
             expected={**NOTHING, "validate": P, "train": P, "evaluate": F}),
    Scenario("canary unhealthy at 50%: rollback, champion kept", fail_canary_at=50,
             expected={**ALL_PASS, "canary-50": F, "canary-100": S, "rollback": P}),
    # The person answers after the step's whole timeout (65 s against 1m): the approval is a stage
    # (GitHub, GitLab: a job) of its own, so the bake still gets its time. act and gitlab-ci-local
    # approve at once, with no wait to model: there it runs as a plain rollout.
    Scenario("approval slower than a step's timeout: the bake still completes", expected=ALL_PASS, champion_changes=True,
             canary_timeout="1m", env={"MLGEN_HARNESS_INPUT_WAIT_MS": "65000"},
             evidence={"jenkins": "Waiting 65000 ms for a person to answer"}),
    # The step's timeout fires mid-bake and ends the stage ABORTED, as a manual abort does. Only the
    # Jenkins harness can stop a running step; act and gitlab-ci-local cannot cancel a job. Two minutes: a cold step set-up on a loaded machine fits.
    Scenario("canary step aborted mid-bake: rolled back, champion kept", bake="300s", canary_timeout="2m",
             expected={**ALL_PASS, "canary-10": A, "canary-50": S, "canary-100": S, "rollback": P},
             engines=("jenkins",),
             held_elsewhere="tests/test_rollout_semantics.py: test_github_rolls_back_a_step_that_failed_or_was_cancelled, "
                            "test_gitlab_rolls_back_a_step_once_whether_it_failed_or_was_cancelled"),
    # Two pushes' pipelines started together against one registry. On Jenkins the later build waits
    # in the queue (disableConcurrentBuilds; builds of other jobs wait at the rollout's `lock`), so
    # its training is restored from the first build's workspace: each cell reads "first/second"
    # where the two differ. act and gitlab-ci-local run one pipeline at a time and model no
    # concurrency group or resource group.
    Scenario("two pipelines in flight: each rolls out and promotes the version it registered, one after the other",
             expected={**ALL_PASS, "train": f"{P}/{C}"}, champion_changes=True, in_flight=2, engines=("jenkins",),
             evidence={"jenkins": "waits in the queue: another build of"},
             held_elsewhere="tests/test_rollout_lock.py (one concurrency group with queue: max around the whole GitHub "
                            "rollout, one resource group on the GitLab trigger job), tests/runtime/test_rollout_pinned.py "
                            "(interleaved pipelines against a real MLflow server never promote what was not canaried)"),
]
FRESH_PROJECT = {"two pipelines in flight: each rolls out and promotes the version it registered, one after the other",
                 "broken data: validate fails, nothing after it runs", "regression against the champion: evaluate fails",
                 "canary unhealthy at 50%: rollback, champion kept",
                 "approval slower than a step's timeout: the bake still completes",
                 "canary step aborted mid-bake: rolled back, champion kept"}


def selected() -> list[Scenario]:
    """$MLGEN_E2E_SCENARIOS (comma-separated parts of names, e.g. `data changed,rollback`) picks scenarios;
    a scenario that needs an earlier run (a filled cache) gets a warm-up run of its own."""
    wanted = [w.strip() for w in os.environ.get("MLGEN_E2E_SCENARIOS", "").split(",") if w.strip()]
    picked = [s for s in SCENARIOS if not wanted or any(w in s.name for w in wanted)]
    required = {r for s in picked for r in s.requires}  # e.g. a comment to edit: the run that posted it
    return [s for s in SCENARIOS if s in picked or any(s.name.startswith(r) for r in required)]


class HealthService:
    """/healthz on loopback: unhealthy exactly while the canary weight `fail_at` is deployed.

    The deployed weight is the last `weight=N` the deploy command logged, so the answer depends on
    what the pipeline did, never on how many checks fit in a bake."""

    def __init__(self, fail_at: int | None, deploy_log: Path) -> None:
        self.requests = 0
        outer = self

        def deployed() -> str | None:
            events = deploy_log.read_text().splitlines() if deploy_log.is_file() else []
            return events[-1].split()[0] if events else None

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                ok = fail_at is None or deployed() != f"weight={fail_at}"
                self.send_response(200 if ok else 503)
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"down")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _mlflow_server(db: Path, root: Path) -> str:
    """`mlflow server` on loopback over `db`, stopped when the test process ends."""
    import atexit
    import time
    import urllib.request

    from tests.runtime.conftest import _stop, free_port

    port = free_port()
    log = (root / "mlflow-server.log").open("w")
    # Started from a chain's thread, which lives until every test of the module ended (see `outcomes`).
    proc = subprocess.Popen(tied([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
                                  "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent, cwd=root)
    atexit.register(_stop, proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # slow to start on a busy 2-core machine
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"mlflow server did not start:\n{(root / 'mlflow-server.log').read_text()[-3000:]}")
        time.sleep(0.5)


class Project:
    """A copy of examples/churn as its own repository, registry and deployment log."""

    def __init__(self, root: Path, registry_template: Path, bake: str = "1s", canary_timeout: str | None = None,
                 server: bool = False) -> None:
        self.root = root
        self.repo = root / "repo"
        shutil.copytree(EXAMPLES / "churn", self.repo, ignore=shutil.ignore_patterns(".mlgen", "model", "metrics.json", "__pycache__"))
        self.db = root / "mlflow.db"
        self.deploy_log = root / "deploy.log"
        self.runs = 0  # pipelines run on this copy
        shutil.copy(registry_template, self.db)
        with contextlib.closing(sqlite3.connect(self.db)) as db, db:
            db.execute("UPDATE experiments SET artifact_location = ? WHERE name = 'mlgen-churn'", (str(root / "artifacts"),))
        # `server`: the registry over HTTP, as jobs reach it in production. Jobs install only the
        # registry client (mlflow-skinny), which cannot open a SQLite registry; engines whose jobs
        # run in an environment of their own (Jenkins' stage venvs) need the server.
        self.uri = _mlflow_server(self.db, root) if server else f"sqlite:///{self.db}"
        spec = self.repo / "mlgen.yaml"
        text = spec.read_text().replace("https://mlflow.example.com", self.uri)
        timeout = f"\n    timeout: {canary_timeout}" if canary_timeout else ""
        text = text.replace("bake: 10m", f"bake: {bake}\n    interval: 1s{timeout}")
        # Jenkins comments on change requests only with a credential the spec names.
        spec.write_text(text + f"report: {{jenkins_credential: {REPORT_CREDENTIAL}}}\n")
        subprocess.run([sys.executable, "-m", "mlgen", "compile"], cwd=self.repo, check=True, capture_output=True)
        init_and_commit(self.repo, "churn")

    def champion(self) -> str | None:
        """The version behind `churn@champion`, read from the registry's SQLite tables (asking
        through the MLflow client would cost an import of mlflow, seconds, twice per scenario)."""
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            row = db.execute("SELECT version FROM registered_model_aliases WHERE name = 'churn' AND alias = 'champion'").fetchone()
        return None if row is None else str(row[0])

    def install_strong_champion(self) -> None:
        model = self.root / "champion-model"
        model.mkdir()
        (model / "model.txt").write_text("the production model\n")
        metrics = self.root / "champion-metrics.json"
        metrics.write_text(json.dumps({"accuracy": 0.99, "auc": 0.999, "latency_ms": 1.0}))
        env = {**os.environ, "MLFLOW_TRACKING_URI": self.uri}
        for args in (["registry", "register", "--model", "churn", "--path", str(model), "--metrics", str(metrics)],
                     ["canary", "promote", "--model", "churn"]):
            subprocess.run([sys.executable, "-m", "mlgen", *args], env=env, check=True, capture_output=True, cwd=self.root)

    def break_data(self) -> None:
        shutil.copy(self.repo / "data" / "broken.csv", self.repo / "data" / "train.csv")
        git(self.repo, "commit", "-qam", "bad data")

    def append_row(self) -> None:
        with (self.repo / "data" / "train.csv").open("a") as handle:
            handle.write("C999999,12,50.0,one-year,1,0\n")
        git(self.repo, "commit", "-qam", "one more row")

    def deployments(self) -> list[str]:
        """Every traffic change in order: `weight=N` or `rollback`, with ` version=V` where the
        deploy command was told which registry version it rolls out."""
        return self.deploy_log.read_text().splitlines() if self.deploy_log.is_file() else []


def job_env(project: Project, service: HealthService) -> dict[str, str]:
    return {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "CANARY_URL": service.url,
            "CHURN_DEPLOY_LOG": str(project.deploy_log), "MLFLOW_TRACKING_URI": project.uri}


# The churn spec's registry credentials: read for the gate, write for register/promote/rollback.
SECRETS = {"MLFLOW_READ_TOKEN": "not-a-real-read-token", "MLFLOW_TRACKING_TOKEN": "not-a-real-token"}
REPORT_CREDENTIAL = "report-token"  # the Jenkins credential the projects' spec names for the report


def report_api(engine: str) -> FakeApi:
    """The API the engine's report talks to: GitHub's (act, and Jenkins building a GitHub pull request
    through GitHub Enterprise's /api/v3 layout) or GitLab's Notes API."""
    return {"github": lambda: FakeApi("github"), "gitlab": lambda: FakeApi("gitlab", prefix="/api/v4"),
            "jenkins": lambda: FakeApi("github", prefix="/api/v3")}[engine]()


def report_env(engine: str, api: FakeApi, scenario: Scenario) -> tuple[dict[str, str], dict[str, str]]:
    """(job variables, secrets) that point the report at the stand-in: every API address the runtime
    could use is loopback, so no request leaves the machine, on pushes too. On act, a push keeps the
    runner's own GitHub API stand-in (the approval job reads environments from it), and the report
    never asks an API outside a pull request (it reads the event first)."""
    if engine == "github" and not scenario.pull_request:
        return {}, {}
    env = {"GITHUB_API_URL": api.api} if engine != "gitlab" else {"CI_API_V4_URL": api.api}
    if not scenario.pull_request:
        return env, {}
    if engine == "gitlab":
        env["GITLAB_CI"] = "true"  # GitLab sets it in every job; gitlab-ci-local does not
    if engine == "jenkins":  # a multibranch build of a GitHub pull request names it
        env["CHANGE_URL"] = "https://github.com/mlgen-tests/repo/pull/1"
    name = {"github": "GITHUB_TOKEN", "gitlab": "MLGEN_REPORT_TOKEN", "jenkins": REPORT_CREDENTIAL}[engine]
    return env, ({name: api.token} if scenario.write_token else {})


def run_scenario(engine: str, project: Project, scenario: Scenario, env: dict[str, str], api: FakeApi,
                 build: int | None = None) -> dict[str, Any]:
    """Run the pipeline on `engine` and return the per-stage outcome (the same words on every engine).
    `build`: one of several builds in flight, numbered, sharing the project's locks (Jenkins)."""
    report_vars, report_secrets = report_env(engine, api, scenario)
    calls = len(api.calls)
    in_flight = {} if build is None else {"build_number": build, "lock_dir": project.root / "locks"}
    run = engines.run(engine, project.repo, branch=scenario.branch, pull_request=scenario.pull_request,
                      approve=scenario.approve, variables={**env, **report_vars}, secrets={**SECRETS, **report_secrets},
                      # a hang guard: a cold Jenkins run on a busy 2-core machine passed 900 s; a build in
                      # flight may first wait for the others to finish
                      state=project.root, timeout=1800 * scenario.in_flight, **in_flight)
    out: dict[str, Any] = {stage: run.job_status(stage) for stage in STAGES[:-1]}
    if run.cached("train"):
        out["train"] = C
    out["rollback"] = _worst([run.job_status(f"{s}-rollback") for s in STAGES[4:7]])
    out["comment"] = comment_outcome(api, calls, run.job_status("evaluate-report") if scenario.pull_request else None)
    out["_requests"] = [f"{c.method} {c.path}" for c in api.calls[calls:]]
    out["_comment_body"] = api.comments[0]["body"] if len(api.comments) == 1 else ""
    out["_log"] = run.log()[-6000:]
    out["_evidence_missing"] = [e for e in [scenario.evidence.get(engine)] if e and e not in run.log()]
    out["_full_log"] = run.log()
    return out


def comment_outcome(api: FakeApi, calls_before: int, report: str | None) -> str:
    """What the API saw during one run, in the table's words (`report`: the report job's status on a
    pull/merge request, which must pass whatever happened to the comment)."""
    if report is not None and report != P:
        return f"report {report}"
    calls = api.calls[calls_before:]
    if not calls:
        return NO_REQUEST
    writes = [c.method for c in calls if c.method != "GET"]
    mine = [c for c in api.comments if c["body"].startswith(MARKER)]
    if len(api.comments) != 1 or len(mine) != 1:
        return f"{len(api.comments)} comments"
    if writes == ["POST"]:
        return POSTED
    if writes in (["PATCH"], ["PUT"]):
        return EDITED
    return "+".join(writes) or "read only"


def _worst(results: list[str]) -> str:
    for status in (F, P):
        if status in results:
            return status
    return S



def registry_template(folder: Path) -> Path:
    """An MLflow SQLite registry holding the churn experiment, built once by MLflow itself (its
    schema migrations take seconds); each project copies it and points the experiment at its own
    artifact folder."""
    folder.mkdir()
    db = folder / "mlflow.db"
    code = f"import mlflow; mlflow.create_experiment('mlgen-churn', artifact_location={str(folder / 'artifacts')!r})"
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"},
                   capture_output=True, text=True, check=True)
    return db


def run_engine(engine: str, root: Path, template: Path, scenarios: list[Scenario] | None = None) -> dict[str, dict[str, Any]]:
    api = report_api(engine)
    with serve(api):
        results = _run_scenarios(engine, root, template, api, scenarios)
    results["_api"] = {"violations": api.violations}
    return results


def _run_scenarios(engine: str, root: Path, template: Path, api: FakeApi,
                   scenarios: list[Scenario] | None) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    server = engine == "jenkins"
    project: Project | None = None  # the shared project, made when a scenario first needs it
    for scenario in selected() if scenarios is None else scenarios:
        if engine not in scenario.engines:
            results[scenario.name] = {**dict.fromkeys(STAGES, NA), "comment": NA, "_champion_changed": scenario.champion_changes,
                                      "_deployments": None, "_log": scenario.held_elsewhere, "_evidence_missing": [],
                                      "_requests": [], "_comment_body": ""}
            continue
        if scenario.name in FRESH_PROJECT:
            project = Project(root / re.sub(r"\W+", "-", scenario.name), template, scenario.bake, scenario.canary_timeout, server)
        elif project is None:
            project = Project(root / "shared", template, server=server)
        if scenario.broken_data:
            project.break_data()
        if scenario.strong_champion:
            project.install_strong_champion()
        if scenario.append_row:
            if project.runs == 0:  # run alone: fill the cache first
                _run_once(engine, project, Scenario("warm-up", approve=False), api)
            project.append_row()
        service = HealthService(scenario.fail_canary_at, project.deploy_log)
        champion_before = project.champion()
        deployed_before = len(project.deployments())
        try:
            outcome: dict[str, Any] = _run_once(engine, project, scenario, api, service)
        finally:
            service.close()
        outcome.pop("_full_log", None)
        outcome["_champion"] = project.champion()
        outcome["_champion_changed"] = outcome["_champion"] != champion_before
        outcome["_deployments"] = project.deployments()[deployed_before:]
        results[scenario.name] = outcome
    return results


def _run_once(engine: str, project: Project, scenario: Scenario, api: FakeApi,
              service: HealthService | None = None) -> dict[str, Any]:
    own = service is None
    service = service or HealthService(None, project.deploy_log)
    env = {**job_env(project, service), **scenario.env}
    try:
        if scenario.in_flight > 1:
            return _in_flight(engine, project, scenario, env, api)
        return run_scenario(engine, project, scenario, env, api)
    finally:
        project.runs += scenario.in_flight
        if own:
            service.close()


QUEUED = "waits in the queue: another build of"  # the Jenkins harness, for a build held back by disableConcurrentBuilds


def _in_flight(engine: str, project: Project, scenario: Scenario, env: dict[str, str], api: FakeApi) -> dict[str, Any]:
    """`scenario.in_flight` builds of one commit started at once; one row in the order they ran
    (a build the queue held back ran later): `a/b` where their statuses differ."""
    with concurrent.futures.ThreadPoolExecutor(scenario.in_flight) as pool:
        runs = list(pool.map(lambda n: run_scenario(engine, project, scenario, env, api, build=n), range(1, scenario.in_flight + 1)))
    runs.sort(key=lambda r: r["_full_log"].count(QUEUED))
    out: dict[str, Any] = {}
    for key in [*STAGES, "comment"]:
        values = [r[key] for r in runs]
        out[key] = values[0] if len(set(values)) == 1 else "/".join(values)
    out["_requests"] = [c for r in runs for c in r["_requests"]]
    out["_comment_body"] = ""
    out["_log"] = "\n".join(r["_log"] for r in runs)
    # the evidence: some build was held back (no engine shows it when every run did)
    out["_evidence_missing"] = [e for e in [scenario.evidence.get(engine)] if e and not any(e in r["_full_log"] for r in runs)]
    return out


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, dict[str, Any]]]]:
    root = tmp_path_factory.mktemp("e2e")
    template = registry_template(root / "registry-template")
    # Chains of scenarios that share a project run side by side (a fresh project's scenario depends
    # on no other run), six at a time (two per engine's worth): the shared chains first, as the
    # longest. More at once only share the same two cores, and slow a Jenkins cold start past its timeout.
    chains = [[s for s in selected() if s.name not in FRESH_PROJECT]] + [[s] for s in selected() if s.name in FRESH_PROJECT]
    chains = [chain for chain in chains if chain]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * len(ENGINES)) as pool:
        futures = {(engine, i): pool.submit(run_engine, engine, root / engine, template, chain)
                   for i, chain in enumerate(chains) for engine in ENGINES}
        merged = {engine: {k: v for (e, _), f in futures.items() if e == engine for k, v in f.result().items()} for engine in ENGINES}
        # each chain has its own API stand-in: what any of them refused
        violations = {engine: [v for (e, _), f in futures.items() if e == engine for v in f.result()["_api"]["violations"]]
                      for engine in ENGINES}
        yield {engine: {**{s.name: merged[engine][s.name] for s in selected()}, "_api": {"violations": violations[engine]}}
               for engine in ENGINES}


CELL = 14  # wide enough for `passed/cached`


def _table(outcomes: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = []
    for scenario in selected():
        lines.append(f"\n{scenario.name}")
        lines.append("  " + "engine".ljust(9) + "".join(s.ljust(CELL) for s in STAGES) + "champion".ljust(CELL) + "comment")
        for engine, by_scenario in outcomes.items():
            row = by_scenario[scenario.name]
            cells = "".join(row[s].ljust(CELL) for s in STAGES)
            lines.append(f"  {engine.ljust(9)}{cells}{('changed' if row['_champion_changed'] else 'unchanged').ljust(CELL)}"
                         f"{row['comment']}")
        if scenario.held_elsewhere:
            lines.append(f"  n/a: held by {scenario.held_elsewhere}")
        lines.append("  " + "expected".ljust(9) + "".join(scenario.expected[s].ljust(CELL) for s in STAGES)
                     + ("changed" if scenario.champion_changes else "unchanged").ljust(CELL) + scenario.comment)
        if scenario.pull_request:  # the evidence of the comment column: what the API stand-in was asked
            for engine, by_scenario in outcomes.items():
                lines.append(f"  {engine} API requests: {', '.join(by_scenario[scenario.name]['_requests']) or 'none'}")
        for engine in scenario.engine_expected:  # platform rules that make one target differ
            row = scenario.expected_for(engine)
            lines.append("  " + f"~{engine}".ljust(9) + "".join(row[s].ljust(CELL) for s in STAGES))
    return "\n".join(lines)


def test_engines_agree_on_every_scenario(outcomes: dict[str, dict[str, dict[str, Any]]], capsys: pytest.CaptureFixture[str]) -> None:
    table = _table(outcomes)
    with capsys.disabled():  # the table belongs in every test log, passing or not
        print(table)
    problems = []
    for scenario in selected():
        for engine, by_scenario in outcomes.items():
            row = by_scenario[scenario.name]
            got = {s: row[s] for s in STAGES}
            if got != scenario.expected_for(engine) or row["_champion_changed"] != scenario.champion_changes:
                problems.append(f"{engine} / {scenario.name}: {got}, champion changed={row['_champion_changed']}\n{row['_log']}")
            if engine in scenario.engines and row["comment"] != scenario.comment:
                problems.append(f"{engine} / {scenario.name}: comment {row['comment']}, expected {scenario.comment}; "
                                f"requests: {row['_requests']}\n{row['_log']}")
            if row["_evidence_missing"]:  # the outcome is right, but the engine did not play the scenario
                problems.append(f"{engine} / {scenario.name}: the log never shows {row['_evidence_missing']}\n{row['_log']}")
    assert not problems, table + "\n\n" + "\n\n".join(problems)


def test_the_report_api_saw_only_valid_requests(outcomes: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Every request of every run, checked against GitHub's OpenAPI description or GitLab's Notes API."""
    assert {engine: by_scenario["_api"]["violations"] for engine, by_scenario in outcomes.items()} == dict.fromkeys(outcomes, [])


def test_the_comment_says_reused_exactly_when_training_was(outcomes: dict[str, dict[str, dict[str, Any]]]) -> None:
    """On every engine (GitHub too, where actions/cache decides), the comment a run posted or edited
    says "reused from the cache" exactly when that run's training was restored, not retrained."""
    checked = 0
    for scenario in selected():
        for engine, by_scenario in outcomes.items():
            row = by_scenario[scenario.name]
            if row["comment"] in (POSTED, EDITED):
                assert (REUSED in row["_comment_body"]) == (row["train"] == C), (engine, scenario.name, row["_comment_body"])
                checked += 1
    assert checked or not any(s.comment in (POSTED, EDITED) for s in selected())


IN_FLIGHT = "two pipelines in flight: each rolls out and promotes the version it registered, one after the other"
ROLLOUT = ["weight=10", "weight=50", "weight=100"]


def test_deployments_follow_the_canary(outcomes: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Each scenario's traffic changes in order, each naming the registry version its rollout
    registered (the deploy command logs `$MLGEN_MODEL_VERSION`): one version per rollout, and a
    rollout that reached 100% left the champion alias on exactly the version it canaried."""
    expected = {"push to main: every stage passes and the champion changes": ROLLOUT,
                "canary unhealthy at 50%: rollback, champion kept": ["weight=10", "weight=50", "rollback"],
                "approval slower than a step's timeout: the bake still completes": ROLLOUT,
                "canary step aborted mid-bake: rolled back, champion kept": ["weight=10", "rollback"],
                IN_FLIGHT: ROLLOUT * 2}
    for engine, by_scenario in outcomes.items():
        for name, row in by_scenario.items():  # the scenarios that ran ($MLGEN_E2E_SCENARIOS)
            if name == "_api" or row["_deployments"] is None:  # None: the engine cannot play it (n/a)
                continue
            events = [line.split() for line in row["_deployments"]]
            assert [e[0] for e in events] == expected.get(name, []), (engine, name, row["_deployments"])
            versions = [dict(w.split("=", 1) for w in e[1:]).get("version") for e in events if e[0].startswith("weight=")]
            assert None not in versions, f"{engine} / {name}: a step deployed without a pinned version: {row['_deployments']}"
            rollouts = [versions[i:i + len(ROLLOUT)] for i in range(0, len(versions), len(ROLLOUT))]
            assert all(len(set(r)) == 1 for r in rollouts), f"{engine} / {name}: one rollout switched versions: {versions}"
            if events and events[-1][0] == ROLLOUT[-1]:
                assert row["_champion"] == versions[-1], f"{engine} / {name}: champion {row['_champion']}, canaried {versions}"
            if name == IN_FLIGHT:
                assert len({r[0] for r in rollouts}) == len(rollouts), f"{engine}: two pipelines rolled out one version: {versions}"
