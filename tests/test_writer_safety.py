"""The writer never half-writes: destinations are checked first, failed renames are undone, Ctrl-C leaves no temp files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlgen import writer
from mlgen.errors import MlgenError
from mlgen.writer import write_all


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _old(tmp_path: Path) -> dict[str, bytes | None]:
    for name in ("a.yml", "c.yml"):
        (tmp_path / name).write_text(f"old {name}\n")
    return _tree(tmp_path)


def test_a_folder_as_destination_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "b.yml").mkdir()
    before = _old(tmp_path)
    with pytest.raises(MlgenError, match=r"b\.yml: it is not a regular file; nothing was changed"):
        write_all([(tmp_path / "a.yml", "new\n"), (tmp_path / "b.yml", "new\n"), (tmp_path / "c.yml", "new\n")])
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4])
def test_a_failed_rename_restores_what_was_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int) -> None:
    before = _old(tmp_path)
    real_replace, calls = os.replace, []

    def replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == failing_call:
            raise OSError(28, "No space left on device", dst)
        real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", replace)
    files = [(tmp_path / "a.yml", "new a\n"), (tmp_path / "new/deep/b.yml", "new b\n"),
             (tmp_path / "c.yml", "new c\n"), (tmp_path / "d.yml", "new d\n")]
    with pytest.raises(MlgenError, match="No space left on device; nothing was changed"):
        write_all(files)
    assert _tree(tmp_path) == before, "replaced files are restored, new files and new folders removed, no temp files"


CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import mlgen.writer as writer

    stage = sys.argv[2]
    real_fsync, real_replace = os.fsync, os.replace
    calls = {"fsync": 0, "replace": 0}

    def pause(kind):
        calls[kind] += 1
        if calls[kind] == 2:
            print("ready", flush=True)
            time.sleep(3)

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
    try:
        writer.write_all([(base / "a.yml", "new a\\n"), (base / "sub/b.yml", "new b\\n"), (base / "c.yml", "new c\\n")])
    except KeyboardInterrupt:
        sys.exit(130)
""")


@pytest.mark.parametrize(("stage", "expected"), [("staging", "old"), ("renaming", "new")])
def test_ctrl_c_leaves_old_or_new_files_and_no_temp_files(tmp_path: Path, stage: str, expected: str) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.yml", "sub/b.yml", "c.yml"):
        (tmp_path / name).write_text(f"old {Path(name).name[0]}\n")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), stage], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130, "the interrupt is still reported"
    contents = {str(p.relative_to(tmp_path)): p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert contents == {"a.yml": f"{expected} a\n", "sub/b.yml": f"{expected} b\n", "c.yml": f"{expected} c\n"}


def test_confined_writes_refuse_paths_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    with pytest.raises(MlgenError, match=r"`\.\./x\.yml` leaves the spec's folder"):
        write_all([(root / "ok.yml", "x\n"), (root / "../x.yml", "x\n")], root=root, spec=root / "mlgen.yaml")
    assert _tree(tmp_path) == {"repo": None}
