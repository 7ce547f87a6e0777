"""Python specs: run the file, take the `Pipeline` it builds. Errors point into the user's file."""

from __future__ import annotations

import runpy
import sys
import traceback
from typing import TYPE_CHECKING, Any

from mlgen.errors import Problem, SpecError

if TYPE_CHECKING:
    from mlgen.source import Source
    from mlgen.spec import Pipeline


def run_python_spec(source: Source) -> Pipeline:
    from pydantic import ValidationError

    from mlgen.spec import Pipeline

    sys.path.insert(0, str(source.path.parent.resolve()))  # let the spec import its neighbours
    try:
        namespace = runpy.run_path(str(source.path), run_name="__mlgen_spec__")
    except ValidationError as exc:
        line = _user_line(exc, source)
        raise SpecError([Problem(source.display, line, 1, f"{_dotted(e['loc'])}: {e['msg']}", "") for e in exc.errors(include_url=False)]) from None
    except SyntaxError as exc:
        raise SpecError([Problem(source.display, exc.lineno or 0, exc.offset or 0, f"invalid Python: {exc.msg}")]) from None
    except Exception as exc:  # the user's code failed; show where, not our stack
        line = _user_line(exc, source)
        raise SpecError([Problem(source.display, line, 1, f"the Python spec raised {type(exc).__name__}: {exc}")]) from None
    finally:
        sys.path.remove(str(source.path.parent.resolve()))
    found = [v for k, v in namespace.items() if isinstance(v, Pipeline) and not k.startswith("_")]
    named = namespace.get("pipeline")
    if isinstance(named, Pipeline):
        return named
    if len(found) == 1:
        return found[0]
    hint = "assign it to a variable named `pipeline`"
    what = "no `Pipeline` object" if not found else f"{len(found)} `Pipeline` objects"
    raise SpecError([Problem(source.display, 0, 0, f"the Python spec defines {what}", hint)])


def _user_line(exc: BaseException, source: Source) -> int:
    target = str(source.path.resolve())
    line = 0
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == target or frame.filename == str(source.path):
            line = frame.lineno or 0
    return line


def _dotted(loc: Any) -> str:
    return ".".join(str(p) for p in loc) or "Pipeline"
