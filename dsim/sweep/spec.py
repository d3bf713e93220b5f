"""The sweep file: a base scenario, axes over its fields by dotted path, how points are drawn from
them (a grid, or seeded random samples), replicates (seeds), designs, the push model on or off,
and optionally a headroom search.

Read with the scenario's hardened YAML reader and reported like scenarios (``file: field.path:
what is wrong``, one line). Every point's resolved scenario is built and validated here, before
any work starts, so a bad point fails fast with its axis values named.

::

    name: mesh-size
    base: ../quickstart.yaml          # relative to this file, or a scenario written inline
    set: {churn.duration_s: 120}      # fields changed in the base for every point
    axes:
      synthetic.services: [100, 1000, 5000]
      synthetic.replicas.mean: {min: 1, max: 4}        # a range: sampled, or `steps` for a grid
      synthetic.families.dual_ipv4_primary:             # values, and fields that move with them
        values: [0, 0.5, 1]
        with: {synthetic.families.ipv4: [1, 0.5, 0]}
      visibility: [all, dependencies]                   # Sidecar scoping off / on
    sample: grid                      # or {random: 12, seed: 1}
    replicates: 2                     # seeds: the base's seed, +1, ...; or seeds: [1, 2]
    designs: [single-stack, duplicate]
    pushsim: false
    formula: [services, pods]         # the capacity formula's per-object terms
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dsim.errors import ScenarioError, quote
from dsim.scenario import Scenario, scenario_from_dict, scenario_hash
from dsim.scenario.convert import describe_value, unknown_key_message
from dsim.scenario.istio.reader import istio_name
from dsim.scenario.load import read_text_file
from dsim.scenario.yaml_reader import parse_yaml
from dsim.sweep.metrics import COVARIATES, METRICS, METRICS_VERSION

MAX_POINTS = 100_000
"""Points a sweep may have (grid size × replicates): beyond, the sweep file is refused."""
MAX_STEPS = 40
"""Bisection steps a headroom search may take per design and replicate."""
OPERATORS = ("<=", ">=", "==", "!=", "<", ">")
_TARGET = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|==|!=|<|>)\s*([-+0-9.eE]+)\s*$")
_RESERVED = {
    "seed": "set replicates or seeds instead",
    "designs": "set the sweep's designs instead",
    "name": "a point's name is the base scenario's",
}
_TOP_KEYS = [
    "name",
    "description",
    "base",
    "set",
    "axes",
    "sample",
    "replicates",
    "seeds",
    "designs",
    "pushsim",
    "formula",
    "headroom",
]

AxisKind = Literal["integer", "number", "boolean", "choice", "other"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Range:
    """A numeric range of an axis: sampled uniformly (``log``: uniformly in its logarithm), or
    ``steps`` values evenly spaced for a grid."""

    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"
    steps: int | None = None

    def grid(self, integer: bool) -> list[float | int]:
        assert self.steps is not None
        if self.scale == "log":
            values = np.geomspace(self.low, self.high, self.steps)
        else:
            values = np.linspace(self.low, self.high, self.steps)
        if integer:
            return list(dict.fromkeys(round(v) for v in values))
        return [float(v) for v in values]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Axis:
    """One swept field (``path``), with the values it takes (or a range), and fields that move
    with it (``linked``: path → one value per entry of ``values``)."""

    path: str
    kind: AxisKind
    values: tuple[Any, ...] = ()
    range: Range | None = None
    linked: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "number")

    def grid_values(self) -> list[Any]:
        if self.range is not None:
            return self.range.grid(self.kind == "integer")
        return list(self.values)

    def assignment(self, index: int | None, value: Any) -> dict[str, Any]:
        """The fields set when the axis takes ``value`` (the ``index``-th of ``values``, when one)."""
        out = {self.path: value}
        if index is not None:
            out |= {path: values[index] for path, values in self.linked}
        return out

    def describe(self) -> str:
        if self.range is not None:
            r = self.range
            steps = f", {r.steps} steps" if r.steps else ""
            return f"{_text(r.low)} to {_text(r.high)} ({r.scale}{steps})"
        shown = ", ".join(_text(v) for v in self.values)
        linked = "".join(f"; with {p}: {', '.join(_text(v) for v in vs)}" for p, vs in self.linked)
        return shown + linked


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    """``metric op bound``: a condition a point's figure must meet (``convergence_p99_s < 1``)."""

    metric: str
    op: str
    bound: float

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return {
            "<": value < self.bound,
            "<=": value <= self.bound,
            ">": value > self.bound,
            ">=": value >= self.bound,
            "==": value == self.bound,
            "!=": value != self.bound,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {_text(self.bound)}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Headroom:
    """Per design and replicate, bisection over ``axis`` between ``low`` and ``high`` for the
    boundary where every target stops holding."""

    axis: Axis
    low: float
    high: float
    scale: Literal["linear", "log"]
    steps: int
    targets: tuple[Target, ...]

    def midpoint(self, a: float, b: float) -> float | int:
        middle = math.sqrt(a * b) if self.scale == "log" else (a + b) / 2
        return round(middle) if self.axis.kind == "integer" else middle

    def settled(self, a: float, b: float) -> bool:
        """Whether the bracket ``[a, b]`` can be split no further (an integer axis stops at 1)."""
        if self.axis.kind == "integer":
            return abs(b - a) <= 1
        return False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Point:
    """One resolved scenario of the sweep, with the axis values and seed that made it."""

    index: int
    values: dict[str, Any]
    """Every swept field's value (axes and the fields linked to them), by path."""
    replicate: int
    scenario: Scenario
    key: str
    """The hash the results are kept under: the resolved scenario (seed and designs in it), the
    push model switch, the calibration and dsim's metric set."""

    @property
    def seed(self) -> int:
        return self.scenario.seed

    def label(self) -> str:
        values = ", ".join(f"{path}={_text(v)}" for path, v in self.values.items())
        return f"{values}, seed {self.seed}" if values else f"seed {self.seed}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sweep:
    """A loaded, validated sweep file."""

    name: str
    description: str
    source: str
    base_data: dict[str, Any]
    """The base scenario as written (axes are applied to it, then it is resolved)."""
    base: Scenario
    base_source: str
    axes: tuple[Axis, ...]
    sampling: Literal["grid", "random"]
    samples: int
    sample_seed: int
    seeds: tuple[int, ...]
    designs: tuple[str, ...]
    pushsim: bool
    formula: tuple[str, ...]
    headroom: Headroom | None
    calibration: str
    """The calibration the results come from (part of every point's key)."""
    points: tuple[Point, ...] = ()
    """Every point, validated (empty in headroom mode: its points are chosen as results arrive)."""

    def point(
        self, values: dict[str, Any], replicate: int, index: int, *, designs: Sequence[str] | None = None
    ) -> Point:
        """The point with these field values and replicate, resolved and validated."""
        data = copy.deepcopy(self.base_data)
        for path, value in values.items():
            _assign(data, path, value)
        data["seed"] = self.seeds[replicate]
        data["designs"] = list(designs or self.designs)
        label = ", ".join(f"{p}={_text(v)}" for p, v in values.items())
        where = f"{self.source}: point {index} ({label + ', ' if label else ''}seed {self.seeds[replicate]})"
        scenario = scenario_from_dict(data, source=where, default_name=self.base.name or self.name)
        _check_size(scenario, where, self.pushsim)
        return Point(
            index=index,
            values=dict(values),
            replicate=replicate,
            scenario=scenario,
            key=point_key(scenario, pushsim=self.pushsim, calibration=self.calibration),
        )

    def identity(self) -> str:
        """A hash of what the sweep computes (its points' keys, or the headroom search's settings)."""
        parts: list[Any] = [p.key for p in self.points]
        if self.headroom is not None:
            h = self.headroom
            parts += [
                h.axis.path,
                h.low,
                h.high,
                h.scale,
                h.steps,
                [str(t) for t in h.targets],
                scenario_hash(self.base),
                self.seeds,
                self.designs,
                self.pushsim,
            ]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def point_key(scenario: Scenario, *, pushsim: bool, calibration: str) -> str:
    """What a point's results are kept under: equal for equal resolved scenarios and options."""
    parts = [scenario_hash(scenario), bool(pushsim), calibration, METRICS_VERSION]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _assign(data: dict[str, Any], path: str, value: Any) -> None:
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def _check_size(scenario: Scenario, where: str, pushsim: bool) -> None:
    from dsim.sizing import check_fits

    check_fits(scenario, source=where, stage="push" if pushsim else "run", designs=len(scenario.designs))


def _unwrap(hint: Any) -> Any:
    """``hint`` without ``Annotated`` constraints and ``| None``."""
    while True:
        origin = typing.get_origin(hint)
        if origin is typing.Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, __import__("types").UnionType):
            options = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(options) != 1:
                return hint
            hint = options[0]
        else:
            return hint


