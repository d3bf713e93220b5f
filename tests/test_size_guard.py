"""The size guard: an absurd scenario is refused before anything is allocated, in one line naming
the field that drives it, what it would need and what is allowed; sizes a machine holds pass."""

from __future__ import annotations

import copy
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dsim import build_cluster, load_scenario, scenario_from_dict
from dsim.cli import main
from dsim.designs import get_design
from dsim.errors import TooLargeError
from dsim.sizing import Stage, check_fits, estimate, memory_limit, parse_memory
from dsim.sizing.estimate import BYTES, PRICED_COUNT_COLUMNS, estimate_counts
from dsim.xds.generate import proxy_config
from dsim.xds.sizes import config_count_row
from dsim.xds.view import index_for
from dsim.xds.vocabulary import COUNT_COLUMNS
from tests.conftest import ROOT, SCENARIOS

QUICKSTART: dict[str, Any] = yaml.safe_load((SCENARIOS / "quickstart.yaml").read_text())
LIMIT = 8 * 2**30  # a limit below any machine's memory, so the messages are the same everywhere
HUGE = 10**15


def quickstart_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(QUICKSTART)
    data.setdefault("istio_objects", {})
    change(data)
    return data


def synthetic(network: str = "10.0.0.0/8", **settings: Any) -> Callable[[dict[str, Any]], None]:
    """Synthetic settings over a service range wide enough that only the size guard can object."""

    def change(d: dict[str, Any]) -> None:
        d["synthetic"].update(settings)
        d["network"] = {"service_cidrs": {"ipv4": network, "ipv6": "fd00:10:96::/64"}}

    return change


def explicit_workload(replicas: int) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        d["namespaces"] = [{"name": "big"}]
        d["workloads"] = [
            {"name": "small", "namespace": "big"},
            {"name": "w", "namespace": "big", "replicas": replicas},
        ]

    return change


def selected_by_a_passthrough_entry(replicas: int, resolution: str = "NONE") -> Callable[[dict[str, Any]], None]:
    """A ServiceEntry of two hosts selecting a workload of ``replicas`` pods: under ``NONE``, a
    listener per pod address on each of its three TCP, TLS or sniffed ports (its HTTP one shares)."""

    def change(d: dict[str, Any]) -> None:
        explicit_workload(replicas)(d)
        d["workloads"][1]["labels"] = {"app": "peers"}
        d["service_entries"] = [
            {
                "name": "peers",
                "namespace": "big",
                "spec": {
                    "hosts": ["a.peers.internal", "b.peers.internal"],
                    "ports": [
                        {"number": 5000, "name": "tcp", "protocol": "tcp"},
                        {"number": 7000, "name": "sniffed"},
                        {"number": 8443, "name": "tls", "protocol": "TLS"},
                        {"number": 8080, "name": "http", "protocol": "HTTP"},
                    ],
                    "resolution": resolution,
                    "workloadSelector": {"labels": {"app": "peers"}},
                },
            }
        ]

    return change


def private_entry(**settings: Any) -> Callable[[dict[str, Any]], None]:
    """A ServiceEntry its namespace alone sees: every namespace gets a scope of its own."""

    def change(d: dict[str, Any]) -> None:
        synthetic(**settings)(d)
        d["service_entries"] = [
            {
                "name": "private",
                "namespace": "ns-0000",
                "spec": {
                    "hosts": ["api.example.com"],
                    "exportTo": ["."],
                    "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                    "resolution": "DNS",
                },
            }
        ]

    return change


