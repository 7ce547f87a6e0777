"""Posting the report on the pull/merge request: one comment, found again by its marker and edited.

GitHub: the REST API's issue comments (a pull request is an issue there). GitLab: the merge
request Notes API. Jenkins builds of a change request post through whichever of the two its
`CHANGE_URL` points at. `destination` decides from the environment alone (pure); `publish` does
the HTTP, with stdlib urllib, bounded timeouts and no redirects (a token never follows one).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["github", "gitlab"]
DEFAULT_TOKEN_ENV: dict[Kind, str] = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}
PER_PAGE = 100  # the most either API returns per page
MAX_PAGES = 100  # 10,000 comments: past that, post a new one rather than list forever
GITHUB_API_VERSION = "2022-11-28"

_GITHUB_PR = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pull/(?P<number>\d+)/?$")
_GITLAB_MR = re.compile(r"^/(?P<project>.+?)(?:/-)?/merge_requests/(?P<number>\d+)/?$")


@dataclass(frozen=True)
class Destination:
    kind: Kind
    api: str  # API base URL without a trailing slash
    token: str
    project: str  # GitHub owner/repo; GitLab project ID or URL-encoded path
    number: str  # pull request number or merge request IID
    token_env: str

    def describe(self) -> str:
        return (f"pull request {self.project}#{self.number}" if self.kind == "github"
                else f"merge request !{self.number} of project {urllib.parse.unquote(self.project)}")


@dataclass(frozen=True)
class NoPost:
    """Why nothing is posted (said in the log; the report still goes to the summary and files)."""

    reason: str


class PostError(Exception):
    """The API could not be reached or refused the request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def destination(mode: str, env: Mapping[str, str], token_env: str | None) -> Destination | NoPost:
    if mode == "none":
        return NoPost("--post none: not posting")
    if (mode in ("auto", "github") and env.get("GITHUB_ACTIONS") == "true") or (mode == "github" and env.get("GITHUB_EVENT_PATH")):
        return _github_actions(env, token_env)
    if (mode in ("auto", "gitlab") and env.get("GITLAB_CI") == "true") or (mode == "gitlab" and env.get("CI_API_V4_URL")):
        return _gitlab_ci(env, token_env)
    if env.get("CHANGE_URL"):
        return _change_request(mode, env, token_env)
    if mode == "auto":
        return NoPost("not a pull/merge request build (no GitHub Actions, GitLab CI or Jenkins CHANGE_URL found)")
    return NoPost(f"--post {mode}: no {'pull' if mode == 'github' else 'merge'} request found in the environment")


def _token(env: Mapping[str, str], kind: Kind, token_env: str | None) -> tuple[str, str]:
    name = token_env or DEFAULT_TOKEN_ENV[kind]
    return name, env.get(name, "").strip()


def _github_actions(env: Mapping[str, str], token_env: str | None) -> Destination | NoPost:
    event = _event(env.get("GITHUB_EVENT_PATH", ""))
    pr = event.get("pull_request")
    if not isinstance(pr, dict) or not pr.get("number"):
        return NoPost(f"not a pull request (event `{env.get('GITHUB_EVENT_NAME', '?')}`): the report is in the job summary")
    base = _repo_name(pr.get("base")) or env.get("GITHUB_REPOSITORY", "")
    head = _repo_name(pr.get("head"))
    if head and base and head != base:
        return NoPost(f"pull request from the fork {head}: its token cannot write to {base}, so no comment is posted "
                      "(the report is in the job summary and the artifact)")
    name, token = _token(env, "github", token_env)
    if not token:
        return NoPost(f"${name} is empty: no comment is posted (give the report job `pull-requests: write` "
                      f"and pass the token as {name})")
    return Destination("github", env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"), token, base,
                       str(pr["number"]), name)


