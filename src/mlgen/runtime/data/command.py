"""`mlgen data check`: flags -> settings (spec, then flags) -> check every file -> reports.

    mlgen data check --contract contracts/train.yaml [--reference data/reference.csv]
                     [--junit .mlgen/reports/validate-data.xml] [--summary PATH] DATA [DATA ...]

The checking itself lives beside this module: `contract` (the format, validated at the boundary),
`read` (CSV columns read as the contract's dtypes), `check` (pandera schema, offending rows),
`drift` (PSI, KS) and `report` (every report format). Exit codes: 0 every check passed, 1 a check
failed or the input is bad (one message on stderr, no traceback). Nothing heavy is imported at
the top; pandas, pandera and scipy load inside the check.

The data contract format (every key, the CSV reading rule of each dtype, the drift defaults) is
documented once, in the README's "Data contracts" section; `--help` shows a short form of it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlgen.errors import UserError
from mlgen.runtime.data.check import check_file
from mlgen.runtime.data.contract import Contract, load_contract
from mlgen.runtime.data.read import read_dataset
from mlgen.runtime.data.report import render_text, write_reports
from mlgen.runtime.settings import apply_env, load_stage, required_path


def main(argv: list[str]) -> int:
    """`mlgen data check ARGV...` as a call: the runtime's one parser, its exit codes."""
    from mlgen.runtime.cli import main as runtime_main

    return runtime_main(["data", "check", *argv])


def run(args: argparse.Namespace) -> int:
    view = load_stage(args.spec, args.stage, "validate")
    apply_env(view)
    spec = view.data() if view is not None else None
    stage = args.stage or "validate"
    contract_path = required_path(args.contract, spec.contract if spec else None, flag="--contract", spec_key="contract")
    data = [Path(d) for d in args.data] or (spec.data if spec else [])
    if not data:
        raise UserError("no dataset given", hint="pass the CSV or Parquet files to check, e.g. "
                                                 "`mlgen data check --contract c.yaml data/train.csv`")
    reference_path = Path(args.reference) if args.reference else (spec.reference if spec else None)
    contract = load_contract(contract_path)
    reference, reference_error = _reference(reference_path, contract)
    # one unreadable file fails its own check; the others are still checked and reported
    results = [check_file(path, contract, reference, reference_error) for path in data]
    print(render_text(stage, str(contract_path), results, reference_path), end="")
    write_reports(args, stage, str(contract_path), results)
    return 0 if all(r.passed for r in results) else 1


def _reference(path: Path | None, contract: Contract) -> tuple[Any, str]:
    """The reference frame, or why it cannot be read (each file's drift check then fails with that)."""
    if path is None:
        return None, ""
    try:
        return read_dataset(path, contract).frame, ""
    except UserError as exc:
        return None, f"reference {exc}" + (f"; {exc.hint}" if exc.hint else "")
