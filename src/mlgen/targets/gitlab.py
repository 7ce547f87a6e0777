"""GitLab CI: one job per plan job, `needs:` for the DAG, `rules:` for every condition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlgen import layout
from mlgen.targets import cacheguard, gitlab_pipcache, gitlab_rollout, retry, yamlout
from mlgen.targets._common import installs_with_cache_guard
from mlgen.targets.escape import gitlab_literal
from mlgen.targets.install import UV_CACHE_GITLAB, install_line, project_setup

if TYPE_CHECKING:
    from mlgen.compile.plan import Command, Job, Plan, When
    from mlgen.spec.models import Target as Settings
    from mlgen.targets import Companion

NAME = "gitlab"
TITLE = "GitLab CI"
NOT_MR = '$CI_PIPELINE_SOURCE != "merge_request_event"'
PIP_CACHE = ".cache/pip"
DEBIAN = "slim-bookworm"  # the image variant: slim, on Debian 12, the release stock agents run
# Failure reasons that happen outside the job's script (the runner, the scheduler, the API, a
# job that never started): retrying them never repeats a gate's decision or a registry write.
INFRASTRUCTURE_FAILURES = ("runner_system_failure", "stuck_or_timeout_failure", "scheduler_failure", "api_failure",
                           "unmet_prerequisites", "stale_schedule")


def emit_checked(plan: Plan, settings: Settings, jobs: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The text, and the schema's findings on the document it was written from (no re-parse)."""
    from mlgen.targets import schemas

    doc, _ = gitlab_rollout.split(document(plan, settings, jobs), plan, _condition)
    text = yamlout.dump(doc)
    return text, schemas.validate("gitlab-ci", yamlout.as_read_back(doc, text))


def companions(plan: Plan, settings: Settings, jobs: dict[str, dict[str, Any]]) -> tuple[list[Companion], list[str]]:
    """One child config per rollout (see `gitlab_rollout`), and the schema's findings on each."""
    from mlgen.targets import Companion, schemas

    _, children = gitlab_rollout.split(document(plan, settings, jobs), plan, _condition)
    made, problems = [], []
    for rollout, doc in children:
        text = yamlout.dump(doc)
        made.append(Companion(gitlab_rollout.KIND, rollout.path, text))
        problems += [f"{rollout.path}: {p}" for p in schemas.validate("gitlab-ci", yamlout.as_read_back(doc, text))]
    return made, problems


def jobs(plan: Plan, settings: Settings) -> dict[str, dict[str, Any]]:
    """The pipeline's jobs by id: what overrides patch."""
    rollbacks = {step: job for job in plan.jobs if job.kind == "rollback" for step in job.when.on_failure_of}
    uploaders = gitlab_pipcache.uploaders(plan)
    return {job.id: _job(job, plan, settings, rollbacks.get(job.id), job.id in uploaders) for job in plan.jobs}


