"""`.github/actionlint.yaml` is generated from the spec, and a stock `actionlint` run passes in the repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlgen.compile.compiler import compile_pipeline
from mlgen.drift import header
from mlgen.spec.models import Pipeline
from mlgen.targets import yamlout
from tests.gitrepo import init_and_commit
from tests.support import example_specs, require_tool, run_mlgen


@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.parent.name)
def test_a_stock_actionlint_run_passes_in_each_example_repository(spec: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(spec.parent, repo)
    init_and_commit(repo)  # actionlint finds the project (and its .github/actionlint.yaml) by the git root
    proc = subprocess.run([require_tool("actionlint")], cwd=repo, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_without_the_generated_file_a_stock_run_fails_on_the_custom_label(tmp_path: Path) -> None:
    churn = next(s for s in example_specs() if s.parent.name == "churn")
    repo = tmp_path / "repo"
    shutil.copytree(churn.parent, repo)
    (repo / ".github" / "actionlint.yaml").unlink()
    init_and_commit(repo)
    proc = subprocess.run([require_tool("actionlint")], cwd=repo, capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and 'label "gpu" is unknown' in proc.stdout  # what the file is for


def _labels(spec: dict[str, Any]) -> list[str] | None:
    outputs = {o.target: o for o in compile_pipeline(Pipeline.model_validate(spec), spec_name="mlgen.yaml", spec_bytes=b"")}
    if "actionlint" not in outputs:
        return None
    assert outputs["actionlint"].path == ".github/actionlint.yaml"
    assert header.parse(outputs["actionlint"].text).target == "actionlint"  # type: ignore[union-attr]
    return list(yamlout.load(header.body(outputs["actionlint"].text))["self-hosted-runner"]["labels"])


def _spec(runner: Any = None, github: dict[str, Any] | None = None, stage_runner: Any = None) -> dict[str, Any]:
    stages: list[dict[str, Any]] = [{"name": "a", "kind": "validate", "run": "true"}]
    if stage_runner is not None:
        stages.append({"name": "b", "kind": "validate", "run": "true", "runner": stage_runner})
    spec: dict[str, Any] = {"version": 1, "name": "p", "stages": stages, "defaults": {}}
    if runner is not None:
        spec["defaults"]["runner"] = runner
    if github is not None:
        spec["targets"] = {"github": {"path": ".github/workflows/mlgen.yml", **github}}
    return spec


@pytest.mark.parametrize(("spec", "labels"), [
    (_spec(), None),  # hosted runners only: nothing to declare, no file
    (_spec(runner="ubuntu-24.04"), None),
    (_spec(stage_runner="gpu"), ["gpu"]),
    (_spec(runner=["linux", "x64"], stage_runner=["gpu", "a100"]), ["a100", "gpu", "linux", "x64"]),
    (_spec(stage_runner="gpu", github={"runners": {"gpu": ["gpu-large", "cuda12"]}}), ["cuda12", "gpu-large"]),
    (_spec(stage_runner="gpu", github={"runners": {"gpu": ["ubuntu-latest"]}}), None),  # mapped onto a hosted image
    (_spec(github={"overrides": {"a": {"runs-on": ["self-hosted", "arm-box"]}}}), ["arm-box"]),  # overrides count
    (_spec(stage_runner="gpu", github={"actionlint": False}), None),  # the user keeps their own file
], ids=["hosted", "hosted-image", "gpu", "several", "mapped", "mapped-to-hosted", "override", "opt-out"])
def test_the_file_lists_exactly_the_self_hosted_labels_the_workflow_uses(spec: dict[str, Any], labels: list[str] | None) -> None:
    assert _labels(spec) == labels


def test_check_covers_the_file_like_every_generated_one(tmp_path: Path) -> None:
    (tmp_path / "mlgen.yaml").write_text("version: 1\nname: p\nstages:\n  - {name: v, kind: validate, run: 'true', runner: gpu}\n",
                                         encoding="utf-8")
    assert run_mlgen("compile", cwd=tmp_path).code == 0
    config = tmp_path / ".github" / "actionlint.yaml"
    assert run_mlgen("check", cwd=tmp_path).code == 0
    config.write_text(config.read_text().replace("- gpu", "- gpu\n    - extra"), encoding="utf-8")
    edited = run_mlgen("check", cwd=tmp_path)
    assert edited.code == 2 and ".github/actionlint.yaml: hand-edited" in edited.err
    assert run_mlgen("compile", cwd=tmp_path).code == 0
    config_text = config.read_text()
    # turning the file off leaves it behind as an orphan that check names, as for any dropped output
    (tmp_path / "mlgen.yaml").write_text(
        "version: 1\nname: p\nstages:\n  - {name: v, kind: validate, run: 'true', runner: gpu}\n"
        "targets:\n  github: {path: .github/workflows/mlgen.yml, actionlint: false}\n"
        "  gitlab: {path: .gitlab-ci.yml}\n  jenkins: {path: Jenkinsfile}\n", encoding="utf-8")
    assert run_mlgen("compile", cwd=tmp_path).code == 0
    assert config.read_text() == config_text  # compile never deletes
    orphaned = run_mlgen("check", cwd=tmp_path)
    assert orphaned.code == 2 and ".github/actionlint.yaml: orphaned" in orphaned.err
