"""GitHub: each rollout runs as one reusable workflow, called by one job that holds the rollout's lock.

A concurrency group on a job locks that job only: with register, every canary step and every
rollback each taking `deploy/<env>/<model>` alone, another run's register or step could run between this
run's 10% and 50%. GitHub has no lock over several jobs, but a job that calls a reusable workflow
accepts `concurrency` (with `needs`, `if`, `permissions` and `secrets`), and the called workflow's
jobs run inside that call. So the jobs of one rollout move into a workflow of their own beside the
main one (`on: workflow_call`; GitHub reads reusable workflows only directly in
`.github/workflows/`), and the main workflow calls it from one job that carries the group with
`queue: max`. No job inside may carry the same group: it would wait for the call that holds it.

A rollout (a unit) is the jobs of one lock that hang together through `needs` (register, the
approval job, every step and its rollback), plus any job that runs between two of them, so that
the main workflow's job graph stays acyclic once the unit is a single job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgen.compile.overrides import Misfit, Refused
from mlgen.targets import SettingRefused
from mlgen.targets._common import connected

if TYPE_CHECKING:
    from mlgen.compile.plan import Plan

WORKFLOWS = ".github/workflows"  # the only folder GitHub reads reusable workflows from
KIND = "github-rollout"  # the header kind a rollout workflow is sealed with
_SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_KEEP_RELATIVE = "# zizmor: ignore[self-repository]"
_LEVELS = {"none": 0, "read": 1, "write": 2}


@dataclass(frozen=True)
class Unit:
    """One rollout: the job that calls it, the file it lives in and the jobs it holds, in workflow order."""

    caller: str
    path: str
    lock: str
    jobs: tuple[str, ...]


def units(plan: Plan, workflow_path: str, jobs: dict[str, dict[str, Any]]) -> list[Unit]:
    """The rollouts of the workflow whose (overridden) jobs are `jobs`, in the order their first job appears."""
    locks = _locks(plan, jobs)
    found: list[Unit] = []
    taken: dict[str, str] = {}
    stem = workflow_path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    for lock in dict.fromkeys(locks.values()):
        for members in _components(jobs, {j for j, held in locks.items() if held == lock}):
            caller = _free_id(f"rollout-{_stage(plan, members[0])}", jobs, {u.caller for u in found})
            for job_id in members:
                if job_id in taken:
                    raise SettingRefused(("stages",), f"the rollouts under `{taken[job_id]}` and `{lock}` interleave at job "
                                         f"`{job_id}`, and GitHub holds one lock per rollout",
                                         "let one rollout finish (all its steps) before a stage of another starts")
                taken[job_id] = lock
            found.append(Unit(caller, f"{WORKFLOWS}/{stem}-{caller}.yml", lock, members))
    return sorted(found, key=lambda u: list(jobs).index(u.jobs[0]))


def main_jobs(plan: Plan, workflow_path: str, jobs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The main workflow's jobs: each rollout's jobs replaced by the one job that calls it."""
    found = units(plan, workflow_path, jobs)
    owner = {job_id: u for u in found for job_id in u.jobs}
    out: dict[str, dict[str, Any]] = {}
    for job_id, job in jobs.items():
        unit = owner.get(job_id)
        if unit is None:
            out[job_id] = _renamed_needs(job, owner)
        elif unit.caller not in out:
            out[unit.caller] = _caller(unit, jobs, owner)
    return out


