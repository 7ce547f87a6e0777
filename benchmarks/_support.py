"""What the benchmarks share with the test suite, kept here so benchmarks never import `tests`.

tests/support.py re-exports the git helpers; the GitLab run below is the minimum a timing needs
(tests/engines/gitlab/runner.py is the full runner: workflow rules, manual jobs, protected caches).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "mlgen tests", "GIT_AUTHOR_EMAIL": "tests@example.com",
                "GIT_COMMITTER_NAME": "mlgen tests", "GIT_COMMITTER_EMAIL": "tests@example.com"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_IDENTITY}).stdout.strip()


def init_and_commit(repo: Path, message: str = "initial") -> None:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def checkout_branch(repo: Path, branch: str) -> None:
    """Check out `branch`, creating it at HEAD when it does not exist yet."""
    if git(repo, "rev-parse", "--abbrev-ref", "HEAD") == branch:
        return
    exists = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
                            cwd=repo, capture_output=True).returncode == 0
    git(repo, "checkout", "--quiet", *([branch] if exists else ["-b", branch]))


def gitlab_merge_request(repo: Path, variables: dict[str, str], *, branch: str = "feature/bench",
                         default_branch: str = "main", timeout: float = 900) -> tuple[int, str]:
    """Run repo/.gitlab-ci.yml as a merge request pipeline from `branch` on gitlab-ci-local; (exit code, log).

    The cache stays in repo/.gitlab-ci-local/cache, so a second call in the same folder can hit.
    """
    binary = ROOT / "node_modules" / ".bin" / "gitlab-ci-local"
    if not binary.exists():
        raise SystemExit("gitlab-ci-local is not installed: run `npm ci` at the repository root")
    checkout_branch(repo, branch)
    # As GitLab's server sets them for a merge request pipeline, which has no CI_COMMIT_BRANCH.
    predefined = {"CI_DEFAULT_BRANCH": default_branch, "CI_PIPELINE_SOURCE": "merge_request_event",
                  "CI_MERGE_REQUEST_IID": "1", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": branch,
                  "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": default_branch, "CI_MERGE_REQUEST_EVENT_TYPE": "detached"}
    values = [a for k, v in (predefined | variables).items() for a in ("--variable", f"{k}={v}")]
    with tempfile.TemporaryDirectory(prefix="mlgen-bench-gcl-") as home:  # no user variables.yml
        command = [str(binary), "--home", home, "--no-color", *values, "--unset-variable", "CI_COMMIT_BRANCH",
                   "--ignore-predefined-vars", ",".join(predefined), "--force-shell-executor", "--shell-isolation",
                   "--no-artifacts-to-source"]
        proc = subprocess.run(command, cwd=repo, env={**os.environ, "FORCE_COLOR": "0"}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, timeout=timeout)
    shutil.rmtree(repo / ".gitlab-ci-local" / "builds", ignore_errors=True)  # job copies, not state
    return proc.returncode, proc.stdout