# (what is made absurd, the stage that would pay for it, the field the refusal names)
DRIVERS: list[tuple[str, Callable[[dict[str, Any]], None], Stage, str]] = [
    (
        "services",
        synthetic("0.0.0.0/0", services=4 * 10**9, call_graph={"model": "none"}),
        "cluster",
        "synthetic.services",
    ),
    ("namespaces", synthetic(namespaces=HUGE), "cluster", "synthetic.namespaces"),
    (
        "replicas of a fixed size",
        synthetic(replicas={"distribution": "fixed", "mean": 1e13, "max": HUGE}),
        "cluster",
        "synthetic.replicas.mean",
    ),
    (
        "replicas at their minimum",
        synthetic(replicas={"min": 10**13, "max": HUGE}),
        "cluster",
        "synthetic.replicas.min",
    ),
    (
        "uniform replicas",
        synthetic(replicas={"distribution": "uniform", "max": HUGE}),
        "cluster",
        "synthetic.replicas.max",
    ),
    (
        "subset versions",
        synthetic(subsets={"fraction": 1, "versions": 10**13}),
        "cluster",
        "synthetic.subsets.versions",
    ),
    ("explicit replicas", explicit_workload(HUGE), "cluster", "workloads[1].replicas"),
    (
        "Barabási–Albert edges",
        synthetic(services=10**7, call_graph={"model": "barabasi-albert", "m": 9 * 10**6}),
        "cluster",
        "synthetic.call_graph.m",
    ),
    (
        "Erdős–Rényi edges",
        synthetic(services=10**7, call_graph={"model": "erdos-renyi", "mean_degree": 1e9}),
        "cluster",
        "synthetic.call_graph.mean_degree",
    ),
    (
        "route groups",
        synthetic(
            services=50_000,
            ports_per_service={1: 1},
            protocols={"http": 1},
            port_pools={"http": list(range(10_000, 65_000)), "grpc": [1001], "tcp": [1002], "auto": [1003]},
            call_graph={"model": "none"},
        ),
        "run",
        "synthetic.port_pools.http",
    ),
    (
        "VirtualService routes",
        lambda d: d["istio_objects"].update(virtual_services={"share": 1, "routes": 1000, "matches_per_route": 100}),
        "cluster",
        "istio_objects.virtual_services.routes",
    ),
    (
        "VirtualService routes in one sidecar's dump",
        lambda d: d["istio_objects"].update(virtual_services={"share": 1, "routes": 100, "matches_per_route": 10}),
        "config",
        "istio_objects.virtual_services.routes",
    ),
    (
        "DestinationRule subsets in one sidecar's dump",
        lambda d: (
            synthetic(services=2_000)(d),
            d["istio_objects"].update(destination_rules={"share": 1, "subsets": 100}),
        ),
        "config",
        "synthetic.services",
    ),
    (
        "a scope for every namespace",
        private_entry(namespaces=50_000, services=200_000),
        "cluster",
        "synthetic.services",
    ),
    (
        "per-endpoint listeners",
        selected_by_a_passthrough_entry(100_000),
        "run",
        "service_entries[0].spec.workloadSelector",
    ),
    (
        "per-endpoint listeners in one sidecar's dump",
        selected_by_a_passthrough_entry(40_000),
        "config",
        "service_entries[0].spec.workloadSelector",
    ),
    ("churn duration", lambda d: d["churn"].update(duration_s=1e15), "push", "churn.duration_s"),
    (
        "pod replacements",
        lambda d: d["churn"].update(pod_replacements_per_s=1e13),
        "push",
        "churn.pod_replacements_per_s",
    ),
    ("rollouts", lambda d: d["churn"].update(rollouts_per_hour=1e16), "push", "churn.rollouts_per_hour"),
]


@pytest.mark.parametrize(("change", "stage", "field"), [d[1:] for d in DRIVERS], ids=[d[0] for d in DRIVERS])
def test_an_absurd_size_is_refused_naming_its_field(
    change: Callable[[dict[str, Any]], None], stage: Stage, field: str
) -> None:
    scenario = scenario_from_dict(quickstart_with(change))
    with memory_limit(LIMIT, described="--max-memory"), pytest.raises(TooLargeError) as caught:
        check_fits(scenario, source="s.yaml", stage=stage)
    message = str(caught.value)
    assert caught.value.path == field
    assert message.startswith(f"s.yaml: {field}: needs about ")
    assert message.endswith("but --max-memory allows 8.0 GiB; lower it or raise --max-memory")
    assert len(message) < 300


