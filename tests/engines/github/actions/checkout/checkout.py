"""actions/checkout v7, offline: fetch the triggering commit from the local repository under test.

act (with `-P <label>=-self-hosted`) gives every job an empty workspace of its own, like a fresh
hosted runner, so this really has to bring the sources in. The commit comes from the repository the
runner names in MLGEN_ACT_SOURCE_REPO, fetched by SHA like the real action does from GitHub: what a
job sees is the committed tree, never the dirty working copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

TRUE, FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")


def fail(message: str) -> None:
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def get_input(name: str) -> str:
    return os.environ.get(f"INPUT_{name}", "").strip()


def boolean_input(name: str) -> bool:
    # The real action reads these with core.getBooleanInput, which rejects anything else.
    value = get_input(name)
    if value in TRUE or value in FALSE:
        return value in TRUE
    fail(f'Input does not meet YAML 1.2 "Core Schema" specification: {name.lower().replace("_", "-")}\n'
         "Support boolean input list: `true | True | TRUE | false | False | FALSE`")
    raise AssertionError  # unreachable: fail() exits


def set_output(name: str, value: str) -> None:
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def git(*args: str, cwd: Path, capture: bool = False) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=capture)
    if proc.returncode != 0:
        detail = (proc.stderr or "").strip() if capture else ""
        fail(f"git {' '.join(args)} failed with exit code {proc.returncode}{': ' + detail if detail else ''}")
    return proc.stdout.strip() if capture else ""


def source_repo() -> Path:
    value = os.environ.get("MLGEN_ACT_SOURCE_REPO", "")
    if not value or not (Path(value) / ".git").exists():
        fail("MLGEN_ACT_SOURCE_REPO must name the local git repository under test "
             "(tests/engines/github/runner.py sets it); there is no network to fetch from")
    return Path(value)


def check_repository(repository: str) -> None:
    current = os.environ.get("GITHUB_REPOSITORY", "")
    if repository.lower() != current.lower():
        fail(f"the offline stand-in can only check out the repository under test ({current}), not {repository}")


def resolve(src: Path, ref: str) -> tuple[str, str | None]:
    """(commit SHA, branch name or None) for `ref`; empty means the triggering commit and ref."""
    if not ref:
        github_ref = os.environ.get("GITHUB_REF", "")
        branch = github_ref.removeprefix("refs/heads/") if github_ref.startswith("refs/heads/") else None
        return os.environ["GITHUB_SHA"], branch
    for candidate, branch in ((f"refs/heads/{ref}", ref), (f"refs/tags/{ref}", None), (ref, None)):
        proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
                              cwd=src, text=True, capture_output=True)
        if proc.returncode == 0:
            return proc.stdout.strip(), branch
    fail(f"A branch or tag with the name '{ref}' could not be found")
    raise AssertionError


def workspace_path(relative: str) -> Path:
    workspace = Path(os.environ["GITHUB_WORKSPACE"]).resolve()
    dest = (workspace / relative).resolve()
    if dest != workspace and workspace not in dest.parents:
        fail(f"Repository path '{dest}' is not under '{workspace}'")
    return dest


def prepare(dest: Path, clean: bool) -> None:
    """Reuse an existing clone (cleaned, as the real action does) or empty the folder."""
    dest.mkdir(parents=True, exist_ok=True)
    if (dest / ".git").is_dir():
        if clean:
            git("clean", "-ffdx", cwd=dest)
            git("reset", "--hard", "HEAD", cwd=dest, capture=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    git("init", "--quiet", cwd=dest)


def fetch_and_checkout(src: Path, dest: Path, sha: str, branch: str | None, depth: int) -> None:
    remote_ref = f"refs/remotes/origin/{branch}" if branch else f"refs/mlgen/{sha}"
    depth_args = [f"--depth={depth}"] if depth > 0 else []
    git("fetch", "--no-tags", "--prune", "--quiet", *depth_args, f"file://{src}", f"+{sha}:{remote_ref}", cwd=dest)
    if branch:
        git("checkout", "--quiet", "--force", "-B", branch, remote_ref, cwd=dest)
    else:
        git("checkout", "--quiet", "--force", "--detach", sha, cwd=dest)


def configure_remote(dest: Path, repository: str, persist: bool) -> None:
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    subprocess.run(["git", "remote", "remove", "origin"], cwd=dest, capture_output=True)
    git("remote", "add", "origin", f"{server}/{repository}", cwd=dest)
    if persist:
        # Since v6 the token lives in a file under RUNNER_TEMP that .git/config only includes;
        # persist-credentials: false must leave neither the file nor the include behind.
        credentials = Path(os.environ.get("RUNNER_TEMP") or dest.parent) / f"git-credentials-{uuid.uuid4()}.config"
        credentials.write_text(f'[http "{server}/"]\n\textraheader = AUTHORIZATION: basic ***\n', encoding="utf-8")
        git("config", "--local", f"includeIf.gitdir:{dest / '.git'}.path", str(credentials), cwd=dest)


UNSAFE_EVENTS = ("pull_request_target", "workflow_run")


def check_unsafe_checkout(ref: str) -> None:
    """v7 refuses a pull request's code under a privileged event unless told it is safe."""
    event = os.environ.get("GITHUB_EVENT_NAME", "")
    if event in UNSAFE_EVENTS and ref.startswith("refs/pull/") and not boolean_input("ALLOW_UNSAFE_PR_CHECKOUT"):
        fail(f"Refusing to check out pull request code ({ref}) in a `{event}` workflow; "
             "set allow-unsafe-pr-checkout: true if this is intended")


def main() -> None:
    repository = get_input("REPOSITORY") or os.environ.get("GITHUB_REPOSITORY", "")
    check_repository(repository)
    persist = boolean_input("PERSIST_CREDENTIALS")
    clean = boolean_input("CLEAN")
    depth_text = get_input("FETCH_DEPTH") or "1"
    if not depth_text.isdigit():
        fail(f"fetch-depth must be a whole number, got '{depth_text}'")
    check_unsafe_checkout(get_input("REF"))
    src = source_repo()
    sha, branch = resolve(src, get_input("REF"))
    dest = workspace_path(get_input("PATH"))
    prepare(dest, clean)
    fetch_and_checkout(src, dest, sha, branch, int(depth_text))
    configure_remote(dest, repository, persist)
    print(f"Checked out {branch or sha} ({sha[:12]}) into {dest}")
    set_output("ref", f"refs/heads/{branch}" if branch else sha)
    set_output("commit", sha)


if __name__ == "__main__":
    main()
