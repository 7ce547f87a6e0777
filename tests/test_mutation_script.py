"""scripts/mutation.py keeps its explanations true: every kept survivor and listed mutant still names code that exists."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_script", ROOT / "scripts" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


MUTATION = _script()


@pytest.mark.parametrize("entry", sorted(MUTATION.KNOWN_SURVIVORS), ids=lambda e: f"{e[0]}:{e[2]}")
def test_every_kept_survivor_names_one_line_that_exists(entry: tuple[str, str, str]) -> None:
    module, snippet, flip = entry
    lines = [line for line in (MUTATION.SRC / module).read_text(encoding="utf-8").splitlines() if snippet in line]
    assert len(lines) == 1, f"{module}: `{snippet}` should name one line, found {len(lines)}"
    generated = [m for m in MUTATION.auto_mutants(module) if snippet in m.old and m.name.endswith(":" + flip)]
    assert generated, f"no --auto mutant `{flip}` on that line: the entry explains nothing"
    assert all(MUTATION.known_reason(m) for m in generated)


@pytest.mark.parametrize("mutant", MUTATION.MUTANTS, ids=lambda m: m.name)
def test_every_listed_mutant_still_applies(mutant: object) -> None:
    text = (MUTATION.SRC / mutant.module).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert text.count(mutant.old) == 1, f"{mutant.name}: the code it breaks changed; update the mutant"  # type: ignore[attr-defined]
