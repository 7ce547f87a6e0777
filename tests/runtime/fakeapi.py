"""Loopback stand-ins for the GitHub REST API and the GitLab Notes API, for `mlgen report` tests.

The GitHub one checks every request against GitHub's published OpenAPI description (npm package
`@octokit/openapi`, pinned in package-lock.json): the method and path must be an operation there,
each query parameter one the operation declares (and valid for its schema), and the JSON body
valid for the operation's requestBody schema. The GitLab one checks the documented Notes API
paths, methods, the PRIVATE-TOKEN header and the body attributes. A request that breaks a rule
is answered 400 and recorded in `violations`, which every test asserts to be empty.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
# GitLab Notes API (https://docs.gitlab.com/api/notes/#merge-requests): the attributes each call takes
GITLAB_BODY_ATTRIBUTES = {"POST": {"body", "created_at", "internal", "merge_request_diff_head_sha"}, "PUT": {"body"}}


@functools.cache
def openapi() -> dict[str, Any]:
    if not OPENAPI.is_file():
        import pytest

        pytest.fail(f"{OPENAPI} is missing: run `npm ci` (package-lock.json pins @octokit/openapi)")
    return dict(json.loads(OPENAPI.read_text(encoding="utf-8")))


@functools.cache
def _operations() -> list[tuple[re.Pattern[str], str, str]]:
    """(path regex, method, path template) for every operation in the description."""
    ops = []
    for template, item in openapi()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        ops += [(pattern, method.upper(), template) for method in item if method in ("get", "post", "patch", "put", "delete")]
    return ops


def resolve(node: Any, depth: int = 0) -> Any:
    """The node with every local `$ref` replaced by what it points at."""
    if depth > 40:
        return {}  # a recursive schema: deep enough for the bodies checked here
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = openapi()
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target, depth + 1)
        return {k: resolve(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, depth + 1) for v in node]
    return node


def check_github(method: str, path: str, query: dict[str, list[str]], body: Any) -> list[str]:
    """What is wrong with this request according to GitHub's OpenAPI description (empty: nothing)."""
    matches = [t for pattern, m, t in _operations() if m == method and pattern.match(path)]
    if not matches:
        return [f"{method} {path}: no such operation in GitHub's OpenAPI description"]
    # the most specific template: fewest parameters (a literal segment beats `{x}`)
    template = min(matches, key=lambda t: t.count("{"))
    operation = resolve(openapi()["paths"][template][method.lower()])
    problems = []
    declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    for name, values in query.items():
        if name not in declared:
            problems.append(f"{method} {template}: undeclared query parameter {name}")
            continue
        schema = declared[name].get("schema", {})
        value: Any = int(values[0]) if schema.get("type") == "integer" and values[0].isdigit() else values[0]
        problems += [f"{method} {template}: ?{name}: {e.message}" for e in _errors(schema, value)]
    request_body = operation.get("requestBody")
    if request_body is None:
        if body is not None:
            problems.append(f"{method} {template}: takes no body")
    else:
        schema = request_body["content"]["application/json"]["schema"]
        if body is None and request_body.get("required"):
            problems.append(f"{method} {template}: a body is required")
        elif body is not None:
            problems += [f"{method} {template}: body: {e.message}" for e in _errors(schema, body)]
    return problems