def test_the_refusal_comes_before_the_allocation(write_scenario: Callable[..., Path]) -> None:
    """A billion pods are refused having allocated next to nothing (the tables would take ~400 GB)."""
    path = write_scenario(quickstart_with(explicit_workload(10**9)))
    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError) as caught:
            build_cluster(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.path == "workloads[1].replicas"
    assert "(1,000,000,661 pods, 1,000,000,661 sidecars," in str(caught.value)
    assert peak < 20 * 2**20


def test_without_a_limit_the_machine_is_the_limit() -> None:
    scenario = scenario_from_dict(quickstart_with(synthetic(namespaces=HUGE)))
    with pytest.raises(TooLargeError) as caught:
        check_fits(scenario, source="s.yaml")
    assert "but this machine has " in str(caught.value)
    assert str(caught.value).endswith(" available; lower it")


def test_the_price_of_a_sidecar_per_design_was_measured_with_today_s_count_columns() -> None:
    """Each count column is 8 B a row per sidecar and design in several copies (200,000 sidecars
    under four designs: ~100 MB for 13 columns): a column added or removed since the price was
    measured leaves the guard's run estimate off until it is measured again."""
    assert len(COUNT_COLUMNS) == PRICED_COUNT_COLUMNS, (
        "re-measure with `python bench/size_prices.py --only 'proxy and design'`, then set "
        "BYTES['proxy and design'] and PRICED_COUNT_COLUMNS in dsim/sizing/estimate.py"
    )


@pytest.mark.parametrize("path", [*sorted(SCENARIOS.glob("*.yaml")), ROOT / "bench" / "fleet-50k.yaml"], ids=str)
def test_the_shipped_scenarios_fit(path: Path) -> None:
    scenario = load_scenario(path)
    with memory_limit(LIMIT):
        for stage in ("cluster", "run", "push"):
            check_fits(scenario, stage=stage)  # dump of fleet-50k's sidecar needs ~9 GiB: not checked here
    found = estimate(scenario, stage="push")
    assert found.bytes - found.resident < 4 * 2**30


@pytest.mark.parametrize("name", ["quickstart.yaml", "istio-blog-dual-stack.yaml"])
def test_the_estimate_counts_what_the_cluster_has(name: str) -> None:
    cluster = build_cluster(SCENARIOS / name)
    found = estimate(cluster.scenario)
    assert found.pods == pytest.approx(len(cluster.pods), rel=0.05)  # quickstart: expected replicas, not drawn
    assert found.proxies == pytest.approx(len(cluster.proxies), rel=0.05)
    assert found.services == len(cluster.services)


def test_max_memory_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(SCENARIOS / "quickstart.yaml")
    assert main(["inspect", scenario, "--max-memory", "64G"]) == 0
    capsys.readouterr()
    assert main(["inspect", scenario, "--max-memory", "100M"]) == 2  # the interpreter alone holds more
    err = capsys.readouterr().err
    assert err.startswith(f"dsim: error: {scenario}: ")
    assert err.endswith("but --max-memory allows 100.0 MiB; lower it or raise --max-memory\n")
    with pytest.raises(SystemExit) as caught:
        main(["dump", scenario, "--proxy", "ns-0000/svc-00000", "--max-memory", "lots"])
    assert caught.value.code == 2
    assert "argument --max-memory: expected a size such as 512M or 8G (got 'lots')" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "size"),
    [("512M", 512 * 2**20), ("1.5G", 3 * 2**29), ("8GiB", 8 * 2**30), ("2t", 2 * 2**40), ("4096", 4096)],
)
def test_memory_sizes(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["0", "-1G", "8X", "", "G", "1e9"])
def test_bad_memory_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size such as 512M or 8G"):
        parse_memory(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9" * 400, "expected a size of at most 8388608T"),  # reads as inf: int() would raise OverflowError
        ("8388609T", "expected a size of at most 8388608T"),
        ("0.1", "expected a size of at least 1 byte"),
    ],
)
def test_sizes_out_of_range(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_memory(text)


def test_a_huge_max_memory_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["inspect", str(SCENARIOS / "quickstart.yaml"), "--max-memory", "9" * 400])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "argument --max-memory: expected a size of at most 8388608T (got '9999" in err
    assert "Traceback" not in err


