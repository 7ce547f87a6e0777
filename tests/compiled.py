"""Kept so older imports work: the helpers live in tests/support.py."""

from __future__ import annotations

from tests.support import compile_dict, compile_spec

__all__ = ["compile_dict", "compile_spec"]
