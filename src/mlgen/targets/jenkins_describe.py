"""Jenkins: a line a stage wrote, added to the build's description (`Job.describes`).

The report's `post { always }` sets the description to its headline; a later stage (register)
adds its own line after it, so the build page shows both without anyone opening an artifact.
"""

from __future__ import annotations

from mlgen.targets.jenkins_tree import Block, Groovy, Line, Node, lit

SEPARATOR = " | "


def append(path: str) -> Node:
    """`script { ... }` that appends the file's one line, if the stage wrote a non-empty one."""
    f = lit(path)
    now = "currentBuild.description"
    return Block(Groovy("script"), [
        Line(Groovy(f"String line = fileExists({f}) ? readFile({f}).trim() : ''")),
        Block(Groovy("if (line)"), [Line(Groovy(f"{now} = ({now} ? {now} + {lit(SEPARATOR)} : '') + line"))]),
    ])
