"""Call graphs from Kiali's graph export and from istio_requests_total series become the scenario's
`calls`; telemetry about things the scenario lacks is counted, and bad files get one line naming them."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from dsim.errors import DsimError
from dsim.inventory.call_graph import CallEdge, CallGraphReport, apply_call_graph, read_call_graph
from dsim.scenario.load import scenario_from_dict
from tests.conftest import DATA, SCENARIOS

KIALI = DATA / "call-graphs" / "kiali-istio-objects.json"
PROMETHEUS = DATA / "call-graphs" / "prometheus-istio-objects.json"
# Both test files describe the same traffic of scenarios/istio-objects.yaml, so both report it alike.
THE_GRAPHS_REPORT = CallGraphReport(
    edges=9,
    used=7,
    unknown_source=1,
    unknown_destination=1,
    self_calls=1,
    workloads_with_calls=5,
    sidecar_workloads_without_calls=1,
)


def _scenario() -> dict[str, Any]:
    return yaml.safe_load((SCENARIOS / "istio-objects.yaml").read_text())


def _calls(data: dict[str, Any]) -> dict[str, list[str]]:
    return {f"{w['namespace']}/{w['name']}": w["calls"] for w in data["workloads"]}


def test_kiali_export_edges() -> None:
    edges = read_call_graph(KIALI)
    # the service->workload hop is skipped; frontend->reviews over http and grpc is one edge, rates summed
    assert edges[0] == CallEdge("shop", "frontend", "shop", "reviews", 14.0)
    assert CallEdge("shop", "frontend", "shop", "cart", 4.0) in edges  # a workload target's destServices
    assert CallEdge("unknown", "unknown", "shop", "frontend", 1.0) in edges
    assert CallEdge("payments", "charge", "external", "api.stripe.com", 512.0) in edges
    assert CallEdge("shop", "reviews", "payments", "ledger", 64.0) in edges  # an app node: its app name
    assert len(edges) == 9


def test_kiali_export_becomes_calls() -> None:
    data = _scenario()
    pristine = copy.deepcopy(data)
    out, report = apply_call_graph(data, read_call_graph(KIALI))
    assert data == pristine
    scenario_from_dict(out, source="kiali")
    assert _calls(out) == {
        "shop/frontend": ["payments/charge", "shop/cart", "shop/reviews"],
        "shop/reviews-v1": ["payments/ledger", "shop/reviews"],  # the self-call, and the app node's call
        "shop/reviews-v2": ["payments/ledger"],
        "shop/cart": ["payments/charge"],
        "payments/charge": ["payments/ledger"],
        "payments/ledger": [],
    }
    assert report == THE_GRAPHS_REPORT
    assert report.describe().startswith("7 of 9 call-graph edges used (1 self-calls)")


def test_prometheus_result_becomes_the_same_calls() -> None:
    edges = read_call_graph(PROMETHEUS)
    assert CallEdge("shop", "frontend", "shop", "cart", 4.0) in edges  # name and namespace read from the host
    assert CallEdge("payments", "charge", "unknown", "api.stripe.com", 0.25) in edges
    out, report = apply_call_graph(_scenario(), edges)
    scenario_from_dict(out, source="prometheus")
    calls = _calls(out)
    assert calls["shop/frontend"] == ["payments/charge", "shop/cart", "shop/reviews"]
    assert calls["shop/reviews-v1"] == ["shop/reviews"]
    assert calls["payments/charge"] == ["payments/ledger"]
    assert report == THE_GRAPHS_REPORT


def test_the_format_is_told_by_content_not_name(tmp_path: Path) -> None:
    renamed = tmp_path / "graph.txt"
    shutil.copy(PROMETHEUS, renamed)
    assert read_call_graph(renamed) == read_call_graph(PROMETHEUS)


def test_a_matrix_result_is_read_as_each_series_mean(tmp_path: Path) -> None:
    result = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {
                        "source_workload": "cart",
                        "source_workload_namespace": "shop",
                        "destination_service": "charge.payments.svc.cluster.local",
                    },
                    "values": [[1, "1"], [2, "3"]],
                }
            ],
        },
    }
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(result))
    assert read_call_graph(path) == [CallEdge("shop", "cart", "payments", "charge", 2.0)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"elements": {"nodes": [', "is not JSON"),
        ("[1, 2]", "neither a Kiali graph export"),
        ('{"status": "error", "errorType": "bad_data", "error": "parse error"}', "failed Prometheus query"),
        ('{"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}', "resultType 'scalar'"),
        (
            '{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "2"]}]}}',
            "no source_workload label",
        ),
        (
            '{"elements": {"nodes": [], "edges": [{"data": {"source": "a", "target": "b"}}]}}',
            "not among elements.nodes",
        ),
        (
            '{"elements": {"nodes": [{"data": {"id": "a", "nodeType": "workload"}}], '
            '"edges": [{"data": {"source": "a", "target": "a", '
            '"traffic": {"protocol": "http", "rates": {"http": "fast"}}}}]}}',
            "expected a number",
        ),
    ],
)
def test_bad_files_get_one_line_naming_them(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "calls.json"
    path.write_text(content)
    with pytest.raises(DsimError) as caught:
        read_call_graph(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DsimError, match="no such file"):
        read_call_graph(tmp_path / "absent.json")


def test_a_number_too_long_to_read_is_refused(tmp_path: Path) -> None:
    """A fuzzing find: Python refuses an integer of more than 4,300 digits, a traceback before."""
    path = tmp_path / "graph.json"
    path.write_text(
        '{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": ['
        + "1" * 5000
        + ', "1"]}]}}'
    )
    with pytest.raises(DsimError, match="a number longer than the 4,300 digits Python reads"):
        read_call_graph(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"source_workload": '
            '"cart", "source_workload_namespace": "shop", "destination_service": "charge.payments.svc.cluster.local"}'
            ', "value": [1, ' + "1" + "0" * 400 + "]}]}}",
            "expected a number",
        ),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["past a float", "deep"],
)
def test_numbers_and_nesting_python_cannot_read_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    """Review finds: an integer past a float's range, and deep nesting, ended in a traceback."""
    path = tmp_path / "graph.json"
    path.write_text(text)
    with pytest.raises(DsimError, match=expected):
        read_call_graph(path)
