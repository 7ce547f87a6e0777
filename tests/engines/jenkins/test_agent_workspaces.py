"""--agent-workspaces: stages run where different agents would, so a missing `unstash` shows.

In one shared folder, a file a stage left behind is simply there for the next stage; on real
Jenkins agents it is not. These tests run a generated Jenkinsfile both ways, and the same file with
its `unstash` removed, which must fail only with separate agent workspaces.
"""

from __future__ import annotations

from pathlib import Path

from mlgen.drift import header
from tests.engines.jenkins.runner import run_jenkinsfile
from tests.support import compile_dict, init_and_commit

SPEC = {
    "version": 1, "name": "agents",
    "stages": [
        {"name": "validate", "kind": "validate", "run": "mkdir -p checked && echo ok > checked/report.txt", "outputs": ["checked/"]},
        {"name": "train", "kind": "train", "run": "test -f checked/report.txt && test -f tracked.txt"},
    ],
}


def project(tmp_path: Path, drop_unstash: bool) -> Path:
    repo = tmp_path / "repo"
    text = header.body(compile_dict(SPEC, repo)["jenkins"])
    assert "unstash 'validate'" in text
    if drop_unstash:
        text = "\n".join(line for line in text.splitlines() if "unstash 'validate'" not in line) + "\n"
    (repo / "Jenkinsfile").write_text(text)
    (repo / "tracked.txt").write_text("checked out on every agent\n")
    init_and_commit(repo, "agents")
    return repo


def test_generated_pipeline_passes_on_separate_agents(tmp_path: Path) -> None:
    repo = project(tmp_path, drop_unstash=False)
    run = run_jenkinsfile(repo / "Jenkinsfile", repo, agent_workspaces=tmp_path / "agents", stash_dir=tmp_path / "stash")
    assert run.statuses() == {"validate": "passed", "train": "passed"}, run.log
    assert not (repo / "checked").exists(), "stages ran in their own workspaces, not in the checkout"
    assert (tmp_path / "agents" / "main" / "train" / "checked" / "report.txt").is_file(), run.log


def test_missing_unstash_fails_on_separate_agents_only(tmp_path: Path) -> None:
    repo = project(tmp_path, drop_unstash=True)
    shared = run_jenkinsfile(repo / "Jenkinsfile", repo, stash_dir=tmp_path / "stash1")
    assert shared.statuses()["train"] == "passed", "one shared folder hides the missing unstash"
    separate = run_jenkinsfile(repo / "Jenkinsfile", repo, agent_workspaces=tmp_path / "agents", stash_dir=tmp_path / "stash2")
    assert separate.statuses() == {"validate": "passed", "train": "failed"}, separate.log
