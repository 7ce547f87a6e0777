"""The offline stand-ins for the marketplace actions keep the real actions' semantics.

One workflow, run once by act, exercises each rule the stand-ins claim (README.md beside this
folder): every job either checks its expectation in bash or is expected to fail with the real
action's message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlgen.targets.pins import ACTIONS
from tests.engines.github.runner import EngineMissing, WorkflowRun, run_workflow

pytestmark = pytest.mark.engine

USES = {name: pin.uses for name, pin in ACTIONS.items()}
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

WORKFLOW = f"""\
on: push
defaults: {{run: {{shell: bash}}}}
jobs:
  upload:
    runs-on: ubuntu-latest
    steps:
      - uses: {USES['checkout']}
        with: {{persist-credentials: false}}
      - run: |
          test -f steps-marker.txt
          test -z "$(git config --get-regexp 'extraheader' || true)"
          test -z "$(git config --get-regexp 'includeif' || true)"
          mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt && echo h > out/.h && echo s > single.txt
      - {{uses: {USES['upload-artifact']}, with: {{name: dir, path: out/}}}}
      - {{uses: {USES['upload-artifact']}, with: {{name: dir-hidden, path: out/, include-hidden-files: true}}}}
      - {{uses: {USES['upload-artifact']}, with: {{name: multi, path: "out/a.txt\\nsingle.txt"}}}}
      - {{uses: {USES['upload-artifact']}, with: {{name: single, path: single.txt}}}}
      - {{uses: {USES['upload-artifact']}, with: {{name: glob, path: "out/**/*.txt"}}}}
      - {{uses: {USES['upload-artifact']}, with: {{name: nothing, path: nothing/, if-no-files-found: warn}}}}
      - {{uses: {USES['upload-artifact']}, with: {{name: tampered, path: single.txt}}}}
      - {{uses: {USES['upload-artifact']}, with: {{name: tampered-warn, path: single.txt}}}}
  duplicate-upload:
    needs: upload
    runs-on: ubuntu-latest
    steps:
      - run: echo z > z.txt
      - {{uses: {USES['upload-artifact']}, with: {{name: dir, path: z.txt}}}}
  no-files-error:
    runs-on: ubuntu-latest
    steps:
      - {{uses: {USES['upload-artifact']}, with: {{name: empty, path: nothing/, if-no-files-found: error}}}}
  download:
    needs: upload
    runs-on: ubuntu-latest
    steps:
      - {{uses: {USES['download-artifact']}, with: {{name: dir}}}}
      - {{uses: {USES['download-artifact']}, with: {{name: dir-hidden, path: hidden}}}}
      - {{uses: {USES['download-artifact']}, with: {{name: multi, path: multi}}}}
      - {{uses: {USES['download-artifact']}, with: {{pattern: "*", path: all}}}}
      - {{uses: {USES['download-artifact']}, with: {{pattern: "s*", path: merged, merge-multiple: true}}}}
      - run: |
          test -f a.txt && test -f sub/b.txt && test ! -e .h && test ! -e out
          test -f hidden/.h
          test -f multi/out/a.txt && test -f multi/single.txt
          test -f all/single/single.txt && test -f all/tampered/single.txt && test -f all/glob/a.txt && test -f all/glob/sub/b.txt && test ! -e all/nothing
          test -f merged/single.txt
  download-digest-mismatch:
    needs: download  # after the download of every artifact, which must still see them intact
    runs-on: ubuntu-latest
    steps:
      - run: echo changed > "$MLGEN_ACT_ARTIFACT_DIR/tampered/single.txt"
      - {{uses: {USES['download-artifact']}, with: {{name: tampered}}}}
  download-digest-mismatch-warn:
    needs: download
    runs-on: ubuntu-latest
    steps:
      - run: echo changed > "$MLGEN_ACT_ARTIFACT_DIR/tampered-warn/single.txt"
      - {{uses: {USES['download-artifact']}, with: {{name: tampered-warn, digest-mismatch: warn}}}}
      - run: grep -q changed single.txt
  download-missing:
    needs: upload
    runs-on: ubuntu-latest
    steps:
      - {{uses: {USES['download-artifact']}, with: {{name: nope}}}}
  cache-save:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p c && echo saved > c/f
      - {{id: c, uses: {USES['cache']}, with: {{key: k-1, path: c}}}}
      - run: test -z "${{{{ steps.c.outputs.cache-hit }}}}"
  cache-exact:
    needs: cache-save
    runs-on: ubuntu-latest
    steps:
      - {{id: c, uses: {USES['cache']}, with: {{key: k-1, path: c}}}}
      - run: test "${{{{ steps.c.outputs.cache-hit }}}}" = true && grep -q saved c/f
  cache-restore-key:
    needs: cache-save
    runs-on: ubuntu-latest
    steps:
      - {{id: c, uses: {USES['cache']}, with: {{key: k-2, restore-keys: k-, path: c}}}}
      - run: test "${{{{ steps.c.outputs.cache-hit }}}}" = false && grep -q saved c/f
  cache-other-paths:
    needs: cache-save
    runs-on: ubuntu-latest
    steps:
      - {{id: c, uses: {USES['cache']}, with: {{key: k-1, path: d}}}}
      - run: test -z "${{{{ steps.c.outputs.cache-hit }}}}" && test ! -e c
  setup-python:
    runs-on: ubuntu-latest
    steps:
      - {{uses: {USES['setup-python']}, with: {{python-version: '{PYTHON}'}}}}
      - run: python --version | grep -q "Python {PYTHON}" && pip --version | grep -q "python {PYTHON}"
  setup-python-missing:
    runs-on: ubuntu-latest
    steps:
      - {{uses: {USES['setup-python']}, with: {{python-version: '2.7'}}}}
  checkout-persists-credentials:
    runs-on: ubuntu-latest
    steps:
      - uses: {USES['checkout']}
      - run: |
          git config --get http.https://github.com/.extraheader && test "$(git rev-parse HEAD)" = "$GITHUB_SHA"
          ! grep -q extraheader .git/config
          grep -q extraheader "$RUNNER_TEMP"/git-credentials-*.config
