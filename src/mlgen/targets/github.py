"""GitHub Actions: one workflow, one job per plan job, `needs:` for the DAG."""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import TYPE_CHECKING, Any

from mlgen.compile.names import approval_environment
from mlgen.compile.plan import LEG_SEPARATOR
from mlgen.targets import Companion, SettingRefused, github_records, github_reviewers, github_rollout, retry, yamlout
from mlgen.targets import pins as pinning
from mlgen.targets.escape import gha_string, sh_quote
from mlgen.targets.install import install_line, project_setup

if TYPE_CHECKING:
    from mlgen.compile.plan import Artifact, Command, Job, Plan, When
    from mlgen.spec.models import Target as Settings

NAME = "github"
TITLE = "GitHub Actions"
DEFAULT_RUNNER = "ubuntu-latest"
MISS = "steps.cache.outputs.cache-hit != 'true'"
HOSTED = re.compile(r"^(ubuntu|windows|macos)-[a-z0-9.-]+$")  # GitHub-hosted image labels


def publishes(plan: Plan) -> bool:
    """Whether the workflow runs on pushes to release branches, which zizmor (and we) treat as
    publishing: a cache restored there could carry outputs poisoned elsewhere into a release."""
    return any("release" in branch.lower() for branch in plan.triggers.push)


def _without_cache(job: Job) -> Job:
    commands = tuple(dataclasses.replace(c, skip_on_cache_hit=False) for c in job.commands)
    return dataclasses.replace(job, cache=None, commands=commands)


