"""The registry version a run registered, for the report: a link where the registry has a page for it.

The report job runs after evaluate and before register, so it cannot know the version. The
register job adds it itself, right after `mlgen registry register` (`mlgen report --registered
RECORD`): wherever the register job runs (its own workflow or child pipeline too), the link goes
with it. It writes `registry.md`, `registry.json` and `registry.txt` beside the report (the job's
artifact), appends the Markdown to the job summary on GitHub, and Jenkins appends the text line
to the build description.

MLflow's UI shows a model version at `<tracking server>/#/models/<name>/versions/<version>` (the
routes of the UI the tracking server serves). Only an http(s) tracking URI has such a page; a
database, a folder or Databricks' `databricks` profile URI gives the name and version as text.
"""

from __future__ import annotations

import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlgen.errors import UserError
from mlgen.layout import REGISTERED_REPORT
from mlgen.runtime import reports
from mlgen.runtime.report.build import Missing
from mlgen.runtime.report.inputs import read_json

FILES = tuple(Path(p).name for p in REGISTERED_REPORT)  # Markdown, JSON, one line; under the report folder


@dataclass(frozen=True)
class Registered:
    """What the register job registered: model, version and where to see it (None: no page)."""

    model: str
    version: str
    registry: str  # mlflow, command
    alias: str
    url: str | None

    @property
    def text(self) -> str:
        return f"{self.model} version {self.version}"


def model_version_url(tracking_uri: str | None, model: str, version: str) -> str | None:
    """The MLflow UI page of a model version, or None when the tracking URI is not a web server's."""
    if not tracking_uri:
        return None
    parts = urllib.parse.urlsplit(tracking_uri.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    # Credentials written into the URI (user:token@host) must never reach a comment or a summary;
    # its query and fragment are the client's, not part of the UI's address.
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    try:
        port = parts.port
    except ValueError:
        return None  # a port that is not a number: not an address a browser can open
    netloc = host + (f":{port}" if port else "")
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    quote = urllib.parse.quote
    return f"{base}/#/models/{quote(model, safe='')}/versions/{quote(version, safe='')}"


def from_record(record: Mapping[str, Any] | Missing, tracking_uri: str | None) -> Registered | Missing:
    """The registered version in a record of `mlgen registry register`, with its page if it has one."""
    if isinstance(record, Missing):
        return record
    model, version = str(record.get("model") or ""), str(record.get("version") or "")
    if not model or not version:
        return Missing("registered version", "the register record names no model version "
                                             "(a command registry whose register command printed none)")
    registry = str(record.get("registry") or "")
    url = model_version_url(tracking_uri, model, version) if registry == "mlflow" else None
    return Registered(model, version, registry, str(record.get("alias") or ""), url)


def markdown(found: Registered | Missing, pipeline: str, stage: str) -> str:
    head = f"#### Registry · {pipeline} · {stage}\n\n"
    if isinstance(found, Missing):
        return head + f"No registered version to link: {found.why}.\n"
    shown = f"[{_escape(found.text)}]({found.url})" if found.url else f"`{found.text}`"
    alias = f" with alias `{found.alias}`" if found.alias else ""
    return head + f"Registered {shown}{alias}.\n"


def description(found: Registered | Missing) -> str:
    return "" if isinstance(found, Missing) else f"registered {found.text}"


def to_json(found: Registered | Missing) -> dict[str, Any]:
    return {"missing": found.why} if isinstance(found, Missing) else asdict(found)


def _escape(text: str) -> str:
    """Link text: brackets and backslashes would end or bend the Markdown link."""
    return "".join("\\" + c if c in "\\[]" else c for c in text)


def run(record_path: Path, tracking_uri: str | None, out_dir: Path, pipeline: str, stage: str) -> int:
    """Write the three files and the summary. Never fails the register job: it registered already."""
    found = from_record(read_json(record_path, "register record"), tracking_uri)
    text = markdown(found, pipeline, stage)
    try:
        reports.write_text(out_dir / FILES[0], text)
        reports.write_json(out_dir / FILES[1], to_json(found))
        reports.write_text(out_dir / FILES[2], description(found) + "\n")
        reports.append_step_summary(text)
    except UserError as exc:
        print(f"mlgen report: warning: {exc}", file=sys.stderr)
        return 0
    if isinstance(found, Missing):
        print(f"mlgen report: no registry version to link ({found.why})")
    else:
        print(f"mlgen report: registered {found.text}" + (f": {found.url}" if found.url else " (the registry has no page to link)"))
    return 0
