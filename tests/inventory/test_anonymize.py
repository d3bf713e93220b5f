"""`dsim import --anonymize`: hashed names of the same length, addresses kept in family and CIDR, and
the same config bytes per proxy as the original mesh."""

from __future__ import annotations

import copy
import ipaddress
import re

import pytest
import yaml

import dsim
from dsim.inventory.anonymize import anonymize
from dsim.scenario.load import scenario_from_dict
from dsim.scenario.resolve import protocol_from_port_name
from tests.conftest import SCENARIOS

SHIPPED = ("istio-objects.yaml", "istio-blog-dual-stack.yaml")
_LABEL = re.compile(r"[a-z][a-z0-9]*\Z")


def _shipped(name: str) -> dict:
    return yaml.safe_load((SCENARIOS / name).read_text())


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("design", ["single-stack", "duplicate", "additional-addresses"])
def test_config_bytes_per_proxy_are_unchanged(name: str, design: str) -> None:
    """The point of keeping lengths: an anonymized mesh costs, proxy by proxy, what the real one does."""
    data = _shipped(name)
    original = scenario_from_dict(data, source=name)
    hidden = scenario_from_dict(anonymize(data, key="team-secret"), source=name)
    before = dsim.config_sizes(original, design)
    after = dsim.config_sizes(hidden, design)
    assert after.equals(before)


def test_the_default_revision_stays_so_endpoint_metadata_keeps_its_length() -> None:
    """Endpoints' ``istio.workload`` leaves the revision ``latest`` out (Istio 1.18+); hashed into
    another six letters it would be written, six bytes per endpoint more."""
    data = _shipped("istio-objects.yaml")
    workload = next(w for w in data["workloads"] if w.get("labels"))
    workload["labels"] = {**workload["labels"], "version": "latest"}
    out = anonymize(data, key="team-secret")
    hidden = next(w for w in out["workloads"] if w.get("labels", {}).get("version") == "latest")
    assert hidden["name"] != workload["name"]
    before = dsim.config_sizes(scenario_from_dict(data, source="original"), "single-stack")
    after = dsim.config_sizes(scenario_from_dict(out, source="anonymized"), "single-stack")
    assert after.equals(before)


def test_names_are_hashed_consistently_with_lengths_kept() -> None:
    data = _shipped("istio-objects.yaml")
    out = anonymize(data)
    services = {(s["namespace"], s["name"]) for s in data["services"]}
    hidden = {(s["namespace"], s["name"]) for s in out["services"]}
    assert services.isdisjoint(hidden)
    for before, after in zip(data["services"], out["services"], strict=True):
        assert len(before["name"]) == len(after["name"])
        assert _LABEL.match(after["name"])
        assert len(before["namespace"]) == len(after["namespace"])
        assert _LABEL.match(after["namespace"])
    # the frontend calls the same services after anonymization: calls still resolve, selectors still select
    frontend = out["workloads"][0]
    calls = set(frontend["calls"])
    declared = {f"{s['namespace']}/{s['name']}" for s in out["services"]}
    assert calls <= declared
    assert len(calls) == 3
    reviews_v1 = out["workloads"][1]
    assert set(reviews_v1["labels"]) == {"app", "version"}  # well-known keys kept, values hashed
    assert reviews_v1["labels"]["app"] == out["services"][1]["name"]


