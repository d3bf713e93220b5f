"""VirtualService delegation (``dsim/cluster/delegation.py``, ``docs/istio-objects.md`` 1.10): a
root's HTTP route with ``delegate`` becomes the delegate's routes merged with it, as istiod's
``mergeVirtualServices``/``MergeHTTPRoutes`` merge them. The merge rules on cases after Istio's
own unit tests (``pilot/pkg/model/virtualservice_test.go``, ``TestMergeHttpRoutes`` and
``TestHasConflict``, restated in dsim's terms), the built routes in the real Envoy and byte-exact in every
design, and who an edit of a delegate pushes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.delegation import merge_delegates
from dsim.errors import ScenarioError
from dsim.pushsim.reach import VirtualServiceReach, _with_delegates, virtual_service_reach
from dsim.scenario.istio.virtual_service import parse_virtual_service
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of

REVIEWS = "reviews.back.svc.cluster.local"


def _vs(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "spec": spec}


def _route(host: str, **more: Any) -> dict[str, Any]:
    return {"route": [{"destination": {"host": host}}], **more}


def _merged(root_http: dict[str, Any], delegate_http: list[dict[str, Any]]) -> tuple[Any, Counter[str]]:
    """The root's routes after merging a delegate in namespace ``back`` with ``delegate_http``."""
    root = parse_virtual_service(
        _vs("root", "front", hosts=[REVIEWS], http=[{**root_http, "delegate": {"name": "leaf", "namespace": "back"}}])
    ).value
    leaf = parse_virtual_service(_vs("leaf", "back", http=delegate_http)).value
    notes: Counter[str] = Counter()
    merged = merge_delegates([root, leaf], "cluster.local", notes)
    return merged.virtual_services[0].spec.http, notes


def _uri(match: Any) -> tuple[str | None, str | None, str | None]:
    return (match.uri.exact, match.uri.prefix, match.uri.regex) if match.uri else (None, None, None)


def test_a_delegate_route_takes_the_root_match_and_its_settings() -> None:
    http, _ = _merged(
        {"name": "api", "match": [{"uri": {"prefix": "/api"}, "headers": {"x-team": {"exact": "a"}}}], "timeout": "3s"},
        [
            {"name": "v1", "match": [{"uri": {"prefix": "/api/v1"}}], **_route("reviews")},
            {"match": [{"uri": {"exact": "/api/v2"}}], **_route("ratings"), "timeout": "1s"},
            _route("reviews"),  # no match: the root's
        ],
    )
    assert [route.name for route in http] == ["api-v1", "api", "api"]
    assert [[_uri(m) for m in route.match] for route in http] == [
        [(None, "/api/v1", None)],
        [("/api/v2", None, None)],
        [(None, "/api", None)],
    ]
    assert all(route.match[0].headers.keys() == {"x-team"} for route in http)  # the root's headers joined
    assert [route.timeout for route in http] == [3000, 1000, 3000]
    # Destination hosts resolve in the delegate's namespace, not the root's.
    assert [route.route[0].destination.host for route in http] == [
        "reviews.back.svc.cluster.local",
        "ratings.back.svc.cluster.local",
        "reviews.back.svc.cluster.local",
    ]


@pytest.mark.parametrize(
    ("root", "leaf", "conflict"),
    [
        ({"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/a/b"}}, False),
        ({"uri": {"prefix": "/a/b"}}, {"uri": {"prefix": "/a"}}, True),  # not within the root's
        ({"uri": {"prefix": "/a"}}, {"uri": {"exact": "/a/b"}}, False),
        ({"uri": {"exact": "/a"}}, {"uri": {"exact": "/a"}}, False),
        ({"uri": {"exact": "/a"}}, {"uri": {"prefix": "/a"}}, True),
        ({"uri": {"exact": "/a"}}, {"uri": {"exact": "/b"}}, True),
        ({"uri": {"regex": "/a.*"}}, {"uri": {"prefix": "/a"}}, True),
        ({"uri": {"prefix": "/a"}}, {"uri": {"regex": "/a.*"}}, True),
        ({"uri": {"regex": "^/a"}}, {}, False),  # a side without a uri match never conflicts
        ({}, {"uri": {"regex": "^/a"}}, False),
        ({"headers": {"x": {"prefix": "h1"}}}, {"headers": {"x": {"exact": "h1-v1"}}}, False),
        ({"headers": {"x": {"prefix": "h1"}}}, {"headers": {"x": {"prefix": "h2"}}}, True),
        ({"headers": {"x": {"exact": "h1"}}}, {"headers": {"y": {"exact": "h2"}}}, False),  # different headers
        ({"uri": {"prefix": "/a"}}, {"headers": {"x": {"exact": "1"}}}, False),  # the leaf adds a header
        ({"headers": {"x": {"exact": "1"}}}, {"headers": {"x": {"exact": "2"}}}, True),
        ({"port": 8080}, {"port": 9080}, True),
        ({"port": 8080}, {"port": 8080}, False),
        ({"sourceNamespace": "front"}, {}, True),  # Istio: the leaf must name the root's namespace too
        ({"sourceNamespace": "front"}, {"sourceNamespace": "front"}, False),
        ({"sourceLabels": {"app": "a"}}, {"sourceLabels": {"app": "b"}}, True),
        ({"sourceLabels": {"app": "a"}}, {"sourceLabels": {"track": "b"}}, False),
        ({"gateways": ["mesh"]}, {"gateways": ["mesh", "istio-system/gw"]}, True),
        ({"ignoreUriCase": True}, {}, True),
    ],
)
def test_conflicting_matches_drop_the_delegate_route(
    root: dict[str, Any], leaf: dict[str, Any], conflict: bool
) -> None:
    http, notes = _merged({"match": [root]}, [{"match": [leaf], **_route("reviews")}])
    assert (len(http) == 0) == conflict
    assert bool(notes) == conflict


