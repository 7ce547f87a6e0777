"""GitLab's child pipelines, played by this runner where gitlab-ci-local does not model them.

gitlab-ci-local 4.65.1 runs a trigger job's child only experimentally (`Job.startTriggerPipeline`):
the trigger job passes whatever the child did, and `needs:pipeline:job` is dropped with a warning,
so the parent's artifacts never arrive. GitLab documents both rules (`trigger:strategy: depend`:
the trigger job fails when the child pipeline fails and waits while a blocking manual job waits;
`needs:pipeline:job`: a child job downloads the artifacts of that job of the parent pipeline). So the
runner keeps trigger jobs out of gitlab-ci-local's parent run and plays each child as a run of its
own, in the same folder (the same artifact store and cache), with `CI_PIPELINE_SOURCE=parent_pipeline`,
the trigger job's variables and the caller's variables (project variables reach every pipeline;
`forward: pipeline_variables` forwards the rest). Each `needs:pipeline:job` becomes a need on a
stand-in job that only puts that parent job's artifacts back (the files GitLab would download);
stand-ins are left out of the reported statuses. The child's result becomes the trigger job's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

STANDIN_PREFIX = "mlgen-parent-artifacts-"
_PIPELINE_VAR = re.compile(r"^\$\{?(\w+)\}?$")


def triggers(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config's trigger jobs by name."""
    return {k: v for k, v in config.items() if isinstance(v, dict) and "trigger" in v}


def child_file(trigger: dict[str, Any]) -> str:
    """The local child config a trigger job includes (one file: what mlgen writes)."""
    include = trigger["trigger"]["include"]
    if isinstance(include, str):
        return include
    (only,) = include
    return str(only["local"])


def held_back(listed: list[dict[str, Any]], names: set[str]) -> set[str]:
    """Trigger jobs, which the runner plays itself; a parent job waiting for one is refused (mlgen
    moves everything after a rollout into its child, and this runner does not resume the parent)."""
    late = [j["name"] for j in listed if names & {n["job"] for n in j.get("needs") or []}]
    if late:
        raise NotImplementedError(f"parent jobs after a trigger job are not played by this runner: {late}")
    return set(names)


def trigger_can_start(trigger: dict[str, Any], statuses: dict[str, str]) -> str | None:
    """None when the trigger job starts (rules admit it, every need passed), else its status."""
    if trigger["when"] == "never":
        return "excluded"
    for need in trigger.get("needs") or []:
        legs = [v for k, v in statuses.items() if k == need["job"] or k.startswith(need["job"] + ": [")]
        if not legs and need.get("optional"):
            continue
        if not legs or any(v not in ("passed", "failed-allowed") for v in legs):
            return "blocked" if any(v in ("blocked", "manual") for v in legs) else "skipped"
    return None


def trigger_variables(trigger: dict[str, Any], parent_id: str) -> dict[str, str]:
    """The trigger job's own variables as the child receives them (`$CI_PIPELINE_ID` expanded)."""
    out = {}
    for key, value in (trigger.get("variables") or {}).items():
        match = _PIPELINE_VAR.match(str(value))
        out[key] = parent_id if match and match.group(1) == "CI_PIPELINE_ID" else str(value)
    return out


def rewrite_child(child: dict[str, Any], repo_dir: Path, state_dir: str) -> dict[str, Any]:
    """The child config for gitlab-ci-local: each `needs:pipeline:job` becomes a need on a stand-in
    that puts that parent job's artifacts (from the parent run's store) where the job finds them."""
    out = dict(child)
    standins: dict[str, str] = {}
    for name, job in child.items():
        if not isinstance(job, dict) or "needs" not in job:
            continue
        needs = []
        for need in job["needs"]:
            if isinstance(need, dict) and "pipeline" in need:
                standin = standins.setdefault(need["job"], f"{STANDIN_PREFIX}{len(standins) + 1}")
                needs.append({"job": standin, "artifacts": need.get("artifacts", True)})
            else:
                needs.append(need)
        out[name] = {**job, "needs": needs}
    for parent_job, standin in standins.items():
        out[standin] = _standin(parent_job, repo_dir, state_dir)
    return out


def _standin(parent_job: str, repo_dir: Path, state_dir: str) -> dict[str, Any]:
    """A job that puts back a parent job's artifacts: a copy taken now, before the child's run."""
    from tests.engines.gitlab.runner import _safe_name

    store = repo_dir / state_dir / "artifacts" / _safe_name(parent_job)
    kept = repo_dir / state_dir / "mlgen-parent-artifacts" / _safe_name(parent_job)
    shutil.rmtree(kept, ignore_errors=True)
    if store.is_dir():
        shutil.copytree(store, kept, symlinks=True, ignore=shutil.ignore_patterns(".gitlab-ci-reports"))
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in kept.iterdir()) if kept.is_dir() else []
    job: dict[str, Any] = {"stage": ".pre", "needs": [], "cache": [], "rules": [{"when": "always"}],
                           "script": [f"cp -a {json.dumps(str(kept))}/. ." if entries else ":"]}
    if entries:
        job["artifacts"] = {"paths": entries, "expire_in": "1 day"}
    return job


def is_standin(name: str) -> bool:
    return name.startswith(STANDIN_PREFIX)


def child_result(listed: list[dict[str, Any]], statuses: dict[str, str]) -> str:
    """`strategy: depend`: the trigger job fails when the child failed, and keeps running (reported
    `blocked`) while a blocking manual job waits; otherwise it passed."""
    if any(v == "failed" for v in statuses.values()):
        return "failed"
    blocking = {j["name"] for j in listed if j["when"] == "manual" and not j.get("allow_failure")}
    if any(statuses.get(n) == "manual" for n in blocking) or "blocked" in statuses.values():
        return "blocked"
    return "passed"


def plan_child(repo_dir: Path, trigger: dict[str, Any], when: str, branch: str, merge_request: bool,
               default_branch: str, variables: dict[str, str], timeout: float) -> dict[str, str]:
    """The child's jobs and their `when`: `never` for all of them when its trigger job is left out."""
    from tests.engines.gitlab.runner import STATE_DIR, _engine, _list_jobs, _pipeline_created

    child = YAML(typ="safe").load((repo_dir / child_file(trigger)).read_text(encoding="utf-8")) or {}
    names = [k for k, v in child.items() if isinstance(v, dict) and k not in ("workflow", "default", "variables")]
    if when == "never":
        return dict.fromkeys(names, "never")
    file = f"{STATE_DIR}/mlgen-child-plan.yml"
    (repo_dir / file).write_text(json.dumps(rewrite_child(child, repo_dir, STATE_DIR), ensure_ascii=False), encoding="utf-8")
    inherited = {**variables, **trigger_variables(trigger, parent_id="1000")}
    with _engine(repo_dir, branch, "parent_pipeline", merge_request, default_branch, inherited) as base:
        if not _pipeline_created(base, repo_dir, timeout, file=file):
            return dict.fromkeys(names, "never")
        return {j["name"]: j["when"] for j in _list_jobs(base, repo_dir, timeout, file=file, schema=True)
                if not is_standin(j["name"])}
