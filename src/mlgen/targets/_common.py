"""What more than one target needs and the target-neutral plan should not say."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlgen.compile.plan import Job


def installs_with_cache_guard(job: Job) -> tuple[str, ...]:
    """pip requirements of a job on a target that checks the training cache at run time
    (`mlgen cache`, GitLab and Jenkins): the job's own runtime and the cache guard's."""
    return tuple(i for i in (job.install, job.cache and job.cache.guard_install) if i)
