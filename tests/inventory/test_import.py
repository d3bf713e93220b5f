"""``dsim import``: a cluster's inventory in, a scenario out that reproduces the cluster's configs."""

from __future__ import annotations

import copy
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from dsim import build_cluster, generate, scenario_from_dict
from dsim.cli import main
from dsim.cluster.service_aliases import ENTRY_TLS, NO_TARGET
from dsim.designs import design_names
from dsim.errors import InventoryError
from dsim.inventory import ImportOptions, import_inventory
from dsim.inventory.assemble import NODE_LOCAL_NOTE, import_objects
from dsim.inventory.read import KubeObject
from dsim.scenario.model import Mesh
from dsim.xds.generate import ProxyConfig
from dsim.xds.vocabulary import XDS_TYPES
from tests.conftest import DATA, SCENARIOS
from tests.inventory.captures import imported_from, small_inventory, web_pod

INVENTORIES = DATA / "inventories"
BLOG_INVENTORY = INVENTORIES / "blog-dual-stack.yaml"
EXPECTED = DATA / "seed-expected"


def write(tmp_path: Path, objects: list[dict[str, Any]], name: str = "inventory.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return path


def resources(config: ProxyConfig) -> dict[str, dict[str, bytes]]:
    """Each xDS type's resources by name, serialized (the order services are listed in is not config)."""
    return {
        kind: {
            getattr(r, "name", "") or r.cluster_name: r.SerializeToString(deterministic=True)
            for r in config.resources(kind)
        }
        for kind in XDS_TYPES
    }


def test_blog_inventory_generates_the_hand_written_scenarios_configs() -> None:
    imported = build_cluster(import_inventory([BLOG_INVENTORY]).load())
    written = build_cluster(SCENARIOS / "istio-blog-dual-stack.yaml")
    for proxy in ("default/sleep", "dual-stack/tcp-echo", "ipv4/tcp-echo", "ipv6/tcp-echo"):
        for design in design_names():
            assert resources(generate(imported, proxy, design)) == resources(generate(written, proxy, design))


def test_blog_inventory_reproduces_the_seeds_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "blog.yaml"
    assert main(["import", str(BLOG_INVENTORY), "--out", str(scenario)]) == 0
    capsys.readouterr()
    dump = ["dump", str(scenario), "--design", "additional-addresses", "--port", "9000"]
    assert main([*dump, "--proxy", "default/sleep", "--type", "endpoints", "--format", "table"]) == 0
    shown = capsys.readouterr().out.splitlines()
    expected = (EXPECTED / "sleep-endpoints-9000.txt").read_text().splitlines()
    assert shown[0] == expected[0]
    assert sorted(shown[1:]) == sorted(expected[1:])  # istioctl sorts by address; the post shows Envoy's order
    assert main([*dump, "--proxy", "dual-stack/tcp-echo", "--type", "listeners"]) == 0
    listeners = [
        d["activeState"]["listener"] for d in json.loads(capsys.readouterr().out)["configs"][0]["dynamicListeners"]
    ]
    (dual,) = [x for x in listeners if x["name"] == "fd00:10:96::f9fc_9000"]
    fields = {k: dual[k] for k in ("name", "address", "additionalAddresses")}
    assert fields == json.loads((EXPECTED / "tcp-echo-dual-stack-listener-9000.json").read_text())


def test_pods_group_into_workloads_and_unready_ones_are_no_endpoints(tmp_path: Path) -> None:
    imported = import_inventory([write(tmp_path, small_inventory())])
    workloads = imported.scenario["workloads"]
    assert [(w["name"], w["replicas"], w.get("ready", True)) for w in workloads] == [
        ("web", 2, True),
        ("web-2", 1, False),
    ]
    assert workloads[0]["pod_names"] == ["web-5d8f7-aaaaa", "web-5d8f7-bbbbb"]
    assert workloads[0]["labels"] == {"app": "web"}  # pod-template-hash is per rollout: dropped
    cluster = build_cluster(imported.load())
    config = generate(cluster, "shop/web-5d8f7-ccccc", "additional-addresses")  # the unready pod has a proxy
    (assignment,) = [a for a in config.endpoints if a.cluster_name == "outbound|80||web.shop.svc.cluster.local"]
    addresses = sorted(
        lb.endpoint.address.socket_address.address for g in assignment.endpoints for lb in g.lb_endpoints
    )
    assert addresses == ["10.244.0.5", "10.244.0.6", "fd00:10:244::5", "fd00:10:244::6"]  # no unready endpoint
    # The Service still selects the unready pod: its proxy gets the inbound side (ServiceTargets
    # come from the pod's labels, not its readiness; GetProxyServiceTargets).
    assert any(c.name.startswith("inbound|") for c in config.clusters)


def test_a_suffixed_workload_never_takes_another_controllers_name() -> None:
    """web's unready pod would be web-2, the name of a Deployment of its own: it is web-3."""
    other = web_pod("web-2-6c9d8-ddddd", ["10.244.0.8", "fd00:10:244::8"], labels={"app": "web-2"})
    other["metadata"]["labels"]["pod-template-hash"] = "6c9d8"
    other["metadata"]["ownerReferences"][0]["name"] = "web-2-6c9d8"
    objects = [*small_inventory(), other]
    imported = imported_from(objects)
    names = {w["name"]: w["pod_names"] for w in imported.scenario["workloads"]}
    assert names == {
        "web": ["web-5d8f7-aaaaa", "web-5d8f7-bbbbb"],
        "web-3": ["web-5d8f7-ccccc"],
        "web-2": ["web-2-6c9d8-ddddd"],
    }


def test_a_port_of_no_transport_kubernetes_knows_is_refused_in_one_line() -> None:
    objects = small_inventory()
    objects[1]["spec"]["ports"][0]["protocol"] = "x" * 500
    with pytest.raises(InventoryError) as caught:
        imported_from(objects)
    assert "spec.ports[0].protocol: expected TCP, UDP or SCTP (got 'xxxx" in str(caught.value)
    assert len(str(caught.value)) < 300


def test_an_object_without_a_kind_is_refused_by_what_it_lacks_not_quoted_whole() -> None:
    pod = small_inventory()[2]
    del pod["kind"]
    with pytest.raises(InventoryError) as caught:
        import_objects([KubeObject(body=pod, origin="items[2]")])
    assert str(caught.value) == (
        "items[2]: not a Kubernetes object (no kind; expected one with apiVersion, kind and metadata; "
        "its keys: 'apiVersion', 'metadata', 'spec', 'status')"
    )
    with pytest.raises(InventoryError) as caught:
        import_objects([KubeObject(body={f"{'k' * 100}{n}": n for n in range(10)}, origin="items[0]")])
    assert len(str(caught.value)) < 250
    assert str(caught.value).endswith(", ... (10 keys))")


def test_a_node_local_service_is_imported_with_a_note_of_what_dsim_leaves_out() -> None:
    """istiod sends its clients only the endpoints on their own node; dsim has no nodes."""
    objects = small_inventory()
    objects[1]["spec"]["internalTrafficPolicy"] = "Local"
    imported = imported_from(objects)
    assert [s["name"] for s in imported.scenario["services"]] == ["web"]
    assert f"shop/web: {NODE_LOCAL_NOTE}" in imported.notes
    objects[1]["spec"]["internalTrafficPolicy"] = "Cluster"
    again = imported_from(objects)
    assert not [note for note in again.notes if "internalTrafficPolicy" in note]


def _alias_object(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"type": "ExternalName", "externalName": target},
    }


