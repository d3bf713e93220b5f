"""Who calls whom in a real mesh, from the telemetry a team already has, as the scenario's ``calls``.

Why: the scoping what-if (a Sidecar per namespace that imports only what its workloads call) and
``visibility: dependencies`` need each workload's dependencies, which no inventory holds. Istio's
telemetry does: Kiali's graph export and the ``istio_requests_total`` series behind it.

Two formats, told apart by their content (not the file name):

- a **Kiali graph export** (``/api/namespaces/graph``, Cytoscape JSON): ``{"elements": {"nodes":
  [...], "edges": [...]}}``; a node's ``data`` has ``id``, ``nodeType`` (``workload``, ``app``,
  ``service``, ``unknown``...), ``namespace``, ``workload``, ``app``, ``service``, ``destServices``; an
  edge's ``data`` has ``source`` and ``target`` node ids and ``traffic`` (``protocol`` and
  ``rates``, numbers as text, per second). Edges out of a service node (Kiali's injected service
  nodes: the hop from a service to its workloads) carry the same requests again and are skipped;
- a **Prometheus query result** (``/api/v1/query``) of ``sum by (source_workload,
  source_workload_namespace, destination_service_namespace, destination_service_name,
  destination_service) (rate(istio_requests_total[5m]))``: ``{"status": "success", "data":
  {"resultType": "vector", "result": [{"metric": {...}, "value": [time, "rate"]}]}}`` (a ``matrix``
  result is read too, each series' mean).

Telemetry names things the inventory may not hold (``unknown`` sources, external hosts, workloads
since deleted): such edges are counted in the report, never an error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dsim.cluster.labels import pod_selector, selects
from dsim.errors import ScenarioError, quote
from dsim.scenario.block_yaml import TOO_MANY_DIGITS
from dsim.scenario.load import read_text_file, scenario_from_dict
from dsim.scenario.model import Scenario, Service, Workload

_EXPECTED = "a Kiali graph export (Cytoscape JSON) or a Prometheus query result of istio_requests_total"
_UNKNOWN = ("", "unknown")
QUERY = (
    "sum by (source_workload, source_workload_namespace, destination_service_namespace, "
    "destination_service_name, destination_service) (rate(istio_requests_total[5m]))"
)
"""The Prometheus query whose result :func:`read_call_graph` reads."""


class CallGraphError(ScenarioError):
    """A call graph file that cannot be read: ``<file>: <what is wrong, what was expected>``."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(source, "", message)


@dataclasses.dataclass(frozen=True)
class CallEdge:
    """Traffic from one workload to one service."""

    source_namespace: str
    source_workload: str
    """The calling workload; for a Kiali app node without a workload, its app (matched by ``app`` label)."""
    destination_namespace: str
    destination_service: str
    """The service's name (or, outside the cluster, the host telemetry saw)."""
    rate: float
    """Requests (or, for TCP, bytes) per second."""


@dataclasses.dataclass(frozen=True)
class CallGraphReport:
    """What :func:`apply_call_graph` made of the edges."""

    edges: int
    """Edges read."""
    used: int
    """Edges that became a ``calls`` entry (self-calls included)."""
    unknown_source: int
    """Edges whose source workload the scenario does not declare (``unknown``, deleted, outside it)."""
    unknown_destination: int
    """Edges from a known workload to a service the scenario does not declare (external hosts...)."""
    self_calls: int
    """Used edges from a workload to a service that selects that workload itself."""
    workloads_with_calls: int
    """Workloads whose ``calls`` the graph filled."""
    sidecar_workloads_without_calls: int = 0
    """Workloads with a sidecar the graph shows calling nothing: a scoping what-if gives them only their
    own namespace (and ``istio-system``), which breaks them if the graph merely did not see their calls."""

    def describe(self) -> str:
        return (
            f"{self.used} of {self.edges} call-graph edges used ({self.self_calls} self-calls); "
            f"{self.unknown_source} from an unknown source, {self.unknown_destination} to a service "
            f"not in the scenario; {self.workloads_with_calls} workloads have calls"
            + (
                f"; {self.sidecar_workloads_without_calls} workloads with a sidecar have none observed (a scoping "
                "what-if would leave them only their own namespace: check the graph covers the whole mesh)"
                if self.sidecar_workloads_without_calls
                else ""
            )
        )


# --- reading ---------------------------------------------------------------------------------------


def read_call_graph(path: str | Path) -> list[CallEdge]:
    """The edges of the call graph file at ``path`` (either format; see the module docstring), one per
    (source workload, destination service) pair, rates summed, in the order they first appear."""
    source = str(path)
    text = read_text_file(Path(path), _EXPECTED)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CallGraphError(
            source, f"is not JSON (line {e.lineno} column {e.colno}: {e.msg}); expected {_EXPECTED}"
        ) from None
    except ValueError:  # Python's cap on the digits of an integer it converts
        raise CallGraphError(source, f"is not JSON dsim can read ({TOO_MANY_DIGITS}); expected {_EXPECTED}") from None
    except RecursionError:
        raise CallGraphError(source, f"is not JSON dsim can read (nested too deeply); expected {_EXPECTED}") from None
    return parse_call_graph(data, source=source)


