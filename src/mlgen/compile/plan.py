"""The target-neutral plan: jobs, their order, conditions, files, caches, secrets and approvals.

Emitters only translate this IR into their target's idioms; every ML decision (what a kind
means, which job gets which secret, where rollback hangs) is made here, once.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlgen import layout
from mlgen.compile import calls, names, trust
from mlgen.errors import Problem, SpecError
from mlgen.spec import access, graph
from mlgen.spec.conditions import NeverRuns, When, narrow
from mlgen.spec.models import duration_minutes
from mlgen.spec.source import locate

if TYPE_CHECKING:
    from mlgen.spec.models import AnyStage, Pipeline
    from mlgen.spec.source import Source

__all__ = ["DISTRIBUTION", "LEG_SEPARATOR", "REPORTS_DIR", "ROLLBACK_SETUP_RETRIES", "Artifact", "Cache", "Command", "Job", "Plan",
           "ProjectSetup", "Triggers", "When", "build"]

from mlgen.compile.ir import (  # the IR lives in `ir`; `plan` builds it
    DISTRIBUTION,
    LEG_SEPARATOR,
    REPORTS_DIR,
    ROLLBACK_SETUP_RETRIES,
    Artifact,
    Cache,
    Command,
    Job,
    Plan,
    ProjectSetup,
    Triggers,
)


def build(pipeline: Pipeline, version: str, source: Source | None = None) -> Plan:
    """The plan of a checked pipeline (`load.check_pipeline` passed). Raises SpecError, located."""
    the_graph = graph.Graph(pipeline)
    builder = _Builder(pipeline, version, the_graph)
    jobs: dict[str, Job] = {}
    taken: dict[str, str] = {}  # job and approval ids -> stage
    problems: list[Problem] = []
    for name in the_graph.order:
        stage = the_graph.stages[name]
        for job in builder.jobs_for(stage):
            try:
                job = _inherit(job, jobs, pipeline.defaults.branch)
            except NeverRuns as never:
                problems.append(_never_runs(stage, jobs[str(never)], pipeline, source))
                # keep the job as written, so later stages are still checked
            _check_unique_id(job, taken, pipeline, source, problems)
            jobs[job.id] = job
    if problems:
        raise SpecError(problems)
    for job in list(jobs.values()):
        if job.kind == "register" and job.stage in builder.rollout_lock:
            jobs[job.id] = dataclasses.replace(job, lock=builder.rollout_lock[job.stage])
    t = pipeline.triggers
    the_plan = Plan(
        name=pipeline.name, version=version, default_branch=pipeline.defaults.branch,
        python=pipeline.defaults.python, setup=pipeline.defaults.setup, requirements=tuple(pipeline.defaults.requirements),
        triggers=Triggers(tuple(t.push or [pipeline.defaults.branch]), t.pull_request, t.schedule, t.manual),
        env=tuple(pipeline.env.items()), secrets=tuple(pipeline.secrets), jobs=tuple(jobs.values()),
        installer=pipeline.defaults.installer,
    )
    problems = names.check(pipeline, the_plan, source) + trust.check(pipeline, the_plan, source)
    if problems:
        raise SpecError(problems)
    return the_plan


def _inherit(job: Job, jobs: dict[str, Job], default: str) -> Job:
    """A job runs only where every job it needs runs: narrow its condition by theirs."""
    when = job.when
    for need in job.needs:
        when = narrow(when, jobs[need].when, need, default)
    return job if when == job.when else dataclasses.replace(job, when=when)


def _never_runs(stage: Any, need: Job, pipeline: Pipeline, source: Source | None) -> Problem:
    index = [s.name for s in pipeline.stages].index(stage.name)
    own = stage.branches if getattr(stage, "branches", None) is not None else [f"{pipeline.defaults.branch} (the default branch)"]
    theirs = [*need.when.branches, *([pipeline.defaults.branch] if need.when.default_branch else [])]
    loc = ("stages", index, "branches") if getattr(stage, "branches", None) is not None else ("stages", index, "name")
    return locate(source, loc, f"stage `{stage.name}` can never run: it runs only on {', '.join(own)}, but it waits for "
                               f"`{need.id}`, which runs only on {', '.join(dict.fromkeys(theirs))}",
                  "give both stages a common branch in `branches:`, or make this stage wait for another one")


def _check_unique_id(job: Job, taken: dict[str, str], pipeline: Pipeline, source: Source | None,
                     problems: list[Problem]) -> None:
    """`taken`: job and approval ids made so far -> their stage; this job's ids are added."""
    for job_id in filter(None, (job.id, job.approval_id)):
        if job_id in taken:
            index = [s.name for s in pipeline.stages].index(job.stage)
            problems.append(locate(source, ("stages", index, "name"),
                                   f"job id `{job_id}` (from stage `{job.stage}`) clashes with one from stage `{taken[job_id]}`",
                                   "canary stages make jobs named <stage>-<weight>, <stage>-<weight>-rollback and "
                                   "<stage>-<first weight>-approval, evaluate stages <stage>-report; rename one of the stages"))
        else:
            taken[job_id] = job.stage