def test_external_name_services_are_imported_as_aliases() -> None:
    """Istio 1.30 makes them aliases: nothing of their own, their names in the virtual hosts of the
    Service they name (followed through an alias of an alias); one of a host outside the mesh, or in
    a loop, gets nothing at all, and one of a ServiceEntry host's TLS port has its SNI matches counted
    as not modelled."""
    aliases = [
        _alias_object("front", "web.shop.svc.cluster.local"),
        _alias_object("front-2", "front.shop.svc.cluster.local"),
        _alias_object("db", "db.example.com"),
        _alias_object("loop", "loop-2.shop.svc.cluster.local"),
        _alias_object("loop-2", "loop.shop.svc.cluster.local"),
    ]
    entry = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"hosts": ["api.example.com"], "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]},
    }
    objects = [*small_inventory(), *aliases, _alias_object("api", "api.example.com"), entry]
    imported = imported_from(objects)
    assert imported.skipped().get(("Service", "ExternalName"), 0) == 0
    written = imported.scenario["external_name_services"]
    assert [(a["name"], a["external_name"]) for a in written] == [
        ("api", "api.example.com"),
        ("db", "db.example.com"),
        ("front", "web.shop.svc.cluster.local"),
        ("front-2", "front.shop.svc.cluster.local"),
        ("loop", "loop-2.shop.svc.cluster.local"),
        ("loop-2", "loop.shop.svc.cluster.local"),
    ]
    cluster = build_cluster(scenario_from_dict(imported.scenario))
    notes = dict(cluster.istio.notes)
    assert (notes[NO_TARGET], notes[ENTRY_TLS]) == (3, 1)  # db and the loop; api's TLS entry
    web = cluster.services.index[cluster.service_hosts() == "web.shop.svc.cluster.local"][0]
    assert [a.host for a in cluster.istio.service_aliases.of_service[int(web)]] == [
        "front-2.shop.svc.cluster.local",
        "front.shop.svc.cluster.local",
    ]


def test_an_external_name_kubernetes_would_refuse_names_its_object() -> None:
    with pytest.raises(InventoryError) as caught:
        imported_from([*small_inventory(), _alias_object("bad", "Not_A_Name")])
    assert str(caught.value).startswith(
        "items[5]: as the scenario's external_name_services[0].external_name: 'Not_A_Name' is not a DNS name"
    ), str(caught.value)


