"""GitLab: each rollout runs as one child pipeline, behind one trigger job that holds the lock.

A `resource_group` on a job is a job-level lock: between two steps of one pipeline's rollout,
another pipeline's register or step could take it. GitLab's pipeline-level lock is a trigger job
with `resource_group` and `strategy: depend`: it holds the group until its child pipeline ended.
So register, every canary step, every rollback and whatever runs after them move, unchanged,
into a child config written beside `.gitlab-ci.yml`; the parent keeps one trigger job in their
place. Needs on parent jobs become `needs:pipeline:job` (artifacts) or stay with the trigger job
(order); the trigger forwards pipeline variables so the moved jobs see what they saw before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgen.targets._common import connected

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlgen.compile.plan import Job, Plan, When

    Condition = Callable[[When], str | None]  # a job condition as the target's `rules:if` text (None: always)

# Trigger job ids carry a `:`, which no stage name (and so no job id) may hold: they never clash.
TRIGGER_PREFIX = "rollout:"
PARENT_ID = "PARENT_PIPELINE_ID"  # the parent's pipeline id, for `needs:pipeline` in the child
KIND = "gitlab-child"  # the header kind of a child config
CHILD_SOURCE = '$CI_PIPELINE_SOURCE == "parent_pipeline"'


def child_path(first_job: str) -> str:
    """Where the child config of the rollout that starts at `first_job` lives (repository root)."""
    return f".gitlab/mlgen-{first_job}.yml"


@dataclass(frozen=True)
class Rollout:
    """One rollout: the plan jobs that move into one child pipeline, in plan order."""

    jobs: tuple[Job, ...]
    lock: str

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(j.id for j in self.jobs)

    @property
    def trigger_id(self) -> str:
        return TRIGGER_PREFIX + self.jobs[0].id

    @property
    def path(self) -> str:
        return child_path(self.jobs[0].id)

    @property
    def external_needs(self) -> tuple[str, ...]:
        """Parent jobs the rollout waits for, in first-mention order."""
        inside = set(self.ids)
        return tuple(dict.fromkeys(n for j in self.jobs for n in (*j.needs, *(a.producer for a in j.downloads))
                                   if n not in inside))

    @property
    def roots(self) -> tuple[Job, ...]:
        """The jobs that wait for nothing inside the child: they decide whether it has work."""
        inside = set(self.ids)
        return tuple(j for j in self.jobs if not inside & set(j.needs))


def rollouts(plan: Plan) -> list[Rollout]:
    """The plan's rollouts: jobs that hold a lock, with every job that waits for them (transitively),
    grouped where they touch. A job after a rollout runs inside it: the parent cannot fetch a child's
    artifacts, and whatever waits for a deployment belongs to it."""
    moved = _descendants(plan, {j.id for j in plan.jobs if j.lock})
    groups = _components(plan, moved)
    by_id = {j.id: j for j in plan.jobs}
    out = []
    for group in groups:
        jobs = tuple(by_id[i] for i in group)
        # A rollout spanning environments (or models) holds the lock of the one it starts in. No job
        # inside takes a group of its own: GitLab documents that a child waiting for a group its
        # parent pipeline's jobs wait for can deadlock (with `oldest_first`), and every deploying
        # pipeline of the project (the default branch's spec) queues on the same first group anyway.
        lock = next(j.lock for j in jobs if j.lock)
        out.append(Rollout(jobs, lock))
    return out


def _descendants(plan: Plan, start: set[str]) -> set[str]:
    found = set(start)
    for job in plan.jobs:  # plan order is a topological order: needs come first
        if found & set(job.needs):
            found.add(job.id)
    return found


def _components(plan: Plan, moved: set[str]) -> list[list[str]]:
    """Moved jobs joined through needs among them, each group in plan order."""
    return connected((j.id for j in plan.jobs if j.id in moved), ((j.id, n) for j in plan.jobs for n in j.needs))


def trigger_job(rollout: Rollout, plan: Plan, condition: Condition, stages: list[str]) -> dict[str, Any]:
    """The parent's job that starts the child and holds the rollout's lock until it ended.

    `stages` is the parent's stage order."""
    roots = [condition(j.when) for j in rollout.roots]
    ifs = list(dict.fromkeys(roots))
    several = len(ifs) > 1
    # Only order: artifacts reach the child's jobs through `needs:pipeline:job`. With roots under
    # different conditions, a need one of them lacks may be absent: it must not block creation.
    needs = [{"job": n, "artifacts": False, **({"optional": True} if several else {})} for n in rollout.external_needs]
    # A need may not sit in a later stage: the trigger goes where its latest need or first job is.
    by_id = {j.id: j for j in plan.jobs}
    stage = max([rollout.jobs[0].stage, *(by_id[n].stage for n in rollout.external_needs)], key=stages.index)
    out: dict[str, Any] = {"stage": stage, "needs": needs}
    if None not in ifs:
        out["rules"] = [{"if": ifs[0] if not several else " || ".join(f"({c})" for c in ifs)}]
    # Global defaults (image, cache) mean nothing to a trigger job, and global variables would reach
    # the child as trigger variables, above its own: the child declares its variables itself.
    out["inherit"] = {"default": False, "variables": False}
    out["interruptible"] = False  # never cancel a rollout halfway
    out["resource_group"] = rollout.lock
    out["variables"] = {PARENT_ID: "$CI_PIPELINE_ID"}
    out["trigger"] = {"include": [{"local": rollout.path}], "strategy": "depend",
                      # what manual runs and schedules were given reaches the moved jobs as before
                      "forward": {"yaml_variables": True, "pipeline_variables": True}}
    return out