def test_a_leaf_match_joins_every_root_match_it_fits() -> None:
    http, _ = _merged(
        {"match": [{"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/b"}}, {"uri": {"exact": "/c"}}]},
        [{"match": [{"headers": {"x": {"exact": "1"}}}], **_route("reviews")}],
    )
    assert [_uri(m) for m in http[0].match] == [(None, "/a", None), (None, "/b", None), ("/c", None, None)]


def test_a_missing_or_hidden_delegate_leaves_the_route_out() -> None:
    root = parse_virtual_service(
        _vs(
            "root",
            "front",
            hosts=[REVIEWS],
            http=[
                {"match": [{"uri": {"prefix": "/a"}}], "delegate": {"name": "nowhere"}},
                {"match": [{"uri": {"prefix": "/b"}}], "delegate": {"name": "hidden", "namespace": "back"}},
                _route(REVIEWS),
            ],
        )
    ).value
    hidden = parse_virtual_service(_vs("hidden", "back", exportTo=["."], http=[_route("reviews")])).value
    notes: Counter[str] = Counter()
    merged = merge_delegates([root, hidden], "cluster.local", notes)
    assert [r.match for r in merged.virtual_services[0].spec.http] == [()]  # the root's own route alone
    assert merged.delegations == ()
    assert sum(notes.values()) == 2


def mesh_spec() -> dict[str, Any]:
    """front's root VirtualService for reviews delegates /api to back's ``reviews-api``, which sends
    /api/v1 to reviews and the rest of /api to ratings; everything else goes to reviews."""
    service = {"namespace": "back", "ip_families": ["IPv4", "IPv6"], "ports": [{"port": 80, "name": "http"}]}
    return {
        "namespaces": [{"name": "front"}, {"name": "back"}],
        "services": [{"name": "reviews", **service}, {"name": "ratings", **service}],
        "workloads": [
            {"name": n, "namespace": ns, "ip_families": ["IPv4", "IPv6"], "labels": {"app": n}}
            for n, ns in (("shop", "front"), ("reviews", "back"), ("ratings", "back"))
        ],
        "virtual_services": [
            _vs(
                "reviews",
                "front",
                hosts=[REVIEWS],
                http=[
                    {"match": [{"uri": {"prefix": "/api"}}], "delegate": {"name": "reviews-api", "namespace": "back"}},
                    _route(REVIEWS),
                ],
            ),
            _vs(
                "reviews-api",
                "back",
                http=[
                    {"name": "v1", "match": [{"uri": {"prefix": "/api/v1"}}], **_route("reviews"), "timeout": "2s"},
                    _route("ratings"),
                ],
            ),
        ],
    }


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(mesh_spec()))


def test_the_proxies_get_the_merged_routes(mesh: Cluster) -> None:
    route = next(r for r in config_of(mesh, "front/shop").routes if r.name == "80")
    vhost = next(v for v in route.virtual_hosts if v.name == f"{REVIEWS}:80")
    found = [(r.match.prefix or r.match.path, r.route.cluster, r.route.timeout.seconds) for r in vhost.routes]
    assert found == [
        ("/api/v1", f"outbound|80||{REVIEWS}", 2),
        ("/api", "outbound|80||ratings.back.svc.cluster.local", 0),
        ("/", f"outbound|80||{REVIEWS}", 0),
    ]


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


