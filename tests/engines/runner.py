"""One interface over the three engine runners: run a compiled repository, then ask about mlgen's jobs.

Each engine has its own runner (github/runner.py, gitlab/runner.py, jenkins/runner.py) with the
engine's own vocabulary: matrix legs named `train (gb)` or `train: [gb]`, Jenkins stages named by
title with rollbacks as `post` blocks, statuses like `manual`, `blocked`, `UNSTABLE`, and three ways
of showing that training was skipped on a cache hit. `run()` translates all of it into the plan's
job ids and a few statuses (passed, failed, skipped, and aborted: a job stopped while it ran), so a
test states an outcome once for every engine:

    result = run("gitlab", repo, branch="feature/x", pull_request=True, variables=env, state=tmp)
    assert result.job_status("canary-10-rollback") == "skipped" and result.cached("train")

The per-engine runners stay available for tests that need an engine's own details.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support import load_plan

if TYPE_CHECKING:
    from mlgen.compile.plan import Job, Plan

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# A job stopped while it ran (timeout, abort, cancel) after which its own clean-up ran. Only the Jenkins
# harness can stop a running job: act and gitlab-ci-local cannot cancel, so their `cancelled` and
# `canceled` mean "never started" and read as skipped.
ABORTED = "aborted"
# Every engine's words for "did not run" and "ran and failed", in one place. Jenkins' ABORTED is here
# too: it also marks stages an abort skipped, and _jenkins_status tells those from a stopped one.
_NORMAL = {"manual": SKIPPED, "blocked": SKIPPED, "excluded": SKIPPED, "aborted": SKIPPED, "cancelled": SKIPPED,
           "failed-allowed": FAILED, "unstable": FAILED}
_CACHE_HIT, _CACHE_MISS = "mlgen cache: hit", "mlgen cache: miss"  # what `mlgen cache hit` prints


@dataclass(frozen=True)
class Options:
    """One pipeline run, as every engine is asked for it."""

    branch: str = "main"
    pull_request: bool = False  # a pull/merge request from `branch` instead of a push
    approve: bool = True  # the reviewer's answer to every approval
    variables: dict[str, str] = field(default_factory=dict)  # environment of every job
    secrets: dict[str, str] = field(default_factory=dict)  # as each engine passes secrets
    state: Path | None = None  # kept across runs: caches, artifacts, stashes, agent workspaces
    timeout: float = 900
    # Several builds in flight (Jenkins only: act and gitlab-ci-local run one pipeline at a time):
    # their numbers, and the folder where they share `lock` resources and the build queue.
    build_number: int | None = None
    lock_dir: Path | None = None

    def one_pipeline(self, engine: str) -> None:
        if self.build_number is not None or self.lock_dir is not None:
            raise ValueError(f"{engine} runs one pipeline at a time: it cannot share locks with another run")


@dataclass
class EngineRun:
    """What one engine did with one pipeline, in the plan's job ids."""

    engine: str
    raw: Any  # the engine runner's own result (WorkflowRun, PipelineRun, JenkinsRun)
    statuses: dict[str, str]  # plan job id -> passed | failed | skipped | aborted
    cache_hits: dict[str, bool]  # plan job id of a cached job -> training was skipped
    logs: dict[str, str] = field(repr=False)  # plan job id -> what it printed
    full_log: str = field(repr=False, default="")

    def job_status(self, job: str) -> str:
        return self.statuses[job]

    def cached(self, job: str) -> bool:
        """Whether `job` passed without running the commands a cache hit skips (every leg of it)."""
        return self.cache_hits.get(job, False)

    def log(self, job: str | None = None) -> str:
        """What `job` printed, or the engine's whole log."""
        return self.full_log if job is None else self.logs.get(job, "")


def run(engine: str, repo: Path, *, spec: str = "mlgen.yaml", **options: Any) -> EngineRun:
    """Run the pipeline compiled from `repo/spec` (committed in `repo`, a git repository) on `engine`."""
    pipeline, the_plan = load_plan(repo / spec)
    targets = pipeline.enabled_targets()
    return ENGINES[engine](repo, Path(targets[engine].path), the_plan, Options(**options))


def _normal(status: str) -> str:
    return _NORMAL.get(status, status)


def _skipped_work(job: Job) -> set[str]:
    """The commands (step names) a cache hit skips."""
    return {c.name for c in job.commands if c.skip_on_cache_hit}


def _approval_jobs(the_plan: Plan) -> list[Job]:
    return [j for j in the_plan.jobs if j.approval]


# -- GitHub Actions (act) -------------------------------------------------------------------------

def _github(repo: Path, workflow: Path, the_plan: Plan, o: Options) -> EngineRun:
    from tests.engines.github.runner import run_workflow

    o.one_pipeline("act")
    state = o.state or repo.parent
    # The approval is a reviewer on the environment `<environment>-approval`; rejecting it fails that job.
    rejected = () if o.approve else tuple(dict.fromkeys(f"{j.environment}-approval" for j in _approval_jobs(the_plan)))
    raw = run_workflow(repo, workflow, ref=f"refs/heads/{o.branch}", event="pull_request" if o.pull_request else "push",
                       secrets=o.secrets, env=o.variables, cache_dir=state / "gh-cache", artifact_dir=state / "gh-artifacts",
                       rejected_environments=rejected, timeout=o.timeout)

    def legs(job_id: str) -> list[str]:
        return [k for k in raw.jobs if k == job_id or k.startswith(f"{job_id} (")]

    statuses = {j.id: _normal(raw.result(j.id)) for j in the_plan.jobs}
    # A hit sets `cache-hit`, and the `if:` of the skipped steps is false: act reports no such step.
    hits = {j.id: statuses[j.id] == PASSED and bool(legs(j.id))
            and all(not _skipped_work(j) & set(raw.steps(leg)) for leg in legs(j.id))
            for j in the_plan.jobs if j.cache}
    logs = {j.id: "".join(raw.output(leg) for leg in legs(j.id)) for j in the_plan.jobs}
    return EngineRun("github", raw, statuses, hits, logs, raw.stdout)


