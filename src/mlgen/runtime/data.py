"""`mlgen data check` as a callable entry point: `main(argv)` takes the arguments after `data check`.

    mlgen data check --contract contracts/train.yaml [--reference data/reference.csv]
                     [--junit .mlgen/reports/validate-data.xml] [--summary PATH] DATA [DATA ...]

The checking itself lives in `contract` (the format, validated at the boundary), `dataread`
(CSV columns read as the contract's dtypes), `datacheck` (pandera schema, offending rows), `drift`
(PSI, KS) and `datacmd` (reports). This module only parses the command line, adds `--summary`,
and maps errors to exit codes through `errhandler`:
0 every check passed, 1 a check failed or the input is bad (one message on stderr, no traceback).
Nothing heavy is imported here; pandas, pandera and scipy load inside the check.

The data contract format (every key, the CSV reading rule of each dtype, the drift defaults) is
documented once, in the README's "Data contracts" section; `--help` shows a short form of it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mlgen.runtime.cli import DATA_HELP, _formatter, _Parser, _spec_flags

PROG = "mlgen data check"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `mlgen data check`; the runtime CLI can take them from here to stay in step."""
    _spec_flags(parser, "validate")
    parser.add_argument("data", nargs="*", metavar="DATA", help="CSV or Parquet files to check (default: the stage's `data`)")
    parser.add_argument("--contract", metavar="FILE", help="the data contract (YAML)")
    parser.add_argument("--reference", metavar="FILE", help="reference dataset for drift checks (CSV or Parquet)")
    parser.add_argument("--junit", metavar="PATH", help="JUnit XML report (default: .mlgen/reports/<stage>-data.xml)")
    parser.add_argument("--json", metavar="PATH", help="machine-readable result (default: .mlgen/data-<stage>.json)")
    parser.add_argument("--summary", metavar="PATH",
                        help=f"append the Markdown summary to PATH instead of ${SUMMARY_ENV} (which GitHub sets)")


def build_parser() -> _Parser:
    parser = _Parser(prog=PROG, description=DATA_HELP, formatter_class=_formatter)
    add_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    from mlgen import errhandler

    return errhandler.run(lambda: _main(argv))


def _main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help printed its text; argparse's own errors raise UserError instead
        return int(exc.code or 0)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run the check for parsed flags (the runtime CLI's handler interface)."""
    from mlgen.runtime import datacmd

    with _step_summary(getattr(args, "summary", None)):
        code = datacmd.run(args)
    sys.stdout.flush()
    return code


@contextmanager
def _step_summary(path: str | None) -> Iterator[None]:
    """Point the report writer's summary at PATH for this call only.

    `datacmd` takes the destination from the environment, as GitHub passes it; overriding that
    variable for one call keeps one code path for both (until `datacmd` passes `to=` like
    `gatecmd` does). Restoring it matters: tests and library callers run many checks in one process.
    """
    if path is None:
        yield
        return
    before = os.environ.get(SUMMARY_ENV)
    os.environ[SUMMARY_ENV] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SUMMARY_ENV, None)
        else:
            os.environ[SUMMARY_ENV] = before


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