def test_without_the_private_entry_the_same_namespaces_fit() -> None:
    """The scope, not the namespaces, is what the refusal above prices."""
    scenario = scenario_from_dict(quickstart_with(synthetic(namespaces=50_000, services=200_000)))
    with memory_limit(LIMIT):
        check_fits(scenario, source="s.yaml")


SCOPED = {
    "private entry": private_entry(namespaces=20),
    "namespace visibility": lambda d: (private_entry(namespaces=20)(d), d.update(visibility="namespace")),
    "generated Sidecars": lambda d: d["istio_objects"].update(sidecars={"per_namespace": True}),
    "a root Sidecar": lambda d: d.update(
        sidecars=[{"name": "default", "namespace": "istio-system", "spec": {"egress": [{"hosts": ["./*"]}]}}]
    ),
    "a root Sidecar without egress": lambda d: d.update(
        sidecars=[
            {
                "name": "default",
                "namespace": "istio-system",
                "spec": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}},
            }
        ]
    ),
    "an entry for a Kubernetes host": lambda d: d.update(
        service_entries=[
            {
                "name": "shadow",
                "namespace": "ns-0001",
                "spec": {
                    "hosts": ["svc-00000.ns-0000.svc.cluster.local"],
                    "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                    "resolution": "DNS",
                },
            }
        ]
    ),
    "exported to their own namespace by default": lambda d: d["mesh"].update(default_service_export_to=["."]),
    # Every namespace imports the root namespace's VirtualService and gets clusters alone for its
    # 200 destinations (``clusters_only`` rows), which no egress host imports.
    "destinations alone": lambda d: d.update(
        sidecars=[
            {"name": "default", "namespace": "istio-system", "spec": {"egress": [{"hosts": ["istio-system/*"]}]}}
        ],
        virtual_services=[
            {
                "name": "spread",
                "namespace": "istio-system",
                "spec": {
                    "hosts": ["spread.example.com"],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": f"/{i}"}}],
                            "route": [{"destination": {"host": f"svc-{i:05d}.ns-{i % 10:04d}.svc.cluster.local"}}],
                        }
                        for i in range(200)
                    ],
                },
            }
        ],
    ),
}


@pytest.mark.parametrize("change", SCOPED.values(), ids=SCOPED.keys())
def test_the_scope_rows_estimated_bound_the_cluster_s(change: Callable[[dict[str, Any]], None]) -> None:
    """At least the rows the cluster's ``scope`` table holds, and not far above them."""
    scenario = scenario_from_dict(quickstart_with(change))
    rows = len(build_cluster(scenario).scope)
    assert rows > 0
    found = estimate_counts(scenario).scope_rows.value
    assert rows <= found <= 3 * rows + 1_000


def test_no_scope_no_rows() -> None:
    scenario = scenario_from_dict(QUICKSTART)
    assert len(build_cluster(scenario).scope) == 0
    assert estimate_counts(scenario).scope_rows.value == 0


def test_the_scoping_what_if_adds_its_own_rows_alone() -> None:
    """The mesh as given has no scope; its run with minimal Sidecars has theirs."""
    given = scenario_from_dict(quickstart_with(lambda d: d.update(what_if={"sidecar_scoping": True})))
    scoped = scenario_from_dict(quickstart_with(lambda d: d["istio_objects"].update(sidecars={"per_namespace": True})))
    assert len(build_cluster(given).scope) == 0
    assert estimate_counts(given).scope_rows.value == estimate_counts(scoped).scope_rows.value > 0


