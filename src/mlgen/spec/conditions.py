"""When a job runs, and how a condition travels down `needs`.

A job can only run in pipelines where every job it needs exists. GitLab refuses a pipeline in
which a job needs a job its rules leave out, GitHub skips the job, Jenkins would run it: so the
plan gives every job the intersection of its own condition and its needs' conditions, and every
target then says the same thing natively.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class When:
    """When a job runs. The default runs on every pipeline, pull requests included."""

    branches: tuple[str, ...] = ()  # non-empty: only pushes/schedules/manual runs on these branches
    default_branch: bool = False  # also (or only) the default branch, resolved natively by each target
    on_failure_of: tuple[str, ...] = ()  # rollback: only when one of these jobs failed
    inherited_from: tuple[str, ...] = ()  # jobs whose condition narrowed this one (for `mlgen plan`)
    # The report: also after its needs failed or were skipped (a failed gate is what reviewers
    # must see), never after a cancellation.
    despite_failure: bool = False

    @property
    def branch_only(self) -> bool:
        return bool(self.branches) or self.default_branch


class NeverRuns(Exception):
    """The intersection is empty: the job could never run."""


def _refs(when: When, default: str) -> set[str]:
    return set(when.branches) | ({default} if when.default_branch else set())


def narrow(own: When, need: When, need_id: str, default: str) -> When:
    """`own` restricted to the pipelines in which `need` runs; raises NeverRuns if there are none.

    `default` is the spec's default branch name. The result keeps the native default-branch
    test only where both sides use it; a branch named explicitly on either side stays explicit,
    so the child's rule is never wider than its parent's on any target.
    """
    if not need.branch_only:
        return own
    if not own.branch_only:
        return When(need.branches, need.default_branch, own.on_failure_of, (*own.inherited_from, need_id), own.despite_failure)
    common = _refs(own, default) & _refs(need, default)
    if not common:
        raise NeverRuns(need_id)
    keep_marker = own.default_branch and need.default_branch
    # Every common branch is named explicitly on some side unless both sides use the marker.
    explicit = tuple(dict.fromkeys(b for b in (*own.branches, *need.branches)
                                   if b in common and not (keep_marker and b == default)))
    if _refs(own, default) == common and own.default_branch == keep_marker:
        return own
    return When(explicit, keep_marker, own.on_failure_of, (*own.inherited_from, need_id), own.despite_failure)
