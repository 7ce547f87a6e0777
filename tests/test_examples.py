"""Golden files: every example x target is pinned as a readable snapshot, and committed outputs are current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from tests.support import compile_spec, example_specs, run_mlgen

SUFFIX = {"github": "yml", "github-rollout": "yml", "gitlab": "yml", "jenkins": "Jenkinsfile"}


def _extension(target: str) -> type[SingleFileSnapshotExtension]:
    class Text(SingleFileSnapshotExtension):
        _write_mode = WriteMode.TEXT
        file_extension = SUFFIX[target]

    return Text


# every example deploys: its rollout's reusable workflow is pinned too
CASES = [(spec, target) for spec in example_specs() for target in ("github", "github-rollout", "gitlab", "jenkins")]


@pytest.mark.parametrize(("spec", "target"), CASES, ids=[f"{s.parent.name}-{t}" for s, t in CASES])
def test_snapshot(spec: Path, target: str, snapshot: Any) -> None:
    assert compile_spec(spec)[target] == snapshot(extension_class=_extension(target))


@pytest.mark.parametrize("spec", example_specs(), ids=lambda s: s.parent.name)
def test_committed_outputs_are_current(spec: Path) -> None:
    result = run_mlgen("check", spec.name, cwd=spec.parent)
    assert result.code == 0, result.err
    assert "up to date" in result.out or result.out == ""


@pytest.mark.parametrize("spec", example_specs(), ids=lambda s: s.parent.name)
def test_compile_is_deterministic(spec: Path) -> None:
    assert compile_spec(spec) == compile_spec(spec)


def test_python_spec_matches_yaml_below_the_header() -> None:
    from mlgen.drift import header

    yaml_out = compile_spec(Path(__file__).parents[1] / "examples" / "churn" / "mlgen.yaml")
    py_out = compile_spec(Path(__file__).parents[1] / "examples" / "python-spec" / "pipeline.py")
    assert yaml_out.keys() == py_out.keys()
    for target in yaml_out:
        assert header.body(py_out[target]).encode() == header.body(yaml_out[target]).encode(), target
        # the header differs only where it names its own spec
        assert header.parse(py_out[target]).spec == "pipeline.py"  # type: ignore[union-attr]
