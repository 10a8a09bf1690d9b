"""Parameter paths on normalized instance data: find the values a path names and change them.

The data is a plain dict as ``Instance.model_dump(mode="python")`` gives it. A change that a
series cannot express in its own form (a shift of a growth series, any change of a CSV series)
leaves a :class:`DerivedSeries` in the data, turned into a monthly CSV by the expansion.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from capalloc.models.sweep import PathStep, format_path, parse_path


class PathError(ValueError):
    """A path that does not fit the instance, or a change that does not fit the value there."""


@dataclass
class Target:
    """One value a path names: its container, its key there and a readable concrete path."""

    container: dict | list
    key: str | int
    label: str

    @property
    def value(self) -> Any:
        return self.container[self.key]


@dataclass
class DerivedSeries:
    """A monthly series = a base series (constant, growth or CSV mapping) then operations."""

    base: Any
    ops: list[tuple[str, float]] = field(default_factory=list)

    def canonical(self) -> dict[str, Any]:
        return {"derived_from": self.base, "ops": [list(op) for op in self.ops]}


def _element_label(element: Any, index: int) -> str:
    if isinstance(element, dict):
        for key in ("id", "name"):
            if isinstance(element.get(key), str):
                return element[key]
    return str(index)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"text ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, DerivedSeries) or is_series_mapping(value):
        return "a series"
    return "a mapping"


def is_series_mapping(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") in ("growth", "csv")


def resolve(data: dict, path: str) -> list[Target]:
    """Every value that ``path`` names in ``data``; PathError if it names none or is unknown."""
    steps = parse_path(path)
    nodes: list[tuple[Any, Any, str | int | None, list[PathStep]]] = [(data, None, None, [])]
    for step in steps:
        following = []
        for node, _parent, _key, done in nodes:
            here = format_path(done) or "the instance"
            if step.kind == "field":
                if isinstance(node, list):
                    raise PathError(f"{here} is a list: select its elements with [id], [*] or "
                                    f"[index] before .{step.key}")
                if not isinstance(node, dict) or is_series_mapping(node) and step.key not in node:
                    raise PathError(f"{here} holds {_kind(node)}, which has no field {step.key!r}")
                if step.key not in node:
                    fields = ", ".join(sorted(node)) or "none"
                    raise PathError(f"unknown field {step.key!r} in {here} (its fields: {fields})")
                following.append((node[step.key], node, step.key, [*done, step]))
                continue
            if isinstance(node, dict) and not is_series_mapping(node):
                if step.kind == "all":
                    keys = sorted(node)
                elif step.kind == "id" and step.key in node:
                    keys = [step.key]
                else:
                    raise PathError(f"{here} has no key {step.key!r} (keys: "
                                    f"{', '.join(sorted(node)) or 'none'})")
                following.extend((node[k], node, k, [*done, PathStep("id", k)]) for k in keys)
                continue
            if not isinstance(node, list):
                raise PathError(f"{here} holds {_kind(node)}, not a list: remove {step}")
            labels = [_element_label(e, i) for i, e in enumerate(node)]
            if step.kind == "all":
                picked = list(range(len(node)))
            elif step.kind == "index":
                if not 0 <= int(step.key) < len(node):
                    raise PathError(f"index {step.key} is out of range: {here} has {len(node)} "
                                    "element(s)")
                picked = [int(step.key)]
            else:
                picked = [i for i, label in enumerate(labels) if label == step.key]
                if not picked:
                    raise PathError(f"{here} has no element with id or name {step.key!r} "
                                    f"(it has: {', '.join(labels) or 'none'})")
            following.extend((node[i], node, i, [*done, PathStep("id", labels[i])]) for i in picked)
        nodes = following
        if not nodes:
            raise PathError(f"{path} matches nothing (an empty list along the way)")
    return [Target(parent, key, format_path(done)) for _node, parent, key, done in nodes]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fit_int(original: Any, value: float) -> Any:
    """Integer fields stay integers (nearest whole number)."""
    if isinstance(original, int) and not isinstance(original, bool):
        return int(math.floor(value + 0.5))
    return float(value)


def is_identity(mode: str, level: Any) -> bool:
    return (mode == "factor" and level == 1) or (mode == "shift" and level == 0)


def apply_level(target: Target, mode: str, level: Any, *, sampled: bool = False) -> None:
    """Change the value at ``target``: replace it (value), multiply it (factor), add (shift)."""
    current = target.value
    if mode == "value":
        _check_value_type(target, current, level)
        if _number(level) and isinstance(current, int) and not isinstance(current, bool) and (
            sampled or float(level).is_integer()
        ):
            level = _fit_int(current, float(level))
        target.container[target.key] = copy.deepcopy(level)
        return
    if is_identity(mode, level):
        return
    amount = float(level)
    if _number(current):
        new = current * amount if mode == "factor" else current + amount
        target.container[target.key] = _fit_int(current, new)
    elif isinstance(current, DerivedSeries):
        current.ops.append((mode, amount))
    elif is_series_mapping(current):
        if mode == "factor" and current["kind"] == "growth":
            changed = dict(current)
            changed["start_value"] = current["start_value"] * amount
            target.container[target.key] = changed
        else:
            target.container[target.key] = DerivedSeries(copy.deepcopy(current), [(mode, amount)])
    else:
        verb = "scaled" if mode == "factor" else "shifted"
        hint = " (it is not set in the base instance)" if current is None else ""
        raise PathError(f"{target.label} holds {_kind(current)}{hint}, which cannot be {verb}: "
                        f"{mode}s need a number or a series there")


def _check_value_type(target: Target, current: Any, level: Any) -> None:
    if current is None or isinstance(current, DerivedSeries):
        return
    problem = None
    if isinstance(current, bool):
        problem = not isinstance(level, bool)
    elif _number(current) or is_series_mapping(current):
        problem = not (_number(level) or isinstance(level, dict))
    elif isinstance(current, str):
        problem = not isinstance(level, str)
    elif isinstance(current, list):
        problem = not isinstance(level, list)
    elif isinstance(current, dict):
        problem = not isinstance(level, dict)
    if problem:
        kind = "text" if isinstance(level, str) else _kind(level)
        raise PathError(f"{target.label} holds {_kind(current)}, but {level!r} is {kind}")


def derived_values(series: DerivedSeries, monthly_base: list[float]) -> list[float]:
    """Apply a derived series' operations to its base's monthly values."""
    values = list(monthly_base)
    for op, amount in series.ops:
        values = [v * amount for v in values] if op == "factor" else [v + amount for v in values]
    return values


def walk_derived(node: Any, visit) -> Any:
    """Copy of ``node`` with each DerivedSeries replaced by ``visit(series)``."""
    if isinstance(node, DerivedSeries):
        return visit(node)
    if isinstance(node, dict):
        return {k: walk_derived(v, visit) for k, v in node.items()}
    if isinstance(node, list):
        return [walk_derived(v, visit) for v in node]
    return node


def canonical(node: Any) -> Any:
    """JSON-able form of data holding DerivedSeries (for hashing)."""
    return walk_derived(node, lambda s: canonical(s.canonical()))
