"""`mlgen init` writes a starter in the language its file name asks for, and refuses the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgen.drift import header


@pytest.mark.parametrize("name", ["pipeline.py", "ci/spec.py"])
def test_init_python_writes_a_python_starter_twin_of_the_yaml_one(cli, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    os.chdir(tmp_path)
    result = cli("init", name)
    assert result.code == 0, result.err
    spec = tmp_path / name
    compile(spec.read_text(), name, "exec")  # Python, not YAML in a .py file
    assert not (spec.parent / ".mlgen").exists(), "the JSON Schema is for YAML editors only"
    assert cli("init", "mlgen.yaml").code == 0
    py_out = cli("compile", name, "--stdout")
    yaml_out = cli("compile", "mlgen.yaml", "--stdout")
    assert py_out.code == 0 and yaml_out.code == 0, py_out.err
    py_files, yaml_files = py_out.out.split("=== ")[1:], yaml_out.out.split("=== ")[1:]
    assert len(py_files) == len(yaml_files) == 5  # three configs, the rollout workflow beside the GitHub one, the GitLab child config
    for py_text, yaml_text in zip(py_files, yaml_files):
        path_py, body_py = py_text.split(" ===\n", 1)
        path_yaml, body_yaml = yaml_text.split(" ===\n", 1)
        assert path_py == path_yaml and header.body(body_py) == header.body(body_yaml), path_py


@pytest.mark.parametrize("name", ["ci.json", "mlgen", "spec.toml", "pipeline.PY"])
def test_init_refuses_other_file_types(cli, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    os.chdir(tmp_path)
    result = cli("init", name)
    stem = name.rsplit(".", 1)[0]
    assert result.code == 1
    assert result.err == (f"error: {name}: a spec is a YAML file (.yaml, .yml) or a Python file (.py); "
                          f"try `mlgen init {stem}.yaml` or `mlgen init {stem}.py`\n")
    assert list(tmp_path.iterdir()) == []
