"""Mutated scenario files for the fuzz test and ``bench/fuzz.py``: the shipped scenarios with one
to three typed mutations each (wrong types, huge, negative and non-finite numbers, deep nesting,
unhashable keys, YAML tags, aliases, control characters, 2 MB strings, absurd sizes, broken text).

Case ``n`` of a seed is the same text on every machine: each case draws from its own
``random.Random(f"{seed}:{n}")``, so a failing case is reproduced from its number alone.
A mutation is written as a placeholder in the parsed scenario, which is then serialized (block
YAML or JSON-style flow YAML) and the placeholder replaced by raw YAML text: that way a mutation
can be text no serializer writes (a tag, an alias, an unhashable key, a bare control character).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from dsim.sizing import Stage

ROOT = Path(__file__).resolve().parent.parent
BASES = {path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "scenarios").glob("*.yaml"))}

WRONG_TYPES = ['"x"', "1", "2.5", "true", "null", "[1, 2]", "{a: 1}", '""', "[]", "{}", "[[]]", "-"]
HUGE = ["9223372036854775807", "9223372036854775808", "18446744073709551616", "1" + "0" * 400, "1e308", "1e400"]
NEGATIVE = ["-1", "-0.5", "-9223372036854775809", "-1e308", "-0.0", "0"]
NON_FINITE = [".nan", ".inf", "-.inf", ".NaN", "+.inf"]
TAGS = [
    "!!float x",
    "!!int x",
    "!!bool maybe",
    "!!timestamp x",
    "!!timestamp 2001-12-14",
    "!!binary x",
    "!!binary aGVsbG8=",
    "!!python/object:os.system x",
    "!!python/name:os.system ''",
    "!!python/tuple [1, 2]",
    "!!set {a, b}",
    "!!omap [{a: 1}]",
    "!!str [1]",
    "!!null x",
    "!!int 0x7fffffffffffffffff",
    "!!float 1e999",
    "!custom 1",
    "!<tag:example.com,2000:x> 1",
]
CONTROL = ['"\\x00"', '"a\\nb"', '"\\x07\\x1b[31m"', '"\\u202eevil"', '"\\r"', '"\\t"', '"\\x7f"']
BARE_CONTROL = ["\x00", "\x07", "\x1b", "\x7f", "\ufeff", "\ud7ff"]  # written as is, unquoted
# Long strings: mostly tens or hundreds of kB (PyYAML reads ~4 MB/s), a 2 MB one in ten.
LONG = ([20_000] * 5) + ([200_000] * 4) + [2_000_000]

# Numeric fields whose size decides how much a run allocates (absurd values go here).
SIZE_FIELDS = [
    ("synthetic", "services"),
    ("synthetic", "namespaces"),
    ("synthetic", "replicas", "mean"),
    ("synthetic", "replicas", "max"),
    ("synthetic", "replicas", "min"),
    ("synthetic", "replicas", "sigma"),
    ("synthetic", "subsets", "versions"),
    ("synthetic", "subsets", "fraction"),
    ("synthetic", "call_graph", "m"),
    ("synthetic", "call_graph", "mean_degree"),
    ("churn", "duration_s"),
    ("churn", "pod_replacements_per_s"),
    ("churn", "rollouts_per_hour"),
    ("churn", "scale_events_per_hour"),
    ("churn", "scale_step"),
    ("churn", "service_creations_per_hour"),
    ("churn", "pod_startup_s"),
    ("istiod", "replicas"),
    ("istiod", "gomaxprocs"),
    ("istiod", "push_throttle"),
    ("istiod", "max_grpc_message_bytes"),
    ("envoy", "concurrency"),
    ("workloads", 0, "replicas"),
    ("seed",),
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Case:
    """One mutated scenario file."""

    number: int
    """Its number within the seed's sequence."""
    base: str
    """The shipped scenario it mutates (file name)."""
    mutations: tuple[str, ...]
    """What was done, one entry per mutation (``kind at path``)."""
    text: bytes
    """The file's bytes."""


_Path = tuple[str | int, ...]


