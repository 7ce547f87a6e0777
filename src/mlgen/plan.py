"""The target-neutral plan: jobs, their order, conditions, files, caches, secrets and approvals.

Emitters only translate this IR into their target's idioms; every ML decision (what a kind
means, which job gets which secret, where rollback hangs) is made here, once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlgen import graph, runtime_calls as runtime
from mlgen.errors import Problem, SpecError
from mlgen.spec import duration_minutes

if TYPE_CHECKING:
    from mlgen.spec import AnyStage, Pipeline

REPORTS_DIR = ".mlgen/reports"
# The name mlgen is published under: `mlgen` on PyPI belongs to an unrelated project.
DISTRIBUTION = "mlgen-ci"


@dataclass(frozen=True)
class Artifact:
    """Files a job hands to later jobs. Matrix producers make one artifact per leg."""

    name: str
    paths: tuple[str, ...]
    producer: str
    matrix: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (ENV_NAME, values): one artifact per leg

    @property
    def matrix_keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.matrix)

    @property
    def leg_names(self) -> tuple[str, ...]:
        """Artifact names, one per matrix leg, suffixed with the leg's values in key order."""
        import itertools

        if not self.matrix:
            return (self.name,)
        return tuple("-".join([self.name, *leg]) for leg in itertools.product(*(v for _, v in self.matrix)))


@dataclass(frozen=True)
class Cache:
    """Outputs reused when the content of `key_files` is unchanged (training is then skipped)."""

    prefix: str  # stable, and changes when the training command changes
    key_files: tuple[str, ...]
    paths: tuple[str, ...]
    guard_install: str  # pip requirement of `mlgen cache`, for targets that key the cache at run time


@dataclass(frozen=True)
class Command:
    name: str
    script: str
    secrets: tuple[str, ...] = ()
    skip_on_cache_hit: bool = False
    runs_project_code: bool = True  # False for runtime commands that run no project code (the
    # project's set-up is then skipped); `registry: command` runs the user's own commands


@dataclass(frozen=True)
class When:
    """When a job runs. The default runs on every pipeline, pull requests included."""

    branches: tuple[str, ...] = ()  # non-empty: only pushes/schedules/manual runs on these branches
    default_branch: bool = False  # also (or only) the default branch, resolved natively by each target
    on_failure_of: tuple[str, ...] = ()  # rollback: only when one of these jobs failed

    @property
    def branch_only(self) -> bool:
        return bool(self.branches) or self.default_branch


@dataclass(frozen=True)
class Job:
    id: str
    stage: str
    kind: str  # a stage kind, or "rollback"
    title: str
    needs: tuple[str, ...]
    runner: tuple[str, ...]
    timeout_minutes: int
    retries: int
    commands: tuple[Command, ...]
    install: str | None = None  # pip requirement for the mlgen runtime, pinned to this version
    env: tuple[tuple[str, str], ...] = ()
    matrix: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (ENV_NAME, values)
    downloads: tuple[Artifact, ...] = ()
    upload: Artifact | None = None
    cache: Cache | None = None
    junit: str | None = None  # glob of JUnit reports the job writes
    summary: bool = False  # writes a Markdown summary
    when: When = field(default_factory=When)
    approval: str | None = None  # message shown by the native approval
    environment: str | None = None
    environment_url: str | None = None
    lock: str | None = None  # serialises deployments across pipelines
    deploys: bool = False

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for c in self.commands for s in c.secrets))

    @property
    def installs_with_cache_guard(self) -> tuple[str, ...]:
        """pip requirements for targets that check the training cache at run time (`mlgen cache`)."""
        return tuple(i for i in (self.install, self.cache and self.cache.guard_install) if i)

    @property
    def needs_project_setup(self) -> bool:
        """Only jobs that run the project's own code need its dependencies installed."""
        return any(c.runs_project_code for c in self.commands)

    @property
    def setup_on_miss_only(self) -> bool:
        """A cached job whose every command is skipped on a cache hit: a hit needs no project set-up."""
        return self.cache is not None and all(c.skip_on_cache_hit for c in self.commands)

    @property
    def approval_id(self) -> str | None:
        """An id reserved for this job's approval, so a target may make the approval a job of its own."""
        return f"{self.id}-approval" if self.approval else None


