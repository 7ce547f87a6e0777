"""The GitLab runner plays child pipelines by GitLab's documented rules, not gitlab-ci-local's
experimental ones (docs/platform-rules.md L21-L23, tests/engines/README.md).

gitlab-ci-local alone would pass the trigger job whatever the child did and drop
`needs:pipeline:job`. Each test below fails on such a runner: the child reads a parent artifact,
a failing child fails its trigger job (`strategy: depend`), a waiting blocking manual job keeps it
running, and rules in the child see `CI_PIPELINE_SOURCE=parent_pipeline`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines.gitlab import downstream
from tests.support import init_and_commit

PARENT = """\
stages: [build, deploy]
make:
  stage: build
  script: [mkdir -p out, echo "made by the parent" > out/made.txt]
  artifacts: {paths: [out/]}
rollout:
  stage: deploy
  needs: [{job: make, artifacts: false}]
  variables: {PARENT_PIPELINE_ID: $CI_PIPELINE_ID}
  trigger: {include: [{local: child.yml}], strategy: depend}
"""
CHILD = """\
workflow:
  rules: [{if: $CI_PIPELINE_SOURCE == "parent_pipeline"}]
stages: [use, gate]
use:
  stage: use
  needs: [{pipeline: $PARENT_PIPELINE_ID, job: make}]
  script: [cat out/made.txt, 'test "$PARENT_PIPELINE_ID" != ""']
approve:
  stage: gate
  needs: [use]
  rules: [{if: $ASK == "1", when: manual, allow_failure: false}, {when: on_success}]
  script: ['test "$FAIL" != "1"']
"""


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".gitlab-ci.yml").write_text(PARENT, encoding="utf-8")
    (repo / "child.yml").write_text(CHILD, encoding="utf-8")
    init_and_commit(repo, "downstream")
    return repo


@pytest.mark.engine
@pytest.mark.parametrize(("variables", "trigger", "approve"), [
    ({}, "passed", "passed"),
    ({"FAIL": "1"}, "failed", "failed"),  # strategy: depend: the child's failure is the trigger job's
    ({"ASK": "1"}, "blocked", "manual"),  # a blocking manual job keeps the trigger job running
])
def test_a_child_pipeline_gets_the_parents_files_and_decides_its_trigger(tmp_path: Path, variables: dict[str, str],
                                                                        trigger: str, approve: str) -> None:
    from tests.engines.gitlab.runner import run_pipeline

    run = run_pipeline(_repo(tmp_path), variables=variables, timeout=300)
    assert run.jobs["make"] == "passed"
    assert run.jobs["use"] == "passed", run.stdout[-3000:]
    assert "made by the parent" in run.output("use"), "needs:pipeline:job brought the parent's artifact"
    assert run.jobs["rollout"] == trigger and run.jobs["approve"] == approve
    assert not [j for j in run.jobs if downstream.is_standin(j)]


@pytest.mark.engine
def test_a_child_under_a_trigger_the_rules_leave_out_is_planned_never(tmp_path: Path) -> None:
    from tests.engines.gitlab.runner import plan_pipeline

    repo = _repo(tmp_path)
    text = (repo / ".gitlab-ci.yml").read_text().replace("  trigger:", "  rules: [{if: $CI_COMMIT_BRANCH == \"main\"}]\n  trigger:")
    (repo / ".gitlab-ci.yml").write_text(text)
    init_and_commit(repo, "rules")
    assert plan_pipeline(repo, branch="main").jobs["use"] == "on_success"
    assert plan_pipeline(repo, branch="feature/x").jobs["use"] == "never"


# -- the rules on their own, no engine ---------------------------------------------------------------

def test_the_trigger_job_mirrors_its_child() -> None:
    listed = [{"name": "a", "when": "on_success"}, {"name": "ok", "when": "manual", "allow_failure": True},
              {"name": "gate", "when": "manual", "allow_failure": False}]
    assert downstream.child_result(listed, {"a": "passed", "ok": "manual", "gate": "passed"}) == "passed"
    assert downstream.child_result(listed, {"a": "failed", "ok": "manual", "gate": "passed"}) == "failed"
    assert downstream.child_result(listed, {"a": "failed-allowed", "ok": "manual", "gate": "passed"}) == "passed"
    assert downstream.child_result(listed, {"a": "passed", "ok": "manual", "gate": "manual"}) == "blocked"


def test_a_trigger_starts_only_when_its_needs_passed() -> None:
    trigger = {"name": "t", "when": "on_success", "needs": [{"job": "train"}, {"job": "extra", "optional": True}]}
    assert downstream.trigger_can_start(trigger, {"train: [a]": "passed", "train: [b]": "passed"}) is None
    assert downstream.trigger_can_start(trigger, {"train: [a]": "passed", "train: [b]": "failed"}) == "skipped"
    assert downstream.trigger_can_start(trigger, {"train: [a]": "blocked"}) == "blocked"
    assert downstream.trigger_can_start({**trigger, "when": "never"}, {"train": "passed"}) == "excluded"
