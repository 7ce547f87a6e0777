"""The report formats every CI system shows natively, and the only place the runtime writes them.

JUnit XML (GitLab `artifacts:reports:junit`, Jenkins `junit`), Markdown appended to
`$GITHUB_STEP_SUMMARY`, and JSON for later steps. Files are written atomically, so a job killed
mid-write never leaves half a report for the next job to trust.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

from mlgen.errors import UserError

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Case:
    """One JUnit test case: a gate, or one rule of a data contract."""

    name: str
    classname: str
    status: Status
    message: str = ""  # one line: why it failed or was skipped
    details: str = ""  # longer text: values, offending rows


# XML 1.0 `Char`: TAB, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF. Everything else (C0
# controls, lone surrogates from undecodable bytes, U+FFFE/U+FFFF) cannot appear even as a character
# reference, so a strict parser rejects the whole report.
_NOT_XML_CHAR = re.compile(r"[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """`text` with each character XML 1.0 cannot hold shown as a visible escape (`\\x01`, `\\udc80`).

    Every JUnit writer passes names and messages through here: one control character in a CSV
    header must not cost the CI system the whole report.
    """
    return _NOT_XML_CHAR.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def junit_xml(suite: str, cases: Sequence[Case]) -> str:
    failures = sum(c.status == "failed" for c in cases)
    skipped = sum(c.status == "skipped" for c in cases)
    root = ET.Element("testsuites", name="mlgen", tests=str(len(cases)), failures=str(failures), errors="0")
    node = ET.SubElement(root, "testsuite", name=xml_safe(suite), tests=str(len(cases)), failures=str(failures),
                         errors="0", skipped=str(skipped))
    for case in cases:
        element = ET.SubElement(node, "testcase", name=xml_safe(case.name), classname=xml_safe(case.classname), time="0")
        message, details = xml_safe(case.message), xml_safe(case.details)
        if case.status == "failed":
            ET.SubElement(element, "failure", message=message, type="mlgen").text = details or message
        elif case.status == "skipped":
            ET.SubElement(element, "skipped", message=message)
        elif details:
            ET.SubElement(element, "system-out").text = details
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def write_text(path: Path, text: str) -> None:
    from mlgen.writer import write_one

    try:
        write_one(path, text)
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror or exc}", where=str(path),
                        hint="check that the directory is writable, or choose another path") from None


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def append_step_summary(markdown: str, env: Mapping[str, str] | None = None, *, to: str | None = None) -> Path | None:
    """Append to GitHub's job summary when running there (or to `to`); a no-op elsewhere."""
    target = to or (env if env is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip("\n") + "\n\n")
    except OSError as exc:
        raise UserError(f"cannot append to $GITHUB_STEP_SUMMARY: {exc.strerror or exc}", where=str(path)) from None
    return path


def fmt(value: float | None) -> str:
    """Numbers for people: enough digits to see a gate's margin, no float noise."""
    if value is None:
        return "-"
    return f"{value:.6g}"
