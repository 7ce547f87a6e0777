"""Big pipelines: each report job draws a bounded graph around its own evaluate stage, and the rollout
grouping on GitHub agrees with its definition (written the slow, obvious way) on random graphs."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.genspec import spec as big_spec
from mlgen.compile import graphviews, reportjob
from mlgen.spec.models import Pipeline
from mlgen.targets import github_rollout, yamlout


def _plan(stages: int) -> Any:
    from mlgen import __version__
    from mlgen.compile import plan

    return plan.build(Pipeline.model_validate(yamlout.load(big_spec(stages))), __version__, None)


def test_a_report_job_draws_at_most_the_limit_around_its_evaluate_stage() -> None:
    plan = _plan(150)
    reports = [j for j in plan.jobs if j.report is not None]
    assert len(plan.jobs) > graphviews.REPORT_GRAPH_JOBS and len(reports) > 10
    for job in reports:
        text = reportjob.script(plan, job)
        nodes = dict(re.findall(r'^  (n\d+)\["([^"]*)"\]$', text, re.M))
        assert len(nodes) == graphviews.REPORT_GRAPH_JOBS, job.id
        assert any(label.split(",")[0] == job.id for label in nodes.values())
        assert any(label.split(",")[0] == job.report.evaluate for label in nodes.values()), "its evaluate stage is drawn"
        assert f"{len(plan.jobs) - graphviews.REPORT_GRAPH_JOBS} more jobs" in text
        for a, b in re.findall(r"^  (n\d+) -\S*> (n\d+)$", text, re.M):
            assert a in nodes and b in nodes, "no edge to a job left out"


def test_a_small_pipeline_is_drawn_whole_in_its_report() -> None:
    plan = _plan(20)
    assert len(plan.jobs) <= graphviews.REPORT_GRAPH_JOBS
    job = next(j for j in plan.jobs if j.report is not None)
    assert graphviews.mermaid(plan).rstrip("\n") in reportjob.script(plan, job)


def _slow_components(jobs: dict[str, dict[str, Any]], locked: set[str]) -> set[frozenset[str]]:
    needs = {j: set(jobs[j].get("needs", [])) for j in jobs}

    def reach(j: str, step: Any) -> set[str]:
        seen, todo = set(), list(step(j))
        while todo:
            k = todo.pop()
            if k not in seen:
                seen.add(k)
                todo += step(k)
        return seen

    above = {j: reach(j, lambda k: needs[k]) for j in jobs}
    below = {j: reach(j, lambda k: [m for m in jobs if k in needs[m]]) for j in jobs}
    members = locked | {j for j in jobs if above[j] & locked and below[j] & locked}
    groups = {j: {j} for j in members}
    for j in members:
        for n in needs[j] & members:
            merged = groups[j] | groups[n]
            for k in merged:
                groups[k] = merged
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 14).flatmap(lambda n: st.tuples(
    st.lists(st.lists(st.integers(0, n - 1), max_size=3), min_size=n, max_size=n),
    st.sets(st.integers(0, n - 1), max_size=n))))
def test_rollout_grouping_matches_its_definition(drawn: tuple[list[list[int]], set[int]]) -> None:
    raw_needs, locked_ids = drawn
    jobs = {f"j{i}": {"needs": sorted({f"j{k}" for k in ns if k < i})} for i, ns in enumerate(raw_needs)}
    locked = {f"j{i}" for i in locked_ids}
    got = github_rollout._components(jobs, locked)
    assert {frozenset(g) for g in got} == _slow_components(jobs, locked)
    order = list(jobs)
    assert all(list(g) == sorted(g, key=order.index) for g in got), "members in workflow order"
