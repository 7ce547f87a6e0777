"""Every generated example config passes the real validators of its target."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import validators
from tests.support import example_specs

TARGET_FILES = {"github": ".github/workflows/mlgen.yml", "gitlab": ".gitlab-ci.yml", "jenkins": "Jenkinsfile"}
CASES = [(spec, target) for spec in example_specs() for target in TARGET_FILES]


def _text(spec: Path, target: str) -> str:
    return (spec.parent / TARGET_FILES[target]).read_text()


@pytest.mark.parametrize(("spec", "target"), CASES, ids=[f"{s.parent.name}-{t}" for s, t in CASES])
def test_shellcheck_every_script(spec: Path, target: str) -> None:
    texts = [_text(spec, target)] + (list(validators.called_workflows(spec.parent).values()) if target == "github" else [])
    for text in texts:
        assert validators.shell_bodies(target, text), "no scripts found: the extractor is broken"
        assert validators.shellcheck(target, text) == []


@pytest.mark.parametrize("spec", example_specs(), ids=lambda s: s.parent.name)
def test_actionlint(spec: Path) -> None:
    text, beside = _text(spec, "github"), validators.called_workflows(spec.parent)
    labels = sorted({label for t in [text, *beside.values()] for label in validators.runner_labels(t)})
    assert validators.actionlint(text, labels, beside) == ""


@pytest.mark.parametrize("spec", example_specs(), ids=lambda s: s.parent.name)
def test_zizmor_has_no_findings(spec: Path) -> None:
    assert validators.zizmor(_text(spec, "github"), validators.called_workflows(spec.parent)) == ""


@pytest.mark.parametrize(("spec", "target"), [c for c in CASES if c[1] != "jenkins"],
                         ids=[f"{s.parent.name}-{t}" for s, t in CASES if t != "jenkins"])
def test_schemastore_schema_via_check_jsonschema(spec: Path, target: str) -> None:
    texts = [_text(spec, target)] + (list(validators.called_workflows(spec.parent).values()) if target == "github" else [])
    for text in texts:
        assert validators.check_jsonschema(target, text) == ""


def test_validators_catch_bad_configs() -> None:
    """The validators are wired right: a broken config must be reported by each of them."""
    assert validators.shellcheck("jenkins", "pipeline { stages { stage('x') { steps { sh '''echo $undefined_var \"''' } } } }")
    bad_workflow = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.issue.title }}\n"
    assert "job \"a\" needs job \"missing\"" in validators.actionlint(
        "on: push\njobs:\n  a:\n    needs: [missing]\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n", [])
    assert validators.zizmor(bad_workflow) != ""
    assert validators.check_jsonschema("gitlab", "job:\n  script: 5\n  when: sometimes\n") != ""


@pytest.mark.parametrize("spec", example_specs(), ids=lambda s: s.parent.name)
def test_jenkinsfile_parses_on_groovy_2_4(spec: Path) -> None:
    validators.groovy_parse(spec.parent / "Jenkinsfile")
