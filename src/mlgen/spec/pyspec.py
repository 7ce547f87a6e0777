"""Python specs: run the file in a child process, take the `Pipeline` it builds.

A Python spec is arbitrary code, so it runs in its own interpreter: a spec that never returns
is stopped after a timeout the user can raise, its `print`s go to stderr (never into
`compile --stdout`), and `sys.exit`, `os._exit` or argparse inside it cannot end mlgen with
their own exit code. The child sends back the pipeline as JSON together with the line of the
user's file where each model object was built, so later checks (duplicate names, target
paths, ...) can point into the Python file just as they point into a YAML spec.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlgen.errors import MlgenError, Problem, SpecError

if TYPE_CHECKING:
    from mlgen.spec.models import Pipeline
    from mlgen.spec.source import Loc, Source

TIMEOUT_ENV = "MLGEN_PYTHON_TIMEOUT"
DEFAULT_TIMEOUT = 60.0  # seconds; building a pipeline takes well under one
_timeout_override: list[float] = []
# The child imports this very mlgen (found through its parent folder), then drops that folder from
# sys.path again so that it cannot shadow anything else the spec imports.
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); import mlgen; sys.path.pop(0); "
         "from mlgen.spec.pyspec import child; child(sys.argv[2], float(sys.argv[3]))")
_GRACE = 10.0  # seconds the child gets for start-up and, after its own alarm, to report where it was stuck
_EXIT_HINT = ("a spec only builds a `Pipeline`; put command-line code under `if __name__ == \"__main__\":` "
              "(mlgen runs the file under another name)")


@contextmanager
def timeout_set(seconds: float | None) -> Iterator[None]:
    """`--python-timeout`: wins over the environment variable for the commands run inside."""
    if seconds is None:
        yield
        return
    _timeout_override.append(seconds)
    try:
        yield
    finally:
        _timeout_override.pop()


def timeout() -> float:
    if _timeout_override:
        return _timeout_override[-1]
    text = os.environ.get(TIMEOUT_ENV, "")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e6:
        raise MlgenError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds; set it to e.g. 120")
    return value


def run_python_spec(source: Source) -> Pipeline:
    from pydantic import ValidationError

    from mlgen.spec.models import Pipeline
    from mlgen.spec.problems import problems_from_validation

    limit = timeout()
    result = _run_child(source, limit)
    if "timeout" in result:
        raise SpecError([_timed_out(source.display, result["timeout"], limit)])
    if "problems" in result:
        raise SpecError([Problem(source.display, p["line"], p["col"], p["message"], p["hint"]) for p in result["problems"]])
    source.data = result["data"]
    source.positions = {tuple(loc): (line, col) for loc, line, col in result["positions"]}
    try:
        return Pipeline.model_validate(source.data)
    except ValidationError as exc:
        raise SpecError(problems_from_validation(exc, source)) from None


def _run_child(source: Source, limit: float) -> dict[str, Any]:
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        proc = subprocess.run([sys.executable, "-c", _BOOT, package_parent, str(source.path), repr(limit)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=limit + _GRACE, check=False)
    except subprocess.TimeoutExpired:  # the spec caught the child's own alarm, or blocked in C code
        raise SpecError([_timed_out(source.display, 0, limit)]) from None
    try:
        result: dict[str, Any] = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        result = {}
    if not result:
        raise SpecError([Problem(source.display, 0, 0, f"the Python spec ended the process (exit code {proc.returncode}) "
                                                       "before it returned a `Pipeline`", _EXIT_HINT)])
    return result


def _timed_out(display: str, line: int, limit: float) -> Problem:
    where = f" (it was running line {line})" if line else ""
    return Problem(display, line, 1 if line else 0, f"the Python spec did not finish within {limit:g} s{where}",
                   f"a spec should only build a `Pipeline`; if yours really needs longer, "
                   f"pass --python-timeout SECONDS or set {TIMEOUT_ENV}")


# -- the child process ---------------------------------------------------------------------------

class _Alarm(BaseException):
    """Raised in the spec's code when its time is up (a BaseException: `except Exception` won't hide it)."""


def child(spec: str, limit: float) -> None:
    """Run the spec, then write {"data", "positions"}, {"problems"} or {"timeout"} as JSON to the real stdout."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the spec's prints (even from C code) go to stderr, never into the result
    try:
        result = _build(spec, limit)
    except _Alarm:
        result = {"timeout": 0}
    except BaseException as exc:  # noqa: BLE001 - anything else is a bug here, but never a silent exit
        result = {"problems": [_problem(0, 0, f"could not run the Python spec: {type(exc).__name__}: {exc}")]}
    json.dump(result, channel, allow_nan=True)
    channel.flush()
    os._exit(0)  # skip the spec's atexit handlers and threads: the answer is sent