@pytest.mark.parametrize(
    "generator",
    [
        {"share": 0.3, "routes": 7, "matches_per_route": 3, "hosts": 2},
        {"share": 1, "routes": 4, "matches_per_route": 0, "destinations": 2},
        {"share": 0.5, "routes": 1},
        {"share": 0.5, "routes": 3, "matches_per_route": 2, "request_headers": 2, "removed_headers": 1, "fault": True},
        {"share": 0.2, "routes": 2, "removed_headers": 3, "cors": True, "mirror": True},
    ],
    ids=["matches", "no matches", "one route", "headers and a fault", "removals, CORS and mirrors"],
)
def test_the_envoy_routes_estimated_are_the_generated_virtual_services(generator: dict[str, Any]) -> None:
    """One Envoy route per match of an HTTP route, one for a route without a match."""

    def change(d: dict[str, Any]) -> None:
        d["istio_objects"]["virtual_services"] = generator
        d["virtual_services"] = [
            {
                "name": "pasted",
                "namespace": "ns-0000",
                "spec": {
                    "hosts": ["svc-00000"],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/b"}}],
                            "route": [
                                {"destination": {"host": "svc-00000"}, "weight": 50},
                                {"destination": {"host": "svc-00001.ns-0001.svc.cluster.local"}, "weight": 50},
                            ],
                        },
                        {"route": [{"destination": {"host": "svc-00000"}}]},
                    ],
                },
            },
            # A root whose route of three matches delegates to two routes (two matches, none): the
            # cluster merges them into 3 x 2 + 3 x 1 routes, each with the delegate's destinations.
            {
                "name": "root",
                "namespace": "ns-0000",
                "spec": {
                    "hosts": ["svc-00010.ns-0000.svc.cluster.local"],
                    "http": [
                        {"match": [{"uri": {"prefix": p}} for p in ("/a", "/b", "/c")], "delegate": {"name": "child"}}
                    ],
                },
            },
            {
                "name": "child",
                "namespace": "ns-0000",
                "spec": {
                    "http": [
                        {
                            "match": [{"headers": {"v": {"exact": v}}} for v in ("1", "2")],
                            "route": [
                                {"destination": {"host": "svc-00010"}, "weight": 50},
                                {"destination": {"host": "svc-00020"}, "weight": 50},
                            ],
                        },
                        {"route": [{"destination": {"host": "svc-00010"}}]},
                    ]
                },
            },
        ]

    scenario = scenario_from_dict(quickstart_with(change))
    made = build_cluster(scenario).istio.virtual_services
    routes = [route for vs in made for route in vs.spec.http]
    found = estimate_counts(scenario).routes
    assert found.routes.value == sum(max(len(r.match), 1) for r in routes)
    assert found.destinations.value >= sum(max(len(r.match), 1) * len(r.route) for r in routes)
    merged = next(vs for vs in made if vs.name == "root").spec.http
    assert sum(max(len(r.match), 1) for r in merged) == 9
    # HTTP routes as the cluster holds them: the root's delegating route as the two it is merged into.
    assert found.http_routes.value == len(routes)
    # A host naming no service is a virtual host of its own: the configs hold its routes once more.
    assert found.seen.value == sum(max(len(r.match), 1) * len(vs.spec.hosts) for vs in made for r in vs.spec.http)
    # Headers set or removed, and faults, CORS policies and mirrors, on every copy of a generated
    # route (the pasted ones here do none): the copies the same generator makes with no share.
    per_route = {
        "headers": generator.get("request_headers", 0) + generator.get("removed_headers", 0),
        "actions": sum(bool(generator.get(k)) for k in ("fault", "cors", "mirror")),
    }

    def ungenerated(d: dict[str, Any]) -> None:
        change(d)
        d["istio_objects"]["virtual_services"] = {**generator, "share": 0}

    alone = estimate_counts(scenario_from_dict(quickstart_with(ungenerated))).routes
    copies = found.seen.value + found.port_copies.value - alone.seen.value - alone.port_copies.value
    assert copies > 0
    for name, each in per_route.items():
        assert getattr(found, name).value == pytest.approx(each * copies), name


