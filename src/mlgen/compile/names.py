"""Every identifier the plan makes, checked against each target's reserved words and each other.

A stage named `workflow` would replace GitLab's top-level keyword, an env name `in` breaks the
Groovy of a Jenkinsfile, a matrix key `path` overwrites PATH, and two artifacts with one name
overwrite each other. Each is a located error at compile time, pointing at the spec's stage or key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlgen.errors import Problem
from mlgen.spec.source import KEY, Loc, locate

if TYPE_CHECKING:
    from mlgen.compile.plan import Plan
    from mlgen.spec.models import Pipeline
    from mlgen.spec.source import Source

# Top-level keys of .gitlab-ci.yml that are not jobs: the global keywords, the deprecated global
# defaults, and names GitLab refuses or treats specially as job names (`pages` publishes a site).
GITLAB_RESERVED = frozenset({
    "default", "include", "stages", "variables", "workflow", "spec",
    "image", "services", "cache", "before_script", "after_script", "types",
    "true", "false", "nil", "pages",
})

# Groovy's keywords and reserved words (Java's included): none may name a variable in `environment {}`.
GROOVY_RESERVED = frozenset("""
    abstract as assert boolean break byte case catch char class const continue def default do double
    else enum extends false final finally float for goto if implements import in instanceof int interface
    long native new non-sealed null package permits private protected public record return sealed short
    static strictfp super switch synchronized this threadsafe throw throws trait transient true try var
    void volatile while yields
""".split())
# Names the Jenkins pipeline binds itself; an environment variable of that name would shadow them.
JENKINS_BINDINGS = frozenset({"env", "params", "currentBuild", "scm", "docker", "pipeline"})

# Variables the platforms or the shell set: a spec value there would be ignored on one target and
# win on another (GitHub refuses GITHUB_* outright), or break the job (PATH, HOME).
RESERVED_ENV = frozenset({
    "PATH", "HOME", "CI", "PWD", "OLDPWD", "IFS", "SHELL", "USER", "HOSTNAME",
    "WORKSPACE", "EXECUTOR_NUMBER", "BRANCH_NAME", "NODE_NAME", "NODE_LABELS", "STAGE_NAME", "TAG_NAME",
    "BUILD_ID", "BUILD_NUMBER", "BUILD_TAG", "BUILD_URL", "BUILD_DISPLAY_NAME",
    "JOB_NAME", "JOB_BASE_NAME", "JOB_URL", "GIT_COMMIT", "GIT_BRANCH", "GIT_URL",
})
RESERVED_ENV_PREFIXES = ("GITHUB_", "ACTIONS_", "RUNNER_", "CI_", "GITLAB_", "FF_", "JENKINS_", "HUDSON_", "CHANGE_")
# Matrix legs become variables of the job itself; the runtime's own MLGEN_* variables are off limits too.
RESERVED_MATRIX_PREFIXES = (*RESERVED_ENV_PREFIXES, "MLGEN_")


def check(pipeline: Pipeline, plan: Plan, source: Source | None) -> list[Problem]:
    stage_index = {s.name: i for i, s in enumerate(pipeline.stages)}
    problems = list(_job_ids(plan, stage_index, source))
    problems += _env_names(pipeline, source)
    problems += _secret_shadows(pipeline, plan, stage_index, source)
    problems += _artifacts(plan, stage_index, source)
    problems += _environments(pipeline, source)
    return problems


def _job_ids(plan: Plan, stage_index: dict[str, int], source: Source | None) -> Iterator[Problem]:
    # Job ids are top-level keys of .gitlab-ci.yml; stage names are only values in its `stages:` list.
    for job in plan.jobs:
        if job.id in GITLAB_RESERVED:
            yield locate(source, ("stages", stage_index[job.stage], "name"),
                         f"stage `{job.stage}` makes a GitLab job named `{job.id}`, a reserved top-level "
                         "keyword of .gitlab-ci.yml", f"rename the stage; GitLab reserves {_listed(GITLAB_RESERVED)}")


def _env_names(pipeline: Pipeline, source: Source | None) -> Iterator[Problem]:
    yield from _env_block(pipeline.env, ("env",), "the pipeline's `env`", source)
    for secret_at, secret in enumerate(pipeline.secrets):
        reason = _reserved_env(secret, RESERVED_ENV_PREFIXES)
        if reason:
            yield locate(source, ("secrets", secret_at), f"secret `{secret}` {reason}", "rename the secret")
    for key in ("read", "write", "variable"):  # credentials are secrets and variables too
        name = getattr(pipeline.credentials, key, None)
        reason = _reserved_env(name, RESERVED_ENV_PREFIXES) if name else None
        if reason:
            yield locate(source, ("credentials", key), f"`credentials.{key}` `{name}` {reason}", "rename it")
    matrix_names_of: dict[str, str] = {}
    for i, stage in enumerate(pipeline.stages):
        yield from _env_block(stage.env, ("stages", i, "env"), f"stage `{stage.name}`", source)
        matrix = getattr(stage, "matrix", None) or {}
        for key in matrix:
            name = key.upper()
            matrix_names_of[name] = stage.name
            reason = _reserved_env(name, RESERVED_MATRIX_PREFIXES)
            if reason:
                yield locate(source, ("stages", i, "matrix", key, KEY), f"matrix key `{key}` becomes the variable `{name}`, "
                             f"which {reason}", "rename the matrix key")
            for where, env in ((("stages", i, "env"), stage.env), (("env",), pipeline.env)):
                if name in env:
                    yield locate(source, (*where, name, KEY), f"`{name}` is both an `env` variable and the variable of "
                                 f"matrix key `{key}` of stage `{stage.name}`; the targets disagree on which one wins",
                                 "rename the variable or the matrix key")


def _secret_shadows(pipeline: Pipeline, plan: Plan, stage_index: dict[str, int], source: Source | None) -> Iterator[Problem]:
    """A variable named like a secret the job reads: GitHub's step env, GitLab's project variables and
    Jenkins' withCredentials each decide differently which one the command sees."""
    for name in pipeline.env:
        if name in pipeline.secrets:
            yield locate(source, ("env", name, KEY), f"`{name}` is both an `env` variable and a declared secret; the "
                         "targets disagree on which one wins", "rename the variable")
    reported: set[tuple[str, str]] = set()
    for job in plan.jobs:
        env = dict(job.env)
        for secret in job.secrets:
            if secret in env and (job.stage, secret) not in reported:
                reported.add((job.stage, secret))
                yield locate(source, ("stages", stage_index[job.stage], "env", secret, KEY),
                             f"`{secret}` is both an `env` variable and a secret of stage `{job.stage}`; the targets "
                             "disagree on which one wins", "rename the variable")