@dataclass(frozen=True)
class Triggers:
    push: tuple[str, ...]
    pull_request: bool
    schedule: str | None
    manual: bool


@dataclass(frozen=True)
class Plan:
    name: str
    version: str
    default_branch: str
    python: str
    setup: str | None
    requirements: tuple[str, ...]  # files that key the pip download cache
    triggers: Triggers
    env: tuple[tuple[str, str], ...]
    secrets: tuple[str, ...]
    jobs: tuple[Job, ...]  # in an order where every job comes after its needs

    def job(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)


def build(pipeline: Pipeline, version: str) -> Plan:
    needs = graph.needs_map(pipeline)
    builder = _Builder(pipeline, version, needs)
    jobs: list[Job] = []
    for stage in _topological(pipeline, needs):
        jobs.extend(builder.jobs_for(stage))
    _check_unique_ids(jobs, pipeline)
    t = pipeline.triggers
    return Plan(
        name=pipeline.name, version=version, default_branch=pipeline.defaults.branch,
        python=pipeline.defaults.python, setup=pipeline.defaults.setup, requirements=tuple(pipeline.defaults.requirements),
        triggers=Triggers(tuple(t.push or [pipeline.defaults.branch]), t.pull_request, t.schedule, t.manual),
        env=tuple(pipeline.env.items()), secrets=tuple(pipeline.secrets), jobs=tuple(jobs),
    )


def _topological(pipeline: Pipeline, needs: dict[str, list[str]]) -> list[AnyStage]:
    """Kahn's algorithm, stable on spec order so output does not shuffle when a stage is added."""
    by_name = {s.name: s for s in pipeline.stages}
    order_of = {s.name: i for i, s in enumerate(pipeline.stages)}
    waiting = {name: len(deps) for name, deps in needs.items()}
    children: dict[str, list[str]] = {name: [] for name in needs}
    for name, deps in needs.items():
        for dep in deps:
            children[dep].append(name)
    import heapq

    ready = [(order_of[n], n) for n, c in waiting.items() if c == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, name = heapq.heappop(ready)
        out.append(by_name[name])
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (order_of[child], child))
    return out


def _check_unique_ids(jobs: list[Job], pipeline: Pipeline) -> None:
    seen: dict[str, str] = {}
    problems = []
    for job in jobs:
        for job_id in filter(None, (job.id, job.approval_id)):
            if job_id in seen:
                problems.append(Problem("<spec>", 0, 0, f"job id `{job_id}` (from stage `{job.stage}`) clashes with one from stage `{seen[job_id]}`",
                                        "canary stages make jobs named <stage>-<weight>, <stage>-<weight>-rollback and "
                                        "<stage>-<first weight>-approval; rename one of the stages"))
            seen[job_id] = job.stage
    if problems:
        raise SpecError(problems)


