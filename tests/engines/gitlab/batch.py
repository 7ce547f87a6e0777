"""Plan many generated .gitlab-ci.yml files with a few gitlab-ci-local calls.

One gitlab-ci-local call costs seconds, so the fuzz tests merge many pipelines into one file:
pipeline i's jobs and stages get the prefix `p<i>-`, its global variables move into each of its
jobs, and its `workflow:rules` become a probe job `p<i>-workflow` with those rules. One
`--list-json` call per event then parses the merged file (GitLab's JSON schema included) and
applies every pipeline's rules at once.

On top of what gitlab-ci-local reports, one platform rule is checked that it does not apply:
GitLab refuses to create a pipeline in which a job that is created needs a job that is not
("'b' job needs 'a' job, but 'a' is not in any previous stage"), unless the need is
`optional: true`.
"""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.engines.gitlab.runner import _engine, _list_jobs, missing_needs
from tests.support import init_and_commit

EVENTS = {  # name -> (branch, merge_request)
    "default branch push": ("main", False),
    "feature branch push": ("feature/x", False),
    "merge request": ("feature/x", True),
}
TOP_LEVEL = {"workflow", "stages", "default", "variables", "include", "image", "services", "cache", "before_script",
             "after_script", "spec"}


@dataclass
class Verdict:
    created: bool
    problems: list[str]  # empty: GitLab would create and accept this pipeline


def _merge(configs: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"stages": []}
    for i, config in enumerate(configs):
        prefix = f"p{i}-"
        default = config.get("default", {})
        variables = config.get("variables", {})
        for stage in config.get("stages", []):
            merged["stages"].append(prefix + stage)
        for name, job in config.items():
            if name in TOP_LEVEL or not isinstance(job, dict):
                continue
            job = copy.deepcopy(job)
            job["stage"] = prefix + job.get("stage", "test")
            job["variables"] = {**variables, **job.get("variables", {})}
            for key in ("image", "interruptible"):
                if key in default and key not in job:
                    job[key] = default[key]
            job["needs"] = [{**n, "job": prefix + n["job"]} if isinstance(n, dict) else prefix + n for n in job.get("needs", [])]
            merged[prefix + name] = job
        rules = config.get("workflow", {}).get("rules")
        probe: dict[str, Any] = {"stage": merged["stages"][-1] if merged["stages"] else "test", "script": [":"],
                                 "variables": dict(variables), "needs": []}
        if rules:
            probe["rules"] = [{k: v for k, v in r.items() if k in ("if", "when", "changes", "exists")} for r in rules]
        merged[f"{prefix}workflow"] = probe
    return merged


def plan_many(texts: list[str], timeout: float = 600) -> dict[str, list[Verdict]]:
    """event name -> one Verdict per pipeline text (same order)."""
    configs = [YAML(typ="safe").load(text) for text in texts]
    merged = _merge(configs)
    with tempfile.TemporaryDirectory(prefix="mlgen-gcl-batch-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        (repo / ".gitlab-ci.yml").write_text(json.dumps(merged), encoding="utf-8")  # JSON is YAML
        init_and_commit(repo, "batch")
        out = {}
        for event, (branch, merge_request) in EVENTS.items():
            source = "merge_request_event" if merge_request else "push"
            with _engine(repo, branch, source, merge_request, "main", {}) as base:
                listed = _list_jobs(base, repo, timeout)
            out[event] = [_verdict(i, listed) for i in range(len(configs))]
    return out


def _verdict(i: int, listed: list[dict[str, Any]]) -> Verdict:
    prefix = f"p{i}-"
    jobs = {j["name"]: j for j in listed if j["name"].startswith(prefix)}
    probe = jobs.pop(f"{prefix}workflow", None)
    if probe is None:
        return Verdict(False, [f"gitlab-ci-local did not list pipeline {i}"])
    if probe["when"] == "never":
        return Verdict(False, [])
    return Verdict(True, [p.replace(prefix, "") for p in missing_needs(list(jobs.values()))])
