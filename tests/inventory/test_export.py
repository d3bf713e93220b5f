"""A dsim cluster written out as a real cluster's inventory: the objects are what kubectl would show.

The importer is tested on these exports (and on hand-written inventories in
``tests/data/inventories``), so the export must hold to the API's own rules: one EndpointSlice per
address family and at most 1,000 endpoints in each, unready pods listed ``ready: false``, owners
that point at real uids, and the same bytes for the same cluster.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import dsim
from dsim.inventory import export
from dsim.inventory.export import inventory_objects, write_inventory
from dsim.scenario.model import LabelSelector
from tests.config_helpers import config_of
from tests.conftest import DATA, SCENARIOS

BLOG = SCENARIOS / "istio-blog-dual-stack.yaml"


def _scenario(**extra: Any) -> dsim.Scenario:
    """A small explicit mesh: a dual-stack service of two workloads (one unready), an IPv6 one, and
    a namespace without injection holding a workload that opts in."""
    data: dict[str, Any] = {
        "name": "export",
        "namespaces": [{"name": "shop"}, {"name": "plain", "sidecar_injection": False}],
        "services": [
            {
                "name": "web",
                "namespace": "shop",
                "ip_families": ["IPv6", "IPv4"],
                "ports": [
                    {"name": "http", "port": 80, "target_port": 8080},
                    {"name": "api", "port": 90, "protocol": "GRPC"},
                ],
            },
            {"name": "cache", "namespace": "shop", "ip_families": ["IPv6"], "ports": [{"name": "tcp", "port": 6379}]},
            {"name": "job", "namespace": "plain", "ports": [{"name": "http", "port": 80}], "export_to": ["."]},
        ],
        "workloads": [
            {"name": "web-v1", "namespace": "shop", "replicas": 3, "labels": {"app": "web", "version": "v1"}},
            {
                "name": "web-v2",
                "namespace": "shop",
                "replicas": 2,
                "labels": {"app": "web", "version": "v2"},
                "ready": False,
            },
            {"name": "cache", "namespace": "shop", "sidecar": False},
            {"name": "job", "namespace": "plain", "sidecar": True},
        ],
    }
    return dsim.scenario_from_dict(data | extra)


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _slices(objects: list[dict[str, Any]], namespace: str, service: str) -> list[dict[str, Any]]:
    return [
        o
        for o in _by_kind(objects, "EndpointSlice")
        if o["metadata"]["namespace"] == namespace and o["metadata"]["labels"]["kubernetes.io/service-name"] == service
    ]


@pytest.fixture(scope="module")
def small() -> list[dict[str, Any]]:
    return list(inventory_objects(dsim.build_cluster(_scenario())))


@pytest.fixture(scope="module")
def blog() -> list[dict[str, Any]]:
    return list(inventory_objects(dsim.build_cluster(BLOG)))


def test_blog_has_the_objects_kubectl_lists(blog: list[dict[str, Any]]) -> None:
    kinds = Counter(o["kind"] for o in blog)
    assert {k: kinds[k] for k in ("Namespace", "Service", "Deployment", "ReplicaSet", "Pod", "EndpointSlice")} == {
        "Namespace": 4,
        "Service": 4,
        "Deployment": 4,
        "ReplicaSet": 4,
        "Pod": 4,
        "EndpointSlice": 5,  # the dual-stack Service has two
    }
    dual = next(o for o in _by_kind(blog, "Service") if o["metadata"]["namespace"] == "dual-stack")
    assert dual["spec"]["ipFamilies"] == ["IPv6", "IPv4"]
    assert dual["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert dual["spec"]["clusterIPs"] == ["fd00:10:96::f9fc", "10.96.106.11"]
    assert dual["spec"]["clusterIP"] == "fd00:10:96::f9fc"
    assert dual["spec"]["selector"] == {"app": "tcp-echo"}
    assert [p["name"] for p in dual["spec"]["ports"]] == ["tcp", "tcp-other"]
    assert all("appProtocol" not in p for p in dual["spec"]["ports"])  # the names say tcp
    slices = _slices(blog, "dual-stack", "tcp-echo")
    assert sorted(s["addressType"] for s in slices) == ["IPv4", "IPv6"]
    addresses = {s["addressType"]: [e["addresses"] for e in s["endpoints"]] for s in slices}
    assert addresses == {"IPv4": [["10.244.0.26"]], "IPv6": [["fd00:10:244::1a"]]}
    # kind's cluster is IPv4-primary: the IPv6 namespace's pod lists its IPv4 first.
    pod = next(o for o in _by_kind(blog, "Pod") if o["metadata"]["namespace"] == "ipv6")
    assert pod["status"]["podIPs"] == [{"ip": "10.244.0.24"}, {"ip": "fd00:10:244::18"}]
    assert pod["status"]["podIP"] == "10.244.0.24"
    assert _slices(blog, "ipv6", "tcp-echo")[0]["endpoints"][0]["addresses"] == ["fd00:10:244::18"]


def test_every_service_has_one_slice_per_family(small: list[dict[str, Any]]) -> None:
    for service in _by_kind(small, "Service"):
        meta = service["metadata"]
        families = sorted(s["addressType"] for s in _slices(small, meta["namespace"], meta["name"]))
        assert families == sorted(service["spec"]["ipFamilies"])


def test_unready_pods_are_listed_not_ready(small: list[dict[str, Any]]) -> None:
    (v6,) = [s for s in _slices(small, "shop", "web") if s["addressType"] == "IPv6"]
    ready = {e["targetRef"]["name"]: e["conditions"]["ready"] for e in v6["endpoints"]}
    assert ready == {"web-v1-0": True, "web-v1-1": True, "web-v1-2": True, "web-v2-0": False, "web-v2-1": False}
    assert all(not e["conditions"]["serving"] for e in v6["endpoints"] if not e["conditions"]["ready"])
    pods = {o["metadata"]["name"]: o for o in _by_kind(small, "Pod")}
    conditions = {c["type"]: c["status"] for c in pods["web-v2-0"]["status"]["conditions"]}
    assert conditions["Ready"] == "False"
    deployment = next(o for o in _by_kind(small, "Deployment") if o["metadata"]["name"] == "web-v2")
    assert "readyReplicas" not in deployment["status"]


def test_ports_say_app_protocol_only_where_the_name_does_not(small: list[dict[str, Any]]) -> None:
    web = next(o for o in _by_kind(small, "Service") if o["metadata"]["name"] == "web")
    assert web["spec"]["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
        {"name": "api", "protocol": "TCP", "appProtocol": "grpc", "port": 90, "targetPort": 90},
    ]
    (slice_,) = [s for s in _slices(small, "shop", "web") if s["addressType"] == "IPv4"]
    assert slice_["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 8080},
        {"name": "api", "protocol": "TCP", "port": 90, "appProtocol": "grpc"},
    ]


def test_sidecars_injection_and_export_to(small: list[dict[str, Any]]) -> None:
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["labels"].get("istio-injection") for o in _by_kind(small, "Namespace")
    }
    assert namespaces == {"plain": None, "shop": "enabled"}  # a namespace that does not inject has no label
    pods = {o["metadata"]["name"]: o for o in _by_kind(small, "Pod")}
    containers = {name: [c["name"] for c in pod["spec"]["containers"]] for name, pod in pods.items()}
    assert containers["web-v1-0"] == ["web", "istio-proxy"]
    assert containers["cache-0"] == ["cache"]
    assert pods["cache-0"]["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert pods["job-0"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "true"
    assert "sidecar.istio.io/inject" not in pods["web-v1-0"]["metadata"].get("annotations", {})
    job = next(o for o in _by_kind(small, "Service") if o["metadata"]["name"] == "job")
    assert job["metadata"]["annotations"] == {"networking.istio.io/exportTo": "."}


def test_owners_point_at_real_uids(small: list[dict[str, Any]]) -> None:
    uids = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o["metadata"]["uid"] for o in small}
    assert len(set(uids.values())) == len(small)
    for obj in small:
        meta = obj["metadata"]
        for owner in meta.get("ownerReferences", []):
            assert uids[(owner["kind"], meta["namespace"], owner["name"])] == owner["uid"]
    for slice_ in _by_kind(small, "EndpointSlice"):
        for endpoint in slice_["endpoints"] or []:
            ref = endpoint["targetRef"]
            assert uids[("Pod", ref["namespace"], ref["name"])] == ref["uid"]
    rs = {o["metadata"]["name"]: o for o in _by_kind(small, "ReplicaSet")}
    for pod in _by_kind(small, "Pod"):
        owner = rs[pod["metadata"]["ownerReferences"][0]["name"]]
        assert owner["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_a_service_of_2500_endpoints_is_split_into_slices_of_at_most_1000() -> None:
    scenario = _scenario(
        services=[
            {
                "name": "big",
                "namespace": "shop",
                "ip_families": ["IPv4", "IPv6"],
                "ports": [{"name": "http", "port": 80}],
            }
        ],
        workloads=[{"name": "big", "namespace": "shop", "replicas": 2500}],
    )
    objects = list(inventory_objects(dsim.build_cluster(scenario)))
    slices = _slices(objects, "shop", "big")
    sizes = sorted((s["addressType"], len(s["endpoints"])) for s in slices)
    assert sizes == [("IPv4", 500), ("IPv4", 1000), ("IPv4", 1000), ("IPv6", 500), ("IPv6", 1000), ("IPv6", 1000)]
    assert len({s["metadata"]["name"] for s in slices}) == 6
    for family in ("IPv4", "IPv6"):
        pods = [e["targetRef"]["name"] for s in slices if s["addressType"] == family for e in s["endpoints"]]
        assert sorted(pods) == sorted(f"big-{i}" for i in range(2500))


def test_service_entries_are_not_services_and_istio_objects_are_exported() -> None:
    cluster = dsim.build_cluster(SCENARIOS / "istio-objects.yaml")
    objects = list(inventory_objects(cluster))
    kinds = Counter(o["kind"] for o in objects)
    istio = cluster.istio
    assert kinds["VirtualService"] == len(istio.virtual_services) > 0
    assert kinds["DestinationRule"] == len(istio.destination_rules) > 0
    # A headless Service is held as a registry entry but written as the Service it is, without a cluster IP.
    headless = [e for e in istio.service_entries if e.headless]
    assert [e.name for e in headless] == ["frontend-peers"]
    assert kinds["ServiceEntry"] == len(istio.service_entries) - len(headless) > 0
    assert kinds["Sidecar"] == len(istio.sidecars) > 0
    assert kinds["Service"] == int((cluster.services["entry"] < 0).sum()) + len(headless)
    (peers,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "frontend-peers"]
    assert peers["spec"]["clusterIP"] == "None"
    assert peers["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    slices = [o for o in objects if o["kind"] == "EndpointSlice" and o["metadata"]["name"].startswith("frontend-peers")]
    assert sorted(s["addressType"] for s in slices) == ["IPv4", "IPv6"]
    assert all(o["apiVersion"] == "networking.istio.io/v1" for o in objects if o["kind"] == "VirtualService")


def _write_all(tmp_path: Path, scenario: Path | dsim.Scenario) -> dict[str, Path]:
    cluster = dsim.build_cluster(scenario)
    paths = {}
    for form, suffix in (("list-yaml", "yaml"), ("yaml-stream", "stream.yaml"), ("json", "json")):
        paths[form] = tmp_path / f"inventory.{suffix}"
        write_inventory(cluster, paths[form], form=form)  # type: ignore[arg-type]
    return paths


def test_every_form_parses_to_the_objects(tmp_path: Path) -> None:
    scenario = _scenario()
    expected = json.loads(json.dumps(list(inventory_objects(dsim.build_cluster(scenario)))))
    paths = _write_all(tmp_path, scenario)
    listed = yaml.safe_load(paths["list-yaml"].read_text())
    assert (listed["apiVersion"], listed["kind"], listed["metadata"]) == ("v1", "List", {"resourceVersion": ""})
    assert listed["items"] == expected
    assert list(yaml.safe_load_all(paths["yaml-stream"].read_text())) == expected
    as_json = json.loads(paths["json"].read_text())
    assert as_json["items"] == expected
    assert (
        paths["json"]
        .read_text()
        .startswith('{\n    "apiVersion": "v1",\n    "items": [\n        {\n            "apiVersion"')
    )
    assert "&id" not in paths["list-yaml"].read_text()  # kubectl never writes anchors


def test_an_empty_cluster_writes_only_its_cluster_settings(tmp_path: Path) -> None:
    cluster = dsim.build_cluster(dsim.scenario_from_dict({"name": "empty"}))
    assert write_inventory(cluster, tmp_path / "a.yaml") == 2
    items = yaml.safe_load((tmp_path / "a.yaml").read_text())["items"]
    names = [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in items]
    assert names == [("ConfigMap", "kube-system", "kubeadm-config"), ("ConfigMap", "istio-system", "istio")]


@pytest.mark.parametrize(("writer", "load"), [("_write_yaml_list", yaml.safe_load), ("_write_json_list", json.loads)])
def test_no_objects_make_an_empty_list(writer: str, load: Any) -> None:
    out = io.StringIO()
    assert getattr(export, writer)(iter([]), out) == 0
    assert load(out.getvalue()) == {
        "apiVersion": "v1",
        "items": [],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def test_the_same_cluster_writes_the_same_bytes(tmp_path: Path) -> None:
    quickstart = SCENARIOS / "quickstart.yaml"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = _write_all(tmp_path / "a", quickstart), _write_all(tmp_path / "b", quickstart)
    for form in first:
        assert first[form].read_bytes() == second[form].read_bytes()
    assert not list(tmp_path.glob("**/.*.partial"))


def test_unknown_form_is_refused(tmp_path: Path) -> None:
    cluster = dsim.build_cluster(_scenario())
    with pytest.raises(ValueError, match="unknown inventory form 'xml'"):
        write_inventory(cluster, tmp_path / "x", form="xml")  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def _sizes(cluster: dsim.Cluster, design: str) -> pd.DataFrame:
    """Per-proxy config sizes keyed by the proxy's namespace and pod name (rows may be ordered differently)."""
    sizes = dsim.config_sizes(cluster, design, method="vectorized")
    pods = cluster.proxies["pod"].to_numpy()[sizes["proxy"].to_numpy()]
    namespaces = cluster.namespaces["name"].to_numpy()[
        cluster.proxies["namespace"].to_numpy()[sizes["proxy"].to_numpy()]
    ]
    keyed = sizes.assign(namespace=namespaces, pod=cluster.pod_names().to_numpy()[pods])
    return keyed.set_index(["namespace", "pod", "xds_type"])[["resources", "bytes"]].sort_index()


