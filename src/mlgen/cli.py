"""The command line. Commands parse arguments and pick where output goes; the work is elsewhere."""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from mlgen import __version__, errhandler

app = typer.Typer(
    name="mlgen", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Compile one ML pipeline spec (validate, train, evaluate, register, canary) into native "
         "GitHub Actions, GitLab CI and Jenkins configs.",
)

if TYPE_CHECKING:
    from mlgen.spec.models import Pipeline

Command = TypeVar("Command", bound=Callable[..., int])
SpecArg = Annotated[Path, typer.Argument(help="The spec: mlgen.yaml, or a Python file that builds a Pipeline.")]
PyTimeoutOpt = Annotated[float | None, typer.Option(
    "--python-timeout", min=0.001, metavar="SECONDS",
    help="Stop a Python spec that runs longer than this (default 60, or $MLGEN_PYTHON_TIMEOUT).")]
TargetOpt = Annotated[list[str] | None, typer.Option("--target", "-t", help="Only this target (github, gitlab, jenkins); repeatable.")]
RUNTIME_HELP = {
    "gate": "Check metrics against the evaluate stage's gates and baseline (runs inside CI jobs).",
    "data": "Validate datasets against a data contract: `mlgen data check` (runs inside CI jobs).",
    "registry": "Register, promote and roll back models in the model registry (runs inside CI jobs).",
    "canary": "Walk a canary step, promote or roll back a deployment (runs inside CI jobs).",
    "cache": "Skip training when the cache key files are unchanged: `mlgen cache hit|save` (GitLab and Jenkins jobs).",
    "report": "Write the run's review report and post it once on the pull/merge request (runs inside CI jobs).",
}


def run(args: list[str]) -> int:
    def invoke() -> int:
        try:
            result = app(args, prog_name="mlgen", standalone_mode=False)
        except Exception as exc:
            # typer bundles its own click; recognise its exceptions by shape, not by import path.
            name = type(exc).__name__
            if name == "Exit":
                return int(getattr(exc, "exit_code", 0))
            if name == "Abort":
                raise KeyboardInterrupt from None
            if hasattr(exc, "show") and hasattr(exc, "format_message"):
                exc.show()
                return errhandler.USER_ERROR  # click's own 2 would read as "drift found"
            raise
        return int(result or 0)

    return errhandler.run(invoke)


def _default_spec(spec: Path) -> Path:
    """Without a spec argument, `mlgen.yaml` is used, or `pipeline.py` when only that exists."""
    if spec == Path("mlgen.yaml") and not spec.exists() and Path("pipeline.py").is_file():
        return Path("pipeline.py")
    return spec


def _load(spec: Path, python_timeout: float | None = None):  # type: ignore[no-untyped-def]
    from mlgen.spec.load import load
    from mlgen.spec.pyspec import timeout_set

    with timeout_set(python_timeout):
        source, pipeline = load(_default_spec(spec))
    _check_target_paths(source, pipeline)
    return source, pipeline


def _check_target_paths(source, pipeline) -> None:  # type: ignore[no-untyped-def]
    """Every command refuses what `compile` would refuse to write, located at `targets.<t>.path`."""
    from mlgen import confine
    from mlgen.errors import SpecError

    enabled = pipeline.enabled_targets()
    refusals = confine.check(str(source.path.parent), str(source.path), [(t, s.path) for t, s in enabled.items()])
    if refusals:
        raise SpecError([source.problem(("targets", r.target, "path"), f"`targets.{r.target}.path`: {r.message}", r.hint)
                         for r in refusals])


def _compile(spec: Path, target: list[str] | None, python_timeout: float | None):  # type: ignore[no-untyped-def]
    source, pipeline = _load(spec, python_timeout)
    return pipeline, _compile_loaded(spec, source, pipeline, target)


def _compile_loaded(spec: Path, source, pipeline, target: list[str] | None):  # type: ignore[no-untyped-def]
    from mlgen.compile.compiler import compile_pipeline

    return compile_pipeline(pipeline, spec_name=_default_spec(spec).name, spec_bytes=source.raw, only=tuple(target or ()), source=source)


def _collector_paused(command: Command) -> Command:
    """The command runs without cycle collection; the collector resumes once its objects are gone.

    A compile reads the spec and builds the jobs and texts of every target: millions of objects
    that live until the command returns, and almost no reference cycles. The collector's passes
    over them were a fifth of a 1,000-stage compile; reference counting frees them all the same.
    Resuming only after the command has returned matters: objects allocated while it was paused
    and still alive would all be scanned by the first collection after it resumes.
    """
    @functools.wraps(command)
    def paused(*args: Any, **kwargs: Any) -> Any:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return command(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return cast(Command, paused)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter spec.")] = Path("mlgen.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing spec.")] = False,
) -> int:
    """Write a commented starter spec: mlgen.yaml (with the JSON Schema editors use), or a Python pipeline.py."""
    from mlgen.errors import MlgenError
    from mlgen.resources import resource_dir
    from mlgen.spec import schema
    from mlgen.writer import write_all

    # `.py` exactly: that is how every command tells a Python spec from a YAML one
    kind = "pipeline.py" if path.suffix == ".py" else {".yaml": "mlgen.yaml", ".yml": "mlgen.yaml"}.get(path.suffix.lower())
    if kind is None:
        raise MlgenError(f"{path}: a spec is a YAML file (.yaml, .yml) or a Python file (.py); "
                         f"try `mlgen init {path.with_suffix('.yaml')}` or `mlgen init {path.with_suffix('.py')}`")
    if path.exists() and not force:
        raise MlgenError(f"{path} already exists; pass --force to overwrite it")
    starter = (resource_dir("templates") / kind).read_text(encoding="utf-8")
    files = [(path, starter)] + ([(path.parent / schema.LOCAL_PATH, schema.render())] if kind == "mlgen.yaml" else [])
    write_all(files)
    print(f"wrote {' and '.join(str(f) for f, _ in files)}\nnext: edit {path}, then run `mlgen compile {path}`")
    return 0