class _Builder:
    def __init__(self, pipeline: Pipeline, version: str, needs: dict[str, list[str]]) -> None:
        self.pipeline, self.version, self.needs = pipeline, version, needs
        self.artifacts: dict[str, Artifact] = {}  # stage -> what it hands on
        self.last_job: dict[str, str] = {}  # stage -> the job id later stages wait for
        self.defaults = pipeline.defaults

    def jobs_for(self, stage: AnyStage) -> list[Job]:
        method = getattr(self, f"_{stage.kind}")
        jobs: list[Job] = method(stage, self._common(stage))
        self.last_job[stage.name] = [j.id for j in jobs if j.kind != "rollback"][-1]
        upload = jobs[0].upload if stage.kind != "canary" else None
        if upload is not None:
            self.artifacts[stage.name] = upload
        return jobs

    # -- shared parts ----------------------------------------------------------------------
    def _common(self, stage: AnyStage) -> dict[str, Any]:
        runner = stage.runner if stage.runner is not None else self.defaults.runner
        timeout = stage.timeout or (self.defaults.train_timeout if stage.kind == "train" else self.defaults.timeout)
        return dict(
            id=stage.name, stage=stage.name, kind=stage.kind, title=stage.name,
            needs=tuple(self.last_job[n] for n in self.needs[stage.name]),
            runner=tuple([runner] if isinstance(runner, str) else runner or ()),
            timeout_minutes=duration_minutes(timeout),
            retries=stage.retries if stage.retries is not None else self.defaults.retries,
            env=tuple(sorted(stage.env.items())),
            downloads=self._downloads(stage),
        )

    def _downloads(self, stage: AnyStage) -> tuple[Artifact, ...]:
        sources = list(self.needs[stage.name]) + list(stage.inputs)
        if stage.kind == "register":
            producer = self._producer_of(stage.name, stage.path)
            if producer:
                sources.append(producer)
        return tuple(dict.fromkeys(self.artifacts[s] for s in sources if s in self.artifacts))

    def _producer_of(self, stage_name: str, path: str) -> str | None:
        """Nearest ancestor whose outputs contain `path` (BFS up the graph; only register asks)."""
        want = path.rstrip("/")
        queue, seen = list(self.needs[stage_name]), set()
        while queue:
            name = queue.pop(0)
            if name in seen:
                continue
            seen.add(name)
            art = self.artifacts.get(name)
            if art and any(want == p.rstrip("/") or want.startswith(p.rstrip("/") + "/") for p in art.paths):
                return name
            queue.extend(self.needs[name])
        return None

    def _secrets(self, stage: AnyStage, default_all: bool) -> tuple[str, ...]:
        if stage.secrets is not None:
            return tuple(stage.secrets)
        return tuple(self.pipeline.secrets) if default_all else ()

    def _mlgen(self, *extras: str) -> str:
        wanted = sorted({e for e in extras if e})
        return f"{DISTRIBUTION}[{','.join(wanted)}]=={self.version}" if wanted else f"{DISTRIBUTION}=={self.version}"

    def _evaluate_ancestor(self, stage_name: str) -> str | None:
        """The nearest evaluate stage above a register stage: its gate results become model tags."""
        queue, seen = list(self.needs[stage_name]), set()
        while queue:
            name = queue.pop(0)
            if name not in seen:
                seen.add(name)
                if self.pipeline.stage(name).kind == "evaluate":
                    return name
                queue.extend(self.needs[name])
        return None

    def _user_cmd(self, name: str, script: str | None, stage: AnyStage, **kw: Any) -> list[Command]:
        if script is None:
            return []
        return [Command(name, script, secrets=tuple(stage.secrets or ()), **kw)]

    def _branches(self, branches: list[str] | None) -> When:
        if branches is None:
            return When(default_branch=True)
        return When(branches=tuple(branches))

    # -- one method per stage kind -----------------------------------------------------------
    def _validate(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        commands = self._user_cmd(stage.name, stage.run, stage)
        install = None
        if stage.contract:
            commands.append(Command("data check", runtime.data_check(stage), self._secrets(stage, False), runs_project_code=False))
            install = self._mlgen("data")
        return [Job(**common, commands=tuple(commands), install=install, upload=self._upload(stage, ()),
                    junit=f"{REPORTS_DIR}/{stage.name}-*.xml" if stage.contract else None, summary=bool(stage.contract))]

    def _train(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        matrix = tuple((k.upper(), tuple(v)) for k, v in (stage.matrix or {}).items())
        cache = None
        if stage.cache is not None:
            paths = tuple(stage.cache.paths or stage.outputs)
            # Another Python or a dependency bump retrains: both are part of the key.
            defaults = self.pipeline.defaults
            digest = hashlib.sha256("\0".join([stage.run, *paths, f"python {defaults.python}"]).encode()).hexdigest()[:10]
            cache = Cache(prefix=f"mlgen-{stage.name}-{digest}", key_files=tuple(dict.fromkeys([*stage.cache.key, *defaults.requirements])),
                          paths=paths, guard_install=self._mlgen())
        commands = self._user_cmd(stage.name, stage.run, stage, skip_on_cache_hit=cache is not None)
        job = Job(**common, commands=tuple(commands), matrix=matrix, cache=cache, upload=self._upload(stage, (), matrix))
        return [job]

    def _evaluate(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        registry_baseline = stage.baseline is not None and stage.baseline.registry is not None
        commands = self._user_cmd(stage.name, stage.run, stage)
        model = graph.model_name(self.pipeline, stage)
        registry = graph.registry_kind(self.pipeline, stage)
        commands.append(Command("gate", runtime.gate(stage, model, registry), self._secrets(stage, registry_baseline),
                                runs_project_code=registry_baseline and registry == "command"))
        extra = (stage.metrics, f".mlgen/gate-{stage.name}.json")
        return [Job(**common, commands=tuple(commands), install=self._mlgen("mlflow" if registry_baseline else ""),
                    upload=self._upload(stage, extra), junit=f"{REPORTS_DIR}/{stage.name}-*.xml", summary=True)]

    def _register(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        commands = [Command("register", runtime.register(stage, self._evaluate_ancestor(stage.name)), self._secrets(stage, True),
                            runs_project_code=stage.registry == "command")]
        return [Job(**common, commands=tuple(commands), when=self._branches(stage.branches),
                    install=self._mlgen("mlflow" if stage.registry == "mlflow" else ""), upload=self._upload(stage, ()))]

    def _canary(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        secrets = self._secrets(stage, True)
        model = graph.model_name(self.pipeline, stage)
        registry = graph.registry_kind(self.pipeline, stage)
        # Only the jobs that touch the registry (promote, rollback) install its client.
        with_registry = self._mlgen("mlflow" if model and registry == "mlflow" else "")
        when = self._branches(stage.branches)
        base = dict(common, kind="canary", install=self._mlgen(), when=when, environment=stage.environment,
                    environment_url=stage.url, lock=f"deploy-{stage.environment}", deploys=True, retries=0)
        jobs = []
        previous = common["needs"]
        rollback = Command("rollback", runtime.rollback(stage, model, registry, self._register_stage()), secrets)
        for i, weight in enumerate(stage.steps):
            commands = [Command(f"canary {weight}%", runtime.canary_step(stage, weight), secrets)]
            install = base["install"]
            if weight == 100 and model:
                commands.append(Command("promote", runtime.promote(model, registry, self._register_stage()), secrets,
                                        runs_project_code=registry == "command"))
                install = with_registry
            job_id = f"{stage.name}-{weight}"
            approval = f"Start the canary of {model or self.pipeline.name} in {stage.environment}?" if i == 0 and stage.approval else None
            jobs.append(Job(**{**base, "id": job_id, "title": f"{stage.name} {weight}%", "needs": previous,
                               "commands": tuple(commands), "approval": approval, "install": install,
                               "downloads": common["downloads"] if i == 0 else ()}))
            # Each step has its own rollback, which runs only when that step failed: the failing
            # step is the last one that touched traffic, and no engine has to reason about steps
            # that never started.
            jobs.append(Job(**{**base, "id": f"{job_id}-rollback", "kind": "rollback", "title": f"{stage.name} {weight}% rollback",
                               "needs": (job_id,), "commands": (rollback,), "downloads": (), "install": with_registry,
                               "when": When(when.branches, when.default_branch, on_failure_of=(job_id,))}))
            previous = (job_id,)
        return jobs

    def _register_stage(self) -> Any:
        return next((s for s in self.pipeline.stages if s.kind == "register"), None)

    def _upload(self, stage: Any, extra: tuple[str, ...], matrix: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Artifact | None:
        paths = tuple(dict.fromkeys([*stage.outputs, *extra]))
        return Artifact(stage.name, paths, stage.name, matrix) if paths else None