def _quickstart_without_subsets() -> dsim.Scenario:
    data = yaml.safe_load((SCENARIOS / "quickstart.yaml").read_text())
    data["synthetic"]["subsets"] = {"fraction": 0.0}
    return dsim.scenario_from_dict(data, source="quickstart without subsets")


def _round_trip(original: dsim.Cluster, tmp_path: Path) -> dsim.Cluster:
    from dsim.inventory import import_inventory

    path = tmp_path / "inventory.yaml"
    write_inventory(original, path)
    return dsim.build_cluster(import_inventory([path]).load())


def _discovering_some() -> dsim.Scenario:
    """istio-objects.yaml where istiod discovers shop, external and the root namespace by a label
    (the import must carry the root namespace's), ns-0000 by name, and neither payments nor the
    other synthetic namespaces."""
    data = yaml.safe_load((SCENARIOS / "istio-objects.yaml").read_text())
    data["namespaces"] = [
        {"name": "shop", "labels": {"team": "shop"}},
        {"name": "payments", "labels": {"team": "payments"}},
        {"name": "external", "labels": {"team": "shop", "tier": "edge"}},
        {"name": "istio-system", "sidecar_injection": False, "labels": {"team": "shop", "owner": "platform"}},
    ]
    # An unready workload behind a Service left out: its pods are listed, in no Service's slices.
    next(w for w in data["workloads"] if w["name"] == "ledger")["ready"] = False
    data["mesh"] = {
        "mtls": "STRICT",
        "discovery_selectors": [
            {"match_labels": {"team": "shop"}},
            {"match_expressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["ns-0000"]}]},
        ],
    }
    return dsim.scenario_from_dict(data, source="istio-objects.yaml discovering some")


def _quickstart_logging() -> dsim.Scenario:
    """quickstart.yaml without subsets, its sidecars writing JSON access logs of a format of its own,
    without the virtual listeners' logs."""
    scenario = _quickstart_without_subsets()
    mesh = dataclasses.replace(
        scenario.mesh,
        access_log_file="/dev/stdout",
        access_log_encoding="JSON",
        access_log_format='{"code": "%RESPONSE_CODE%", "path": "%REQ_WITHOUT_QUERY(:PATH)%"}',
        disable_envoy_listener_log=True,
    )
    return dataclasses.replace(scenario, mesh=mesh)


def _written_endpoints() -> dsim.Scenario:
    """Services without a selector, their endpoints written by hand (``tests/test_written_endpoints.py``):
    ready and unready, one family and two, none at all, in a pasted DestinationRule's subsets (a
    Service's own subsets come back as a rule, whose metadata its clusters then carry: below)."""
    from tests.test_written_endpoints import SCENARIO

    services = [{k: v for k, v in svc.items() if k != "subsets"} for svc in SCENARIO["services"]]
    return dsim.scenario_from_dict({**SCENARIO, "services": services}, source="written endpoints")


def _external_names() -> dsim.Scenario:
    """ExternalName Services (``tests/test_service_aliases.py``): of a Service, through another, in a
    loop, of a name outside the mesh, with a trailing dot, of a ServiceEntry host and of a headless
    Service, seen with and without Sidecars."""
    from tests.test_service_aliases import SCENARIO

    return dsim.scenario_from_dict(SCENARIO, source="ExternalName Services")


ROUND_TRIPS = {
    "quickstart.yaml without subsets": _quickstart_without_subsets,
    "endpoints written by hand": _written_endpoints,
    "ExternalName Services": _external_names,
    "quickstart.yaml writing access logs": _quickstart_logging,
    "istio-objects.yaml": lambda: dsim.load_scenario(SCENARIOS / "istio-objects.yaml"),
    "istio-objects.yaml discovering some": _discovering_some,
}


@pytest.mark.parametrize("scenario", list(ROUND_TRIPS))
def test_export_then_import_gives_the_same_config_sizes(tmp_path: Path, scenario: str) -> None:
    """Zones, readiness, sidecars, families, Istio objects, discovery selectors: a cluster written out
    as kubectl prints it and imported again generates the same bytes for every pod under every design."""
    original = dsim.build_cluster(ROUND_TRIPS[scenario]())
    imported = _round_trip(original, tmp_path)
    for design in dsim.designs.design_names():
        pd.testing.assert_frame_equal(_sizes(imported, design), _sizes(original, design))


def test_subsets_without_a_rule_come_back_as_a_rule(tmp_path: Path) -> None:
    """A synthetic service's subsets are dsim's shorthand: no DestinationRule object. A cluster holds them in
    one, so the export writes one, and after import the subset services' clusters carry the rule's
    ``istio.config`` metadata, as Istio's do: only those clusters grow, nothing else changes."""
    original = dsim.build_cluster(SCENARIOS / "quickstart.yaml")
    imported = _round_trip(original, tmp_path)
    before, after = _sizes(original, "single-stack"), _sizes(imported, "single-stack")
    pd.testing.assert_series_equal(before["resources"], after["resources"])
    grew = (after["bytes"] - before["bytes"]).groupby(level="xds_type").min()
    assert grew.drop("clusters").eq(0).all()
    assert grew["clusters"] > 0
    config = dsim.generate(imported, "ns-0000/svc-00000-0", "single-stack")
    with_subsets = {
        name.split("|")[3] for c in config.clusters if (name := c.name).count("|") == 3 and name.split("|")[2]
    }
    for cluster in config.clusters:
        host = cluster.name.split("|")[-1]
        has_rule = "config" in cluster.metadata.filter_metadata["istio"].fields
        assert has_rule == (cluster.name.startswith("outbound") and host in with_subsets), cluster.name


def test_kubeadm_config_records_the_scenario_ranges() -> None:
    scenario = _scenario(network={"pod_cidrs": {"ipv4": "10.128.0.0/12", "ipv6": "fd00:10:244::/56"}})
    (config,) = [
        o for o in inventory_objects(dsim.build_cluster(scenario)) if o["metadata"]["name"] == "kubeadm-config"
    ]
    assert (config["metadata"]["namespace"], config["metadata"]["name"]) == ("kube-system", "kubeadm-config")
    networking = yaml.safe_load(config["data"]["ClusterConfiguration"])["networking"]
    assert networking == {
        "dnsDomain": "cluster.local",
        "podSubnet": "10.128.0.0/12,fd00:10:244::/56",
        "serviceSubnet": "10.96.0.0/16,fd00:10:96::/112",
    }


def test_the_hand_written_inventories_are_kubectl_output() -> None:
    """Each test inventory parses as its form says, except the one cut off on purpose."""
    folder = DATA / "inventories"
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "bad-truncated.yaml":
            with pytest.raises(yaml.YAMLError):
                list(yaml.safe_load_all(path.read_text()))
            continue
        documents = list(yaml.safe_load_all(path.read_text()))
        objects = documents[0]["items"] if documents[0]["kind"] == "List" else documents
        assert all({"apiVersion", "kind", "metadata"} <= obj.keys() for obj in objects), path.name
    assert json.loads((folder / "coverage.json").read_text())["kind"] == "List"


@pytest.mark.parametrize(
    "defaults",
    [
        {"service": [".", "shop"], "virtual_service": ["."]},
        # Lists no object may hold (Istio reads the defaults as sets): exported objects leave them to the ConfigMap.
        {"service": ["shop", "~"], "virtual_service": ["*", "."]},
    ],
)
def test_mesh_settings_travel_with_the_inventory(tmp_path: Path, defaults: dict[str, list[str]]) -> None:
    """STRICT mTLS, a trust domain, REGISTRY_ONLY, HTTP/2 upgrade, default exportTo lists, the connect timeout,
    keepalive, retry policy and cluster domain change every sidecar's
    config: the export writes them where a cluster keeps them (a root PeerAuthentication, the ``istio``
    ConfigMap), and the import reads them; an object that took a default is written without it."""
    data = yaml.safe_load((SCENARIOS / "istio-objects.yaml").read_text())
    # An unready workload behind a Service left out: its pods are listed, in no Service's slices.
    next(w for w in data["workloads"] if w["name"] == "ledger")["ready"] = False
    data["mesh"] = {
        "mtls": "STRICT",
        "trust_domain": "example.org",
        "outbound_traffic_policy": "REGISTRY_ONLY",
        "h2_upgrade_policy": "UPGRADE",
        "default_service_export_to": defaults["service"],
        "default_virtual_service_export_to": defaults["virtual_service"],
        "default_destination_rule_export_to": ["."],
        "connect_timeout": "2500ms",
        "tcp_keepalive": {"time": "600s", "probes": 4},
        "default_http_retry_policy": {"attempts": 3, "retryOn": "gateway-error,409"},
        "cluster_domain": "corp.example",  # kubeadm's dnsDomain
    }
    original = dsim.build_cluster(dsim.scenario_from_dict(data, source="strict"))
    imported = _round_trip(original, tmp_path)
    assert imported.scenario.mesh == original.scenario.mesh
    for design in ("single-stack", "additional-addresses"):
        pd.testing.assert_frame_equal(_sizes(imported, design), _sizes(original, design))


def test_own_subsets_stay_public_under_a_private_rule_default(tmp_path: Path) -> None:
    """A Service's own subsets hold in every namespace; exported as a DestinationRule beside a
    ``defaultDestinationRuleExportTo: ["."]`` they say ``exportTo: ["*"]``, so the import keeps them so."""
    api = {
        "name": "api",
        "namespace": "b",
        "ip_families": ["IPv4", "IPv6"],
        "ports": [{"port": 8080, "name": "http"}],
        "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
    }
    data = {
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "mesh": {"default_destination_rule_export_to": ["."]},
        "services": [api, {"name": "web", "namespace": "a", "ports": [{"port": 80, "name": "http"}]}],
        "workloads": [
            {"name": "api", "namespace": "b", "labels": {"app": "api", "version": "v1"}},
            {"name": "web", "namespace": "a", "labels": {"app": "web"}},
        ],
    }
    original = dsim.build_cluster(dsim.scenario_from_dict(data, source="own-subsets"))
    imported = _round_trip(original, tmp_path)
    subset = "outbound|8080|v1|api.b.svc.cluster.local"
    for cluster in (original, imported):
        assert subset in {c.name for c in config_of(cluster, "a/web").clusters}


def test_services_left_out_by_discovery_are_exported_by_name_not_position() -> None:
    """Explicit Services are found by name, not by position: with payments' Services gone, its
    unready ledger pod is in no EndpointSlice; and where selectors discover no namespace at all,
    the pods are written without a Service (once an IndexError)."""
    objects = list(inventory_objects(dsim.build_cluster(_discovering_some())))
    listed = {
        (s["metadata"]["namespace"], e["targetRef"]["name"])
        for s in _by_kind(objects, "EndpointSlice")
        for e in s["endpoints"]
    }
    assert not {pod for ns, pod in listed if ns == "payments" or pod.startswith("ledger")}
    assert any(ns == "shop" for ns, _ in listed)
    nothing = dataclasses.replace(
        _discovering_some().mesh, mtls="PERMISSIVE", discovery_selectors=(LabelSelector(match_labels={"team": "none"}),)
    )
    cluster = dsim.build_cluster(dataclasses.replace(_discovering_some(), mesh=nothing))
    objects = list(inventory_objects(cluster))
    assert not _by_kind(objects, "Service")
    assert len(_by_kind(objects, "Pod")) == len(cluster.pods)


def test_every_port_of_a_multi_port_service_is_named_with_no_protocol_said(tmp_path: Path) -> None:
    """Kubernetes refuses a Service of several ports unless each has a name; the scenario does not
    ask for one. The export names each unnamed one ``port-<number>``, a name that says no protocol,
    so the import reads every port's protocol back as it was, and the config is the same."""
    data: dict[str, Any] = {
        "name": "unnamed",
        "namespaces": [{"name": "shop"}],
        "services": [
            {
                "name": "multi",
                "namespace": "shop",
                "ports": [
                    {"port": 8080},  # detected
                    {"port": 3306},  # well-known: TCP
                    {"port": 7070, "protocol": "HTTP"},  # said by appProtocol
                    {"port": 9000, "name": "port-8080", "protocol": "GRPC"},  # takes the name 8080 would get
                ],
            },
            {"name": "single", "namespace": "shop", "ports": [{"port": 80}]},
        ],
        "workloads": [{"name": "multi", "namespace": "shop"}, {"name": "single", "namespace": "shop"}],
    }
    original = dsim.build_cluster(dsim.scenario_from_dict(data))
    objects = list(inventory_objects(original))
    ports = {o["metadata"]["name"]: o["spec"]["ports"] for o in _by_kind(objects, "Service")}
    assert [(p.get("name"), p["port"], p.get("appProtocol")) for p in ports["multi"]] == [
        ("port-8080-2", 8080, None),
        ("port-3306", 3306, None),
        ("port-7070", 7070, "http"),
        ("port-8080", 9000, "grpc"),
    ]
    assert "name" not in ports["single"][0]  # one port may go unnamed
    (slice_,) = _slices(objects, "shop", "multi")
    assert [p["name"] for p in slice_["ports"]] == [p["name"] for p in ports["multi"]]
    imported = _round_trip(original, tmp_path)
    assert imported.service_ports["protocol"].tolist() == original.service_ports["protocol"].tolist()
    for design in dsim.designs.design_names():
        pd.testing.assert_frame_equal(_sizes(imported, design), _sizes(original, design))


def test_written_endpoints_go_in_slices_kubernetes_takes(tmp_path: Path) -> None:
    """A Service without a selector is written without one, its endpoints in slices of at most 1,000
    (Kubernetes refuses more), which the import reads back whole."""
    from tests.test_written_endpoints import SCENARIO

    many = [{"address": f"198.18.{k // 250}.{k % 250 + 1}"} for k in range(1001)]
    data = {**SCENARIO, "services": [{"name": "big", "namespace": "b", "ports": [{"port": 80}], "endpoints": many}]}
    cluster = dsim.build_cluster(dsim.scenario_from_dict(data))
    objects = list(inventory_objects(cluster))
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "big")
    assert "selector" not in service["spec"]
    slices = [o for o in objects if o["kind"] == "EndpointSlice"]
    assert [len(s["endpoints"]) for s in slices] == [1000, 1]
    assert all("endpointslice.kubernetes.io/managed-by" not in s["metadata"]["labels"] for s in slices)
    imported = _round_trip(cluster, tmp_path)
    assert len(imported.written_endpoints) == 1001
