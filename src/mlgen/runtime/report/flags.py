"""The flags of `mlgen report`, defined once (the runtime parser adds them to its `report` command)."""

from __future__ import annotations

import argparse

MODES = ("auto", "github", "gitlab", "none")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pipeline", metavar="NAME", help="pipeline name in the comment's marker (default: the spec's `name`)")
    p.add_argument("--out-dir", metavar="DIR", help="where report.md, report.json and description.txt go "
                                                    "(default: .mlgen/report)")
    p.add_argument("--post", choices=MODES, default="auto",
                   help="where to post: auto (from the CI environment, the default), github, gitlab or none")
    p.add_argument("--token-env", metavar="NAME", help="environment variable holding the write token "
                                                       "(default: GITHUB_TOKEN on GitHub, GITLAB_TOKEN on GitLab)")
    p.add_argument("--run-url", metavar="URL", help="link to the run (default: from the CI environment)")
    p.add_argument("--registry-version", metavar="V", help="registered model version to link (default: the one "
                                                           "`mlgen registry register` recorded here, if any)")
    p.add_argument("--registered", metavar="RECORD", help="in the register job, after `mlgen registry register`: "
                   "link the version its record (.mlgen/registered-<model>.json) names, in registry.md/.json/.txt "
                   "beside the report and the job summary, instead of writing the report")
    p.add_argument("--model", metavar="NAME", help="registered model name (default: the spec's)")
    p.add_argument("--graph", metavar="FILE.mmd", help="Mermaid pipeline graph to include (absent: no graph section)")
    p.add_argument("--http-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                   help="longest one API request may take (default: 10)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number of seconds") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"`{text}` is not between 0 and 300 seconds")
    return value


HELP = """\
Write the run's review report: every metric (challenger, champion, change, gate, verdict and
confidence bounds), the data contract and drift (largest first), training (cache hit or retrained,
the chosen matrix leg), the pipeline graph and links. Files: <out-dir>/report.md, report.json and
description.txt; on GitHub also the job summary. On a pull/merge request it posts ONE comment,
found again by a hidden marker and edited on later runs. Missing inputs, no token (a fork) or a
failed post never fail the job: the exit code is 0 unless a flag or the spec is wrong.

examples:
  mlgen report --spec mlgen.yaml --stage evaluate
  mlgen report --stage evaluate --pipeline churn --post gitlab --token-env MLGEN_REPORT_TOKEN
  mlgen report --stage evaluate --pipeline churn --registered .mlgen/registered-churn.json
"""