def test_istio_objects_name_the_same_hashes() -> None:
    out = anonymize(_shipped("istio-objects.yaml"))
    reviews = out["services"][1]
    vs = out["virtual_services"][0]
    assert vs["metadata"]["namespace"] == reviews["namespace"]
    assert vs["spec"]["hosts"][0] == reviews["name"]
    # the gateway's host: hashed label by label, its shape and the public suffix's length kept
    gateway_host = vs["spec"]["hosts"][1]
    assert gateway_host != "reviews.bookinfo.example.com"
    assert [len(label) for label in gateway_host.split(".")] == [7, 8, 7, 3]
    dr = out["destination_rules"][0]
    subsets = {s["name"] for s in dr["spec"]["subsets"]}
    assert {d["destination"]["subset"] for r in vs["spec"]["http"] for d in r.get("route", [])} == subsets
    assert dr["spec"]["subsets"][0]["labels"] == {"version": out["workloads"][1]["labels"]["version"]}
    # header values and URIs: hashed with their length and punctuation
    canary = vs["spec"]["http"][0]["match"][0]["headers"]["x-canary"]["exact"]
    assert len(canary) == 4
    assert canary != "true"
    split = vs["spec"]["http"][2]
    prefix = split["match"][0]["uri"]["prefix"]
    assert prefix.startswith("/")
    assert len(prefix) == 4
    assert prefix != "/api"
    # a route's actions: a redirect's path and the header values it writes hashed, names kept
    rewrite = vs["spec"]["http"][1]["redirect"]["prefixRewrite"]
    assert rewrite == prefix  # '/api' both times: one word, one hash
    (route_header,) = split["headers"]["request"]["set"].items()
    assert route_header[0] == "x-route"
    assert route_header[1] != "split"
    assert len(route_header[1]) == len("split")
    assert split["mirror"] == {"host": reviews["name"], "subset": split["route"][1]["destination"]["subset"]}
    # Sidecar egress hosts: namespace part hashed, '.', '*' and the cluster suffix kept
    frontend_sidecar = out["sidecars"][0]["spec"]["egress"][0]["hosts"]
    charge = out["services"][3]
    assert frontend_sidecar[0] == "./*"
    assert frontend_sidecar[1] == f"{charge['namespace']}/{charge['name']}.{charge['namespace']}.svc.cluster.local"
    assert frontend_sidecar[2].startswith("*/")
    assert frontend_sidecar[2].endswith(".net")
    # the root namespace keeps its name: its Sidecar stays mesh-wide
    assert out["sidecars"][3]["metadata"]["namespace"] == "istio-system"
    # an external host keeps its TLD and length; the wildcard Sidecar host still matches it
    metrics = out["service_entries"][2]["spec"]["hosts"][0]
    assert metrics.endswith(".net")
    assert len(metrics) == len("metrics.example.net")
    assert out["sidecars"][3]["spec"]["egress"][0]["hosts"][2] == "*/*." + metrics.split(".", 1)[1]


def test_identities_and_certificate_files_are_hashed_as_names() -> None:
    """An entry endpoint's service account hashes as the workload's account of the same name does
    (both become SPIFFE identities); a rule's certificate file paths keep their length and slashes."""
    data = _shipped("istio-objects.yaml")
    account = data["workloads"][0].setdefault("service_account", "payments")
    data["service_entries"][0]["spec"]["endpoints"] = [{"address": "10.9.0.1", "serviceAccount": account}]
    data["destination_rules"][0]["spec"]["trafficPolicy"]["tls"] = {
        "mode": "MUTUAL",
        "clientCertificate": "/etc/payments/client.pem",
        "privateKey": "/etc/payments/key.pem",
    }
    out = anonymize(data)
    endpoint = out["service_entries"][0]["spec"]["endpoints"][0]
    assert endpoint["serviceAccount"] == out["workloads"][0]["service_account"] != account
    tls = out["destination_rules"][0]["spec"]["trafficPolicy"]["tls"]
    for key in ("clientCertificate", "privateKey"):
        original = data["destination_rules"][0]["spec"]["trafficPolicy"]["tls"][key]
        assert tls[key] != original
        assert len(tls[key]) == len(original)
        assert tls[key].count("/") == original.count("/")


def test_port_names_keep_the_protocol_prefix() -> None:
    out = anonymize(_shipped("istio-objects.yaml"))
    names = [p["name"] for s in out["services"] for p in s["ports"]]
    assert names[0] == "http"
    assert names[3] == "http2"
    assert names[2].startswith("grpc-")
    assert names[2] != "grpc-cart"
    assert len(names[2]) == len("grpc-cart")
    assert names[4].startswith("tcp-")
    assert names[4] != "tcp-postgres"


