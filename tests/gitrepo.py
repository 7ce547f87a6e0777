"""Kept so older imports work: the helpers live in tests/support.py."""

from __future__ import annotations

from tests.support import GIT_IDENTITY as IDENTITY
from tests.support import checkout_branch, git, init_and_commit

__all__ = ["IDENTITY", "checkout_branch", "git", "init_and_commit"]
