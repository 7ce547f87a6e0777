"""The Jenkinsfile template, a loop over the tree's events, writes the bytes the recursive macro
it replaced wrote, on any tree.

The macro template is kept here, verbatim, as the reference: a recursive macro over blocks, lines
and `} else {`-style continuations, with the same whitespace control and autoescaping.
"""

from __future__ import annotations

from typing import Any

import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.targets.jenkins_tree import Block, Groovy, Line, Node, block, render
from tests.support import arguments_while_compiling, example_specs

REFERENCE = """\
{#- Declarative Jenkinsfile: prints the node tree built by mlgen.targets.jenkins. Every text is a
    Groovy literal or expression made by mlgen.targets.escape; the indentation is the node's depth. -#}
{% macro node(n, prefix) %}
{% if n.children is defined %}
{{ prefix }}{{ n.head }} {
{{ body(n, prefix) -}}
{% else %}
{{ prefix }}{{ n.text }}
{% endif %}
{% endmacro %}
{#- A block's children, then its closing brace, or `} else {`-style the block that continues it. -#}
{% macro body(n, prefix) %}
{% for child in n.children %}
{{ node(child, prefix ~ "  ") -}}
{% endfor %}
{% if n.then %}
{{ prefix }}} {{ n.then.head }} {
{{ body(n.then, prefix) -}}
{% else %}
{{ prefix }}}
{% endif %}
{% endmacro %}
{{ node(root, prefix) -}}"""


def _finalize(value: Any) -> Any:
    if hasattr(value, "__html__") or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"unescaped value reached the Jenkinsfile template: {value!r}")


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                               keep_trailing_newline=True, finalize=_finalize).from_string(REFERENCE)


def _reference(root: Block) -> str:
    return str(_TEMPLATE.render(root=root, prefix=Groovy("")))


WORD = st.from_regex(r"\A[a-z<>&'\"][a-zA-Z0-9_() .:<>&'\"{}-]{0,12}\Z").map(Groovy)
SCRIPT = st.lists(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\x00"), max_size=12),
                  min_size=1, max_size=4).map(lambda lines: Groovy("sh " + block("\n".join(lines))))
LINE = st.one_of(WORD.map(Line), SCRIPT.map(Line))


def _blocks(children: st.SearchStrategy[list[Node]]) -> st.SearchStrategy[Node]:
    # blocks continued by others (`} else {`, `} catch (err) {`), up to two deep
    def build(head: Groovy, kids: list[Node], more: list[tuple[Groovy, list[Node]]]) -> Block:
        first = Block(head, kids)
        last = first
        for then_head, then_kids in more:
            last.then = Block(then_head, then_kids)
            last = last.then
        return first

    return st.builds(build, WORD, children, st.lists(st.tuples(WORD, children), max_size=2))


NODES: st.SearchStrategy[Node] = st.recursive(LINE, lambda inner: _blocks(st.lists(inner, max_size=4)), max_leaves=30)
ROOTS = st.builds(lambda kids: Block(Groovy("pipeline"), kids), st.lists(NODES, max_size=5))


@settings(max_examples=300, deadline=None)
@given(ROOTS)
def test_the_template_writes_what_the_recursive_macro_wrote(root: Block) -> None:
    assert render(root) == _reference(root)


def test_every_example_jenkinsfile_is_printed_as_the_recursive_macro_printed_it(monkeypatch: Any) -> None:
    from mlgen.spec.load import load
    from mlgen.targets import jenkins

    roots: list[Block] = []
    for spec in example_specs():
        if "jenkins" in load(spec)[1].enabled_targets():
            roots += arguments_while_compiling(jenkins, "render", spec, monkeypatch, only=("jenkins",))
    assert roots
    for root in roots:
        assert render(root) == _reference(root)
