"""The Jenkinsfile as a tree of blocks and lines, and the template that prints it.

A `Block` prints as `head {`, its children two spaces deeper, then `}`; a `Line` prints as its
text. `events` walks the tree depth first into what the template prints: open, line, then (the
block continuing another after its brace), close, each with its node's indentation, so every
`{` the tree opens is closed at the right place by construction. (A flat walk, not a recursive
macro: a macro's output is joined again at every level above it, which made a large Jenkinsfile
several times slower to print.) Only the first line of a multi-line literal (an `sh` script) is
indented: its other lines are the script's own bytes (which is why the template does not use
Jinja's `indent` filter, which would indent them too). Text reaches the tree only as `Groovy`,
made by the functions here from `mlgen.targets.escape`, and the template refuses anything else.
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
    text: str = _template().render(events=events(root))
    return text


Event = tuple[str, Groovy, Groovy]  # (open | line | then | close, indentation, text)
_NOTHING = Groovy("")


def events(root: Block) -> list[Event]:
    """The tree depth first, as the template prints it; indentation two spaces a level."""
    out: list[Event] = []
    indents: list[Groovy] = []

    def indent(depth: int) -> Groovy:
        while len(indents) <= depth:
            indents.append(Groovy("  " * len(indents)))
        return indents[depth]

    def walk(node: Node, depth: int) -> None:
        if isinstance(node, Line):
            out.append(("line", indent(depth), node.text))
            return
        out.append(("open", indent(depth), node.head))
        part: Block | None = node
        while part is not None:
            for child in part.children:
                walk(child, depth + 1)
            if part.then is not None:
                out.append(("then", indent(depth), part.then.head))
            part = part.then
        out.append(("close", indent(depth), _NOTHING))

    walk(root, 0)
    return out


@functools.cache
def _template() -> Any:
    import jinja2

    from mlgen.resources import resource_dir

    def finalize(value: Any) -> Any:
        # Groovy text (and ints); a plain str was never escaped.
        if hasattr(value, "__html__") or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise TypeError(f"unescaped value reached the Jenkinsfile template: {value!r}")

    # autoescape with `finalize`: every value printed must be Groovy already, or the render fails.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir("templates"))), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, finalize=finalize)
    return env.get_template("Jenkinsfile.j2")