def test_pasted_header_operations_and_actions_count_on_every_copy_of_their_routes() -> None:
    """A pasted route's headers (its own and its destinations', request and response) and its
    fault, CORS policy and mirrors count once per Envoy route in each host's virtual host and each
    other port's route configuration; a delegate's merged routes hold what both routes do."""

    def change(d: dict[str, Any]) -> None:
        d["namespaces"] = [{"name": "shop"}]
        d["services"] = [
            {"name": "cart", "namespace": "shop", "ports": [{"port": p, "name": f"http-{p}"} for p in (80, 81, 82)]}
        ]
        headers = {"request": {"set": {"a": "1", "b": "2"}, "remove": ["c"]}, "response": {"add": {"d": "4"}}}
        d["virtual_services"] = [
            {
                "name": "cart",
                "namespace": "shop",
                "spec": {
                    # The service (3 ports: 2 copies) and a name of its own (1 virtual host).
                    "hosts": ["cart", "cart.example.com"],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/b"}}],
                            "headers": headers,
                            "route": [{"destination": {"host": "cart"}, "headers": {"response": {"remove": ["e"]}}}],
                            "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 1}}},
                            "mirrors": [{"destination": {"host": "cart"}}, {"destination": {"host": "cart"}}],
                        },
                        {
                            "route": [{"destination": {"host": "cart"}}],
                            "corsPolicy": {"allowOrigins": [{"exact": "x"}]},
                        },
                    ],
                },
            }
        ]

    found = estimate_counts(scenario_from_dict(quickstart_with(change))).routes
    # Each Envoy route in two hosts' virtual hosts and the service's two other ports (the name of
    # its own is priced at the synthetic services' mean ports, an upper bound: a little more).
    other_ports = found.port_copies.value / found.routes.value
    assert 2 <= other_ports < 2.5
    held = 2 + other_ports
    # The first route: two Envoy routes, 5 header operations, a fault and two mirrors each.
    assert found.headers.value == pytest.approx(2 * 5 * held)
    assert found.actions.value == pytest.approx((2 * 3 + 1) * held)


def test_the_clusters_a_sidecar_sees_count_destination_rule_subsets() -> None:
    """Of a sidecar that sees every service: its clusters, a subset's per port among them."""

    def change(d: dict[str, Any]) -> None:
        d["istio_objects"]["destination_rules"] = {"share": 0.5, "subsets": 3}
        d["destination_rules"] = [
            {
                "name": "pasted",
                "namespace": "ns-0000",
                "spec": {"host": "svc-00000", "subsets": [{"name": n, "labels": {"v": n}} for n in "abcd"]},
            }
        ]

    scenario = scenario_from_dict(quickstart_with(change))
    cluster = build_cluster(scenario)
    config = proxy_config(index_for(cluster), 0, get_design("single-stack"))
    outbound = [c for c in config.resources("clusters") if c.name.startswith("outbound|")]
    found = estimate(scenario).clusters_seen_per_proxy
    assert len(outbound) <= found <= 1.2 * len(outbound)
    without = estimate(scenario_from_dict(QUICKSTART)).clusters_seen_per_proxy
    assert found - without > 0.9 * (len(outbound) - without)
    generated_only = scenario_from_dict(quickstart_with(lambda d: (change(d), d.pop("destination_rules"))))
    assert found - estimate(generated_only).clusters_seen_per_proxy >= 4  # the pasted rule's 4 subsets, a port each


