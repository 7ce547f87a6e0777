"""The training-cache key: which files it covers (mlgen.runtime.cache.keyglob) and when it changes (mlgen cache).

The file selection is checked against a reference matcher written independently (segment by
segment with fnmatch), over random patterns and random trees, so that a matcher that misses files
(as `Path.glob("data/**")` does on Python 3.11) cannot pass by agreeing with itself.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen import layout
from mlgen.runtime.cache import keyglob
from mlgen.runtime.cache.command import MISS, key_digest
from tests.runtime.conftest import CHURN, SRC, run_cli, subprocess_env

# --- a reference matcher: the rule of keyglob's docstring, written the slow, obvious way --------


def _segments_match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_segments_match(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _segments_match(rest, parts[1:])


def reference_covers(pattern: str, path: str) -> bool:
    segments = [s for s in pattern.split("/") if s]
    segments = segments[1:] if segments[0] == "." else segments
    parts = path.split("/")
    # A pattern matching a folder covers the files below it; with a trailing `/` it matches folders only.
    candidates = [parts[:i] for i in range(1, len(parts) + (0 if pattern.endswith("/") else 1))]
    return any(_segments_match(segments, c) for c in candidates)


NAMES = ["data", "churn", "params.yaml", "train.csv", "x.py", ".hidden", ".env", "a", "b.csv", "sub"]
PATTERN_SEGMENTS = ["data", "churn", "sub", "*", "*.csv", "*.py", "?", ".*", "[ab]*", "[a-c].csv", "**", "params.yaml"]

paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join)
patterns = st.builds(lambda segs, slash: "/".join(segs) + ("/" if slash else ""),
                     st.lists(st.sampled_from(PATTERN_SEGMENTS), min_size=1, max_size=3), st.booleans())


@given(patterns, paths)
def test_matcher_agrees_with_the_reference(pattern: str, path: str) -> None:
    assert keyglob.parse(pattern).covers(path) == reference_covers(pattern, path), (pattern, path)


@pytest.mark.parametrize(("pattern", "path", "covered"), [
    ("data/**", "data/train.csv", True),
    ("data/**", "data/deep/er/x.csv", True),
    ("data/**", "data", True),  # hashFiles: `a/**` matches `a` itself
    ("data/**", "database/x", False),
    ("data", "data/train.csv", True),  # a folder named by a pattern covers its files
    ("data/", "data/train.csv", True),
    ("data/", "data", False),  # a trailing `/` matches folders only
    ("*.csv", "train.csv", True),
    ("*.csv", "data/train.csv", False),  # `*` stays within one segment
    ("**/*.csv", "data/train.csv", True),
    ("**/*.csv", "train.csv", True),  # `**` matches no segment too
    ("**", ".git/config", True),  # dot names match like any other
    ("*", ".env", True),
    ("./params.yaml", "params.yaml", True),
    ("data/**/**", "data/a/b", True),
    ("[a-c]?.txt", "b1.txt", True),
    ("[a-c]?.txt", "d1.txt", False),
])
def test_the_documented_rule(pattern: str, path: str, covered: bool) -> None:
    assert keyglob.parse(pattern).covers(path) is covered
    assert reference_covers(pattern, path) is covered


@pytest.mark.parametrize(("pattern", "message"), [
    ("!data/tmp/**", "`!` (exclude) patterns are not supported"),
    ("../data/**", "`.` and `..` segments are not allowed"),
    ("data/./x", "`.` and `..` segments are not allowed"),
    ("/etc/passwd", "relative to the repository root"),
    ("~/x", "relative to the repository root"),
    ("data/[ab", "not closed"),
    ("data/[!a]", "negated and named character sets"),
    ("data/[z-a]", "runs backwards"),
    ("data\\*", "escapes are not supported"),
    ("", "empty"),
    (".", "names the repository root"),
])
def test_unsupported_patterns_are_refused(pattern: str, message: str) -> None:
    why = keyglob.problem(pattern)
    assert why is not None and message in why


# --- the key over real trees -------------------------------------------------------------------

trees = st.dictionaries(paths, st.binary(max_size=8), min_size=1, max_size=12)


def _write(root: Path, tree: dict[str, bytes]) -> dict[str, bytes]:
    """Write the files whose paths do not collide with another file's folder; return those written."""
    written: dict[str, bytes] = {}
    for path in sorted(tree, key=lambda p: (p.count("/"), p)):
        parts = path.split("/")
        if any("/".join(parts[:i]) in written for i in range(1, len(parts))):
            continue  # a parent of this path is already a file
        if any(other.startswith(path + "/") for other in written):
            continue
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(tree[path])
        written[path] = tree[path]
    return written


