"""The runtime's command line: `mlgen gate`, `data check`, `registry ...`, `canary ...`, `cache ...`.

argparse (stdlib) keeps startup fast; each command's module is imported only when it runs, and
heavy libraries only inside it. `main` returns the exit code: 0 ok, 1 user error or failed check,
3 a bug in mlgen, 130 Ctrl-C, 143 SIGTERM (mapped by `mlgen.errhandler`, the one place that does
so); `mlgen cache hit` alone also exits 10 on a miss.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, NoReturn

from mlgen.errors import UserError, did_you_mean
from mlgen.runtime.helptext import (
    BASELINE_HELP,
    CACHE_HELP,
    CANARY_HELP,
    CANARY_ROLLBACK_HELP,
    DATA_HELP,
    GATE_HELP,
    PROMOTE_HELP,
    REGISTER_HELP,
    REGISTRY_HELP,
    RESCORE_HELP,
    ROLLBACK_HELP,
    STEP_HELP,
)
from mlgen.runtime.settings import REGISTRY_OPERATIONS, command_flag

ON_MISSING = ("absolute", "fail", "pass")
COMMAND_TEMPLATES = {  # the help of each of settings.REGISTRY_OPERATIONS (a test keeps them equal)
    "register": "shell template to register; {model} {path} {alias} {commit} {run_url} {gate_results}; "
                "may print the version last",
    "promote": "template to promote; {model} {version} {from_alias} {alias} (=champion) {run_id}",
    "rollback": "template to roll back the champion; {model} {version} {alias}",
    "baseline": "template printing the metrics JSON of {model}@{alias} (nothing: no such version)",
    "store_predictions": "template storing a new version's predictions; {model} {version} {predictions} {fingerprint}",
    "baseline_predictions": "template writing the predictions of {model}@{alias} to {out} (nothing: none stored)",
    "fetch_model": "template copying the model files of {model}@{alias} into the folder {out} (nothing: no such version)",
}
REGISTRIES = ("mlflow", "command")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting 2, which mlgen reserves for "drift found"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviated flags: a CI config that says --metric must not silently mean --metrics.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message}", hint=f"see `{self.prog} --help`")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=34, width=100)


def _command(sub: argparse._SubParsersAction[_Parser], name: str, summary: str, description: str,
             handler: str) -> _Parser:
    parser = sub.add_parser(name, help=summary, description=description, formatter_class=_formatter)
    parser.set_defaults(handler=handler, parser=parser)
    return parser


def _spec_flags(parser: argparse.ArgumentParser, kind: str) -> None:
    group = parser.add_argument_group("settings from the spec (flags given as well win)")
    group.add_argument("--spec", metavar="PATH", help="the pipeline spec (mlgen.yaml or a Python spec)")
    group.add_argument("--stage", metavar="NAME", help=f"the {kind} stage to read (default: `{kind}`)")


def _registry_flags(parser: argparse.ArgumentParser, *, model_help: str = "registered model name") -> None:
    group = parser.add_argument_group("registry")
    group.add_argument("--registry", choices=REGISTRIES, help="registry kind (default: mlflow, or the spec's)")
    group.add_argument("--model", metavar="NAME", help=model_help)
    group.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)")
    for op in REGISTRY_OPERATIONS:
        group.add_argument(command_flag(op), metavar="CMD", help=f"`command` registry: {COMMAND_TEMPLATES[op]}")


def _version_flag(parser: argparse.ArgumentParser, action: str) -> None:
    parser.add_argument("--version", dest="pin_version", metavar="N",
                        help=f"{action} exactly this version (the one `register` recorded in "
                             ".mlgen/registered-<model>.json); refuse if the alias moved to another one")
    _version_from_flag(parser)


def _version_from_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version-from", metavar="FILE",
                        help="read --version from the record `mlgen registry register` wrote "
                             "(.mlgen/registered-<model>.json); generated jobs pass it")


def _gate_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _command(sub, "gate", "check metrics against gates and a baseline", GATE_HELP, "mlgen.runtime.gate.command")
    _spec_flags(p, "evaluate")
    p.add_argument("--metrics", metavar="FILE", help="metrics JSON (nested keys are addressed as a.b)")
    p.add_argument("--gate", action="append", metavar="METRIC:RULES",
                   help="e.g. auc:min=0.8,max_drop=0.01 or f1:max_drop=2%%; repeatable; replaces the spec's gates")
    p.add_argument("--baseline-file", metavar="FILE", help="baseline metrics JSON (missing file = no baseline yet)")
    p.add_argument("--baseline-registry", metavar="ALIAS", help="use the metrics of the registry version with this alias")
    p.add_argument("--on-missing-baseline", choices=ON_MISSING,
                   help="without a baseline, relative rules are skipped (`absolute`, the default), failed (`fail`) "
                        "or passed (`pass`); min and max always apply")
    p.add_argument("--junit", metavar="PATH", help="JUnit XML report (default: .mlgen/reports/<stage>-gate.xml)")
    p.add_argument("--json", metavar="PATH", help="machine-readable result (default: .mlgen/gate-<stage>.json)")
    p.add_argument("--summary", metavar="PATH", help="append the Markdown summary here (default: $GITHUB_STEP_SUMMARY, if set)")
    bounds = p.add_argument_group("confidence bounds from per-example predictions")
    bounds.add_argument("--predictions", metavar="FILE", help="the challenger's predictions (CSV or Parquet: y_true, "
                                                               "y_score and/or y_pred, optional id and weight)")
    bounds.add_argument("--baseline-predictions", metavar="FILE", help="the champion's predictions on the same examples")
    bounds.add_argument("--rescored-predictions", metavar="FILE",
                        help="the champion's predictions from `mlgen registry rescore`, used when the file exists "
                             "(else the ones stored with the registry's baseline version)")
    bounds.add_argument("--confidence", type=_confidence, default=0.95, metavar="P",
                        help="confidence of each one-sided bound for gates without confidence= (default: 0.95)")
    bounds.add_argument("--resamples", type=_resamples, default=2000, metavar="N", help="bootstrap resamples (default: 2000)")
    bounds.add_argument("--seed-from", metavar="TEXT", help="seed the resampling from this text instead of the commit")
    bounds.add_argument("--on-different-eval-set", choices=("unpaired", "fail"),
                        help="when the champion was scored on other examples: compare unpaired (default) or fail")
    p.add_argument("--accepted", metavar="FILE", help="reviewed accepted-regressions file (see the README)")
    _registry_flags(p)


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number") from None
    if not 0.5 < value < 1:
        raise argparse.ArgumentTypeError(f"`{text}` is not between 0.5 and 1 (e.g. 0.95)")
    return value


def _resamples(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 100_000:
        raise argparse.ArgumentTypeError(f"`{text}` is not a whole number from 100 to 100000")
    return int(text)


def _data_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    group = sub.add_parser("data", help="data validation", description="Data validation commands.",
                           formatter_class=_formatter)
    group_sub = group.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    p = _command(group_sub, "check", "check datasets against a data contract (and drift)", DATA_HELP, "mlgen.runtime.data.command")
    _spec_flags(p, "validate")
    p.add_argument("data", nargs="*", metavar="DATA", help="CSV or Parquet files to check (default: the stage's `data`)")
    p.add_argument("--contract", metavar="FILE", help="the data contract (YAML)")
    p.add_argument("--reference", metavar="FILE", help="reference dataset for drift checks (CSV or Parquet)")
    p.add_argument("--junit", metavar="PATH", help="JUnit XML report (default: .mlgen/reports/<stage>-data.xml)")
    p.add_argument("--json", metavar="PATH", help="machine-readable result (default: .mlgen/data-<stage>.json)")
    p.add_argument("--summary", metavar="PATH",
                   help="append the Markdown summary to PATH instead of $GITHUB_STEP_SUMMARY (which GitHub sets)")


def _registry_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    reg = sub.add_parser("registry", help="model registry", description=REGISTRY_HELP, formatter_class=_formatter)
    reg_sub = reg.add_subparsers(dest="registry_command", metavar="COMMAND", required=True)
    handler = "mlgen.runtime.registry.command"
    p = _command(reg_sub, "register", "register a model directory as a new version", REGISTER_HELP, handler)
    _spec_flags(p, "register")
    p.add_argument("--path", metavar="DIR", help="the model directory (any files)")
    p.add_argument("--alias", metavar="ALIAS", help="alias for the new version (default: challenger)")
    p.add_argument("--gate-results", metavar="FILE", help="gate JSON: its results become tags, its metrics are logged, "
                                                          "and the predictions it was decided on are stored with the version")
    p.add_argument("--metrics", metavar="FILE", help="metrics JSON to log (in addition to the gate results' metrics)")
    _registry_flags(p)
    p = _command(reg_sub, "promote", "move `champion` to the challenger", PROMOTE_HELP, handler)
    _spec_flags(p, "register")
    p.add_argument("--from-alias", metavar="ALIAS", help="the alias to promote (default: challenger)")
    _version_flag(p, "promote")
    _registry_flags(p)
    p = _command(reg_sub, "rollback", "point `champion` back at `previous-champion`", ROLLBACK_HELP, handler)
    _spec_flags(p, "register")
    p.add_argument("--version", dest="pin_version", metavar="N",
                   help="roll back only if this version is the champion")
    _version_from_flag(p)
    _registry_flags(p)
    p = _command(reg_sub, "baseline", "write an alias's metrics as a JSON baseline file", BASELINE_HELP, handler)
    _spec_flags(p, "register")
    p.add_argument("--baseline-alias", "--alias", dest="baseline_alias", metavar="ALIAS", default="champion",
                   help="whose metrics (default: champion)")
    p.add_argument("--out", metavar="FILE", required=True, help="where to write the metrics JSON")
    _registry_flags(p)
    p = _command(reg_sub, "rescore", "score the champion on this evaluation set with the evaluate command",
                 RESCORE_HELP, handler)
    _spec_flags(p, "register")
    p.add_argument("--baseline-alias", "--alias", dest="baseline_alias", metavar="ALIAS", default="champion",
                   help="whose model (default: champion)")
    p.add_argument("--run", metavar="CMD", required=True, help="the evaluate command, run with MLGEN_MODEL_DIR, "
                                                               "MLGEN_PREDICTIONS and MLGEN_METRICS set")
    p.add_argument("--predictions", metavar="FILE", required=True, help="the challenger's predictions on this evaluation set")
    p.add_argument("--metrics", metavar="FILE", help="the challenger's metrics (the second run must not change them)")
    p.add_argument("--out", metavar="FILE", required=True, help="where the champion's predictions go (MLGEN_PREDICTIONS)")
    p.add_argument("--model-dir", metavar="DIR", help="the challenger's model files: identical predictions from other "
                                                      "files mean the command ignored MLGEN_MODEL_DIR")
    _registry_flags(p)
    p = _command(reg_sub, "show", "list aliases and versions", "List a registered model's aliases and versions.", handler)
    _spec_flags(p, "register")
    p.add_argument("--json", action="store_true", help="print the aliases as JSON")
    _registry_flags(p)


def _canary_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    can = sub.add_parser("canary", help="progressive delivery", description=CANARY_HELP, formatter_class=_formatter)
    can_sub = can.add_subparsers(dest="canary_command", metavar="COMMAND", required=True)
    handler = "mlgen.runtime.canary.command"
    p = _command(can_sub, "step", "deploy one traffic weight, bake and check it", STEP_HELP, handler)
    _spec_flags(p, "canary")
    p.add_argument("--weight", type=int, required=True, metavar="PERCENT", help="traffic percentage for the new model")
    p.add_argument("--deploy", metavar="CMD", help="shell command that routes $MLGEN_CANARY_WEIGHT %% of traffic")
    p.add_argument("--bake", metavar="DURATION", help="how long to watch this step (e.g. 10m, 30s, 500ms)")
    p.add_argument("--interval", metavar="DURATION", help="time between checks (default: 30s)")
    p.add_argument("--check", metavar="CMD", help="health check command: exit 0 means healthy")
    p.add_argument("--check-url", metavar="URL", help="HTTP health check: a 2xx answer is healthy")
    p.add_argument("--threshold", action="append", metavar="METRIC:RULES",
                   help="Prometheus metric bound read from --check-url, e.g. http_errors_rate:max=0.05; repeatable")
    p.add_argument("--check-timeout", metavar="DURATION", default="30s", help="longest one check may take (default: 30s)")
    p.add_argument("--failure-limit", type=int, metavar="N",
                   help="failed checks (in total) that fail the step (default: 1, the first fails it)")
    p.add_argument("--promote", action="store_true", help="promote challenger -> champion after this step passes")
    p.add_argument("--from-alias", metavar="ALIAS", help="the alias to promote (default: challenger)")
    _version_flag(p, "with --promote, promote")
    _registry_flags(p, model_help="registered model to promote (with --promote)")
    p = _command(can_sub, "promote", "promote challenger -> champion after the last step", PROMOTE_HELP, handler)
    _spec_flags(p, "canary")
    p.add_argument("--from-alias", metavar="ALIAS", help="the alias to promote (default: challenger)")
    _version_flag(p, "promote")
    _registry_flags(p)
    p = _command(can_sub, "rollback", "run the rollback command and undo this run's promotion", CANARY_ROLLBACK_HELP, handler)
    _spec_flags(p, "canary")
    p.add_argument("--rollback", metavar="CMD", help="shell command that routes all traffic back to the old model")
    p.add_argument("--version", dest="pin_version", metavar="N",
                   help="the version this run rolled out: it is marked failed and its promotion undone")
    _version_from_flag(p)
    _registry_flags(p, model_help="registered model whose champion to check (omit to leave the registry alone)")


def _cache_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    from mlgen.runtime.cache.command import MISS

    cache = sub.add_parser("cache", help="training cache guard", description=CACHE_HELP.format(miss=MISS),
                           formatter_class=_formatter)
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    actions = {"hit": f"exit 0 if the cached outputs can be reused, {MISS} if not",
               "save": "record the key of the current inputs (after training)", "key": "print the key"}
    for action, summary in actions.items():
        p = _command(cache_sub, action, summary, CACHE_HELP.format(miss=MISS), "mlgen.runtime.cache.command")
        p.add_argument("--stage", required=True, metavar="NAME", help="stage name (names the stamp file)")
        p.add_argument("--key", action="append", required=True, metavar="GLOB",
                       help="files whose content forms the key (repeatable; the rule is in README.md)")
        p.add_argument("--path", action="append", required=True, metavar="PATH",
                       help="cached output that must exist for a hit (repeatable)")
        p.add_argument("--salt", default="", metavar="TEXT", help="extra text mixed into the key (the compiler passes "
                                                                  "a hash of the command)")
        p.add_argument("--matrix-env", action="append", default=[], metavar="VAR",
                       help="environment variable naming this matrix leg (repeatable)")


def _report_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    from mlgen.runtime.report import flags  # its flags are defined once, there, beside the command

    p = _command(sub, "report", "write the review report; post it once on the pull/merge request", flags.HELP,
                 "mlgen.runtime.report.command")
    _spec_flags(p, "evaluate")
    flags.add_arguments(p)


def build_parser() -> _Parser:
    parser = _Parser(prog="mlgen", description="mlgen runtime commands (run inside CI jobs).", formatter_class=_formatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    _gate_parser(sub)
    _data_parser(sub)
    _registry_parser(sub)
    _canary_parser(sub)
    _cache_parser(sub)
    _report_parser(sub)
    return parser


def main(argv: list[str]) -> int:
    from mlgen import errhandler

    return errhandler.run(lambda: _dispatch(argv))


def _dispatch(argv: list[str]) -> int:
    try:
        args, extra = build_parser().parse_known_args(argv)
    except SystemExit as exc:  # --help prints, then exits 0
        return int(exc.code or 0)
    if extra:
        _unknown(args.parser, extra)
    module = importlib.import_module(args.handler)
    code: int = module.run(args)
    sys.stdout.flush()
    return code


def _unknown(parser: argparse.ArgumentParser, extra: list[str]) -> None:
    """Name the command the stray argument was given to, and the flag that was probably meant."""
    flags = [o for action in parser._actions for o in action.option_strings]
    first = extra[0].split("=", 1)[0]
    suggestion = did_you_mean(first, flags) if first.startswith("-") else ""
    raise UserError(f"{parser.prog}: unrecognized argument{'s' if len(extra) > 1 else ''} {' '.join(extra)}{suggestion}",
                    hint=f"see `{parser.prog} --help`")