def parse_call_graph(data: Any, *, source: str = "<call graph>") -> list[CallEdge]:
    """:func:`read_call_graph` on JSON already parsed."""
    if isinstance(data, Mapping) and isinstance(data.get("elements"), Mapping):
        return _merged(_kiali_edges(data["elements"], source))
    if isinstance(data, Mapping) and "status" in data and ("data" in data or "error" in data):
        return _merged(_prometheus_edges(data, source))
    raise CallGraphError(
        source,
        'is JSON but neither a Kiali graph export ({"elements": {"nodes": [...], "edges": [...]}}) nor a '
        'Prometheus query result ({"status": "success", "data": {"result": [...]}})',
    )


def _merged(edges: Iterable[CallEdge]) -> list[CallEdge]:
    """One edge per pair (Kiali has one per protocol, Prometheus one per label set), rates summed."""
    rates: dict[tuple[str, str, str, str], float] = {}
    for e in edges:
        pair = (e.source_namespace, e.source_workload, e.destination_namespace, e.destination_service)
        rates[pair] = rates.get(pair, 0.0) + e.rate
    return [CallEdge(*pair, rate=rate) for pair, rate in rates.items()]


def _kiali_edges(elements: Mapping[str, Any], source: str) -> Iterable[CallEdge]:
    nodes = {}
    for i, node in enumerate(_list(elements, "nodes", source)):
        data = _data(node, f"elements.nodes[{i}]", source)
        nodes[str(data.get("id"))] = data
    for i, edge in enumerate(_list(elements, "edges", source)):
        where = f"elements.edges[{i}]"
        data = _data(edge, where, source)
        ends = [nodes.get(str(data.get(end))) for end in ("source", "target")]
        if ends[0] is None or ends[1] is None:
            missing = data.get("source") if ends[0] is None else data.get("target")
            raise CallGraphError(source, f"{where} names node {quote(missing)}, which is not among elements.nodes")
        if ends[0].get("nodeType") == "service":
            continue  # an injected service node's hop to its workloads: the same requests again
        rate = _kiali_rate(data.get("traffic"), f"{where}.data.traffic", source)
        caller = _kiali_caller(ends[0])
        for namespace, service in _kiali_services(ends[1]):
            yield CallEdge(caller[0], caller[1], namespace, service, rate)


