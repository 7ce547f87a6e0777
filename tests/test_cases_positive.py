"""Per-feature golden files: each tests/cases/positive/<feature>/mlgen.yaml exercises one feature, and
its expected/ folder holds the exact output per target (github.yml, gitlab.yml, Jenkinsfile).

A changed output fails here under the feature's name, a smaller diff than a whole-example snapshot.
Regenerate after an intended change with `pytest tests/test_cases_positive.py --snapshot-update`
(or MLGEN_UPDATE_CASES=1), then read the diff of expected/ before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import CASES, compile_spec

EXPECTED = {"github": "github.yml", "gitlab": "gitlab.yml", "jenkins": "Jenkinsfile"}
# Written only by a case that deploys: the rollout's reusable workflow on GitHub.
OPTIONAL = {"github-rollout": "github-rollout.yml"}
FEATURES = sorted(p for p in (CASES / "positive").iterdir() if (p / "mlgen.yaml").is_file())


def _updating(config: pytest.Config) -> bool:
    # syrupy's flag, so one `--snapshot-update` run refreshes examples and cases alike
    return bool(os.environ.get("MLGEN_UPDATE_CASES")) or bool(config.getoption("--snapshot-update", default=False))


@pytest.mark.parametrize("case", FEATURES, ids=lambda p: p.name)
def test_case_compiles_to_its_expected_outputs(case: Path, request: pytest.FixtureRequest) -> None:
    texts = compile_spec(case / "mlgen.yaml")
    # outputs beside a config: the GitHub rollout's workflow, and each GitLab child config as gitlab-child-<file name>
    names = {**EXPECTED, **{t: n for t, n in OPTIONAL.items() if t in texts},
             **{k: "gitlab-child-" + Path(k.split(":", 1)[1]).name for k in texts if k.startswith("gitlab-child:")}}
    assert set(texts) == set(names) and set(EXPECTED) <= set(texts), "every case compiles for the three targets"
    expected_dir = case / "expected"
    if _updating(request.config):
        expected_dir.mkdir(exist_ok=True)
        for stale in [*expected_dir.glob("gitlab-child-*"), *(expected_dir / n for n in OPTIONAL.values())]:
            stale.unlink(missing_ok=True)
        for target, name in names.items():
            (expected_dir / name).write_bytes(texts[target].encode())
    assert sorted(p.name for p in expected_dir.iterdir()) == sorted(names.values()), "an expected file without its output"
    for target, name in names.items():
        path = expected_dir / name
        assert path.is_file(), f"{path} is missing: run with --snapshot-update to write it"
        # bytes, not text: a changed line ending or trailing space is a changed output
        assert texts[target].encode() == path.read_bytes(), f"{case.name}: {target} output differs from {path}"


def test_every_case_folder_has_a_spec() -> None:
    stray = [p.name for p in (CASES / "positive").iterdir() if p.is_dir() and not (p / "mlgen.yaml").is_file()]
    assert not stray, f"case folders without mlgen.yaml: {stray}"
