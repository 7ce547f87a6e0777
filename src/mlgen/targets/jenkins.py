"""Jenkins: a declarative Jenkinsfile, built as a tree of blocks and lines and printed by a template.

The plan becomes a `Block` tree (`jenkins_tree`); the template prints it recursively, so braces
balance and indentation follows nesting by construction. Every text enters the tree once, as a
`Groovy` literal made by `mlgen.targets.escape` (`lit`, `block`, `sh`, `ident`); the template refuses
anything else. A stage's overridable face lives in `jenkins_overrides`; the compiler patches it.

How to extend the tree (each is one function here, then a snapshot update in its own commit):
- a stage option: add a `Line` to the list `_options` returns (e.g. `Line(Groovy("skipDefaultCheckout()"))`);
  `nonempty` drops the `options { }` block when the list is empty. Other stage directives
  (`tools`, ...) go in the list `_directives` returns.
- a `when` condition: return one more `Groovy` condition from `_when`; several conditions in
  one `when { }` must all hold (use `anyOf { ...; ... }` for "one of").
- a post condition: add the condition's mlgen steps to `own` in `_post` (POST_CONDITIONS fixes
  the order, which is the order Jenkins runs them in).
- a wrapper step: wrap the node in a `Block`, e.g. `Block(call("timeout", ...), [node])`, as
  `_retry` and `_with_secrets` do; the children are indented and closed by the template.
- an overridable key: a field on `jenkins_overrides.View` with a hint, read from the view here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgen.compile.overrides import Refused
from mlgen.compile.plan import LEG_SEPARATOR
from mlgen.spec import values
from mlgen.targets import cacheguard, jenkins_describe
from mlgen.targets._common import installs_with_cache_guard
from mlgen.targets.escape import groovy_single
from mlgen.targets.install import UV_CACHE_JENKINS, install_line, project_setup
from mlgen.targets.jenkins_env import VENV_ENV, docker_image, venv
from mlgen.targets.jenkins_notes import notes as notes  # the Target protocol reads it here
from mlgen.targets.jenkins_overrides import POST_CONDITIONS, PostCondition, View, check, face
from mlgen.targets.jenkins_tree import Block, Groovy, Line, Node, block, call, ident, lit, nonempty, render
from mlgen.targets.jenkins_tree import check_tree as check_tree

if TYPE_CHECKING:
    from mlgen.compile.plan import Artifact, Command, Job, Plan, When
    from mlgen.spec.models import Target as Settings

NAME = "jenkins"
TITLE = "Jenkins"
PIP_CACHE = "~/.cache/mlgen-pip"

# `sh` runs /bin/sh (dash on Debian agents) with -xe unless the script starts with a shebang, which
# Jenkins then runs with that interpreter. GitHub (`shell: bash`) and GitLab run bash with errexit
# and pipefail; the same shell and the same failure semantics here keep the targets in agreement.
# A shebang passes at most one argument, so pipefail is set on the next line.
SHELL_PREAMBLE = "#!/bin/bash -xe\nset -o pipefail\n"


def sh(script: str) -> Groovy:
    """A script for the `sh` step, run by bash with errexit and pipefail like on the other targets,
    with the stage's venv first on PATH."""
    return block(SHELL_PREAMBLE + VENV_ENV + script)


def jobs(plan: Plan, settings: Settings) -> dict[str, dict[str, Any]]:
    """The overridable face of each stage, by job id. Rollbacks are `post` steps, not stages."""
    return {job.id: face(job, settings) for job in plan.jobs if job.kind != "rollback"}