def test_every_port_keeps_the_protocol_istio_reads_in_it() -> None:
    """Names and numbers together decide it (``docs/dual-stack-designs.md``, "A port's protocol")."""
    data = _shipped("istio-objects.yaml")
    written = [
        ("http_proxy", 8080),
        ("http_proxy-egress", 8081),
        ("grpc-web-ui", 8082),
        ("grpc-webapi", 8083),  # gRPC-Web without a dash after the prefix
        ("GRPC-Web", 8084),
        ("grpc-api22961", 8085),  # gRPC, whose tail's first hash under key "k" starts with "web"
        ("mongo-main", 27018),
        ("udp-x", 5000),
        ("db", 3306),
        ("", 53),
        ("admin", 9901),
    ]
    data["services"][0]["ports"] = [{"name": name, "port": number} for name, number in written]
    out = anonymize(data, key="k")
    hashed = [(p["name"], p["port"]) for p in out["services"][0]["ports"]]
    assert hashed[-1][0] != "admin"  # a name that names no protocol is hashed
    assert [protocol_from_port_name(*p) for p in hashed] == [protocol_from_port_name(*p) for p in written]


def test_addresses_keep_family_cidr_and_length() -> None:
    data = _shipped("istio-blog-dual-stack.yaml")
    out = anonymize(data, key="k")
    pod_nets = [ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("fd00:10:244::/56")]
    before = [ip for wl in data["workloads"] for pod in wl.get("pod_ips", ()) for ip in pod]
    after = [ip for wl in out["workloads"] for pod in wl.get("pod_ips", ()) for ip in pod]
    assert len(set(after)) == len(after)
    assert set(after).isdisjoint(before)
    for old, new in zip(before, after, strict=True):
        assert len(old) == len(new)
        family = ipaddress.ip_address(old).version
        assert any(ipaddress.ip_address(new) in net for net in pod_nets if net.version == family)
    vip = out["services"][0]["cluster_ips"]
    assert ipaddress.ip_address(vip[0]) in ipaddress.ip_network("fd00:10:96::/112")
    assert ipaddress.ip_address(vip[1]) in ipaddress.ip_network("10.96.0.0/16")


def test_external_addresses_stay_out_of_the_scenario_cidrs() -> None:
    out = anonymize(_shipped("istio-objects.yaml"), key="k")
    legacy = out["service_entries"][1]["spec"]
    for address in [*legacy["addresses"], *(e["address"] for e in legacy["endpoints"])]:
        ip = ipaddress.ip_address(address)
        assert ip.version == 4
        assert str(ip).split(".")[0] in ("198", "10")
        assert ip not in ipaddress.ip_network("10.244.0.0/16")
        assert ip not in ipaddress.ip_network("10.96.0.0/16")
    assert legacy["addresses"] != ["198.51.100.20"]


def test_pure_deterministic_and_keyed() -> None:
    data = _shipped("istio-objects.yaml")
    pristine = copy.deepcopy(data)
    first = anonymize(data, key="a")
    assert data == pristine
    assert anonymize(data, key="a") == first
    other = anonymize(data, key="b")
    assert other["services"][0]["name"] != first["services"][0]["name"]


