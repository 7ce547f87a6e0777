"""zizmor --offline finds nothing in any workflow, whatever branches the pipeline pushes on.

Table-driven over push branches (release-like or not) with a training cache: zizmor treats pushes to
release branches as publishing, where a restored cache could be poisoned, so GitHub trains from
scratch there and `mlgen plan` says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlgen.compile import compiler, describe
from mlgen.spec.models import Pipeline
from mlgen.targets import yamlout
from tests import validators

BRANCHES = ["main", "release/v1", "releases/x", "my-release", "Release-2", "v1.0", "prod"]


def _spec(branch: str) -> dict[str, Any]:
    return {"version": 1, "name": "z", "triggers": {"push": ["main", branch]}, "stages": [
        {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"], "cache": {"key": ["data/**"]},
         "matrix": {"model": ["a", "b"]}}]}


@pytest.mark.parametrize("branch", BRANCHES)
def test_no_zizmor_findings(branch: str) -> None:
    pipeline = Pipeline.model_validate(_spec(branch))
    github = next(o.text for o in compiler.compile_pipeline(pipeline, spec_name="mlgen.yaml", spec_bytes=b"") if o.target == "github")
    assert validators.zizmor(github) == ""
    steps = yamlout.load(github)["jobs"]["train"]["steps"]
    cached = any("actions/cache" in str(s.get("uses", "")) for s in steps)
    assert cached == ("release" not in branch.lower()), "the cache is left out only where it could be poisoned"
    described = describe.describe(pipeline, "mlgen.yaml")
    assert ("training always runs on GitHub" in described) == (not cached)
