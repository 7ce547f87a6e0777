"""mlgen: one ML pipeline spec, compiled to native GitHub Actions, GitLab CI and Jenkins configs.

The public API is listed once, here. Names are imported on first use so that `mlgen check`
starts without loading pydantic.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: `mlgen check`'s fast path must not import typing
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

__all__ = [
    "Approval", "Baseline", "Cache", "CanaryStage", "Credentials", "Defaults", "EvaluateStage", "Gate", "PinnedAction",
    "Pipeline", "RegisterStage", "RegistryCommands", "Report", "Target", "Targets", "Threshold", "TrainStage", "Triggers",
    "ValidateStage",
    "compile_pipeline", "load_pipeline", "__version__",
]

_LAZY = {
    "compile_pipeline": "mlgen.compile.compiler",
    "load_pipeline": "mlgen.spec.load",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:  # e.g. `from mlgen import header` asks here first: stay import-free
        raise AttributeError(f"module 'mlgen' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY.get(name, "mlgen.spec.models")), name)
