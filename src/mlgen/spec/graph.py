"""The stage graph: default `needs`, cycle detection, ancestry and the register stage each stage uses.

Every pass is linear in stages + edges (set unions in the passes are bounded by the number of
register or producing stages, and ancestor sets are bitsets): specs with thousands of stages
must compile in well under a second.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgen.spec.models import AnyStage, Pipeline


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


def topological(pipeline: Pipeline, needs: dict[str, list[str]]) -> list[str]:
    """Kahn's algorithm, stable on spec order so output does not shuffle when a stage is added."""
    order_of = {s.name: i for i, s in enumerate(pipeline.stages)}
    waiting = {name: len(deps) for name, deps in needs.items()}
    children: dict[str, list[str]] = {name: [] for name in needs}
    for name, deps in needs.items():
        for dep in deps:
            children[dep].append(name)
    ready = [(order_of[n], n) for n, c in waiting.items() if c == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, name = heapq.heappop(ready)
        out.append(name)
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (order_of[child], child))
    return out


@dataclass(frozen=True)
class Registry:
    """What a stage that talks to the model registry works with, resolved through the graph."""

    model: str | None
    kind: str  # mlflow | command
    register: Any  # the RegisterStage whose alias and command templates apply, or None


class Ambiguous(Exception):
    """A stage reaches register stages that disagree; the message names them."""


class Graph:
    """The acyclic stage graph of a checked pipeline, with every derived relation computed once."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.needs = needs_map(pipeline)
        self.stages: dict[str, AnyStage] = {s.name: s for s in pipeline.stages}
        self.order = topological(pipeline, self.needs)
        self.position = {s.name: i for i, s in enumerate(pipeline.stages)}
        self.children: dict[str, list[str]] = {name: [] for name in self.needs}
        for name in self.order:
            for dep in self.needs[name]:
                self.children[dep].append(name)
        self._bits = self._ancestor_bits()
        self.registers_above = self._nearest("register", self.needs, self.order)
        self.registers_below = self._nearest("register", self.children, list(reversed(self.order)))
        self.evaluate_above = self._closest_evaluate()
        self._producers: dict[str, dict[str, tuple[int, int, str] | None]] = {}

    def _ancestor_bits(self) -> dict[str, int]:
        bits: dict[str, int] = {}
        for name in self.order:
            mask = 0
            for dep in self.needs[name]:
                mask |= bits[dep] | (1 << self.position[dep])
            bits[name] = mask
        return bits

    def ancestor_mask(self, of: str) -> int:
        """The ancestors of `of` as a bitset over spec positions (`position`)."""
        return self._bits[of]

    def is_ancestor(self, ancestor: str, of: str) -> bool:
        return bool(self._bits[of] >> self.position[ancestor] & 1)

    def _nearest(self, kind: str, edges: dict[str, list[str]], order: list[str]) -> dict[str, tuple[str, ...]]:
        """Per stage, the `kind` stages reachable along `edges` without passing another `kind` stage."""
        found: dict[str, tuple[str, ...]] = {}
        for name in order:
            hits: dict[str, None] = {}
            for other in edges[name]:
                hits.update(dict.fromkeys((other,) if self.stages[other].kind == kind else found[other]))
            found[name] = tuple(sorted(hits, key=self.position.__getitem__))
        return found

    def _closest_evaluate(self) -> dict[str, str | None]:
        """Per stage, the evaluate ancestor fewest edges away (ties: the earlier in the spec)."""
        best: dict[str, tuple[int, int, str] | None] = {}
        for name in self.order:
            options = []
            for dep in self.needs[name]:
                if self.stages[dep].kind == "evaluate":
                    options.append((1, self.position[dep], dep))
                elif (above := best[dep]) is not None:
                    options.append((above[0] + 1, above[1], above[2]))
            best[name] = min(options) if options else None
        return {name: (b[2] if b else None) for name, b in best.items()}

    def nearest_producer(self, name: str, path: str, covers: Any) -> str | None:
        """The ancestor fewest edges away whose outputs hold `path` (ties: the earlier in the spec).

        `covers(stage, path)` decides; one linear pass per distinct path, shared by every stage
        that asks for the same path.
        """
        memo = self._producers.get(path)
        if memo is None:
            memo = self._producers[path] = {}
            for node in self.order:
                options = []
                for dep in self.needs[node]:
                    if covers(dep, path):
                        options.append((1, self.position[dep], dep))
                    elif (above := memo[dep]) is not None:
                        options.append((above[0] + 1, above[1], above[2]))
                memo[node] = min(options) if options else None
        found = memo[name]
        return found[2] if found else None

    def registry(self, stage: Any) -> Registry:
        """The model, registry kind and register stage an evaluate or canary stage works with.

        A canary promotes what the nearest register stage above it registered; an evaluate stage
        compares with the champion of the model the register stage below it registers. An own
        `model:` picks among those (or names a model registered elsewhere). Raises `Ambiguous`.
        """
        near = self.registers_above if stage.kind == "canary" else self.registers_below
        candidates: list[Any] = [self.stages[n] for n in near[stage.name]]  # RegisterStage, by construction
        own_model = getattr(stage, "model", None)
        if own_model:
            candidates = [c for c in candidates if c.model == own_model]
        distinct = {(c.model, c.registry, c.alias, c.command) for c in candidates}
        if len(distinct) > 1:
            named = ", ".join(f"`{c.name}` (model {c.model})" for c in candidates)
            where = "above" if stage.kind == "canary" else "after"
            raise Ambiguous(f"stage `{stage.name}` could work with the model of several register stages {where} it: {named}")
        register = candidates[0] if candidates else None
        model = own_model or (register.model if register is not None else None)
        kind = str(getattr(stage, "registry", None) or (register.registry if register is not None else "mlflow"))
        return Registry(model, kind, register)