def _errors(schema: dict[str, Any], value: Any) -> list[jsonschema.ValidationError]:
    return list(jsonschema.Draft4Validator(schema).iter_errors(value))


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """One stored thread of comments (GitHub issue comments or GitLab notes) and what was asked."""

    kind: str  # github or gitlab
    token: str = "t0ken"
    prefix: str = ""  # the API's path below the server root, e.g. /api/v3 or /api/v4
    comments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    login: str | None = "mlgen-bot"  # who the token is; None: /user is refused, as for GitHub's Actions token
    fail_with: int | None = None  # answer every request with this status
    delay: float = 0.0
    url: str = ""

    @property
    def api(self) -> str:
        return self.url + self.prefix

    @property
    def me(self) -> str:
        return self.login or "github-actions[bot]"

    def seed(self, *bodies: str, system: bool = False, by: str = "reviewer") -> None:
        for body in bodies:
            self.comments.append({"id": 1000 + len(self.comments), "body": body, "system": system, "by": by})

    def _show(self, comment: dict[str, Any]) -> dict[str, Any]:
        """A comment as the platform lists it, with its author."""
        if self.kind == "github":
            return {"id": comment["id"], "body": comment["body"], "user": {"login": comment["by"]}}
        return {"id": comment["id"], "body": comment["body"], "system": comment["system"],
                "author": {"id": 7, "username": comment["by"]}}

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        if self.delay:
            time.sleep(self.delay)
        self.calls.append(call)
        if self.fail_with:
            return self.fail_with, {}, {"message": "boom"}
        if not call.path.startswith(self.prefix + "/"):
            self.violations.append(f"{call.method} {call.path}: outside the API prefix {self.prefix}")
            return 404, {}, {"message": "Not Found"}
        path = call.path[len(self.prefix):]
        problems = self._check(call, path)
        if problems:
            self.violations += problems
            return 400, {}, {"message": "; ".join(problems)}
        return self._serve(call, path)

    def _check(self, call: Call, path: str) -> list[str]:
        if self.kind == "github":
            problems = check_github(call.method, path, call.query, call.body)
            if call.headers.get("authorization") != f"Bearer {self.token}":
                problems.append(f"{call.method} {path}: Authorization is not `Bearer <token>`")
            return problems
        problems = []
        documented = {("GET", "/user"), ("GET", r"/projects/[^/]+/merge_requests/\d+/notes"), ("POST", r"/projects/[^/]+/merge_requests/\d+/notes"),
                      ("PUT", r"/projects/[^/]+/merge_requests/\d+/notes/\d+")}
        if not any(m == call.method and re.fullmatch(p, path) for m, p in documented):
            problems.append(f"{call.method} {path}: not a documented merge request Notes API call")
        allowed = {"page": r"[1-9]\d*", "per_page": r"[1-9]\d?|100", "sort": "asc|desc", "order_by": "created_at|updated_at"}
        for name, values in call.query.items():
            if call.method != "GET" or name not in allowed or not re.fullmatch(allowed[name], values[0]):
                problems.append(f"{call.method} {path}: query parameter {name}={values[0]} is not documented")
        if call.headers.get("private-token") != self.token:
            problems.append(f"{call.method} {path}: PRIVATE-TOKEN header missing or wrong")
        if call.method in GITLAB_BODY_ATTRIBUTES:
            if not isinstance(call.body, dict) or not isinstance(call.body.get("body"), str):
                problems.append(f"{call.method} {path}: `body` (string) is required")
            elif set(call.body) - GITLAB_BODY_ATTRIBUTES[call.method]:
                problems.append(f"{call.method} {path}: undocumented attributes {set(call.body) - GITLAB_BODY_ATTRIBUTES[call.method]}")
        return problems

    def _serve(self, call: Call, path: str) -> tuple[int, dict[str, str], Any]:
        if call.method == "GET" and path == "/user":
            if self.login is None:
                return 403, {}, {"message": "Resource not accessible by integration"}
            return 200, {}, {"login": self.login} if self.kind == "github" else {"id": 7, "username": self.login}
        if call.method == "GET":
            return self._page(call)
        if call.method == "POST":
            comment = {"id": 1000 + len(self.comments), "body": call.body["body"], "system": False, "by": self.me}
            self.comments.append(comment)
            return 201, {}, self._show(comment)
        wanted = int(path.rsplit("/", 1)[1])
        for comment in self.comments:
            if comment["id"] == wanted:
                if comment["by"] != self.me:  # an outside comment: neither platform lets a bot token edit it
                    self.violations.append(f"{call.method} {path}: edits {comment['by']}'s comment")
                    return 403, {}, {"message": "Forbidden"}
                comment["body"] = call.body["body"]
                return 200, {}, self._show(comment)
        return 404, {}, {"message": "Not Found"}

    def _page(self, call: Call) -> tuple[int, dict[str, str], Any]:
        per_page = int(call.query.get("per_page", ["30" if self.kind == "github" else "20"])[0])
        page = int(call.query.get("page", ["1"])[0])
        visible = [c for c in self.comments if self.kind == "gitlab" or not c["system"]]
        items = visible[(page - 1) * per_page: page * per_page]
        more = page * per_page < len(visible)
        if self.kind == "github":
            headers = {"Link": f'<{self.api}{call.path}?page={page + 1}>; rel="next"'} if more else {}
            return 200, headers, [self._show(c) for c in items]
        return (200, {"X-Page": str(page), "X-Next-Page": str(page + 1) if more else "", "X-Total": str(len(visible))},
                [self._show(c) for c in items])


@contextmanager
def serve(api: FakeApi) -> Iterator[FakeApi]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = {"<not json>": raw.decode(errors="replace")}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, answer = api.handle(Call(self.command, url.path, urllib.parse.parse_qs(url.query), headers, body))
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nothing to answer

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