@given(trees, st.lists(patterns, min_size=1, max_size=3), st.data())
def test_key_changes_exactly_when_a_key_file_changes(tree: dict[str, bytes], keys: list[str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = _write(root, tree)
        covered = sorted(f for f in files if any(reference_covers(k, f) for k in keys))
        assert keyglob.matching_files(root, keys) == covered
        before = key_digest(root, keys, ["salt"])
        outside = [f for f in files if f not in covered]
        if outside:  # editing a file no pattern covers leaves the key alone
            (root / data.draw(st.sampled_from(outside))).write_bytes(b"edited outside")
            assert key_digest(root, keys, ["salt"]) == before
        if covered:
            victim = data.draw(st.sampled_from(covered))
            (root / victim).write_bytes(files[victim] + b"\n1")
            assert key_digest(root, keys, ["salt"]) != before
            (root / victim).write_bytes(files[victim])
            assert key_digest(root, keys, ["salt"]) == before
            (root / victim).rename(root / (victim + "-renamed"))
            assert key_digest(root, keys, ["salt"]) != before


def test_a_new_file_outside_the_globs_keeps_the_key(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("1\n")
    keys = ["data/**", "params.yaml"]
    before = key_digest(tmp_path, keys, [])
    (tmp_path / "README.md").write_text("docs\n")
    (tmp_path / "database").mkdir()
    (tmp_path / "database" / "x").write_text("x\n")
    assert key_digest(tmp_path, keys, []) == before
    (tmp_path / "data" / "b.csv").write_text("2\n")
    assert key_digest(tmp_path, keys, []) != before


def test_links_are_not_followed_into_folders(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "big.bin").write_text("x")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "real.csv").write_text("1\n")
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "data" / "file-link.csv").symlink_to(tmp_path / "data" / "real.csv")
    assert keyglob.matching_files(tmp_path, ["data/**"]) == ["data/file-link.csv", "data/real.csv"]
    (tmp_path / "data" / "broken").symlink_to(tmp_path / "nowhere")
    with pytest.raises(keyglob.GlobError, match="broken symbolic link"):
        keyglob.matching_files(tmp_path, ["data/**"])


# --- `mlgen cache` as the generated jobs call it -----------------------------------------------

CHURN_KEY = ["--stage", "train", "--key", "data/**", "--key", "churn/**", "--key", "params.yaml", "--path", "model/"]


@pytest.fixture
def churn(tmp_path: Path) -> Path:
    dest = tmp_path / "churn"
    shutil.copytree(CHURN, dest, ignore=shutil.ignore_patterns("__pycache__", ".mlgen", "model"))
    (dest / "model").mkdir()
    (dest / "model" / "model.txt").write_text("trained\n")
    return dest


@pytest.mark.parametrize("edit", ["data/train.csv", "churn/train.py"])
def test_issue_example_an_edited_data_row_or_code_line_is_a_miss(churn: Path, edit: str) -> None:
    assert run_cli("cache", "save", *CHURN_KEY, cwd=churn).code == 0
    hit = run_cli("cache", "hit", *CHURN_KEY, cwd=churn)
    assert (hit.code, hit.out) == (0, f"mlgen cache: hit for `train` (key {hit.out.split('key ')[1][:12]})\n")
    with (churn / edit).open("a") as handle:
        handle.write("C999999,12,50.0,one-year,1,0\n" if edit.endswith(".csv") else "# one more line\n")
    miss = run_cli("cache", "hit", *CHURN_KEY, cwd=churn)
    assert (miss.code, miss.out) == (MISS, "mlgen cache: miss for `train` (key files changed)\n")


def _other_pythons() -> list[str]:
    """Interpreters of the other supported versions: $MLGEN_TEST_PYTHONS, python3.12/3.13 on PATH,
    or those pyenv has installed."""
    listed = os.environ.get("MLGEN_TEST_PYTHONS", "").split(os.pathsep)
    found = [p for p in [*listed, shutil.which("python3.12"), shutil.which("python3.13")] if p]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        found += sorted(str(p) for p in Path(root).glob("versions/3.1[2-9]*/bin/python") if root)
    usable = []
    for python in dict.fromkeys(found):
        probe = subprocess.run([python, "-c", "import sys; print(sys.version_info >= (3, 11))"], capture_output=True, text=True)
        if probe.stdout.strip() == "True":
            usable.append(python)
    return usable


def test_the_key_is_the_same_on_every_python(churn: Path) -> None:
    others = _other_pythons()
    if not others:
        pytest.skip("no other Python >= 3.11 found (set MLGEN_TEST_PYTHONS to a list of interpreters)")
    (churn / "data" / ".hidden").write_text("dot files count\n")
    (churn / "churn" / "sub").mkdir()
    (churn / "churn" / "sub" / "deep.py").write_text("x = 1\n")
    args = ["-m", "mlgen", "cache", "key", *CHURN_KEY, "--key", "**/*.md", "--key", "data"]
    here = subprocess.run([sys.executable, *args], cwd=churn, capture_output=True, text=True, env=subprocess_env())
    assert here.returncode == 0, here.stderr
    for python in others:
        # stdlib only: the key must not depend on anything installed for one interpreter
        there = subprocess.run([python, *args], cwd=churn, capture_output=True, text=True,
                               env={**subprocess_env(), "PYTHONPATH": str(SRC)})
        assert (there.returncode, there.stdout) == (0, here.stdout), (python, there.stderr)


# --- the folders the generated jobs create are never part of a key ------------------------------

JOB_FILES = {f"{folder}/{leaf}" for folder in layout.JOB_FOLDERS for leaf in ("x.py", "sub/data.csv", "params.yaml")}


@pytest.mark.parametrize("folder", layout.JOB_FOLDERS)
@pytest.mark.parametrize("keys", [["**"], ["**/*.py"], ["**/*.csv", "**/params.yaml"], ["*/**"], [".*/**"]])
def test_files_the_jobs_write_never_change_the_key(tmp_path: Path, folder: str, keys: list[str]) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("1\n")
    (tmp_path / "train.py").write_text("print()\n")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    before = key_digest(tmp_path, keys, ["salt"])
    for rel in JOB_FILES:
        if rel.startswith(folder + "/"):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(f"run {rel}\n")
    assert not [f for f in keyglob.matching_files(tmp_path, keys) if f.startswith(folder + "/")]
    assert key_digest(tmp_path, keys, ["salt"]) == before


@pytest.mark.parametrize("folder", layout.JOB_FOLDERS)
def test_a_job_folder_named_literally_is_covered(tmp_path: Path, folder: str) -> None:
    (tmp_path / folder).mkdir(parents=True)
    (tmp_path / folder / "pinned.txt").write_text("1\n")
    assert keyglob.matching_files(tmp_path, [f"{folder}/**"]) == [f"{folder}/pinned.txt"]


def test_job_folders_are_the_ones_the_targets_create() -> None:
    from mlgen.targets import gitlab, install, jenkins_env

    assert set(layout.JOB_FOLDERS) == {jenkins_env.VENV, gitlab.PIP_CACHE, install.UV_CACHE_GITLAB, layout.ROOT}
