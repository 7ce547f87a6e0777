"""What a Jenkins user must know about the generated Jenkinsfile (`mlgen describe`): where core Jenkins differs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlgen.targets.jenkins_env import VENV

if TYPE_CHECKING:
    from mlgen.compile.plan import Plan


def notes(plan: Plan) -> list[str]:
    out = [f"python: each stage makes its own venv ({VENV} in its workspace) with the agent's `python{plan.python}`; "
           "nothing is installed into the agent's system Python."]
    if any(j.cache for j in plan.jobs):
        out.append("cache: core Jenkins has no cache; the agent workspace keeps outputs between builds and "
                   "`mlgen cache hit` reuses them when the content hash of the key files is unchanged.")
    out.append("triggers: pushes and pull requests reach Jenkins through the multibranch job's branch sources; "
               f"build `{', '.join(plan.triggers.push)}` and, if wanted, pull requests there.")
    if plan.secrets or any(j.secrets for j in plan.jobs):
        out.append("secrets: create Secret text credentials with the same IDs; `withCredentials` binds them only around "
                   "the `sh` steps that need them, and the registry write credential only in default-branch stages.")
    if plan.triggers.schedule:
        out.append(f"schedule: only the `{plan.default_branch}` branch's job is scheduled, in UTC (`TZ=UTC`).")
    reports = [j.report for j in plan.jobs if j.report]
    if reports:
        credential = reports[0].jenkins_credential
        post = (f"comments on change requests with credential `{credential}`" if credential else
                "set `report.jenkins_credential` to comment on change requests")
        out.append(f"report: written in the evaluate stage's `post {{ always }}`, archived and made the build description; "
                   f"{post}. A build stopped before evaluate has no report; training records travel with the train stash, and "
                   "the data check's results appear when validate ran in the same workspace.")
    return out
