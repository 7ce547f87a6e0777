"""The contract reference in the README and the short form in `--help` are valid, complete contracts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from mlgen.runtime.data.contract import ColumnRule, Contract, Drift, Ks, Psi, Rows, load_contract
from tests.runtime.conftest import ROOT, subprocess_env

MODELS: list[type[BaseModel]] = [Contract, ColumnRule, Rows, Drift, Psi, Ks]


def readme_contract() -> str:
    section = (ROOT / "README.md").read_text().split("### Data contracts", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None, "the Data contracts section has no YAML example"
    return match.group(1)


def help_contract() -> str:
    proc = subprocess.run([sys.executable, "-m", "mlgen", "data", "check", "--help"], capture_output=True, text=True,
                          env=subprocess_env(), check=True)
    block = proc.stdout.split("contract (YAML;", 1)[1].split("\n\n", 1)[0]
    assert 'README.md, "Data contracts"' in block
    return "\n".join(line[2:] for line in block.splitlines()[1:])


@pytest.mark.parametrize("source", [readme_contract, help_contract], ids=["readme", "help"])
def test_the_documented_contract_loads_and_shows_every_key(tmp_path: Path, source: object) -> None:
    assert callable(source)
    text = source()
    (tmp_path / "c.yaml").write_text(text)
    load_contract(tmp_path / "c.yaml")  # raises on any mistake in the documented example
    keys = set(re.findall(r"([a-z_]+):", text))
    for model in MODELS:
        missing = set(model.model_fields) - keys
        assert not missing, f"{model.__name__} keys not documented: {missing}"


def test_the_readme_lists_every_dtype_and_its_csv_rule() -> None:
    section = (ROOT / "README.md").read_text().split("### Data contracts", 1)[1].split("\n## ", 1)[0]
    for dtype in ("str", "category", "int", "float", "bool", "datetime"):
        assert f"`{dtype}`" in section