"""

EXPECTED = {
    "upload": "passed", "duplicate-upload": "failed", "no-files-error": "failed", "download": "passed",
    "download-missing": "failed", "download-digest-mismatch": "failed", "download-digest-mismatch-warn": "passed", "cache-save": "passed", "cache-exact": "passed", "cache-restore-key": "passed",
    "cache-other-paths": "passed", "setup-python": "passed", "setup-python-missing": "failed",
    "checkout-persists-credentials": "passed",
}

MESSAGES = {
    "duplicate-upload": "an artifact with this name already exists on the workflow run",
    "no-files-error": "No files were found with the provided path: nothing/",
    "download-missing": "Artifact 'nope' not found",
    "download-digest-mismatch": "Digest validation failed for artifact(s): tampered",
    "download-digest-mismatch-warn": "Digest validation failed for artifact(s): tampered-warn",
    "setup-python-missing": "Python 2.7 is not installed on this machine",
}


@pytest.fixture(scope="module")
def standins_run(tmp_path_factory: pytest.TempPathFactory) -> WorkflowRun:
    base = tmp_path_factory.mktemp("standins")
    repo = base / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "standins.yml").write_text(WORKFLOW, encoding="utf-8")
    (repo / "steps-marker.txt").write_text("committed\n", encoding="utf-8")
    git = ["git", "-c", "user.name=mlgen tests", "-c", "user.email=tests@mlgen.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "--quiet", "--initial-branch=main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "--all"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "--quiet", "--message", "stand-ins"], cwd=repo, check=True)
    try:
        return run_workflow(repo, Path(".github/workflows/standins.yml"), cache_dir=base / "cache",
                            artifact_dir=base / "artifacts", timeout=300)
    except EngineMissing as missing:
        pytest.fail(str(missing))


@pytest.mark.parametrize("job", sorted(EXPECTED))
def test_standin_behaviour(standins_run: WorkflowRun, job: str) -> None:
    assert standins_run.jobs[job] == EXPECTED[job], standins_run.output(job)[-2000:]
    if job in MESSAGES:
        assert MESSAGES[job] in standins_run.output(job)


def test_artifacts_are_stored_per_run(standins_run: WorkflowRun) -> None:
    stored = sorted(p.name for p in standins_run.artifacts.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert stored == ["dir", "dir-hidden", "glob", "multi", "single", "tampered", "tampered-warn"]  # `nothing` matched no file: not uploaded
    assert (standins_run.artifacts / "dir" / "a.txt").read_text(encoding="utf-8") == "a\n"
