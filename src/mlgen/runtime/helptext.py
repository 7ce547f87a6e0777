"""The long `--help` descriptions of the runtime commands (their flags are in `cli`)."""

GATE_HELP = """\
Check a metrics file against performance gates. Exit 1 if any gate fails.

Rules per metric: min, max (absolute), max_drop, max_rise (vs the baseline; a number is in the
metric's units, "2%" is relative to the baseline). A missing, non-numeric or non-finite metric
fails its gate. Without a baseline (the first model), --on-missing-baseline decides what the
relative rules give; min and max apply in every case.

Writes a table to stdout, JUnit XML (--junit), a JSON result (--json) that `mlgen registry
register --gate-results` attaches to the model version, and Markdown to $GITHUB_STEP_SUMMARY.

examples:
  mlgen gate --spec mlgen.yaml --stage evaluate
  mlgen gate --metrics metrics.json --gate accuracy:min=0.85 --gate auc:min=0.8,max_drop=0.01 \\
             --gate latency_ms:max=50 --baseline-file baseline/metrics.json
  mlgen gate --metrics metrics.json --gate auc:max_drop=1% --baseline-registry champion --model churn
"""

DATA_HELP = """\
Check CSV or Parquet datasets against a data contract: columns, dtypes, nullability, ranges,
allowed values, patterns, uniqueness, row counts; and drift (PSI and/or KS) against a reference
dataset. Names every failing column and check with a few offending rows. Exit 1 on failure.

examples:
  mlgen data check --spec mlgen.yaml --stage validate
  mlgen data check --contract contracts/train.yaml data/train.csv --reference data/reference.csv

contract (YAML; every key and the CSV reading rules: README.md, "Data contracts"):
  description: Churn training data.
  rows: {min: 1000, max: 1000000}
  strict: true                  # a column not listed below fails
  columns:                      # dtype: int, float, str, bool, datetime or category
    zip: {dtype: str, pattern: "[0-9]{5}", nullable: false, required: true, unique: false}
    tenure: {dtype: int, min: 0, max: 120}
    plan: {dtype: category, allowed: [basic, pro]}
  drift: {columns: [tenure, plan], bins: 10, psi: {max: 0.2}, ks: {max_statistic: 0.1, min_pvalue: 0.01}}
"""

REGISTRY_HELP = """\
Model registry commands. MLflow (MLFLOW_TRACKING_URI) or your own command templates (--registry
command). Aliases: `challenger` (registered, gated), `champion` (serving), `previous-champion`.
"""

REGISTER_HELP = """\
Log the model directory as artifacts of an MLflow run, create a model version and set its alias
(default: challenger). The version is tagged with the commit (GITHUB_SHA / CI_COMMIT_SHA /
GIT_COMMIT), the pipeline URL and the gate results; the metrics are logged so that this version
can later serve as a gate's baseline. Refuses gate results that failed.

examples:
  mlgen registry register --model churn --path model/ --gate-results .mlgen/gate-evaluate.json
  mlgen registry register --registry command --model churn --path model/ \\
      --register-command 'my-registry push {model} {path} --tag {alias}'
"""

PROMOTE_HELP = """\
Promote: `champion` moves to the version holding the challenger alias; the old champion keeps
the alias `previous-champion`. A version whose canary failed is refused. Running it again after
a failure (same CI run) finishes what the failed attempt began.
"""

ROLLBACK_HELP = """\
Roll back: `champion` moves back to the version holding `previous-champion`.
"""

BASELINE_HELP = """\
Write the metrics of the version holding an alias (default: champion) as JSON, for
`mlgen gate --baseline-file`. With no such version yet, nothing is written (and an old file at
--out is removed), which the gate reports as "no baseline".
"""

RESCORE_HELP = """\
Score the champion on this run's evaluation set, for a paired gate. When the champion's stored
predictions were made on the same examples, nothing runs. Otherwise its model files are fetched
and the evaluate command (--run) runs again with MLGEN_MODEL_DIR (the champion's files),
MLGEN_PREDICTIONS (--out) and MLGEN_METRICS set; it fails when the command changed the
challenger's files, wrote nothing, or read other examples. With no champion yet, nothing runs.
"""

CANARY_HELP = """\
Progressive delivery driven by CI: set a traffic weight, bake while checking health, promote in
the registry after the last step, roll back on failure.
"""

STEP_HELP = """\
Check every argument, run the deploy command with MLGEN_CANARY_WEIGHT exported, then check
health every --interval until --bake has passed; stop at the first bad check, or at the Nth with
--failure-limit N (bad checks in total), with exit 1. Health: --check CMD (exit 0 is healthy)
and/or --check-url URL (2xx is healthy; with --threshold, the body is read as Prometheus text
format and each listed metric must be present and within bounds).

examples:
  mlgen canary step --spec mlgen.yaml --stage canary --weight 10
  mlgen canary step --weight 50 --deploy './deploy.sh --weight "$MLGEN_CANARY_WEIGHT"' --bake 10m \\
      --interval 30s --check-url http://127.0.0.1:8765/metrics --threshold http_errors_rate:max=0.05
"""

CACHE_HELP = """\
Reuse training outputs when the content of the cache key files is unchanged. Generated GitLab
and Jenkins jobs call it, as their caches cannot key on file contents. `hit` exits 0 on a hit,
{miss} on a miss, and 1 (with "error:") on a bad flag or an unreadable key file.
"""

CANARY_ROLLBACK_HELP = """\
Run the rollback command (all traffic back to the old model). Then, with --model, this run's
version (the challenger it registered, or --version N) is marked failed (tag mlgen.canary=failed,
alias `canary-failed`) so that no later promote takes it, and if this run promoted it, even
half-way, the champion and previous-champion are put back. Another run's champion is left
unchanged. Exit 1 if the rollback command failed.
"""
