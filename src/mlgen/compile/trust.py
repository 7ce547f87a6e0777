"""Trust boundaries: code from pull/merge requests never gets the registry write credential.

The plan hands the write credential (`credentials.write`) only to register, promote and
rollback, which run on the default branch (or the branches the stage names) in the deployment
environment. A stage's own `secrets:` list can still name it; this check refuses every job that
would then hold it where pull/merge request code runs, or outside an environment (on GitHub an
environment secret reaches only jobs that reference the environment).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from mlgen.spec.source import locate

if TYPE_CHECKING:
    from mlgen.compile.plan import Command, Job, Plan
    from mlgen.errors import Problem
    from mlgen.spec.models import Pipeline
    from mlgen.spec.source import Loc, Source


# -- who gets which credential (the plan asks here) --------------------------------------------------

def with_credential(command: Command, pipeline: Pipeline, role: str) -> Command:
    """The command with the `read` or `write` registry credential, if the spec has one; a plain
    secret named like the credential's variable gives way to it."""
    creds = pipeline.credentials
    secret = getattr(creds, role) if creds is not None else None
    if creds is None or secret is None:
        return command
    plain = tuple(s for s in command.secrets if s != creds.variable)
    return dataclasses.replace(command, secrets=plain, credential=(creds.variable, secret))


def write_environment(pipeline: Pipeline) -> str:
    """The deployment environment that holds the write credential: `credentials.environment`,
    else the first canary's environment, else `production`."""
    if pipeline.credentials is not None and pipeline.credentials.environment is not None:
        return pipeline.credentials.environment
    canaries = [s for s in pipeline.stages if s.kind == "canary"]
    return str(canaries[0].environment) if canaries else "production"


# -- the check ---------------------------------------------------------------------------------------


def check(pipeline: Pipeline, plan: Plan, source: Source | None) -> list[Problem]:
    write = pipeline.credentials.write if pipeline.credentials is not None else None
    if write is None:
        return []
    index = {stage.name: i for i, stage in enumerate(pipeline.stages)}
    problems: list[Problem] = []
    reported: set[str] = set()
    for job in plan.jobs:
        if job.stage in reported or write not in job.secrets:
            continue
        why = _exposed(job)
        if why:
            reported.add(job.stage)
            loc, hint = _where(pipeline, index[job.stage], write)
            problems.append(locate(source, loc, f"stage `{job.stage}` {why}, but it receives the registry write "
                                               f"credential `{write}`", hint))
    return problems


def _exposed(job: Job) -> str | None:
    if not job.when.branch_only:
        return "runs on pull/merge requests and on every pushed branch"
    if job.environment is None:
        return "runs outside the deployment environment"
    return None


def _where(pipeline: Pipeline, i: int, write: str) -> tuple[Loc, str]:
    """Where to point, and the fix: the `secrets:` entry that names the credential, else the
    stage's `branches:` (a register or canary stage that runs everywhere)."""
    stage = pipeline.stages[i]
    listed = list(stage.secrets or ())
    if write in listed:
        read = pipeline.credentials.read if pipeline.credentials is not None else None
        reader = f"`{read}` (`credentials.read`)" if read else "a read-only token as `credentials.read`"
        return ("stages", i, "secrets", listed.index(write)), (
            f"remove `{write}` from the stage's `secrets:`; to read the champion on pull/merge requests use {reader}; "
            "only register, promote and rollback on the default branch may write")
    hint = "name the branches it runs on (e.g. `branches: [main]`), or leave `branches:` out for the default branch"
    if getattr(stage, "branches", None) is not None:
        return ("stages", i, "branches"), hint
    return ("stages", i, "name"), hint