def child_document(rollout: Rollout, plan: Plan, parent: dict[str, Any], jobs_by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The child config: the parent's globals (but its own workflow) and the moved jobs' faces."""
    doc: dict[str, Any] = {"workflow": {"name": f"mlgen {plan.name} rollout ({rollout.jobs[0].id})",
                                        # only ever a child of the mlgen pipeline, never a pipeline of its own
                                        "rules": [{"if": CHILD_SOURCE}]}}
    doc["stages"] = list(dict.fromkeys(j.stage for j in rollout.jobs))
    doc["default"] = parent["default"]
    doc["variables"] = parent["variables"]
    by_id = {j.id: j for j in plan.jobs}
    for job_id in rollout.ids:
        doc[job_id] = _moved(dict(jobs_by_id[job_id]), set(rollout.ids), by_id)
    return doc


def _moved(face: dict[str, Any], inside: set[str], by_id: dict[str, Job]) -> dict[str, Any]:
    needs = []
    for need in face.get("needs", []):
        name = need["job"] if isinstance(need, dict) else need
        if name in inside:
            needs.append(need)
        elif isinstance(need, dict) and need.get("artifacts") and name in by_id:
            # A parent job's files come by pipeline id; each matrix leg is a job of its own name.
            needs += [{"pipeline": f"${PARENT_ID}", "job": leg} for leg in leg_names(by_id[name])]
        # a need for order only is the trigger job's: the child starts after it
    face["needs"] = needs
    face.pop("resource_group", None)  # the trigger job holds the lock for the whole child pipeline
    return face


def leg_names(job: Job) -> list[str]:
    """GitLab's names of a job's matrix legs (`train: [gb]`), or the job's own name."""
    import itertools

    if not job.matrix:
        return [job.id]
    return [f"{job.id}: [{', '.join(leg)}]" for leg in itertools.product(*(v for _, v in job.matrix))]


def split(doc: dict[str, Any], plan: Plan, condition: Condition) -> tuple[dict[str, Any], list[tuple[Rollout, dict[str, Any]]]]:
    """The parent document without the moved jobs (a trigger job in the place of each rollout's
    first one) and each rollout with its child document."""
    found = rollouts(plan)
    if not found:
        return doc, []
    children = [(r, child_document(r, plan, doc, doc)) for r in found]
    moved = {i: r for r in found for i in r.ids}
    parent: dict[str, Any] = {}
    for key, value in doc.items():
        rollout = moved.get(key)
        if rollout is None:
            parent[key] = value
        elif key == rollout.ids[0]:
            parent[rollout.trigger_id] = trigger_job(rollout, plan, condition, doc["stages"])
    kept = {k for k in parent if k not in ("workflow", "stages", "default", "variables")}
    used = {parent[k].get("stage") for k in kept}
    parent["stages"] = [s for s in doc["stages"] if s in used]
    return parent, children
