"""Target paths are untrusted: generated hostile paths either compile into a file inside the repository
that nothing else claims, or are refused at `targets.<t>.path` with nothing written anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.drift import header
from mlgen.spec.models import DEFAULT_PATHS

PARTS = ["..", ".", ".git", ".GIT", ".git.", "dir", "Dir", "link_out", "link_in", "file_link", "blocker", "new",
         "a.yml", "A.yml", "a.yml.", "mlgen.yaml", "MLGEN.yaml", "Jenkinsfile", "hard.yml", "Con.yml"]
TARGETS = list(DEFAULT_PATHS)

path_strategy = st.builds(lambda parts, slash: "/".join(parts) + slash,
                          st.lists(st.sampled_from(PARTS), min_size=1, max_size=4), st.sampled_from(["", "", "", "/"]))


def _world(base: Path) -> Path:
    """A repository with the traps a real checkout has: folders, links in and out, a hard link to the spec."""
    root, outside = base / "repo", base / "outside"
    for folder in (root / ".git/hooks", root / "dir", outside):
        folder.mkdir(parents=True)
    (root / "dir/file.yml").write_text("mine\n")
    (root / "blocker").write_text("a file\n")
    (outside / "victim.yml").write_text("outside\n")
    (root / "link_out").symlink_to(outside)
    (root / "link_in").symlink_to(root / "dir")
    (root / "file_link").symlink_to(root / "dir/file.yml")
    return root


def _spec(paths: dict[str, str]) -> str:
    lines = ["version: 1", "name: x", "stages:", "  - {name: train, kind: train, run: 'true'}", "targets:"]
    for target, path in paths.items():
        lines += [f"  {target}:", f"    path: '{path}'"]
    return "\n".join(lines) + "\n"


def _snapshot(base: Path) -> dict[str, bytes | str | None]:
    out: dict[str, bytes | str | None] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            key = str(p.relative_to(base))
            out[key] = f"-> {os.readlink(p)}" if p.is_symlink() else (p.read_bytes() if p.is_file() else None)
    return out


@given(st.lists(path_strategy, min_size=1, max_size=3))
def test_hostile_target_paths(cli, tmp_path_factory: pytest.TempPathFactory, paths: list[str]) -> None:  # type: ignore[no-untyped-def]
    root = _world(tmp_path_factory.mktemp("w"))
    spec = root / "mlgen.yaml"
    spec.write_text(_spec(dict(zip(TARGETS, paths))))
    os.link(spec, root / "hard.yml")
    before = _snapshot(root.parent)
    os.chdir(root)
    result = cli("compile")
    assert result.code in (0, 1), result.err
    if result.code == 1:
        assert "`targets." in result.err and ".path`: " in result.err and "hint: " in result.err, result.err
        assert _snapshot(root.parent) == before, "a refused compile writes nothing"
        return
    after = _snapshot(root.parent)
    changed = {k for k in after if after[k] != before.get(k)}
    written = {os.path.realpath(root / p) for p in paths}
    for target, path in zip(TARGETS, paths):
        file = root / path
        assert not file.is_symlink() and file.is_file()
        assert os.path.realpath(file).startswith(str(root) + os.sep)
        assert ".git" not in Path(os.path.realpath(file)).relative_to(root).parts
        parsed = header.parse(file.read_text())
        assert parsed is not None and parsed.target == target, "no target overwrote another's file"
    assert len({w.casefold().rstrip(". ") for w in written}) == len(paths), "distinct even on a case-insensitive filesystem"
    assert not any(Path(p).stem.casefold() == "con" for p in paths)
    assert all(os.path.realpath(root.parent / k) in written for k in changed if after[k] is not None), changed
    assert after["repo/mlgen.yaml"] == before["repo/mlgen.yaml"] and after["outside/victim.yml"] == b"outside\n"
    assert cli("check").code == 0


@pytest.mark.parametrize(("paths", "message"), [
    ({"github": "../x.yml"}, "`targets.github.path`: `../x.yml` leaves the spec's folder\n"
                             "  hint: generated files stay in the spec's folder or below it"),
    ({"github": "mlgen.yaml"}, "`targets.github.path`: `mlgen.yaml` is the spec itself\n"
                               "  hint: generated files must not overwrite the spec; pick another path"),
    ({"github": "hard.yml"}, "`targets.github.path`: `hard.yml` is the spec itself\n"
                             "  hint: generated files must not overwrite the spec; pick another path"),
    ({"github": ".git/hooks/pre-commit"}, "`targets.github.path`: `.git/hooks/pre-commit` is inside `.git/`\n"
                                          "  hint: git's own files (hooks, config) are never generated; pick a path outside `.git/`"),
    ({"github": ".github/workflows/"}, "`targets.github.path`: `.github/workflows/` names a folder, not a file\n"
                                       "  hint: end it with a file name, e.g. `.github/workflows/pipeline.yml`"),
    ({"github": "dir"}, "`targets.github.path`: `dir` is an existing folder\n  hint: name a file in it, e.g. `dir/pipeline.yml`"),
    ({"github": "file_link"}, "`targets.github.path`: `file_link` is a symbolic link\n"
                              "  hint: name the file it points to (`dir/file.yml`) instead"),
    ({"github": "blocker/x.yml"}, "`targets.github.path`: `blocker` is a file, so `blocker/x.yml` cannot be created under it\n"
                                  "  hint: pick another folder for the target"),
    ({"github": "ci.yml", "gitlab": "./CI.yml"},
     "`targets.gitlab.path`: `./CI.yml` is the same file as `ci.yml`, which target `github` writes\n"
     "  hint: give every target its own file (paths are compared ignoring case, as macOS and Windows checkouts do)"),
    ({"github": "ci.yml", "gitlab": "CI.yml."},
     "`targets.gitlab.path`: `CI.yml.` is the same file as `ci.yml`, which target `github` writes\n"
     "  hint: give every target its own file (paths are compared ignoring case, as macOS and Windows checkouts do)"),
    ({"github": ".git./config"}, "`targets.github.path`: `.git./config` is inside `.git/`\n"
                                 "  hint: git's own files (hooks, config) are never generated; pick a path outside `.git/`"),
    ({"github": "ci/nul.yml"}, "`targets.github.path`: `ci/nul.yml`: `nul.yml` is a device name on Windows\n"
                               "  hint: a checkout on Windows could not hold this file; rename it"),
    ({"github": "ci", "gitlab": "ci/x.yml"},
     "`targets.gitlab.path`: `ci/x.yml` needs as a folder the file `ci`, which target `github` writes\n"
     "  hint: give every target its own file (paths are compared ignoring case, as macOS and Windows checkouts do)"),
])
def test_refusals_are_located_and_explained(cli, tmp_path: Path, paths: dict[str, str], message: str) -> None:  # type: ignore[no-untyped-def]
    root = _world(tmp_path)
    (root / "mlgen.yaml").write_text(_spec(paths))
    os.link(root / "mlgen.yaml", root / "hard.yml")
    os.chdir(root)
    for command in ("compile", "validate", "check"):
        result = cli(command)
        assert result.code == 1
        assert result.err == f"error: the spec has 1 problem:\nmlgen.yaml:{_line(paths)}:11: {message}\n"


def _line(paths: dict[str, str]) -> int:
    return 7 + 2 * (len(paths) - 1)  # the last target's `path:` line


def test_a_file_generated_from_another_spec_is_not_overwritten(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    os.chdir(tmp_path)
    (tmp_path / "other.yaml").write_text(_spec({"gitlab": ".gitlab-ci.yml"}))
    assert cli("compile", "other.yaml").code == 0
    before = (tmp_path / ".gitlab-ci.yml").read_bytes()
    (tmp_path / "mlgen.yaml").write_text(_spec({"gitlab": ".gitlab-ci.yml"}))
    result = cli("compile")
    assert result.code == 1
    assert result.err == ("error: the spec has 1 problem:\nmlgen.yaml:7:11: `targets.gitlab.path`: `.gitlab-ci.yml` was "
                          "generated from other.yaml, another spec\n"
                          "  hint: two specs cannot share an output file; give this target another path "
                          "(or delete the file first if that spec was renamed to this one)\n")
    assert (tmp_path / ".gitlab-ci.yml").read_bytes() == before
    assert cli("compile", "other.yaml").code == 0, "the owner still compiles"


def test_symlink_out_of_the_tree(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _world(tmp_path)
    (root / "mlgen.yaml").write_text(_spec({"jenkins": "link_out/victim.yml"}))
    os.chdir(root)
    result = cli("compile")
    assert result.code == 1
    assert result.err == ("error: the spec has 1 problem:\nmlgen.yaml:7:11: `targets.jenkins.path`: `link_out/victim.yml` goes "
                          f"through a symbolic link that leaves the spec's folder (to `{tmp_path}/outside/victim.yml`)\n"
                          "  hint: point the target at a real path inside the repository\n")
    assert (tmp_path / "outside/victim.yml").read_text() == "outside\n"


def test_two_specs_on_self_hosted_runners_get_the_actionlint_hint_not_another_path(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    os.chdir(tmp_path)
    for name, path in (("a.yaml", ".github/workflows/a.yml"), ("b.yaml", ".github/workflows/b.yml")):
        (tmp_path / name).write_text(_spec({"github": path}).replace("stages:", "defaults: {runner: gpu}\nstages:", 1))
    assert cli("compile", "a.yaml").code == 0
    before = (tmp_path / ".github/actionlint.yaml").read_bytes()
    result = cli("compile", "b.yaml")
    assert result.code == 1
    assert "`.github/actionlint.yaml` was generated from a.yaml, another spec" in result.err
    assert "`targets.github.actionlint: false`" in result.err and "another path" not in result.err
    assert (tmp_path / ".github/actionlint.yaml").read_bytes() == before
    assert not (tmp_path / ".github/workflows/b.yml").exists(), "nothing of b is written"
