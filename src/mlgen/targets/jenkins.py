"""Jenkins: a declarative Jenkinsfile rendered from a Jinja2 template, every string escaped once.

The template never sees raw text: values reach it as `Groovy` literals made by `escape`, and
a `finalize` hook refuses anything else, so an unescaped string cannot slip into the output.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Annotated, Any

from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from mlgen import cachecmd, overrides, values
from mlgen.errors import SpecError
from mlgen.escape import groovy_block, groovy_single
from mlgen.plan import LEG_SEPARATOR
from mlgen.source import locate
from mlgen.spec import Duration, EnvName, duration_minutes

if TYPE_CHECKING:
    from mlgen.plan import Artifact, Job, Plan, When
    from mlgen.source import Source
    from mlgen.spec import Target as Settings

NAME = "jenkins"
TITLE = "Jenkins"
OVERRIDABLE = ("agent", "timeout", "retries", "environment")
PIP_CACHE = "~/.cache/mlgen-pip"


class Groovy(Markup):
    """Text that is already a valid Groovy literal or expression (Markup: the template emits it as is)."""


def lit(text: str) -> Groovy:
    return Groovy(groovy_single(text))


def ident(name: str) -> Groovy:
    """An environment variable name used as a Groovy identifier (the spec guarantees the shape)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not an identifier: {name!r}")
    return Groovy(name)


def block(text: str) -> Groovy:
    return Groovy(groovy_block(text))


# `sh` runs /bin/sh (dash on Debian agents) with -xe unless the script starts with a shebang, which
# Jenkins then runs with that interpreter. GitHub (`shell: bash`) and GitLab run bash with errexit
# and pipefail; the same shell and the same failure semantics here keep the targets in agreement.
# A shebang passes at most one argument, so pipefail is set on the next line.
SHELL_PREAMBLE = "#!/bin/bash -xe\nset -o pipefail\n"
# Each stage's own Python environment, a venv in its workspace (created by `_venv`): stock Debian
# and Ubuntu agents refuse `pip install` into the system Python (PEP 668) and have no `python`,
# and a shared interpreter would carry one build's packages into the next. Every `sh` puts the
# venv first on PATH, so `python`, `pip` and `mlgen` in the user's commands are the venv's.
VENV = ".venv"
VENV_ENV = f'export VIRTUAL_ENV="$WORKSPACE/{VENV}" PATH="$WORKSPACE/{VENV}/bin:$PATH"\n'


def sh(script: str) -> Groovy:
    """A script for the `sh` step, run by bash with errexit and pipefail like on the other targets,
    with the stage's venv first on PATH."""
    return block(SHELL_PREAMBLE + VENV_ENV + script)


def emit(plan: Plan, settings: Settings, source: Source | None = None) -> str:
    raw = {job.id: _view(job, settings) for job in plan.jobs}
    overrides.apply(NAME, raw, settings.overrides, source)
    views = _check_views(raw, settings.overrides, source)
    stages = _stages(plan, views, _docker_image(plan, settings))
    # pip's download cache per agent, outside the workspaces (cleaning one keeps it); pip expands `~`.
    cache = [] if "PIP_CACHE_DIR" in dict(plan.env) else [(ident("PIP_CACHE_DIR"), lit(PIP_CACHE))]
    env = [*cache, *((ident(k), lit(v)) for k, v in plan.env)]
    text: str = _template().render(plan=plan, stages=stages, env=env,
                              cron=lit(values.numeric_cron(plan.triggers.schedule)) if plan.triggers.schedule else None)
    return text


def emit_checked(plan: Plan, settings: Settings, source: Source | None = None) -> tuple[str, list[str]]:
    text = emit(plan, settings, source)
    return text, validate(text)


def _view(job: Job, settings: Settings) -> dict[str, Any]:
    """The overridable face of a stage: what `targets.jenkins.overrides` may change."""
    labels = [t for label in job.runner for t in settings.runners.get(label, [label])]
    return {"agent": " && ".join(labels) or None, "timeout": job.timeout_minutes, "retries": job.retries,
            "environment": dict(job.env)}


LABEL_EXPRESSION = r"^[A-Za-z0-9_.-]+( *(&&|\|\|) *[A-Za-z0-9_.-]+)*$"