def _list(elements: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = elements.get(key, [])
    if value is None:
        return []  # Kiali writes null for an empty graph
    if not isinstance(value, list):
        raise CallGraphError(source, f"elements.{key} is not a list; expected {_EXPECTED}")
    return value


def _data(element: Any, where: str, source: str) -> Mapping[str, Any]:
    if not isinstance(element, Mapping) or not isinstance(element.get("data"), Mapping):
        raise CallGraphError(source, f'{where} has no data object (Cytoscape JSON: {{"data": {{...}}}})')
    return element["data"]


def _kiali_caller(node: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, workload) of a source node; an unknown or service node gives ``unknown``."""
    kind = node.get("nodeType")
    if kind not in ("workload", "app"):
        return str(node.get("namespace") or "unknown"), "unknown"
    return str(node.get("namespace") or ""), str(node.get("workload") or node.get("app") or "unknown")


def _kiali_services(node: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The services a target node stands for: a service node's own, else the ``destServices`` Kiali
    lists on a workload or app node (a graph drawn without service nodes)."""
    namespace = str(node.get("namespace") or "")
    if node.get("nodeType") == "service":
        return [(namespace, str(node.get("service") or "unknown"))]
    listed = node.get("destServices") or []
    services = [
        (str(d.get("namespace") or namespace), str(d.get("name")))
        for d in listed
        if isinstance(d, Mapping) and d.get("name")
    ]
    return services or [(namespace, str(node.get("service") or node.get("app") or node.get("workload") or "unknown"))]


def _kiali_rate(traffic: Any, where: str, source: str) -> float:
    """The edge's rate for its protocol (``rates.http``, ``rates.grpc`` or ``rates.tcp``)."""
    if not isinstance(traffic, Mapping):
        return 0.0
    rates = traffic.get("rates") or {}
    protocol = str(traffic.get("protocol") or "")
    return _number(rates.get(protocol, 0) if isinstance(rates, Mapping) else 0, f"{where}.rates.{protocol}", source)


def _number(value: Any, where: str, source: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past a float's range
        raise CallGraphError(source, f"{where} is {quote(value)}, expected a number") from None


def _prometheus_edges(data: Mapping[str, Any], source: str) -> Iterable[CallEdge]:
    if data.get("status") != "success":
        raise CallGraphError(
            source, f"is a failed Prometheus query ({data.get('errorType', 'error')}: {quote(data.get('error', ''))})"
        )
    body = data.get("data")
    kind = body.get("resultType") if isinstance(body, Mapping) else None
    if kind not in ("vector", "matrix") or not isinstance(body, Mapping) or not isinstance(body.get("result"), list):
        raise CallGraphError(
            source, f"has resultType {quote(kind)}; expected a vector (or matrix) of istio_requests_total rates"
        )
    for i, series in enumerate(body["result"]):
        where = f"data.result[{i}]"
        metric = series.get("metric") if isinstance(series, Mapping) else None
        if not isinstance(metric, Mapping) or "source_workload" not in metric:
            raise CallGraphError(
                source,
                f"{where} has no source_workload label; expected the result of {QUERY}",
            )
        namespace, service = _prometheus_destination(metric)
        yield CallEdge(
            str(metric.get("source_workload_namespace") or "unknown"),
            str(metric["source_workload"] or "unknown"),
            namespace,
            service,
            _prometheus_rate(series, where, source),
        )


def _prometheus_destination(metric: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the destination service: its own labels, else read from the
    ``destination_service`` host (``<name>.<namespace>.svc.<domain>``; any other host as it is)."""
    name = str(metric.get("destination_service_name") or "")
    namespace = str(metric.get("destination_service_namespace") or "")
    host = str(metric.get("destination_service") or "")
    labels = host.split(".")
    if len(labels) > 2 and labels[2] == "svc":
        name = name if name not in _UNKNOWN else labels[0]
        namespace = namespace if namespace not in _UNKNOWN else labels[1]
    return namespace or "unknown", name if name not in _UNKNOWN else host or "unknown"


def _prometheus_rate(series: Mapping[str, Any], where: str, source: str) -> float:
    if "value" in series:
        return _number(_sample(series["value"], where, source), f"{where}.value", source)
    values = series.get("values")
    if not isinstance(values, list) or not values:
        raise CallGraphError(source, f'{where} has no value; expected [time, "rate"]')
    samples = [_number(_sample(v, where, source), f"{where}.values", source) for v in values]
    return sum(samples) / len(samples)


def _sample(pair: Any, where: str, source: str) -> Any:
    if not isinstance(pair, list) or len(pair) != 2:
        raise CallGraphError(source, f'{where} has value {quote(pair)}; expected [time, "rate"]')
    return pair[1]


# --- applying --------------------------------------------------------------------------------------


def apply_call_graph(
    data: Mapping[str, Any], edges: Sequence[CallEdge], *, source: str = "<scenario>"
) -> tuple[dict[str, Any], CallGraphReport]:
    """``data`` (a plain scenario dict) with each workload's ``calls`` set from ``edges``, and a report.

    The graph replaces the calls the scenario had: a workload it shows calling nothing gets none.
    Calls are ``<namespace>/<name>`` of services the scenario declares, sorted; an edge from an app
    node names its workloads by their ``app`` label. Pure: ``data`` is not changed; ``source`` names
    the scenario in the error if ``data`` does not load.
    """
    scenario = scenario_from_dict(data, source=source)
    services = {(s.namespace, s.name): s for s in scenario.services}
    callers = _callers(scenario)
    calls: dict[int, set[str]] = {}
    counts = {"used": 0, "unknown_source": 0, "unknown_destination": 0, "self_calls": 0}
    for edge in edges:
        sources = callers.get((edge.source_namespace, edge.source_workload), [])
        service = services.get((edge.destination_namespace, edge.destination_service))
        if not sources:
            counts["unknown_source"] += 1
            continue
        if service is None:
            counts["unknown_destination"] += 1
            continue
        counts["used"] += 1
        counts["self_calls"] += any(_selects(service, scenario.workloads[w]) for w in sources)
        for w in sources:
            calls.setdefault(w, set()).add(f"{service.namespace}/{service.name}")
    workloads = [{**dict(wl), "calls": sorted(calls.get(w, ()))} for w, wl in enumerate(data.get("workloads") or ())]
    with_sidecar = [w for w, wl in enumerate(scenario.workloads) if wl.sidecar]
    silent = sum(w not in calls for w in with_sidecar)
    report = CallGraphReport(
        edges=len(edges), workloads_with_calls=len(calls), sidecar_workloads_without_calls=silent, **counts
    )
    return {**data, "workloads": workloads}, report


def _callers(scenario: Scenario) -> dict[tuple[str, str], list[int]]:
    """Workload indices by (namespace, workload name), and by (namespace, app label) where no workload has that name."""
    by_name: dict[tuple[str, str], list[int]] = {}
    by_app: dict[tuple[str, str], list[int]] = {}
    for w, wl in enumerate(scenario.workloads):
        by_name[(wl.namespace, wl.name)] = [w]
        app = (wl.labels or {}).get("app")
        if app:
            by_app.setdefault((wl.namespace, app), []).append(w)
    return {**by_app, **by_name}


def _selects(service: Service, workload: Workload) -> bool:
    selector = pod_selector(service)
    return selector is not None and service.namespace == workload.namespace and selects(selector, workload.labels or {})
