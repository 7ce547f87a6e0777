"""The stage graph: default `needs`, cycle detection, ancestry. Every pass is linear in stages + edges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgen.spec import Pipeline


def needs_map(pipeline: Pipeline) -> dict[str, list[str]]:
    """Stage name -> the stages it waits for. Without `needs`, a stage waits for the one before it."""
    out: dict[str, list[str]] = {}
    previous: str | None = None
    for stage in pipeline.stages:
        if stage.needs is not None:
            out[stage.name] = list(dict.fromkeys(stage.needs))
        else:
            out[stage.name] = [previous] if previous is not None else []
        previous = stage.name
    return out


def find_cycle(needs: dict[str, list[str]]) -> list[str] | None:
    """A cycle as a closed path (`a -> b -> a`), or None. Iterative DFS: deep chains must not recurse."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in needs:
        if state.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            edges = needs.get(node, [])
            if i < len(edges):
                stack.append((node, i + 1))
                nxt = edges[i]
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt):] + [nxt]
                    return list(reversed(cycle))  # read in run order: a -> b means b waits for a
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return None


def ancestors(needs: dict[str, list[str]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(needs.get(name, []))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(needs.get(node, []))
    return seen


def model_name(pipeline: Pipeline, stage: Any) -> str | None:
    """The registered model a stage works on: its own `model`, else the pipeline's register stage."""
    if getattr(stage, "model", None):
        return str(stage.model)
    for other in pipeline.stages:
        if other.kind == "register":
            return str(other.model)
    return None


def registry_kind(pipeline: Pipeline, stage: Any) -> str:
    if getattr(stage, "registry", None):
        return str(stage.registry)
    for other in pipeline.stages:
        if other.kind == "register":
            return str(other.registry)
    return "mlflow"