def field_kind(path: str, *, source: str, where: str) -> AxisKind:
    """What the scenario field at dotted ``path`` holds; a path that names no field is refused
    at ``where`` in one line."""
    if not path or any(not part for part in path.split(".")):
        raise ScenarioError(source, where, f"{quote(path)} is not a dotted field path (like synthetic.services)")
    first = path.split(".")[0]
    if first in _RESERVED:
        raise ScenarioError(source, where, f"{first} cannot be an axis: {_RESERVED[first]}")
    hint: Any = Scenario
    walked: list[str] = []
    istio_form = False  # below a mesh setting written as in MeshConfig, keys are Istio's (camelCase)
    for part in path.split("."):
        cls = _unwrap(hint)
        if not dataclasses.is_dataclass(cls):
            raise ScenarioError(
                source, where, f"{'.'.join(walked)} is a value, not a section: it has no field {quote(part)}"
            )
        fields = {
            istio_name(f) if istio_form else f.name: f
            for f in dataclasses.fields(cls)
            if f.init and not f.metadata.get("derived")
        }
        if part not in fields:
            prefix = f"{'.'.join(walked)} has no field {quote(part)}: " if walked else ""
            raise ScenarioError(source, where, prefix + unknown_key_message(part, list(fields)))
        istio_form = istio_form or bool(fields[part].metadata.get("istio_form"))
        hint = typing.get_type_hints(cls, include_extras=True)[fields[part].name]
        walked.append(part)
    hint = _unwrap(hint)
    if dataclasses.is_dataclass(hint):
        raise ScenarioError(source, where, f"{path} is a section; sweep one of its fields (like {path}.<field>)")
    if hint is bool:
        return "boolean"
    if hint is int:
        return "integer"
    if hint is float:
        return "number"
    if hint is str or typing.get_origin(hint) is Literal:
        return "choice"
    return "other"


