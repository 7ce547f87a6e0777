"""`mlgen cache hit|save`: is the restored training output current for the key files?

The restored outputs are reused only when `mlgen cache hit` finds the content hash of the key
files equal to the one saved beside them; otherwise training runs and `save` records the hash.
The shell that calls these in GitLab and Jenkins jobs is made by `mlgen.targets.cacheguard`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from mlgen import layout
from mlgen.errors import UserError
from mlgen.runtime.cache import keyglob

STAMP_DIR = layout.CACHE_STAMPS


MISS = 10  # `mlgen cache hit` on a miss: apart from 1, so that an error in the guard never reads as "retrain"


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


TRAINING_RECORDS = Path(layout.TRAINING_RECORDS)


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

    The files are those `mlgen.runtime.cache.keyglob` selects (the rule `hashFiles` follows on GitHub). Paths
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
