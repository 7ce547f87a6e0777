"""mlgen spec: one description of your ML pipeline, compiled to GitHub Actions, GitLab CI and
Jenkins by `mlgen compile pipeline.py`. Commit this file and the generated configs; `mlgen check
pipeline.py` (the pre-commit hook) fails when they drift apart. The same settings as the YAML
starter (`mlgen init mlgen.yaml`); reference: the "Spec reference" in mlgen's README.

mlgen runs this file in a separate Python process and takes the `Pipeline` named `pipeline`.
Keep it to building that object: prints go to stderr, and `sys.exit` is an error.
"""

from mlgen import (
    Baseline, Cache, CanaryStage, Defaults, EvaluateStage, Gate, Pipeline, RegisterStage, TrainStage, Triggers,
    ValidateStage,
)

pipeline = Pipeline(
    name="my-model",  # lowercase letters, digits, - and _
    triggers=Triggers(
        push=["main"],  # branches whose pushes run the pipeline
        pull_request=True,  # PRs run validate, train and evaluate only
        # schedule="17 3 * * 1",  # retrain weekly (cron, UTC)
        manual=True,
    ),
    defaults=Defaults(
        python="3.11",
        setup="python -m pip install -r requirements.txt",
        timeout="30m",
        train_timeout="2h",  # cost guardrail for training jobs
        branch="main",  # register and canary run only here by default
    ),
    env={"MLFLOW_TRACKING_URI": "https://mlflow.example.com"},
    secrets=["MLFLOW_TRACKING_TOKEN"],  # CI secrets / CI/CD variables / Jenkins credentials IDs
    stages=[
        ValidateStage(name="validate", kind="validate",  # a failure stops everything downstream
                      contract="contracts/train.yaml", data=["data/train.csv"]),
        TrainStage(name="train", kind="train", run="python -m my_model.train --out model/",
                   outputs=["model/"],  # handed to later stages as artifacts
                   cache=Cache(key=["data/**", "src/**", "params.yaml"])),  # unchanged inputs: reuse the model
        EvaluateStage(name="evaluate", kind="evaluate", run="python -m my_model.evaluate --model model/ --out metrics.json",
                      metrics="metrics.json",
                      gates={"accuracy": Gate(min=0.85),
                             "auc": Gate(min=0.80, max_drop=0.01)},  # at most 0.01 below the production model
                      baseline=Baseline(registry="champion")),  # or Baseline(file="baseline/metrics.json")
        RegisterStage(name="register", kind="register",  # only on the default branch, after the gates pass
                      registry="mlflow", model="my-model", path="model/"),
        CanaryStage(name="canary", kind="canary",  # one job per traffic step, behind an approval
                    environment="production", deploy='./deploy.sh --weight "$MLGEN_CANARY_WEIGHT"',
                    steps=[10, 50, 100], bake="10m", check="./healthcheck.sh", rollback="./deploy.sh --rollback"),
    ],
    # targets=Targets(github=Target(path=".github/workflows/mlgen.yml"), gitlab=Target(path=".gitlab-ci.yml"),
    #                 jenkins=Target(path="Jenkinsfile")),  # default: all three at their usual paths
)
