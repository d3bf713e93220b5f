"""Field types and checks every Istio object kind shares: ports, labels, selectors, exportTo."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Generic, NoReturn, Protocol, TypeVar

from dsim.errors import ScenarioError
from dsim.scenario.convert import AtLeast, AtMost, join
from dsim.scenario.istio.reader import Ignored, MaxItems, Parsed, Rule, read_object
from dsim.scenario.istio.rules import (
    export_to_problem,
    label_key_problem,
    label_value_problem,
    port_problem,
    selector_key_problem,
    selector_value_problem,
)

T = TypeVar("T")

#: Most lists Istio leaves unbounded; this bound is far beyond any real object (etcd stores at most
#: 1.5 MiB per object) and keeps a hostile list from costing more than one ``len``.
MANY = 10_000
Many = Annotated[tuple[T, ...], MaxItems(MANY)]
"""A list of at most :data:`MANY` entries."""

Int32 = Annotated[int, AtLeast(-(2**31)), AtMost(2**31 - 1)]
NonNegativeInt32 = Annotated[int, AtLeast(0), AtMost(2**31 - 1)]
"""An int32 Istio refuses below 0 (connection pool limits, retry attempts, weights)."""
UInt32 = Annotated[int, AtLeast(0), AtMost(2**32 - 1)]
Percent = Annotated[int, AtLeast(0), AtMost(100)]
"""``ValidatePercent``: 0..100."""
PortNumber = Annotated[int, Rule(port_problem)]
"""``agent.ValidatePort``: 1..65535."""

LabelKey = Annotated[str, Rule(label_key_problem)]
LabelValue = Annotated[str, Rule(label_value_problem)]
Labels = Annotated[dict[LabelKey, LabelValue], MaxItems(MANY)]
"""Labels as ``labels.Instance.Validate`` checks them (subset and endpoint labels)."""
SelectorLabels = Annotated[
    dict[Annotated[str, Rule(selector_key_problem)], Annotated[str, Rule(selector_value_problem)]],
    MaxItems(256, "the CRD's maxProperties"),
]
"""A workload selector's labels: no empty key, no wildcard (``ValidateAlphaWorkloadSelector``)."""
ExportTo = Annotated[tuple[str, ...], MaxItems(1_000)]
"""``exportTo`` entries; checked against the object's namespace by :meth:`Checks.export_to`."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PortSelector:
    """A destination's port (``PortSelector``)."""

    number: PortNumber
    """The port number."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkloadSelector:
    """``WorkloadSelector`` of a Sidecar or ServiceEntry: the pods it applies to, by label."""

    labels: SelectorLabels = dataclasses.field(default_factory=dict)
    """Pod labels that select the workloads."""


NOT_MODELLED = "dsim does not model it yet"

FIELD_REASONS: dict[str, str] = {
    "destinationSubnets": "an L4 match on destination IPs; " + NOT_MODELLED,
    "sourceSubnet": "an L4 match on source IPs; " + NOT_MODELLED,
}


class Checks:
    """Cross-field rules of one object, raising :class:`ScenarioError` at the first broken one.

    ``ignored`` tells which unmodelled fields are present: some of Istio's rules pair a modelled
    field with one dsim leaves out (a route and a redirect), and they hold all the same.
    """

    def __init__(
        self, source: str, namespace: str, ignored: Sequence[Ignored], values: Mapping[str, Any] | None = None
    ) -> None:
        self.source = source
        self.namespace = namespace
        self.present = {entry.path for entry in ignored}
        self.values = values or {}
        """The ignored fields' values as given, by path."""

    def fail(self, path: str, message: str) -> NoReturn:
        raise ScenarioError(self.source, path, message)

    def check(self, path: str, problem: str | None) -> None:
        """Fail at ``path`` when a rule found a ``problem``."""
        if problem:
            self.fail(path, problem)

    def has(self, path: str, key: str) -> bool:
        """Whether the unmodelled field ``key`` is set under ``path``."""
        return join(path, key) in self.present

    def given(self, path: str, key: str) -> Any:
        """The unmodelled field ``key``'s value under ``path`` as given, unchecked (``None``: unset)."""
        return self.values.get(join(path, key))

    def export_to(self, path: str, values: Sequence[str], *, service: bool = False) -> None:
        problem = export_to_problem(values, self.namespace, service=service)
        if problem:
            index, message = problem
            self.fail(join(path, index), message)

    def one_of(self, path: str, fields: dict[str, Any], *, what: str) -> None:
        """At most one of ``fields`` (YAML key → value, ``None`` or False when unset) is set (a proto oneof)."""
        chosen = [key for key, value in fields.items() if value is not None and value is not False]
        chosen += [key for key in fields if self.has(path, key) and key not in chosen]
        if len(chosen) > 1:
            self.fail(path, f"sets both {chosen[0]} and {chosen[1]}; {what} takes one of {', '.join(fields)}")


S = TypeVar("S")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NamedObject(Generic[S]):
    """An Istio object: where it lives and its spec."""

    name: str
    """``metadata.name``."""
    namespace: str
    """``metadata.namespace``."""
    spec: S
    """What it says."""

    KIND: ClassVar[str] = ""


ObjectT = TypeVar("ObjectT", bound=NamedObject[Any])


class _SpecChecks(Protocol):
    def run(self, path: str, spec: Any) -> None: ...


def parse_named(
    cls: type[ObjectT],
    spec_cls: type,
    checks: Callable[[str, str, Sequence[Ignored], Mapping[str, Any]], _SpecChecks],
    raw: Any,
    *,
    source: str,
    path: str,
) -> Parsed[ObjectT]:
    """A pasted object of ``cls`` (spec ``spec_cls``), read in either form users paste and checked
    by ``checks``; raises :class:`~dsim.errors.ScenarioError` at the first problem."""
    parts = read_object(cls.KIND, spec_cls, raw, source=source, path=path)
    checks(source, parts.meta.namespace, parts.ignored, parts.reader.ignored_values).run(join(path, "spec"), parts.spec)
    return Parsed(cls(name=parts.meta.name, namespace=parts.meta.namespace, spec=parts.spec), tuple(parts.ignored))
