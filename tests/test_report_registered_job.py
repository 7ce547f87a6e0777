"""The registry link: the register job itself adds the version it registered to the report.

It is part of the register job in the plan (a command, its artifact, the description it adds),
so every target gets it from the same place, and it moves wherever the register job moves.
"""

from __future__ import annotations

import itertools
import re
import shlex
from typing import Any

import pytest

from mlgen import __version__, layout
from mlgen.compile import calls, plan, reportjob
from mlgen.runtime.cli import build_parser
from mlgen.spec.models import Pipeline
from tests.support import compile_model, flat_github, gitlab_doc

TRAIN = {"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"]}
EVALUATE = {"name": "check", "kind": "evaluate", "run": "python eval.py", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}}
REGISTRIES: dict[str, dict[str, Any]] = {
    "mlflow": {"registry": "mlflow"},
    "command": {"registry": "command", "command": {"register": "echo {model}"}},
}
CANARY = {"name": "roll", "kind": "canary", "environment": "production", "deploy": "./deploy.sh", "steps": [50, 100],
          "bake": "1m", "check": "true", "rollback": "./deploy.sh --rollback"}


def _spec(registry: str, *, report: bool = True, evaluate: bool = True, canary: bool = False) -> dict[str, Any]:
    register = {"name": "publish", "kind": "register", "model": "fraud", "path": "model/", **REGISTRIES[registry]}
    stages = [TRAIN, *([EVALUATE] if evaluate else []), register, *([CANARY] if canary else [])]
    spec: dict[str, Any] = {"version": 1, "name": "p", "stages": stages}
    if not report:
        spec["report"] = {"enabled": False}
    return spec


CASES = list(itertools.product(REGISTRIES, (False, True)))  # registry kind, with a rollout after it


@pytest.mark.parametrize(("registry", "canary"), CASES)
def test_the_register_job_links_its_own_record_last(registry: str, canary: bool) -> None:
    the_plan = plan.build(Pipeline.model_validate(_spec(registry, canary=canary)), __version__)
    job = the_plan.job("publish")
    register, link = job.commands
    assert register.name == "register" and link.name == "report the registered version"
    assert not link.secrets and link.credential is None and not link.runs_project_code  # the write token stays with register
    args = build_parser().parse_args(shlex.split(link.script)[1:])
    assert (args.command, args.stage, args.pipeline) == ("report", "check", "p")
    # the same record every canary step, promote and rollback reads with --version-from
    assert args.registered == layout.registered("fraud")
    if canary:
        steps = [c.script for j in the_plan.jobs if j.kind in ("canary", "rollback") for c in j.commands]
        assert any(f"--version-from {args.registered}" in s for s in steps)
    assert job.upload is not None and set(layout.REGISTERED_REPORT) <= set(job.upload.paths)
    assert layout.registered("fraud") in job.upload.paths  # the record still goes to the rollout
    assert job.describes == layout.REGISTERED_REPORT[2]


@pytest.mark.parametrize("shape", ["no report", "no evaluate stage"])
def test_no_report_no_link(shape: str) -> None:
    spec = _spec("mlflow", report=shape != "no report", evaluate=shape != "no evaluate stage")
    job = plan.build(Pipeline.model_validate(spec), __version__).job("publish")
    assert [c.name for c in job.commands] == ["register"]
    assert job.describes is None and job.upload is not None and job.upload.paths == (layout.registered("fraud"),)


@pytest.mark.parametrize(("registry", "canary"), CASES)
def test_every_target_runs_it_after_register_and_keeps_its_files(registry: str, canary: bool) -> None:
    texts = compile_model(_spec(registry, canary=canary))
    line = calls.report_registered("check", "p", "fraud")

    steps = flat_github(texts)["jobs"]["publish"]["steps"]
    names = [s.get("name") for s in steps]
    link = names.index("report the registered version")
    assert names.index("register") < link and steps[link]["run"] == line and "env" not in steps[link]
    [upload] = [s for s in steps if "upload-artifact" in s.get("uses", "")]
    assert set(layout.REGISTERED_REPORT) <= set(upload["with"]["path"].split())

    job = gitlab_doc(texts)["publish"]
    assert job["script"][-1] == line and "mlgen registry register" in job["script"][-2]
    assert set(layout.REGISTERED_REPORT) <= set(job["artifacts"]["paths"])

    jenkins = texts["jenkins"]
    stage = jenkins[jenkins.index("stage('publish')"):]
    register, link_at = stage.index("mlgen registry register"), stage.index(line)
    archive = stage.index("archiveArtifacts artifacts: ")
    describe = stage.index(f"readFile('{layout.REGISTERED_REPORT[2]}')")
    assert register < link_at < archive < describe
    assert all(p in stage[archive:stage.index("\n", archive)] for p in layout.REGISTERED_REPORT)
    # appended after the report's own line, and only when the register job wrote one
    assert re.search(r"if \(line\) \{\n\s*currentBuild.description = \(currentBuild.description \? currentBuild.description \+ "
                     r"' \| ' : ''\) \+ line", stage[describe:])


def test_the_report_job_itself_is_unchanged() -> None:
    """The report job still runs before register and has no register record to read."""
    the_plan = plan.build(Pipeline.model_validate(_spec("mlflow")), __version__)
    report = the_plan.job("check-report")
    assert "publish" not in report.needs and not any("--registered" in c.script for c in report.commands)
    assert reportjob.REGISTERED_DESCRIPTION == layout.REGISTERED_REPORT[2]
