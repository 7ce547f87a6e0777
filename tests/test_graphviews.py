"""`mlgen plan --format mermaid|dot|json`: every view parses, and shows every job and edge of the plan.

DOT is read back by a real parser (pydot). Mermaid has no Python parser, so the flowchart's
small grammar (the only statements `graphviews` writes) is checked line by line, and labels are
decoded back to the text they stand for.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pydot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen import __version__
from mlgen.compile import graphviews, plan
from mlgen.spec.load import load
from mlgen.spec.models import NAME_PATTERN, Pipeline
from tests.conftest import ROOT, example_specs

NODE = re.compile(r'^  (n\d+)\["((?:[A-Za-z0-9 _./=,()+@~*-]|#\d+;)*)"\]$')
EDGE = re.compile(r'^  (n\d+) (-->|-\.->)(?:\|"((?:[A-Za-z0-9 _./=,()+@~*-]|#\d+;)*)"\|)? (n\d+)$')


def parse_mermaid(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """(node id -> label, [(from node, to node, edge label)]); fails on any line outside the grammar."""
    lines = text.split("\n")
    assert lines[0] == "flowchart TD" and lines[-1] == "", text
    nodes: dict[str, str] = {}
    edges = []
    for line in lines[1:-1]:
        node, edge = NODE.match(line), EDGE.match(line)
        if node:
            assert node.group(1) not in nodes, line
            nodes[node.group(1)] = _decode(node.group(2))
        elif edge:
            edges.append((edge.group(1), edge.group(4), _decode(edge.group(3) or "")))
        else:
            pytest.fail(f"not a Mermaid flowchart statement: {line!r}")
    assert all(a in nodes and b in nodes for a, b, _ in edges), "an edge names an undeclared node"
    return nodes, edges


def _decode(label: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)


def _plan_edges(the_plan: plan.Plan) -> list[tuple[str, str, str]]:
    return [(need, job.id, "on failure" if need in job.when.on_failure_of else "also on failure" if job.when.despite_failure else "")
            for job in the_plan.jobs for need in job.needs]


def _check_all_views(the_plan: plan.Plan) -> None:
    ids = [j.id for j in the_plan.jobs]
    # Mermaid: nodes are n<position in the plan>
    nodes, edges = parse_mermaid(graphviews.mermaid(the_plan))
    assert list(nodes.values()) == [", ".join([j.id, *graphviews.facts(j, the_plan)]) for j in the_plan.jobs]
    assert [(ids[int(a[1:])], ids[int(b[1:])], label) for a, b, label in edges] == _plan_edges(the_plan)
    # DOT, read back by pydot
    [graph] = pydot.graph_from_dot_data(graphviews.dot(the_plan))
    assert _unquote(graph.get_name()) == the_plan.name
    dot_nodes = [n for n in graph.get_nodes() if n.get_name() not in ("node", "edge", "graph")]  # unquoted: defaults
    assert [_unquote(n.get_name()) for n in dot_nodes] == ids
    assert [_unquote(n.get("label")) for n in dot_nodes] == ["\n".join([j.id, *graphviews.facts(j, the_plan)]) for j in the_plan.jobs]
    dot_edges = [(_unquote(e.get_source()), _unquote(e.get_destination()), _unquote(e.get("label") or '""'))
                 for e in graph.get_edges()]
    assert dot_edges == _plan_edges(the_plan)
    # JSON: round-trips, lists every job and edge
    doc = json.loads(graphviews.json_text(the_plan))
    assert doc == json.loads(json.dumps(doc))
    assert [j["id"] for j in doc["jobs"]] == ids
    assert [(e["from"], e["to"]) for e in doc["edges"]] == [(a, b) for a, b, _ in _plan_edges(the_plan)]
    assert {e["on"] for e in doc["edges"]} <= {"success", "failure", "any"}
    for job, out in zip(the_plan.jobs, doc["jobs"]):
        assert out["needs"] == list(job.needs)
        assert (out["when"]["default_branch"], out["when"]["branches"]) == (job.when.default_branch, list(job.when.branches))


_DOT_ESCAPES = {"n": "\n", "r": "\r"}


def _unquote(text: str) -> str:
    """A DOT ID as pydot returns it (quotes kept) back to its text."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _DOT_ESCAPES.get(m.group(1), m.group(1)), text[1:-1], flags=re.DOTALL)
    return text


@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.parent.name)
def test_every_view_of_every_example_parses_and_is_complete(spec: Path) -> None:
    source, pipeline = load(spec)
    _check_all_views(plan.build(pipeline, __version__, source))


