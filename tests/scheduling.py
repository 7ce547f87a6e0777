"""How the suite is spread over pytest-xdist workers (scripts/test.sh runs `-n N --dist loadgroup`).

Two rules, applied at collection (on every worker alike, so their collections stay identical):

- the longest tests go first: the end-to-end scenarios, then the other engine tests, then the rest
  in their usual order. A worker that picks up a long test late would be the last to finish;
  started first, the long tests run beside the short ones that fill the other workers.
- tests that share an expensive set-up stay together: xdist hands out work unit by work unit, and
  a module-scoped fixture is set up again on every worker, and again whenever a worker moves
  between modules. So every test that uses a module- or class-scoped fixture is put in the group
  of that fixture (per parameter: each engine of a fixture parametrized by engine is a group of its
  own, run beside the others), unless the group would hold more than MAX_GROUP tests: one worker
  running hundreds of tests alone while the others idle costs more than a set-up made again per
  worker (tests/test_hostile.py's module-scoped folder). Everything else is scheduled test by
  test. Session-scoped fixtures are set up once per worker that needs them (an MLflow server: a
  few seconds of CPU), which costs less than running all of their tests on one worker.
"""

from __future__ import annotations

from collections import Counter

import pytest

_FIRST = ("e2e", "engine", "slow")  # markers, longest first
MAX_GROUP = 100


def rank(item: pytest.Item) -> int:
    """0 for the end-to-end scenarios, then engine tests, then slow ones, then everything else."""
    for position, marker in enumerate(_FIRST):
        if item.get_closest_marker(marker) is not None:
            return position
    return len(_FIRST)


def shared_setup(item: pytest.Item) -> str | None:
    """The group of tests `item` must run with (None: it can run anywhere)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:  # not a Python test function (a doctest, a plugin's item)
        return None
    callspec = getattr(item, "callspec", None)
    keys = []
    for name in info.names_closure:
        fixturedefs = info.name2fixturedefs.get(name)
        if not fixturedefs:
            continue
        fixturedef = fixturedefs[-1]
        if fixturedef.scope in ("function", "session"):
            continue
        # One instance per module (class, package), wherever the fixture is defined (a conftest's
        # module-scoped fixture is set up anew in every module that uses it).
        owner = {"module": 1, "class": 2}.get(fixturedef.scope)
        where = "::".join(item.nodeid.split("::")[:owner]) if owner else fixturedef.baseid
        # No brackets: xdist takes a node id's `@group` only when it comes after the last `]`.
        param = f"#{callspec.indices[name]}" if callspec is not None and name in callspec.indices else ""
        keys.append(f"{where}::{name}{param}")
    return "+".join(sorted(keys)) or None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The hook (tests/conftest.py imports it)."""
    arrange(config, items)


def arrange(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: order `items` longest first (stable) and, under `--dist loadgroup`,
    group the tests that share a set-up. A run without xdist keeps pytest's own order."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=rank)
    if not getattr(config.option, "loadgroup", False):
        return
    groups = {item.nodeid: shared_setup(item) for item in items}
    sizes = Counter(groups.values())
    for item in items:
        group = groups[item.nodeid]
        if group is not None and sizes[group] <= MAX_GROUP:
            item.add_marker(pytest.mark.xdist_group(group))