def test_the_cluster_domain_comes_from_kubeadm_and_a_bad_one_is_refused_in_one_line() -> None:
    def imported(domain: object) -> Any:
        kubeadm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": yaml.safe_dump({"networking": {"dnsDomain": domain}})},
        }
        objects = [*small_inventory(), kubeadm]
        return imported_from(objects)

    assert imported("corp.example").scenario["mesh"]["cluster_domain"] == "corp.example"
    assert "cluster_domain" not in imported("cluster.local").scenario["mesh"]  # the default goes unsaid
    with pytest.raises(InventoryError) as caught:
        imported("Corp_Local")
    assert str(caught.value) == (
        "items[5]: ConfigMap kube-system/kubeadm-config: data.ClusterConfiguration: networking.dnsDomain: "
        "'Corp_Local' is not a cluster domain (a lowercase DNS name, such as cluster.local)"
    )


def test_an_unready_endpoint_in_a_slice_makes_its_pod_unready(tmp_path: Path) -> None:
    objects = small_inventory()
    objects.append(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-abcde", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": ["10.244.0.5"],
                    "conditions": {"ready": False},
                    "targetRef": {"kind": "Pod", "name": "web-5d8f7-aaaaa"},
                },
                {
                    "addresses": ["10.244.0.6"],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": "web-5d8f7-bbbbb"},
                },
            ],
        }
    )
    workloads = import_inventory([write(tmp_path, objects)]).scenario["workloads"]
    assert sorted((w["pod_names"], w.get("ready", True)) for w in workloads) == [
        (["web-5d8f7-aaaaa", "web-5d8f7-ccccc"], False),
        (["web-5d8f7-bbbbb"], True),
    ]


def test_output_is_deterministic_and_the_same_from_yaml_and_json(tmp_path: Path) -> None:
    objects = small_inventory()
    as_yaml = write(tmp_path, objects)
    as_json = tmp_path / "inventory.json"
    as_json.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    options = ImportOptions(name="shop")
    first = import_inventory([as_yaml], options).yaml()
    assert import_inventory([as_yaml], options).yaml() == first
    assert import_inventory([as_json], options).scenario == import_inventory([as_yaml], options).scenario


def test_cidrs_come_from_flags_kubeadm_nodes_or_the_addresses(tmp_path: Path) -> None:
    objects = small_inventory()
    for pod in objects[2:]:
        pod["status"]["podIPs"][0]["ip"] = pod["status"]["podIPs"][0]["ip"].replace("10.244.", "192.168.")
    # Nothing states the ranges (a managed cluster): inferred from the addresses, and said so.
    inferred = import_inventory([write(tmp_path, objects)])
    assert inferred.scenario["network"]["pod_cidrs"] == {"ipv4": "192.168.0.0/16", "ipv6": "fd00:10:244::/64"}
    assert any("inferred from the addresses in use" in note for note in inferred.notes)
    inferred.load()
    # A Node's podCIDRs state them: a pod outside is an error naming the pod, the range and the option.
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-a"},
        "spec": {"podCIDRs": ["10.244.0.0/24", "fd00:10:244::/64"]},
    }
    path = write(tmp_path, [*objects, node], "with-node.yaml")
    with pytest.raises(InventoryError) as e:
        import_inventory([path])
    message = str(e.value)
    assert "Pod shop/web-5d8f7-aaaaa: status.podIPs[0].ip: 192.168.0.5 is outside every pod CIDR" in message
    assert "10.244.0.0/24, covering the Nodes' podCIDRs" in message
    assert "--pod-cidrs" in message
    given = import_inventory([path], ImportOptions(pod_cidrs={"ipv4": "192.168.0.0/16"}))
    assert given.scenario["network"]["pod_cidrs"] == {"ipv4": "192.168.0.0/16", "ipv6": "fd00:10:244::/64"}
    kubeadm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {
            "ClusterConfiguration": (
                "networking:\n  podSubnet: 192.168.0.0/16,fd00:10:244::/56\n  serviceSubnet: 10.96.0.0/12\n"
            )
        },
    }
    found = import_inventory([write(tmp_path, [*objects, node, kubeadm], "with-kubeadm.yaml")])
    assert found.scenario["network"]["pod_cidrs"] == {"ipv4": "192.168.0.0/16", "ipv6": "fd00:10:244::/56"}
    assert found.scenario["network"]["service_cidrs"]["ipv4"] == "10.96.0.0/12"
    found.load()


def test_what_dsim_does_not_model_is_counted_not_dropped(tmp_path: Path) -> None:
    objects = small_inventory()
    headless = copy.deepcopy(objects[1])
    headless["metadata"]["name"] = "web-headless"
    headless["spec"] = {"clusterIP": "None", "selector": {"app": "web"}}  # no ports: Istio builds it nothing
    external = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"},
    }
    system = copy.deepcopy(objects[2])
    system["metadata"]["namespace"] = "kube-system"
    gateway = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "shop"},
        "spec": {},
    }
    strict = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "istio-system"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    imported = import_inventory([write(tmp_path, [*objects, headless, external, system, gateway, strict])])
    skipped: Counter[str] = Counter()
    for (kind, _), n in imported.skipped().items():
        skipped[kind] += n
    assert skipped == {"Service": 1, "Pod": 1, "Gateway": 1}  # the headless Service without ports
    assert imported.scenario["mesh"] == {"mtls": "STRICT"}
    summary = "\n".join(imported.summary())
    assert "headless without ports" in summary
    assert "ExternalName" not in summary  # an alias: imported (docs/istio-objects.md 3.13)
    assert imported.scenario["external_name_services"] == [
        {"name": "db", "namespace": "shop", "external_name": "db.example.com"}
    ]
    assert "system namespace" in summary


