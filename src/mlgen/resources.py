"""Where the bundled templates and schemas are: inside the wheel, or at the repository root."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    bundled = _HERE / name  # wheels carry templates/ and schemas/ inside the package
    if bundled.is_dir():
        return bundled
    return _HERE.parents[1] / name  # editable install: the repository's top-level folder
