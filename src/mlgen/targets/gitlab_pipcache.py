"""Which GitLab jobs upload pip's download cache, and which only restore it.

GitLab uploads a job's cache after every successful job (`policy: pull-push`), whether or not the
job changed it; the pip cache of an ML project is hundreds of MiB, so every upload costs time on
a real runner. A job's downloads are its pip requirements (mlgen with its extras) and, when it
runs the project's code, the project's set-up. A job only restores the cache (`policy: pull`)
when another job that runs in every pipeline downloads all that it does: that job's upload holds
this one's downloads. Among jobs downloading the same things, the first in the plan uploads.
A cache that misses some downloads costs them again next time, never correctness.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlgen.targets._common import installs_with_cache_guard

if TYPE_CHECKING:
    from mlgen.compile.plan import Job, Plan

# `name[extra1,extra2]==version`: the extras are separate downloads, the pinned name is shared.
_REQUIREMENT = re.compile(r"^(?P<name>[^\[\]]+?)\[(?P<extras>[^\]]*)\](?P<rest>.*)$")
SETUP = "defaults.setup"  # the project's own requirements, as one download set


def downloads(job: Job, plan: Plan) -> frozenset[str]:
    """What the job may fetch into pip's cache."""
    items: set[str] = set()
    for requirement in installs_with_cache_guard(job):
        match = _REQUIREMENT.match(requirement)
        if match is None:
            items.add(requirement)
            continue
        name = match["name"]
        items.add(name + match["rest"])
        items.update(f"{name}[{extra.strip()}]" for extra in match["extras"].split(",") if extra.strip())
    if plan.setup and job.needs_project_setup:
        items.add(SETUP)
    return frozenset(items)


def runs_in_every_pipeline(job: Job) -> bool:
    """Neither branch-only, nor a rollback, nor waiting for an approval that may never come."""
    return not job.when.branch_only and not job.when.on_failure_of and job.approval is None


def uploaders(plan: Plan) -> frozenset[str]:
    """Ids of the jobs that upload pip's cache; every other job only restores it."""
    sets = {job.id: downloads(job, plan) for job in plan.jobs}
    order = {job.id: i for i, job in enumerate(plan.jobs)}
    coverers = [job.id for job in plan.jobs if runs_in_every_pipeline(job)]

    def covered(job: Job) -> bool:
        mine = sets[job.id]
        if not mine:
            return True  # downloads nothing: there is nothing of its own to upload
        for other in coverers:
            if other == job.id or not mine <= sets[other]:
                continue
            # equal sets: the first such job that runs in every pipeline uploads for the rest
            if mine != sets[other] or order[other] < order[job.id] or not runs_in_every_pipeline(job):
                return True
        return False

    return frozenset(job.id for job in plan.jobs if not covered(job))
