"""The plan's data: jobs, their order, conditions, files, caches, secrets and approvals.

Plain frozen dataclasses that `plan.build` fills and the emitters read; nothing here decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from mlgen import layout
from mlgen.spec.conditions import When

if TYPE_CHECKING:
    from mlgen.compile.reportjob import ReportSettings

REPORTS_DIR = layout.REPORTS_DIR
# The name mlgen is published under: `mlgen` on PyPI belongs to an unrelated project.
DISTRIBUTION = "mlgen-ci"
# Joins a matrix artifact's stage name and leg values. Neither stage names nor matrix values may
# contain it, so leg names cannot collide with each other or with another stage's artifact, and
# `<stage>~*` matches only that stage's legs. GitHub artifact names and Jenkins stash names allow it.
LEG_SEPARATOR = "~"
# A rollback must not fail on a flaky package index: its install and set-up are tried this many
# more times (the rollback command itself is mlgen's and never repeats).
ROLLBACK_SETUP_RETRIES = 2
ProjectSetup = Literal["never", "always", "on cache miss"]


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
        """Artifact names, one per matrix leg: the stage name and the leg's values, in key order."""
        import itertools

        if not self.matrix:
            return (self.name,)
        return tuple(LEG_SEPARATOR.join([self.name, *leg]) for leg in itertools.product(*(v for _, v in self.matrix)))

    @property
    def leg_pattern(self) -> str:
        """A glob that matches this artifact's legs and no other stage's artifact."""
        return f"{self.name}{LEG_SEPARATOR}*"


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
    # A role credential (`credentials:`): (variable the command reads, secret that holds it).
    credential: tuple[str, str] | None = None
    skip_on_cache_hit: bool = False
    runs_project_code: bool = True  # False for runtime commands that run no project code (the
    # project's set-up is then skipped); `registry: command` runs the user's own commands
    # The user's own command: `retries` may run it again. mlgen's decisions and writes (gate,
    # data check, register, canary) never are: a repeat would repeat a decision or a write.
    retryable: bool = False


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
    when: When = field(default_factory=When)
    approval: str | None = None  # message shown by the native approval
    submitter: str | None = None  # who may approve, where the target takes it from the config (Jenkins)
    environment: str | None = None
    # False: the job references the environment only for its secrets and records no deployment.
    deployment: bool = True
    environment_url: str | None = None
    lock: str | None = None  # serialises deployments across pipelines
    deploys: bool = False
    report_inputs: Artifact | None = None  # files the report reads, handed on even when the job failed
    report: ReportSettings | None = None  # set on report jobs only
    # A file of one line the job may write, added to the build's description after it (Jenkins; on
    # GitHub and GitLab the job summary and the artifact carry the same line).
    describes: str | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret the job reads: plain ones, and the secrets behind role credentials."""
        return tuple(dict.fromkeys(s for c in self.commands for s in (*c.secrets, *(c.credential or ())[1:])))

    @property
    def project_setup(self) -> ProjectSetup:
        """When the job needs the project's set-up (`defaults.setup`) run first.

        "never": it runs no project code. "on cache miss": it is cached and a hit skips every
        command, so only a miss needs the set-up. Each target decides how to say "only on a miss".
        """
        if not any(c.runs_project_code for c in self.commands):
            return "never"
        if self.cache is not None and all(c.skip_on_cache_hit for c in self.commands):
            return "on cache miss"
        return "always"

    @property
    def needs_project_setup(self) -> bool:
        """Only jobs that run the project's own code need its dependencies installed."""
        return self.project_setup != "never"

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
    installer: str = "pip"  # what jobs install mlgen with: pip or uv (targets/install.py)

    def job(self, job_id: str) -> Job:
        return self.by_id[job_id]

    @cached_property
    def by_id(self) -> dict[str, Job]:
        """Jobs by id, built once (the plan is frozen, so it never goes stale)."""
        return {job.id: job for job in self.jobs}
