"""`mlgen check` never says OK wrongly: copied files, orphaned files, CRLF checkouts, hostile `path:` text."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.drift import fast as fastcheck
from mlgen.drift import header
from mlgen.spec.models import DEFAULT_PATHS
from tests.support import EXAMPLES

GITHUB, GITLAB, JENKINS = DEFAULT_PATHS["github"], DEFAULT_PATHS["gitlab"], DEFAULT_PATHS["jenkins"]
ROLLOUT = ".github/workflows/mlgen-rollout-register.yml"  # the quickstart's rollout, beside its workflow
CHILD = ".gitlab/mlgen-register.yml"  # quickstart's rollout, a child pipeline beside the GitLab config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLES / "quickstart", tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _targets(spec: Path, block: str) -> None:
    text = spec.read_text()
    text = text.split("\ntargets:")[0].rstrip("\n") + "\n"
    spec.write_text(text + block)


def test_default_paths_have_one_home() -> None:
    assert header.DEFAULT_PATHS == DEFAULT_PATHS


def test_a_workflow_copied_over_the_gitlab_file_is_drift(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(project / GITHUB, project / GITLAB)
    assert fastcheck.up_to_date("mlgen.yaml") is None
    result = cli("check")
    assert result.code == 2
    assert f"{GITLAB}: hand-edited: it holds a github config where the gitlab config belongs (copied over?)" in result.err


@pytest.mark.parametrize(("block", "orphans"), [
    ("targets:\n  github: {path: .github/workflows/ci.yml}\n  gitlab: {path: .gitlab-ci.yml}\n  jenkins: {path: Jenkinsfile}\n", [GITHUB, ROLLOUT]),
    ("targets:\n  github: {path: .github/workflows/mlgen.yml}\n  jenkins: {path: Jenkinsfile}\n", [GITLAB, CHILD]),
    ("targets:\n  gitlab: {path: ci/gitlab.yml}\n", [GITHUB, ROLLOUT, GITLAB, JENKINS]),
])
def test_files_the_spec_no_longer_writes_are_drift(project: Path, cli, block: str, orphans: list[str]) -> None:  # type: ignore[no-untyped-def]
    _targets(project / "mlgen.yaml", block)
    compiled = cli("compile")
    assert compiled.code == 0
    assert compiled.err == "".join(f"note: {path} was generated from mlgen.yaml, which no longer writes it, and still runs; "
                                   f"delete it: git rm -- {path}\n" for path in sorted(orphans))
    assert fastcheck.up_to_date("mlgen.yaml") is None
    result = cli("check")
    assert result.code == 2, result.err
    listed = sorted(orphans)
    for path in listed:
        assert f"{path}: orphaned: it was generated from mlgen.yaml, which no longer writes it, but its platform still runs it" in result.err
    assert result.err.rstrip().endswith("To stop running pipelines the spec no longer defines, delete them:\n  git rm -- " + " ".join(listed))
    for path in listed:
        (project / path).unlink()
    assert cli("check").code == 0 and fastcheck.up_to_date("mlgen.yaml") is True


def test_an_orphan_found_through_an_old_header(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _targets(project / "mlgen.yaml", "targets:\n  gitlab: {path: ci/one.yml}\n")
    assert cli("compile").code == 0
    for path in (GITHUB, ROLLOUT, GITLAB, JENKINS):
        (project / path).unlink()
    _targets(project / "mlgen.yaml", "targets:\n  gitlab: {path: ci/two.yml}\n")
    assert cli("compile").code == 0
    shutil.copy(project / "ci/two.yml", project / GITLAB)  # an old copy at the default path, naming ci/one.yml...
    (project / GITLAB).write_text((project / GITLAB).read_text())
    result = cli("check")
    assert result.code == 2 and "ci/one.yml: orphaned" not in result.err  # ...which names only ci/two.yml
    assert f"{GITLAB}: orphaned" in result.err


def test_other_specs_files_are_not_orphans(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    other = (project / "mlgen.yaml").read_text().replace("name: ", "name: other", 1)
    (project / "other.yaml").write_text(other)
    _targets(project / "other.yaml", "targets:\n  github: {path: .github/workflows/other.yml}\n")
    assert cli("compile", "other.yaml").code == 0
    assert cli("check").code == 0 and cli("check", "other.yaml").code == 0


@pytest.mark.parametrize("convert", ["crlf", "lf"])
def test_line_endings_do_not_change_the_spec_hash(project: Path, cli, convert: str) -> None:  # type: ignore[no-untyped-def]
    spec = project / "mlgen.yaml"
    crlf = spec.read_bytes().replace(b"\n", b"\r\n")
    if convert == "lf":  # compiled on Windows, checked on Linux
        spec.write_bytes(crlf)
        assert cli("compile").code == 0
        spec.write_bytes(crlf.replace(b"\r\n", b"\n"))
    else:
        spec.write_bytes(crlf)
    assert fastcheck.up_to_date("mlgen.yaml") is True
    assert cli("check", "--target", "github").code == 0  # the full path agrees
    assert header.spec_digest(b"a: 1\r\nb: 2\r\n") == header.spec_digest(b"a: 1\nb: 2\n")


def test_hostile_path_text_is_read_within_bounds(project: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    big = project / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(1 << 30)  # sparse: 1 GiB that costs no disk
    os.mkfifo(project / "fifo")
    (project / "zero").symlink_to("/dev/zero")
    spec = project / "mlgen.yaml"
    spec.write_text("# path: /dev/zero\n# path: big.bin\n" + spec.read_text() +
                    "    # path: fifo\n")
    _targets(spec, "targets:\n  github:\n    path: big.bin  # path: zero\n  gitlab:\n    path: zero\n  jenkins:\n    path: fifo\n")
    read: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        read.append(len(data))
        return data

    with monkeypatch.context() as patch:
        patch.setattr(fastcheck.os, "read", counting_read)
        assert fastcheck.up_to_date("mlgen.yaml") is None
    assert sum(read) <= spec.stat().st_size + 8 * header.HEADER_CHARS
    result = cli("check")
    assert result.code == 1 and "Traceback" not in result.err  # the full path explains (the targets are not files)
    assert result.err == (
        "error: the spec has 2 problems:\n"
        "mlgen.yaml:27:11: `targets.gitlab.path`: `zero` goes through a symbolic link that leaves the spec's folder (to `/dev/zero`)\n"
        "  hint: point the target at a real path inside the repository\n"
        "mlgen.yaml:29:11: `targets.jenkins.path`: `fifo` exists and is not a regular file (a device, pipe or socket)\n"
        "  hint: pick a path that is a file or does not exist yet\n")


def test_the_fast_path_never_raises(tmp_path: Path) -> None:
    (tmp_path / "mlgen.yaml").mkdir()
    assert fastcheck.up_to_date(tmp_path / "mlgen.yaml") is None
    assert fastcheck.up_to_date(tmp_path / "missing.yaml") is None
    assert fastcheck.up_to_date("\0") is None


# -- property: the fast path says "up to date" only when the full check does, and the full check
#    says so only when no file that names the spec is left behind or misplaced ----------------------

MOVES = ["copy", "rename", "drop", "crlf", "comment", "recompile", "edit", "delete", "restore"]


def _apply(move: str, arg: int, project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    files = [GITHUB, GITLAB, JENKINS]
    spec = project / "mlgen.yaml"
    if move == "copy" and (project / files[arg % 3]).exists():
        shutil.copy(project / files[arg % 3], project / files[(arg + 1) % 3])
    elif move in ("rename", "drop", "restore"):
        names = ["github", "gitlab", "jenkins"]
        kept = {n: DEFAULT_PATHS[n] for n in names}
        if move == "rename":
            kept[names[arg % 3]] = f"ci/{arg % 5}.yml"
        elif move == "drop":
            del kept[names[arg % 3]]
        _targets(spec, "targets:\n" + "".join(f"  {n}: {{path: {p}}}\n" for n, p in kept.items()))
        cli("compile")
    elif move == "crlf":
        spec.write_bytes(spec.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    elif move == "comment":
        spec.write_text(spec.read_text() + f"# path: {files[arg % 3]}\n")
    elif move == "recompile":
        cli("compile")
    elif move == "edit" and (project / files[arg % 3]).exists():
        path = project / files[arg % 3]
        path.write_text(path.read_text() + "\n")
    elif move == "delete" and (project / files[arg % 3]).exists():
        (project / files[arg % 3]).unlink()


def _naming_the_spec(project: Path) -> set[str]:
    found = set()
    for path in project.rglob("*"):
        if path.is_file() and path.name != "mlgen.yaml":
            parsed = header.parse(path.read_text(errors="replace"))
            if parsed is not None and parsed.spec == "mlgen.yaml":
                found.add(str(path.relative_to(project)))
    return found


@settings(max_examples=20)  # each example compiles up to four times
@given(st.lists(st.tuples(st.sampled_from(MOVES), st.integers(0, 100)), min_size=1, max_size=4))
def test_fast_and_full_check_agree(cli, tmp_path_factory: pytest.TempPathFactory, moves: list[tuple[str, int]]) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path_factory.mktemp("p")
    shutil.copytree(EXAMPLES / "quickstart", project, dirs_exist_ok=True)
    os.chdir(project)
    for move, arg in moves:
        _apply(move, arg, project, cli)
    fast = fastcheck.up_to_date("mlgen.yaml")
    result = cli("check")
    assert result.code in (0, 2), result.err
    if fast is True:
        assert result.code == 0, result.err
    if result.code == 0:
        expected = {str(p) for p in [GITHUB, ROLLOUT, GITLAB, JENKINS, CHILD]} | {f"ci/{i}.yml" for i in range(5)}
        expected |= {f".github/workflows/{i}-rollout-register.yml" for i in range(5)}
        written = {p for p in _naming_the_spec(project) if p in expected}
        assert _naming_the_spec(project) == written
        for rel in written:
            parsed = header.parse((project / rel).read_text())
            assert parsed is not None and (parsed.target, rel) in parsed.outputs, "each file holds its own target's config"
