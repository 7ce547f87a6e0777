"""Tests of the Jenkins declarative-pipeline harness (harness.groovy) on small Jenkinsfiles.

Every test runs real Groovy 2.4 (about 1.5 s per run). Nothing is skipped: without groovy or
Java the runner raises HarnessUnavailable, an AssertionError, and the tests fail.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
INVALID = FIXTURES / "invalid"


def _load_runner():
    # Loaded by path so this works whatever the package layout and pytest import mode.
    name = "mlgen_jenkins_harness_runner"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "runner.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


runner = _load_runner()


def run(fixture: str, tmp_path: Path, **kwargs):
    workdir = tmp_path / "ws"
    workdir.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("stash_dir", tmp_path / "stash")
    return runner.run_jenkinsfile(FIXTURES / fixture, workdir, **kwargs), workdir


def test_groovy_2_4_is_installed():
    runner._require_tools()  # raises HarnessUnavailable (an AssertionError), never skips
    proc = subprocess.run(["groovy", "--version"], env=runner._env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Groovy Version: 2.4." in proc.stdout, f"Jenkins runs Groovy 2.4, this is: {proc.stdout}"


# --------------------------------------------------------------------------------------------
# Parse checks: all fixtures in one JVM
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict]:
    files = sorted(FIXTURES.glob("*.Jenkinsfile")) + sorted(INVALID.glob("*.Jenkinsfile"))
    return runner.parse_many(files)


def test_valid_fixtures_parse(parsed):
    for path in sorted(FIXTURES.glob("*.Jenkinsfile")):
        record = parsed[str(path)]
        assert record["ok"], f"{path.name}: {record.get('error')}"
    model = parsed[str(FIXTURES / "basic.Jenkinsfile")]["model"]
    assert model["agent"] == {"type": "none"}
    assert model["triggers"] == [{"type": "cron", "spec": "17 3 * * 1"}]
    assert [o["name"] for o in model["options"]] == ["timeout", "disableConcurrentBuilds", "buildDiscarder", "timestamps"]
    assert [s["name"] for s in model["stages"]] == ["build", "evaluate", "deploy", "smoke-test"]
    deploy = model["stages"][2]
    assert deploy["agent"] == {"type": "label", "label": "deployer"}
    assert deploy["when"]["beforeInput"] is True
    assert deploy["input"]["message"] == "Deploy to production?"


def _expected_message(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("// expect: "), f"{path.name} must start with '// expect: <message part>'"
    return first[len("// expect: "):]


@pytest.mark.parametrize("name", sorted(p.name for p in INVALID.glob("*.Jenkinsfile")))
def test_invalid_fixture_is_rejected_with_a_clear_message(parsed, name):
    path = INVALID / name
    record = parsed[str(path)]
    assert not record["ok"], f"{name} was accepted"
    assert _expected_message(path) in record["error"]


def test_parse_only_api_raises_with_the_harness_message():
    with pytest.raises(AssertionError, match="unknown step 'fooBar'"):
        runner.parse_only(INVALID / "unknown_step.Jenkinsfile")


@pytest.mark.parametrize("name", ["unknown_step.Jenkinsfile", "unknown_directive.Jenkinsfile"])
def test_unknown_construct_fails_with_exit_4_before_any_stage_runs(tmp_path, name):
    workdir = tmp_path / "ws"
    workdir.mkdir()
    result = runner.run_jenkinsfile(INVALID / name, workdir)
    assert result.returncode == 4, result.log
    assert result.result == "HARNESS_ERROR"
    assert _expected_message(INVALID / name) in result.stderr
    # Like Jenkins, the whole pipeline is checked first, even a stage that `when` would skip.
    assert not (workdir / "ran.txt").exists()
    assert result.stages == []


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------


def test_main_branch_runs_everything(tmp_path):
    result, ws = run("basic.Jenkinsfile", tmp_path, credentials={"DEPLOY_TOKEN": "tok-9f8e7d"})
    assert result.result == "SUCCESS", result.log
    assert result.returncode == 0
    assert result.statuses() == {"build": "passed", "evaluate": "passed", "deploy": "passed", "smoke-test": "passed"}

    # sh really ran, in the workdir, with the pipeline environment and parameters.
    assert (ws / "model" / "weights.txt").read_text() == "hello from main build 1\n"
    assert (ws / "model" / "literal.txt").read_text() == "literal $NOT_EXPANDED\n"
    assert (ws / "model" / "uri.txt").read_text() == "https://mlflow.example.invalid\n"
    assert (ws / "stage-marks" / "build.txt").read_text() == "built hello"
    # The stash carried the model into a fresh directory, and back after deletion.
    assert (ws / "evaluated.txt").read_text() == "hello from main build 1\n"
    assert not (ws / "other-agent").exists()
    assert (ws / "restored.txt").exists()
    # archiveArtifacts copied into <stash-dir>/archive.
    assert result.summary["artifacts"] == ["model/literal.txt", "model/uri.txt", "model/weights.txt"]
    assert (tmp_path / "stash" / "archive" / "model" / "weights.txt").exists()

    # Stage and pipeline post conditions.
    assert (ws / "stage-marks" / "build-success.txt").exists()
    assert not (ws / "stage-marks" / "build-failure.txt").exists()
    assert "PIPELINE-POST always" in result.stdout
    assert "PIPELINE-POST success SUCCESS" in result.stdout
    assert "PIPELINE-POST failure" not in result.stdout
    assert result.stdout.index("PIPELINE-POST always") < result.stdout.index("PIPELINE-POST success")

    # Input approved; withCredentials bound the secret for the single-quoted sh through the env.
    assert "Approved by mlgen-harness" in result.stdout
    assert (ws / "deployed-token.txt").read_text() == "tok-9f8e7d"
    assert "tok-9f8e7d" not in result.stdout, "secrets must be masked in the log"
    assert result.summary["warnings"] == []
    # lock ran its body, and `variable:` named the locked resource.
    assert "Lock acquired on [deploy-production]" in result.stdout
    assert (ws / "locked.txt").read_text() == "deploy-production\n"
    assert (ws / "smoke-tested.txt").exists()


def test_change_request_skips_the_main_only_stage_before_input(tmp_path):
    result, ws = run("basic.Jenkinsfile", tmp_path, change_request=True, branch="feature/x")
    assert result.result == "SUCCESS", result.log
    assert result.stage("deploy") == {"stage": "deploy", "status": "skipped", "reason": "when conditional"}
    assert result.stage("smoke-test")["status"] == "passed"
    # beforeInput: the input is not even asked, and no credential is needed.
    assert "Input requested" not in result.stdout
    assert (ws / "model" / "weights.txt").read_text() == "hello from PR-1 build 1\n"
    assert not (ws / "deployed-token.txt").exists()


def test_rejected_input_aborts_the_build(tmp_path):
    result, ws = run("basic.Jenkinsfile", tmp_path, approve=False, credentials={"DEPLOY_TOKEN": "t"})
    assert result.result == "ABORTED", result.log
    assert result.returncode == 3
    assert result.stage("build")["status"] == "passed"
    assert result.stage("deploy")["status"] == "aborted"
    assert result.stage("smoke-test") == {"stage": "smoke-test", "status": "skipped", "reason": "earlier failure"}
    assert not (ws / "deployed-token.txt").exists()
    assert not (ws / "smoke-tested.txt").exists()
    assert "PIPELINE-POST aborted" in result.stdout
    assert "PIPELINE-POST success" not in result.stdout


def test_missing_credential_fails_the_stage(tmp_path):
    result, ws = run("basic.Jenkinsfile", tmp_path, credentials={})
    assert result.result == "FAILURE", result.log
    assert result.stage("deploy")["status"] == "failed"
    assert "Could not find credentials entry with ID 'DEPLOY_TOKEN'" in result.stdout
    assert result.stage("smoke-test")["status"] == "skipped"
    assert "PIPELINE-POST failure" in result.stdout


def test_failure_retry_and_post(tmp_path):
    result, ws = run("failure.Jenkinsfile", tmp_path, build_number=42)
    assert result.result == "FAILURE", result.log
    assert result.returncode == 1
    assert result.statuses() == {"flaky": "passed", "retry step": "passed", "broken": "failed", "after": "skipped"}
    assert result.stage("after")["reason"] == "earlier failure"
    # retry really ran the stage again: two attempts, and post once, after the passing one.
    assert (ws / "flaky-attempts.txt").read_text() == "2\n"
    assert (ws / "flaky-success.txt").exists()
    assert (ws / "step-attempts.txt").read_text() == "2\n"
    # The failing stage stopped at the failing sh and ran always/failure/cleanup, not success.
    assert not (ws / "not-reached.txt").exists()
    assert {p.name for p in ws.glob("broken-*.txt")} == {"broken-always.txt", "broken-failure.txt", "broken-cleanup.txt"}
    assert not (ws / "after.txt").exists()
    # Pipeline post: always, failure and unsuccessful, not success.
    assert (ws / "pipeline-always.txt").exists()
    assert (ws / "pipeline-failure.txt").read_text() == "42\n"
    assert (ws / "pipeline-unsuccessful.txt").exists()
    assert not (ws / "pipeline-success.txt").exists()
    assert "script returned exit code 3" in result.stdout


def test_junit_failures_make_the_build_unstable(tmp_path):
    result, ws = run("junit_unstable.Jenkinsfile", tmp_path)
    assert result.result == "UNSTABLE", result.log
    assert result.returncode == 2
    assert result.stage("test")["status"] == "unstable"
    assert result.stage("package")["status"] == "passed"  # unstable does not skip later stages
    assert result.summary["tests"] == {"total": 3, "failed": 1, "skipped": 1}
    assert "FAILED model.Quality.test_drift" in result.stdout
    assert (ws / "stage-unstable.txt").exists() and not (ws / "stage-success.txt").exists()
    assert (ws / "pipeline-unstable.txt").exists() and not (ws / "pipeline-failure.txt").exists()


def test_matrix_runs_every_cell(tmp_path):
    result, ws = run("matrix.Jenkinsfile", tmp_path)
    assert result.result == "SUCCESS", result.log
    cells = [{"MODEL": "xgb", "DATASET": "small"}, {"MODEL": "xgb", "DATASET": "large"},
             {"MODEL": "logreg", "DATASET": "small"}]  # logreg/large is excluded
    assert [s["matrix"] for s in result.stages if s["stage"] == "fit"] == cells
    for cell in cells:
        assert result.stage("fit", matrix=cell) == {"stage": "fit", "status": "passed", "matrix": cell, "parent": "train"}
    assert result.stage("score", matrix=cells[0])["status"] == "passed"
    assert result.stage("score", matrix=cells[2])["status"] == "skipped"  # when { environment MODEL == xgb }
    assert result.stage("train")["status"] == "passed"
    # Each cell's stash made it to the collecting stage.
    assert (ws / "collected.txt").read_text().split() == ["logreg-small.txt", "xgb-large.txt", "xgb-small.txt"]
    assert (ws / "cells" / "logreg-small.txt").read_text() == "logreg on small\n"


def test_groovy_string_semantics(tmp_path):
    result, ws = run("interpolation.Jenkinsfile", tmp_path, credentials={"API_TOKEN": "abc123"})
    # '...' stays literal all the way to the shell; "..." interpolates env values in Groovy.
    assert (ws / "greeting.txt").read_text() == "hi $USER"
    assert (ws / "target.txt").read_text() == "main-target"
    assert (ws / "unset.txt").read_text() == "null"  # env.X of an unset variable is null, as in Jenkins
    assert (ws / "safe.txt").read_text() == "abc123"
    # Interpolating a secret works but draws Jenkins' warning.
    assert len(result.summary["warnings"]) == 1
    assert "Groovy String interpolation" in result.summary["warnings"][0]
    # An undefined bare name in a GString fails the build, as MissingPropertyException does in Jenkins.
    assert result.result == "FAILURE", result.log
    assert result.stage("quoting")["status"] == "passed"
    assert result.stage("undefined")["status"] == "failed"
    assert "No such property: NOT_DEFINED_ANYWHERE" in result.summary["error"]


def test_steps_need_an_agent_when_pipeline_has_agent_none(tmp_path):
    result, ws = run("no_agent.Jenkinsfile", tmp_path)
    assert result.result == "FAILURE", result.log
    assert result.stage("announce")["status"] == "passed"  # echo needs no workspace
    assert result.stage("build")["status"] == "failed"
    assert "requires a node context while 'agent none' was specified" in result.stdout
    assert not (ws / "built.txt").exists()
    # The node step gives post blocks a workspace (at the workspace root, whatever dir() was active).
    assert (ws / "recovered-in-node.txt").read_text() == "built-in\n"
    assert (ws / "pipeline-post-node.txt").read_text() == f"{ws / 'sub'}\n"


def test_when_conditions_parallel_script_and_catch_error(tmp_path):
    result, ws = run("conditions.Jenkinsfile", tmp_path, cause="timer", params={"PUBLISH": True, "TARGET": "production"})
    assert result.result == "SUCCESS", result.log
    parallel = {s["stage"]: s["status"] for s in result.stages if s.get("parent") == "conditions"}
    assert parallel == {
        "on timer": "passed",
        "on change request": "skipped",
        "not main": "skipped",
        "release branch": "skipped",
        "any of": "passed",
        "all of": "passed",
    }
    assert result.stage("conditions")["status"] == "passed"
    assert (ws / "from-script.txt").read_text() == "CAPTURED-7"
    extra, path = (ws / "with-env.txt").read_text().split(" ", 1)
    assert extra == "1" and path.startswith("/opt/mlgen-tools/bin:")
    # catchError kept the build green; the timeout killed `sleep 30` after 300 ms.
    assert result.stage("tolerated")["status"] == "unstable"
    assert "Timeout has been exceeded" in result.stdout
    assert (ws / "after-tolerated.txt").exists()


def test_change_request_and_regexp_branch_conditions(tmp_path):
    pr, _ = run("conditions.Jenkinsfile", tmp_path, change_request=True, branch="feature/x")
    statuses = {s["stage"]: s["status"] for s in pr.stages if s.get("parent") == "conditions"}
    assert statuses["on change request"] == "passed" and statuses["not main"] == "passed"
    assert statuses["on timer"] == "skipped" and statuses["all of"] == "skipped"
    release, _ = run("conditions.Jenkinsfile", tmp_path / "release", branch="release/12", cause="manual")
    statuses = {s["stage"]: s["status"] for s in release.stages if s.get("parent") == "conditions"}
    assert statuses["release branch"] == "passed" and statuses["on change request"] == "skipped"
