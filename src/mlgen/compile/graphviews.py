"""Renderings of the plan's job graph for `mlgen plan --format`: Mermaid, Graphviz DOT and JSON.

All three read the same facts (`nodes`, `edges`), so a job or an edge cannot appear in one view
and not in another. Output is deterministic: jobs in plan order, no timestamps, no hashing.

The JSON document is for other tools; its keys are stable and documented in the README:
`format` (the document's version, "mlgen-plan/1"), `pipeline`, `mlgen`, `default_branch`,
`jobs` (id, stage, kind, title, needs, when, runs_on, timeout_minutes, retries, matrix,
approval, environment, hands_on, secrets) and `edges` (from, to, on).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgen.compile.plan import Job, Plan

JSON_FORMAT = "mlgen-plan/1"
# When an edge lets its job start: the need succeeded (the default), failed (a rollback),
# or ended either way (the report).
ON_SUCCESS, ON_FAILURE, ON_ANY = "success", "failure", "any"
EDGE_WORDS = {ON_SUCCESS: "", ON_FAILURE: "on failure", ON_ANY: "also on failure"}


@dataclass(frozen=True)
class Edge:
    need: str
    job: str
    on: str  # ON_SUCCESS, ON_FAILURE or ON_ANY


def edges(plan: Plan) -> list[Edge]:
    out = []
    for job in plan.jobs:
        for need in job.needs:
            on = ON_FAILURE if need in job.when.on_failure_of else ON_ANY if job.when.despite_failure else ON_SUCCESS
            out.append(Edge(need, job.id, on))
    return out


def facts(job: Job, plan: Plan) -> list[str]:
    """Short words about when a job runs, shown under its id in the drawings."""
    out = []
    if job.when.branch_only:
        branches = dict.fromkeys([*job.when.branches, *([plan.default_branch] if job.when.default_branch else [])])
        out.append(" or ".join(branches) + " only")
    if job.approval:
        out.append("approval")
    if job.matrix:
        out.append("matrix " + " x ".join(f"{k}={'/'.join(v)}" for k, v in job.matrix))
    return out


# -- Mermaid ---------------------------------------------------------------------------------

_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 _./=,()+@~*-]")


def mermaid_text(text: str) -> str:
    """A Mermaid label body for `"..."`: every character outside a small safe set as an entity code."""
    return "".join(ch if _MERMAID_SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


def mermaid(plan: Plan) -> str:
    """A flowchart; nodes get positional ids (n0, n1...), so no job id is ever Mermaid syntax."""
    node = {job.id: f"n{i}" for i, job in enumerate(plan.jobs)}
    lines = ["flowchart TD"]
    for job in plan.jobs:
        label = ", ".join([job.id, *facts(job, plan)])
        lines.append(f'  {node[job.id]}["{mermaid_text(label)}"]')
    for edge in edges(plan):
        words = EDGE_WORDS[edge.on]
        arrow = "-.->" if edge.on == ON_FAILURE else "-->"
        label = f'|"{mermaid_text(words)}"|' if words else ""
        lines.append(f"  {node[edge.need]} {arrow}{label} {node[edge.job]}")
    return "\n".join(lines) + "\n"


# -- Graphviz DOT ----------------------------------------------------------------------------

def dot_id(text: str) -> str:
    """A DOT double-quoted ID: backslash and quote escaped, line breaks spelled `\\n`."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")
    return f'"{body}"'


def dot(plan: Plan) -> str:
    lines = [f"digraph {dot_id(plan.name)} {{", "  rankdir=TB;", "  node [shape=box];"]
    for job in plan.jobs:
        label = "\n".join([job.id, *facts(job, plan)])
        lines.append(f"  {dot_id(job.id)} [label={dot_id(label)}];")
    for edge in edges(plan):
        attrs = {ON_SUCCESS: "", ON_FAILURE: ", style=dashed", ON_ANY: ", style=bold"}[edge.on]
        label = f" [label={dot_id(EDGE_WORDS[edge.on])}{attrs}]" if edge.on != ON_SUCCESS else ""
        lines.append(f"  {dot_id(edge.need)} -> {dot_id(edge.job)}{label};")
    return "\n".join([*lines, "}"]) + "\n"


# -- JSON ------------------------------------------------------------------------------------

def as_json(plan: Plan) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT, "pipeline": plan.name, "mlgen": plan.version, "default_branch": plan.default_branch,
        "jobs": [_job(job) for job in plan.jobs],
        "edges": [{"from": e.need, "to": e.job, "on": e.on} for e in edges(plan)],
    }


def _job(job: Job) -> dict[str, Any]:
    when = job.when
    return {
        "id": job.id, "stage": job.stage, "kind": job.kind, "title": job.title, "needs": list(job.needs),
        # `branches` empty and `default_branch` false: every pipeline, pull/merge requests included.
        "when": {"branches": list(when.branches), "default_branch": when.default_branch,
                 "on_failure_of": list(when.on_failure_of), "despite_failure": when.despite_failure},
        "runs_on": list(job.runner), "timeout_minutes": job.timeout_minutes, "retries": job.retries,
        "matrix": {k: list(v) for k, v in job.matrix}, "approval": job.approval, "environment": job.environment,
        "hands_on": list(job.upload.paths) if job.upload else [], "secrets": list(job.secrets),
    }


def json_text(plan: Plan) -> str:
    return json.dumps(as_json(plan), indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"mermaid": mermaid, "dot": dot, "json": json_text}