def emit_checked(plan: Plan, settings: Settings, faces: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The Jenkinsfile for the plan and the (patched) faces; raises `Refused` for faces that do not hold."""
    views, misfits = check(faces, settings.overrides)
    if misfits:
        raise Refused(misfits)
    root = _pipeline(plan, views, docker_image(plan, settings))
    text = render(root)
    return text, check_tree(root) + validate(text)


def validate(text: str) -> list[str]:
    """The frame of the text: one `pipeline { }` block that opens the file and ends it, then one newline."""
    if text.startswith("pipeline {\n") and text.endswith("\n}\n"):
        return []
    return ["the file must be one top-level `pipeline { }` block, ending in one newline"]


def _pipeline(plan: Plan, views: dict[str, View], image: str | None) -> Block:
    # pip's download cache per agent, outside the workspaces (cleaning one keeps it); pip expands `~`.
    cache = [] if "PIP_CACHE_DIR" in dict(plan.env) else [("PIP_CACHE_DIR", PIP_CACHE)]
    return Block(Groovy("pipeline")).add(
        Line(Groovy("agent none")),
        Block(Groovy("options"), [Line(Groovy("buildDiscarder(logRotator(numToKeepStr: '30'))")),
                                  Line(Groovy("disableConcurrentBuilds()"))]),
        nonempty("triggers", _cron(plan)),
        _environment([*cache, *plan.env]),
        Block(Groovy("stages"), _stages(plan, views, image)),
    )


def _cron(plan: Plan) -> list[Node]:
    """The schedule, on the default branch only and in UTC, as on GitHub (GitLab: its schedule's ref).

    A multibranch job gives every branch and pull request its own job, each reading the same
    Jenkinsfile: without the branch test each would retrain on schedule. An empty spec schedules
    nothing. `TZ=` on the first line sets the time zone (otherwise the controller's).
    """
    if not plan.triggers.schedule:
        return []
    spec = lit("TZ=UTC\n" + values.numeric_cron(plan.triggers.schedule))
    return [Line(call("cron", Groovy(f"env.BRANCH_NAME == {groovy_single(plan.default_branch)} ? {spec} : ''")))]


def _stages(plan: Plan, views: dict[str, View], image: str | None) -> list[Node]:
    rollbacks = {job.needs[0]: job for job in plan.jobs if job.kind == "rollback"}
    # The report is the evaluate stage's `post { always }`: a failed gate stops the stages.
    reports = {job.needs[0]: job for job in plan.jobs if job.report is not None}
    out: list[Node | _Rollout] = []
    rollout: _Rollout | None = None  # the rollout being laid out: one stage under one lock
    after = _upstream(plan)
    for job in plan.jobs:
        if job.kind == "rollback" or job.report is not None:
            continue  # the `post { unsuccessful }` of its step, or the `post { always }` of its evaluate stage
        if rollout is not None and rollout.stepped and job.kind != "canary":
            rollout = None  # the rollout is over
        if rollout is None and job.lock and job.kind in ("register", "canary"):
            rollout = _Rollout(job, _when(job.when, plan))
            out.append(rollout)
        own = _when(job.when, plan)
        inside = rollout is not None and (job.kind in ("register", "canary") or rollout.first in after[job.id])
        stage = _stage(job, plan, views[job.id], (rollbacks.get(job.id), reports.get(job.id)),
                       [] if inside and rollout and own == rollout.when else own, image)
        if rollout is None or not inside:
            # independent of the rollout: it runs before it, under its own condition
            out.insert(out.index(rollout), stage) if rollout is not None else out.append(stage)
            continue
        rollout.add(job, stage, plan)
    return [node.block() if isinstance(node, _Rollout) else node for node in out]


def _upstream(plan: Plan) -> dict[str, set[str]]:
    """job id -> every job it waits for, directly or not."""
    out: dict[str, set[str]] = {}
    for job in plan.jobs:  # in plan order: a job's needs come before it
        out[job.id] = set(job.needs).union(*(out.get(n, set()) for n in job.needs))
    return out


class _Rollout:
    """The stage that holds a whole rollout, register to the last step, under the rollout's lock.

    `when { beforeOptions true }` decides before the lock is taken, so builds of other branches
    never wait for it; the register job's branches are the widest (the steps need it).
    """

    def __init__(self, first: Job, when: list[Groovy]) -> None:
        self.first, self.when, self.lock = first.id, when, first.lock or ""
        self.name, self.stepped = first.stage, False
        self.children: list[Node] = []

    def add(self, job: Job, stage: Block, plan: Plan) -> None:
        if job.kind == "canary" and not self.stepped:
            self.stepped = True
            self.name = job.stage  # named after the canary, as before register joined it
        if job.approval:
            self.children.append(_approval(job, plan))
        self.children.append(stage)

    def block(self) -> Block:
        return Block(call("stage", lit(self.name))).add(
            _when_block(self.when, before_options=True),
            Block(Groovy("options"), [Line(call("lock", lit(self.lock)))]),
            Block(Groovy("stages"), self.children))


# How long a rollout waits for its approval (24 h), then the build ends ABORTED and the lock is freed.
APPROVAL_TIMEOUT_MINUTES = 24 * 60


def _approval(job: Job, plan: Plan) -> Block:
    """The approval as a stage of its own before the first step, with its own timeout.

    Jenkins enters a stage's `options { timeout }` before its `input`, so in the step's stage a
    slow approval would eat the step's time and abort it mid-bake. Here the step's timeout starts
    only when the step does. No agent: waiting for a person holds no executor.
    """
    assert job.approval, job.id
    return Block(call("stage", lit(f"{job.stage} approval"))).add(
        _when_block(_when(job.when, plan), before_input=True),
        Block(Groovy("options"), [Line(_timeout(APPROVAL_TIMEOUT_MINUTES))]),
        _input(job.approval, job.submitter),
        Block(Groovy("steps"), [_line("echo", lit(f"Approved: {job.approval}"))]),
    )


def _stage(job: Job, plan: Plan, view: View, after: tuple[Job | None, Job | None], when: list[Groovy],
           image: str | None) -> Block:
    steps = _steps(job, plan, view)
    stage = Block(call("stage", lit(job.title)))
    if job.matrix:
        inner = Block(Groovy("stages"), [Block(call("stage", lit(job.title)), [Block(Groovy("steps"), steps)])])
        stage.add(Block(Groovy("matrix")).add(_axes(job), *_directives(job, view, when, image), inner))
    else:
        stage.add(*_directives(job, view, when, image), Block(Groovy("steps"), _within_step_timeout(job, view, steps)))
    return stage.add(_post(job, plan, view, *after))


def _directives(job: Job, view: View, when: list[Groovy], image: str | None) -> list[Node | None]:
    """The stage's agent, when, options, environment and input, in that order."""
    # A canary step's approval is its approval stage's (`_Rollout.add`); `when` is what the
    # rollout stage around it does not already decide.
    approval = None if job.kind == "canary" else job.approval
    return [
        _agent(view.agent, image),
        _when_block(when, before_input=bool(approval)),
        nonempty("options", _options(job, view)),
        _environment(list((view.environment or {}).items())),
        _input(approval, job.submitter) if approval else None,
    ]


def _options(job: Job, view: View) -> list[Node]:
    # A canary step's timeout is not a stage option: see `_within_step_timeout`.
    return [Line(_timeout(view.minutes))] if view.minutes and job.kind != "canary" else []


def _within_step_timeout(job: Job, view: View, steps: list[Node]) -> list[Node]:
    # A canary step's timeout wraps its steps only: its `post` (the rollback) must still run
    # after the timeout fired, and never inherits an expired deadline.
    return [Block(_timeout(view.minutes), steps)] if view.minutes and job.kind == "canary" else steps


def _steps(job: Job, plan: Plan, view: View) -> list[Node]:
    # `retries` repeats set-up and the user's own commands (a `retry` step around each), never
    # mlgen's decisions and writes (gate, data check, register, canary).
    attempts = view.retries + 1 if view.retries else None
    steps: list[Node] = [_line("unstash", lit(name)) for art in job.downloads for name in art.leg_names]
    prepare = _prepare(job, plan)
    if prepare:
        steps.append(_retry(attempts, _line("sh", sh(prepare))))
    for command in job.commands:
        script = command.script
        if command.skip_on_cache_hit and job.cache is not None:
            script = cacheguard.guard(script, job, project_setup(plan.setup, plan.installer, "python"))
        node = _with_secrets(_bindings(command), _line("sh", sh(script)))
        steps.append(_retry(attempts if command.retryable else None, node))
    if job.upload:
        # A train stage's training records travel with its outputs: the report reads them in evaluate's `post`.
        records = job.report_inputs.paths if job.report_inputs and job.kind == "train" else ()
        includes = lit(",".join(_ant(p) for p in dict.fromkeys([*job.upload.paths, *records])))
        steps.append(Line(Groovy(f"stash name: {_stash_expr(job.upload)}, includes: {includes}")))
        steps.append(Line(Groovy(f"archiveArtifacts artifacts: {includes}, fingerprint: true")))
    if job.describes:
        steps.append(jenkins_describe.append(job.describes))
    return steps


def _post(job: Job, plan: Plan, view: View, rollback: Job | None, report: Job | None) -> Block | None:
    own: dict[PostCondition, list[Node]] = {}
    if job.junit:
        own["always"] = [Line(Groovy(f"junit testResults: {lit(job.junit)}, allowEmptyResults: true"))]
    if report is not None:
        own.setdefault("always", []).extend(_report(report, plan))
    if rollback is not None:
        # A step's rollback is that step's `post { unsuccessful }`, on the step's own agent.
        own["unsuccessful"] = _rollback(rollback, plan)
    conditions = [nonempty(c, [*own.get(c, []), *(_line("sh", sh(s)) for s in view.post_steps(c))])
                  for c in POST_CONDITIONS]
    return nonempty("post", [c for c in conditions if c is not None])


def _report(job: Job, plan: Plan) -> list[Node]:
    """Post on change requests with the spec's credential, if it names one; always archive the
    report and make its one-line summary the build's description."""
    from mlgen.compile import reportjob

    assert job.report is not None, job.id
    prepare = _prepare(job, plan)
    plain = _line("sh", sh(prepare + "\n" + reportjob.script(plan, job, post="none")))
    credential = job.report.jenkins_credential
    steps: list[Node] = [plain]
    if credential:
        token = reportjob.script(plan, job, token_env=reportjob.TOKEN_ENV)
        bound = Block(Groovy(f"withCredentials([string(credentialsId: {lit(credential)}, variable: {lit(reportjob.TOKEN_ENV)})])"),
                      [_line("sh", sh(prepare + "\n" + token))])
        # A comment that cannot be posted (no such credential) never fails the build.
        fallback: list[Node] = [_line("echo", lit(f"mlgen: no comment posted with credential {credential}; the report is archived")), plain]
        attempt = Block(Groovy("try"), [bound], then=Block(Groovy("catch (err)"), fallback))
        steps = [Block(Groovy("script"), [Block(Groovy("if (env.CHANGE_ID)"), [attempt], then=Block(Groovy("else"), [plain]))])]
    description = lit(reportjob.DESCRIPTION_FILE)
    return [*steps,
            Line(Groovy(f"archiveArtifacts artifacts: {lit(reportjob.REPORT_DIR + '/**')}, allowEmptyArchive: true")),
            Block(Groovy("script"), [Block(Groovy(f"if (fileExists({description}))"),
                                           [Line(Groovy(f"currentBuild.description = readFile({description}).trim()"))])])]


def _rollback(job: Job, plan: Plan) -> list[Node]:
    prepare = _prepare(job, plan)
    # retried: a flaky package index must not stop a rollback (the command never repeats)
    steps: list[Node] = [_retry(job.retries + 1 if job.retries else None, _line("sh", sh(prepare)))] if prepare else []
    return steps + [_with_secrets(_bindings(c), _line("sh", sh(c.script))) for c in job.commands]


def _prepare(job: Job, plan: Plan) -> str:
    """The stage's venv, then mlgen and the project's set-up installed into it."""
    lines = venv(plan.python)
    installs = installs_with_cache_guard(job)
    # Inside the stage's venv the interpreter is `python` (the venv's), never the agent's.
    setup = cacheguard.setup_outside_guard(job, project_setup(plan.setup, plan.installer, "python")) if job.needs_project_setup else None
    if (installs or setup) and plan.installer == "uv":
        lines.append(f'export UV_CACHE_DIR="${{UV_CACHE_DIR:-{UV_CACHE_JENKINS}}}" UV_LINK_MODE="${{UV_LINK_MODE:-copy}}"')
    lines.extend(install_line(i, plan.installer, "python") for i in installs)
    if setup:
        lines.append(setup)
    return "\n".join(lines)


# -- small nodes ---------------------------------------------------------------------------------

def _line(keyword: str, argument: Groovy) -> Line:
    """`keyword argument`: the keyword is mlgen's own Groovy, the argument an escaped literal."""
    return Line(Groovy(f"{keyword} {argument}"))


def _agent(label: str | None, image: str | None) -> Node:
    """The stage's agent: by label, or any; with `agent: docker`, the image on an agent with that label."""
    labels: list[Node] = [_line("label", lit(label))] if label else []
    if image is not None:
        return Block(Groovy("agent"), [Block(Groovy("docker"), [_line("image", lit(image)), *labels])])
    return Block(Groovy("agent"), labels) if labels else Line(Groovy("agent any"))


def _timeout(minutes: int) -> Groovy:
    return Groovy(f"timeout(time: {int(minutes)}, unit: 'MINUTES')")


def _environment(variables: list[tuple[str, str]]) -> Block | None:
    return nonempty("environment", [Line(Groovy(f"{ident(k)} = {lit(v)}")) for k, v in variables])


def _input(message: str, submitter: str | None) -> Block:
    # `submitter`: the user IDs and group names Jenkins lets answer (anyone with Build otherwise).
    return Block(Groovy("input"), [_line("message", lit(message)), _line("ok", lit("Deploy")),
                                   *([_line("submitter", lit(submitter))] if submitter else [])])


def _axes(job: Job) -> Block:
    return Block(Groovy("axes"), [
        Block(Groovy("axis"), [_line("name", lit(k)), _line("values", Groovy(", ".join(lit(v) for v in vals)))])
        for k, vals in job.matrix])


def _retry(attempts: int | None, node: Node) -> Node:
    return Block(call("retry", attempts), [node]) if attempts else node


def _bindings(command: Command) -> list[tuple[str, str]]:
    """(credential ID, variable) pairs for `withCredentials`: a plain secret is bound under its own
    name, a role credential under the variable its client reads."""
    role = [(command.credential[1], command.credential[0])] if command.credential else []
    return [(s, s) for s in command.secrets] + role


def _with_secrets(bindings: list[tuple[str, str]], node: Node) -> Node:
    if not bindings:
        return node
    text = ", ".join(f"string(credentialsId: {lit(secret)}, variable: {lit(variable)})" for secret, variable in bindings)
    return Block(Groovy(f"withCredentials([{text}])"), [node])


def _when(when: When, plan: Plan) -> list[Groovy]:
    if not when.branch_only:
        return []
    branches = list(dict.fromkeys([*when.branches, *([plan.default_branch] if when.default_branch else [])]))
    conditions = [Groovy(f"branch {groovy_single(b)}") for b in branches]
    if len(conditions) == 1:
        return conditions
    return [Groovy("anyOf { " + "; ".join(conditions) + " }")]


def _when_block(conditions: list[Groovy], before_input: bool = False, before_options: bool = False) -> Block | None:
    # `beforeAgent true` decides the condition before the stage takes an agent, so a build that
    # skips the stage (a pull request) never waits for an executor just to skip; `beforeOptions
    # true` before its options take a lock; `beforeInput true` before its input asks anyone anything.
    if not conditions:
        return None
    first = ["beforeAgent true", *(["beforeOptions true"] if before_options else []),
             *(["beforeInput true"] if before_input else [])]
    return Block(Groovy("when"), [*(Line(Groovy(f)) for f in first), *(Line(c) for c in conditions)])


def _stash_expr(artifact: Artifact) -> Groovy:
    if not artifact.matrix_keys:
        return lit(artifact.name)
    # Matrix axis values are validated to [A-Za-z0-9_.-], so interpolating them is safe.
    return Groovy('"' + LEG_SEPARATOR.join([artifact.name, *(f"${{env.{k}}}" for k in artifact.matrix_keys)]) + '"')


def _ant(path: str) -> str:
    return path.rstrip("/") + "/**" if path.endswith("/") else path
