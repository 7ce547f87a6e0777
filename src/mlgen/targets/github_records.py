"""GitHub: the training record `mlgen report` reads ("retrained or reused"), written without mlgen.

GitLab and Jenkins decide a cache hit with `mlgen cache hit`, which also writes the record. On
GitHub `actions/cache` decides (its `cache-hit` output is "true" only for an exact key match), and
a hit skips the set-up steps, so mlgen may not be installed: the record is written by the Python
that setup-python installed, with the standard library only, in the format `mlgen cache hit`
writes (one JSON file per stage and matrix leg under `layout.TRAINING_RECORDS`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlgen.compile.ir import LEG_SEPARATOR
from mlgen.layout import TRAINING_RECORDS

if TYPE_CHECKING:
    from mlgen.compile.ir import Job

HIT_ENV = "MLGEN_CACHE_HIT"
MISS_REASON = "no cache saved for this key"  # actions/cache cannot tell a new key from an evicted one
END = "MLGEN_RECORD"  # heredoc delimiter; no line of the program below equals it


def script(job: Job) -> str:
    """The shell of the step: the record's program on stdin of the job's Python."""
    stage, keys = json.dumps(job.stage), json.dumps([k for k, _ in job.matrix])
    program = [
        "import json, os, pathlib",
        f"legs = {{k: os.environ.get(k, '') for k in {keys}}}",
        f"hit = os.environ.get({HIT_ENV!r}) == 'true'",
        f"name = {LEG_SEPARATOR!r}.join([{stage}, *legs.values()])",
        f"record = {{'stage': {stage}, 'leg': legs, 'cache': 'hit' if hit else 'miss', 'reason': '' if hit else {MISS_REASON!r}}}",
        f"path = pathlib.Path({TRAINING_RECORDS!r}) / (name + '.json')",
        "path.parent.mkdir(parents=True, exist_ok=True)",
        "path.write_text(json.dumps(record, indent=2, sort_keys=True) + '\\n', encoding='utf-8')",
        "print(f'mlgen: training cache {record[\"cache\"]} for {name}')",
    ]
    return "\n".join([f"python - <<'{END}'", *program, END]) + "\n"


def step(job: Job, cache_step: str) -> dict[str, Any]:
    """Right after the cache restore (`cache_step` is its id): what that step really saw."""
    return {"name": "Record the training cache outcome", "run": script(job),
            "env": {HIT_ENV: f"${{{{ steps.{cache_step}.outputs.cache-hit }}}}"}}
