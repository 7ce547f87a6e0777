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

_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9 _./=,()+@~*-]")


def mermaid_text(text: str) -> str:
    """A Mermaid label body for `"..."`: every character outside a small safe set as an entity code."""
    return _MERMAID_UNSAFE.sub(_entity, text)


def _entity(match: re.Match[str]) -> str:
    return f"#{ord(match.group())};"


# A review comment's graph: past this many jobs it shows the part around the evaluate stage it
# reports on. Mermaid refuses a diagram over 50,000 characters (its `maxTextSize`), and each report
# job carries its graph, so a whole graph per report would grow with the square of the pipeline.
REPORT_GRAPH_JOBS = 60


def mermaid(plan: Plan, around: str | None = None, limit: int = REPORT_GRAPH_JOBS) -> str:
    """A flowchart; nodes get positional ids (n0, n1...), so no job id is ever Mermaid syntax.
    With `around` (a job id), a pipeline of more than `limit` jobs is drawn as the `limit` jobs
    nearest to that job (by edges, either way; ties in plan order) and a note of how many are left out."""
    index = _indexed(plan)
    # every target's report job for one evaluate stage draws the same graph: draw it once
    drawn = index.drawn.get((around, limit))
    if drawn is None:
        drawn = index.drawn[(around, limit)] = _mermaid(plan, index, around, limit)
    return drawn


def _mermaid(plan: Plan, index: _Index, around: str | None, limit: int) -> str:
    node = index.node
    whole = around is None or len(plan.jobs) <= limit
    shown = set(node) if whole else nearest(around or "", index, limit)
    jobs = plan.jobs if whole else [plan.job(j) for j in sorted(shown, key=index.position.__getitem__)]
    lines = ["flowchart TD"]
    for job in jobs:
        label = ", ".join([job.id, *facts(job, plan)])
        lines.append(f'  {node[job.id]}["{mermaid_text(label)}"]')
    for edge in (e for job in jobs for e in index.incoming[job.id]):  # the order of `edges`
        if edge.need in shown:
            words = EDGE_WORDS[edge.on]
            arrow = "-.->" if edge.on == ON_FAILURE else "-->"
            label = f'|"{mermaid_text(words)}"|' if words else ""
            lines.append(f"  {node[edge.need]} {arrow}{label} {node[edge.job]}")
    if len(shown) < len(node):
        note = f"{len(node) - len(shown)} more jobs: mlgen plan --format mermaid draws them all"
        lines.append(f'  more["{mermaid_text(note)}"]')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Index:
    node: dict[str, str]  # job id -> its Mermaid node id
    edges: list[Edge]
    position: dict[str, int]
    neighbours: dict[str, set[str]]  # by edges either way
    incoming: dict[str, list[Edge]]  # job id -> the edges into it, in `edges` order
    drawn: dict[tuple[str | None, int], str]  # the flowcharts drawn so far, by (around, limit)


_last: list[tuple[Plan, _Index]] = []


def _indexed(plan: Plan) -> _Index:
    """The drawing's index of `plan`, kept for the last plan drawn: every report job of one compile
    draws the same plan, and rebuilding it per job would grow with the square of the pipeline."""
    if not _last or _last[0][0] is not plan:
        all_edges = edges(plan)
        neighbours: dict[str, set[str]] = {job.id: set() for job in plan.jobs}
        incoming: dict[str, list[Edge]] = {job.id: [] for job in plan.jobs}
        for edge in all_edges:
            neighbours[edge.need].add(edge.job)
            neighbours[edge.job].add(edge.need)
            incoming[edge.job].append(edge)
        _last[:] = [(plan, _Index({job.id: f"n{i}" for i, job in enumerate(plan.jobs)}, all_edges,
                                  {job.id: i for i, job in enumerate(plan.jobs)}, neighbours, incoming, {}))]
    return _last[0][1]


def nearest(start: str, index: _Index, limit: int) -> set[str]:
    """The `limit` jobs closest to `start` through edges in either direction, breadth first."""
    shown, ring = {start}, [start]
    while ring and len(shown) < limit:
        ahead = sorted({n for job_id in ring for n in index.neighbours[job_id]} - shown, key=index.position.__getitem__)
        ring = ahead[:limit - len(shown)]
        shown.update(ring)
    return shown


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