def test_collisions_resolve_to_distinct_names_of_the_same_length() -> None:
    """26 one-letter namespaces fill every one-letter hash: each still gets its own."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    data = {
        "namespaces": [{"name": c} for c in letters],
        "services": [{"name": "web", "namespace": c, "ports": [{"port": 80, "name": "http"}]} for c in letters],
    }
    out = anonymize(data)
    hashed = [ns["name"] for ns in out["namespaces"]]
    assert sorted(hashed) == sorted(letters)
    scenario_from_dict(out, source="letters")


def test_only_names_change_and_generator_hosts_follow_their_namespace() -> None:
    data = {
        "namespaces": [{"name": "shop"}],
        "services": [{"name": "web", "namespace": "shop", "ports": [{"port": 80, "name": "http"}]}],
        "istio_objects": {"sidecars": {"per_namespace": True, "extra_hosts": ["istio-system/*", "shop/*"]}},
    }
    out = anonymize(data)
    assert out.keys() == data.keys()  # nothing added: the result diffs against the input field by field
    shop = out["namespaces"][0]["name"]
    assert out["istio_objects"]["sidecars"]["extra_hosts"] == ["istio-system/*", f"{shop}/*"]
    scenario_from_dict(out, source="generated")


def test_route_actions_are_hashed_but_envoys_commands_kept() -> None:
    """Header values keep Envoy's substitution commands (a hashed one would be refused by Envoy) and
    escaped '%'; paths, hosts and bodies are hashed; a value of the wrong type is left for the
    loader to name."""
    data = _shipped("istio-objects.yaml")
    route = data["virtual_services"][0]["spec"]["http"][2]
    route["headers"] = {"request": {"set": {"x-who": "%REQ(x-user)% of team-blue, 100%%", "x-n": 5}}}
    route["rewrite"] = {"uri": "/checkout", "authority": "reviews"}
    route["mirrors"] = [{"destination": {"host": "reviews"}, "percentage": {"value": 5}}]
    route["corsPolicy"] = {"allowOrigins": [{"exact": "https://team-blue.example"}], "allowOrigin": ["team-blue"]}
    del route["mirror"], route["mirrorPercentage"]
    data["virtual_services"][0]["spec"]["http"][0] = {
        "match": [{"uri": {"prefix": "/x"}}],
        "directResponse": {"status": 403, "body": {"string": "ask team-blue"}},
    }
    data["virtual_services"][0]["spec"]["http"][1]["redirect"] = {"authority": "shop.example.com:8443"}
    data["virtual_services"][0]["spec"]["http"].append(
        {"match": [{"uri": {"exact": "/b"}}], "directResponse": {"status": 200, "body": {"bytes": "dGVhbS1ibHVl"}}}
    )
    out = anonymize(data)
    http = out["virtual_services"][0]["spec"]["http"]
    who = http[2]["headers"]["request"]["set"]["x-who"]
    assert who.startswith("%REQ(")
    assert who.endswith("%%")  # the escaped percent sign kept
    assert "team" not in who
    assert "blue" not in who
    assert "user" not in who
    assert http[2]["headers"]["request"]["set"]["x-n"] == 5
    assert "checkout" not in http[2]["rewrite"]["uri"]
    assert http[2]["rewrite"]["authority"] == out["services"][1]["name"]  # a host, hashed as hosts are
    moved = http[1]["redirect"]["authority"]
    assert (len(moved), moved[-5:]) == (len("shop.example.com:8443"), ":8443")  # a host and its port
    assert "shop" not in moved
    assert http[-1]["directResponse"]["body"]["bytes"] == "AAAAAAAAAAAA"  # 9 zero bytes: the length kept
    assert http[2]["mirrors"][0]["destination"]["host"] == out["services"][1]["name"]
    assert "team" not in http[0]["directResponse"]["body"]["string"]
    origins = http[2]["corsPolicy"]
    assert origins["allowOrigins"][0]["exact"].startswith("https://")
    assert "team" not in origins["allowOrigins"][0]["exact"]
    assert "team" not in origins["allowOrigin"][0]
    from dsim import scenario_from_dict

    del http[2]["headers"]["request"]["set"]["x-n"]  # the one value dsim would refuse, as it should
    scenario_from_dict(out)  # still a scenario dsim reads


def test_discovery_selectors_select_the_same_namespaces_once_hashed() -> None:
    """Namespace labels and the selectors reading them (label values, and namespace names under
    ``kubernetes.io/metadata.name``) are hashed alike: the same services are left out, the same bytes
    come out."""
    from tests.test_discovery_selectors import SELECTORS, _objects

    data = _objects(discovery_selectors=SELECTORS)
    out = anonymize(data, key="team-secret")
    shop = out["namespaces"][0]  # the order is kept
    assert shop["name"] != "shop"
    assert shop["labels"] == out["mesh"]["discovery_selectors"][0]["match_labels"] != {"team": "shop"}
    assert out["mesh"]["discovery_selectors"][1]["match_expressions"][0]["key"] == "kubernetes.io/metadata.name"
    before = dsim.config_sizes(scenario_from_dict(data, source="original"), "duplicate")
    after = dsim.config_sizes(scenario_from_dict(out, source="anonymized"), "duplicate")
    assert after.equals(before)


def test_endpoints_written_by_hand_are_permuted_and_cost_the_same() -> None:
    """A Service's endpoints written by hand are addresses outside the scenario's CIDRs: permuted in
    their /8 (/32), never into a range Kubernetes refuses for an endpoint (IPv6 ones staying IPv6), at
    the same bytes; the DestinationRule in the scenario's short form (name, namespace, spec) moves to
    the hashed namespace with its host, and its subset's ``topology.istio.io/cluster: Kubernetes`` stays."""
    from tests.test_written_endpoints import SCENARIO

    data = copy.deepcopy(SCENARIO)
    # The second octets 100-255 of 169/8 are permuted among themselves: one of these lands on 254
    # (169.254/16) but for the walk past it; 224.0.0/24 likewise for 224.a.b.9.
    probes = [f"169.{a}.10.7" for a in range(100, 256) if a != 254]
    probes += [f"224.{a}.{b}.9" for a in range(1, 10) for b in range(10)]
    data["services"].append(
        {
            "name": "probes",
            "namespace": "b",
            "ports": [{"port": 80, "name": "http"}],
            "endpoints": [{"address": a} for a in probes],
        }
    )
    # ::2 to ::f share ::/32 with the loopback ::1, which one of them lands on but for the walk past it.
    data["services"].append(
        {
            "name": "probes6",
            "namespace": "b",
            "ip_families": ["IPv6"],
            "ports": [{"port": 80, "name": "http"}],
            # and one whose sixth group could become ffff (IPv4-mapped, which Kubernetes refuses)
            "endpoints": [{"address": f"::{k:x}"} for k in range(2, 16)] + [{"address": "::ae9b:c000:201"}],
        }
    )
    # a Sidecar in the short form: its egress hosts stay namespace/host
    egress = [{"hosts": ["./*", "default/kubernetes.default.svc.cluster.local"]}]
    data["sidecars"] = [{"name": "default", "namespace": "b", "spec": {"egress": egress}}]
    out = anonymize(data, key="team-secret")
    written = [e["address"] for svc in out["services"] for e in svc.get("endpoints") or []]
    original = [e["address"] for svc in data["services"] for e in svc.get("endpoints") or []]
    assert len(set(written)) == len(original)
    assert sum(a != b for a, b in zip(written, original, strict=True)) > len(original) // 2
    for address in written:
        ip = ipaddress.ip_address(address)
        assert ip not in ipaddress.ip_network("169.254.0.0/16")
        assert ip not in ipaddress.ip_network("224.0.0.0/24")
        assert not ip.is_loopback
        assert ip.version == 4 or ip.ipv4_mapped is None
    for design in ("single-stack", "duplicate", "additional-addresses"):
        before = dsim.config_sizes(scenario_from_dict(data, source="original"), design)
        after = dsim.config_sizes(scenario_from_dict(out, source="anonymized"), design)
        assert after.equals(before)


def test_external_name_services_still_name_their_hashed_hosts_and_cost_the_same() -> None:
    """An ExternalName Service's name is hashed as a Service's, and the name it aliases as a host:
    one of a mesh Service names that Service's hashed host (a trailing dot kept), so every proxy's
    config costs what it did."""
    from tests.test_service_aliases import SCENARIO

    hidden = anonymize(SCENARIO, key="team-secret")
    before = scenario_from_dict(SCENARIO, source="aliases")
    after = scenario_from_dict(hidden, source="aliases")
    counts = [
        sorted(map(len, dsim.build_cluster(s).istio.service_aliases.of_service.values())) for s in (before, after)
    ]
    assert counts == [[1, 1, 1, 3]] * 2  # api's three, and one each of an entry, a headless Service, a TLS entry
    targets = {a["name"]: a["external_name"] for a in hidden["external_name_services"]}
    assert "api.a.svc.cluster.local" not in targets.values()
    api = hidden["services"][0]  # api in a
    assert [t for t in targets.values() if t.endswith(".")] == [f"{api['name']}.{api['namespace']}.svc.cluster.local."]
    for design in ("single-stack", "duplicate", "additional-addresses"):
        assert dsim.config_sizes(after, design).equals(dsim.config_sizes(before, design))
