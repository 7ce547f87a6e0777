"""The churn pipeline of examples/churn, built in Python instead of YAML.

`mlgen compile pipeline.py` generates the same configs as `mlgen compile` on
examples/churn/mlgen.yaml: everything below the header is byte-identical.
"""

from mlgen import (
    Approval, Baseline, Cache, CanaryStage, Credentials, Defaults, EvaluateStage, Gate, Pipeline, RegisterStage, Target, Targets,
    TrainStage, Triggers, ValidateStage,
)

pipeline = Pipeline(
    name="churn",
    triggers=Triggers(push=["main"], pull_request=True, schedule="17 3 * * 1", manual=True),
    defaults=Defaults(python="3.11", setup="python -m pip install -r requirements.txt", requirements=["requirements.txt"],
                      timeout="30m"),
    env={"MLFLOW_TRACKING_URI": "https://mlflow.example.com"},
    credentials=Credentials(read="MLFLOW_READ_TOKEN", write="MLFLOW_TRACKING_TOKEN"),
    stages=[
        ValidateStage(name="validate", kind="validate", contract="contracts/train.yaml",
                      data=["data/train.csv"], reference="data/reference.csv"),
        TrainStage(name="train", kind="train", run='python -m churn.train --out "model/$MODEL"', outputs=["model/"],
                   cache=Cache(key=["data/**", "churn/**", "params.yaml"]), runner="gpu", timeout="2h",
                   matrix={"model": ["gb", "logreg"]}),
        EvaluateStage(name="evaluate", kind="evaluate", run="python -m churn.evaluate --model model/ --out metrics.json",
                      metrics="metrics.json",
                      gates={"accuracy": Gate(min=0.7), "auc": Gate(min=0.75, max_drop=0.01), "latency_ms": Gate(max=250)},
                      baseline=Baseline(registry="champion")),
        RegisterStage(name="register", kind="register", registry="mlflow", model="churn", path="model/",
                      alias="challenger", branches=["main"]),
        CanaryStage(name="canary", kind="canary", environment="production", approval=Approval(submitter="ml-leads"),
                    deploy='./deploy.sh --weight "$MLGEN_CANARY_WEIGHT"', steps=[10, 50, 100], bake="10m",
                    check="./healthcheck.sh", rollback="./deploy.sh --rollback"),
    ],
    targets=Targets(github=Target(path=".github/workflows/mlgen.yml"), gitlab=Target(path=".gitlab-ci.yml"),
                    jenkins=Target(path="Jenkinsfile")),
)