def _event(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _repo_name(ref: Any) -> str:
    repo = ref.get("repo") if isinstance(ref, dict) else None
    # a deleted fork has `repo: null`: it is not the base repository either
    return str(repo.get("full_name") or "") if isinstance(repo, dict) else ("<deleted fork>" if isinstance(ref, dict) else "")


def _gitlab_ci(env: Mapping[str, str], token_env: str | None) -> Destination | NoPost:
    iid = env.get("CI_MERGE_REQUEST_IID")
    if not iid:
        return NoPost("not a merge request pipeline (no CI_MERGE_REQUEST_IID): the report is in the job artifacts")
    project = env.get("CI_MERGE_REQUEST_PROJECT_ID") or env.get("CI_PROJECT_ID", "")
    source = env.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID")
    if source and source != project:
        return NoPost(f"merge request from the fork project {source}: no write token, so no note is posted "
                      "(the report is in the job artifacts)")
    name, token = _token(env, "gitlab", token_env)
    if not token:
        return NoPost(f"${name} is empty: no note is posted (store a project access token with the `api` scope "
                      f"as a masked CI/CD variable named {name}; CI_JOB_TOKEN cannot write notes)")
    return Destination("gitlab", env.get("CI_API_V4_URL", "").rstrip("/"), token, project, iid, name)


def _change_request(mode: str, env: Mapping[str, str], token_env: str | None) -> Destination | NoPost:
    """A Jenkins build of a pull/merge request: CHANGE_URL names the platform and the request."""
    url = urllib.parse.urlsplit(env["CHANGE_URL"])
    origin = f"{url.scheme}://{url.netloc}"
    github, gitlab = _GITHUB_PR.match(url.path), _GITLAB_MR.match(url.path)
    kind: Kind
    if github and mode in ("auto", "github"):
        kind = "github"
        default_api = "https://api.github.com" if url.netloc == "github.com" else f"{origin}/api/v3"  # Enterprise Server
        api, project, number = env.get("GITHUB_API_URL") or default_api, f"{github['owner']}/{github['repo']}", github["number"]
    elif gitlab and mode in ("auto", "gitlab"):
        kind = "gitlab"
        api = env.get("CI_API_V4_URL") or f"{origin}/api/v4"
        project, number = urllib.parse.quote(gitlab["project"], safe=""), gitlab["number"]
    else:
        return NoPost(f"CHANGE_URL {env['CHANGE_URL']} is not a GitHub pull request or GitLab merge request: "
                      "the report is archived and set as the build description")
    if url.scheme not in ("http", "https"):
        return NoPost(f"CHANGE_URL {env['CHANGE_URL']} is not an http(s) URL: not posting")
    name, token = _token(env, kind, token_env)
    if not token:
        return NoPost(f"${name} is empty: no comment is posted (bind a Jenkins credential to {name}, "
                      "e.g. with withCredentials)")
    return Destination(kind, api.rstrip("/"), token, project, number, name)


# --- HTTP ------------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then raises HTTPError: a token is never sent to another address


Send = Callable[[str, str, Mapping[str, Any] | None], tuple[Any, Mapping[str, str]]]


def _sender(dest: Destination, timeout: float) -> Send:
    opener = urllib.request.build_opener(_NoRedirect)
    if dest.kind == "github":
        auth = {"Authorization": f"Bearer {dest.token}", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": GITHUB_API_VERSION}
    else:
        auth = {"PRIVATE-TOKEN": dest.token, "Accept": "application/json"}

    def send(method: str, url: str, body: Mapping[str, Any] | None) -> tuple[Any, Mapping[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        headers = {**auth, "User-Agent": "mlgen-report", **({"Content-Type": "application/json"} if data else {})}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with opener.open(request, timeout=timeout) as response:
                text = response.read().decode("utf-8")
                return (json.loads(text) if text.strip() else None), dict(response.headers)
        except urllib.error.HTTPError as exc:
            raise PostError(f"{method} {_path(url)}: HTTP {exc.code} {exc.reason}", exc.code) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PostError(f"{method} {_path(url)}: {reason}") from None
        except ValueError as exc:  # a body that is not JSON
            raise PostError(f"{method} {_path(url)}: the answer is not JSON ({exc})") from None

    return send


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def publish(dest: Destination, marker: str, body: str, *, timeout: float = 10.0, send: Send | None = None) -> str:
    """Edit the comment that starts with `marker`, or add one. Returns "updated" or "created"."""
    send = send or _sender(dest, timeout)
    if dest.api.split("://", 1)[0] not in ("http", "https"):
        raise PostError(f"the API address `{dest.api}` is not an http(s) URL")
    author = _author(send, dest)
    if dest.kind == "github":
        thread = f"{dest.api}/repos/{dest.project}/issues/{dest.number}/comments"
        existing = _find(send, thread, marker, (dest.kind, author), "")
        if existing is not None:
            send("PATCH", f"{dest.api}/repos/{dest.project}/issues/comments/{existing}", {"body": body})
            return "updated"
    else:
        thread = f"{dest.api}/projects/{dest.project}/merge_requests/{dest.number}/notes"
        existing = _find(send, thread, marker, (dest.kind, author), "&sort=asc&order_by=created_at")
        if existing is not None:
            send("PUT", f"{thread}/{existing}", {"body": body})
            return "updated"
    send("POST", thread, {"body": body})
    return "created"


ACTIONS_BOT = "github-actions[bot]"  # the author of what GITHUB_TOKEN writes


def _author(send: Send, dest: Destination) -> str | None:
    """Who the token writes as. Anyone can paste the marker into a comment of their own, and a
    comment its author can still edit must not carry the verdict: only our own counts."""
    try:
        me, _ = send("GET", f"{dest.api}/user", None)
    except PostError as exc:
        if dest.kind == "github" and exc.status == 403:
            return ACTIONS_BOT  # an Actions token (a GitHub App installation) may not read /user
        raise
    key = "login" if dest.kind == "github" else "username"
    return str(me[key]) if isinstance(me, dict) and me.get(key) else None


def _written_by(item: Mapping[str, Any], kind: Kind) -> str:
    who = item.get("user" if kind == "github" else "author")
    return str(who.get("login" if kind == "github" else "username") or "") if isinstance(who, dict) else ""


def _find(send: Send, thread: str, marker: str, by: tuple[Kind, str | None], order: str) -> str | None:
    """The id of the first comment by the author whose body starts with the marker, over every page."""
    kind, author = by
    for page in range(1, MAX_PAGES + 1):
        items, headers = send("GET", f"{thread}?per_page={PER_PAGE}&page={page}{order}", None)
        if not isinstance(items, list):
            raise PostError(f"GET {_path(thread)}: expected a list of comments")
        for item in items:
            if not isinstance(item, dict) or item.get("system") or (author and _written_by(item, kind) != author):
                continue
            if str(item.get("body") or "").lstrip().startswith(marker):
                return str(item["id"])
        if len(items) < PER_PAGE or _last_page(headers):
            return None
    return None


def _last_page(headers: Mapping[str, str]) -> bool:
    """True when the answer says no page follows (GitHub: no `rel="next"` link; GitLab: empty X-Next-Page)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "link" in lowered:
        return 'rel="next"' not in lowered["link"]
    if "x-next-page" in lowered:
        return not lowered["x-next-page"].strip()
    return False
