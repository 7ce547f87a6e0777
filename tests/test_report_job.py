"""The report job on every target: after each evaluate stage, also when it failed or never ran,
with write access on that job alone, and the runtime's own parser reading its command line."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from mlgen import __version__
from mlgen.compile import graphviews, plan, reportjob
from mlgen.compile.compiler import compile_pipeline
from mlgen.errors import SpecError
from mlgen.spec.models import Pipeline
from mlgen.targets import yamlout
from tests import condeval

VALIDATE = {"name": "validate", "kind": "validate", "contract": "c.yaml", "data": ["d.csv"]}
TRAIN = {"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"],
         "cache": {"key": ["train.py"]}, "matrix": {"algo": ["a", "b"]}}
REGISTER = {"name": "register", "kind": "register", "model": "m", "path": "model/", "registry": "command",
            "command": {"register": "echo {model}"}}


def _evaluate(name: str = "evaluate", **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "evaluate", "run": "python eval.py", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}, **extra}


def _spec(stages: list[dict[str, Any]], report: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"version": 1, "name": "p", "stages": stages}
    if report is not None:
        spec["report"] = report
    return spec


# Pipelines that differ where the report job could go wrong: with and without a data check,
# cached matrix training, two evaluate stages, an evaluate stage that runs only on the default
# branch (it waits for a register stage), and each report setting.
SHAPES = {
    "evaluate only": [_evaluate()],
    "validate, train, evaluate": [VALIDATE, TRAIN, _evaluate()],
    "two evaluate stages": [VALIDATE, TRAIN, _evaluate("offline"), _evaluate("online", needs=["train"])],
    "evaluate after register": [TRAIN, _evaluate("first"), REGISTER, _evaluate("after", needs=["register"])],
}
SETTINGS = {"default": None, "jenkins credential": {"jenkins_credential": "report-bot", "gitlab_token": "MR_NOTES"}}
CASES = list(itertools.product(SHAPES, SETTINGS))


def _compiled(stages: list[dict[str, Any]], report: dict[str, Any] | None) -> tuple[Pipeline, dict[str, str]]:
    pipeline = Pipeline.model_validate(_spec(stages, report))
    outputs = compile_pipeline(pipeline, spec_name="mlgen.yaml", spec_bytes=b"")
    return pipeline, {o.target: o.text for o in outputs}


def _evaluates(pipeline: Pipeline) -> list[str]:
    return [s.name for s in pipeline.stages if s.kind == "evaluate"]


@pytest.fixture(params=CASES, ids=[f"{shape}-{setting}" for shape, setting in CASES])
def case(request: pytest.FixtureRequest) -> tuple[Pipeline, dict[str, str]]:
    shape, setting = request.param
    return _compiled(SHAPES[shape], SETTINGS[setting])


# -- GitHub ------------------------------------------------------------------------------------

def _github_runs(job: dict[str, Any], *, event: str, ref: str, needs: list[str]) -> bool:
    context = {"github.event_name": event, "github.ref": ref, "needs_results": needs}
    return condeval.github_if(job.get("if"), context)


def test_github_report_runs_after_a_failed_or_skipped_evaluate_never_after_a_cancel(case: Any) -> None:
    pipeline, texts = case
    jobs = yamlout.load(texts["github"])["jobs"]
    for name in _evaluates(pipeline):
        job = jobs[f"{name}-report"]
        assert job["needs"] == [name]
        evaluate_runs_on_prs = _github_runs(jobs[name], event="pull_request", ref="refs/pull/1/merge", needs=["success"])
        for result in ("success", "failure", "skipped"):
            for event, ref in (("pull_request", "refs/pull/1/merge"), ("push", "refs/heads/main")):
                expected = evaluate_runs_on_prs or event == "push"
                assert _github_runs(job, event=event, ref=ref, needs=[result]) == expected, (name, result, event)
        assert not _github_runs(job, event="push", ref="refs/heads/main", needs=["cancelled"])


def test_github_only_the_report_job_may_write(case: Any) -> None:
    pipeline, texts = case
    workflow = yamlout.load(texts["github"])
    assert workflow["permissions"] == {}
    assert set(workflow["on"]) <= {"push", "pull_request", "schedule", "workflow_dispatch"}  # never pull_request_target
    writers = {job_id for job_id, job in workflow["jobs"].items() if "write" in job["permissions"].values()}
    assert writers == {f"{name}-report" for name in _evaluates(pipeline)}
    for job_id in writers:
        assert workflow["jobs"][job_id]["permissions"] == {"contents": "read", "pull-requests": "write"}
        token_steps = [s for s in workflow["jobs"][job_id]["steps"] if "GITHUB_TOKEN" in s.get("env", {})]
        assert [s["name"] for s in token_steps] == ["report"]
        assert token_steps[0]["env"]["GITHUB_TOKEN"] == "${{ github.token }}"


def test_github_report_inputs_are_handed_on_even_when_their_job_failed(case: Any) -> None:
    pipeline, texts = case
    jobs = yamlout.load(texts["github"])["jobs"]
    uploaded = {}
    for job_id, job in jobs.items():
        for step in job["steps"]:
            if step.get("name") == "Upload report inputs":
                assert step["if"] == "${{ !cancelled() }}" and step["with"]["if-no-files-found"] == "ignore"
                uploaded[step["with"]["name"]] = job_id
    for name in _evaluates(pipeline):
        downloads = [s for s in jobs[f"{name}-report"]["steps"] if s["name"].endswith("report inputs")]
        assert all(s["continue-on-error"] is True for s in downloads)
        assert f"{name}~report-inputs" in {s["with"].get("name") for s in downloads}
        # one artifact by name, or a matrix job's legs by pattern (its training records)
        assert all(s["with"].get("name") in uploaded or any(u.startswith(s["with"]["pattern"].rstrip("*")) for u in uploaded)
                   for s in downloads)
        # a data check above this evaluate stage is read too
        if any(s.kind == "validate" for s in pipeline.stages):
            assert "validate~report-inputs" in {s["with"].get("name") for s in downloads}


# -- GitLab ------------------------------------------------------------------------------------

def test_gitlab_report_is_when_always_with_the_spec_named_token(case: Any) -> None:
    pipeline, texts = case
    doc = yamlout.load(texts["gitlab"])
    token = pipeline.report.gitlab_token
    for name in _evaluates(pipeline):
        job, evaluate = doc[f"{name}-report"], doc[name]
        assert {"job": name, "artifacts": True} in job["needs"]
        for source, branch in (("merge_request_event", "feature"), ("push", "main")):
            variables = condeval.gitlab_variables(branch=branch, source=source)
            evaluate_when = condeval.gitlab_rules(evaluate.get("rules"), variables)
            assert condeval.gitlab_rules(job["rules"], variables) == ("always" if evaluate_when != "never" else "never")
        [script] = job["script"]
        assert f"--token-env {token}" in script and "CI_JOB_TOKEN" not in script
        assert job["artifacts"] == {"paths": [".mlgen/report/"], "expire_in": "1 week", "when": "always"}
        # what it reads is kept also when its producer failed
        for need in job["needs"]:
            producer = doc[need["job"]]
            assert producer["artifacts"]["when"] == "always", need


# -- Jenkins -----------------------------------------------------------------------------------

def _post_always(jenkinsfile: str, stage: str) -> str:
    start = jenkinsfile.index(f"    stage('{stage}') {{")
    post = jenkinsfile.index("      post {", start)
    assert post < jenkinsfile.find("\n    stage(", start + 1) or jenkinsfile.find("\n    stage(", start + 1) == -1
    end = jenkinsfile.index("\n      }\n", post)
    return jenkinsfile[post:end]


def test_jenkins_report_is_the_evaluate_stage_post_always(case: Any) -> None:
    pipeline, texts = case
    jenkinsfile = texts["jenkins"]
    credential = pipeline.report.jenkins_credential
    for name in _evaluates(pipeline):
        post = _post_always(jenkinsfile, name)
        assert post.startswith("      post {\n        always {\n")
        assert "archiveArtifacts artifacts: '.mlgen/report/**', allowEmptyArchive: true" in post
        assert "currentBuild.description = readFile('.mlgen/report/description.txt').trim()" in post
        assert f"mlgen report --stage {name} --pipeline p --graph .mlgen/report/pipeline.mmd --post none" in post
        if credential:
            assert "if (env.CHANGE_ID) {" in post and "} catch (err) {" in post
            assert f"echo 'mlgen: no comment posted with credential {credential}; the report is archived'" in post
            assert f"withCredentials([string(credentialsId: '{credential}', variable: 'MLGEN_REPORT_TOKEN')])" in post
            assert f"mlgen report --stage {name} --pipeline p --graph .mlgen/report/pipeline.mmd --token-env MLGEN_REPORT_TOKEN" in post
        else:
            assert "withCredentials" not in post and "CHANGE_ID" not in post
    assert "stage('evaluate-report')" not in jenkinsfile


# -- the plan ----------------------------------------------------------------------------------

def test_report_can_be_turned_off_and_then_nothing_is_added() -> None:
    stages = SHAPES["validate, train, evaluate"]
    _, off = _compiled(stages, {"enabled": False})
    for target, text in off.items():
        assert "report" not in text.replace("reports", ""), target
    the_plan = plan.build(Pipeline.model_validate(_spec(stages, {"enabled": False})), __version__)
    assert all(j.report is None and j.report_inputs is None for j in the_plan.jobs)


def test_no_evaluate_stage_no_report() -> None:
    the_plan = plan.build(Pipeline.model_validate(_spec([VALIDATE, TRAIN])), __version__)
    assert [j.kind for j in the_plan.jobs] == ["validate", "train"]
    assert all(j.report_inputs is None for j in the_plan.jobs)


def test_report_job_keeps_the_evaluate_stage_branch_condition() -> None:
    the_plan = plan.build(Pipeline.model_validate(_spec(SHAPES["evaluate after register"])), __version__)
    report = the_plan.job("after-report")
    assert report.when.despite_failure and report.when.default_branch and report.when.inherited_from == ("after",)
    assert the_plan.job("first-report").when.branch_only is False


def test_a_stage_named_like_a_report_job_is_a_located_error(cli: Any, tmp_path: Path) -> None:
    import contextlib

    spec = _spec([_evaluate(), {"name": "evaluate-report", "kind": "train", "run": "x"}])
    (tmp_path / "mlgen.yaml").write_text(yamlout.dump(spec))
    with contextlib.chdir(tmp_path):
        result = cli("compile")
    assert result.code == 1
    assert re.search(r"mlgen\.yaml:\d+:\d+: job id `evaluate-report` \(from stage `evaluate-report`\) clashes with one "
                     r"from stage `evaluate`", result.err), result.err
    assert "evaluate stages <stage>-report" in result.err
    with pytest.raises(SpecError):  # and nothing is planned without the spec's file
        plan.build(Pipeline.model_validate(spec), __version__)


def test_the_graph_written_for_the_report_is_the_plan_graph() -> None:
    pipeline = Pipeline.model_validate(_spec(SHAPES["two evaluate stages"]))
    the_plan = plan.build(pipeline, __version__)
    script = reportjob.script(the_plan, the_plan.job("online-report"))
    body = re.search(r"<<'MLGEN_GRAPH'\n(.*)\nMLGEN_GRAPH\n", script, re.DOTALL)
    assert body is not None and body.group(1) + "\n" == graphviews.mermaid(the_plan)
    assert shlex.split(script.splitlines()[-1]) == ["mlgen", "report", "--stage", "online", "--pipeline", "p",
                                                    "--graph", reportjob.GRAPH_FILE]


def test_report_command_lines_parse_back_with_the_runtime_parser() -> None:
    from mlgen.runtime.cli import build_parser

    parser = build_parser()
    for shape in SHAPES.values():
        pipeline = Pipeline.model_validate(_spec(shape, SETTINGS["jenkins credential"]))
        the_plan = plan.build(pipeline, __version__)
        for job in (j for j in the_plan.jobs if j.report):
            for token_env, post in ((None, None), ("MR_NOTES", None), (reportjob.TOKEN_ENV, "none")):
                line = reportjob.script(the_plan, job, token_env=token_env, post=post).splitlines()[-1]
                args = parser.parse_args(shlex.split(line)[1:])
                assert (args.command, args.stage, args.pipeline, args.graph) == ("report", job.stage, "p", reportjob.GRAPH_FILE)
                assert (args.token_env, args.post) == (token_env, post or "auto")


def test_examples_have_a_report_job_per_evaluate_stage() -> None:
    from tests.conftest import example_specs

    for spec in example_specs():
        texts = {t: (spec.parent / p).read_text() for t, p in
                 (("github", ".github/workflows/mlgen.yml"), ("gitlab", ".gitlab-ci.yml"), ("jenkins", "Jenkinsfile"))
                 if (spec.parent / p).is_file()}
        assert "evaluate-report" in yamlout.load(texts["github"])["jobs"], spec
        assert "evaluate-report" in yamlout.load(texts["gitlab"]), spec
        assert "mlgen report --stage evaluate" in texts["jenkins"], spec
        assert Path(spec).exists()


def test_the_job_reads_where_the_runtime_writes() -> None:
    from mlgen.runtime.report import command

    assert reportjob.REPORT_DIR == command.DEFAULT_OUT_DIR.as_posix()
    assert reportjob.DESCRIPTION_FILE == (command.DEFAULT_OUT_DIR / "description.txt").as_posix()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_report_reads_the_checks_and_training_above_it_and_its_own_gate_only(shape: str) -> None:
    pipeline = Pipeline.model_validate(_spec(SHAPES[shape]))
    the_plan = plan.build(pipeline, __version__)
    stages = {s.name: s for s in pipeline.stages}
    for job in (j for j in the_plan.jobs if j.report):
        ancestors = _ancestors(pipeline, job.stage)
        expected = [s for s in pipeline.stages if reportjob.inputs_of(s) and
                    (s.name == job.stage or (s.name in ancestors and s.kind != "evaluate"))]
        assert [a.producer for a in job.downloads] == [s.name for s in expected], job.id
        assert all(stages[a.producer].kind != "evaluate" or a.producer == job.stage for a in job.downloads)


def _ancestors(pipeline: Pipeline, name: str) -> set[str]:
    from mlgen.spec.graph import needs_map

    needs, seen, todo = needs_map(pipeline), set(), [name]
    while todo:
        for parent in needs[todo.pop()]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen
