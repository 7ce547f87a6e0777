"""The review report: one job after each evaluate stage, and the script every target runs in it.

The job runs after its evaluate stage whatever the gate decided (a failed gate is what a reviewer
must see), reads the results the earlier jobs hand on even when they failed, writes the report
under `.mlgen/report/` and comments on the pull/merge request. The pipeline graph it shows is
written into the config at compile time, so the job runs neither the spec nor the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgen.compile import calls as runtime
from mlgen.compile.ir import LEG_SEPARATOR, REPORTS_DIR, Artifact, Command, Job
from mlgen.layout import REGISTERED_REPORT, TRAINING_RECORDS
from mlgen.spec.conditions import When
from mlgen.spec.models import duration_minutes

if TYPE_CHECKING:
    from mlgen.compile.ir import Plan
    from mlgen.spec.graph import Graph
    from mlgen.spec.models import Pipeline

REPORT_DIR = ".mlgen/report"
GRAPH_FILE = f"{REPORT_DIR}/pipeline.mmd"
DESCRIPTION_FILE = f"{REPORT_DIR}/description.txt"
# Jenkins binds the spec's credential to this variable; GitLab's token keeps the spec's own name.
TOKEN_ENV = "MLGEN_REPORT_TOKEN"
REGISTERED_DESCRIPTION = REGISTERED_REPORT[2]  # the one-line text
GRAPH_END = "MLGEN_GRAPH"  # heredoc delimiter: no line of a Mermaid graph from `graphviews` can equal it


@dataclass(frozen=True)
class ReportSettings:
    """What a target needs to post the report: the evaluate stage and the spec's token names."""

    evaluate: str
    gitlab_token: str
    jenkins_credential: str | None


def inputs_of(stage: Any) -> tuple[str, ...]:
    """Files a stage writes for the report; the targets hand them on even when the stage failed."""
    if stage.kind == "evaluate":
        return (runtime.gate_results(stage.name), f"{REPORTS_DIR}/{stage.name}-gate.xml", stage.metrics)
    if stage.kind == "validate" and stage.contract:
        return (runtime.data_results(stage.name), f"{REPORTS_DIR}/{stage.name}-data.xml")
    if stage.kind == "train" and stage.cache is not None:
        return (f"{TRAINING_RECORDS}/",)  # `mlgen cache hit` records a hit or a miss per leg there
    return ()


def inputs_artifact(stage: Any, job: Job) -> Artifact | None:
    # The leg separator cannot occur in a stage name, so this name never meets a stage's artifact.
    files = inputs_of(stage)
    return Artifact(f"{stage.name}{LEG_SEPARATOR}report-inputs", files, job.id, job.matrix) if files else None


class Inputs:
    """What stages hand on for the report, kept as a bitset over spec positions so that finding
    what one evaluate stage reads (its own and its ancestors') costs what it reads, not all stages."""

    def __init__(self, graph: Graph) -> None:
        pipeline = graph.pipeline
        self.graph, self.by_position, self.mask = graph, dict[int, Artifact](), 0
        self.wanted = pipeline.report.enabled and any(s.kind == "evaluate" for s in pipeline.stages)

    def __bool__(self) -> bool:
        return self.wanted

    def add(self, stage: str, artifact: Artifact) -> None:
        position = self.graph.position[stage]
        self.by_position[position] = artifact
        # Another evaluate stage's results belong in that stage's own report.
        if self.graph.stages[stage].kind != "evaluate":
            self.mask |= 1 << position

    def read_by(self, stage: str) -> tuple[Artifact, ...]:
        """The data checks and training records above evaluate stage `stage`, and its own results."""
        mask = self.graph.ancestor_mask(stage) & self.mask | 1 << self.graph.position[stage]
        out = []
        while mask:
            low = mask & -mask
            out.append(self.by_position[low.bit_length() - 1])
            mask ^= low
        return tuple(out)


def job(stage: Any, evaluate: Job, inputs: tuple[Artifact, ...], pipeline: Pipeline, install: str) -> Job:
    """The report job of evaluate stage `stage`, whose job is `evaluate`."""
    runner = pipeline.defaults.runner  # a light job: never the evaluate stage's (maybe GPU) runner
    job_id = f"{stage.name}-report"
    settings = ReportSettings(stage.name, pipeline.report.gitlab_token, pipeline.report.jenkins_credential)
    return Job(
        id=job_id, stage=stage.name, kind="report", title=f"{stage.name} report", needs=(evaluate.id,),
        runner=tuple([runner] if isinstance(runner, str) else runner or ()),
        timeout_minutes=duration_minutes(pipeline.defaults.timeout), retries=pipeline.defaults.retries,
        commands=(Command("report", runtime.report(stage.name, GRAPH_FILE, pipeline.name), runs_project_code=False),),
        install=install, downloads=inputs, when=When(despite_failure=True), report=settings,
        upload=Artifact(f"{stage.name}{LEG_SEPARATOR}report", (REPORT_DIR + "/",), job_id),
    )


def script(plan: Plan, job: Job, *, token_env: str | None = None, post: str | None = None) -> str:
    """The report step: write the pipeline graph, then `mlgen report` (`post` None: the runtime decides)."""
    from mlgen.compile import graphviews

    assert job.report is not None, job.id
    graph = graphviews.mermaid(plan, around=job.id).rstrip("\n")
    assert GRAPH_END not in graph.split("\n"), "the graph would end its own heredoc"
    return "\n".join([
        f"mkdir -p {REPORT_DIR}",
        f"cat > {GRAPH_FILE} <<'{GRAPH_END}'", graph, GRAPH_END,
        runtime.report(job.report.evaluate, GRAPH_FILE, plan.name, token_env=token_env, post=post),
    ])


def registered_command(evaluate: str, pipeline: str, model: str) -> Command:
    """The register job's last command: link the version it registered (it runs no project code)."""
    return Command("report the registered version", runtime.report_registered(evaluate, pipeline, model), runs_project_code=False)


def with_registered(upload: Artifact | None, stage: str) -> Artifact:
    """The register job's artifact, with the registry part of the report beside its record."""
    paths = (*(upload.paths if upload else ()), *REGISTERED_REPORT)
    return Artifact(stage, tuple(dict.fromkeys(paths)), stage) if upload is None else \
        Artifact(upload.name, tuple(dict.fromkeys(paths)), upload.producer, upload.matrix)