def test_a_cli_import_that_fails_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    objects = small_inventory()
    del objects[1]["spec"]["ports"]
    out = tmp_path / "out.yaml"
    assert main(["import", str(write(tmp_path, objects)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "Service shop/web: spec.ports: missing" in err[0]
    assert not out.exists()
    assert not list(tmp_path.glob(".out.yaml*"))


def test_coverage_inventory_reads_every_shape() -> None:
    """The shapes of ``coverage.yaml`` (its header lists them), each where it belongs."""
    imported = import_inventory([INVENTORIES / "coverage.yaml"])
    data = imported.scenario
    services = {f"{s['namespace']}/{s['name']}": s for s in data["services"]}
    assert sorted(services) == [
        "canary/canary-api",
        "default/kubernetes",
        "legacy/old",
        "shop/cache",
        "shop/db",
        "shop/db-headless",
        "shop/web",
    ]
    # No selector: its endpoint as the API server wrote it, at its slice's port.
    api = services["default/kubernetes"]
    assert "selector" not in api
    assert api["endpoints"] == [{"address": "172.18.0.2"}]
    assert api["ports"] == [{"port": 443, "name": "https", "target_port": 6443}]
    headless = services["shop/db-headless"]  # clusterIP: None, its clusterIPs ["None"] never read
    assert headless["headless"] is True
    assert "cluster_ips" not in headless
    assert headless["ip_families"] == ["IPv4"]
    web = services["shop/web"]
    assert web["ip_families"] == ["IPv4", "IPv6"]
    assert len(web["cluster_ips"]) == 2
    assert web["ports"] == [
        {"port": 80, "name": "http", "target_port": 8080},
        {"port": 9090, "name": "api", "protocol": "GRPC"},  # appProtocol says more than the name
    ]
    assert services["shop/cache"]["ip_families"] == ["IPv6"]
    workloads = {f"{w['namespace']}/{w['name']}": w for w in data["workloads"]}
    assert workloads["shop/db-2"]["ready"] is False  # its endpoint is unready in db's slice
    assert workloads["shop/reporter-5f7c8d9b6-w2r4t"]["sidecar"] is False  # sidecar.istio.io/inject: "false"
    assert workloads["legacy/old-7b9d6c5f8-hx4mn"]["sidecar"] is False  # istio-injection=disabled
    injection = {ns["name"]: ns["sidecar_injection"] for ns in data["namespaces"]}
    assert injection["canary"] is True  # istio.io/rev
    assert [len(data[key]) for key in ("virtual_services", "destination_rules", "service_entries", "sidecars")] == [
        1,
        1,
        1,
        1,
    ]
    assert data["mesh"]["mtls"] == "STRICT"
    skipped = {f"{kind}: {why.split(' (')[0]}" for kind, why in imported.skipped()}
    assert {"Service port: of an ExternalName Service", "Gateway: gateway proxies are not modelled"} <= skipped
    assert data["external_name_services"] == [
        {"name": "payments", "namespace": "shop", "external_name": "payments.example.com"}
    ]
    assert not any("headless" in why for why in skipped)
    cluster = build_cluster(imported.load())
    assert len(cluster.proxies) == sum(w["replicas"] for w in data["workloads"] if w["sidecar"])
    json_form = import_inventory([INVENTORIES / "coverage.json"])
    json_form.load()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad-truncated.yaml", "not valid YAML"),
        ("bad-service-no-ports.yaml", "Service shop/web: spec.ports: missing"),
        ("bad-slice-address-type.yaml", "addressType: 'IPv5' is not IPv4, IPv6 or FQDN"),
        ("bad-pod-ip-outside-cidr.yaml", "is outside every pod CIDR"),
    ],
)
def test_malformed_inventories_give_one_line_exit_2_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    out = tmp_path / "scenario.yaml"
    assert main(["import", str(INVENTORIES / name), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"dsim: error: {INVENTORIES / name}: ")
    assert message in lines[0]
    assert "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == []


def test_cli_reads_standard_input_and_applies_the_what_ifs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = small_inventory()
    for obj in objects[2:]:  # pods: IPv4 only, so the dual-stack what-if has work to do
        obj["status"]["podIPs"] = obj["status"]["podIPs"][:1]
    service = objects[1]["spec"]
    service.update(clusterIPs=["10.96.0.10"], ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack")
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"kind": "List", "items": objects})))
    out = tmp_path / "shop.yaml"
    assert main(["import", "-", "--out", str(out), "--dual-stack", "all", "--anonymize", "--anonymize-key", "k"]) == 0
    err = capsys.readouterr().err
    assert "--dual-stack all: 1 of 1 single-stack services and 3 pods (2 workloads) made dual-stack" in err
    data = yaml.safe_load(out.read_text())
    assert len(data["name"]) == len("stdin")  # named after stdin, and anonymized too
    (web,) = data["services"]
    assert web["ip_families"] == ["IPv4", "IPv6"]
    assert web["name"] != "web"  # anonymized, its length kept
    assert len(web["name"]) == len("web")
    assert all(len(w["pod_ips"][0]) == 2 for w in data["workloads"])


