"""The reports of `mlgen data check`: console text, Markdown summary, JUnit and JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlgen import layout
from mlgen.runtime import reports
from mlgen.runtime.data.check import FileResult
from mlgen.runtime.data.drift import DriftResult
from mlgen.runtime.reports import Case


def _drift_mark(d: DriftResult) -> str:
    return "skip" if d.skipped else "ok  " if d.passed else "FAIL"


def _verdict(result: FileResult) -> str:
    failed = len({(f.column, f.rule) for f in result.findings}) + sum(not d.passed for d in result.drift)
    if failed:
        return f"FAILED ({failed} check{'s' if failed != 1 else ''})"
    return f"ok ({len(result.rules) + len(result.drift)} checks passed)"


def render_text(stage: str, contract: str, results: list[FileResult], reference: Path | None) -> str:
    lines = [f"data check `{stage}` with contract {contract}", "(rows count data rows from 0: CSV line = row + 2)"]
    for r in results:
        size = f"{r.rows} rows, {r.columns} columns" if r.readable else "not read"
        lines.append(f"{r.path}: {size}: {_verdict(r)}")
        lines += [f"  - {f.describe()}" for f in r.findings]
        if r.drift:
            lines.append(f"  drift vs {reference}:")
            lines += [f"    {_drift_mark(d)} {d.column}: {d.detail}" for d in r.drift]
        if r.drift_note:
            lines.append(f"  {r.drift_note}")
    passed = all(r.passed for r in results)
    lines.append("data check passed" if passed else "data check FAILED")
    return "\n".join(lines) + "\n"


def render_markdown(stage: str, contract: str, results: list[FileResult]) -> str:
    passed = all(r.passed for r in results)
    rows = [[r.path, "file" if f.rule == "file" else "contract", "❌ " + f.describe()] for r in results for f in r.findings]
    rows += [[r.path, f"drift {d.method}", ("⏭️ " if d.skipped else "✅ " if d.passed else "❌ ") + f"{d.column}: {d.detail}"]
             for r in results for d in r.drift]
    text = f"### {'✅' if passed else '❌'} mlgen data check `{stage}`\n\ncontract: `{contract}`; "
    text += ", ".join(f"`{r.path}`: {f'{r.rows} rows' if r.readable else 'not read'}, {_verdict(r)}" for r in results) + "\n\n"
    return text + (reports.markdown_table(["file", "check", "result"], rows) if rows else "")


def junit_cases(results: list[FileResult]) -> list[Case]:
    cases = []
    for r in results:
        failing = {(f.column, f.rule): f for f in r.findings}
        # JUnit viewers split classnames at dots into packages: keep the file name in one piece
        classname = "mlgen.data." + Path(r.path).name.replace(".", "_")
        for column, rule in r.rules:
            name = f"{column}: {rule}" if column else rule
            finding = failing.pop((column, rule), None)
            cases.append(Case(name, classname, "failed" if finding else "passed", finding.describe() if finding else ""))
        for (column, rule), finding in failing.items():  # e.g. strict-mode columns outside the contract
            cases.append(Case(f"{column}: {rule}" if column else rule, classname, "failed", finding.describe()))
        cases += [_drift_case(d, classname) for d in r.drift]
    return cases


def _drift_case(d: DriftResult, classname: str) -> Case:
    status: reports.Status = "skipped" if d.skipped else "passed" if d.passed else "failed"
    return Case(f"{d.column}: drift {d.method}", classname, status, "" if status == "passed" else d.detail, d.detail)


def to_json(stage: str, contract: str, results: list[FileResult]) -> dict[str, Any]:
    return {
        "stage": stage, "contract": contract, "passed": all(r.passed for r in results),
        "files": {r.path: {"rows": r.rows, "passed": r.passed, "readable": r.readable,
                           "findings": [{"column": f.column, "rule": f.rule, "message": f.message, "count": f.count,
                                         "rows": [str(i) for i in f.rows], "values": f.values} for f in r.findings],
                           "drift": [{"column": d.column, "method": d.method, "value": d.value if d.value == d.value else None,
                                      "passed": d.passed, "skipped": d.skipped, "detail": d.detail} for d in r.drift]}
                  for r in results},
    }


def write_reports(args: argparse.Namespace, stage: str, contract_path: str, results: list[FileResult]) -> None:
    junit = Path(args.junit or layout.junit(stage, "data"))
    result = Path(args.json or layout.data_result(stage))
    reports.write_text(junit, reports.junit_xml(f"mlgen data check {stage}", junit_cases(results)))
    reports.write_json(result, to_json(stage, contract_path, results))
    summary = reports.append_step_summary(render_markdown(stage, contract_path, results), to=getattr(args, "summary", None))
    print(f"wrote {junit} and {result}" + (" and the job summary" if summary else ""))
