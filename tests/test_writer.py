"""Writes are all-or-nothing and atomic: a killed compile leaves the previous files intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.errors import MlgenError
from mlgen.writer import write_all
from tests.support import EXAMPLES

CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import mlgen.writer as writer

    stage = sys.argv[2]
    real_fsync, real_replace = os.fsync, os.replace
    calls = {"fsync": 0, "replace": 0}

    def pause(kind):
        calls[kind] += 1
        if calls[kind] == 2:  # the second file: the first is already staged (or renamed)
            print("ready", flush=True)
            time.sleep(60)

    def fsync(fd):
        if stage == "staging":
            pause("fsync")
        real_fsync(fd)

    def replace(a, b):
        if stage == "renaming":
            pause("replace")
        real_replace(a, b)

    writer.os.fsync, writer.os.replace = fsync, replace
    base = Path(sys.argv[1])
    writer.write_all([(base / "a.yml", "new a\\n" * 1000), (base / "b.yml", "new b\\n" * 1000), (base / "c.yml", "new c\\n")])
""")


@pytest.mark.parametrize("stage", ["staging", "renaming"])
def test_killed_mid_write_keeps_previous_files(tmp_path: Path, stage: str) -> None:
    for name in ("a.yml", "b.yml", "c.yml"):
        (tmp_path / name).write_text(f"old {name}\n")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), stage], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    contents = {p.name: p.read_text() for p in tmp_path.glob("*.yml")}
    for name, text in contents.items():
        assert text in (f"old {name}\n", f"new {name[0]}\n" * (1000 if name != "c.yml" else 1)), "no file is ever half-written"
    if stage == "staging":
        assert all(text.startswith("old") for text in contents.values()), "nothing is renamed before everything is staged"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".mlgen-tmp"))
    assert leftovers, "the kill landed mid-write"
    assert all(name.startswith((".a.yml.", ".b.yml.", ".c.yml.")) for name in leftovers), "only temp files are left"


def test_write_failure_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("old\n")
    blocker = tmp_path / "dir"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(MlgenError, match="nothing was changed"):
        write_all([(tmp_path / "a.yml", "new\n"), (blocker / "b.yml", "new\n")])
    assert (tmp_path / "a.yml").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yml", "dir"]


# -- `check` catches every hand edit ------------------------------------------------------------

MUTATIONS = ["change a character", "delete a line", "swap two lines", "trailing whitespace", "edit the header", "add a line"]


@given(st.sampled_from(MUTATIONS), st.sampled_from([".github/workflows/mlgen.yml", ".gitlab-ci.yml", "Jenkinsfile"]),
       st.integers(min_value=0, max_value=10_000))
def test_check_flags_every_mutation_as_hand_edited(cli, tmp_path_factory: pytest.TempPathFactory,  # type: ignore[no-untyped-def]
                                                    mutation: str, target: str, pick: int) -> None:
    import shutil

    folder = tmp_path_factory.mktemp("mut")
    shutil.copytree(EXAMPLES / "quickstart", folder, dirs_exist_ok=True)
    path = folder / target
    lines = path.read_text().split("\n")
    body = range(4, len(lines) - 1)
    i = body[pick % len(body)]
    if mutation == "change a character":
        line = lines[i] or " "
        j = pick % len(line)
        lines[i] = line[:j] + ("x" if line[j] != "x" else "y") + line[j + 1:]
    elif mutation == "delete a line":
        del lines[i]
    elif mutation == "swap two lines":
        k = body[(pick // 7) % len(body)]
        if lines[i] == lines[k]:
            k = i + 1 if lines[i + 1] != lines[i] else 4
        lines[i], lines[k] = lines[k], lines[i]
    elif mutation == "trailing whitespace":
        lines[i] += " "
    elif mutation == "edit the header":
        h = pick % 4
        lines[h] = lines[h].replace("mlgen", "mlgen ", 1)
    elif mutation == "add a line":
        lines.insert(i, "# harmless?")
    path.write_text("\n".join(lines))
    result = cli("check", str(folder / "mlgen.yaml"))  # no chdir: the working directory stays the suite's
    assert result.code == 2
    assert f"{target}: hand-edited" in result.err