# -- GitLab CI (gitlab-ci-local) ----------------------------------------------------------------------

def _gitlab(repo: Path, _file: Path, the_plan: Plan, o: Options) -> EngineRun:
    from tests.engines.gitlab.runner import run_pipeline

    o.one_pipeline("gitlab-ci-local")
    if _file != Path(".gitlab-ci.yml"):  # gitlab-ci-local reads only this name
        raise ValueError(f"the GitLab runner needs the pipeline in .gitlab-ci.yml, not {_file}")
    # GitLab has no secrets apart from variables; the approval is the manual job nobody or somebody plays.
    manual = tuple(j.id for j in _approval_jobs(the_plan)) if o.approve else ()
    raw = run_pipeline(repo, branch=o.branch, merge_request=o.pull_request, variables={**o.variables, **o.secrets},
                       manual=manual, timeout=o.timeout)

    def legs(job_id: str) -> list[str]:
        return [k for k in raw.jobs if k == job_id or k.startswith(f"{job_id}: [")]

    statuses = {j.id: _normal(raw.result(j.id)) for j in the_plan.jobs}
    logs = {j.id: "".join(raw.output(leg) for leg in legs(j.id)) for j in the_plan.jobs}
    # `mlgen cache hit` decides at run time and says so in every leg.
    hits = {j.id: statuses[j.id] == PASSED and bool(legs(j.id)) and all(_CACHE_HIT in raw.output(leg) for leg in legs(j.id))
            for j in the_plan.jobs if j.cache}
    return EngineRun("gitlab", raw, statuses, hits, logs, raw.stdout)


# -- Jenkins (the Groovy harness) ------------------------------------------------------------------

def _jenkins(repo: Path, jenkinsfile: Path, the_plan: Plan, o: Options) -> EngineRun:
    from tests.engines.jenkins.runner import run_jenkinsfile

    state = o.state or repo.parent
    # Each stage on an agent workspace of its own (kept per branch across builds): files move
    # between stages only by stash, and a pull request does not see the branch's workspace.
    raw = run_jenkinsfile(repo / jenkinsfile, repo, branch=o.branch, approve=o.approve, change_request=o.pull_request,
                          agent_workspaces=state / "jenkins-agents", credentials=o.secrets, env=o.variables,
                          stash_dir=state / "stash", timeout=o.timeout, build_number=o.build_number, lock_dir=o.lock_dir)
    raw.statuses()  # raises PipelineRefused when nothing ran: never read a refusal as "every stage skipped"
    titles = {j.id: j.title for j in the_plan.jobs}
    statuses, logs = {}, {}
    for job in the_plan.jobs:
        if job.kind == "rollback":
            # A rollback is the `post { unsuccessful }` block of the step it needs.
            stage = titles[job.needs[0]]
            posts = [s.get("post", {}).get("unsuccessful") for s in raw.stages if s["stage"] == stage and "matrix" not in s]
            statuses[job.id] = _normal(posts[-1]) if posts and posts[-1] else SKIPPED
            logs[job.id] = _stage_log(raw.stdout, stage)
        elif job.report is not None:
            # A report is the `post { always }` of the evaluate stage it follows.
            stage = titles[job.needs[0]]
            posts = [s.get("post", {}).get("always") for s in raw.stages if s["stage"] == stage and "matrix" not in s]
            statuses[job.id] = _normal(posts[-1]) if posts and posts[-1] else SKIPPED
            logs[job.id] = _stage_log(raw.stdout, stage)
        else:
            statuses[job.id] = _jenkins_status(raw.stages, job.title)
            logs[job.id] = _stage_log(raw.stdout, job.title)
    hits = {j.id: statuses[j.id] == PASSED and _CACHE_HIT in logs[j.id] and _CACHE_MISS not in logs[j.id]
            for j in the_plan.jobs if j.cache}
    return EngineRun("jenkins", raw, statuses, hits, logs, raw.log)


def _jenkins_status(records: list[dict[str, Any]], stage: str) -> str:
    """The status of stage `stage` (outside matrix cells; the last report wins).

    A stage ends ABORTED when a timeout or an abort stopped its steps, but also when one fired before
    its body began (an `input` that waited past the stage's timeout).
    Only a stage whose body ran reaches its own `post`, and an abort meets the `unsuccessful` and
    `aborted` conditions: one of them having run is what marks a stage stopped while it ran.
    """
    found = [r for r in records if r["stage"] == stage and "matrix" not in r]
    if not found:
        return SKIPPED
    record = found[-1]
    status = str(record["status"]).lower()
    if status == "aborted" and {"unsuccessful", "aborted"} & set(record.get("post", {})):
        return ABORTED
    return _normal(status)


def _stage_log(stdout: str, stage: str) -> str:
    """The harness prefixes each line with its stage path, `[outer / inner {CELL=x}] `."""
    lines = []
    for line in stdout.splitlines(keepends=True):
        if line.startswith("[") and "] " in line:
            path = line[1:line.index("] ")].split(" {")[0]
            if stage in path.split(" / "):
                lines.append(line)
    return "".join(lines)


ENGINES: dict[str, Callable[[Path, Path, Plan, Options], EngineRun]] = {
    "github": _github, "gitlab": _gitlab, "jenkins": _jenkins}