def test_a_selector_s_pods_count_as_an_entry_s_endpoints_and_per_endpoint_listeners() -> None:
    """Each selected pod is an endpoint of every host and port; under ``NONE`` without an address,
    a listener per address of it on each TCP, TLS or sniffed port too, which bounds what a sidecar
    that sees the entry gets."""
    scenario = scenario_from_dict(quickstart_with(selected_by_a_passthrough_entry(20)))
    counts = estimate_counts(scenario)
    assert counts.endpoint_listeners.value == 20 * 2 * 3 * 2
    assert counts.endpoint_listeners.field == "service_entries[0].spec.workloadSelector"
    assert counts.endpoint_listeners_kept.value == 20 * 3 * 2  # the second host's share the first's names
    without = estimate_counts(scenario_from_dict(quickstart_with(explicit_workload(20))))
    assert counts.endpoints.total.value - without.endpoints.total.value == 20 * 2 * 4
    cluster = build_cluster(scenario)
    index = index_for(cluster)
    config = proxy_config(index, index.find_proxy("big/small"), get_design("additional-addresses"))
    pods = {*index.pod_ipv4.tolist(), *index.pod_ipv6.tolist()} - {""}
    per_endpoint = [x for x in config.resources("listeners") if x.address.socket_address.address in pods]
    assert 0 < len(per_endpoint) <= counts.endpoint_listeners_kept.value

    def one_static_host(d: dict[str, Any]) -> None:
        selected_by_a_passthrough_entry(20, "STATIC")(d)
        d["service_entries"][0]["spec"]["hosts"] = ["a.peers.internal"]

    static = estimate_counts(scenario_from_dict(quickstart_with(one_static_host)))
    assert static.endpoint_listeners.value == static.endpoint_listeners_kept.value == 0
    assert static.endpoints.total.value - without.endpoints.total.value == 20 * 4


def test_a_dump_counts_the_routes_copied_into_each_port_of_a_service() -> None:
    """Each HTTP port's route configuration holds the service's virtual host: a VirtualService's
    routes once per port, for generated ones on synthetic services of three ports and pasted ones
    on explicit services of two (named short, and in full from another namespace)."""
    data = {
        "name": "ports",
        "seed": 1,
        "visibility": "all",
        "synthetic": {
            "namespaces": 2,
            "services": 6,
            "ports_per_service": {3: 1.0},
            "protocols": {"http": 1.0, "grpc": 0.0, "tcp": 0.0},
            "port_pools": {"http": [8080, 8082, 8083, 8084, 8085]},
            "replicas": {"distribution": "fixed", "mean": 1, "min": 1, "max": 1},
        },
        "namespaces": [{"name": "shop"}],
        "services": [
            {
                "name": n,
                "namespace": "shop",
                "ports": [{"port": 9080, "name": "http"}, {"port": 9081, "name": "http-b"}],
            }
            for n in ("two", "duo")
        ],
        "workloads": [{"name": "two", "namespace": "shop"}, {"name": "duo", "namespace": "shop"}],
        "virtual_services": [
            {
                "name": "two",
                "namespace": "shop",
                "spec": {
                    "hosts": ["two"],
                    "http": [{"match": [{"uri": {"prefix": "/a"}}], "route": [{"destination": {"host": "two"}}]}],
                },
            },
            {
                "name": "duo-from-afar",
                "namespace": "ns-0000",
                "spec": {
                    "hosts": ["duo.shop.svc.cluster.local"],
                    "http": [{"route": [{"destination": {"host": "duo.shop.svc.cluster.local"}}]}],
                },
            },
        ],
        "istio_objects": {"virtual_services": {"share": 1.0, "routes": 3, "matches_per_route": 2}},
    }
    scenario = scenario_from_dict(data)
    cluster = build_cluster(scenario)
    config = proxy_config(index_for(cluster), 0, get_design("single-stack"))
    routed = {host for vs in cluster.istio.virtual_services for host in vs.spec.hosts}
    routed |= {f"{h}.shop.svc.cluster.local" for h in routed if "." not in h}
    in_routed = [
        len(vhost.routes)
        for configuration in config.routes
        for vhost in configuration.virtual_hosts
        if routed & set(vhost.domains)
    ]
    found = estimate_counts(scenario).routes
    assert found.port_copies.value > 0
    assert sum(in_routed) == found.seen.value + found.port_copies.value
    # Of three ports half TCP, a synthetic service's VirtualService is in 1.5 ports' configurations.
    data["synthetic"]["protocols"] = {"http": 1.0, "grpc": 0.0, "tcp": 1.0}
    half = estimate_counts(scenario_from_dict(data)).routes
    generated = 6 * 5  # six services' routes
    assert half.port_copies.value == found.port_copies.value - generated * 2 + generated * 0.5
    # A host of fewer ports (an external one, priced as a mostly TCP synthetic service's 0.75)
    # takes nothing from the copies another host of its VirtualService makes.
    data["synthetic"]["protocols"] = {"http": 1.0, "grpc": 0.0, "tcp": 3.0}
    alone = estimate_counts(scenario_from_dict(data)).routes.port_copies.value
    data["virtual_services"][0]["spec"]["hosts"].append("nowhere.example.com")
    assert estimate_counts(scenario_from_dict(data)).routes.port_copies.value == alone


