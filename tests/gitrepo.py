"""Temporary git repositories for tests that run real engines and hooks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

IDENTITY = {"GIT_AUTHOR_NAME": "mlgen tests", "GIT_AUTHOR_EMAIL": "tests@example.com",
            "GIT_COMMITTER_NAME": "mlgen tests", "GIT_COMMITTER_EMAIL": "tests@example.com"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, **IDENTITY}).stdout.strip()


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
