"""The accounting prices a VirtualService's routes without keeping their messages: a mesh rich in
routes held ~7 KB a route per design when it did (bench/size_prices.py), and its sizes stay exact."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.accounting.proxies import vectorized_sizes
from dsim.designs import get_design
from dsim.xds.mesh_objects import mesh_objects
from tests.accounting_check import assert_methods_agree
from tests.conftest import SCENARIOS


def route_rich() -> dict[str, Any]:
    """The quickstart mesh, a third of its services with VirtualServices of matches and weighted
    destinations over their DestinationRules' subsets, a port-80 service among them."""
    data: dict[str, Any] = yaml.safe_load((SCENARIOS / "quickstart.yaml").read_text())
    data["synthetic"].update(services=40, namespaces=3, port_pools={"http": [80, 8080, 9080]})
    data["istio_objects"] = {
        "virtual_services": {"share": 0.35, "routes": 4, "matches_per_route": 3, "destinations": 2, "hosts": 2},
        "destination_rules": {"share": 0.5, "subsets": 2},
    }
    return data


def built_routes(cluster: Any) -> int:
    """Route messages the cluster's mesh objects hold."""
    built = mesh_objects(cluster)._built  # what is held is the point of the test
    return sum(len(found) for key, found in built.items() if key[0] == "routes")  # type: ignore[arg-type]


@pytest.mark.parametrize("design", design_names())
def test_the_accounting_keeps_no_route_messages_and_stays_exact(design: str) -> None:
    cluster = build_cluster(scenario_from_dict(route_rich()))
    vectorized_sizes(cluster, get_design(design))
    assert built_routes(cluster) == 0
    sized = [key for key in mesh_objects(cluster)._built if key[0] == "sizes"]
    assert sized, "the mesh has VirtualService routes to price"
    assert assert_methods_agree(cluster, design, fast_first=True) == len(cluster.proxies)


def test_the_messages_are_kept_for_the_protobuf_path() -> None:
    """Where the messages are built (dump, validate, the protobuf sizes), they are shared, not rebuilt."""
    cluster = build_cluster(scenario_from_dict(route_rich()))
    assert assert_methods_agree(cluster, "additional-addresses") == len(cluster.proxies)
    assert built_routes(cluster) > 0
    assert not mesh_objects(cluster).keep_route_messages, "kept while the protobuf path runs, then let go"
    calls = []
    objects = mesh_objects(cluster)
    build = objects._http_routes
    objects._http_routes = lambda *args: calls.append(args[:4]) or build(*args)  # type: ignore[method-assign]
    assert assert_methods_agree(cluster, "additional-addresses-1.24") == len(cluster.proxies)
    assert calls, "the routes of another design are built"
    assert len(calls) == len(set(calls)), "each (VirtualService, port, family copy, design) built once"