def _fail(source: str, path: str, message: str) -> typing.NoReturn:
    raise ScenarioError(source, path, message)


def _number(raw: Any, source: str, path: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        _fail(source, path, f"expected a finite number (got {describe_value(raw)})")
    return float(raw)


def _whole(raw: Any, source: str, path: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        _fail(source, path, f"expected a whole number (got {describe_value(raw)})")
    if not low <= raw <= high:
        _fail(source, path, f"must be from {low:,} to {high:,} (got {quote(raw)})")
    return raw


def _values(raw: Any, source: str, path: str) -> tuple[Any, ...]:
    if not isinstance(raw, list) or not raw:
        _fail(source, path, f"expected a non-empty list of values (got {describe_value(raw)})")
    return tuple(raw)


def _range(raw: Mapping[str, Any], kind: AxisKind, source: str, path: str) -> Range:
    allowed = ["min", "max", "scale", "steps"]
    for key in raw:
        if key not in allowed:
            _fail(source, f"{path}.{key}", unknown_key_message(key, allowed))
    if kind not in ("integer", "number"):
        _fail(source, path, f"a range (min, max) needs a numeric field; this one holds a {kind}: list its values")
    for key in ("min", "max"):
        if key not in raw:
            _fail(source, f"{path}.{key}", "missing (a range needs min and max)")
    low, high = _number(raw["min"], source, f"{path}.min"), _number(raw["max"], source, f"{path}.max")
    if not low < high:
        _fail(source, path, f"min must be below max (got {_text(low)} and {_text(high)})")
    scale = raw.get("scale", "linear")
    if scale not in ("linear", "log"):
        _fail(source, f"{path}.scale", f"{describe_value(scale)} is not one of linear, log")
    if scale == "log" and low <= 0:
        _fail(source, f"{path}.min", f"a log scale needs min above 0 (got {_text(low)})")
    steps = _whole(raw["steps"], source, f"{path}.steps", 2, 1000) if "steps" in raw else None
    return Range(low=low, high=high, scale=scale, steps=steps)


def _axis(path: str, raw: Any, source: str) -> Axis:
    where = f"axes.{path}" if isinstance(path, str) else f"axes[{quote(path, short=True)}]"
    if not isinstance(path, str):
        _fail(source, where, "an axis is named by a dotted field path (like synthetic.services)")
    kind = field_kind(path, source=source, where=where)
    if isinstance(raw, list):
        return Axis(path=path, kind=kind, values=_values(raw, source, where))
    if not isinstance(raw, Mapping):
        _fail(source, where, f"expected a list of values, a range {{min, max}} or {{values, with}} (got {quote(raw)})")
    if "values" in raw or "with" in raw:
        for key in raw:
            if key not in ("values", "with"):
                _fail(source, f"{where}.{key}", unknown_key_message(key, ["values", "with"]))
        values = _values(raw.get("values"), source, f"{where}.values")
        linked_raw = raw.get("with") or {}
        if not isinstance(linked_raw, Mapping):
            _fail(source, f"{where}.with", f"expected a mapping of field paths to values (got {quote(linked_raw)})")
        linked = []
        for other, others in linked_raw.items():
            here = f"{where}.with.{other}"
            if not isinstance(other, str):
                _fail(source, here, "a linked field is named by a dotted field path")
            field_kind(other, source=source, where=here)
            listed = _values(others, source, here)
            if len(listed) != len(values):
                _fail(source, here, f"expected {len(values)} values, one per value of {path} (got {len(listed)})")
            linked.append((other, listed))
        return Axis(path=path, kind=kind, values=values, linked=tuple(linked))
    return Axis(path=path, kind=kind, range=_range(raw, kind, source, where))


def _target(raw: Any, source: str, path: str, pushsim: bool) -> Target:
    match = _TARGET.match(raw) if isinstance(raw, str) else None
    if match is None:
        _fail(source, path, f"expected 'metric op number', like 'convergence_p99_s < 1' (got {quote(raw)})")
    metric, op, bound_text = match.groups()
    if metric not in METRICS:
        _fail(
            source,
            path,
            unknown_key_message(metric, list(METRICS)).replace("unknown key", f"unknown metric {metric!r}"),
        )
    try:
        bound = float(bound_text)
    except ValueError:
        _fail(source, path, f"{quote(bound_text)} is not a number")
    if METRICS[metric].push and not pushsim:
        _fail(source, path, f"{metric} comes from the push model: set pushsim: true")
    return Target(metric=metric, op=op, bound=bound)


def _headroom(raw: Any, source: str, pushsim: bool) -> Headroom:
    where = "headroom"
    if not isinstance(raw, Mapping):
        _fail(source, where, f"expected a mapping with axis, range and targets (got {describe_value(raw)})")
    allowed = ["axis", "range", "scale", "steps", "targets"]
    for key in raw:
        if key not in allowed:
            _fail(source, f"{where}.{key}", unknown_key_message(key, allowed))
    for key in ("axis", "range", "targets"):
        if key not in raw:
            _fail(source, f"{where}.{key}", "missing (this field is required)")
    path = raw["axis"]
    if not isinstance(path, str):
        _fail(source, f"{where}.axis", f"expected a dotted field path (got {describe_value(path)})")
    kind = field_kind(path, source=source, where=f"{where}.axis")
    if kind not in ("integer", "number"):
        _fail(source, f"{where}.axis", f"{path} holds a {kind}; a headroom search bisects a numeric field")
    bounds = raw["range"]
    if not isinstance(bounds, list) or len(bounds) != 2:
        _fail(source, f"{where}.range", f"expected [low, high] (got {describe_value(bounds)})")
    low = _number(bounds[0], source, f"{where}.range[0]")
    high = _number(bounds[1], source, f"{where}.range[1]")
    if not low < high:
        _fail(source, f"{where}.range", f"low must be below high (got {_text(low)} and {_text(high)})")
    scale = raw.get("scale", "linear")
    if scale not in ("linear", "log"):
        _fail(source, f"{where}.scale", f"{describe_value(scale)} is not one of linear, log")
    if scale == "log" and low <= 0:
        _fail(source, f"{where}.range[0]", f"a log scale needs low above 0 (got {_text(low)})")
    steps = _whole(raw.get("steps", 6), source, f"{where}.steps", 1, MAX_STEPS)
    targets_raw = raw["targets"]
    if isinstance(targets_raw, str):
        targets_raw = [targets_raw]
    if not isinstance(targets_raw, list) or not targets_raw:
        _fail(source, f"{where}.targets", f"expected a list of conditions (got {describe_value(targets_raw)})")
    targets = tuple(_target(t, source, f"{where}.targets[{i}]", pushsim) for i, t in enumerate(targets_raw))
    if kind == "integer":
        low, high = float(round(low)), float(round(high))
    axis = Axis(path=path, kind=kind, range=Range(low=low, high=high, scale=scale))
    return Headroom(axis=axis, low=low, high=high, scale=scale, steps=steps, targets=targets)


def _base(raw: Any, source: str, folder: Path) -> tuple[dict[str, Any], str, str]:
    """The base scenario's data as written, where it came from, and its default name."""
    if isinstance(raw, str):
        path = Path(os.path.normpath(raw if Path(raw).is_absolute() else folder / raw))
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            _fail(source, "base", f"{quote(raw)}: no such file (a path is relative to the sweep file)")
        except IsADirectoryError:
            _fail(source, "base", f"{quote(raw)}: is a directory, expected a scenario YAML file")
        except (OSError, UnicodeDecodeError) as e:
            _fail(source, "base", f"{quote(raw)}: cannot be read ({e})")
        data = parse_yaml(text, str(path))
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ScenarioError(str(path), "", "expected a mapping of scenario settings at the top level")
        name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "scenario"
        return dict(data), str(path), name
    if isinstance(raw, Mapping):
        return dict(raw), f"{source}: base", ""
    _fail(source, "base", f"expected a scenario file's path or a scenario mapping (got {describe_value(raw)})")


def _sampling(raw: Any, source: str) -> tuple[Literal["grid", "random"], int, int]:
    if raw is None or raw == "grid":
        return "grid", 0, 0
    if isinstance(raw, Mapping):
        for key in raw:
            if key not in ("random", "seed"):
                _fail(source, f"sample.{key}", unknown_key_message(key, ["random", "seed"]))
        if "random" not in raw:
            _fail(source, "sample.random", "missing (how many points to draw)")
        samples = _whole(raw["random"], source, "sample.random", 1, MAX_POINTS)
        seed = _whole(raw.get("seed", 0), source, "sample.seed", 0, 2**63 - 1)
        return "random", samples, seed
    _fail(source, "sample", f"expected grid or {{random: N, seed: S}} (got {describe_value(raw)})")


def _names(raw: Any, source: str, path: str, valid: Sequence[str], kind: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        _fail(source, path, f"expected a non-empty list of {kind}s (got {describe_value(raw)})")
    for i, name in enumerate(raw):
        if name not in valid:
            _fail(source, f"{path}[{i}]", f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")
    return tuple(dict.fromkeys(raw))


def _check_value(sweep: Sweep, axis: Axis, where: str, values: dict[str, Any]) -> None:
    """Resolve the base with ``values`` alone: a bad value is refused naming the axis entry."""
    data = copy.deepcopy(sweep.base_data)
    for path, value in values.items():
        _assign(data, path, value)
    data["designs"] = list(sweep.designs)
    try:
        scenario_from_dict(data, source=sweep.source, default_name=sweep.name)
    except ScenarioError as e:
        if e.path in values:
            shown = e.message if e.path == axis.path else f"{e.path}: {e.message}"
            raise ScenarioError(sweep.source, where, shown) from None
        # The value is fine alone but the base it lands in is not (a mix that now sums to zero, ...)
        raise ScenarioError(sweep.source, where, f"{e.path}: {e.message}" if e.path else e.message) from None


def _draw(sweep: Sweep) -> list[dict[str, Any]]:
    """The axis values of each sample (before replicates), in order."""
    if not sweep.axes:
        return [{}]
    if sweep.sampling == "grid":
        for axis in sweep.axes:
            if axis.range is not None and axis.range.steps is None:
                _fail(sweep.source, f"axes.{axis.path}", "a range in a grid needs steps (or use sample: {random: N})")
        choices = []
        for axis in sweep.axes:
            if axis.range is not None:
                choices.append([axis.assignment(None, v) for v in axis.grid_values()])
            else:
                choices.append([axis.assignment(i, v) for i, v in enumerate(axis.values)])
        return [dict(itertools.chain.from_iterable(c.items() for c in combo)) for combo in itertools.product(*choices)]
    rng = np.random.default_rng(sweep.sample_seed)
    out = []
    for _ in range(sweep.samples):
        values: dict[str, Any] = {}
        for axis in sweep.axes:
            if axis.range is not None:
                r = axis.range
                drawn = (
                    math.exp(rng.uniform(math.log(r.low), math.log(r.high)))
                    if r.scale == "log"
                    else rng.uniform(r.low, r.high)
                )
                value: Any = round(drawn) if axis.kind == "integer" else float(f"{drawn:.6g}")
                values |= axis.assignment(None, value)
            else:
                index = int(rng.integers(len(axis.values)))
                values |= axis.assignment(index, axis.values[index])
        out.append(values)
    return out


def grid_size(axes: Sequence[Axis]) -> int:
    size = 1
    for axis in axes:
        size *= len(axis.grid_values()) if (axis.range is None or axis.range.steps) else 1
    return size


def sweep_from_dict(data: Mapping[str, Any], *, source: str, folder: Path, default_name: str) -> Sweep:
    """Validate a parsed sweep file and return it with every point resolved."""
    from dsim.calibration.model import load_calibration
    from dsim.designs import design_names

    for key in data:
        if key not in _TOP_KEYS:
            _fail(source, str(key), unknown_key_message(key, _TOP_KEYS))
    if "base" not in data:
        _fail(source, "base", "missing (the scenario the axes change: a file's path, or a scenario mapping)")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
        _fail(source, "name", f"expected a lowercase name of letters, digits and '-' (got {describe_value(name)})")
    description = data.get("description", "")
    if not isinstance(description, str):
        _fail(source, "description", f"expected a string (got {describe_value(description)})")
    base_data, base_source, base_name = _base(data["base"], source, folder)
    overrides = data.get("set") or {}
    if not isinstance(overrides, Mapping):
        _fail(source, "set", f"expected a mapping of field paths to values (got {describe_value(overrides)})")
    for path, value in overrides.items():
        where = f"set.{path}" if isinstance(path, str) else f"set[{quote(path, short=True)}]"
        if not isinstance(path, str):
            _fail(source, where, "a field is named by a dotted path (like churn.duration_s)")
        field_kind(path, source=source, where=where)
        _assign(base_data, path, value)
    if overrides:  # the base as the sweep changes it, checked as its own scenario
        try:
            scenario_from_dict(base_data, source=source, default_name=base_name or name)
        except ScenarioError as e:
            where = f"set.{e.path}" if e.path in overrides else e.path
            raise ScenarioError(source, where, e.message) from None
    base = scenario_from_dict(base_data, source=base_source, default_name=base_name or name)
    pushsim = data.get("pushsim", True)
    if not isinstance(pushsim, bool):
        _fail(source, "pushsim", f"expected true or false (got {describe_value(pushsim)})")
    designs = (
        _names(data["designs"], source, "designs", design_names(), "design") if "designs" in data else base.designs
    )
    if "seeds" in data and "replicates" in data:
        _fail(source, "seeds", "give replicates or seeds, not both")
    if "seeds" in data:
        seeds_raw = data["seeds"]
        if not isinstance(seeds_raw, list) or not seeds_raw:
            _fail(source, "seeds", f"expected a non-empty list of seeds (got {describe_value(seeds_raw)})")
        seeds = tuple(_whole(s, source, f"seeds[{i}]", 0, 2**63 - 1) for i, s in enumerate(seeds_raw))
        if len(set(seeds)) != len(seeds):
            _fail(source, "seeds", "a seed is listed twice (its replicate would repeat another)")
    else:
        replicates = _whole(data.get("replicates", 1), source, "replicates", 1, 1000)
        seeds = tuple(base.seed + r for r in range(replicates))
    formula = (
        _names(data["formula"], source, "formula", COVARIATES, "formula term")
        if "formula" in data
        else ("services", "dual_stack_services", "pods")
    )
    sampling, samples, sample_seed = _sampling(data.get("sample"), source)
    axes_raw = data.get("axes") or {}
    if not isinstance(axes_raw, Mapping):
        _fail(source, "axes", f"expected a mapping of field paths to values (got {describe_value(axes_raw)})")
    axes = tuple(_axis(path, raw, source) for path, raw in axes_raw.items())
    swept = [p for a in axes for p in (a.path, *(q for q, _ in a.linked))]
    repeated = sorted({p for p in swept if swept.count(p) > 1})
    if repeated:
        _fail(source, f"axes.{repeated[0]}", "swept twice (as an axis and linked to another, or linked twice)")
    headroom = _headroom(data["headroom"], source, pushsim) if data.get("headroom") is not None else None
    if headroom is not None and axes:
        _fail(source, "axes", "a headroom sweep searches its own axis: leave axes out")
    if sampling == "grid" and grid_size(axes) * len(seeds) > MAX_POINTS:
        _fail(source, "axes", f"the grid has {grid_size(axes) * len(seeds):,} points; at most {MAX_POINTS:,}")
    if sampling == "random" and samples * len(seeds) > MAX_POINTS:
        _fail(source, "sample.random", f"{samples * len(seeds):,} points; at most {MAX_POINTS:,}")
    sweep = Sweep(
        name=name,
        description=description.strip(),
        source=source,
        base_data=base_data,
        base=base,
        base_source=base_source,
        axes=axes,
        sampling=sampling,
        samples=samples,
        sample_seed=sample_seed,
        seeds=seeds,
        designs=designs,
        pushsim=pushsim,
        formula=formula,
        headroom=headroom,
        calibration=load_calibration().describe(),
    )
    for axis in axes:
        where = f"axes.{axis.path}"
        if axis.range is not None:
            lows = [axis.range.low, axis.range.high]
            for j, v in enumerate(lows):
                value = round(v) if axis.kind == "integer" else v
                _check_value(sweep, axis, f"{where}.{'min' if j == 0 else 'max'}", {axis.path: value})
        else:
            for i, v in enumerate(axis.values):
                _check_value(sweep, axis, f"{where}[{i}]", axis.assignment(i, v))
    if headroom is not None:
        for j, v in enumerate((headroom.low, headroom.high)):
            value = int(v) if headroom.axis.kind == "integer" else v
            _check_value(sweep, headroom.axis, f"headroom.range[{j}]", {headroom.axis.path: value})
        return sweep
    points: list[Point] = []
    for values in _draw(sweep):
        for replicate in range(len(seeds)):
            points.append(sweep.point(values, replicate, len(points)))
    return dataclasses.replace(sweep, points=tuple(points))


def load_sweep(path: str | Path) -> Sweep:
    """Read, validate and resolve the sweep file at ``path`` (every point built and checked)."""
    path = Path(path)
    source = str(path)
    data = parse_yaml(read_text_file(path, "a sweep YAML file"), source)
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "", "expected a mapping of sweep settings (base, axes, ...) at the top level")
    default_name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "sweep"
    return sweep_from_dict(data, source=source, folder=path.parent, default_name=default_name)