def document(plan: Plan, settings: Settings, jobs_by_id: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The pipeline around `jobs_by_id` (the overridden jobs; default: `jobs(plan, settings)`)."""
    jobs_by_id = jobs(plan, settings) if jobs_by_id is None else jobs_by_id
    doc: dict[str, Any] = {"workflow": {"name": f"mlgen {plan.name}", "rules": _workflow_rules(plan)}}
    doc["stages"] = list(dict.fromkeys(_stage_of(job) for job in plan.jobs))
    # Most jobs only restore pip's cache; the few that upload it say so (gitlab_pipcache).
    doc["default"] = {"image": image(plan, settings), "interruptible": True, "cache": _pip_cache(plan, upload=False)}
    # pip's (or uv's) download cache lives in the project dir, the only place GitLab caches from.
    doc["variables"] = {**_cache_variables(plan), **{k: _variable(v) for k, v in plan.env}}
    doc.update(jobs_by_id)
    return doc


def image(plan: Plan, settings: Settings) -> str:
    """The spec's `targets.gitlab.image`, or the official Python image pinned to its Debian release:
    `python:3.12` alone follows Debian's next release (and its system libraries) without notice."""
    return getattr(settings, "image", None) or default_image(plan.python)


def default_image(python: str) -> str:
    return f"python:{python}-{DEBIAN}"


def _stage_of(job: Job) -> str:
    return job.stage


def _variable(value: str) -> Any:
    # GitLab expands `$NAME` in variable values; spec values are literal, so write `$` as `$$`.
    return gitlab_literal(value)


def _workflow_rules(plan: Plan) -> list[dict[str, Any]]:
    t = plan.triggers
    rules: list[dict[str, Any]] = []
    if t.pull_request:
        rules.append({"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'})
    # A push to a branch with an open merge request would otherwise run twice.
    rules.append({"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"})
    if t.schedule:
        rules.append({"if": '$CI_PIPELINE_SOURCE == "schedule"'})
    if t.manual:
        rules.append({"if": '$CI_PIPELINE_SOURCE == "web"'})
    for branch in t.push:
        rules.append({"if": f'$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == "{branch}"'})
    return rules


def _job(job: Job, plan: Plan, settings: Settings, rollback: Job | None = None,
         uploads_pip_cache: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"stage": _stage_of(job)}
    out["needs"] = [{"job": n, "artifacts": any(a.producer == n for a in job.downloads)} for n in job.needs]
    out["needs"] += [{"job": a.producer, "artifacts": True} for a in job.downloads if a.producer not in job.needs]
    tags = [t for label in job.runner for t in settings.runners.get(label, [label])]
    if tags:
        out["tags"] = tags
    out["timeout"] = f"{job.timeout_minutes} minutes"
    writes = job.deploys or job.kind == "register"
    if job.retries and not writes:
        # A job that writes is never run again: a runner that dies after the write would repeat it.
        out["retry"] = {"max": job.retries, "when": list(INFRASTRUCTURE_FAILURES)}
    if writes:
        out["interruptible"] = False  # never cancel a registry write or a deployment halfway
    variables = dict(job.env)
    if variables:
        out["variables"] = {k: _variable(v) for k, v in variables.items()}
    if job.matrix:
        out["parallel"] = {"matrix": [{k: list(v) for k, v in job.matrix}]}
    rules = _rules(job, plan)
    if rules:
        out["rules"] = rules
    if job.environment:
        env: dict[str, Any] = {"name": job.environment, "deployment_tier": _tier(job.environment)}
        if not job.deployment:
            # Only for the environment-scoped variables (the write credential): not a deployment.
            env["action"] = "prepare"
        if job.environment_url:
            env["url"] = job.environment_url
        out["environment"] = env
    if job.lock:  # the deploy steps, their rollbacks and the register job that starts the rollout
        out["resource_group"] = job.lock
    if job.cache:
        key = "-".join([job.cache.prefix, *(f"${k}" for k, _ in job.matrix)])
        # A job's own `cache:` replaces the default one, so pip's is listed again.
        out["cache"] = [{"key": key, "paths": [*job.cache.paths, layout.CACHE_STAMPS + "/"], "when": "on_success"},
                        _pip_cache(plan, upload=uploads_pip_cache)]
    elif uploads_pip_cache:
        out["cache"] = _pip_cache(plan, upload=True)
    before = [retry.wrap_inline(install_line(i, plan.installer), job.retries) for i in installs_with_cache_guard(job)]
    setup = cacheguard.setup_outside_guard(job, project_setup(plan.setup, plan.installer)) if job.needs_project_setup else None
    if setup:
        before.append(retry.wrap_inline(setup, job.retries))
    if before:
        out["before_script"] = before
    out["script"] = [_script(_bound(c, retry.wrap_inline(c.script, job.retries) if c.retryable else c.script),
                             c.skip_on_cache_hit, job, plan) for c in job.commands]
    if job.report is not None:
        from mlgen.compile import reportjob

        # The job token may not write merge request notes: the spec names a masked variable that may.
        out["script"] = [reportjob.script(plan, job, token_env=job.report.gitlab_token)]
    if rollback is not None:
        out["after_script"] = [_rollback_on_cancel(rollback, plan)]
    artifacts: dict[str, Any] = {}
    if job.upload:
        artifacts["paths"] = list(job.upload.paths)
        artifacts["expire_in"] = "1 week"
    if job.report_inputs or job.report:
        # What the report reads, and the report itself, also when the job failed.
        extra = job.report_inputs.paths if job.report_inputs else ()
        artifacts["paths"] = list(dict.fromkeys([*artifacts.get("paths", []), *extra]))
        artifacts.setdefault("expire_in", "1 week")
        artifacts["when"] = "always"
    if job.junit:
        artifacts["reports"] = {"junit": job.junit}
        artifacts["when"] = "always"  # gate reports matter most when the gate fails
    if artifacts:
        out["artifacts"] = artifacts
    return out


def _pip_cache(plan: Plan, *, upload: bool) -> dict[str, Any]:
    """pip's downloads, one cache per Python version and set of requirement files; `upload`: this
    job's downloads are kept for the next pipelines, else the job only restores the cache.

    `cache:key:files` takes at most two files; with more, the key is fixed per Python version
    (a stale download cache costs downloads, never correctness: pip still resolves each time).
    """
    prefix = f"{plan.installer}-{plan.python}"
    key: Any = {"files": list(plan.requirements), "prefix": prefix} if 0 < len(plan.requirements) <= 2 else prefix
    path = UV_CACHE_GITLAB if plan.installer == "uv" else PIP_CACHE
    if not upload:
        return {"key": key, "paths": [path + "/"], "policy": "pull"}
    return {"key": key, "paths": [path + "/"], "when": "on_success"}


def _cache_variables(plan: Plan) -> dict[str, str]:
    if plan.installer == "uv":
        # The cache and the job's Python may sit on other file systems: copy, and say nothing about it.
        return {"UV_CACHE_DIR": f"$CI_PROJECT_DIR/{UV_CACHE_GITLAB}", "UV_LINK_MODE": "copy"}
    return {"PIP_CACHE_DIR": f"$CI_PROJECT_DIR/{PIP_CACHE}"}


def _rollback_on_cancel(rollback: Job, plan: Plan) -> str:
    """The step's rollback when the step was cancelled, from its own `after_script`.

    A `when: on_failure` job never runs for a cancelled need, but since GitLab 17.0 `after_script`
    runs when a running job is cancelled, with `$CI_JOB_STATUS` reading `canceled`. Failures and
    timeouts (status `failed`) are left to the step's on_failure rollback job, so each bad ending
    runs the rollback once, never twice.
    """
    # Not indented: a quoted value in the command may span lines and must stay byte-exact.
    install = install_line(rollback.install, plan.installer) if rollback.install else None
    lines = [retry.wrap_inline(install, rollback.retries).rstrip("\n")] if install else []
    body = "\n".join([*lines, *(_bound(c, c.script) for c in rollback.commands)])
    return f'if [ "$CI_JOB_STATUS" = canceled ]; then\n{body}\nfi'


def _bound(command: Command, script: str) -> str:
    """A role credential reaches the command under the variable it reads.

    GitLab hands every job the project variables its branch and environment may see (a protected
    variable only on protected branches, an environment-scoped one only in jobs of that
    environment); the secret's own name is one of them, the client reads another.
    """
    if command.credential is None or command.credential[0] == command.credential[1]:
        return script
    variable, secret = command.credential
    return f'export {variable}="${{{secret}:-}}"\n{script}'


def _script(script: str, cached: bool, job: Job, plan: Plan) -> str:
    if not cached:
        return script
    setup = project_setup(plan.setup, plan.installer)
    setup = retry.wrap_inline(setup, job.retries) if setup else None
    return cacheguard.guard(script, job, setup)


def _rules(job: Job, plan: Plan) -> list[dict[str, Any]]:
    condition = _condition(job.when)
    if job.when.on_failure_of:
        return [{"if": condition, "when": "on_failure"}] if condition else [{"when": "on_failure"}]
    if job.when.despite_failure:
        # `when: always` runs the job once its needs ended, failed or skipped ones included.
        return [{"if": condition, "when": "always"}] if condition else [{"when": "always"}]
    if job.approval:
        # In `rules:`, a manual job blocks the pipeline only with allow_failure: false stated.
        rule: dict[str, Any] = {"when": "manual", "allow_failure": False}
        return [{"if": condition, **rule}] if condition else [rule]
    if condition:
        return [{"if": condition}]
    return []


def _condition(when: When) -> str | None:
    if not when.branch_only:
        return None
    refs = [f'$CI_COMMIT_BRANCH == "{b}"' for b in when.branches]
    if when.default_branch:
        refs.append("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH")
    joined = " || ".join(refs)
    return f"{NOT_MR} && ({joined})" if len(refs) > 1 else f"{NOT_MR} && {joined}"


def _tier(environment: str) -> str:
    tiers = ("production", "staging", "testing", "development")
    return next((t for t in tiers if environment.startswith(t[:4])), "other")


def validate(text: str) -> list[str]:
    from mlgen.targets import schemas

    return schemas.validate("gitlab-ci", yamlout.load(text))


def notes(plan: Plan) -> list[str]:
    out = []
    if any(j.cache for j in plan.jobs):
        out.append("cache: `cache:key:files` takes at most two files and no globs, so the cache key is fixed per stage "
                   "and `mlgen cache hit` compares a content hash of the key files before skipping training.")
    if plan.secrets:
        out.append("secrets: define them as masked, protected CI/CD variables; GitLab cannot hide project variables from "
                   "individual jobs, so scope them to the environment where possible.")
    envs = sorted({f"`{j.environment}`" for j in plan.jobs if j.environment and j.secrets})
    if envs:
        out.append(f"credentials: the registry write token is a masked, protected variable scoped to {', '.join(envs)} "
                   "(its jobs run only on the default branch); a read token for merge request gates must not be protected.")
    if plan.triggers.schedule:
        out.append(f"schedule: create a pipeline schedule with cron `{plan.triggers.schedule}` in the project settings; "
                   "the workflow rules admit scheduled pipelines.")
    for rollout in gitlab_rollout.rollouts(plan):
        # The order of a resource group's waiting jobs is set through the API only, never in the YAML.
        out.append(f"rollout: `{'`, `'.join(rollout.ids)}` run in the child pipeline `{rollout.path}`, started by the "
                   f"trigger job `{rollout.trigger_id}`, which holds resource group `{rollout.lock}` until the child "
                   "pipeline ended (no other pipeline deploys in between); set the group's process mode to "
                   f"`oldest_first` (API: `PUT /projects/:id/resource_groups/{quote(rollout.lock, safe='')}`, the key "
                   "URL-encoded) so waiting rollouts go in pipeline order.")
    tokens = sorted({j.report.gitlab_token for j in plan.jobs if j.report})
    if tokens:
        out.append(f"report: the job token may not write merge request notes; define `{tokens[0]}` as a masked CI/CD variable "
                   "holding a token with the `api` scope (without it, the report is the job's artifact only).")
    return out