def test_the_capture_is_never_written_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write(tmp_path, small_inventory(), "cluster.yaml")
    before = capture.read_text()
    monkeypatch.chdir(tmp_path)
    assert main(["import", "cluster.yaml"]) == 0  # the default output is the capture's name + -scenario
    assert (tmp_path / "cluster-scenario.yaml").is_file()
    for out in ("cluster.yaml", str(capture)):
        assert main(["import", "cluster.yaml", "--out", out]) == 2
        assert "would write over or into the capture" in capsys.readouterr().err
    (tmp_path / "captures").mkdir()
    (tmp_path / "captures" / "a.yaml").write_text(before)
    assert main(["import", "captures", "--out", "captures/mesh.yaml"]) == 2
    assert capture.read_text() == before
    assert not (tmp_path / "captures" / "mesh.yaml").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--anonymize-key", "k"], "--anonymize-key: only with --anonymize"),
        (["--pod-cidrs", "10.0.0.0"], "--pod-cidrs: '10.0.0.0' is not a CIDR"),
        (["--dual-stack", "150%"], "--dual-stack: expected all, a share in (0, 1]"),
        (["--scoping"], "--scoping: needs --call-graph"),
    ],
)
def test_options_are_checked_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    capture = write(tmp_path, small_inventory())
    assert main(["import", str(capture), "--out", str(tmp_path / "out.yaml"), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_a_number_too_long_to_read_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    """A fuzzing find: Python refuses to convert an integer of more than 4,300 digits, which ended
    the import in a traceback."""
    objects = small_inventory()
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}) if suffix == "json" else None
    text = (text or yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects})).replace(
        str(objects[1]["spec"]["ports"][0]["port"]), "9" * 5000, 1
    )
    capture = tmp_path / f"capture.{suffix}"
    capture.write_text(text)
    assert main(["import", str(capture), "--out", str(tmp_path / "out.yaml")]) == 2
    error = capsys.readouterr().err
    assert "a number longer than the 4,300 digits Python reads" in error
    assert len(error) < 400
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Read past Python's cap (hexadecimal), so failing only where printed: refused where read.
        (("port: 80", "port: 0x" + "f" * 5000), "cannot be read as a whole number (a number longer than"),
        (("name: web", "name: 2020-13-45"), "'2020-13-45' cannot be read as a date"),
        (("name: web", "name: " + "[" * 5000 + "]" * 5000), "not valid YAML"),
    ],
    ids=["hexadecimal", "bad date", "deep"],
)
def test_a_value_yaml_cannot_read_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], expected: str
) -> None:
    """Review finds: each of these ended in a traceback, or in the wrong message on the wrong line."""
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": small_inventory()}, sort_keys=False)
    assert change[0] in text
    line = text[: text.index(change[0])].count("\n") + 1
    capture = tmp_path / "capture.yaml"
    capture.write_text(text.replace(change[0], change[1], 1))
    assert main(["import", str(capture), "--out", str(tmp_path / "out.yaml")]) == 2
    error = capsys.readouterr().err
    assert expected in error
    if change[1].startswith(("port", "name: 2")):  # a scalar's own line (deep nesting: its object's)
        assert f"line {line}:" in error
    assert len(error) < 400
    assert not (tmp_path / "out.yaml").exists()


def test_deep_json_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    objects = small_inventory()
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}).replace(
        '"spec": {', '"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "spec": {', 1
    )
    capture = tmp_path / "capture.json"
    capture.write_text(text)
    assert main(["import", str(capture), "--out", str(tmp_path / "out.yaml")]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_a_mesh_config_yaml_cannot_read_is_refused_by_field() -> None:
    mesh = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"mesh": "defaultConfig:\n  concurrency: 0x" + "f" * 5000 + "\n"},
    }
    with pytest.raises(InventoryError) as caught:
        imported_from([*small_inventory(), mesh])
    assert "data.mesh: not valid YAML (" in str(caught.value)
    assert "a number longer than the 4,300 digits Python reads" in str(caught.value)


def test_a_namespaced_object_without_its_namespace_is_refused_by_name() -> None:
    objects = small_inventory()
    del objects[1]["metadata"]["namespace"]
    with pytest.raises(InventoryError) as caught:
        imported_from(objects)
    assert f"Service {objects[1]['metadata']['name']}: metadata.namespace: missing" in str(caught.value)


def test_an_istio_object_without_its_namespace_is_refused_not_put_in_default() -> None:
    rule = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "pool"},
        "spec": {"host": "*.local", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 5}}}},
    }
    with pytest.raises(InventoryError) as caught:
        imported_from([*small_inventory(), rule])
    assert "DestinationRule pool: metadata.namespace: missing" in str(caught.value)
    placed = imported_from([*small_inventory(), {**rule, "metadata": {"name": "pool", "namespace": "default"}}])
    assert [r["metadata"] for r in placed.scenario["destination_rules"]] == [{"name": "pool", "namespace": "default"}]


