"""The `command` registry: a promote template that dies half-way is still undone by the rollback job.

mlgen cannot see inside the user's templates, so it records the promotion before running the
template; the rollback job then runs the rollback template with the version, whatever point the
promote template reached.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.runtime.conftest import Result

Run = Callable[..., Result]

# A file-backed registry whose promote can die after any of its writes (FAIL_AFTER=n).
REGISTRY = """\
import json, os, pathlib, sys
root = pathlib.Path(sys.argv[1]); op = sys.argv[2]; root.mkdir(exist_ok=True)
with (root / "calls.log").open("a") as log: log.write(" ".join(sys.argv[2:]) + chr(10))
path = root / "state.json"
state = json.loads(path.read_text()) if path.exists() else {"versions": 0, "aliases": {}}
writes = 0
def save():
    global writes
    path.write_text(json.dumps(state)); writes += 1
    if writes == int(os.environ.get("FAIL_AFTER", "99")):
        sys.exit(7)
if op == "register":
    state["versions"] += 1; state["aliases"]["challenger"] = str(state["versions"]); save(); print(state["versions"])
elif op == "promote":  # version = sys.argv[3]
    old = state["aliases"].get("champion")
    if old: state["aliases"]["previous-champion"] = old; save()
    state["aliases"]["champion"] = sys.argv[3]; save()
    state["aliases"].pop("challenger", None); save()
    print(sys.argv[3])
elif op == "rollback":  # undo the promotion of version sys.argv[3], as far as it got; harmless otherwise
    a = state["aliases"]
    if a.get("champion") == sys.argv[3]:
        a["champion"] = a.pop("previous-champion")
    a.pop("challenger", None); save()
"""


@pytest.fixture
def commands(tmp_path: Path) -> list[str]:
    script = tmp_path / "registry.py"
    script.write_text(REGISTRY)
    base = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(tmp_path / 'reg'))}"
    return ["--registry", "command", "--model", "churn",
            "--register-command", f"{base} register", "--promote-command", f"{base} promote {{version}}",
            "--rollback-command", f"{base} rollback {{version}}"]


def aliases(tmp_path: Path) -> dict[str, str]:
    result: dict[str, str] = json.loads((tmp_path / "reg/state.json").read_text())["aliases"]
    return result


@pytest.mark.parametrize("fail_after", [1, 2, 3])
def test_a_promote_that_died_half_way_is_undone(runtime: Run, tmp_path: Path, commands: list[str], fail_after: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"1")
    for _ in range(2):
        assert runtime("registry", "register", "--path", "model", *commands).code == 0
        assert runtime("canary", "promote", *commands).code == 0
    assert aliases(tmp_path) == {"champion": "2", "previous-champion": "1"}
    assert runtime("registry", "register", "--path", "model", *commands).code == 0

    monkeypatch.setenv("FAIL_AFTER", str(fail_after))
    assert runtime("canary", "promote", *commands).code == 1
    monkeypatch.delenv("FAIL_AFTER")
    result = runtime("canary", "rollback", "--rollback", "true", *commands)
    assert result.code == 0 and "undid this run's promotion of churn" in result.out
    assert (tmp_path / "reg/calls.log").read_text().splitlines()[-1] == "rollback 3"  # told which version
    assert aliases(tmp_path)["champion"] == "2" and "challenger" not in aliases(tmp_path)
