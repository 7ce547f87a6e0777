"""Training-cache guard for targets whose cache cannot key on file contents (GitLab, Jenkins).

The restored outputs are reused only when `mlgen cache hit` finds the content hash of the key
files equal to the one saved beside them; otherwise training runs and the hash is saved.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlgen import keyglob
from mlgen.escape import sh_quote
from mlgen.runtime.errors import UserError

if TYPE_CHECKING:
    from mlgen.plan import Job

STAMP_DIR = ".mlgen/cache"


def setup_outside_guard(job: Job, setup: str | None) -> str | None:
    """The project's set-up for the job's preparation: none when `guard` runs it on a miss."""
    return None if job.setup_on_miss_only else setup


MISS = 10  # `mlgen cache hit` on a miss: apart from 1, so that an error in the guard never reads as "retrain"


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
    if setup and job.setup_on_miss_only:
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


def run(args: argparse.Namespace) -> int:
    """`mlgen cache hit|save|key` (flags parsed by the runtime's parser): 0 hit, MISS on a miss."""
    legs = [(name, os.environ.get(name, "")) for name in args.matrix_env]
    digest = key_digest(Path("."), args.key, [args.salt, *args.path, *(f"{k}={v}" for k, v in legs)])
    stamp = Path(STAMP_DIR) / ("-".join([args.stage, *(v for _, v in legs)]) + ".sha256")
    if args.cache_command == "key":
        print(digest)
        return 0
    if args.cache_command == "save":
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n", encoding="utf-8")
        return 0
    saved = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None
    missing = [p for p in args.path if not Path(p).exists()]
    if saved == digest and not missing:
        print(f"mlgen cache: hit for `{args.stage}` (key {digest[:12]})")
        _record(args.stage, legs, "hit", "")
        return 0
    reason = "no saved key" if saved is None else ("missing " + ", ".join(missing) if missing else "key files changed")
    print(f"mlgen cache: miss for `{args.stage}` ({reason})")
    _record(args.stage, legs, "miss", reason)
    return MISS


TRAINING_RECORDS = Path(".mlgen/train")


def _record(stage: str, legs: list[tuple[str, str]], outcome: str, reason: str) -> None:
    """Leave the hit or miss for `mlgen report` ("retrained or reused"), one file per stage and leg."""
    from mlgen.runtime import reports

    name = "~".join([stage, *(v for _, v in legs)])  # the artifact naming of a matrix leg
    try:
        reports.write_json(TRAINING_RECORDS / f"{name}.json",
                           {"stage": stage, "leg": dict(legs), "cache": outcome, "reason": reason})
    except UserError as exc:  # the guard's exit code decides training: a missing record must not change it
        print(f"mlgen cache: warning: {exc}", file=sys.stderr)


def key_digest(root: Path, patterns: list[str], extra: list[str]) -> str:
    """SHA-256 over `extra` strings, then each key file (sorted): its path and its content's hash.

    The files are those `mlgen.keyglob` selects (the rule `hashFiles` follows on GitHub). Paths
    count too: renaming or moving a key file changes the key.
    """
    digest = hashlib.sha256()
    for item in extra:
        digest.update(item.encode() + b"\0")
    try:
        files = keyglob.matching_files(root, patterns)
    except keyglob.GlobError as exc:
        raise UserError(str(exc), where="--key", hint="see the cache rule in README.md (Runtime commands)") from None
    for pattern in patterns:
        if not any(keyglob.parse(pattern).covers(f) for f in files):
            print(f"mlgen cache: warning: no file matches --key {pattern}", file=sys.stderr)
    for name in files:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256((root / name).read_bytes()).digest())
    return digest.hexdigest()
