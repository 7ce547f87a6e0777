"""The training-cache guard for targets whose cache cannot key on file contents (GitLab, Jenkins).

The restored outputs are reused only when `mlgen cache hit` finds the content hash of the key
files equal to the one saved beside them; otherwise training runs and the hash is saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlgen.runtime.cache.command import MISS
from mlgen.targets.escape import sh_quote

if TYPE_CHECKING:
    from mlgen.compile.plan import Job


def setup_outside_guard(job: Job, setup: str | None) -> str | None:
    """The project's set-up for the job's preparation: none when `guard` runs it on a miss."""
    return None if job.project_setup == "on cache miss" else setup


def guard(script: str, job: Job, setup: str | None) -> str:
    """Wrap the training command of a cached job: skip it on a hit, record the key after it ran.

    `mlgen cache hit` exits 0 on a hit and MISS on a miss; anything else (a bad flag, an
    unreadable key file) fails the job instead of retraining and then failing in `save`.
    When a hit leaves the job nothing to do, the project's `setup` runs only on a miss, right
    before training (the target then leaves it out of the job's preparation).
    """
    cache = job.cache
    assert cache is not None, job.id
    args = ["--stage", job.stage, "--salt", cache.prefix]
    args += [a for key in cache.key_files for a in ("--key", key)]
    args += [a for path in cache.paths for a in ("--path", path)]
    args += [a for name, _ in job.matrix for a in ("--matrix-env", name)]
    flags = " ".join(sh_quote(a) for a in args)
    # The user's script goes in unchanged (no re-indenting: heredocs must stay byte-exact).
    body = script.rstrip("\n")
    if setup and job.project_setup == "on cache miss":
        body = setup.rstrip("\n") + "\n" + body
    return (
        "mlgen_cache=0\n"
        f"mlgen cache hit {flags} || mlgen_cache=$?\n"
        f'[ "$mlgen_cache" -eq 0 ] || [ "$mlgen_cache" -eq {MISS} ] || exit "$mlgen_cache"\n'
        'if [ "$mlgen_cache" -eq 0 ]; then\n'
        "  echo 'mlgen: training inputs unchanged; reusing the cached outputs'\n"
        "else\n"
        f"{body}\n"
        f"  mlgen cache save {flags}\n"
        "fi\n"
    )
