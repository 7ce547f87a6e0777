"""Every Jenkins override path, applied to the stage's tree: what it prints, and what it refuses.

One table row per supported path (and per `null`), each checked on the stage it overrides; every
output is parsed by Groovy through the Jenkins harness in one batch. Refused paths fail with the
location of the override in the spec and a hint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mlgen.drift import header
from mlgen.errors import SpecError
from mlgen.targets.jenkins import sh
from mlgen.targets.jenkins_overrides import POST_CONDITIONS
from tests.compiled import compile_dict

# evaluate: JUnit in its post; canary: a rollback in each step's post, a step timeout around its steps.
STAGES = [{"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}},
           "env": {"SEED": "1"}, "retries": 1, "runner": "gpu"},
          {"name": "canary", "kind": "canary", "deploy": "./deploy.sh", "steps": [10, 100], "check": "./health.sh",
           "rollback": "./rollback.sh", "registry": "command"}]


def _spec(overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"version": 1, "name": "o", "stages": STAGES,
            "targets": {"jenkins": {"path": "Jenkinsfile", "overrides": overrides}}}


def _sh(script: str) -> str:
    return f"sh {sh(script)}"


def _stage(text: str, title: str) -> str:
    """The text of stage `title`: from its head to the `}` at its own indentation."""
    head = re.search(rf"^( *)stage\('{re.escape(title)}'\) \{{\n", text, re.MULTILINE)
    assert head, title
    end = text.index(f"\n{head.group(1)}}}\n", head.end())
    return text[head.start():end + len(head.group(1)) + 3]


def _compile(tmp_path: Path, overrides: dict[str, dict[str, Any]]) -> str:
    return header.body(compile_dict(_spec(overrides), tmp_path)["jenkins"])


# (job id, patch, stage title, what the stage holds afterwards, what it no longer holds)
CASES: dict[str, tuple[str, dict[str, Any], str, list[str], list[str]]] = {
    "agent": ("evaluate", {"agent": "big && linux"}, "evaluate", ["agent {\n        label 'big && linux'\n      }"], ["'gpu'"]),
    "agent null": ("evaluate", {"agent": None}, "evaluate", ["agent any"], ["label"]),
    "timeout minutes": ("evaluate", {"timeout": 90}, "evaluate", ["options {\n        timeout(time: 90, unit: 'MINUTES')"], []),
    "timeout duration": ("evaluate", {"timeout": "1h30m"}, "evaluate", ["timeout(time: 90, unit: 'MINUTES')"], []),
    "timeout null": ("evaluate", {"timeout": None}, "evaluate", [], ["timeout(", "options {"]),
    "canary step timeout": ("canary-10", {"timeout": 7}, "canary 10%", ["steps {\n            timeout(time: 7, unit: 'MINUTES') {"],
                            ["options {"]),
    "retries": ("evaluate", {"retries": 2}, "evaluate", ["retry(3) {"], ["retry(2)"]),
    "retries null": ("evaluate", {"retries": None}, "evaluate", [], ["retry("]),
    "environment": ("evaluate", {"environment": {"A": "x'y"}}, "evaluate", ["environment {\n        A = 'x\\'y'\n      }"], ["SEED"]),
    "environment.NAME": ("evaluate", {"environment.B": "$HOME"}, "evaluate", ["SEED = '1'\n        B = '$HOME'\n"], []),
    "environment.NAME null": ("evaluate", {"environment.SEED": None}, "evaluate", [], ["environment {"]),
    "environment null": ("evaluate", {"environment": None}, "evaluate", [], ["environment {"]),
    # mlgen's own post steps stay, and come first.
    "post.always after junit": ("evaluate", {"post.always": ["echo 'done'", "echo two"]}, "evaluate",
                                # after JUnit and the review report (whose last step is a `script` block), last in `always`
                                ["allowEmptyResults: true\n", "          }\n          " + _sh("echo 'done'") + "\n          " + _sh("echo two")
                                 + "\n        }\n"], []),
    "post.unsuccessful after the rollback": ("canary-10", {"post.unsuccessful": ["./page-oncall.sh"]}, "canary 10%",
                                             ["unsuccessful {\n"], []),
    "post null": ("evaluate", {"post": None}, "evaluate", ["always {\n          junit"], []),
}
CASES.update({f"post.{c}": ("evaluate", {f"post.{c}": [f"echo {c}"]}, "evaluate", [f"      {c} {{\n", _sh(f"echo {c}")], [])
              for c in POST_CONDITIONS})


@pytest.mark.parametrize("case", sorted(CASES))
def test_override_path(tmp_path: Path, case: str) -> None:
    job_id, patch, title, present, absent = CASES[case]
    plain = _stage(_compile(tmp_path / "plain", {}), title)
    stage = _stage(_compile(tmp_path / "patched", {job_id: patch}), title)
    for text in present:
        assert text in stage, (text, stage)
    for text in absent:
        assert text not in stage, (text, stage)
    assert stage != plain or case == "post null"


def test_post_conditions_print_in_the_order_jenkins_runs_them(tmp_path: Path) -> None:
    patch = {f"post.{c}": [f"echo {c}"] for c in reversed(POST_CONDITIONS)}
    stage = _stage(_compile(tmp_path, {"evaluate": patch}), "evaluate")
    printed = re.findall(r"^ {8}(\w+) \{$", stage[stage.index("    post {"):], re.MULTILINE)
    assert printed == list(POST_CONDITIONS)


def test_post_unsuccessful_runs_after_the_rollback(tmp_path: Path) -> None:
    stage = _stage(_compile(tmp_path, {"canary-10": {"post.unsuccessful": ["./page-oncall.sh"]}}), "canary 10%")
    unsuccessful = stage[stage.index("unsuccessful {"):]
    assert unsuccessful.index("mlgen canary rollback") < unsuccessful.index("./page-oncall.sh")


def test_every_overridden_file_parses(tmp_path: Path) -> None:
    from tests.engines.jenkins.runner import parse_many

    files = []
    for i, (job_id, patch, _, _, _) in enumerate(CASES.values()):
        path = tmp_path / f"{i}.Jenkinsfile"
        path.write_text(_compile(tmp_path / str(i), {job_id: patch}))
        files.append(path)
    bad = {p: r["error"] for p, r in parse_many(files).items() if not r["ok"]}
    assert not bad


REFUSED: dict[str, tuple[dict[str, dict[str, Any]], str, str]] = {
    "unknown key": ({"evaluate": {"steps": []}}, "evaluate.steps: `steps` cannot be overridden on Jenkins",
                    "overridable keys: agent, timeout, retries, environment, post"),
    "unknown post condition": ({"evaluate": {"post.sometimes": ["x"]}},
                               ("evaluate.post.sometimes: 'sometimes' is not allowed: input should be 'always', 'changed', "
                                "'fixed', 'regression', 'aborted', 'failure', 'success', 'unstable', 'unsuccessful' or 'cleanup'"),
                               "post.<condition>: a list of shell commands"),
    "post not a list": ({"evaluate": {"post.always": "echo"}}, "evaluate.post.always: 'echo' is not allowed: input should be a valid list",
                        "post.<condition>: a list of shell commands"),
    "post empty command": ({"evaluate": {"post.always": [""]}},
                           "evaluate.post.always: '' is not allowed: string should have at least 1 character", "post.<condition>"),
    "below a text": ({"evaluate": {"agent.label": "x"}}, "evaluate.agent.label: `agent` is not a mapping", "address keys by name"),
    "below a number": ({"evaluate": {"timeout.unit": "HOURS"}}, "evaluate.timeout.unit: `timeout` is not a mapping",
                       "address keys by name"),
    "a rollback is no stage": ({"canary-10-rollback": {"agent": "x"}}, "overrides: job `canary-10-rollback` does not exist on jenkins",
                               "did you mean `canary-10`?"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_override_is_located(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    overrides, message, hint = REFUSED[case]
    with pytest.raises(SpecError):
        compile_dict(_spec(overrides), tmp_path / "direct")
    monkeypatch.chdir(tmp_path / "direct")
    result = cli("compile")
    assert result.code == 1, result
    assert re.search(rf"^mlgen\.yaml:\d+:\d+: .*{re.escape(message)}.*\n  hint: .*{re.escape(hint)}", result.err, re.MULTILINE), result.err
