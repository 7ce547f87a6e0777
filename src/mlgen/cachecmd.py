"""Training-cache guard for targets whose cache cannot key on file contents (GitLab, Jenkins).

The restored outputs are reused only when `mlgen cache hit` finds the content hash of the key
files equal to the one saved beside them; otherwise training runs and the hash is saved.
"""

from __future__ import annotations

from pathlib import Path

from mlgen.escape import sh_quote

STAMP_DIR = ".mlgen/cache"


def guard(script: str, spec_file: str, stage: str) -> str:
    spec = sh_quote(spec_file)
    hit = f"mlgen cache hit --spec {spec} --stage {stage}"
    save = f"mlgen cache save --spec {spec} --stage {stage}"
    # The user's script goes in unchanged (no re-indenting: heredocs must stay byte-exact).
    body = script.rstrip("\n")
    return (
        f"if {hit}; then\n"
        "  echo 'mlgen: training inputs unchanged; reusing the cached outputs'\n"
        "else\n"
        f"{body}\n"
        f"  {save}\n"
        "fi\n"
    )


def main(argv: list[str]) -> int:
    """`mlgen cache hit|save --spec S --stage NAME`: exit 0 on a hit, 1 on a miss."""
    import argparse
    import os
    import sys

    parser = argparse.ArgumentParser(prog="mlgen cache", description="Reuse training outputs when the cache key files are unchanged.")
    parser.add_argument("action", choices=["hit", "save", "key"], help="hit: exit 0 if outputs can be reused; save: record the key; key: print it")
    parser.add_argument("--spec", default="mlgen.yaml", type=Path)
    parser.add_argument("--stage", required=True)
    args = parser.parse_args(argv)

    from mlgen.load import load_pipeline

    stage = load_pipeline(args.spec).stage(args.stage)
    cache = getattr(stage, "cache", None)
    if cache is None:
        print(f"mlgen cache: stage `{args.stage}` has no cache", file=sys.stderr)
        return 1
    paths = list(cache.paths or stage.outputs)
    legs = sorted((k.upper(), os.environ.get(k.upper(), "")) for k in (stage.matrix or {}))
    digest = key_digest(Path("."), list(cache.key), [stage.run or "", *paths, *(f"{k}={v}" for k, v in legs)])
    stamp = Path(STAMP_DIR) / ("-".join([args.stage, *(v for _, v in legs)]) + ".sha256")
    if args.action == "key":
        print(digest)
        return 0
    if args.action == "save":
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n", encoding="utf-8")
        return 0
    saved = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None
    missing = [p for p in paths if not Path(p).exists()]
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
