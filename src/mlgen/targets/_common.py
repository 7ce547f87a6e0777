"""What more than one target needs and the target-neutral plan should not say."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlgen.compile.plan import Job


def installs_with_cache_guard(job: Job) -> tuple[str, ...]:
    """pip requirements of a job on a target that checks the training cache at run time
    (`mlgen cache`, GitLab and Jenkins): the job's own runtime and the cache guard's."""
    return tuple(i for i in (job.install, job.cache and job.cache.guard_install) if i)


def connected(order: Iterable[str], links: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The ids of `order` grouped where `links` (pairs of those ids) join them, either way; each group
    in the order of `order`, groups by their first id. Links to ids outside `order` are ignored."""
    ids = list(order)
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the chains short
            i = parent[i]
        return i

    for a, b in links:
        if a in parent and b in parent:
            parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())