def emit_checked(plan: Plan, settings: Settings, jobs: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The text, and the schema's findings on the document it was written from (no re-parse)."""
    from mlgen.targets import schemas

    workflow = document(plan, settings, github_rollout.main_jobs(plan, settings.path, jobs))
    text = _render(workflow, settings)
    return text, schemas.validate("github-workflows", yamlout.as_read_back(workflow, text))


def companions(plan: Plan, settings: Settings, jobs: dict[str, dict[str, Any]]) -> tuple[list[Companion], list[str]]:
    """One reusable workflow per rollout, beside the main workflow (which calls each from one
    locked job), and the schema's findings on them: see `github_rollout`."""
    from mlgen.targets import schemas

    made, problems = [], []
    for unit in github_rollout.units(plan, settings.path, jobs):
        workflow = github_rollout.called_workflow(plan, unit, jobs)
        text = _render(workflow, settings)
        made.append(Companion(github_rollout.KIND, unit.path, text))
        problems += [f"{unit.path}: {p}" for p in schemas.validate("github-workflows", yamlout.as_read_back(workflow, text))]
    return made, problems


def _render(workflow: dict[str, Any], settings: Settings) -> str:
    return github_rollout.mark_calls(_version_comments(yamlout.dump(workflow), _pins(settings)))


def _pins(settings: Settings) -> dict[str, pinning.Pin]:
    """The default pins with the spec's `targets.github.actions` bumps applied."""
    try:
        return pinning.resolve(settings.actions)
    except pinning.UnknownAction as unknown:
        known = ", ".join(p.repo for p in pinning.ACTIONS.values())
        raise SettingRefused(("targets", "github", "actions", str(unknown)), f"targets.github.actions: mlgen emits no `{unknown}` action",
                             f"the actions mlgen emits: {known}") from None


def jobs(plan: Plan, settings: Settings) -> dict[str, dict[str, Any]]:
    """The workflow's jobs by id, approval jobs included: what overrides patch."""
    out: dict[str, dict[str, Any]] = {}
    pins = _pins(settings)
    for job in plan.jobs:
        if job.cache is not None and publishes(plan):
            job = _without_cache(job)  # train from scratch: see `publishes`
        if job.approval_id:
            out[job.approval_id] = _approval(job, plan, settings)
        out[job.id] = _job(job, plan, settings, pins)
    return out


def document(plan: Plan, settings: Settings, jobs_by_id: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The workflow around `jobs_by_id` (the overridden jobs; default: `jobs(plan, settings)`)."""
    jobs_by_id = jobs(plan, settings) if jobs_by_id is None else jobs_by_id
    workflow: dict[str, Any] = {"name": f"mlgen {plan.name}", "on": _triggers(plan)}
    workflow["permissions"] = {}  # nothing by default; each job asks for what it needs
    workflow["concurrency"] = _workflow_concurrency(plan)
    if plan.env:
        workflow["env"] = dict(plan.env)
    workflow["defaults"] = {"run": {"shell": "bash"}}
    workflow["jobs"] = jobs_by_id
    return workflow


def _workflow_concurrency(plan: Plan) -> dict[str, Any]:
    """A newer run of a pull request cancels the older one; pushes, schedules and manual runs
    each get a group of their own (`github.run_id`), so they never queue behind one another.

    A group holds one running and one pending run, and a newly queued run cancels the pending
    one: a shared group on `main` would let a run waiting for approval hold back every later
    push and schedule, and cancel them in turn. Each rollout holds its own lock (`github_rollout`).
    """
    return {
        # `github.ref` of a pull request is `refs/pull/<n>/merge`: one group per pull request.
        "group": f"mlgen-{plan.name}-${{{{ github.event_name == 'pull_request' && github.ref || github.run_id }}}}",
        "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
    }


def _version_comments(text: str, pins: dict[str, pinning.Pin]) -> str:
    """`uses: repo@sha  # v1.2.3`: the SHA is what runs, the comment is for humans and updaters."""
    by_uses = {pin.uses: pin.version for pin in pins.values()}

    def comment(found: re.Match[str]) -> str:
        # only where this is the line's first `uses: ` (and so the rest of the line is the pin)
        first = "uses: " not in text[text.rfind("\n", 0, found.start()) + 1:found.start()]
        return f"{found.group()}  # {by_uses[found.group(1)]}" if first else found.group()

    # one scan of the text for the candidates, instead of a Python loop over every line
    return re.sub("uses: (" + "|".join(map(re.escape, by_uses)) + ")$", comment, text, flags=re.MULTILINE) if by_uses else text


def _triggers(plan: Plan) -> dict[str, Any]:
    t = plan.triggers
    on: dict[str, Any] = {"push": {"branches": list(t.push)}}
    if t.pull_request:
        on["pull_request"] = {}
    if t.schedule:
        on["schedule"] = [{"cron": t.schedule}]
    if t.manual:
        on["workflow_dispatch"] = {}
    return on


def _approval(job: Job, plan: Plan, settings: Settings) -> dict[str, Any]:
    """The approval as a job of its own, the only one that references the reviewers' environment.

    GitHub asks for review in every job that references an environment with required reviewers.
    The rollout's jobs and rollbacks reference the deployment environment itself, so the people
    approve once, and a rollback never waits for anyone.
    """
    assert job.approval and job.environment, job.id
    out = _head(f"approve {job.title}", list(job.needs), job, plan, settings)
    out["permissions"] = dict(github_reviewers.PERMISSIONS)  # to read the environment's protection rules
    out["timeout-minutes"] = 5
    out["environment"] = {"name": approval_environment(job.environment)}
    out["steps"] = [github_reviewers.check_step(approval_environment(job.environment)),
                    {"name": "Approved", "run": f'printf \'Approved: %s\\n\' {sh_quote(job.approval)} >> "$GITHUB_STEP_SUMMARY"'}]
    return out


def _head(title: str, needs: list[str], job: Job, plan: Plan, settings: Settings) -> dict[str, Any]:
    """name, needs, if and runs-on: what a job and its approval job share."""
    out: dict[str, Any] = {"name": title}
    if needs:
        out["needs"] = needs
    labels = _labels(job.runner, settings)
    condition = _condition(job.when, plan, self_hosted="self-hosted" in labels)
    if condition:
        out["if"] = condition
    out["runs-on"] = labels[0] if len(labels) == 1 else labels
    return out


def _job(job: Job, plan: Plan, settings: Settings, pins: dict[str, pinning.Pin]) -> dict[str, Any]:
    out = _head(job.title, [*job.needs, *filter(None, [job.approval_id])], job, plan, settings)
    out["permissions"] = {"contents": "read"}
    if job.report is not None:
        # Commenting on the pull request: this job only. A fork's pull request still gets a
        # read-only token (`pull_request`, never `pull_request_target`); the report then falls back.
        out["permissions"]["pull-requests"] = "write"
    out["timeout-minutes"] = job.timeout_minutes
    if job.environment:
        # The job's secrets resolve to the environment's secrets (the write credential lives there).
        env: dict[str, Any] = {"name": job.environment}
        if job.environment_url:
            env["url"] = job.environment_url
        out["environment"] = env
    # A locked job (`job.lock`) takes no lock of its own: its whole rollout runs in one reusable
    # workflow, called by one job that holds the lock (`github_rollout`).
    if job.matrix:
        out["strategy"] = {"fail-fast": False, "matrix": {k.lower(): list(v) for k, v in job.matrix}}
    env_vars = {k: f"${{{{ matrix.{k.lower()} }}}}" for k, _ in job.matrix}
    env_vars.update(job.env)
    if env_vars:
        out["env"] = env_vars
    out["steps"] = _steps(job, plan, pins)
    return out


def _labels(labels: tuple[str, ...], settings: Settings) -> list[str]:
    """`runs-on` labels; `self-hosted` comes first when any label is not a GitHub-hosted image."""
    mapped: list[str] = []
    for label in labels or (DEFAULT_RUNNER,):
        mapped.extend(settings.runners.get(label, [label]))
    mapped = list(dict.fromkeys(mapped))
    if any(not HOSTED.match(label) for label in mapped) and "self-hosted" not in mapped:
        mapped.insert(0, "self-hosted")  # custom labels exist only on self-hosted runners
    return mapped


# A pull request from a fork runs the fork's code. GitHub advises against running it on
# self-hosted runners (they keep state and sit inside your network): such jobs run only for
# pull requests whose head branch lives in this repository.
NOT_FROM_A_FORK = "(github.event_name != 'pull_request' || github.event.pull_request.head.repo.full_name == github.repository)"


def _condition(when: When, plan: Plan, self_hosted: bool = False) -> str | None:
    parts = []
    if self_hosted and not when.branch_only:
        parts.append(NOT_FROM_A_FORK)
    if when.branch_only:
        branches = list(when.branches) + ([plan.default_branch] if when.default_branch else [])
        refs = " || ".join(f"github.ref == {gha_string('refs/heads/' + b)}" for b in dict.fromkeys(branches))
        parts.append(f"github.event_name != 'pull_request' && ({refs})")
    if when.despite_failure:
        # Also after a failed or skipped need (a failed gate, a data check that stopped the run).
        parts.insert(0, "!cancelled()")
    if when.on_failure_of:
        # always() lets the job start after a failed or cancelled need (and keeps it from being
        # cancelled with the run); the test keeps it to the step ending badly: a failure, a
        # timeout, or a cancellation (by a person, or by the run being cancelled).
        parts.insert(0, "always() && (contains(needs.*.result, 'failure') || contains(needs.*.result, 'cancelled'))")
    return " && ".join(parts) or None


def _steps(job: Job, plan: Plan, pins: dict[str, pinning.Pin]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [
        _uses("Check out", pins["checkout"], {"persist-credentials": False}),
        _setup_python(job, plan, pins["setup-python"]),
    ]
    if plan.installer == "uv" and (job.install or (plan.setup and job.needs_project_setup)):
        steps.append(_uv_cache(plan, pins))
    if job.cache:
        key = "-".join([job.cache.prefix, "${{ runner.os }}", *(f"${{{{ matrix.{k.lower()} }}}}" for k, _ in job.matrix),
                        "${{ hashFiles(" + ", ".join(gha_string(f) for f in job.cache.key_files) + ") }}"])
        steps.append({"id": "cache", **_uses("Restore training outputs", pins["cache"], {"path": _lines(job.cache.paths), "key": key})})
        if job.report_inputs:  # "retrained or reused" for the report, as `mlgen cache hit` records it elsewhere
            steps.append(github_records.step(job, "cache"))
    # The report reads what earlier jobs handed on; a job that never ran handed on nothing.
    steps.extend(_report_download(a, pins) if job.report else _download(a, pins["download-artifact"])
                 for a in job.downloads if _handed_on(a, plan))
    if job.install:
        steps.append({"name": "Install mlgen", "run": retry.wrap(install_line(job.install, plan.installer), job.retries)})
    if plan.setup and job.needs_project_setup:
        # actions/cache keys on file contents itself (no `mlgen cache`); a hit needs no set-up.
        miss = {"if": MISS} if job.project_setup == "on cache miss" else {}
        setup = project_setup(plan.setup, plan.installer)
        steps.append({"name": "Set up the project", **miss, "run": retry.wrap(setup or "", job.retries)})
    steps.extend(_report_step(job, plan) if job.report else _command(c, job) for c in job.commands)
    if job.upload:
        steps.append({**_upload(job.upload, job, pins["upload-artifact"]), **({"name": "Upload the report"} if job.report else {})})
    if job.report_inputs and _handed_on(job.report_inputs, plan):
        # Also when the job failed: a failed gate is what the report must show.
        upload = _upload(job.report_inputs, job, pins["upload-artifact"])
        upload["with"]["if-no-files-found"] = "ignore"  # a failed job may not have written them all
        steps.append({"name": "Upload report inputs", "if": "${{ !cancelled() }}", **{k: v for k, v in upload.items() if k != "name"}})
    return steps


def _handed_on(artifact: Artifact, plan: Plan) -> bool:
    """A train job's training record is written beside its cache step: a workflow that publishes
    trains without a cache (see `publishes`), so that job has no report inputs here."""
    producer = plan.job(artifact.producer)
    return not (producer.report_inputs == artifact and producer.cache is not None and publishes(plan))


def _report_download(artifact: Artifact, pins: dict[str, pinning.Pin]) -> dict[str, Any]:
    # A job that never ran (a data check stopped the run) handed on nothing: report without it.
    return {**_download(artifact, pins["download-artifact"]), "name": f"Download {artifact.producer} report inputs",
            "continue-on-error": True}


def _report_step(job: Job, plan: Plan) -> dict[str, Any]:
    from mlgen.compile import reportjob

    # The run's own token, granted `pull-requests: write` on this job only.
    return {"name": "report", "run": reportjob.script(plan, job), "env": {"GITHUB_TOKEN": "${{ github.token }}"}}


def _setup_python(job: Job, plan: Plan, pin: pinning.Pin) -> dict[str, Any]:
    with_: dict[str, Any] = {"python-version": plan.python}
    if plan.installer == "pip" and plan.requirements and (job.install or (plan.setup and job.needs_project_setup)):
        # pip's download cache, keyed on the requirement files (setup-python fails if none exists).
        with_["cache"] = "pip"
        with_["cache-dependency-path"] = _lines(plan.requirements)
    return _uses("Set up Python", pin, with_)


def _uv_cache(plan: Plan, pins: dict[str, pinning.Pin]) -> dict[str, Any]:
    """uv's download cache (setup-python caches pip's only), keyed like it: Python and requirement files."""
    prefix = f"uv-${{{{ runner.os }}}}-{plan.python}-"
    files = ", ".join(gha_string(f) for f in plan.requirements)
    key = prefix + ("${{ hashFiles(" + files + ") }}" if plan.requirements else "none")
    return _uses("Cache uv downloads", pins["cache"], {"path": "~/.cache/uv", "key": key, "restore-keys": prefix})


def _uses(name: str, pin: pinning.Pin, with_: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "uses": pin.uses, "with": with_}


def _command(command: Command, job: Job) -> dict[str, Any]:
    step: dict[str, Any] = {"name": command.name}
    if command.skip_on_cache_hit:
        step["if"] = MISS
    step["run"] = retry.wrap(command.script, job.retries) if command.retryable else command.script
    env = {s: s for s in command.secrets}
    if command.credential is not None:
        variable, secret = command.credential
        env[variable] = secret
    if env:
        step["env"] = {variable: f"${{{{ secrets.{secret} }}}}" for variable, secret in env.items()}
    return step


def _download(artifact: Artifact, pin: pinning.Pin) -> dict[str, Any]:
    with_: dict[str, Any] = {"pattern": artifact.leg_pattern, "merge-multiple": True} if artifact.matrix_keys else {"name": artifact.name}
    root = _upload_root(artifact.paths)
    if root:
        with_["path"] = root
    return _uses(f"Download {artifact.name} outputs", pin, with_)


@functools.lru_cache(maxsize=4096)  # a report job downloads what dozens of others uploaded
def _upload_root(paths: tuple[str, ...]) -> str:
    """upload-artifact stores paths relative to their least common ancestor folder, so the
    download must put them back under that folder ("" when it is the workspace root)."""
    folders = [p.rstrip("/").split("/") if p.endswith("/") else p.split("/")[:-1] for p in paths]
    common: list[str] = []
    for parts in zip(*folders):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common)


def _upload(artifact: Artifact, job: Job, pin: pinning.Pin) -> dict[str, Any]:
    name = LEG_SEPARATOR.join([artifact.name, *(f"${{{{ matrix.{k.lower()} }}}}" for k in artifact.matrix_keys)])
    return _uses(f"Upload {artifact.name} outputs", pin,
                 {"name": name, "path": _lines(artifact.paths), "if-no-files-found": "error", "include-hidden-files": True})


def _lines(paths: tuple[str, ...]) -> str:
    return "\n".join(paths) + ("\n" if len(paths) > 1 else "")


def validate(text: str) -> list[str]:
    from mlgen.targets import schemas

    return schemas.validate("github-workflows", yamlout.load(text))


def notes(plan: Plan) -> list[str]:
    out = []
    if publishes(plan) and any(j.cache for j in plan.jobs):
        out.append("cache: the workflow runs on pushes to release branches, so training always runs on GitHub: a restored "
                   "cache could carry outputs poisoned by another run into a release (zizmor's cache-poisoning audit).")
    if any(j.retries for j in plan.jobs):
        out.append("retries: GitHub has no job retry; set-up and your own commands run in a retry loop (`bash -c`, same "
                   "attempts); mlgen's gate, data check, register and canary commands never repeat.")
    if any(j.approval for j in plan.jobs):
        envs = sorted({approval_environment(j.environment) for j in plan.jobs if j.approval and j.environment})
        out.append(f"approval: a job of its own references `{'`, `'.join(envs)}`; configure the required reviewers there "
                   "(enforced on public repositories, or private ones on Enterprise plans), not on the deployment "
                   "environment, or every canary step and rollback would wait for review. The approval job fails when "
                   "that environment has no required reviewers.")
    if any(j.lock for j in plan.jobs):
        out.append("rollout: register, the approval, every canary step and its rollback run in a reusable workflow of their "
                   "own (`.github/workflows/<workflow>-rollout-<stage>.yml`), called by one job that holds the deploy lock "
                   "from register to the last step: no other run deploys in between.")
    if plan.secrets or any(j.secrets for j in plan.jobs):
        out.append("secrets: `secrets.NAME` reaches only the steps that need it, through step `env:`.")
    if any(j.report for j in plan.jobs):
        out.append("report: only the report job may write (`pull-requests: write`, with the run's GITHUB_TOKEN); a pull "
                   "request from a fork gets a read-only token, so the report goes to the run's summary and artifact only.")
    writers = sorted({f"`{j.environment}`" for j in plan.jobs if j.environment and j.secrets})
    if writers:
        out.append(f"environments: register, promote and rollback read their secrets in {', '.join(writers)}: store the "
                   "registry write token there as an environment secret (never a repository secret) and limit the "
                   "environments' deployment branches to the default branch.")
    if any(_is_self_hosted_pr_job(j) for j in plan.jobs):
        out.append("self-hosted runners: their jobs skip pull requests from forks (fork code never reaches them).")
    return out


def _is_self_hosted_pr_job(job: Job) -> bool:
    return not job.when.branch_only and any(not HOSTED.match(label) for label in job.runner)
