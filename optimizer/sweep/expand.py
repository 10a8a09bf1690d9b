"""From a sweep spec to its points: the design, the samples, and each point's validated instance.

Every point is materialized and validated by ``models.validate_instance_data`` before any solve
(:meth:`Expansion.validate_all`); a spec that names an unknown path, puts the wrong type at a
path or gives an empty range raises :class:`models.sweep.SweepSpecError` listing the problems.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
from pydantic import ValidationError

from capalloc.models.common import CsvSeries, GrowthSeries, month_ordinal, ordinal_to_month
from capalloc.models.instance import Instance
from capalloc.models.loader import InstanceError, Problem, instance_fingerprint, load_instance
from capalloc.models.loader import validate_instance_data as _validate
from capalloc.models.reading import MAX_CSV_BYTES, ReadError, read_regular_file, resolve_inside
from capalloc.models.sweep import Parameter, SweepSpec, SweepSpecError, load_sweep_spec
from capalloc.optimizer.sweep.paths import (
    DerivedSeries,
    PathError,
    Target,
    apply_level,
    canonical,
    derived_values,
    is_identity,
    resolve,
    walk_derived,
)
from capalloc.optimizer.sweep.stress import open_stress_plan

DERIVED_DIR = "_sweep_series"
MAX_LISTED_PROBLEMS = 25


@dataclass(frozen=True)
class SweepPoint:
    """One point: its id, the level of each parameter, and which parameters it changes."""

    point_id: str
    params: dict[str, Any]
    changed: tuple[tuple[int, Any], ...]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# ----------------------------------------------------------------------------- sampling


def inverse_cdf(dist: Any, u: np.ndarray) -> np.ndarray:
    """Quantiles of a spec distribution at probabilities ``u`` in [0, 1)."""
    if dist.kind == "uniform":
        return dist.low + u * (dist.high - dist.low)
    if dist.kind == "triangular":
        a, c, b = dist.low, dist.mode, dist.high
        split = (c - a) / (b - a)
        left = a + np.sqrt(u * (b - a) * (c - a))
        right = b - np.sqrt((1 - u) * (b - a) * (b - c))
        return np.where(u < split, left, right)
    log = dist.kind == "lognormal"
    normal = NormalDist(dist.mu, dist.sigma) if log else NormalDist(dist.mean, dist.std)

    def bound(value: float | None, default: float) -> float:
        if value is None or (log and value <= 0):
            return default
        return normal.cdf(math.log(value) if log else value)

    lo, hi = bound(dist.low, 0.0), bound(dist.high, 1.0)
    p = np.clip(lo + u * (hi - lo), 1e-12, 1 - 1e-12)
    x = np.array([normal.inv_cdf(float(q)) for q in p])
    return np.exp(x) if log else x


def sample(spec: SweepSpec) -> list[list[float]]:
    """samples x parameters draws: Latin hypercube or independent, reproducible from the seed."""
    n = int(spec.samples or 0)
    rng = np.random.default_rng(spec.seed)
    columns = []
    for p in spec.parameters:
        u = (rng.permutation(n) + rng.random(n)) / n if spec.design == "lhs" else rng.random(n)
        columns.append([float(x) for x in inverse_cdf(p.distribution, u)])
    return [[col[i] for col in columns] for i in range(n)]


# ----------------------------------------------------------------------------- expansion


class Expansion:
    """A sweep spec expanded against its base instance. Use as a context manager (it may hold
    a temporary folder with derived monthly series)."""

    def __init__(self, spec: SweepSpec, base_path: Path, source: str = "<sweep>",
                 plan_path: Path | None = None):
        self.spec, self.base_path, self.source = spec, Path(base_path), source
        self.base_instance = load_instance(base_path)
        # A stress design's plan (optimizer.sweep.stress): its decisions join every point.
        self.stress = open_stress_plan(spec, plan_path, source) if spec.design == "stress" else None
        self.base_sha256 = instance_fingerprint(base_path)
        self.base_data = self.base_instance.model_dump(mode="python")
        for key, value in spec.solver.model_dump(exclude_none=True).items():
            self.base_data["solver"][key] = value
        self._workdir: Path | None = None
        self._csv_cache: dict[tuple[str, str], dict[str, float]] = {}
        problems: list[Problem] = []
        for p in spec.parameters:
            try:
                resolve(self.base_data, p.path)
            except PathError as error:
                problems.append(Problem(f"parameters[{p.label}].path", str(error)))
        if problems:
            raise SweepSpecError(source, problems)
        if spec.design in ("grid", "oat", "stress"):
            checks = [(i, f"{p.mode}s[{j}]", level) for i, p in enumerate(spec.parameters)
                      for j, level in enumerate(p.levels)]
        else:
            first = sample(spec.model_copy(update={"samples": 1}))[0]
            checks = [(i, "distribution", draw) for i, draw in enumerate(first)]
        for i, where, level in checks:
            try:
                self._apply(copy.deepcopy(self.base_data), [(i, level)])
            except PathError as error:
                problems.append(Problem(f"parameters[{spec.parameters[i].label}].{where}", str(error)))
        if problems:
            raise SweepSpecError(source, _dedupe(problems))
        self.points = self._design()
        if len(self.points) > spec.max_points:
            raise SweepSpecError(source, [Problem("max_points", f"the {spec.design} design has "
                                 f"{len(self.points)} points, more than max_points "
                                 f"({spec.max_points})", "raise max_points or use fewer levels")])
        identity = {"base": self.base_sha256, "spec": spec.model_dump(mode="json"),
                    "points": [[p.point_id, p.params] for p in self.points]}
        if self.stress is not None:
            identity["plan"] = self.stress.sha256
        self.sweep_sha256 = hashlib.sha256(_json(identity).encode()).hexdigest()

    # -- context management
    def __enter__(self) -> Expansion:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- design
    def _base_level(self, p: Parameter) -> Any:
        if p.mode == "factor":
            return 1.0
        if p.mode == "shift":
            return 0.0
        values = [t.value for t in resolve(self.base_data, p.path)]
        first = values[0]
        plain = isinstance(first, int | float | str | bool)
        return first if plain and all(v == first for v in values) else None

    def _design(self) -> list[SweepPoint]:
        spec = self.spec
        params = spec.parameters
        rows: list[tuple[dict[str, Any], tuple[tuple[int, Any], ...]]] = []
        if spec.design in ("grid", "stress"):
            for combo in itertools.product(*(p.levels for p in params)):
                rows.append(({p.label: lv for p, lv in zip(params, combo, strict=True)},
                             tuple(enumerate(combo))))
        elif spec.design == "oat":
            base = {p.label: self._base_level(p) for p in params}
            rows.append((dict(base), ()))
            for i, p in enumerate(params):
                for level in p.levels:
                    if is_identity(p.mode, level) or self._apply(
                        copy.deepcopy(self.base_data), [(i, level)]
                    ) == self.base_data:
                        continue
                    rows.append(({**base, p.label: level}, ((i, level),)))
        else:
            integer = [p.mode == "value" and all(
                isinstance(t.value, int) and not isinstance(t.value, bool)
                for t in resolve(self.base_data, p.path)) for p in params]
            for raw in sample(spec):
                draws = [int(math.floor(d + 0.5)) if whole else d
                         for d, whole in zip(raw, integer, strict=True)]
                rows.append(({p.label: d for p, d in zip(params, draws, strict=True)},
                             tuple(enumerate(draws))))
        width = max(4, len(str(len(rows) - 1)))
        return [SweepPoint(f"p{k:0{width}d}", params_, changed)
                for k, (params_, changed) in enumerate(rows)]

    # -- materialization
    def _apply(self, data: dict, changed: list[tuple[int, Any]] | tuple) -> dict:
        sampled = self.spec.design in ("lhs", "random")
        for index, level in changed:
            p = self.spec.parameters[index]
            targets: list[Target] = resolve(data, p.path)
            for target in targets:
                apply_level(target, p.mode, level, sampled=sampled)
        return data

    def point_data(self, point: SweepPoint) -> dict:
        """The point's instance data; derived series are written as CSV files (see base_dir)."""
        data = self._apply(copy.deepcopy(self.base_data), point.changed)
        start, months = data["start"], data["horizon_months"]
        return walk_derived(data, lambda s: self._write_derived(s, start, months))

    def point_sha256(self, point: SweepPoint) -> str:
        data = self._apply(copy.deepcopy(self.base_data), point.changed)
        return hashlib.sha256((self.base_sha256 + _json(canonical(data))).encode()).hexdigest()

    @property
    def base_dir(self) -> Path:
        """Folder that CSV references of point instances are read from."""
        return self._workdir if self._workdir is not None else self.base_path.resolve().parent

    def _base_monthly(self, base: Any, start: str, months: int) -> list[float]:
        if isinstance(base, int | float):
            return [float(base)] * months
        if isinstance(base, DerivedSeries):
            return derived_values(base, self._base_monthly(base.base, start, months))
        if base.get("kind") == "growth":
            return GrowthSeries.model_validate(base).values(start, months)
        key = (base["csv"], base["column"])
        if key not in self._csv_cache:
            try:  # read again, by the same rules as when the base instance was loaded
                series = CsvSeries.model_validate(
                    base, context={"base_dir": str(self.base_path.resolve().parent)})
            except ValidationError as error:
                raise SweepSpecError(self.source, [
                    Problem("base", item["msg"].removeprefix("Value error, "))
                    for item in error.errors(include_url=False)]) from None
            self._csv_cache[key] = dict(series._by_month)
        by_month = self._csv_cache[key]
        first = month_ordinal(start)
        wanted = [ordinal_to_month(first + t) for t in range(months)]
        return [by_month.get(m, math.nan) for m in wanted]

    def _ensure_workdir(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="capalloc-sweep-"))
            origin = self.base_path.resolve().parent
            for ref in sorted(_csv_refs(self.base_data)):
                target = self._workdir / ref
                target.parent.mkdir(parents=True, exist_ok=True)
                try:  # by the instance's own rules: a link swapped in since loading stays unread
                    data = read_regular_file(resolve_inside(origin, ref), MAX_CSV_BYTES, False)
                except ReadError as error:
                    problem = Problem("base", f"CSV file {ref!r} {error.message}")
                    raise SweepSpecError(self.source, [problem]) from None
                target.write_bytes(data)
            (self._workdir / DERIVED_DIR).mkdir(exist_ok=True)
        return self._workdir

    def _write_derived(self, series: DerivedSeries, start: str, months: int) -> dict:
        values = derived_values(series, self._base_monthly(series.base, start, months))
        first = month_ordinal(start)
        lines = ["month,value"] + [f"{ordinal_to_month(first + t)},{v!r}" for t, v in enumerate(values)]
        text = "\n".join(lines) + "\n"
        name = f"{DERIVED_DIR}/{hashlib.sha256(text.encode()).hexdigest()[:16]}.csv"
        file = self._ensure_workdir() / name
        if not file.exists():
            file.write_text(text, encoding="utf-8")
        return {"kind": "csv", "csv": name, "column": "value"}

    def instance(self, point: SweepPoint) -> Instance:
        """The point's validated instance; InstanceError if the change makes it invalid."""
        data = self.point_data(point)
        source = f"{self.source} point {point.point_id}"
        instance = _validate(data, source, base_dir=self.base_dir)
        return instance if self.stress is None else self.stress.commit(instance, source)

    def validate_all(self) -> None:
        """Materialize and validate every point; raise SweepSpecError naming what fails."""
        problems: list[Problem] = []
        failing = 0
        for point in self.points:
            try:
                self.instance(point)
            except (InstanceError, PathError, ValueError) as error:
                failing += 1
                levels = ", ".join(f"{k}={v!r}" for k, v in point.params.items())
                found = getattr(error, "problems", None) or [Problem("", str(error))]
                for problem in found:
                    problems.append(Problem(problem.path, f"{problem.message} (point {point.point_id}: "
                                            f"{levels})", problem.hint))
        if problems:
            problems = _dedupe(problems)
            if len(problems) > MAX_LISTED_PROBLEMS:
                rest = len(problems) - MAX_LISTED_PROBLEMS
                problems = problems[:MAX_LISTED_PROBLEMS] + [Problem("", f"... and {rest} more")]
            problems.insert(0, Problem("", f"{failing} of {len(self.points)} point(s) give an "
                                       "invalid instance"))
            raise SweepSpecError(self.source, problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    out: list[Problem] = []
    for p in problems:
        if p not in out:
            out.append(p)
    return out


def _csv_refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        if node.get("kind") == "csv" and isinstance(node.get("csv"), str):
            return {node["csv"]}
        return set().union(*(_csv_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_csv_refs(v) for v in node)) if node else set()
    return set()


def expand_file(spec_path: str | Path) -> Expansion:
    """Load a spec file and expand it (the base instance must be valid)."""
    spec, base = load_sweep_spec(spec_path)
    plan = Path(spec_path).resolve().parent / spec.plan if spec.plan is not None else None
    try:
        return Expansion(spec, base, str(spec_path), plan)
    except InstanceError as error:
        if isinstance(error, SweepSpecError):
            raise
        problems = [Problem(f"base: {p.path}" if p.path else "base", p.message, p.hint)
                    for p in error.problems]
        raise SweepSpecError(str(spec_path), problems) from None
