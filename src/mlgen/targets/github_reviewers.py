"""GitHub: the approval job fails closed when its environment has no required reviewers.

A job that references an environment waits for the environment's protection rules, and with no
required reviewers configured there is nothing to wait for: the rollout would start unapproved.
The approval job cannot see its own protection rules, so it asks the REST API
(`GET /repos/{owner}/{repo}/environments/{name}`, readable with `actions: read`) and fails unless
a `required_reviewers` rule with at least one reviewer is there. Any doubt (an error, an
unexpected answer) fails the job too. The check runs with the runner's `python3` and its standard
library only: no checkout, no install, no project code.
"""

from __future__ import annotations

# Read by the check; set on the step, so the script text holds no value of the spec.
ENVIRONMENT_VARIABLE = "MLGEN_APPROVAL_ENVIRONMENT"
# The permission the endpoint needs for the job's GITHUB_TOKEN on private repositories.
PERMISSIONS = {"actions": "read"}

_CHECK = '''\
python3 - <<'PY'
import json, os, sys, urllib.error, urllib.parse, urllib.request

name = os.environ["MLGEN_APPROVAL_ENVIRONMENT"]
url = "{}/repos/{}/environments/{}".format(
    os.environ["GITHUB_API_URL"], os.environ["GITHUB_REPOSITORY"], urllib.parse.quote(name, safe=""))
request = urllib.request.Request(url, headers={
    "Accept": "application/vnd.github+json",
    "Authorization": "Bearer " + os.environ["GITHUB_TOKEN"],
    "X-GitHub-Api-Version": "2022-11-28",
})
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        rules = json.load(response).get("protection_rules")
except (OSError, ValueError, AttributeError) as error:
    sys.exit("mlgen: cannot read the protection rules of environment '%s' (%s); "
             "refusing to deploy without a confirmed reviewer" % (name, error))
if not isinstance(rules, list):
    rules = []
reviewed = [r for r in rules if isinstance(r, dict) and r.get("type") == "required_reviewers" and r.get("reviewers")]
if not reviewed:
    sys.exit("mlgen: environment '%s' has no required reviewers, so nobody approved this rollout. "
             "Add reviewers under Settings > Environments > %s, or set `approval: false` in the spec "
             "(where your plan offers no required reviewers)." % (name, name))
print("mlgen: environment '%s' requires a reviewer's approval" % name)
PY'''


def check_step(environment: str) -> dict[str, object]:
    """The approval job's first step: fail unless `environment` has required reviewers."""
    return {
        "name": "Check that the environment requires a reviewer",
        "run": _CHECK,
        "env": {ENVIRONMENT_VARIABLE: environment, "GITHUB_TOKEN": "${{ github.token }}"},
    }
