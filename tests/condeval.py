"""Evaluate the run conditions the compiler writes, the way each platform documents them.

Tests ask "does this job run for a push to `dev`?" instead of matching the condition's text, so
a condition that reads plausibly but decides wrongly (`&&` for `||`, `allOf` for `anyOf`) fails.

- GitHub Actions expressions: literals, context paths, `!`, `==`/`!=` (string comparison ignores
  case, as GitHub documents), `&&` over `||`, parentheses, and the functions mlgen uses
  (`always()`, `success()`, `failure()`, `contains()`).
- GitLab CI `rules:if`: `$VAR` (defined and not empty), `==`/`!=` against a string or a variable,
  `&&` before `||`, parentheses; the first rule that matches decides, no match means no job.
- Jenkins declarative `when`: the block is the AND of its conditions; `branch` (Ant-style glob
  against BRANCH_NAME, which is `PR-<id>` for a change request; the GLOB comparator ignores case), `changeRequest()`, `anyOf`,
  `allOf`, `not`. Anything else raises, so an unknown construct cannot pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<dq>\"(?:[^\"\\]|\\.)*\")|(?P<op>&&|\|\||==|!=|=~|!|\(|\)|,)"
                    r"|(?P<var>\$[A-Za-z_][A-Za-z0-9_]*)|(?P<word>[A-Za-z_][A-Za-z0-9_.*-]*))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot read condition at {text[pos:]!r} in {text!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    """Recursive descent over `||`, `&&`, `!`, comparisons and primaries; `primary` is per platform."""

    def __init__(self, text: str, primary: Callable[[_Parser], Any]) -> None:
        self.tokens, self.i, self.primary = _tokens(text), 0, primary

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ValueError(f"expected {value or 'more'} at token {self.i} of {self.tokens}")
        self.i += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()} in {self.tokens}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value or right
        return value

    def and_(self) -> Any:
        value = self.not_()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.not_()
            value = value and right
        return value

    def not_(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.not_())
        return self.compare()

    def compare(self) -> Any:
        left = self.atom()
        token = self.peek()
        if token in (("op", "=="), ("op", "!=")):
            self.take()
            right = self.atom()
            equal = _equal(left, right)
            return equal if token == ("op", "==") else not equal
        return left

    def atom(self) -> Any:
        if self.peek() == ("op", "("):
            self.take()
            value = self.or_()
            self.take(")")
            return value
        return self.primary(self)


def _truthy(value: Any) -> bool:
    return value not in (None, "", False, 0)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower() if _CASELESS[0] else left == right
    return bool(left == right)


_CASELESS = [False]  # GitHub compares strings ignoring case; GitLab does not


# -- GitHub Actions ---------------------------------------------------------------------------------

def github_if(condition: str | None, context: Mapping[str, Any]) -> bool:
    """`if:` of a job. `context` maps dotted paths (`github.ref`) to values and may hold
    `needs_results` (list of the needed jobs' results) for the status functions."""
    results = list(context.get("needs_results", []))
    if condition is None:
        return all(r == "success" for r in results)

    def primary(p: _Parser) -> Any:
        kind, value = p.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind != "word":
            raise ValueError(f"unexpected {value!r} in {condition!r}")
        if value in ("true", "false"):
            return value == "true"
        if p.peek() == ("op", "("):
            p.take()
            args = []
            while p.peek() != ("op", ")"):
                args.append(p.or_())
                if p.peek() == ("op", ","):
                    p.take()
            p.take(")")
            return _github_function(value, args, results)
        if value == "needs.*.result":
            return results
        if value not in context:
            raise ValueError(f"no value for `{value}` in this test's context")
        return context[value]

    _CASELESS[0] = True
    try:
        value = _Parser(condition, primary).parse()
    finally:
        _CASELESS[0] = False
    # Without a status function, GitHub adds `success()`: the job runs only if every need succeeded.
    if not re.search(r"\b(always|failure|cancelled|success)\(", condition):
        value = _truthy(value) and all(r == "success" for r in results)
    return _truthy(value)


def _github_function(name: str, args: list[Any], results: list[str]) -> Any:
    if name == "always":
        return True
    if name == "success":
        return all(r == "success" for r in results)
    if name == "failure":
        return any(r == "failure" for r in results)
    if name == "cancelled":
        # True when the run was cancelled; a test says so by giving a need the result `cancelled`.
        return any(r == "cancelled" for r in results)
    if name == "contains":
        haystack, needle = args
        if isinstance(haystack, list):
            return any(str(item).lower() == str(needle).lower() for item in haystack)
        return str(needle).lower() in str(haystack).lower()
    raise ValueError(f"function {name}() is not modelled here")


# -- GitLab CI --------------------------------------------------------------------------------------

def gitlab_if(condition: str, variables: Mapping[str, str]) -> bool:
    def primary(p: _Parser) -> Any:
        kind, value = p.take()
        if kind == "var":
            return variables.get(value[1:])
        if kind in ("dq", "str"):
            return value[1:-1]
        if value == "null":
            return None
        raise ValueError(f"unexpected {value!r} in {condition!r}")

    return _truthy(_Parser(condition, primary).parse())


def gitlab_rules(rules: list[dict[str, Any]] | None, variables: Mapping[str, str]) -> str:
    """The `when` a job (or, for workflow:rules, the pipeline) gets: 'never' when it is not created."""
    if not rules:
        return "on_success"
    for rule in rules:
        if "if" not in rule or gitlab_if(rule["if"], variables):
            return str(rule.get("when", "on_success"))
    return "never"


def gitlab_variables(*, branch: str, source: str = "push", default_branch: str = "main") -> dict[str, str]:
    """The predefined variables of a pipeline: a merge request pipeline has no CI_COMMIT_BRANCH."""
    base = {"CI_PIPELINE_SOURCE": source, "CI_DEFAULT_BRANCH": default_branch}
    if source == "merge_request_event":
        return base | {"CI_MERGE_REQUEST_IID": "1", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": branch}
    return base | {"CI_COMMIT_BRANCH": branch}


# -- Jenkins ----------------------------------------------------------------------------------------

_GROOVY = re.compile(r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<brace>[{}])|(?P<sep>;)|(?P<paren>\(\s*\))|(?P<word>[A-Za-z]+))")


def jenkins_when(jenkinsfile: str, stage: str, *, branch: str, change_request: bool = False) -> bool:
    """Does stage `stage` pass its `when`, and the `when` of every stage it is nested in, for this
    build? (A nested stage runs only inside its parent.) True when none has one."""
    env = {"BRANCH_NAME": "PR-1" if change_request else branch, "CHANGE_ID": "1" if change_request else None}
    start = jenkinsfile.index(f"stage({_groovy_quote(stage)})")
    for at in [*_enclosing_stages(jenkinsfile, start), start]:
        block = _when_block(jenkinsfile, at)
        if block is None:
            continue
        conditions, rest = _jenkins_conditions(_groovy_tokens(block), env)
        if rest:
            raise ValueError(f"unread tokens {rest} in when block of {stage}")
        if not all(conditions):
            return False
    return True


def _enclosing_stages(text: str, position: int) -> list[int]:
    """Where the stages that hold the stage at `position` start (outermost first)."""
    out = []
    for match in re.finditer(r"stage\('(?:[^'\\]|\\.)*'\) \{", text[:position]):
        depth = 0
        for j in range(match.end() - 1, position):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                break
        else:
            out.append(match.start())
    return out


def _when_block(text: str, start: int) -> str | None:
    body = text[start:]
    # the stage's own when: before its steps/stages/matrix open
    end = min(i for i in (body.find("steps {"), body.find("stages {", 1), body.find("matrix {"), len(body)) if i >= 0)
    head = body[:end]
    at = head.find("when {")
    if at < 0:
        return None
    depth, i = 0, at + len("when ")
    for j in range(i, len(head)):
        depth += {"{": 1, "}": -1}.get(head[j], 0)
        if depth == 0:
            return head[i + 1:j]
    raise ValueError(f"unbalanced when block in the stage at {start}")


def _groovy_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _groovy_tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while text[pos:].strip():
        match = _GROOVY.match(text, pos)
        if match is None:
            raise ValueError(f"cannot read Jenkins condition at {text[pos:]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _jenkins_conditions(tokens: list[tuple[str, str]], env: Mapping[str, str | None]) -> tuple[list[bool], list[tuple[str, str]]]:
    results = []
    while tokens and tokens[0] != ("brace", "}"):
        kind, word = tokens.pop(0)
        if kind == "sep":
            continue
        if word == "branch":
            pattern = tokens.pop(0)[1][1:-1].encode().decode("unicode_escape")
            results.append(_ant_match(pattern, env["BRANCH_NAME"] or ""))
        elif word == "changeRequest":
            if tokens and tokens[0][0] == "paren":
                tokens.pop(0)
            results.append(env["CHANGE_ID"] is not None)
        elif word in ("anyOf", "allOf", "not"):
            assert tokens.pop(0) == ("brace", "{")
            inner, tokens = _jenkins_conditions(tokens, env)
            assert tokens.pop(0) == ("brace", "}")
            results.append(any(inner) if word == "anyOf" else all(inner) if word == "allOf" else not all(inner))
        elif word in ("beforeAgent", "beforeInput", "beforeOptions"):
            tokens.pop(0)  # `true`: ordering only
        else:
            raise ValueError(f"Jenkins condition `{word}` is not modelled here")
    return results, tokens


def _ant_match(pattern: str, value: str) -> bool:
    regex = "".join(".*" if part == "**" else "[^/]*" if part == "*" else "[^/]" if part == "?" else re.escape(part)
                    for part in re.split(r"(\*\*|\*|\?)", pattern))
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def gitlab_job_admitted(outputs: dict[str, str], job: str, *, branch: str, source: str = "push") -> bool:
    """Does GitLab create `job` (its needs succeeded)? A job of a rollout's child config exists only when
    the parent's trigger job does, and then under the child's own rules with `CI_PIPELINE_SOURCE`
    `parent_pipeline` (the same branch); `outputs` as `tests.support.compile_model` keys them."""
    from mlgen.targets import yamlout

    parent = yamlout.load(outputs["gitlab"])
    variables = gitlab_variables(branch=branch, source=source)
    if job in parent:
        return gitlab_rules(parent[job].get("rules"), variables) != "never"
    inner = gitlab_variables(branch=branch, source="parent_pipeline")
    for key, text in outputs.items():
        child = yamlout.load(text) if key.startswith("gitlab-child:") else {}
        if job in child:
            (trigger,) = [v for v in parent.values() if isinstance(v, dict)
                          and v.get("trigger", {}).get("include") == [{"local": key.split(":", 1)[1]}]]
            return all(gitlab_rules(rules, v) != "never" for rules, v in (
                (trigger.get("rules"), variables), (child["workflow"]["rules"], inner), (child[job].get("rules"), inner)))
    raise KeyError(job)
