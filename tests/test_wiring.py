"""What moves between jobs and where they run: `needs`, `stages[].inputs` and `targets.<t>.runners`.

For every job, each target's output is read back into "which jobs' outputs does it receive" (the
artifacts it downloads, the needs it takes artifacts from, the stashes it unstashes) and "which
runner labels does it ask for"; both must equal what the spec says, on all three targets.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest

from mlgen.drift import header
from mlgen.targets import yamlout
from mlgen.targets.install import install_line
from tests.support import compile_dict, flat_github, gitlab_doc


def received_github(gh: dict[str, Any]) -> dict[str, set[str]]:
    uploads: dict[str, str] = {}  # artifact name (matrix part as `*`) -> job
    for job_id, job in gh["jobs"].items():
        for step in job["steps"]:
            if "upload-artifact" in step.get("uses", ""):
                uploads[re.sub(r"\$\{\{[^}]*\}\}", "*", step["with"]["name"])] = job_id
    out: dict[str, set[str]] = {}
    for job_id, job in gh["jobs"].items():
        got = set()
        for step in job["steps"]:
            if "download-artifact" in step.get("uses", ""):
                wanted = step["with"].get("name") or step["with"]["pattern"]
                got |= {producer for name, producer in uploads.items()
                        if fnmatch.fnmatchcase(name.replace("*", "x"), wanted) or name == wanted}
        out[job_id] = got
    return out


def received_gitlab(gl: dict[str, Any]) -> dict[str, set[str]]:
    jobs = {k: v for k, v in gl.items() if isinstance(v, dict) and "script" in v}
    producers = {k for k, v in jobs.items() if v.get("artifacts", {}).get("paths")}
    return {k: {_producer(n) for n in v.get("needs", []) if _producer(n) in producers} for k, v in jobs.items()}


def _producer(need: dict[str, Any]) -> str | None:
    """The job whose files a need brings: a child job's `needs:pipeline:job` always downloads
    (a matrix leg, `train: [gb]`, stands for its job), a plain need when `artifacts` is true."""
    if "pipeline" in need:
        return str(need["job"]).split(": [", 1)[0] if need.get("artifacts", True) else None
    return str(need["job"]) if need["artifacts"] else None


def received_jenkins(jf: str) -> dict[str, set[str]]:
    stashes: dict[str, str] = {}
    unstashes: dict[str, set[str]] = {}
    stage = None
    for line in jf.splitlines():
        match = re.match(r"\s*stage\('([^']*)'\)", line)
        if match:
            stage = match.group(1)
            unstashes.setdefault(stage, set())
        stash = re.search(r"""stash name: ['"]([^'"]*)['"]""", line)
        if stash and stage:
            stashes[re.sub(r"\$\{[^}]*\}", "*", stash.group(1))] = stage
        unstash = re.search(r"unstash '([^']*)'", line)
        if unstash and stage:
            unstashes[stage].add(unstash.group(1))
    return {s: {p for name, p in stashes.items() for u in names if fnmatch.fnmatchcase(u, name)} for s, names in unstashes.items()}


# Graph shapes: (stages, {job: producers whose outputs it must receive}).
STAGES_INPUTS = [
    {"name": "prep", "kind": "validate", "run": "true", "outputs": ["data/"]},
    {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"], "matrix": {"m": ["a", "b"]}},
    {"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}, "inputs": ["prep"]},
]
STAGES_FAR_INPUT = [
    {"name": "fetch", "kind": "validate", "run": "true", "outputs": ["raw/"]},
    {"name": "clean", "kind": "validate", "run": "true"},
    {"name": "fit", "kind": "train", "run": "true", "outputs": ["model/"]},
    {"name": "score", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}},
     "inputs": ["fetch"]},
]
STAGES_NO_INPUTS = [
    {"name": "prep", "kind": "validate", "run": "true", "outputs": ["data/"]},
    {"name": "fit", "kind": "train", "run": "true", "outputs": ["model/"], "needs": ["prep"]},
    {"name": "other", "kind": "train", "run": "true", "needs": ["prep"]},
    {"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}},
     "needs": ["fit", "other"]},
]
GRAPHS = {
    "inputs beside needs": (STAGES_INPUTS, {"prep": set(), "train": {"prep"}, "evaluate": {"train", "prep"}}),
    "input three stages up": (STAGES_FAR_INPUT, {"fetch": set(), "clean": {"fetch"}, "fit": set(), "score": {"fit", "fetch"}}),
    "needs only": (STAGES_NO_INPUTS, {"prep": set(), "fit": {"prep"}, "other": {"prep"}, "evaluate": {"fit"}}),
}


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_each_job_receives_the_outputs_of_its_needs_and_inputs(graph: str, tmp_path: Path) -> None:
    stages, expected = GRAPHS[graph]
    outputs = compile_dict({"version": 1, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "name": "wiring", "stages": stages}, tmp_path)
    gh = received_github(flat_github(outputs))
    gl = received_gitlab(gitlab_doc(outputs))
    jf = received_jenkins(header.body(outputs["jenkins"]))
    for job, producers in expected.items():
        assert gh[job] == producers, f"github: {job} receives {gh[job]}"
        assert gl[job] == producers, f"gitlab: {job} receives {gl[job]}"
        assert jf[job] == producers, f"jenkins: {job} receives {jf[job]}"


RUNNERS = {
    "github": {"gpu": ["linux", "a100"], "cpu": ["ubuntu-22.04"], "mixed": ["ubuntu-22.04", "fast-disk"]},
    "gitlab": {"gpu": ["nvidia"], "cpu": ["shared"], "mixed": ["shared", "ssd"]},
    "jenkins": {"gpu": ["cuda", "big"], "cpu": ["small"], "mixed": ["small", "ssd"]},
}
# spec label(s) -> what each target must ask for
RUNNER_CASES = {
    "gpu": {"github": ["self-hosted", "linux", "a100"], "gitlab": ["nvidia"], "jenkins": "cuda && big"},
    "cpu": {"github": "ubuntu-22.04", "gitlab": ["shared"], "jenkins": "small"},
    "unmapped": {"github": ["self-hosted", "unmapped"], "gitlab": ["unmapped"], "jenkins": "unmapped"},
    # one custom label among hosted ones: only a self-hosted runner can carry it
    "mixed": {"github": ["self-hosted", "ubuntu-22.04", "fast-disk"], "gitlab": ["shared", "ssd"], "jenkins": "small && ssd"},
}


@pytest.mark.parametrize("label", sorted(RUNNER_CASES))
def test_runner_labels_are_mapped_per_target(label: str, tmp_path: Path) -> None:
    targets = {t: {"path": p, "runners": RUNNERS[t]} for t, p in
               (("github", ".github/workflows/mlgen.yml"), ("gitlab", ".gitlab-ci.yml"), ("jenkins", "Jenkinsfile"))}
    spec = {"version": 1, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "name": "wiring", "targets": targets,
            "stages": [{"name": "validate", "kind": "validate", "run": "true", "runner": label},
                       {"name": "train", "kind": "train", "run": "true"}]}
    outputs = compile_dict(spec, tmp_path)
    expected = RUNNER_CASES[label]
    gh = yamlout.load(outputs["github"])
    assert gh["jobs"]["validate"]["runs-on"] == expected["github"]
    assert gh["jobs"]["train"]["runs-on"] == "ubuntu-latest", "a stage without a runner keeps the default"
    gl = gitlab_doc(outputs)
    assert gl["validate"]["tags"] == expected["gitlab"]
    assert "tags" not in gl["train"]
    jf = header.body(outputs["jenkins"])
    validate = jf[jf.index("stage('validate')"):jf.index("stage('train')")]
    assert re.findall(r"label '([^']*)'", validate) == [expected["jenkins"]]
    train = jf[jf.index("stage('train')"):]
    assert "label '" not in train.split("steps {")[0]


# register: its model comes from the nearest stage whose outputs hold `path`, however many outputs
# that stage has; its gate results from the nearest evaluate stage above it.
REGISTER_GRAPHS = {
    "evaluate right above": ([
        {"name": "fit", "kind": "train", "run": "true", "outputs": ["reports/", "model/"]},
        {"name": "check", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}},
        {"name": "reg", "kind": "register", "model": "m", "path": "model/"}], "fit", "check"),
    "evaluate two up": ([
        {"name": "fit", "kind": "train", "run": "true", "outputs": ["model/", "plots/"]},
        {"name": "score", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}},
        {"name": "pack", "kind": "train", "run": "true", "outputs": ["bundle/"]},
        {"name": "reg", "kind": "register", "model": "m", "path": "model/"}], "fit", "score"),
    "no evaluate": ([
        {"name": "fit", "kind": "train", "run": "true", "outputs": ["a/", "b/", "model/"]},
        {"name": "reg", "kind": "register", "model": "m", "path": "model/"}], "fit", None),
}


# Found while writing this test: register reads `.mlgen/gate-score.json` but does not receive the
# artifact of `score` (it needs `pack`; only the model's producer is added). Not fixed here (src/).
REGISTER_BUGS: dict[str, str] = {}  # "evaluate two up" was one: register now also receives that stage's artifact


@pytest.mark.parametrize("graph", [pytest.param(g, marks=pytest.mark.xfail(strict=True, reason=REGISTER_BUGS[g]))
                                   if g in REGISTER_BUGS else g for g in sorted(REGISTER_GRAPHS)])
def test_register_gets_its_model_and_gate_results_from_the_right_stages(graph: str, tmp_path: Path) -> None:
    import shlex

    stages, producer, evaluate = REGISTER_GRAPHS[graph]
    outputs = compile_dict({"version": 1, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "name": "wiring", "stages": stages}, tmp_path)
    gl = gitlab_doc(outputs)
    assert producer in received_gitlab(gl)["reg"]
    assert producer in received_github(flat_github(outputs))["reg"]
    assert producer in received_jenkins(header.body(outputs["jenkins"]))["reg"]
    words = shlex.split(next(line for line in gl["reg"]["script"] if line.startswith("mlgen registry register")))
    if evaluate is None:
        assert "--gate-results" not in words
    else:
        gate_file = words[words.index("--gate-results") + 1]
        assert gate_file == f".mlgen/gate-{evaluate}.json"
        assert gate_file in gl[evaluate]["artifacts"]["paths"], "the evaluate stage ships the file register reads"
        assert evaluate in received_gitlab(gl)["reg"]


# What a job is given: a secret only where a command needs the registry, and mlgen's MLflow extra
# only where the registry is MLflow. (baseline of evaluate, registry of register) -> expectation.
GIVEN_CASES = {
    "evaluate, file baseline": ({"file": "baseline.json"}, "command", False, False),
    "evaluate, no baseline": (None, "command", False, False),
    # the gate runs on pull requests: declared secrets never reach it (`credentials.read` does)
    "evaluate, registry baseline": ({"registry": "champion"}, "mlflow", False, True),
    "register, command registry": (None, "command", None, False),
    "register, mlflow registry": (None, "mlflow", None, True),
}


@pytest.mark.parametrize("case", sorted(GIVEN_CASES))
def test_secrets_and_extras_only_where_the_registry_is_used(case: str, tmp_path: Path) -> None:
    baseline, registry, evaluate_secret, mlflow_extra = GIVEN_CASES[case]
    evaluate: dict[str, Any] = {"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}}
    if baseline is not None:
        evaluate["baseline"] = baseline
    register: dict[str, Any] = {"name": "register", "kind": "register", "model": "m", "path": "model/", "registry": registry}
    if registry == "command":
        register["command"] = {"register": "true", "baseline": "echo {}"}
    spec = {"version": 1, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "name": "given", "secrets": ["REG_TOKEN"],
            "stages": [{"name": "train", "kind": "train", "run": "true", "outputs": ["model/"]}, evaluate, register]}
    gl = gitlab_doc(compile_dict(spec, tmp_path))
    gh = yamlout.load(compile_dict(spec, tmp_path / "again")["github"])
    job = "evaluate" if case.startswith("evaluate") else "register"
    secret_steps = [s for s in gh["jobs"][job]["steps"] if "REG_TOKEN" in s.get("env", {})]
    if job == "evaluate":
        assert bool(secret_steps) is evaluate_secret, secret_steps
    else:
        assert secret_steps, "register always gets the pipeline's secrets"
    installs = " ".join(gl[job].get("before_script", []))
    assert ("mlgen-ci[mlflow]==" in installs) is mlflow_extra, installs
    assert "mlgen-ci" in installs


@pytest.mark.parametrize(("defaults", "train", "other"), [({}, 120, 30), ({"timeout": "10m", "train_timeout": "3h"}, 180, 10)])
def test_default_timeouts_per_stage_kind(defaults: dict[str, str], train: int, other: int, tmp_path: Path) -> None:
    spec = {"version": 1, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "name": "timeouts", "defaults": defaults,
            "stages": [{"name": "check", "kind": "validate", "run": "true"}, {"name": "fit", "kind": "train", "run": "true"}]}
    outputs = compile_dict(spec, tmp_path)
    gh, gl = yamlout.load(outputs["github"]), gitlab_doc(outputs)
    jf = header.body(outputs["jenkins"])
    for job, minutes in (("check", other), ("fit", train)):
        assert gh["jobs"][job]["timeout-minutes"] == minutes
        assert gl[job]["timeout"] == f"{minutes} minutes"
        body = jf[jf.index(f"stage('{job}')"):]
        assert re.search(r"timeout\(time: (\d+), unit: 'MINUTES'\)", body).group(1) == str(minutes)  # type: ignore[union-attr]


@pytest.mark.parametrize(("registry", "extra"), [("command", ""), ("mlflow", "[mlflow]")])
def test_canary_installs_the_mlflow_extra_only_for_mlflow(registry: str, extra: str, tmp_path: Path) -> None:
    register: dict[str, Any] = {"name": "register", "kind": "register", "model": "m", "path": "model/", "registry": registry}
    if registry == "command":
        register["command"] = {"register": "true", "promote": "true", "rollback": "true"}
    spec = {"version": 1, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "name": "extras", "stages": [
        {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"]}, register,
        {"name": "canary", "kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "steps": [50, 100]}]}
    gl = gitlab_doc(compile_dict(spec, tmp_path))
    assert [line for line in gl["canary-100"]["before_script"] if "mlgen-ci" in line] == [install_line(f"mlgen-ci{extra}==0.1.0", "pip")]
    installs = [line for line in gl["canary-50-rollback"]["before_script"] if "mlgen-ci" in line]  # retried there
    assert len(installs) == 1 and f"mlgen-ci{extra}==0.1.0" in installs[0] and "[mlflow]" not in installs[0].replace(extra, "")


def test_only_the_first_canary_step_receives_the_outputs_before_it(tmp_path: Path) -> None:
    spec = {"version": 1, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "name": "steps", "stages": [
        {"name": "build", "kind": "train", "run": "true", "outputs": ["site/"]},
        {"name": "canary", "kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "steps": [10, 50, 100],
         "approval": False}]}
    outputs = compile_dict(spec, tmp_path)
    gh = received_github(flat_github(outputs))
    gl = received_gitlab(gitlab_doc(outputs))
    jf = received_jenkins(header.body(outputs["jenkins"]))
    for weight, expected in ((10, {"build"}), (50, set()), (100, set())):
        assert gh[f"canary-{weight}"] == expected and gl[f"canary-{weight}"] == expected, weight
        assert jf[f"canary {weight}%"] == expected, weight


def test_jenkins_checks_the_python_version_wherever_it_prepares_a_stage(tmp_path: Path) -> None:
    spec = {"version": 1, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "name": "py", "defaults": {"python": "3.12", "setup": "make deps"},
            "stages": [{"name": "check", "kind": "validate", "run": "true"}]}
    jf = header.body(compile_dict(spec, tmp_path)["jenkins"])
    stage = jf[jf.index("stage('check')"):]
    # the stage's venv, made by the spec's Python, comes before the set-up that installs into it
    assert 'python3.12 -m venv --clear "$VIRTUAL_ENV"' in stage and "make deps" in stage
    assert stage.index("python3.12 -m venv") < stage.index("make deps")
