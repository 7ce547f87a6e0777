"""Results every runtime check reports the same way: a table on stdout, JUnit XML, Markdown."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "auc min" or "column age: in_range"
    status: str  # passed / failed / skipped
    detail: str  # what was measured against what, or why it failed


def table(title: str, checks: list[Check]) -> str:
    width = max([len(c.name) for c in checks] + [5])
    lines = [title, f"  {'check'.ljust(width)}  result   detail"]
    for c in checks:
        lines.append(f"  {c.name.ljust(width)}  {c.status.upper():7}  {c.detail}")
    failed = sum(c.status == FAILED for c in checks)
    lines.append(f"  {len(checks)} checks, {failed} failed" if checks else "  no checks")
    return "\n".join(lines)


def write_junit(path: Path, suite: str, checks: list[Check]) -> None:
    """One testcase per check: GitLab `reports:junit` and Jenkins `junit` show them natively."""
    root = ET.Element("testsuites")
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(checks)),
                         failures=str(sum(c.status == FAILED for c in checks)),
                         skipped=str(sum(c.status == SKIPPED for c in checks)))
    for c in checks:
        case = ET.SubElement(node, "testcase", classname=suite, name=c.name)
        if c.status == FAILED:
            ET.SubElement(case, "failure", message=c.detail).text = c.detail
        elif c.status == SKIPPED:
            ET.SubElement(case, "skipped", message=c.detail)
        else:
            ET.SubElement(case, "system-out").text = c.detail
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def markdown(title: str, checks: list[Check]) -> str:
    icon = {PASSED: "✅", FAILED: "❌", SKIPPED: "⏭️"}
    rows = [f"### {title}", "", "| check | result | detail |", "|---|---|---|"]
    rows += [f"| {_md(c.name)} | {icon[c.status]} {c.status} | {_md(c.detail)} |" for c in checks]
    return "\n".join(rows) + "\n\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def append_summary(title: str, checks: list[Check], summary: Path | None = None) -> None:
    """GitHub renders `$GITHUB_STEP_SUMMARY` on the run page; elsewhere this is a no-op."""
    target = summary or (Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None)
    if target is not None:
        with target.open("a", encoding="utf-8") as handle:
            handle.write(markdown(title, checks))
