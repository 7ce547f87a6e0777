"""The emitters' own guards: the Jenkinsfile self-check, the printer's escaping guard, file endings.

Each guard exists for a broken emitter, so no valid spec reaches it; these tests feed it the broken
input directly, so that a guard that stopped guarding fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgen.targets import jenkins
from mlgen.targets.jenkins_tree import Block, Groovy, Line, Node, call, lit, render
from tests.compiled import compile_spec

GOOD = "pipeline {\n  agent none\n  stages {\n    stage('a') {\n      steps {\n        sh 'true'\n      }\n    }\n  }\n}\n"
BROKEN = {
    "two pipelines": GOOD + GOOD[:-1] + "x\n",
    "text before": "// hi\n" + GOOD,
    "no pipeline": "  agent none\n  stages {\n  }\n",
    "no final newline": GOOD[:-1],
    "two final newlines": GOOD + "\n",
}


def test_jenkins_self_check_accepts_a_good_file() -> None:
    assert jenkins.validate(GOOD) == []


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_jenkins_self_check_refuses(case: str) -> None:
    assert jenkins.validate(BROKEN[case]) == ["the file must be one top-level `pipeline { }` block, ending in one newline"]


def _stage(name: str, *children: Node) -> Block:
    return Block(call("stage", lit(name)), [*children, Block(Groovy("steps"), [Line(Groovy("sh 'true'"))])])


def _pipeline(*children: Node) -> Block:
    return Block(Groovy("pipeline"), list(children))


AGENT = Line(Groovy("agent none"))
TREES = {
    "good": (_pipeline(AGENT, Block(Groovy("stages"), [_stage("a"), _stage("b")])), []),
    # A matrix names its cells itself: the stage inside it may repeat the outer name.
    "matrix cell": (_pipeline(AGENT, Block(Groovy("stages"), [Block(call("stage", lit("a")), [Block(Groovy("matrix"), [
        Block(Groovy("stages"), [_stage("a")])])])])), []),
    "no agent": (_pipeline(Block(Groovy("stages"), [_stage("a")])), ["the pipeline has no top-level `agent` section"]),
    "no stages": (_pipeline(AGENT), ["the pipeline has no top-level `stages` section"]),
    "same name": (_pipeline(AGENT, Block(Groovy("stages"), [_stage("a"), _stage("a")])), ["two stages are named 'a'"]),
    "same name nested": (_pipeline(AGENT, Block(Groovy("stages"), [
        Block(call("stage", lit("g")), [Block(Groovy("stages"), [_stage("x")])]), _stage("x")])), ["two stages are named 'x'"]),
}


@pytest.mark.parametrize("case", sorted(TREES))
def test_jenkins_tree_check(case: str) -> None:
    tree, problems = TREES[case]
    assert jenkins.check_tree(tree) == problems
    assert jenkins.validate(render(tree)) == []  # the frame is right by construction, whatever the tree


def test_jenkins_printer_refuses_unescaped_values() -> None:
    printed = Block(Groovy("pipeline"), [Line(Groovy("'ok'")), Line(3)])  # type: ignore[arg-type]
    assert render(printed) == "pipeline {\n  'ok'\n  3\n}\n"
    for value in ("plain text", True, 1.5):
        with pytest.raises(TypeError, match="unescaped value reached the Jenkinsfile"):
            render(Block(Groovy("pipeline"), [Line(value)]))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="unescaped value reached the Jenkinsfile"):
            render(Block(value))  # type: ignore[arg-type]


def test_every_output_ends_with_one_newline() -> None:
    for target, text in compile_spec(Path(__file__).parents[1] / "examples" / "churn" / "mlgen.yaml").items():
        assert text.endswith("\n") and not text.endswith("\n\n"), target