def called_workflow(plan: Plan, unit: Unit, jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The reusable workflow of one rollout: its jobs with their needs inside it and no lock of their own."""
    inner: dict[str, dict[str, Any]] = {}
    misfits = []
    for job_id in unit.jobs:
        job = dict(jobs[job_id])
        group = job.get("concurrency")
        group = group.get("group") if isinstance(group, dict) else group
        if group == unit.lock:
            misfits.append(Misfit(job_id, "concurrency", f"the job runs inside its rollout, which already holds `{unit.lock}`: "
                                  "it would wait for itself forever", "remove the override; the rollout holds the lock"))
        needs = [n for n in _needs(job) if n in unit.jobs]
        job.pop("needs", None)
        inner[job_id] = {"name": job.pop("name"), **({"needs": needs} if needs else {}), **job}
    if misfits:
        raise Refused(misfits)
    secrets = _secrets(unit, jobs)
    call: dict[str, Any] = {"secrets": {s: {"required": False} for s in secrets}} if secrets else {}
    workflow: dict[str, Any] = {"name": f"mlgen {plan.name} {unit.caller}", "on": {"workflow_call": call}}
    workflow["permissions"] = {}  # each job asks for what it needs, within what the calling job grants
    if plan.env:
        workflow["env"] = dict(plan.env)  # the caller's workflow-level `env` does not reach a called workflow
    workflow["defaults"] = {"run": {"shell": "bash"}}
    workflow["jobs"] = inner
    return workflow


def mark_calls(text: str) -> str:
    """`uses: ./.github/workflows/...` keeps the form every runner and GitHub Enterprise Server
    read (it resolves to the caller's own commit, no checkout needed); zizmor's self-repository
    audit prefers `$/`, which needs runner 2.336.0 or newer and github.com. Said where it applies."""
    def mark(call: re.Match[str]) -> str:
        # a call only where the line's text starts with it (after the whitespace `str.lstrip` drops)
        line_start = text.rfind("\n", 0, call.start()) + 1
        return call.group() if text[line_start:call.start()].strip() else f"{call.group()}  {_KEEP_RELATIVE}"

    # one scan of the text for the few candidates, instead of a Python loop over every line
    return _CALL.sub(mark, text)


_CALL = re.compile(rf"uses: \./{re.escape(WORKFLOWS)}/.*$", re.MULTILINE)


def _caller(unit: Unit, jobs: dict[str, dict[str, Any]], owner: dict[str, Unit]) -> dict[str, Any]:
    members = [jobs[j] for j in unit.jobs]
    external = [n for job in members for n in _needs(job) if n not in unit.jobs]
    out: dict[str, Any] = {"name": f"rollout to {_environment(members) or unit.lock}"}
    needs = list(dict.fromkeys((owner[n].caller if n in owner else n) for n in external))
    if needs:
        out["needs"] = needs
    condition = _entry_condition(unit, jobs)
    if condition:
        out["if"] = condition
    out["permissions"] = _permissions(members)
    # `queue: max`: later rollouts wait in order; without it a newly queued one cancels the pending one.
    out["concurrency"] = {"group": unit.lock, "cancel-in-progress": False, "queue": "max"}
    out["uses"] = f"./{unit.path}"
    secrets = _secrets(unit, jobs)
    if secrets:
        # Named, never `secrets: inherit`. A job inside that names its environment reads that
        # environment's secret of the same name first (the registry's write token lives there).
        out["secrets"] = {s: f"${{{{ secrets.{s} }}}}" for s in secrets}
    return out


def _environment(members: list[dict[str, Any]]) -> str | None:
    """The environment the rollout deploys to: the one its jobs name most (approval jobs name another)."""
    names = [env.get("name") if isinstance(env, dict) else env for env in (job.get("environment") for job in members) if env]
    return str(max(names, key=names.count)) if names else None


def _entry_condition(unit: Unit, jobs: dict[str, dict[str, Any]]) -> str | None:
    """The call's `if:`: it must hold whenever a job that starts the rollout would run, so it is
    their condition (each still tests its own inside), or their disjunction when they differ."""
    entries = [jobs[j] for j in unit.jobs if not [n for n in _needs(jobs[j]) if n in unit.jobs]]
    conditions = list(dict.fromkeys(job.get("if") for job in entries))
    if None in conditions or not conditions:
        return None
    if len(conditions) == 1:
        return str(conditions[0])
    return " || ".join(f"({c})" for c in conditions)


def _permissions(members: list[dict[str, Any]]) -> dict[str, str] | str:
    """What the call grants: the most any job inside asks for (a called job gets at most that)."""
    asked = [job.get("permissions", {}) for job in members]
    if any(isinstance(a, str) for a in asked):  # `read-all` or `write-all` (an override): grant the widest asked
        writes = any(a == "write-all" or (isinstance(a, dict) and "write" in a.values()) for a in asked)
        return "write-all" if writes else "read-all"
    granted: dict[str, str] = {}
    for scopes in asked:
        for scope, level in scopes.items():
            if _LEVELS.get(str(level), 0) > _LEVELS.get(granted.get(scope, "none"), 0):
                granted[scope] = str(level)
    return dict(sorted(granted.items()))


def _secrets(unit: Unit, jobs: dict[str, dict[str, Any]]) -> list[str]:
    """Every secret the rollout's jobs read (the run's own GITHUB_TOKEN needs no passing)."""
    found = {m for job_id in unit.jobs for m in _SECRET.findall(repr(jobs[job_id]))}
    return sorted(found - {"GITHUB_TOKEN"})


def _renamed_needs(job: dict[str, Any], owner: dict[str, Unit]) -> dict[str, Any]:
    """A job outside every rollout waits for the call, never for a job that moved inside it."""
    needs = _needs(job)
    if not any(n in owner for n in needs):
        return job
    return {**job, "needs": list(dict.fromkeys(owner[n].caller if n in owner else n for n in needs))}


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else [str(n) for n in needs]


def _locks(plan: Plan, jobs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Job id -> the lock it deploys under: the plan's locked jobs and their approval jobs."""
    locks: dict[str, str] = {}
    for job in plan.jobs:
        if job.lock:
            locks.update({j: job.lock for j in (job.id, job.approval_id) if j and j in jobs})
    return locks


def _components(jobs: dict[str, dict[str, Any]], locked: set[str]) -> list[tuple[str, ...]]:
    """The locked jobs grouped by `needs` (either way), each with the jobs that lie between two of them.
    Linear in jobs and needs: one pass down the graph and one up."""
    needs = {j: [n for n in _needs(jobs[j]) if n in jobs] for j in jobs}
    order = _topological(needs)
    needed_by: dict[str, list[str]] = {j: [] for j in jobs}
    for j in order:
        for n in needs[j]:
            needed_by[n].append(j)
    locked_above: dict[str, bool] = {}
    for j in order:
        locked_above[j] = any(n in locked or locked_above[n] for n in needs[j])
    locked_below: dict[str, bool] = {}
    for j in reversed(order):
        locked_below[j] = any(k in locked or locked_below[k] for k in needed_by[j])
    members = locked | {j for j in jobs if j not in locked and locked_above[j] and locked_below[j]}
    groups = connected((j for j in jobs if j in members), ((j, n) for j in jobs for n in needs[j]))  # workflow order
    return [tuple(g) for g in groups]


def _topological(needs: dict[str, list[str]]) -> list[str]:
    """Job ids with every job after its needs (workflow order among equals); the graph is acyclic."""
    waiting = {j: len(set(ns)) for j, ns in needs.items()}
    needed_by: dict[str, list[str]] = {j: [] for j in needs}
    for j, ns in needs.items():
        for n in set(ns):
            needed_by[n].append(j)
    ready = [j for j in needs if not waiting[j]]
    order: list[str] = []
    while ready:
        j = ready.pop()
        order.append(j)
        for k in needed_by[j]:
            waiting[k] -= 1
            if not waiting[k]:
                ready.append(k)
    return order


def _stage(plan: Plan, job_id: str) -> str:
    for job in plan.jobs:
        if job_id in (job.id, job.approval_id):
            return job.stage
    return job_id


def _free_id(wanted: str, jobs: dict[str, dict[str, Any]], taken: set[str]) -> str:
    """`wanted`, or `wanted-2`, `-3`...: a job id no job of the workflow has."""
    candidate, n = wanted, 1
    while candidate in jobs or candidate in taken:
        n += 1
        candidate = f"{wanted}-{n}"
    return candidate
