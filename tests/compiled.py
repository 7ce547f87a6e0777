"""Compile a spec in this process, straight from the compiler: no file is read back, no header consulted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgen.targets import yamlout
from mlgen.compile.compiler import compile_pipeline
from mlgen.spec.load import load


def compile_spec(spec: Path) -> dict[str, str]:
    """target name -> the text `mlgen compile` would write for `spec` now."""
    source, pipeline = load(spec)
    outputs = compile_pipeline(pipeline, spec_name=spec.name, spec_bytes=source.raw, source=source)
    return {o.target: o.text for o in outputs}


def compile_dict(spec: dict[str, Any], folder: Path) -> dict[str, str]:
    """Write `spec` as folder/mlgen.yaml and compile it (a SpecError propagates)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mlgen.yaml"
    path.write_text(yamlout.dump(spec), encoding="utf-8")
    return compile_spec(path)