@pytest.mark.slow
def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_a_delegate_edit_reaches_what_its_root_reaches(mesh: Cluster) -> None:
    root, delegate = virtual_service_reach(mesh)
    assert root is not None
    assert delegate is not None
    assert delegate.services.tolist() == root.services.tolist() == [0]  # reviews
    assert delegate.importers is None
    assert root.importers is None
    assert mesh.istio.delegations == ((0, 1),)


def test_one_leaf_match_conflicting_with_every_root_match_drops_the_route() -> None:
    """Istio's "url match" case: the leaf's second match fits no root match, so the route goes."""
    http, notes = _merged(
        {"match": [{"uri": {"prefix": "/a"}}]},
        [{"match": [{"uri": {"prefix": "/a/b"}}, {"uri": {"prefix": "/c"}}], **_route("reviews")}],
    )
    assert http == ()
    assert sum(notes.values()) == 1


def test_source_labels_and_match_names_join() -> None:
    http, _ = _merged(
        {"match": [{"name": "top", "sourceLabels": {"app": "shop"}}]},
        [{"match": [{"name": "sub", "sourceLabels": {"track": "canary"}}], **_route("reviews")}],
    )
    assert http[0].match[0].name == "top-sub"
    assert http[0].match[0].source_labels == {"app": "shop", "track": "canary"}


@pytest.mark.parametrize(
    ("root", "leaf", "kept"),
    [
        (["mesh", "gw"], ["mesh", "gw"], False),  # front/gw and back/gw: not the root's
        (["mesh", "gw"], ["mesh", "front/gw"], True),
        (["mesh", "gw"], ["mesh", "gw.front.svc.cluster.local"], True),  # the legacy form, front/gw
        (["mesh"], ["mesh", "mesh"], False),  # more gateways than the root's, as written
    ],
)
def test_gateway_names_resolve_in_each_objects_namespace(root: list[str], leaf: list[str], kept: bool) -> None:
    http, _ = _merged({"match": [{"gateways": root}]}, [{"match": [{"gateways": leaf}], **_route("reviews")}])
    assert bool(http) == kept


def test_a_delegate_in_the_roots_namespace_needs_no_namespace() -> None:
    root = parse_virtual_service(_vs("root", "back", hosts=[REVIEWS], http=[{"delegate": {"name": "leaf"}}])).value
    leaf = parse_virtual_service(_vs("leaf", "back", http=[_route("ratings")])).value
    merged = merge_delegates([root, leaf], "cluster.local", Counter())
    assert merged.delegations == ((0, 1),)
    assert merged.virtual_services[0].spec.http[0].route[0].destination.host == "ratings.back.svc.cluster.local"


def test_a_delegate_reaches_the_union_of_its_roots() -> None:
    def reach(services: list[int], importers: list[int] | None) -> VirtualServiceReach:
        return VirtualServiceReach(np.array(services), None if importers is None else np.array(importers))

    # Rows 0-2 roots (2 bound to gateways only: no reach), 3-5 delegates.
    roots = [reach([1], [0, 2]), reach([2, 1], [3]), None, None, None, None]
    found = _with_delegates(roots, [(0, 3), (1, 3), (2, 4), (0, 5)])
    three, four, five = found[3], found[4], found[5]
    assert three is not None
    assert three.services.tolist() == [1, 2]
    assert three.importers is not None
    assert three.importers.tolist() == [0, 2, 3]
    assert four is None  # its only root is bound to gateways
    assert five is not None
    assert five.importers is not None
    assert five.importers.tolist() == [0, 2]
    everywhere = _with_delegates([reach([1], None), reach([2], [4]), None], [(0, 2), (1, 2)])[2]
    assert everywhere is not None
    assert everywhere.importers is None  # a root every scope imports


def test_delegates_multiplying_past_the_limit_are_refused_before_anything_is_built(tmp_path: Path) -> None:
    """Every one of 101 root routes delegating to one delegate of 100 routes: 10,100 merged routes
    from a short scenario, refused with the path and exit code 2, no traceback."""
    spec = mesh_spec()
    spec["virtual_services"][0]["spec"]["http"] = [
        {"match": [{"uri": {"prefix": f"/api/{i}"}}], "delegate": {"name": "reviews-api", "namespace": "back"}}
        for i in range(101)
    ]
    spec["virtual_services"][1]["spec"]["http"] = [_route("reviews") for _ in range(100)]
    with pytest.raises(ScenarioError) as caught:
        build_cluster(scenario_from_dict(spec))
    assert caught.value.path == "virtual_services[0].spec.http[100].delegate"
    assert "10,100 routes" in caught.value.message
    path = tmp_path / "delegates.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = subprocess.run(
        [sys.executable, "-m", "dsim", "run", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "virtual_services[0].spec.http[100].delegate" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
