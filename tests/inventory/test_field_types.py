"""A field ``dsim import`` reads that holds a value of the wrong type is refused by object and
field (docs/import.md "What is refused"), never read as absent: Kubernetes refuses each of these
objects, so a capture holding one was edited, and reading the field as unset would model another
mesh (an endpoint whose ``ready: "false"`` became ready, a port whose protocol went by its name)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from dsim.errors import InventoryError
from tests.inventory.captures import imported_from, small_inventory


def _slice(conditions: Any) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.5"], "conditions": conditions}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def _service(edit: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    objects = small_inventory()
    edit(objects[1])
    return objects


def _pod(edit: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    objects = small_inventory()
    edit(objects[2])
    return objects


def _endpoints(addresses: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "shop"},
        "subsets": [{"addresses": addresses, "ports": [{"name": "http", "port": 8080}]}],
    }


def _sliced(edit: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    found = _slice({"ready": True})
    edit(found)
    return [*small_inventory(), found]


CASES: dict[str, tuple[list[dict[str, Any]], str]] = {
    "Ready status": (
        _pod(lambda p: p["status"]["conditions"][0].update(status=True)),
        "status.conditions[0].status: expected a str (got True)",
    ),
    "Endpoints addresses": (
        [*small_inventory(), _endpoints("10.244.0.5")],
        "Endpoints shop/web: subsets[0].addresses: expected a list (got '10.244.0.5')",
    ),
    "slice port": (
        _sliced(lambda s: s["ports"][0].update(port="8080")),
        "EndpointSlice shop/web-abc: ports[0].port: expected an int (got '8080')",
    ),
    "targetRef": (
        _sliced(lambda s: s["endpoints"][0].update(targetRef="web-5d8f7-aaaaa")),
        "EndpointSlice shop/web-abc: endpoints[0].targetRef: expected a dict (got 'web-5d8f7-aaaaa')",
    ),
    "appProtocol": (
        _service(lambda s: s["spec"]["ports"][0].update(appProtocol=5)),
        "Service shop/web: spec.ports[0].appProtocol: expected a str (got 5)",
    ),
    "internalTrafficPolicy": (
        _service(lambda s: s["spec"].update(internalTrafficPolicy=["Local"])),
        "Service shop/web: spec.internalTrafficPolicy: expected a str",
    ),
    "phase": (
        _pod(lambda p: p["status"].update(phase=1)),
        "status.phase: expected a str (got 1)",
    ),
    "hostNetwork": (
        _pod(lambda p: p["spec"].update(hostNetwork="true")),
        "spec.hostNetwork: expected a bool (got 'true')",
    ),
    "conditions": (
        [*small_inventory(), _slice(["ready"])],
        "EndpointSlice shop/web-abc: endpoints[0].conditions: expected a dict",
    ),
    "ready": (
        [*small_inventory(), _slice({"ready": "false"})],
        "EndpointSlice shop/web-abc: endpoints[0].conditions.ready: expected a bool (got 'false')",
    ),
    "terminating": (
        [*small_inventory(), _slice({"ready": True, "terminating": 1})],
        "EndpointSlice shop/web-abc: endpoints[0].conditions.terminating: expected a bool (got 1)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrongly_typed_field_is_refused_by_object_and_field(case: str) -> None:
    objects, message = CASES[case]
    with pytest.raises(InventoryError) as caught:
        imported_from(copy.deepcopy(objects))
    assert message in str(caught.value)


def test_the_same_fields_well_typed_or_absent_are_read() -> None:
    objects = small_inventory()
    objects[1]["spec"]["ports"][0]["appProtocol"] = "http"
    objects[1]["spec"]["internalTrafficPolicy"] = "Cluster"
    objects[2]["spec"]["hostNetwork"] = False
    ready = _slice({"ready": False, "terminating": None})
    unset = _slice(None)
    unset["metadata"]["name"] = "web-def"
    unset["endpoints"][0]["addresses"] = ["10.244.0.6"]
    unset["ports"].append({"name": "any", "port": None})  # no number: every port
    legacy = _endpoints([{"ip": "10.244.0.7", "targetRef": {"kind": "Pod", "name": "web-5d8f7-ccccc"}}])
    imported = imported_from([*objects, ready, unset, legacy])
    assert [s["name"] for s in imported.scenario["services"]] == ["web"]
