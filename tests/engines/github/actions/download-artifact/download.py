"""actions/download-artifact v8, offline: copy artifacts of this run out of MLGEN_ACT_ARTIFACT_DIR.

Semantics kept from the real action (re-implemented here, not copied):
- `name` downloads that one artifact straight into `path` (default: the workspace) and fails when
  it does not exist;
- without `name`, every artifact (or those whose name matches `pattern`) is downloaded into
  `path/<artifact name>/`, or straight into `path` with merge-multiple: true; a pattern matching
  nothing is not an error;
- files land at their paths relative to the artifact's root, which upload-artifact chose;
- v8: a downloaded artifact whose digest differs from the one recorded at upload fails the step
  unless `digest-mismatch` says otherwise (ignore, info, warn; default error).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import sys
import uuid
from pathlib import Path

TRUE, FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")


def fail(message: str) -> None:
    print(f"::error::Unable to download artifact(s): {message}", flush=True)
    sys.exit(1)


def get_input(name: str) -> str:
    return os.environ.get(f"INPUT_{name}", "").strip()


def set_output(name: str, value: str) -> None:
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def artifact_store() -> Path:
    value = os.environ.get("MLGEN_ACT_ARTIFACT_DIR", "")
    if not value:
        fail("MLGEN_ACT_ARTIFACT_DIR is not set: the test runner names the folder that holds this run's artifacts")
    return Path(value)


def available() -> list[str]:
    store = artifact_store()
    if not store.is_dir():
        return []
    return sorted(p.name for p in store.iterdir() if p.is_dir() and p.name != ".staging")


def destination() -> Path:
    path = get_input("PATH") or os.environ["GITHUB_WORKSPACE"]
    return Path(os.path.expanduser(path)).resolve()


def select(name: str, pattern: str) -> list[str]:
    names = available()
    if name:
        if name not in names:
            fail(f"Artifact '{name}' not found")
        return [name]
    if pattern:
        print(f"Filtering artifacts by pattern '{pattern}'")
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


MISMATCH_MODES = ("ignore", "info", "warn", "error")


def digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for file in sorted(f for f in folder.rglob("*") if f.is_file()):
        sha.update(file.relative_to(folder).as_posix().encode() + b"\0" + file.read_bytes())
    return sha.hexdigest()


def check_digest(artifact: str, mode: str) -> None:
    recorded = artifact_store() / f"{artifact}.sha256"
    if not recorded.is_file() or recorded.read_text(encoding="utf-8").strip() == digest(artifact_store() / artifact):
        return
    message = f"Digest validation failed for artifact(s): {artifact}"
    if mode == "error":
        fail(message)
    if mode != "ignore":
        print(f"::{'warning' if mode == 'warn' else 'notice'}::{message}", flush=True)


def main() -> None:
    if get_input("GITHUB_TOKEN"):
        fail("downloading from another run or repository (github-token) is not emulated offline")
    merge = get_input("MERGE_MULTIPLE") or "false"
    if merge not in TRUE + FALSE:
        fail('Input does not meet YAML 1.2 "Core Schema" specification: merge-multiple')
    mismatch = get_input("DIGEST_MISMATCH") or "error"
    if mismatch not in MISMATCH_MODES:
        fail(f"Unrecognized digest-mismatch input. Provided: {mismatch}. Available options: {', '.join(MISMATCH_MODES)}")
    if get_input("ARTIFACT_IDS"):
        fail("downloading by artifact-ids is not emulated offline; download by name or pattern")
    name = get_input("NAME")
    chosen = select(name, get_input("PATTERN"))
    target = destination()
    for artifact in chosen:
        check_digest(artifact, mismatch)
        into = target if name or merge in TRUE else target / artifact
        shutil.copytree(artifact_store() / artifact, into, dirs_exist_ok=True)
        print(f"Downloaded artifact {artifact} to {into}")
    print(f"Total of {len(chosen)} artifact(s) downloaded")
    set_output("download-path", str(target))


if __name__ == "__main__":
    main()