def _build(spec: str, limit: float) -> dict[str, Any]:
    from mlgen.spec import models

    lines = _record_lines(models.Model, os.path.realpath(spec))
    sys.path.insert(0, os.path.dirname(os.path.abspath(spec)))  # let the spec import its neighbours
    sys.argv = [spec]
    namespace = _run(spec, limit)
    if "__problems__" in namespace:
        return namespace["__problems__"]  # type: ignore[no-any-return]
    pipeline = _pick(namespace, models.Pipeline)
    if isinstance(pipeline, dict):
        return pipeline
    positions: dict[Loc, tuple[int, int]] = {}
    _walk(pipeline, (), lines[0], positions)
    data = pipeline.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {"data": data, "positions": [[list(loc), line, col] for loc, (line, col) in positions.items()]}


def _run(spec: str, limit: float) -> dict[str, Any]:
    """The spec's globals, or {"__problems__": the answer} when it failed or ran out of time."""
    import runpy

    from pydantic import ValidationError

    try:
        _arm(limit)  # from here on: the spec's own time
        return runpy.run_path(spec, run_name="__mlgen_spec__")
    except _Alarm as exc:
        answer: dict[str, Any] = {"timeout": _user_line(exc, spec)}
    except ValidationError as exc:
        line = _user_line(exc, spec)
        answer = {"problems": [_validation_problem(line, e) for e in exc.errors(include_url=False)]}
    except SyntaxError as exc:
        answer = {"problems": [_problem(exc.lineno or 0, exc.offset or 0, f"invalid Python: {exc.msg}")]}
    except SystemExit as exc:
        answer = {"problems": [_problem(_user_line(exc, spec), 1, f"the Python spec called sys.exit({exc.code!r})", _EXIT_HINT)]}
    except BaseException as exc:  # the user's code failed; show where, not our stack
        answer = {"problems": [_problem(_user_line(exc, spec), 1, f"the Python spec raised {type(exc).__name__}: {exc}")]}
    finally:
        _disarm()
    return {"__problems__": answer}


def _arm(limit: float) -> None:
    """Interrupt the spec at `limit` where it stands, so the error can name the line (Unix; elsewhere
    the parent's kill after the grace period is the only bound)."""
    import signal

    if hasattr(signal, "setitimer"):
        def alarm(signum: int, frame: Any) -> None:
            raise _Alarm

        signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)


def _disarm() -> None:
    import signal

    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


def _pick(namespace: dict[str, Any], pipeline_type: type) -> Any:
    named = namespace.get("pipeline")
    if isinstance(named, pipeline_type):
        return named
    found = [v for k, v in namespace.items() if isinstance(v, pipeline_type) and not k.startswith("_")]
    if len(found) == 1:
        return found[0]
    what = "no `Pipeline` object" if not found else f"{len(found)} `Pipeline` objects"
    return {"problems": [_problem(0, 0, f"the Python spec defines {what}", "assign it to a variable named `pipeline`")]}


def _record_lines(model: Any, spec_file: str) -> tuple[dict[int, tuple[int, int]], list[Any]]:
    """Note where in the spec each model object is built (by id; the objects are kept alive)."""
    lines: dict[int, tuple[int, int]] = {}
    keep: list[Any] = []
    original = model.__init__

    def init(self: Any, /, **data: Any) -> None:
        original(self, **data)
        frame = sys._getframe(1)
        while frame is not None:
            if os.path.realpath(frame.f_code.co_filename) == spec_file:
                lines[id(self)] = _call_position(frame)
                keep.append(self)
                break
            frame = frame.f_back  # type: ignore[assignment]

    model.__init__ = init
    return lines, keep


def _call_position(frame: Any) -> tuple[int, int]:
    """(line, column) of the call running in `frame`: the start of the `Stage(...)` expression."""
    positions = list(frame.f_code.co_positions())
    index = frame.f_lasti // 2
    if 0 <= index < len(positions) and positions[index][0] and positions[index][2] is not None:
        return positions[index][0], positions[index][2] + 1
    return frame.f_lineno, 1


def _walk(obj: Any, loc: Loc, lines: dict[int, tuple[int, int]], out: dict[Loc, tuple[int, int]]) -> None:
    from pydantic import BaseModel

    if isinstance(obj, BaseModel):
        if id(obj) in lines:
            out[loc] = lines[id(obj)]
        for name, field in type(obj).model_fields.items():
            _walk(getattr(obj, name), (*loc, field.alias or name), lines, out)
    elif isinstance(obj, (list, tuple)):
        for index, item in enumerate(obj):
            _walk(item, (*loc, index), lines, out)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _walk(item, (*loc, str(key)), lines, out)


def _validation_problem(line: int, error: Any) -> dict[str, Any]:
    """A pydantic error as a problem; mlgen's own value checks carry their message and hint in `ctx`."""
    if error["type"] == "mlgen_value":
        return _problem(line, 1, f"{_dotted(error['loc'])}: {error['ctx']['message']}", error["ctx"]["hint"])
    return _problem(line, 1, f"{_dotted(error['loc'])}: {error['msg']}")


def _problem(line: int, col: int, message: str, hint: str = "") -> dict[str, Any]:
    return {"line": line, "col": col, "message": message, "hint": hint}


def _user_line(exc: BaseException, spec: str) -> int:
    target = os.path.realpath(spec)
    line = 0
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == target:
            line = frame.lineno or 0
    return line


def _dotted(loc: Any) -> str:
    return ".".join(str(p) for p in loc) or "Pipeline"
