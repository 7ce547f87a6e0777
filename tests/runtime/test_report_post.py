"""`mlgen report` posting: one comment per pull/merge request, edited in place, never failing the job.

Every request goes to a loopback server (`fakeapi`): the GitHub one validates each request
against GitHub's published OpenAPI description, the GitLab one against the documented Notes API.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgen.runtime.report import post
from tests.runtime.conftest import Result
from tests.runtime.fakeapi import FakeApi, check_github, serve
from tests.runtime.reportcases import scenario

Run = Callable[..., Result]
MARKER = "<!-- mlgen-report:churn:evaluate -->"
# what a CI system may have set around the test run; each test sets exactly what its case needs
PLATFORM_VARIABLES = ("GITLAB_CI", "GITLAB_TOKEN", "CHANGE_ID", "CHANGE_URL", "JENKINS_URL", "MLGEN_REPORT_TOKEN")


@pytest.fixture(autouse=True)
def _workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    scenario("regression")


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeApi]:
    with serve(FakeApi("github")) as api:
        _github_env(monkeypatch, tmp_path, api)
        yield api
    assert api.violations == []


@pytest.fixture
def gitlab(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with serve(FakeApi("gitlab", prefix="/api/v4")) as api:
        for key, value in {"GITLAB_CI": "true", "CI_API_V4_URL": api.api, "CI_PROJECT_ID": "17", "CI_MERGE_REQUEST_IID": "5",
                           "CI_MERGE_REQUEST_PROJECT_ID": "17", "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "17",
                           "MLGEN_REPORT_TOKEN": api.token}.items():
            monkeypatch.setenv(key, value)
        yield api
    assert api.violations == []


def _github_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, api: FakeApi, head: str = "acme/churn") -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12, "base": {"repo": {"full_name": "acme/churn"}},
                                                  "head": {"repo": {"full_name": head}}}}), encoding="utf-8")
    for key, value in {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
                       "GITHUB_REPOSITORY": "acme/churn", "GITHUB_API_URL": api.api, "GITHUB_TOKEN": api.token}.items():
        monkeypatch.setenv(key, value)


def _report(runtime: Run, *extra: str) -> Result:
    done = runtime("report", "--stage", "evaluate", "--pipeline", "churn", "--http-timeout", "2", *extra)
    assert done.code == 0, done
    assert Path(".mlgen/report/report.md").is_file() and Path(".mlgen/report/report.json").is_file()
    return done


def _ours(api: FakeApi) -> list[dict[str, Any]]:
    return [c for c in api.comments if c["body"].startswith(MARKER) and c["by"] == api.me]


def test_github_first_run_posts_and_the_second_edits_the_same_comment(runtime: Run, github: FakeApi) -> None:
    github.seed("LGTM", "a note mentioning <!-- mlgen-report:churn:evaluate --> in the middle")
    first = _report(runtime)
    assert [c.method for c in github.writes()] == ["POST"] and "created the comment" in first.out
    assert github.writes()[0].path == "/repos/acme/churn/issues/12/comments"
    scenario("improvement")  # a new push: the model got better
    second = _report(runtime)
    assert [c.method for c in github.writes()] == ["POST", "PATCH"] and "updated the comment" in second.out
    ours = _ours(github)
    assert len(ours) == 1 and "✅ all 3 gates passed" in ours[0]["body"]
    assert github.writes()[1].path == f"/repos/acme/churn/issues/comments/{ours[0]['id']}"
    assert len(github.comments) == 3  # the reviewers' comments are untouched


@pytest.mark.parametrize(("others", "at"), [(0, None), (99, None), (100, None), (100, 100), (150, 120), (250, 0), (250, 249)])
def test_github_finds_its_comment_on_any_page(runtime: Run, github: FakeApi, others: int, at: int | None) -> None:
    bodies = [f"comment {i}" for i in range(others)]
    split = others if at is None else at
    github.seed(*bodies[:split])
    if at is not None:
        github.seed(MARKER + "\nold report", by=github.me)
    github.seed(*bodies[split:])
    _report(runtime)
    assert [c.method for c in github.writes()] == (["POST"] if at is None else ["PATCH"])
    assert len(_ours(github)) == 1 and "old report" not in _ours(github)[0]["body"]
    pages = [c.query["page"] for c in github.calls if c.method == "GET" and c.path.endswith("/comments")]
    needed = (at // post.PER_PAGE + 1) if at is not None else (others // post.PER_PAGE + 1)
    assert pages == [[str(p)] for p in range(1, needed + 1)]


def test_gitlab_first_run_posts_and_the_second_edits_the_same_note(runtime: Run, gitlab: FakeApi) -> None:
    gitlab.seed(MARKER + " quoted by the system", system=True)  # system notes are never ours
    gitlab.seed(*(f"note {i}" for i in range(130)))
    _report(runtime, "--token-env", "MLGEN_REPORT_TOKEN")
    scenario("improvement")
    second = _report(runtime, "--token-env", "MLGEN_REPORT_TOKEN")
    assert [c.method for c in gitlab.writes()] == ["POST", "PUT"] and "merge request !5" in second.out
    ours = [c for c in _ours(gitlab) if not c["system"]]
    assert len(ours) == 1 and "✅ all 3 gates passed" in ours[0]["body"]
    assert gitlab.writes()[1].path == f"/api/v4/projects/17/merge_requests/5/notes/{ours[0]['id']}"
    assert {c.query["page"][0] for c in gitlab.calls if c.path.endswith("/notes") and c.method == "GET"} == {"1", "2"}


@pytest.mark.parametrize(("kind", "login"), [("github", None), ("github", "mlgen-bot"), ("gitlab", "project_17_bot")])
def test_a_marker_pasted_by_someone_else_is_not_taken_for_ours(runtime: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               kind: str, login: str | None) -> None:
    """Else a reviewer could plant the comment the next runs edit, and later edit the verdict in it."""
    api = FakeApi(kind, login=login, prefix="/api/v4" if kind == "gitlab" else "")
    with serve(api):
        if kind == "github":
            _github_env(monkeypatch, tmp_path, api)
        else:
            for key, value in {"GITLAB_CI": "true", "CI_API_V4_URL": api.api, "CI_PROJECT_ID": "17",
                               "CI_MERGE_REQUEST_IID": "5", "GITLAB_TOKEN": api.token}.items():
                monkeypatch.setenv(key, value)
        api.seed(MARKER + "\n✅ all gates passed (planted)", by="mallory")
        _report(runtime)
        _report(runtime)
    assert api.violations == []
    assert [c.method for c in api.writes()] == ["POST", "PATCH" if kind == "github" else "PUT"]
    assert api.comments[0]["body"].endswith("(planted)") and len(_ours(api)) == 1


def test_gitlab_fork_or_missing_token_posts_nothing(runtime: Run, gitlab: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "99")
    assert "fork project 99" in _report(runtime, "--token-env", "MLGEN_REPORT_TOKEN").out
    monkeypatch.setenv("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "17")
    assert "$GITLAB_TOKEN is empty" in _report(runtime).out  # the default name is not set
    assert gitlab.calls == []


@pytest.mark.parametrize("case", ["fork", "deleted fork", "no token", "push event"])
def test_github_without_a_write_token_falls_back_to_the_summary(runtime: Run, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path, case: str) -> None:
    with serve(FakeApi("github")) as api:
        _github_env(monkeypatch, tmp_path, api, head="someone/churn" if case == "fork" else "acme/churn")
        event = tmp_path / "event.json"
        if case == "deleted fork":
            event.write_text(json.dumps({"pull_request": {"number": 3, "head": {"repo": None},
                                                          "base": {"repo": {"full_name": "acme/churn"}}}}))
        if case == "push event":
            event.write_text(json.dumps({"ref": "refs/heads/main"}))
            monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
        if case == "no token":
            monkeypatch.setenv("GITHUB_TOKEN", "")
        summary = tmp_path / "summary.md"
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
        done = _report(runtime)
    assert api.calls == []
    assert "not posting a comment" in done.out
    assert {"fork": "fork someone/churn", "deleted fork": "fork <deleted fork>", "no token": "$GITHUB_TOKEN is empty",
            "push event": "not a pull request (event `push`)"}[case] in done.out
    assert summary.read_text(encoding="utf-8").startswith(MARKER)


@pytest.mark.parametrize("failure", ["500", "403", "unreachable", "timeout", "not json"])
def test_a_failed_post_is_a_warning_and_exit_0(runtime: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               failure: str) -> None:
    api = FakeApi("github", fail_with={"500": 500, "403": 403}.get(failure), delay=3.0 if failure == "timeout" else 0.0)
    with serve(api):
        _github_env(monkeypatch, tmp_path, api)
        if failure == "unreachable":
            monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{_closed_port()}")
        if failure == "not json":
            monkeypatch.setenv("GITHUB_API_URL", api.url + "/not-json")
            api.fail_with = None
            api.handle = lambda call: (200, {}, "<html>")  # type: ignore[method-assign]
        done = _report(runtime, "--http-timeout", "0.5")
    assert "warning: could not post the report on the pull request acme/churn#12" in done.err
    assert "t0ken" not in done.out + done.err  # the token is never logged
    assert api.writes() == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_redirect_is_not_followed_with_the_token(runtime: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with serve(FakeApi("gitlab")) as elsewhere, serve(FakeApi("github")) as api:
        _github_env(monkeypatch, tmp_path, api)
        api.handle = lambda call: (302, {"Location": elsewhere.url + "/steal"}, {})  # type: ignore[method-assign]
        done = _report(runtime)
    assert elsewhere.calls == [] and "HTTP 302" in done.err


@pytest.mark.parametrize(("change_url", "kind", "path"), [
    ("/acme/churn/pull/5", "github", "/api/v3/repos/acme/churn/issues/5/comments"),
    ("/group/sub/churn/-/merge_requests/8", "gitlab", "/api/v4/projects/group%2Fsub%2Fchurn/merge_requests/8/notes"),
    ("/group/churn/merge_requests/9", "gitlab", "/api/v4/projects/group%2Fchurn/merge_requests/9/notes"),
])
def test_jenkins_change_requests_post_through_the_platform_of_change_url(runtime: Run, monkeypatch: pytest.MonkeyPatch,
                                                                         change_url: str, kind: str, path: str) -> None:
    with serve(FakeApi(kind, prefix="/api/v3" if kind == "github" else "/api/v4")) as api:
        monkeypatch.setenv("JENKINS_URL", "http://jenkins.example/")
        monkeypatch.setenv("CHANGE_ID", change_url.rsplit("/", 1)[1])
        monkeypatch.setenv("CHANGE_URL", api.url + change_url)
        monkeypatch.setenv("MLGEN_REPORT_TOKEN", api.token)
        _report(runtime, "--token-env", "MLGEN_REPORT_TOKEN")
        _report(runtime, "--token-env", "MLGEN_REPORT_TOKEN")
    assert api.violations == []
    assert [c.method for c in api.writes()] == ["POST", "PATCH" if kind == "github" else "PUT"]
    assert api.writes()[0].path == path and len(_ours(api)) == 1


@pytest.mark.parametrize("change_url", ["https://bitbucket.example/projects/P/repos/churn/pull-requests/3",
                                        "https://github.com/acme/churn/issues/5", "ftp://github.com/acme/churn/pull/5"])
def test_jenkins_other_change_urls_write_the_report_and_description_only(runtime: Run, monkeypatch: pytest.MonkeyPatch,
                                                                         change_url: str) -> None:
    monkeypatch.setenv("CHANGE_ID", "3")
    monkeypatch.setenv("CHANGE_URL", change_url)
    monkeypatch.setenv("GITHUB_TOKEN", "x")
    done = _report(runtime)
    assert "not posting a comment" in done.out
    assert Path(".mlgen/report/description.txt").read_text(encoding="utf-8").startswith("mlgen churn/evaluate: ❌ 2 of 3")


# --- the decision alone, from the environment -----------------------------------------------------

DESTINATIONS: list[tuple[str, dict[str, str], str]] = [
    ("none", {"GITHUB_ACTIONS": "true"}, "--post none"),
    ("auto", {}, "not a pull/merge request build"),
    ("github", {}, "--post github: no pull request"),
    ("gitlab", {"GITHUB_ACTIONS": "true"}, "--post gitlab: no merge request"),
    ("auto", {"GITLAB_CI": "true", "GITLAB_TOKEN": "t"}, "not a merge request pipeline"),
    ("auto", {"GITLAB_CI": "true", "CI_MERGE_REQUEST_IID": "4", "CI_PROJECT_ID": "9", "CI_API_V4_URL": "https://gl/api/v4",
              "GITLAB_TOKEN": "t"}, "gitlab https://gl/api/v4 9 4"),
    ("gitlab", {"CHANGE_URL": "https://gl.example/a/b/-/merge_requests/2", "GITLAB_TOKEN": "t"},
     "gitlab https://gl.example/api/v4 a%2Fb 2"),
    ("auto", {"CHANGE_URL": "https://github.com/a/b/pull/7", "GITHUB_TOKEN": "t"}, "github https://api.github.com a/b 7"),
    ("auto", {"CHANGE_URL": "https://ghe.example/a/b/pull/7/", "GITHUB_TOKEN": "t"}, "github https://ghe.example/api/v3 a/b 7"),
    ("gitlab", {"CHANGE_URL": "https://github.com/a/b/pull/7", "GITHUB_TOKEN": "t"}, "not a GitHub pull request or GitLab"),
    ("auto", {"CHANGE_URL": "https://github.com/a/b/pull/7"}, "$GITHUB_TOKEN is empty"),
]


@pytest.mark.parametrize(("mode", "env", "expected"), DESTINATIONS)
def test_destination(tmp_path: Path, mode: str, env: dict[str, str], expected: str) -> None:
    found = post.destination(mode, env, None)
    if isinstance(found, post.NoPost):
        assert expected in found.reason
    else:
        assert f"{found.kind} {found.api} {found.project} {found.number}" == expected


def test_the_fake_github_refuses_what_github_would() -> None:
    """The validator is not a rubber stamp: wrong paths, bodies and parameters are caught."""
    good = check_github("PATCH", "/repos/a/b/issues/comments/5", {}, {"body": "x"})
    assert good == []
    assert check_github("PATCH", "/repos/a/b/issues/5/comments", {}, {"body": "x"})  # no such operation
    assert check_github("POST", "/repos/a/b/issues/5/comments", {}, {"text": "x"})  # `body` is required
    assert check_github("POST", "/repos/a/b/issues/5/comments", {}, {"body": 5})
    assert check_github("GET", "/repos/a/b/issues/5/comments", {"per_page": ["all"]}, None)  # an integer
    assert check_github("GET", "/repos/a/b/issues/5/comments", {"sort": ["asc"]}, None)  # not a parameter here
