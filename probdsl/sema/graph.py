"""Depth-first ordering of a dependency graph, without recursion (a model may chain thousands of names)."""

from __future__ import annotations

from typing import Iterable, Mapping


def depth_first(roots: Iterable[str], edges: Mapping[str, Iterable[str]]) -> tuple[list[str], list[list[str]]]:
    """Every node reachable from ``roots``, dependencies first, visiting each node's dependencies in sorted
    order; and each cycle met, as the path from the node reached again back to it (``[a, b, a]``)."""
    order: list[str] = []
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        path, pending = [root], [iter(sorted(edges[root]))]
        while path:
            dep = next(pending[-1], None)
            if dep is None:
                state[path[-1]] = 2
                order.append(path.pop())
                pending.pop()
            elif state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                state[dep] = 1
                path.append(dep)
                pending.append(iter(sorted(edges[dep])))
    return order, cycles
