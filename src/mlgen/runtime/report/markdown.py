"""The review report as Markdown: the comment body, the step summary and `report.md`.

GitHub and GitLab both render GitHub-flavoured tables, `<details>` and ```` ```mermaid ```` blocks.
"""

from __future__ import annotations

from mlgen.runtime.report.build import NOT_GATED, DataResult, MetricRow, Missing, Report, TrainingRow
from mlgen.runtime.reports import fmt, markdown_table

# GitHub refuses a comment body over "65536 characters" (its validation message; measured, the bound
# is in UTF-8 bytes, 262,144). 65,000 characters fit either reading, even at 4 bytes each.
COMMENT_LIMIT = 65_000
_ICON = {"passed": "✅ pass", "failed": "❌ FAIL", "skipped": "⏭️ skip", NOT_GATED: "·"}


def render(report: Report) -> str:
    parts = [report.marker, f"### mlgen · {report.pipeline} · {report.stage}", "", report.headline, ""]
    parts += _metrics(report) + _data(report) + _training(report) + _graph(report) + _links(report)
    return "\n".join(parts).rstrip("\n") + "\n"


def fit(markdown: str, limit: int = COMMENT_LIMIT) -> str:
    """The report cut at a line boundary to fit a comment; the marker (first line) always stays."""
    if len(markdown) <= limit:
        return markdown
    note = "\n\n_… cut to fit a comment: the full report is `report.md` in the run's artifacts._\n"
    cut = markdown[: limit - len(note)]
    return cut[: cut.rfind("\n")] + note


def _metrics(report: Report) -> list[str]:
    out = ["#### Metrics", ""]
    if isinstance(report.metrics, Missing):
        return [*out, f"Not available: the gate did not run ({report.metrics.why}).", ""]
    if not report.metrics:
        return [*out, "The metrics file holds no metrics.", ""]
    if report.baseline:
        out += [report.baseline, ""]
    bounds = any(m.interval for m in report.metrics)
    header = ["metric", "challenger", "champion", "Δ", "Δ %", "gate", "result", *(["bounds"] if bounds else [])]
    rows = [_metric_row(m, bounds) for m in report.metrics]
    out += [markdown_table(header, rows)]
    out += _interval_notes(report.metrics)
    explained = [m for m in report.metrics if m.details]
    if explained:
        out += ["<details><summary>Failed and accepted gate rules</summary>", ""]
        out += [f"- `{m.metric}`: " + "; ".join(m.details) for m in explained]
        out += ["", "</details>", ""]
    return out


def _metric_row(m: MetricRow, bounds: bool) -> list[str]:
    row = [f"`{m.metric}`", _show(m.challenger), _show(m.champion), _signed(m.delta),
           "-" if m.relative is None else f"{m.relative * 100:+.2f}%", ", ".join(m.rules) or "-",
           _ICON.get(m.verdict, m.verdict)]
    if bounds:
        i = m.interval
        row.append("-" if i is None else f"{'Δ ' if i.of == 'difference' else ''}[{fmt(i.lower)}, {fmt(i.upper)}]")
    return row


def _interval_notes(metrics: list[MetricRow]) -> list[str]:
    notes = sorted({f"{i.confidence:g} one-sided bounds each, {i.resamples} {i.pairing + ' ' if i.pairing != 'none' else ''}"
                    f"bootstrap resamples, seed {i.seed}" + (f"; {i.note}" if i.note else "")
                    for m in metrics if (i := m.interval) is not None})
    return [*(f"_Bounds: {n}._" for n in notes), ""] if notes else []


def _show(value: float | str | None) -> str:
    if value is None:
        return "-"
    return fmt(value) if isinstance(value, float) else f"`{value}`"


def _signed(value: float | None) -> str:
    return "-" if value is None else ("+" if value > 0 else "") + fmt(value)


def _data(report: Report) -> list[str]:
    out = ["#### Data", ""]
    if isinstance(report.data, Missing):
        return [*out, f"Not run / not available: {report.data.why}.", ""]
    for result in report.data:
        out += _data_result(result)
    return out


def _data_result(d: DataResult) -> list[str]:
    verdict = "✅ passed" if d.passed else "❌ failed"
    out = [f"Data contract `{d.contract}` ({d.stage}): {verdict}" + (f", {len(d.findings)} finding(s)" if d.findings else ""), ""]
    out += [f"- {f}" for f in d.findings[:20]]
    if len(d.findings) > 20:
        out.append(f"- … and {len(d.findings) - 20} more (see the data check's JUnit report)")
    if d.findings:
        out.append("")
    if d.drift:
        several = len({r.file for r in d.drift}) > 1
        header = [*(["file"] if several else []), "column", "drift", "value", "result", "detail"]
        rows = [[*([r.file] if several else []), f"`{r.column}`", r.method.upper(), fmt(r.value),
                 _ICON.get(r.verdict, r.verdict), r.detail] for r in d.drift]
        out += ["Drift against the reference, largest first:", "", markdown_table(header, rows)]
    return out


def _training(report: Report) -> list[str]:
    out = ["#### Training", ""]
    if isinstance(report.training, Missing):
        out.append(f"Not available: {report.training.why}.")
    else:
        out.append(markdown_table(["stage", "matrix leg", "training", "chosen"], [_training_row(r) for r in report.training]))
    if report.chosen_leg:
        out.append("Chosen leg: " + ", ".join(f"`{k}={v}`" for k, v in report.chosen_leg.items()))
    return [*out, ""]


def _training_row(r: TrainingRow) -> list[str]:
    leg = ", ".join(f"{k}={v}" for k, v in sorted(r.leg.items())) or "-"
    how = "reused from the cache" if r.cache == "hit" else f"retrained ({r.reason})" if r.reason else "retrained"
    return [r.stage, leg, how, {True: "✅", False: "", None: "-"}[r.chosen]]


def _graph(report: Report) -> list[str]:
    if not report.graph:
        return []
    # a longer fence than any backtick run inside, so the diagram cannot close the block early
    fence = "`" * max(3, _longest_backticks(report.graph) + 1)
    return ["<details><summary>Pipeline graph</summary>", "", f"{fence}mermaid", report.graph.rstrip("\n"), fence, "",
            "</details>", ""]


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _links(report: Report) -> list[str]:
    if not report.links:
        return []
    items = [f"[{name}]({target})" if target.startswith(("http://", "https://")) else f"{name}: {target}"
             for name, target in report.links.items()]
    return ["Links: " + " · ".join(items), ""]