class View(BaseModel):
    """What `targets.jenkins.overrides` may set on a stage, typed like the spec. `null` deletes a key:
    no agent label (`agent any`), no timeout, no retry, no stage variables."""

    model_config = ConfigDict(extra="forbid", strict=True)

    agent: Annotated[str, StringConstraints(pattern=LABEL_EXPRESSION)] | None = Field(
        None, description="label expression, e.g. gpu && linux")
    timeout: Annotated[int, Field(ge=1, le=10080)] | Duration | None = Field(None, description="minutes, or e.g. 2h")
    retries: Annotated[int, Field(ge=0, le=2)] | None = None
    environment: dict[EnvName, str] | None = None

    @field_validator("environment")
    @classmethod
    def _groovy_names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        from mlgen.names import valid_groovy_name

        bad = [k for k in value or {} if not valid_groovy_name(k)]
        if bad:
            raise ValueError(f"`{bad[0]}` is a reserved word of the Jenkinsfile's Groovy and cannot name a variable")
        return value


def _check_views(views: dict[str, dict[str, Any]], overrides: dict[str, dict[str, Any]],
                 source: Source | None) -> dict[str, View]:
    from pydantic import ValidationError

    checked, problems = {}, []
    for job_id, view in views.items():
        try:
            checked[job_id] = View.model_validate(view)
        except ValidationError as exc:
            for error in _one_per_key(exc.errors(include_url=False)):
                key = str(error["loc"][0]) if error["loc"] else ""
                path = next((p for p in overrides.get(job_id, {}) if p == key or p.startswith(key + ".")), key)
                loc = ("targets", "jenkins", "overrides", job_id, path)
                problems.append(locate(source, loc, f"targets.jenkins.overrides.{job_id}.{path}: {_pydantic_text(error)}",
                                       _VIEW_HINTS.get(key, f"overridable keys: {', '.join(OVERRIDABLE)}")))
    if problems:
        raise SpecError(problems)
    return checked


_VIEW_HINTS = {
    "agent": "a label or label expression such as `gpu && linux`, or null for `agent any`",
    "timeout": "minutes as a number (90), a duration (2h, 1h30m), or null for no timeout",
    "retries": "0, 1 or 2, or null for no retry",
    "environment": "a mapping of variable names to text, e.g. {A: \"1\"}, or null for none",
}


def _one_per_key(errors: list[Any]) -> list[Any]:
    """A union (`timeout`: number or duration) fails once per member; keep the most telling failure."""
    best: dict[Any, Any] = {}
    for error in errors:
        key = error["loc"][:1]
        if key not in best or str(best[key]["type"]).endswith("_type"):
            best[key] = error
    return list(best.values())


