"""The shipped hooks, exercised through the real `pre-commit try-repo` on a temporary git repo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support import EXAMPLES, ROOT, init_and_commit, require_tool, run_mlgen


def test_hook_fails_on_stale_config_and_passes_after_compile(tmp_path: Path) -> None:
    tool = require_tool("pre-commit")
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(EXAMPLES / "quickstart" / "mlgen.yaml", repo / "mlgen.yaml")
    assert run_mlgen("compile", cwd=repo).code == 0
    init_and_commit(repo, "pipeline")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool, "try-repo", str(ROOT), "mlgen-check", "--all-files"], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=600)

    assert hook().returncode == 0
    spec = repo / "mlgen.yaml"
    spec.write_text(spec.read_text().replace("min: 0.8", "min: 0.9"))
    stale = hook()
    assert stale.returncode == 1, stale.stdout
    assert "stale: the spec changed after the file was generated" in stale.stdout
    assert "mlgen compile" in stale.stdout
    assert run_mlgen("compile", cwd=repo).code == 0
    fixed = hook()
    assert fixed.returncode == 0, fixed.stdout