def test_a_delegate_s_merged_routes_count_what_root_and_delegate_routes_do() -> None:
    """Each merged route (a root match × a delegate match) is counted with the root route's headers
    and mirror beside the delegate route's (an upper bound: a delegate setting its own keeps its own)."""

    def change(d: dict[str, Any]) -> None:
        d["namespaces"] = [{"name": "shop"}]
        d["services"] = [{"name": "cart", "namespace": "shop", "ports": [{"port": 80, "name": "http"}]}]
        d["virtual_services"] = [
            {
                "name": "root",
                "namespace": "shop",
                "spec": {
                    "hosts": ["cart"],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": p}} for p in ("/a", "/b", "/c")],
                            "delegate": {"name": "child"},
                            "headers": {"request": {"set": {"x-root": "1"}}},
                            "mirror": {"host": "cart"},
                        }
                    ],
                },
            },
            {
                "name": "child",
                "namespace": "shop",
                "spec": {
                    "http": [
                        {
                            "match": [{"headers": {"v": {"exact": v}}} for v in ("1", "2")],
                            "route": [{"destination": {"host": "cart"}}],
                            "headers": {"request": {"remove": ["x-a", "x-b"]}},
                            "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 1}}},
                        }
                    ]
                },
            },
        ]

    found = estimate_counts(scenario_from_dict(quickstart_with(change))).routes
    assert found.routes.value == 3 * 2 + 2  # the delegate's own routes are objects too, in no config
    assert found.headers.value == 3 * 2 * (1 + 2)
    assert found.actions.value == 3 * 2 * (1 + 1)


def test_a_dump_counts_an_access_log_per_cluster_seen_by_its_bytes() -> None:
    """With the mesh's access logs a sidecar's dump holds one per chain (a chain per cluster seen at
    most), each priced by its message's bytes: a long format costs more. Building the cluster holds
    none."""

    def logging(text: str) -> Callable[[dict[str, Any]], None]:
        return lambda d: d.setdefault("mesh", {}).update(access_log_file="/dev/stdout", access_log_format=text)

    plain = estimate(scenario_from_dict(QUICKSTART), stage="config")
    scenario = scenario_from_dict(quickstart_with(logging("")))
    logged = estimate(scenario, stage="config")
    added = logged.memory["one sidecar's config"] - plain.memory["one sidecar's config"]
    seen = plain.clusters_seen_per_proxy
    # At least as many logs as the sidecar holds under any design, each priced at least at the largest there.
    index = index_for(build_cluster(scenario))
    configs = [proxy_config(index, 0, get_design(d)) for d in ("duplicate", "additional-addresses")]
    assert seen >= max(config_count_row(c)["access_logs"] for c in configs)
    largest = max(entry.ByteSize() for c in configs for listener in c.listeners for entry in listener.access_log)
    assert added >= 0.999 * seen * largest * BYTES["access log byte seen"] > 0
    longer = estimate(scenario_from_dict(quickstart_with(logging("%START_TIME% " * 600))), stage="config")
    assert longer.memory["one sidecar's config"] > logged.memory["one sidecar's config"] + seen * 5_000
    assert estimate(scenario_from_dict(quickstart_with(logging(""))), stage="cluster").bytes == pytest.approx(
        estimate(scenario_from_dict(QUICKSTART), stage="cluster").bytes, rel=0.01
    )