def _pydantic_text(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return f"`{error['loc'][0]}` cannot be overridden on Jenkins"
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "value_error":
        return msg
    return f"{_show(error.get('input'))} is not allowed: {msg[0].lower() + msg[1:]}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _docker_image(plan: Plan, settings: Settings) -> Groovy | None:
    """`agent: docker`: every stage runs in the spec's image (by default the same pinned official
    Python image as on GitLab) on an agent with its labels; `venv` uses the agent's own Python."""
    if getattr(settings, "agent", "venv") != "docker":
        return None
    from mlgen.targets.gitlab import default_image

    return lit(getattr(settings, "image", None) or default_image(plan.python))


def _stages(plan: Plan, views: dict[str, View], docker: Groovy | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    for job in plan.jobs:
        if job.kind == "rollback":
            # A step's rollback is that step's `post { unsuccessful }`, on the step's own agent.
            by_id[job.needs[0]]["rollback"] = _rollback(job, plan)
            continue
        stage = by_id[job.id] = _stage(job, plan, views[job.id])
        stage["docker"] = docker
        if job.kind != "canary":
            out.append(stage)
            continue
        # Canary steps nest in one stage: its `when` gates them all before any input, and its
        # lock serialises the whole rollout.
        group = groups.get(job.stage)
        if group is None:
            group = groups[job.stage] = {"name": lit(job.stage), "when": _when(job.when, plan), "lock": lit(job.lock or ""),
                                         "children": []}
            out.append(group)
        stage["when"] = []
        if job.approval:
            group["children"].append(_approval(job, plan))
        group["children"].append(stage)
    return out


# How long a rollout waits for its approval (24 h), then the build ends ABORTED and the lock is freed.
APPROVAL_TIMEOUT_MINUTES = 24 * 60


def _approval(job: Job, plan: Plan) -> dict[str, Any]:
    """The approval as a stage of its own before the first step, with its own timeout.

    Jenkins enters a stage's `options { timeout }` before its `input`, so in the step's stage a
    slow approval would eat the step's time and abort it mid-bake. Here the step's timeout starts
    only when the step does. No agent: waiting for a person holds no executor.
    """
    assert job.approval, job.id
    return {"approval": True, "name": lit(f"{job.stage} approval"), "when": _when(job.when, plan),
            "timeout": APPROVAL_TIMEOUT_MINUTES, "message": lit(job.approval), "ok": lit("Deploy"),
            "echo": lit(f"Approved: {job.approval}")}


def _stage(job: Job, plan: Plan, view: View) -> dict[str, Any]:
    # `retries` repeats set-up and the user's own commands (a `retry` step around each), never
    # mlgen's decisions and writes (gate, data check, register, canary).
    attempts = view.retries + 1 if view.retries else None
    steps: list[dict[str, Any]] = [{"unstash": lit(name)} for art in job.downloads for name in art.leg_names]
    prepare = _prepare(job, plan)
    if prepare:
        steps.append({"sh": sh(prepare), "secrets": [], "retry": attempts})
    for command in job.commands:
        script = command.script
        if command.skip_on_cache_hit and job.cache is not None:
            script = cachecmd.guard(script, job, plan.setup)
        steps.append({"sh": sh(script), "secrets": [lit(s) for s in command.secrets],
                      "retry": attempts if command.retryable else None})
    if job.upload:
        includes = lit(",".join(_ant(p) for p in job.upload.paths))
        steps.append({"stash": _stash_expr(job.upload), "includes": includes})
        steps.append({"archive": includes})
    timeout = _minutes(view.timeout)
    # A canary step's timeout wraps its steps only: its `post` (the rollback) must still run
    # after the timeout fired, and never inherits an expired deadline.
    step_timeout = timeout if job.kind == "canary" else None
    return {
        "name": lit(job.title),
        "agent": lit(view.agent) if view.agent else None,
        "timeout": None if step_timeout else timeout,
        "step_timeout": step_timeout,
        "retry": None,  # per step: see `attempts`
        "environment": [(ident(k), lit(v)) for k, v in (view.environment or {}).items()],
        "when": _when(job.when, plan),
        # A canary step's approval is a stage of its own (`_approval`).
        "input": {"message": lit(job.approval), "ok": lit("Deploy")} if job.approval and job.kind != "canary" else None,
        "matrix": [(lit(k), [lit(v) for v in values]) for k, values in job.matrix],
        "steps": steps,
        "junit": lit(job.junit) if job.junit else None,
        "rollback": None,
    }


def _minutes(timeout: int | str | None) -> int | None:
    if timeout is None or isinstance(timeout, int):
        return timeout
    return duration_minutes(timeout)


def _rollback(job: Job, plan: Plan) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [{"sh": sh(c.script), "secrets": [lit(s) for s in c.secrets]} for c in job.commands]
    prepare = _prepare(job, plan)
    if prepare:
        steps.insert(0, {"sh": sh(prepare), "secrets": []})
    return steps


def _prepare(job: Job, plan: Plan) -> str:
    """The stage's venv, then mlgen and the project's set-up installed into it."""
    lines = venv(plan.python)
    installs = job.installs_with_cache_guard
    setup = cachecmd.setup_outside_guard(job, plan.setup) if job.needs_project_setup else None
    lines.extend(f"python -m pip install '{i}'" for i in installs)
    if setup:
        lines.append(setup)
    return "\n".join(lines)


def venv(python: str) -> list[str]:
    """Create the workspace's venv with the spec's Python, once: a later build of the same workspace
    reuses it (pip then only adds what changed), and one made by another Python is made anew.

    No core Jenkins construct installs Python, so the agent (or the docker image) must have
    `python3.X`; a missing one fails the stage with a message that names it.
    """
    exe = f"python{python}"
    version = "import sys; print('%d.%d' % sys.version_info[:2])"
    return [
        f"command -v {exe} >/dev/null || {{ echo 'mlgen: this stage needs Python {python} ({exe}) on the agent' >&2; exit 1; }}",
        f'[ "$("$VIRTUAL_ENV/bin/python" -c "{version}" 2>/dev/null)" = {python} ] || {exe} -m venv --clear "$VIRTUAL_ENV"',
    ]


def _when(when: When, plan: Plan) -> list[Groovy]:
    if not when.branch_only:
        return []
    branches = list(dict.fromkeys([*when.branches, *([plan.default_branch] if when.default_branch else [])]))
    conditions = [Groovy(f"branch {groovy_single(b)}") for b in branches]
    if len(conditions) == 1:
        return conditions
    return [Groovy("anyOf { " + "; ".join(conditions) + " }")]


def _stash_expr(artifact: Artifact) -> Groovy:
    if not artifact.matrix_keys:
        return lit(artifact.name)
    # Matrix axis values are validated to [A-Za-z0-9_.-], so interpolating them is safe.
    return Groovy('"' + LEG_SEPARATOR.join([artifact.name, *(f"${{env.{k}}}" for k in artifact.matrix_keys)]) + '"')


def _ant(path: str) -> str:
    return path.rstrip("/") + "/**" if path.endswith("/") else path


@functools.cache
def _template() -> Any:
    import jinja2

    from mlgen.resources import resource_dir

    def finalize(value: Any) -> Any:
        # Markup covers Groovy literals, padding and macro output; a plain str was never escaped.
        if isinstance(value, Markup) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise TypeError(f"unescaped value reached the Jenkinsfile template: {value!r}")

    # autoescape only makes macros return Markup; every value that is printed is Markup already.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir("templates"))), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, finalize=finalize)
    env.globals["pad"] = lambda n: Markup(" " * n)
    return env.get_template("Jenkinsfile.j2")


# -- validation: the compiler's own structural check of the rendered file -------------------

_STRING = re.compile(r"'''(?:\\.|[^\\])*?'''|'(?:\\.|[^\\'\n])*'|\"(?:\\.|[^\\\"\n])*\"", re.DOTALL)


def validate(text: str) -> list[str]:
    """Balanced braces and parentheses outside string literals, one `pipeline` block, known sections."""
    stripped = _STRING.sub("''", text)
    stripped = re.sub(r"//[^\n]*", "", stripped)
    problems = []
    depth = 0
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "}": "{", "]": "["}
    for lineno, line in enumerate(stripped.split("\n"), 1):
        for ch in line:
            if ch in "({[":
                stack.append((ch, lineno))
            elif ch in ")}]":
                if not stack or stack[-1][0] != pairs[ch]:
                    problems.append(f"line {lineno}: unbalanced `{ch}`")
                    return problems
                stack.pop()
        depth = len(stack)
    if stack:
        problems.append(f"line {stack[-1][1]}: `{stack[-1][0]}` is never closed")
    if depth == 0 and len(re.findall(r"^pipeline \{", stripped, re.MULTILINE)) != 1:
        problems.append("the file must hold exactly one top-level `pipeline { }` block")
    for section in ("agent", "stages"):
        if not re.search(rf"^  {section}\b", stripped, re.MULTILINE):
            problems.append(f"the pipeline has no top-level `{section}` section")
    return problems


def notes(plan: Plan) -> list[str]:
    out = [f"python: each stage makes its own venv ({VENV} in its workspace) with the agent's `python{plan.python}`; "
           "nothing is installed into the agent's system Python."]
    if any(j.cache for j in plan.jobs):
        out.append("cache: core Jenkins has no cache; the agent workspace keeps outputs between builds and "
                   "`mlgen cache hit` reuses them when the content hash of the key files is unchanged.")
    out.append("triggers: pushes and pull requests reach Jenkins through the multibranch job's branch sources; "
               f"build `{', '.join(plan.triggers.push)}` and, if wanted, pull requests there.")
    if plan.secrets:
        out.append("secrets: create Secret text credentials with the same IDs; `withCredentials` binds them only around "
                   "the `sh` steps that need them.")
    return out