@app.command("compile")
@_collector_paused
def compile_(
    spec: SpecArg = Path("mlgen.yaml"),
    target: TargetOpt = None,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the configs instead of writing them.")] = False,
    python_timeout: PyTimeoutOpt = None,
) -> int:
    """Compile the spec into the targets' native configs (written only if every target compiles)."""
    from mlgen.writer import write_all

    pipeline, outputs = _compile(spec, target, python_timeout)
    if stdout:
        sys.stdout.write("".join(o.text for o in outputs) if len(outputs) == 1 else
                         "".join(f"=== {o.path} ===\n{o.text}" for o in outputs))
        return 0
    spec = _default_spec(spec)
    base = spec.parent
    write_all([(base / o.path, o.text) for o in outputs], root=base, spec=spec)
    for o in outputs:
        print(f"wrote {base / o.path}")
    # every file the spec writes: the outputs themselves, unless `--target` left some out
    _note_orphans(base, spec.name, _output_paths(pipeline) if target else [o.path for o in outputs])
    return 0


def _output_paths(pipeline: Pipeline) -> list[str]:
    from mlgen.compile.compiler import output_paths

    return output_paths(pipeline)


def _note_orphans(base: Path, spec_name: str, current: list[str]) -> None:
    """compile never deletes, but says what `check` will report: files this spec no longer writes."""
    from mlgen.drift.fast import orphans
    from mlgen.targets.escape import sh_quote

    for rel in orphans(str(base), spec_name, current):
        print(f"note: {base / rel} was generated from {spec_name}, which no longer writes it, and still runs; "
              f"delete it: git rm -- {sh_quote(rel)}", file=sys.stderr)


@app.command()
@_collector_paused
def check(spec: SpecArg = Path("mlgen.yaml"), target: TargetOpt = None, python_timeout: PyTimeoutOpt = None) -> int:
    """Fail (exit 2) when a generated config is stale or hand-edited; shows the diff and the fix."""
    from mlgen.drift import compare as drift
    from mlgen.errors import DriftFound
    from mlgen.targets.escape import sh_quote

    spec = _default_spec(spec)
    pipeline, outputs = _compile(spec, target, python_timeout)
    drifts = drift.compare(spec.parent, outputs)
    drifts += drift.orphaned(spec.parent, spec.name, _output_paths(pipeline))
    if drifts:
        command = "mlgen compile" + ("" if str(spec) == "mlgen.yaml" else f" {sh_quote(str(spec))}")
        raise DriftFound(drift.report(drifts, command))
    print(f"{len(outputs)} generated file{'s' if len(outputs) != 1 else ''} up to date")
    return 0


@app.command()
@_collector_paused
def validate(spec: SpecArg = Path("mlgen.yaml"), python_timeout: PyTimeoutOpt = None) -> int:
    """Check the spec: every check `compile` runs (all problems at once, with file:line:col), writing nothing."""
    source, pipeline = _load(spec, python_timeout)
    _compile_loaded(spec, source, pipeline, None)
    print(f"{spec}: ok ({len(pipeline.stages)} stages, targets: {', '.join(pipeline.enabled_targets())})")
    return 0


class PlanFormat(str, Enum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"
    json = "json"


@app.command()
@_collector_paused
def plan(
    spec: SpecArg = Path("mlgen.yaml"),
    python_timeout: PyTimeoutOpt = None,
    format_: Annotated[PlanFormat, typer.Option(
        "--format", "-f", help="text: the job graph and how each target maps every feature; mermaid, dot: the job "
                               "graph as a drawing; json: the plan for other tools.")] = PlanFormat.text,
) -> int:
    """Show the job graph and how each target maps (or emulates) every feature."""
    from mlgen.compile.describe import render_plan

    source, pipeline = _load(spec, python_timeout)
    _compile_loaded(spec, source, pipeline, None)  # a spec that does not compile has no plan to show
    sys.stdout.write(render_plan(pipeline, _default_spec(spec).name, format_.value, source))
    return 0


@app.command()
def schema(
    out: Annotated[Path, typer.Option(help="Where to write the JSON Schema.")] = Path("schemas/mlgen.schema.json"),
    stdout: Annotated[bool, typer.Option("--stdout", help="Print it instead.")] = False,
) -> int:
    """Write the spec's JSON Schema (generated from the models)."""
    from mlgen.spec import schema as schema_mod
    from mlgen.writer import write_all

    text = schema_mod.render()
    if stdout:
        sys.stdout.write(text)
    else:
        write_all([(out, text)])
        print(f"wrote {out}")
    return 0


@app.command()
def version() -> int:
    """Print mlgen's version."""
    print(__version__)
    return 0


def _runtime_stub(name: str) -> None:
    # Listed here for `mlgen --help`; `__main__` dispatches these before typer is imported.
    @app.command(name, help=RUNTIME_HELP[name], context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                 add_help_option=False)
    def _forward(ctx: typer.Context) -> int:
        from mlgen.runtime.cli import main as runtime_main

        return int(runtime_main([name, *ctx.args]))


for _name in RUNTIME_HELP:
    _runtime_stub(_name)