# Stage names as the spec allows them; job ids and branch names with every character Mermaid
# and DOT treat specially are drawn straight into a plan (the spec's patterns would refuse them).
STAGE_NAMES = st.from_regex(NAME_PATTERN, fullmatch=True)
HOSTILE = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12) | st.sampled_from(
    ['"', "a->b", "node", "graph", "end", "x];y[", "#35;", "\\", "a\nb", "|l|", "subgraph", "-->", "%%"])


@st.composite
def pipelines(draw: st.DrawFn) -> Pipeline:
    names = draw(st.lists(STAGE_NAMES.filter(lambda n: not n.endswith("-report")), min_size=3, max_size=6, unique=True))
    stages: list[dict[str, Any]] = [{"name": names[0], "kind": "train", "run": "t", "outputs": ["m/"]}]
    stages.append({"name": names[1], "kind": "evaluate", "run": "e", "metrics": "m.json", "gates": {"a": {"min": 0}}})
    stages.append({"name": names[2], "kind": "register", "model": "m", "path": "m/", "registry": "command",
                   "command": {"register": "r"}})
    for extra in names[3:]:
        stages.append({"name": extra, "kind": "train", "run": "t", "needs": [draw(st.sampled_from(names[:2]))]})
    return Pipeline.model_validate({"version": 1, "name": draw(STAGE_NAMES), "stages": stages})


@settings(max_examples=30, deadline=None)
@given(pipelines())
def test_generated_pipelines_views_parse_and_are_complete(pipeline: Pipeline) -> None:
    _check_all_views(plan.build(pipeline, __version__))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_hostile_job_ids_and_branches_are_escaped(data: st.DataObject) -> None:
    """Rename every job of a real plan (and its needs) to hostile text; every view still reads back."""
    import dataclasses

    the_plan = plan.build(load(ROOT / "examples" / "churn" / "mlgen.yaml")[1], __version__)
    new_ids = data.draw(st.lists(HOSTILE, min_size=len(the_plan.jobs), max_size=len(the_plan.jobs), unique=True))
    rename = dict(zip((j.id for j in the_plan.jobs), new_ids))
    branch = data.draw(HOSTILE)
    jobs = []
    for job in the_plan.jobs:
        when = dataclasses.replace(job.when, on_failure_of=tuple(rename[n] for n in job.when.on_failure_of),
                                   branches=(branch,) if job.when.branch_only else ())
        jobs.append(dataclasses.replace(job, id=rename[job.id], needs=tuple(rename[n] for n in job.needs), when=when))
    _check_all_views(dataclasses.replace(the_plan, jobs=tuple(jobs), name=data.draw(HOSTILE)))


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_hostile_labels_are_escaped_and_read_back(text: str) -> None:
    label = graphviews.mermaid_text(text)
    assert re.fullmatch(r"(?:[A-Za-z0-9 _./=,()+@~*-]|#\d+;)*", label)
    assert _decode(label) == text
    [graph] = pydot.graph_from_dot_data(f"digraph g {{ {graphviews.dot_id('a')} [label={graphviews.dot_id(text)}]; }}")
    [node] = graph.get_nodes()
    assert _unquote(node.get("label")) == text


def test_cli_formats(cli: Any) -> None:
    spec = str(ROOT / "examples" / "churn" / "mlgen.yaml")
    for fmt in ("mermaid", "dot", "json"):
        result = cli("plan", "--format", fmt, spec)
        assert result.code == 0 and result.err == "", result.err
    assert cli("plan", spec).out == cli("plan", "--format", "text", spec).out
    bad = cli("plan", "--format", "svg", spec)
    assert bad.code == 1 and "'svg' is not one of 'text', 'mermaid', 'dot', 'json'" in bad.err


README_BLOCK = re.compile(r"<!-- mlgen plan --format mermaid examples/churn/mlgen.yaml -->\n```mermaid\n(.*?)```\n", re.DOTALL)


def test_readme_graph_is_the_commands_output(cli: Any) -> None:
    """The README's churn graph is generated: regenerate it with the command named above the block."""
    block = README_BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert block is not None, "README.md lost its generated churn graph"
    result = cli("plan", "--format", "mermaid", str(ROOT / "examples" / "churn" / "mlgen.yaml"))
    assert block.group(1) == result.out, "README.md's graph is stale: paste the output of the command above it"


def test_mermaid_entities_are_html_like() -> None:
    # Mermaid's entity codes are `#<decimal>;`; the same code point as HTML's numeric reference.
    assert graphviews.mermaid_text('a"b') == "a#34;b"
    assert html.unescape(graphviews.mermaid_text('a"b#c').replace("#", "&#")) == 'a"b#c'
