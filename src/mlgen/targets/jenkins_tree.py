"""The Jenkinsfile as a tree of blocks and lines, and the template that prints it.

A `Block` prints as `head {`, its children two spaces deeper, then `}`; a `Line` prints as its
text. The template's one recursive macro does the indenting (a child's prefix is its parent's
plus two spaces), so every `{` the tree opens is closed at the right place by construction.
Only the first line of a multi-line literal (an `sh` script) is indented: its other lines are
the script's own bytes (which is why the template does not use Jinja's `indent` filter, which
would indent them too). Text reaches the tree only as `Groovy`, made by the functions here from
`mlgen.targets.escape`, and the template refuses anything else.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlgen.targets.escape import groovy_block, groovy_single


class Groovy(str):
    """Text that is already a valid Groovy literal or expression.

    `__html__` is the protocol Jinja's autoescaping honours: the template prints it as it is,
    while a plain `str` would be escaped (and is refused by the template's `finalize`).
    """

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def lit(text: str) -> Groovy:
    return Groovy(groovy_single(text))


def ident(name: str) -> Groovy:
    """An environment variable name used as a Groovy identifier (the spec guarantees the shape)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not an identifier: {name!r}")
    return Groovy(name)


def block(text: str) -> Groovy:
    return Groovy(groovy_block(text))


def call(name: str, *args: Groovy | int) -> Groovy:
    """`name(arg, ...)`: arguments are Groovy already (or ints), so nothing here needs escaping."""
    return Groovy(f"{name}({', '.join(str(a) for a in args)})")


@dataclass(frozen=True)
class Line:
    text: Groovy


@dataclass
class Block:
    head: Groovy
    children: list[Node] = field(default_factory=list)
    then: Block | None = None  # the block that continues this one after its brace: `} else {`, `} catch (err) {`

    def add(self, *nodes: Node | None) -> Block:
        """Append the nodes that are not None; returns self, so blocks nest in one expression."""
        self.children.extend(n for n in nodes if n is not None)
        return self


Node = Line | Block


def nonempty(head: Groovy | str, children: Sequence[Node]) -> Block | None:
    """A block only when it has something in it (an empty `options { }` says nothing).

    `head` may be a plain keyword (`options`, `post`, `always`): mlgen's own text, never user text.
    """
    return Block(Groovy(head), list(children)) if children else None


def check_tree(root: Block) -> list[str]:
    """What Jenkins refuses when it loads the file and the tree's shape cannot rule out.

    Braces and indentation are right by construction; Groovy itself parses every output in the
    tests. Left: the sections a pipeline must have, and stage names, which Jenkins wants unique
    ("Duplicate stage name") everywhere but inside a matrix, whose cells it names itself.
    """
    problems = []
    sections = {str(c.head if isinstance(c, Block) else c.text).split(" ")[0] for c in root.children}
    problems += [f"the pipeline has no top-level `{s}` section" for s in ("agent", "stages") if s not in sections]
    seen: set[str] = set()
    for head in _stage_heads(root):
        if head in seen:
            problems.append(f"two stages are named {head.removeprefix('stage(').removesuffix(')')}")
        seen.add(head)
    return problems


def _stage_heads(node: Block) -> list[str]:
    heads = []
    for child in node.children:
        if isinstance(child, Block) and child.head != "matrix":
            heads += [str(child.head)] if child.head.startswith("stage(") else []
            heads += _stage_heads(child)
    return heads


def render(root: Block) -> str:
    # The root's prefix is Groovy, so each child's (`prefix ~ "  "` in the template) is too.
    text: str = _template().render(root=root, prefix=Groovy(""))
    return text


@functools.cache
def _template() -> Any:
    import jinja2

    from mlgen.resources import resource_dir

    def finalize(value: Any) -> Any:
        # Groovy text, and macro output (autoescaped from Groovy text); a plain str was never escaped.
        if hasattr(value, "__html__") or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise TypeError(f"unescaped value reached the Jenkinsfile template: {value!r}")

    # autoescape only makes macro output count as escaped; every value printed is Groovy already.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir("templates"))), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, finalize=finalize)
    return env.get_template("Jenkinsfile.j2")