def upload_paths(stage: Any) -> tuple[str, ...]:
    """What a stage hands to later stages: its outputs, and for evaluate its metrics and gate results."""
    if stage.kind == "canary":
        return ()
    extra = (stage.metrics, calls.gate_results(stage.name), *filter(None, [stage.predictions])) if stage.kind == "evaluate" else ()
    if stage.kind == "register":  # the version it created, which the rollout acts on
        extra = (layout.registered(stage.model),)
    return tuple(dict.fromkeys([*stage.outputs, *extra]))


def covers(paths: tuple[str, ...], path: str) -> bool:
    """Whether handing on `paths` hands on `path` (the same file or folder, or a folder above it)."""
    want = path.rstrip("/")
    return any(want == p.rstrip("/") or want.startswith(p.rstrip("/") + "/") for p in paths)



def rollout_lock(environment: str, model: str) -> str:
    """The one lock of every rollout of `model` (the pipeline's name when no model is registered) to
    `environment`: rollouts of other models to the same environment never wait for it. `/` appears in
    neither name, so no two pairs share a lock, and it is valid in a GitLab resource group, a GitHub
    concurrency group and a Lockable Resources name alike."""
    return f"deploy/{environment}/{model}"

class _Builder:
    def __init__(self, pipeline: Pipeline, version: str, the_graph: graph.Graph) -> None:
        self.pipeline, self.version, self.graph = pipeline, version, the_graph
        self.needs = the_graph.needs
        self.artifacts: dict[str, Artifact] = {}  # stage -> what it hands on
        self.last_job: dict[str, str] = {}  # stage -> the job id later stages wait for
        self.rollout_lock: dict[str, str] = {}  # register stage -> the lock of the rollout it starts
        from mlgen.compile.reportjob import Inputs
        self.report_inputs = Inputs(the_graph)  # false when the pipeline has no report
        self.defaults = pipeline.defaults

    def jobs_for(self, stage: AnyStage) -> list[Job]:
        jobs = _JOBS_BY_KIND[stage.kind](self, stage, self._common(stage))
        self.last_job[stage.name] = [j.id for j in jobs if j.kind != "rollback"][-1]
        upload = jobs[0].upload if stage.kind != "canary" else None
        if upload is not None:
            self.artifacts[stage.name] = upload
        return self._with_report(stage, jobs)

    def _with_report(self, stage: AnyStage, jobs: list[Job]) -> list[Job]:
        """Hand on what the report reads; after an evaluate stage, add its report job."""
        from mlgen.compile import reportjob
        inputs = reportjob.inputs_artifact(stage, jobs[0]) if self.report_inputs else None
        if inputs is not None:
            jobs[0] = dataclasses.replace(jobs[0], report_inputs=inputs)
            self.report_inputs.add(stage.name, inputs)
        if stage.kind != "evaluate" or not self.report_inputs:
            return jobs
        return [*jobs, reportjob.job(stage, jobs[0], self.report_inputs.read_by(stage.name), self.pipeline, self._mlgen())]

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
            producer = self.graph.nearest_producer(
                stage.name, stage.path, lambda name, path: covers(upload_paths(self.graph.stages[name]), path))
            if producer:
                sources.append(producer)
            # its gate results (and the predictions they were decided on) come from that evaluate stage
            evaluate = self.graph.evaluate_above[stage.name]
            if evaluate:
                sources.append(evaluate)
        return tuple(dict.fromkeys(self.artifacts[s] for s in sources if s in self.artifacts))

    def _secrets(self, stage: AnyStage, default_all: bool) -> tuple[str, ...]:
        return access.stage_secrets(stage, self.pipeline, default_all)

    def _with_credential(self, command: Command, role: str) -> Command:
        return trust.with_credential(command, self.pipeline, role)

    def _mlgen(self, *extras: str) -> str:
        wanted = sorted({e for e in extras if e})
        return f"{DISTRIBUTION}[{','.join(wanted)}]=={self.version}" if wanted else f"{DISTRIBUTION}=={self.version}"

    def _user_cmd(self, name: str, script: str | None, stage: AnyStage, **kw: Any) -> list[Command]:
        if script is None:
            return []
        return [Command(name, script, secrets=tuple(stage.secrets or ()), retryable=True, **kw)]

    def _branches(self, branches: list[str] | None) -> When:
        if branches is None:
            return When(default_branch=True)
        return When(branches=tuple(branches))

    # -- one method per stage kind -----------------------------------------------------------
    def _validate(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        commands = self._user_cmd(stage.name, stage.run, stage)
        install = None
        if stage.contract:
            commands.append(Command("data check", calls.data_check(stage), self._secrets(stage, False), runs_project_code=False))
            install = self._mlgen("data")
        return [Job(**common, commands=tuple(commands), install=install, upload=self._upload(stage),
                    junit=f"{REPORTS_DIR}/{stage.name}-*.xml" if stage.contract else None)]

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
        job = Job(**common, commands=tuple(commands), matrix=matrix, cache=cache, upload=self._upload(stage, matrix))
        return [job]

    def _evaluate(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        registry_baseline = stage.baseline is not None and stage.baseline.registry is not None
        commands = self._user_cmd(stage.name, stage.run, stage)
        # Only a registry baseline asks the registry; `load.check_pipeline` made sure it resolves.
        registry = self.graph.registry(stage) if registry_baseline else None
        if registry is not None and stage.baseline.rescore:
            # The evaluate command runs again, on the champion's files: project code. It reads the
            # registry, and runs on pull/merge requests too: the read credential, never the write one.
            rescore = Command("rescore champion", calls.rescore(stage, registry), self._secrets(stage, False))
            commands.append(self._with_credential(rescore, "read"))
        # The gate gets no declared secret unless the stage lists it: it runs on pull/merge requests.
        gate = Command("gate", calls.gate(stage, registry), self._secrets(stage, False),
                       runs_project_code=registry is not None and registry.kind == "command")
        commands.append(self._with_credential(gate, "read") if registry_baseline else gate)
        client = "mlflow" if registry is not None and registry.kind == "mlflow" else ""
        # Bounds from per-example predictions need numpy and pandas (the `data` extra).
        return [Job(**common, commands=tuple(commands), install=self._mlgen(client, "data" if stage.predictions else ""),
                    upload=self._upload(stage), junit=f"{REPORTS_DIR}/{stage.name}-*.xml")]

    def _register(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        commands = [self._with_credential(Command("register", calls.register(stage, self.graph.evaluate_above[stage.name]),
                                                  self._secrets(stage, True), runs_project_code=stage.registry == "command"),
                                          "write")]
        upload, describes = self._upload(stage), None
        evaluate = self.graph.evaluate_above[stage.name]
        if self.report_inputs and evaluate:
            # The report ran before this job: the version it registered joins it from here, with this job.
            from mlgen.compile import reportjob
            commands.append(reportjob.registered_command(evaluate, self.pipeline.name, stage.model))
            upload, describes = reportjob.with_registered(upload, stage.name), reportjob.REGISTERED_DESCRIPTION
        # In the deployment environment, where the write secret lives, without recording a deployment.
        return [Job(**common, commands=tuple(commands), when=self._branches(stage.branches),
                    environment=trust.write_environment(self.pipeline), deployment=False,
                    install=self._mlgen("mlflow" if stage.registry == "mlflow" else ""), upload=upload,
                    describes=describes)]

    def _canary(self, stage: Any, common: dict[str, Any]) -> list[Job]:
        secrets = self._secrets(stage, True)
        registry = self.graph.registry(stage)
        model = registry.model
        # Only the jobs that touch the registry (promote, rollback) install its client.
        with_registry = self._mlgen("mlflow" if model and registry.kind == "mlflow" else "")
        when = self._branches(stage.branches)
        base = dict(common, kind="canary", install=self._mlgen(), when=when, environment=stage.environment,
                    environment_url=stage.url, lock=rollout_lock(stage.environment, model or self.pipeline.name),
                    deploys=True, retries=0)
        jobs = []
        previous = common["needs"]
        rollback = self._with_credential(Command("rollback", calls.rollback(stage, registry), secrets), "write")
        if registry.register is not None:  # the rollout starts at register: one lock holds both
            self.rollout_lock.setdefault(registry.register.name, base["lock"])
        # Every step and rollback reads the version the register job recorded (its artifact).
        records = tuple(a for a in common["downloads"] if registry.register is not None and a.producer == registry.register.name)
        for i, weight in enumerate(stage.steps):
            commands = [Command(f"canary {weight}%", calls.canary_step(stage, weight, registry), secrets)]
            install = base["install"]
            if weight == 100 and model:
                commands.append(self._with_credential(Command("promote", calls.promote(registry), secrets,
                                                              runs_project_code=registry.kind == "command"), "write"))
                install = with_registry
            job_id = f"{stage.name}-{weight}"
            approval = f"Start the canary of {model or self.pipeline.name} in {stage.environment}?" if i == 0 and stage.approval else None
            submitter = getattr(stage.approval, "submitter", None) if approval else None
            jobs.append(Job(**{**base, "id": job_id, "title": f"{stage.name} {weight}%", "needs": previous,
                               "commands": tuple(commands), "approval": approval, "submitter": submitter, "install": install,
                               "downloads": common["downloads"] if i == 0 else records}))
            # Each step has its own rollback, which runs only when that step failed: the failing
            # step is the last one that touched traffic, and no engine has to reason about steps
            # that never started.
            jobs.append(Job(**{**base, "id": f"{job_id}-rollback", "kind": "rollback", "title": f"{stage.name} {weight}% rollback",
                               "needs": (job_id,), "commands": (rollback,), "downloads": records, "install": with_registry,
                               "retries": ROLLBACK_SETUP_RETRIES,
                               "when": When(when.branches, when.default_branch, on_failure_of=(job_id,))}))
            previous = (job_id,)
        return jobs

    def _upload(self, stage: Any, matrix: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Artifact | None:
        paths = upload_paths(stage)
        return Artifact(stage.name, paths, stage.name, matrix) if paths else None


# One builder method per stage kind: (builder, stage, the fields every job of the stage shares) -> jobs.
_JOBS_BY_KIND: dict[str, Callable[[_Builder, Any, dict[str, Any]], list[Job]]] = {
    "validate": _Builder._validate, "train": _Builder._train, "evaluate": _Builder._evaluate,
    "register": _Builder._register, "canary": _Builder._canary,
}
