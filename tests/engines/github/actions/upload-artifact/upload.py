"""actions/upload-artifact v4, offline: store files as a named artifact under MLGEN_ACT_ARTIFACT_DIR.

Semantics kept from the real action (re-implemented here, not copied):
- each `path` line is a file, a folder or a glob; `!` lines exclude; folders contribute their files;
- hidden files and folders (name starting with `.`, the searched path itself included) are left out
  unless include-hidden-files is true (v4.4+);
- the artifact's root is the one searched path, or the least common ancestor of several; a single
  file named exactly is stored without folders. So `path: model/` stores model's *contents*, and
  downloading puts them at the download path, not under model/;
- if-no-files-found decides between error, warning and a quiet success when nothing matches;
- artifacts are immutable: a second upload of the same name in a run fails unless overwrite: true.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sys
import uuid
from pathlib import Path

TRUE, FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")
GLOB_CHARS = set("*?[")
BAD_NAME_CHARS = ['"', ":", "<", ">", "|", "*", "?", "\r", "\n", "\\", "/"]


def fail(message: str) -> None:
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def get_input(name: str) -> str:
    return os.environ.get(f"INPUT_{name}", "").strip()


def boolean_input(name: str, default: str) -> bool:
    value = get_input(name) or default
    if value not in TRUE + FALSE:
        fail(f'Input does not meet YAML 1.2 "Core Schema" specification: {name.lower().replace("_", "-")}')
    return value in TRUE


def set_output(name: str, value: str) -> None:
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def artifact_store() -> Path:
    value = os.environ.get("MLGEN_ACT_ARTIFACT_DIR", "")
    if not value:
        fail("MLGEN_ACT_ARTIFACT_DIR is not set: the test runner names the folder that holds this run's artifacts")
    return Path(value)


def check_name(name: str) -> None:
    bad = [c for c in BAD_NAME_CHARS if c in name]
    if bad:
        fail(f"The artifact name is not valid: {name}. Contains the following character(s): {' '.join(map(repr, bad))}")


def absolute(pattern: str) -> Path:
    return Path(os.path.normpath(Path.cwd() / os.path.expanduser(pattern)))


def search_path(pattern: str) -> Path:
    """The literal part of a pattern: where the search starts, and what decides the artifact's root."""
    parts = absolute(pattern).parts
    first_glob = next((i for i, part in enumerate(parts) if GLOB_CHARS & set(part)), len(parts))
    return Path(*parts[:first_glob])


def files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return [Path(root) / f for root, _, names in os.walk(path, followlinks=True) for f in names]


def matches(pattern: str) -> list[Path]:
    full = absolute(pattern)
    if not GLOB_CHARS & set(str(full)):
        return files_under(full) if full.exists() else []
    return [f for hit in glob.glob(str(full), recursive=True, include_hidden=True) for f in files_under(Path(hit))]


def hidden(file: Path, root: Path) -> bool:
    """True when the file or a folder between the search path and the file starts with a dot."""
    names = [file.name] if file == root else [root.name, *file.relative_to(root).parts]
    return any(n.startswith(".") for n in names)


def find_files(lines: list[str], include_hidden: bool) -> tuple[list[Path], list[Path]]:
    """(files to upload, search paths of the include lines)."""
    files: dict[Path, None] = {}
    excluded: set[Path] = set()
    searched = []
    for line in lines:
        if line.startswith("!"):
            excluded.update(matches(line[1:]))
            continue
        root = search_path(line)
        searched.append(root)
        for file in matches(line):
            if include_hidden or not hidden(file, root):
                files.setdefault(file, None)
    return [f for f in files if f not in excluded], searched


def common_ancestor(paths: list[Path]) -> Path:
    return Path(os.path.commonpath([str(p) for p in paths]))


def artifact_root(files: list[Path], searched: list[Path]) -> Path:
    # A search path inside another one adds nothing: only the outermost ones count.
    roots = list(dict.fromkeys(p for p in searched if not any(q in p.parents for q in searched)))
    if len(roots) > 1:
        return common_ancestor(roots)
    if len(files) == 1 and files[0] == roots[0]:
        return files[0].parent
    return roots[0]


def no_files(mode: str, paths: str) -> None:
    message = f"No files were found with the provided path: {paths}. No artifacts will be uploaded."
    if mode == "error":
        fail(message)
    print(f"::warning::{message}" if mode == "warn" else message)


def store_files(name: str, files: list[Path], root: Path, overwrite: bool) -> Path:
    store = artifact_store()
    staging = store / ".staging" / uuid.uuid4().hex  # download-artifact never lists .staging
    for file in files:
        target = staging / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    final = store / name
    if overwrite and final.exists():
        shutil.rmtree(final)
    try:
        os.rename(staging, final)  # atomic; refuses an existing (never empty) artifact folder
    except OSError:
        shutil.rmtree(staging)
        fail("Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: "
             "an artifact with this name already exists on the workflow run")
    return final


def digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for file in sorted(f for f in folder.rglob("*") if f.is_file()):
        sha.update(file.relative_to(folder).as_posix().encode() + b"\0" + file.read_bytes())
    return sha.hexdigest()


def main() -> None:
    name = get_input("NAME") or "artifact"
    check_name(name)
    mode = get_input("IF_NO_FILES_FOUND") or "warn"
    if mode not in ("warn", "error", "ignore"):
        fail(f"Unrecognized if-no-files-found input. Provided: {mode}. Available options: warn,error,ignore")
    lines = [line.strip() for line in get_input("PATH").splitlines() if line.strip()]
    if not lines:
        fail("Input required and not supplied: path")
    files, searched = find_files(lines, boolean_input("INCLUDE_HIDDEN_FILES", "false"))
    if not files:
        no_files(mode, ", ".join(lines))
        return
    root = artifact_root(files, searched)
    final = store_files(name, files, root, boolean_input("OVERWRITE", "false"))
    sha = digest(final)
    # The artifact service keeps each artifact's digest; download-artifact v8 checks it.
    final.with_name(final.name + ".sha256").write_text(sha + "\n", encoding="utf-8")
    artifact_id = str(int(sha[:8], 16))
    print(f"Artifact {name} has been successfully uploaded: {len(files)} file(s) from root {root}")
    set_output("artifact-id", artifact_id)
    set_output("artifact-digest", sha)
    server, repo, run = (os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    set_output("artifact-url", f"{server}/{repo}/actions/runs/{run}/artifacts/{artifact_id}")


if __name__ == "__main__":
    main()