def _env_block(env: dict[str, str], at: Loc, owner: str, source: Source | None) -> Iterator[Problem]:
    for name in env:
        reason = _reserved_env(name, RESERVED_ENV_PREFIXES)
        if reason is None and (name in GROOVY_RESERVED or name in JENKINS_BINDINGS):
            reason = "is a reserved word of the Jenkinsfile's Groovy, so it cannot name an environment variable"
        if reason:
            yield locate(source, (*at, name, KEY), f"{owner}: variable `{name}` {reason}", "rename the variable")


def _reserved_env(name: str, prefixes: tuple[str, ...]) -> str | None:
    if name in RESERVED_ENV:
        return "is set by the CI platform or the shell itself"
    prefix = next((p for p in prefixes if name.startswith(p)), None)
    if prefix:
        return f"starts with `{prefix}`, which the CI platforms (or mlgen's runtime) reserve"
    return None


def _artifacts(plan: Plan, stage_index: dict[str, int], source: Source | None) -> Iterator[Problem]:
    owner: dict[str, str] = {}
    for job in plan.jobs:
        if job.upload is None:
            continue
        for name in job.upload.leg_names:
            if name in owner and owner[name] != job.stage:
                yield locate(source, ("stages", stage_index[job.stage], "name"),
                             f"stage `{job.stage}` hands on an artifact named `{name}`, as stage `{owner[name]}` does",
                             "rename one of the stages")
            owner[name] = job.stage


def approval_environment(environment: str) -> str:
    """GitHub: the environment that carries the required reviewers of a rollout into `environment`."""
    return f"{environment}-approval"


def _environments(pipeline: Pipeline, source: Source | None) -> Iterator[Problem]:
    """GitHub's approval job uses `<environment>-approval`: no deployment may target such a name."""
    canaries = [(i, s) for i, s in enumerate(pipeline.stages) if s.kind == "canary"]
    approvals = {approval_environment(s.environment): s.name for _, s in canaries if getattr(s, "approval", False)}
    for i, stage in canaries:
        env = str(stage.environment)
        if env in approvals:
            yield locate(source, ("stages", i, "environment"), f"environment `{env}` of stage `{stage.name}` is the approval "
                         f"environment of stage `{approvals[env]}`, so its deployments would wait for that approval's reviewers",
                         "use another environment name (names ending in `-approval` are taken by approvals)")


def _listed(names: frozenset[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names))


def valid_groovy_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)) and name not in GROOVY_RESERVED | JENKINS_BINDINGS
