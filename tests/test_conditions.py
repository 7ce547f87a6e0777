"""Branch conditions, evaluated: each target runs a branch-only job for exactly the listed branches.

The conditions are computed the way each platform reads them (tests/condeval.py), for pushes to
every listed branch, to the default branch, to an unlisted one, and for pull/merge requests. A
condition joined with AND where the spec means OR (or `allOf` for `anyOf`) fails here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mlgen.drift import header
from mlgen.errors import SpecError
from mlgen.targets import yamlout
from tests import condeval
from tests.support import compile_dict, flat_github

BRANCHES = ["main", "dev", "release/x", "feature/a-b", "hotfix.1", "Dev"]
MAYBE_BRANCHES = st.none() | st.lists(st.sampled_from(BRANCHES), min_size=1, max_size=4, unique=True)


def spec(register: list[str] | None, canary: list[str] | None) -> dict[str, Any]:
    register_stage: dict[str, Any] = {"name": "register", "kind": "register", "model": "m", "path": "model/",
                                      "registry": "command", "command": {"register": "true", "promote": "true", "rollback": "true"}}
    canary_stage: dict[str, Any] = {"name": "canary", "kind": "canary", "deploy": "true", "check": "true",
                                    "rollback": "true", "steps": [50, 100], "approval": False}
    if register is not None:
        register_stage["branches"] = register
    if canary is not None:
        canary_stage["branches"] = canary
    push = sorted({"main", *(register or []), *(canary or [])})
    return {"version": 1, "name": "cond", "triggers": {"push": push, "pull_request": True},
            "stages": [{"name": "validate", "kind": "validate", "run": "true"},
                       {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"]},
                       register_stage, canary_stage]}


def decisions(outputs: dict[str, str], job: str, jenkins_stage: str, branch: str, pull_request: bool) -> dict[str, bool]:
    """Would each target run `job` (its own condition; every need succeeded)? On Jenkins register
    and the canary steps are nested in one rollout stage: its `when` and the stage's own both count."""
    gh = flat_github(outputs)
    ref = "refs/pull/1/merge" if pull_request else f"refs/heads/{branch}"
    event = "pull_request" if pull_request else "push"
    context = {"github.ref": ref, "github.event_name": event, "needs_results": ["success"]}
    source = "merge_request_event" if pull_request else "push"
    return {
        "github": condeval.github_if(gh["jobs"][job].get("if"), context),
        "gitlab": condeval.gitlab_job_admitted(outputs, job, branch=branch, source=source),
        "jenkins": condeval.jenkins_when(header.body(outputs["jenkins"]), jenkins_stage, branch=branch, change_request=pull_request),
    }


@given(register=MAYBE_BRANCHES, canary=MAYBE_BRANCHES)
@example(register=["main", "dev"], canary=["release/x"])  # no common branch: refused
@example(register=["main", "dev"], canary=["dev", "release/x"])
@example(register=["dev", "release/x", "hotfix.1"], canary=None)
@example(register=["dev", "Dev"], canary=["Dev"])  # GitHub and Jenkins compare ignoring case; GitLab does not
def test_branch_only_jobs_run_on_any_listed_branch(register: list[str] | None, canary: list[str] | None) -> None:
    # The canary waits for register, so it runs only where register runs too: on the common branches.
    runs_on = {"register": set(register or ["main"])}
    runs_on["canary-50"] = set(canary or ["main"]) & runs_on["register"]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            outputs = compile_dict(spec(register, canary), Path(tmp))
        except SpecError as exc:
            assert not runs_on["canary-50"], exc.render()  # refused only when the canary could never run
            assert "can never run" in exc.render()
            return
    for job, stage in (("register", "register"), ("canary-50", "canary 50%")):
        allowed = runs_on[job]
        for branch in [*BRANCHES, "other"]:
            expected = branch in allowed
            # GitHub's `==` and Jenkins' branch GLOB ignore case: they cannot tell `dev` from `Dev`
            caseless = not expected and branch.lower() in {b.lower() for b in allowed}
            got = decisions(outputs, job, stage, branch, pull_request=False)
            for target, runs in got.items():
                if not (caseless and target in ("github", "jenkins")):
                    assert runs is expected, f"{target}: {job} on a push to {branch!r} with branches {sorted(allowed)}"
        got = decisions(outputs, job, stage, "dev", pull_request=True)
        assert got == dict.fromkeys(got, False), f"{job} must not run for a pull/merge request: {got}"


@pytest.mark.parametrize("branch", ["main", "dev", "release/x", "other"])
def test_pipelines_are_created_for_pushes_to_the_trigger_branches(branch: str, tmp_path: Path) -> None:
    outputs = compile_dict(spec(["dev", "release/x"], ["release/x"]), tmp_path)
    expected = branch in ("main", "dev", "release/x")
    gh = flat_github(outputs)
    assert (branch in gh["on"]["push"]["branches"]) is expected
    gl = yamlout.load(outputs["gitlab"])
    when = condeval.gitlab_rules(gl["workflow"]["rules"], condeval.gitlab_variables(branch=branch))
    assert (when != "never") is expected
    merge_request = condeval.gitlab_rules(gl["workflow"]["rules"], condeval.gitlab_variables(branch=branch, source="merge_request_event"))
    assert merge_request != "never", "pull_request: true admits merge request pipelines"


def test_the_evaluators_read_what_they_claim() -> None:
    """The evaluators themselves, on hand-written conditions (they must be able to say no)."""
    ctx = {"github.ref": "refs/heads/dev", "github.event_name": "push", "needs_results": ["success"]}
    assert condeval.github_if("github.ref == 'refs/heads/main' || github.ref == 'refs/heads/dev'", ctx)
    assert not condeval.github_if("github.ref == 'refs/heads/main' && github.ref == 'refs/heads/dev'", ctx)
    assert not condeval.github_if("github.event_name != 'push'", ctx)
    assert not condeval.github_if(None, {**ctx, "needs_results": ["failure"]})
    assert condeval.github_if("always() && contains(needs.*.result, 'failure')", {**ctx, "needs_results": ["failure"]})
    assert not condeval.github_if("github.ref == 'refs/heads/dev'", {**ctx, "needs_results": ["failure"]})
    variables = condeval.gitlab_variables(branch="dev")
    assert condeval.gitlab_if('$CI_COMMIT_BRANCH == "main" || $CI_COMMIT_BRANCH == "dev"', variables)
    assert not condeval.gitlab_if('$CI_COMMIT_BRANCH == "main" && $CI_COMMIT_BRANCH == "dev"', variables)
    assert condeval.gitlab_if('$CI_PIPELINE_SOURCE == "push" || $X == "1" && $Y == "2"', variables)  # && binds first
    assert condeval.gitlab_rules([{"if": "$NOPE", "when": "never"}, {"when": "manual"}], variables) == "manual"
    assert condeval.gitlab_rules([{"if": "$NOPE"}], variables) == "never"
    jf = "stage('a') {\n  when {\n    anyOf { branch 'main'; branch 'dev' }\n  }\n  steps {\n  }\n}\nstage('b') {\n  when {\n    allOf { branch 'main'; branch 'dev' }\n  }\n  steps {\n  }\n}"
    assert condeval.jenkins_when(jf, "a", branch="dev")
    assert not condeval.jenkins_when(jf, "b", branch="dev")
    assert not condeval.jenkins_when(jf, "a", branch="dev", change_request=True)
    with pytest.raises(ValueError, match="not modelled"):
        condeval.jenkins_when("stage('c') {\n  when {\n    expression { true }\n  }\n  steps {\n  }\n}", "c", branch="x")
