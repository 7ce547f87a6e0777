"""The Jenkinsfile template prints any node tree faithfully: nesting by indentation, every block
closed, multi-line literals byte-exact, and nothing but Groovy text printed.

The property: read the printed text back into a tree (by indentation) and get the tree that
was printed. A template that mis-indented, dropped a `}` or re-indented a script's lines fails.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.targets.jenkins_tree import Block, Groovy, Line, Node, block, render

WORD = st.from_regex(r"\A[a-z][a-zA-Z0-9_() .:-]{0,12}\Z").map(str.rstrip).filter(bool)
# An `sh '''...'''` literal: its second and later lines start anywhere, even at column 0 or with `}`.
SCRIPT = st.lists(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\x00"), max_size=12),
                  min_size=2, max_size=4).map(lambda lines: Groovy("sh " + block("\n".join(lines))))
LINE = st.one_of(WORD.map(lambda w: Line(Groovy(w))), SCRIPT.map(Line))


def _blocks(children: st.SearchStrategy[list[Node]]) -> st.SearchStrategy[Node]:
    return st.builds(lambda head, kids: Block(Groovy(head), kids), WORD, children)


NODES: st.SearchStrategy[Node] = st.recursive(LINE, lambda inner: _blocks(st.lists(inner, max_size=4)), max_leaves=25)
ROOTS = st.builds(lambda kids: Block(Groovy("pipeline"), kids), st.lists(NODES, max_size=5))


def _read_back(text: str) -> Block:
    """Rebuild the tree from printed text: a line ending in ` {` opens a block, a lone `}` at the
    same indentation closes it; a multi-line literal's continuation lines belong to its line."""
    lines = text.split("\n")
    assert lines.pop() == "", "the text ends with one newline"
    root, index = _read(lines, 0, 0)
    assert index == len(lines), "nothing after the root block"
    assert isinstance(root, Block)
    return root


def _read(lines: list[str], index: int, depth: int) -> tuple[Node, int]:
    pad = "  " * depth
    line = lines[index]
    assert line.startswith(pad) and not line[len(pad):].startswith(" "), (depth, line)
    body = line[len(pad):]
    if body.endswith(" {") and "'''" not in body:
        node = Block(Groovy(body[:-2]))
        index += 1
        while lines[index] != pad + "}":
            child, index = _read(lines, index, depth + 1)
            node.children.append(child)
        return node, index + 1
    index += 1
    if body.count("'''") == 1:  # an open multi-line literal: its own lines, byte for byte, to the closing quotes
        while not body.endswith("'''") or body.count("\n") == 0:
            body += "\n" + lines[index]
            index += 1
    return Line(Groovy(body)), index


@settings(max_examples=150, deadline=None)
@given(ROOTS)
def test_printed_tree_reads_back_as_the_same_tree(root: Block) -> None:
    assert _read_back(render(root)) == root


def test_script_lines_are_not_indented() -> None:
    script = Groovy("sh " + block("a\n}\n  b"))
    text = render(Block(Groovy("pipeline"), [Block(Groovy("steps"), [Line(script)])]))
    assert text == "pipeline {\n  steps {\n    sh '''a\n}\n  b'''\n  }\n}\n"


@pytest.mark.parametrize("tree", [
    Block(Groovy("pipeline"), [Line("agent none")]),  # type: ignore[arg-type]
    Block("pipeline", []),  # type: ignore[arg-type]
], ids=["plain line", "plain head"])
def test_plain_text_never_reaches_the_file(tree: Block) -> None:
    with pytest.raises(TypeError, match="unescaped value reached the Jenkinsfile template"):
        render(tree)
