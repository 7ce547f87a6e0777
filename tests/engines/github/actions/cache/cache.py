"""actions/cache v4, offline: `restore` (main step) and `save` (post step) against a local folder.

Semantics kept from the real action and GitHub's cache service:
- the version of an entry is a hash of its `path` lines: the same key with other paths is a miss;
- lookup order, per scope: the key exactly, the key as a prefix, then each restore key exactly and
  as a prefix (newest entry first); scopes are the run's ref, then the pull request's base branch,
  then the default branch (a feature branch can restore what main saved, not the reverse);
- `cache-hit` is 'true' only for an exact match of the key, 'false' for a restore-key match, and
  left unset on a complete miss (as v4 does);
- the post step saves only when the key was not hit exactly; entries are immutable, so saving an
  existing key is a warning, never a failure; a path that matches nothing is a warning too.
Entries live in MLGEN_ACT_CACHE_DIR, which the test runner keeps across act runs.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TRUE, FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")


def fail(message: str) -> None:
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def warn(message: str) -> None:
    print(f"::warning::{message}", flush=True)


def get_input(name: str) -> str:
    # Node actions get inputs as INPUT_<NAME>, upper-cased, hyphens kept (as @actions/core reads them).
    return os.environ.get(f"INPUT_{name.upper()}", "").strip()


def get_lines(name: str) -> list[str]:
    return [line.strip() for line in get_input(name).splitlines() if line.strip()]


def boolean_input(name: str) -> bool:
    value = get_input(name) or "false"
    if value not in TRUE + FALSE:
        fail(f'Input does not meet YAML 1.2 "Core Schema" specification: {name}')
    return value in TRUE


def append(env_file: str, name: str, value: str) -> None:
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    with open(os.environ[env_file], "a", encoding="utf-8") as out:
        out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


@dataclass(frozen=True)
class Entry:
    key: str
    version: str
    scope: str
    created: int
    archive: Path


def store() -> Path:
    value = os.environ.get("MLGEN_ACT_CACHE_DIR", "")
    if not value:
        fail("MLGEN_ACT_CACHE_DIR is not set: the test runner names the folder that holds cache entries")
    path = Path(value) / "entries"
    path.mkdir(parents=True, exist_ok=True)
    return path


def version_of(paths: list[str]) -> str:
    return hashlib.sha256("|".join(paths).encode()).hexdigest()


def check_key(key: str) -> None:
    if len(key) > 512:
        fail(f"Key Validation Error: {key} cannot be larger than 512 characters.")
    if "," in key:
        fail(f"Key Validation Error: {key} cannot contain commas.")


def scopes() -> list[str]:
    """Refs whose entries this run may restore, most specific first."""
    refs = [os.environ["GITHUB_REF"]]
    if os.environ.get("GITHUB_BASE_REF"):
        refs.append(f"refs/heads/{os.environ['GITHUB_BASE_REF']}")
    event_path = os.environ.get("GITHUB_EVENT_PATH", "")
    if event_path and Path(event_path).is_file():
        default = json.loads(Path(event_path).read_text(encoding="utf-8")).get("repository", {}).get("default_branch")
        if default:
            refs.append(f"refs/heads/{default}")
    return list(dict.fromkeys(refs))


def entries(version: str) -> list[Entry]:
    found = []
    for meta in store().glob("*.json"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        if data["version"] == version:
            found.append(Entry(data["key"], data["version"], data["scope"], data["created"], meta.with_suffix(".tar")))
    return sorted(found, key=lambda e: e.created, reverse=True)  # newest first, as the service answers


def lookup(keys: list[str], version: str) -> Entry | None:
    available = entries(version)
    for scope in scopes():
        in_scope = [e for e in available if e.scope == scope]
        for key in keys:
            exact = [e for e in in_scope if e.key == key]
            prefixed = [e for e in in_scope if e.key.startswith(key)]
            if exact or prefixed:
                return (exact or prefixed)[0]
    return None


def resolve_paths(patterns: list[str]) -> list[Path]:
    """Existing files and folders the `path` lines match; `!pattern` lines exclude."""
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    included: dict[Path, None] = {}
    excluded: set[Path] = set()
    for pattern in patterns:
        negate = pattern.startswith("!")
        full = os.path.join(workspace, os.path.expanduser(pattern[1:] if negate else pattern))
        for match in map(Path, glob.glob(full, recursive=True, include_hidden=True)):
            if negate:
                excluded.add(match)
            else:
                included.setdefault(match, None)
    return [p for p in included if p not in excluded]


def restore() -> None:
    if not os.environ.get("GITHUB_REF"):
        warn("Event Validation Error: the event is not tied to a branch or tag ref.")
        return
    key = get_input("key")
    if not key:
        fail("Input required and not supplied: key")
    paths = get_lines("path")
    if not paths:
        fail("Input required and not supplied: path")
    restore_keys = get_lines("restore-keys")
    for k in (key, *restore_keys):
        check_key(k)
    append("GITHUB_STATE", "CACHE_KEY", key)
    entry = lookup([key, *restore_keys], version_of(paths))
    if entry is None:
        if boolean_input("fail-on-cache-miss"):
            fail(f"Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: {key}")
        print(f"Cache not found for input keys: {', '.join([key, *restore_keys])}")
        return
    append("GITHUB_STATE", "CACHE_RESULT", entry.key)
    if boolean_input("lookup-only"):
        print(f"Cache found and can be restored from key: {entry.key}")
    else:
        with tarfile.open(entry.archive) as archive:
            # Members may climb out of the workspace (`~/.cache/...`), as the real tar -P restores them.
            archive.extractall(os.environ["GITHUB_WORKSPACE"], filter="fully_trusted")
        print(f"Cache restored from key: {entry.key}")
    append("GITHUB_OUTPUT", "cache-hit", str(entry.key.lower() == key.lower()).lower())


def archive_paths(paths: list[Path], workspace: Path) -> Path:
    handle, name = tempfile.mkstemp(dir=store(), suffix=".partial")
    os.close(handle)
    with tarfile.open(name, "w") as archive:
        for path in paths:
            archive.add(path, arcname=os.path.relpath(path, workspace))
    return Path(name)


def save() -> None:
    if boolean_input("save-always"):
        fail("save-always is not emulated by the offline stand-in (and is deprecated upstream)")
    if not os.environ.get("GITHUB_REF"):
        warn("Event Validation Error: the event is not tied to a branch or tag ref.")
        return
    key = os.environ.get("STATE_CACHE_KEY") or get_input("key")
    restored = os.environ.get("STATE_CACHE_RESULT", "")
    if restored and restored.lower() == key.lower():
        print(f"Cache hit occurred on the primary key {key}, not saving cache.")
        return
    patterns = get_lines("path")
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    paths = resolve_paths(patterns)
    if not paths:
        warn("Path Validation Error: Path(s) specified in the action for caching do(es) not exist, "
             "hence no cache is being saved.")
        return
    version, scope = version_of(patterns), os.environ["GITHUB_REF"]
    entry_id = hashlib.sha256(f"{scope}\0{version}\0{key}".encode()).hexdigest()[:32]
    final = store() / f"{entry_id}.tar"
    partial = archive_paths(paths, workspace)
    try:
        os.link(partial, final)  # atomic reservation: fails when the key already exists
    except FileExistsError:
        warn(f"Failed to save: Unable to reserve cache with key {key}, another job may be creating this cache.")
        return
    finally:
        partial.unlink()
    meta = {"key": key, "version": version, "scope": scope, "created": time.time_ns()}
    pending = store() / f"{entry_id}.meta.partial"  # readers only look at *.json: never half-written
    pending.write_text(json.dumps(meta), encoding="utf-8")
    pending.rename(store() / f"{entry_id}.json")
    print(f"Cache saved with key: {key}")


if __name__ == "__main__":
    {"restore": restore, "save": save}[sys.argv[1]]()
