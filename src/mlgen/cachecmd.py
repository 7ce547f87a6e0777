"""Training-cache guard for targets whose cache cannot key on file contents (GitLab, Jenkins).

The restored outputs are reused only when `mlgen cache hit` finds the content hash of the key
files equal to the one saved beside them; otherwise training runs and the hash is saved.
"""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

from mlgen.escape import sh_quote

if TYPE_CHECKING:
    from mlgen.plan import Job

STAMP_DIR = ".mlgen/cache"


def setup_outside_guard(job: Job, setup: str | None) -> str | None:
    """The project's set-up for the job's preparation: none when `guard` runs it on a miss."""
    return None if job.setup_on_miss_only else setup


def guard(script: str, job: Job, setup: str | None) -> str:
    """Wrap the training command of a cached job: skip it on a hit, record the key after it ran.

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
        f"if mlgen cache hit {flags}; then\n"
        "  echo 'mlgen: training inputs unchanged; reusing the cached outputs'\n"
        "else\n"
        f"{body}\n"
        f"  mlgen cache save {flags}\n"
        "fi\n"
    )


def main(argv: list[str]) -> int:
    """`mlgen cache hit|save|key`: exit 0 on a hit, 1 on a miss."""
    import argparse
    import os

    parser = argparse.ArgumentParser(
        prog="mlgen cache", description="Reuse training outputs when the content of the cache key files is unchanged. "
                                        "Used by generated GitLab and Jenkins jobs, whose caches cannot key on file contents.")
    parser.add_argument("action", choices=["hit", "save", "key"], help="hit: exit 0 if the outputs can be reused, 1 if not; "
                                                                       "save: record the key of the current inputs; key: print it")
    parser.add_argument("--stage", required=True, help="stage name (names the stamp file)")
    parser.add_argument("--key", action="append", required=True, help="glob of files whose content forms the key (repeatable)")
    parser.add_argument("--path", action="append", required=True, help="cached output path that must exist for a hit (repeatable)")
    parser.add_argument("--salt", default="", help="extra text mixed into the key (the compiler passes a hash of the command)")
    parser.add_argument("--matrix-env", action="append", default=[], help="environment variable naming this matrix leg (repeatable)")
    args = parser.parse_args(argv)

    legs = [(name, os.environ.get(name, "")) for name in args.matrix_env]
    digest = key_digest(Path("."), args.key, [args.salt, *args.path, *(f"{k}={v}" for k, v in legs)])
    stamp = Path(STAMP_DIR) / ("-".join([args.stage, *(v for _, v in legs)]) + ".sha256")
    if args.action == "key":
        print(digest)
        return 0
    if args.action == "save":
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n", encoding="utf-8")
        return 0
    saved = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None
    missing = [p for p in args.path if not Path(p).exists()]
    if saved == digest and not missing:
        print(f"mlgen cache: hit for `{args.stage}` (key {digest[:12]})")
        return 0
    reason = "no saved key" if saved is None else ("missing " + ", ".join(missing) if missing else "key files changed")
    print(f"mlgen cache: miss for `{args.stage}` ({reason})")
    return 1


def key_digest(root: Path, patterns: list[str], extra: list[str]) -> str:
    """SHA-256 over the sorted files matching `patterns` (path and content) plus `extra` strings."""
    import hashlib

    digest = hashlib.sha256()
    for item in extra:
        digest.update(item.encode() + b"\0")
    files = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