def test_an_empty_capture_or_a_scenario_is_refused_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(InventoryError, match="holds no pod with a sidecar"):
        import_inventory([empty])
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text((SCENARIOS / "istio-blog-dual-stack.yaml").read_text())
    with pytest.raises(InventoryError, match="a dsim scenario, not a cluster capture"):
        import_inventory([scenario])


def test_overlapping_captures_count_each_object_once(tmp_path: Path) -> None:
    capture = write(tmp_path, small_inventory())
    once = import_inventory([capture])
    twice = import_inventory([capture, capture])
    assert twice.scenario["workloads"] == once.scenario["workloads"]
    assert twice.skipped()[("Pod", "in the capture twice (the first copy is read)")] == 3


def test_what_was_left_out_travels_with_the_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The description (which every run's report shows) lists what the import left out, and a pod the
    capture has without a sidecar is named as such, not as an unknown proxy."""
    imported = import_inventory([INVENTORIES / "coverage.yaml"])
    description = imported.scenario["description"]
    assert "Left out as not modelled" in description
    assert "1 EnvoyFilter" in description
    assert "1 Gateway" in description
    assert "system namespace" not in description
    scenario = tmp_path / "coverage.yaml"
    scenario.write_text(imported.yaml())
    assert main(["dump", str(scenario), "--proxy", "shop/reporter-5f7c8d9b6-w2r4t"]) == 2
    assert "that pod runs no sidecar" in capsys.readouterr().err


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_discovery_selectors_come_with_the_labels_they_read(tmp_path: Path) -> None:
    """meshConfig.discoverySelectors become mesh.discovery_selectors; each namespace keeps the labels
    a selector reads, no other; istiod ignores what the selectors leave out, the root namespace's
    mesh-wide PeerAuthentication included (docs/import.md)."""
    objects = small_inventory()
    objects[0]["metadata"]["labels"] |= {"team": "shop", "cost-center": "42"}
    batch = copy.deepcopy(objects[1])
    batch["metadata"] = {"name": "job", "namespace": "batch"}
    batch["spec"] |= {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20", "fd00:10:96::14"]}
    mesh = {
        "discoverySelectors": [
            {"matchLabels": {"team": "shop"}},
            {"matchExpressions": [{"key": "env", "operator": "Exists"}]},
        ]
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"mesh": yaml.safe_dump(mesh)},
    }
    strict = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "istio-system"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    root = _namespace("istio-system", {"owner": "platform"})
    captured = [*objects, _namespace("batch", {"team": "batch"}), batch, config, strict, root]
    imported = import_inventory([write(tmp_path, captured)])
    scenario = imported.scenario
    assert scenario["mesh"]["discovery_selectors"] == [
        {"match_labels": {"team": "shop"}},
        {"match_expressions": [{"key": "env", "operator": "Exists"}]},
    ]
    labels = {ns["name"]: ns.get("labels") for ns in scenario["namespaces"]}
    assert labels == {"batch": {"team": "batch"}, "shop": {"team": "shop"}}  # the root's labels read by none
    assert "mtls" not in scenario["mesh"]
    assert any("PeerAuthentication in istio-system is ignored" in line for line in imported.summary())
    cluster = build_cluster(imported.load())
    assert cluster.services["name"].tolist() == ["web"]
    # Once the root namespace is discovered, its PeerAuthentication holds.
    root["metadata"]["labels"]["env"] = "prod"
    found = import_inventory([write(tmp_path, captured, "root-discovered.yaml")]).scenario
    assert found["mesh"]["mtls"] == "STRICT"
    assert {"name": "istio-system", "sidecar_injection": False, "labels": {"env": "prod"}} in found["namespaces"]
    # Without batch's Namespace object its labels are unknown: the import says so.
    unnamed = [obj for obj in captured if obj["metadata"].get("name") != "batch"]
    notes = import_inventory([write(tmp_path, unnamed, "no-batch-namespace.yaml")]).summary()
    assert any("no Namespace object for 1 namespaces (batch)" in line for line in notes), notes


def _mesh_config(mesh: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"mesh": yaml.safe_dump(mesh)},
    }


def test_the_mesh_access_log_is_read_and_a_broken_json_format_left_out(tmp_path: Path) -> None:
    """meshConfig's accessLogFile, accessLogEncoding, accessLogFormat and disableEnvoyListenerLog become
    mesh.access_log_*; a JSON format that is no JSON object is left out with a note, as istiod then
    writes its default JSON format (tests/data/istio-access-logs/README.md)."""
    logged = {
        "accessLogFile": "/dev/stdout",
        "accessLogEncoding": "JSON",
        "accessLogFormat": '{"code": "%RESPONSE_CODE%"}',
        "disableEnvoyListenerLog": True,
    }
    found = import_inventory([write(tmp_path, [*small_inventory(), _mesh_config(logged)])])
    assert {k: v for k, v in found.scenario["mesh"].items() if k.startswith(("access", "disable"))} == {
        "access_log_file": "/dev/stdout",
        "access_log_encoding": "JSON",
        "access_log_format": '{"code": "%RESPONSE_CODE%"}',
        "disable_envoy_listener_log": True,
    }
    assert found.load().mesh.access_log_format == '{"code": "%RESPONSE_CODE%"}'
    broken = import_inventory(
        [write(tmp_path, [*small_inventory(), _mesh_config(logged | {"accessLogFormat": "[]"})], "b.yaml")]
    )
    assert "access_log_format" not in broken.scenario["mesh"]
    assert any("meshConfig.accessLogFormat '[]' is a JSON array" in line for line in broken.summary())
    # No file, no access log: the other settings say nothing then.
    off = import_inventory(
        [write(tmp_path, [*small_inventory(), _mesh_config({"accessLogEncoding": "JSON"})], "o.yaml")]
    )
    assert not any(k.startswith("access") for k in off.scenario["mesh"])


@pytest.mark.parametrize(
    ("mesh", "expected", "note"),
    [
        (
            {
                "connectTimeout": "2.5s",
                "tcpKeepalive": {"time": "600s", "interval": "75s"},
                "defaultHttpRetryPolicy": {"attempts": 0},
            },
            {
                "connect_timeout": "2.5s",
                "tcp_keepalive": {"time": "600s", "interval": "75s"},
                "default_http_retry_policy": {"attempts": 0},
            },
            "",
        ),
        (
            {"connectTimeout": "2h", "tcpKeepalive": {"time": "600s"}},
            {"tcp_keepalive": {"time": "600s"}},
            "meshConfig.connectTimeout: '7200s' is outside the 1ms to 1h istiod accepts; left out: the scenario "
            "keeps Istio's default for it",
        ),
        (
            {"defaultHttpRetryPolicy": {"attempts": 2, "retryOn": "5xx,sometimes"}, "connectTimeout": "1s"},
            {"connect_timeout": "1s"},
            "meshConfig.defaultHttpRetryPolicy.retryOn: 'sometimes' is not a valid retryOn policy",
        ),
        (
            {"defaultHttpRetryPolicy": {"attempts": -1}, "tcpKeepalive": {"probes": 3}},
            {"default_http_retry_policy": {"attempts": 0}, "tcp_keepalive": {"probes": 3}},
            "",
        ),  # istiod checks none of the policy and reads attempts <= 0 as retries off
        (
            {"defaultHttpRetryPolicy": {"attempts": 2, "retryOn": "5xx, reset"}},
            {"default_http_retry_policy": {"attempts": 2, "retryOn": "5xx,reset"}},
            "",
        ),  # its parseRetryOn trims the parts
        (
            {"tcpKeepalive": {"time": 600}},
            {},
            "meshConfig.tcpKeepalive.time: expected a duration such as '1s', '0.5s', '100ms', '1m' or '1h', as a "
            "string (got 600); left out",
        ),
    ],
)
def test_the_mesh_connect_timeout_keepalive_and_retry_policy_are_read_or_left_out_with_a_note(
    tmp_path: Path, mesh: dict[str, Any], expected: dict[str, Any], note: str
) -> None:
    """meshConfig's connectTimeout, tcpKeepalive and defaultHttpRetryPolicy become the scenario's mesh
    settings as written (MeshConfig's own form); one the scenario would refuse is left out, the rest kept."""
    found = import_inventory([write(tmp_path, [*small_inventory(), _mesh_config(mesh)])])
    keys = ("connect_timeout", "tcp_keepalive", "default_http_retry_policy")
    assert {k: v for k, v in found.scenario["mesh"].items() if k in keys} == expected
    if note:
        assert any(note in line for line in found.summary()), found.summary()
    else:
        assert not any("meshConfig" in line for line in found.summary()), found.summary()
    loaded = found.load().mesh  # the scenario it wrote loads, with what it kept
    assert {k: getattr(loaded, k) != getattr(Mesh(), k) for k in keys} == {k: k in expected for k in keys}


def test_discovery_selectors_that_are_no_list_are_left_out_with_a_note(tmp_path: Path) -> None:
    for written in ({"matchLabels": {"team": "shop"}}, "team=shop"):
        found = import_inventory([write(tmp_path, [*small_inventory(), _mesh_config({"discoverySelectors": written})])])
        assert "discovery_selectors" not in found.scenario["mesh"]
        assert any("meshConfig.discoverySelectors is" in line and "not a list" in line for line in found.summary())


@pytest.mark.parametrize(
    ("mesh", "expected", "note"),
    [
        ({"accessLogFile": 7}, {}, "meshConfig.accessLogFile '7' is int, not a path: left out, no access log"),
        (
            {"accessLogFile": "/dev/stdout", "accessLogEncoding": "json"},
            {"access_log_file": "/dev/stdout", "access_log_encoding": "TEXT"},
            "meshConfig.accessLogEncoding 'json' is neither TEXT nor JSON, which istiod cannot read",
        ),
        (
            {"accessLogFile": "/dev/stdout", "accessLogEncoding": "JSON", "accessLogFormat": '{"a": NaN}'},
            {"access_log_file": "/dev/stdout", "access_log_encoding": "JSON"},
            "is not JSON (NaN is not a JSON number); expected a JSON object, such as "
            '{"path": "%REQ(:PATH)%"}: istiod then writes its default JSON format',
        ),
        (
            {
                "accessLogFile": "/dev/stdout",
                "accessLogEncoding": "JSON",
                "accessLogFormat": '{"a":' * 40 + "1" + "}" * 40,
            },
            {"access_log_file": "/dev/stdout", "access_log_encoding": "JSON"},
            "nests 40 levels deep; at most 32, beyond what dsim takes: left out (the scenario uses Istio's "
            "default format)",
        ),
        (
            {"accessLogFile": "/dev/stdout", "accessLogFormat": ["%START_TIME%"]},
            {"access_log_file": "/dev/stdout", "access_log_encoding": "TEXT"},
            "meshConfig.accessLogFormat is list, not text: left out (Istio's default format)",
        ),
    ],
)
def test_an_access_log_setting_dsim_or_istiod_cannot_read_is_left_out_with_a_note(
    tmp_path: Path, mesh: dict[str, Any], expected: dict[str, Any], note: str
) -> None:
    found = import_inventory([write(tmp_path, [*small_inventory(), _mesh_config(mesh)])])
    assert {k: v for k, v in found.scenario["mesh"].items() if k.startswith("access")} == expected
    assert any(note in line for line in found.summary()), found.summary()
    found.load()  # the scenario it wrote loads


def _telemetry(namespace: str, spec: dict[str, Any], name: str = "mesh-default") -> dict[str, Any]:
    return {
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


ENVOY = {"accessLogging": [{"providers": [{"name": "envoy"}]}]}


@pytest.mark.parametrize(
    ("mesh", "telemetries", "expected", "note"),
    [
        # Istio's documented way: a root-namespace Telemetry naming the built-in envoy provider.
        (
            {},
            [_telemetry("istio-system", ENVOY)],
            {"access_log_file": "/dev/stdout", "access_log_encoding": "TEXT"},
            "",
        ),
        (
            {"accessLogEncoding": "JSON", "defaultProviders": {"accessLogging": ["envoy"]}},
            [_telemetry("istio-system", {"accessLogging": [{}]})],
            {"access_log_file": "/dev/stdout", "access_log_encoding": "JSON"},
            "",
        ),  # no providers: the mesh's default ones
        (
            {"accessLogFile": "/var/log/access.log"},
            [_telemetry("istio-system", {"accessLogging": [{}]})],
            {"access_log_file": "/var/log/access.log", "access_log_encoding": "TEXT"},
            "",
        ),  # no provider anywhere: istiod falls back to accessLogFile
        (
            {"defaultProviders": {"accessLogging": ["envoy"]}},
            [],
            {"access_log_file": "/dev/stdout", "access_log_encoding": "TEXT"},
            "",
        ),
        (
            {"accessLogFile": "/var/log/access.log"},
            [_telemetry("istio-system", {"accessLogging": [{"providers": [{"name": "envoy"}], "disabled": True}]})],
            {},
            "Telemetry istio-system/mesh-default disables access logging mesh-wide: no access log",
        ),
        (
            {"accessLogFile": "/var/log/access.log"},
            [_telemetry("istio-system", ENVOY)],
            {"access_log_file": "/dev/stdout", "access_log_encoding": "TEXT"},
            "in place of meshConfig.accessLogFile '/var/log/access.log', as istiod does",
        ),
        (
            {"accessLogFile": "/dev/stdout"},
            [_telemetry("shop", ENVOY, "shop-logs")],
            {"access_log_file": "/dev/stdout", "access_log_encoding": "TEXT"},
            "Telemetry access logging for some proxies only (shop/shop-logs) is not modelled",
        ),
        (
            {},
            [_telemetry("istio-system", {"accessLogging": [{"providers": [{"name": "otel"}]}]})],
            {},
            "an entry logs to providers other than the built-in 'envoy' (['otel'])); the scenario has no access log",
        ),
        (
            {},
            [
                _telemetry(
                    "istio-system",
                    {
                        "accessLogging": [
                            {"providers": [{"name": "envoy"}], "filter": {"expression": "response.code >= 400"}}
                        ]
                    },
                )
            ],
            {},
            "an entry logs by traffic direction (match) or with a filter",
        ),
    ],
)
def test_mesh_wide_telemetry_access_logging_is_read_as_istiod_reads_it(
    tmp_path: Path, mesh: dict[str, Any], telemetries: list[dict[str, Any]], expected: dict[str, Any], note: str
) -> None:
    """The Telemetry API before meshConfig.accessLogFile (pilot/pkg/model/telemetry.go): a mesh-wide
    Telemetry, or defaultProviders.accessLogging, naming the built-in envoy provider gives every
    sidecar the /dev/stdout access log in the mesh's encoding and format; what dsim does not model
    is noted."""
    captured = [*small_inventory(), _mesh_config(mesh), *telemetries]
    found = import_inventory([write(tmp_path, captured)])
    assert {k: v for k, v in found.scenario["mesh"].items() if k.startswith("access")} == expected
    if note:
        assert any(note in line for line in found.summary()), found.summary()
    found.load()