def _paths(node: Any, prefix: _Path = ()) -> list[_Path]:
    """Every place in a parsed scenario a value can be replaced (containers and leaves)."""
    found: list[_Path] = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _mappings(node: Any, prefix: _Path = ()) -> list[_Path]:
    found: list[_Path] = [prefix] if isinstance(node, dict) else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _mappings(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _mappings(value, (*prefix, i))
    return found


def _set(data: dict[str, Any], path: _Path, value: Any) -> None:
    """Put ``value`` at ``path``, creating mappings (and a first list item) on the way."""
    node: Any = data
    for key, following in itertools.pairwise(path):
        if isinstance(node, list):
            if not node:
                node.append({})
            key = min(int(key), len(node) - 1)
        elif key not in node or not isinstance(node[key], dict | list):
            node[key] = [] if isinstance(following, int) else {}
        node = node[key]
    last = path[-1]
    if isinstance(node, list):
        if not node:
            node.append(None)
        node[min(int(last), len(node) - 1)] = value
    else:
        node[last] = value


def _get(data: Any, path: _Path) -> Any:
    for key in path:
        data = data[key]
    return data


class _Mutator:
    """Applies mutations to one parsed scenario, collecting the raw texts its placeholders stand for."""

    def __init__(self, rng: random.Random, data: dict[str, Any]) -> None:
        self.rng = rng
        self.data = data
        self.raw: dict[str, str] = {}
        self.flow_only = False  # raw keys need the JSON-style flow rendering

    def placeholder(self, raw: str) -> str:
        token = f"FUZZ{len(self.raw)}PLACEHOLDER"
        self.raw[token] = raw
        return token

    def replace(self, raw: str, path: _Path | None = None) -> str:
        path = path or self.rng.choice(_paths(self.data) or [("seed",)])
        _set(self.data, path, self.placeholder(raw))
        return ".".join(map(str, path))

    def add_key(self, raw_key: str) -> str:
        self.flow_only = True
        path = self.rng.choice(_mappings(self.data))
        mapping = _get(self.data, path)
        mapping[self.placeholder(f"? {raw_key}")] = 1
        return ".".join(map(str, path)) or "<top>"

    def apply(self, kind: str) -> str:
        rng = self.rng
        if kind == "wrong type":
            return self.replace(rng.choice(WRONG_TYPES))
        if kind == "huge number":
            return self.replace(rng.choice(HUGE))
        if kind == "negative number":
            return self.replace(rng.choice(NEGATIVE))
        if kind == "non-finite number":
            return self.replace(rng.choice(NON_FINITE))
        if kind == "absurd size":
            value = rng.choice([str(10 ** rng.randint(4, 19)), str(2**63 - 1), "1e300", str(rng.randint(10**5, 10**9))])
            field = rng.choice(SIZE_FIELDS)
            if field[:2] == ("synthetic", "replicas") and rng.random() < 0.5:  # each distribution uses its own
                _set(self.data, ("synthetic", "replicas", "distribution"), rng.choice(DISTRIBUTIONS))
            return self.replace(value, field)
        if kind == "deep nesting":
            depth = rng.choice([60, 200, 1_000, 10_000, 100_000])
            opener, closer = rng.choice([("[", "]"), ("{a: ", "}")])
            return self.replace(opener * depth + "1" + closer * depth)
        if kind == "unhashable key":
            return self.add_key(rng.choice(["[a]", "{a: 1}", "[[1, 2], 3]", "!!set {a}"]))
        if kind == "odd key":
            long_key = '"' + "k" * rng.choice(LONG) + '"'
            return self.add_key(rng.choice([long_key, '"\\x07\\n"', "1", "null", "2.5", "true", "[]"]))
        if kind == "tag":
            return self.replace(rng.choice(TAGS))
        if kind == "alias bomb":
            width = rng.choice([9, 10, 30])
            levels = rng.choice([3, 6, 9])
            bomb = f"&l0 [{', '.join(['x'] * width)}]"
            for level in range(1, levels + 1):
                bomb = f"[{bomb}, &l{level} [{', '.join([f'*l{level - 1}'] * width)}]]"
            return self.replace(bomb)
        if kind == "self alias":
            return self.replace(rng.choice(["&z [*z]", "&z {a: *z}", "&z [1, [2, *z]]"]))
        if kind == "alias edges":
            services = rng.choice([3, 300, 10_000])
            pairs = rng.choice([1_000, 5_000, 20_000])
            row = "&p [0, 1]" if rng.random() < 0.5 else f"&p [{', '.join(['0'] * 1000)}]"
            _set(self.data, ("synthetic", "services"), services)
            _set(self.data, ("synthetic", "call_graph", "model"), "edge-list")
            return self.replace(f"[{row}{', *p' * pairs}]", ("synthetic", "call_graph", "edges"))
        if kind == "quoted control character":
            return self.replace(rng.choice(CONTROL))
        if kind == "long string":
            return self.replace('"' + rng.choice(["a", "é", "-", "A b"]) * (rng.choice(LONG) // 3) + '"')
        if kind == "plausible value":
            return self.plausible()
        if kind == "missing key":
            path = rng.choice(_paths(self.data) or [("seed",)])
            parent = _get(self.data, path[:-1])
            if isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.pop(int(path[-1]))
            return ".".join(map(str, path))
        if kind == "unknown key":
            path = rng.choice(_mappings(self.data))
            _get(self.data, path)[rng.choice(["sed", "extra", "Name", "replicas ", ""])] = 1
            return ".".join(map(str, path)) or "<top>"
        if kind == "empty section":
            return self.replace(rng.choice(["null", "{}", "[]", '""']), (rng.choice(list(self.data) or ["seed"]),))
        raise ValueError(kind)

    def plausible(self) -> str:
        """A change a user could make on purpose: a number scaled, a switch flipped, a choice changed."""
        leaves = [p for p in _paths(self.data) if not isinstance(_get(self.data, p), dict | list | str)]
        if self.rng.random() < 0.2:  # now and then a text field gets a value meant for another one
            leaves = [p for p in _paths(self.data) if isinstance(_get(self.data, p), str)]
        path = self.rng.choice(leaves or [("seed",)])
        value = _get(self.data, path) if leaves else 0
        if isinstance(value, bool):
            _set(self.data, path, not value)
        elif isinstance(value, int | float):
            _set(self.data, path, type(value)(value * self.rng.choice([0, 0.5, 2, 3, 10])))
        else:
            _set(self.data, path, self.rng.choice(CHOICES))
        return ".".join(map(str, path))

    def render(self, flow: bool) -> str:
        if flow or self.flow_only:
            text = _flow(self.data)
        else:
            text = yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True, width=1 << 30)
        for token, raw in self.raw.items():
            text = text.replace(f'"{token}"', raw).replace(token, raw)
        return text


DISTRIBUTIONS = ["fixed", "uniform", "geometric", "lognormal"]
# Values some field or other accepts, tried where the scenario has text.
CHOICES = [
    "IPv4",
    "IPv6",
    "all",
    "namespace",
    "dependencies",
    "STRICT",
    "DISABLE",
    "uniform",
    "lognormal",
    "none",
    "erdos-renyi",
    "edge-list",
    "envoy-default",
    "REGISTRY_ONLY",
    "http-web",
    "tcp-db",
    "grpc",
    "a-b",
]


def _flow(value: Any) -> str:
    """``value`` as one line of flow YAML (JSON-like, but a number key stays a number)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


STRUCTURED = [
    "plausible value",
    "plausible value",
    "plausible value",
    "plausible value",
    "absurd size",
    "wrong type",
    "huge number",
    "negative number",
    "non-finite number",
    "absurd size",
    "deep nesting",
    "unhashable key",
    "odd key",
    "tag",
    "alias bomb",
    "self alias",
    "alias edges",
    "quoted control character",
    "long string",
    "missing key",
    "unknown key",
    "empty section",
]


def _text_mutation(rng: random.Random, text: str) -> tuple[str, bytes]:
    """A mutation of the shipped file's own text (comments, block style and all)."""
    kind = rng.choice(["truncated", "bare control character", "invalid UTF-8", "swapped characters", "tab indent"])
    at = rng.randrange(len(text) + 1)
    if kind == "truncated":
        return kind, text[:at].encode()
    if kind == "bare control character":
        return kind, (text[:at] + rng.choice(BARE_CONTROL) + text[at:]).encode("utf-8", "surrogatepass")
    if kind == "invalid UTF-8":
        return kind, text[:at].encode() + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]) + text[at:].encode()
    if kind == "swapped characters":
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            i, j = rng.randrange(len(chars)), rng.randrange(len(chars))
            chars[i], chars[j] = chars[j], chars[i]
        return kind, "".join(chars).encode()
    return kind, text.replace("  ", "\t", 1).encode()


