"""Accepted regressions: a reviewed file in the repository that lets a named gate fail on purpose.

A team sometimes ships a model that is worse on one gate for a known reason (a new label set, a
deliberate trade-off). The acceptance is a change to a file in the repository, so it goes through
review like code; it names the model, the gate and the reason, and it expires. The gate shows it,
its JSON result carries it, and `mlgen registry register` records it as tags on the version.

    accepted:
      - model: churn
        gate: auc              # the metric
        rule: max_drop         # optional: every rule of the gate when left out
        reason: labels were redefined on 2026-11-20; the champion was scored on the old ones
        expires: 2026-12-31    # the last day it applies (UTC)
        approved_by: ml-leads  # optional
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgen.errors import UserError

FIELDS = ("model", "gate", "rule", "reason", "expires", "approved_by")
REQUIRED = ("model", "gate", "reason", "expires")
HINT = "each entry of `accepted:` needs model, gate, reason and expires (YYYY-MM-DD); rule and approved_by are optional"


@dataclass(frozen=True)
class Acceptance:
    model: str
    gate: str
    rule: str | None
    reason: str
    expires: dt.date
    approved_by: str | None
    source: str  # file:entry number, for the report

    def covers(self, model: str | None, gate: str, rule: str) -> bool:
        return self.model == model and self.gate == gate and self.rule in (None, rule)

    def active(self, today: dt.date) -> bool:
        return today <= self.expires

    def text(self) -> str:
        by = f", approved by {self.approved_by}" if self.approved_by else ""
        return f"accepted in {self.source}: {self.reason} (until {self.expires.isoformat()}{by})"


def load(path: Path) -> list[Acceptance]:
    """The entries of an acceptance file; a missing file accepts nothing."""
    if not path.is_file():
        return []
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"the accepted-regressions file is not valid YAML: {str(exc).splitlines()[0]}", where=str(path),
                        hint=HINT) from None
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {"accepted"} or not isinstance(data["accepted"], list):
        raise UserError("the accepted-regressions file must hold one key, `accepted:`, with a list", where=str(path), hint=HINT)
    return [_entry(item, f"{path}#{i + 1}") for i, item in enumerate(data["accepted"])]


def _entry(item: Any, where: str) -> Acceptance:
    if not isinstance(item, dict):
        raise UserError("an entry is not a mapping", where=where, hint=HINT)
    unknown = [k for k in item if k not in FIELDS]
    if unknown:
        raise UserError(f"unknown key `{unknown[0]}`", where=where, hint=HINT)
    missing = [k for k in REQUIRED if not item.get(k)]
    if missing:
        raise UserError(f"`{missing[0]}` is missing", where=where, hint=HINT)
    expires = item["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise UserError(f"`expires: {expires}` is not a date", where=where, hint="write it as YYYY-MM-DD") from None
    if isinstance(expires, dt.datetime) or not isinstance(expires, dt.date):
        raise UserError(f"`expires: {expires}` is not a date", where=where, hint="write it as YYYY-MM-DD")
    rule = item.get("rule")
    if rule is not None and rule not in ("min", "max", "max_drop", "max_rise"):
        raise UserError(f"`rule: {rule}` is not a gate rule", where=where, hint="use min, max, max_drop or max_rise")
    return Acceptance(str(item["model"]), str(item["gate"]), rule, str(item["reason"]).strip(), expires,
                      str(item["approved_by"]) if item.get("approved_by") else None, where)


def find(acceptances: list[Acceptance], model: str | None, gate: str, rule: str,
         today: dt.date) -> tuple[Acceptance | None, Acceptance | None]:
    """(the active acceptance covering this failed rule, an expired one that would have)."""
    matching = [a for a in acceptances if a.covers(model, gate, rule)]
    active = next((a for a in matching if a.active(today)), None)
    expired = next((a for a in matching if not a.active(today)), None)
    return active, expired
