"""The emitters' own guards: the Jenkinsfile self-check, the template's escaping guard, file endings.

Each guard exists for a broken emitter, so no valid spec reaches it; these tests feed it the broken
input directly, so that a guard that stopped guarding fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from markupsafe import Markup

from mlgen.targets import jenkins
from tests.support import compile_spec

GOOD = "pipeline {\n  agent none\n  stages {\n    stage('a') {\n      steps {\n        sh 'true'\n      }\n    }\n  }\n}\n"
BROKEN = {
    "two pipelines": (GOOD + GOOD, "the file must hold exactly one top-level `pipeline { }` block"),
    "no pipeline": ("  agent none\n  stages {\n  }\n", "the file must hold exactly one top-level `pipeline { }` block"),
    "unclosed brace": (GOOD.rstrip("}\n") + "\n", "is never closed"),
    "no agent": (GOOD.replace("  agent none\n", ""), "the pipeline has no top-level `agent` section"),
    "no stages": ("pipeline {\n  agent none\n}\n", "the pipeline has no top-level `stages` section"),
    "mismatched bracket": ("pipeline {\n  agent none\n  stages {\n  )\n}\n", "line 4: unbalanced `)`"),
    "closing first": ("}\n" + GOOD, "line 1: unbalanced `}`"),
}


def test_jenkins_self_check_accepts_a_good_file() -> None:
    assert jenkins.validate(GOOD) == []


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_jenkins_self_check_refuses(case: str) -> None:
    text, message = BROKEN[case]
    assert any(message in problem for problem in jenkins.validate(text)), jenkins.validate(text)


def test_jenkins_template_refuses_unescaped_values() -> None:
    env = jenkins._template().environment
    assert env.from_string("{{ x }}").render(x=Markup("'ok'")) == "'ok'"
    assert env.from_string("{{ n }}").render(n=3) == "3"
    for value in ("plain text", True, 1.5):
        with pytest.raises(TypeError, match="unescaped value reached the Jenkinsfile template"):
            env.from_string("{{ x }}").render(x=value)


def test_every_output_ends_with_one_newline() -> None:
    for target, text in compile_spec(Path(__file__).parents[1] / "examples" / "churn" / "mlgen.yaml").items():
        assert text.endswith("\n") and not text.endswith("\n\n"), target