def case(seed: int, number: int) -> Case:
    """Case ``number`` of ``seed``'s sequence."""
    rng = random.Random(f"{seed}:{number}")
    base = rng.choice(sorted(BASES))
    if rng.random() < 0.1:
        kind, text = _text_mutation(rng, BASES[base])
        return Case(number=number, base=base, mutations=(kind,), text=text)
    mutator = _Mutator(rng, yaml.safe_load(BASES[base]))
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        kind = rng.choice(STRUCTURED)
        done.append(f"{kind} at {mutator.apply(kind)}")
    text = mutator.render(flow=rng.random() < 0.5)
    return Case(number=number, base=base, mutations=tuple(done), text=text.encode("utf-8", "surrogatepass"))


def cases(seed: int, count: int, start: int = 0) -> Iterator[Case]:
    """Cases ``start`` to ``start + count - 1`` of ``seed``'s sequence."""
    for number in range(start, start + count):
        yield case(seed, number)


# Accepted scenarios small enough to build in a tenth of a second are built; bigger ones are
# only estimated (the size guard is what stands between them and the machine).
BUILD_PODS = 2_000


def load_guard_build(path: Path, stages: tuple[Stage, ...] = ("cluster", "config", "run", "push")) -> None:
    """What every fuzz case goes through: load, the size guard at ``stages`` (every one unless
    told), and the cluster build when small. Raises dsim's own error when refused; anything else
    escaping is a bug."""
    from dsim import build_cluster, load_scenario
    from dsim.sizing import check_fits, estimate

    scenario = load_scenario(path)
    for stage in stages:
        check_fits(scenario, source=str(path), stage=stage)
    if estimate(scenario).pods <= BUILD_PODS:
        build_cluster(path)
