"""ServiceEntries in the cluster: one ``services`` row per host, as istiod's registry holds them.

``convertServices`` (``pilot/pkg/serviceregistry/serviceentry/conversion.go``, ``docs/istio-objects.md``
3.1) makes one internal Service per host, named after the host, in the entry's namespace, with all the
entry's ports. dsim keeps one row per host (``services.entry`` names the entry) with the entry's
first address of each family as its VIPs; the full address list, the resolution and the endpoints
stay on the :class:`~dsim.scenario.istio.ServiceEntry` (``Cluster.istio.service_entries``), and
the designs decide what each address becomes (``Design.entry_copies``). A ``workloadSelector``
selects the ready pods (not terminating) of the entry's namespace whose labels hold it: they join
``service_workloads``.

Rows are appended after every Kubernetes Service, in entry order, so a Service's id never changes;
a namespace that only ServiceEntries name is added to ``namespaces`` (without sidecar injection).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from dsim.addresses import split_ipv6
from dsim.cluster.default_exports import kubernetes_service_exports, written_service_exports
from dsim.cluster.discovery import discovered, discovery
from dsim.cluster.hostnames import host_namespace
from dsim.cluster.labels import labels_by_workload, selects
from dsim.cluster.tables import SCHEMA, make_table
from dsim.randomness import generator
from dsim.scenario import Scenario
from dsim.scenario.istio import ServiceEntry, generate_service_entries
from dsim.scenario.istio.rules import canonical_protocol, is_ip
from dsim.scenario.model import IpFamily


def registry_services(hosts: Iterable[str]) -> dict[str, int]:
    """Each host's first service, by ``services`` row: what a host's facts (families, ports) are read
    from where no proxy namespace is at hand (``docs/istio-objects.md`` 3.1, 4.8)."""
    found: dict[str, int] = {}
    for i, host in enumerate(hosts):
        found.setdefault(host, i)
    return found


def registry_rows(hosts: Sequence[str], namespaces: Sequence[str]) -> list[int]:
    """The services of the registry, by ``services`` row: the first of each host in each namespace,
    so a Service shadows a ServiceEntry of its host in its namespace and an earlier entry a later one
    (``docs/istio-objects.md`` 3.1); a host of several namespaces has one service in each, and each
    proxy sees one namespace's (:mod:`dsim.cluster.host_owners`)."""
    found: dict[tuple[str, str], int] = {}
    for i, key in enumerate(zip(hosts, namespaces, strict=True)):
        found.setdefault(key, i)
    return sorted(found.values())


def _listing_cluster_ips(
    s: Scenario, services: pd.DataFrame, ns_names: Sequence[str], entries: Sequence[ServiceEntry]
) -> int:
    """How many of ``entries`` list a ClusterIP of ``services`` (the Kubernetes ones) as an address,
    of a Service in istiod's index: one exported to no namespace (``~``) holds nothing."""
    written = [{ipaddress.ip_address(text) for _, text in entry_addresses(entry)} for entry in entries]
    listed = set().union(*written)
    if not listed:
        return 0
    # The Services whose ClusterIP some entry lists (a vectorised pass), then those in istiod's index.
    v4 = services["vip4"].to_numpy(np.uint32)
    hit4 = services["has_ipv4"].to_numpy(bool) & np.isin(v4, [int(a) for a in listed if a.version == 4])
    wanted6 = [split_ipv6(int(a)) for a in listed if a.version == 6]
    hi6, lo6 = services["vip6_hi"].to_numpy(np.uint64), services["vip6_lo"].to_numpy(np.uint64)
    on6 = pd.MultiIndex.from_arrays([hi6, lo6])
    hit6 = services["has_ipv6"].to_numpy(bool) & (on6.isin(wanted6) if wanted6 else False)
    exports = written_service_exports(s)
    names, namespaces = services["name"].to_numpy(), services["namespace"].to_numpy()
    taken: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for row in np.flatnonzero(hit4 | hit6).tolist():
        if kubernetes_service_exports(s, exports, str(names[row]), ns_names[int(namespaces[row])]) == frozenset():
            continue  # exported nowhere: not in istiod's index, it holds nothing
        if hit4[row]:
            taken.add(ipaddress.IPv4Address(int(v4[row])))
        if hit6[row]:
            taken.add(ipaddress.IPv6Address((int(hi6[row]) << 64) | int(lo6[row])))
    return sum(1 for addresses in written if addresses & taken)


def entry_addresses(entry: ServiceEntry) -> tuple[tuple[IpFamily, str], ...]:
    """The entry's addresses that are single IPs (a full-length prefix is one), family and text."""
    found: list[tuple[IpFamily, str]] = []
    for text in entry.spec.addresses:
        network = ipaddress.ip_network(text, strict=False)
        if network.prefixlen == network.max_prefixlen:
            found.append(("IPv4" if network.version == 4 else "IPv6", str(network.network_address)))
    return tuple(found)


def listens_per_endpoint(entry: ServiceEntry) -> bool:
    """Whether the entry's hosts get per-endpoint listeners (``docs/istio-objects.md`` 3.4):
    resolution ``NONE``, a workload selector, no address (a CIDR one too keeps them off: Istio's
    test is the host's address)."""
    spec = entry.spec
    return spec.resolution == "NONE" and spec.workload_selector is not None and not spec.addresses


def _families(entry: ServiceEntry, pod_families: Sequence[IpFamily]) -> tuple[IpFamily, ...]:
    """Its addresses' families in order; else its endpoints' (inline IPs, or selected pods'); else both."""
    addresses = [f for f, _ in entry_addresses(entry)]
    if not addresses:
        for endpoint in entry.spec.endpoints:
            if is_ip(endpoint.address):
                addresses.append("IPv4" if ipaddress.ip_address(endpoint.address).version == 4 else "IPv6")
        addresses.extend(pod_families)
    ordered = tuple(dict.fromkeys(addresses))
    return ordered or ("IPv4", "IPv6")


def _slice_families(entry: ServiceEntry) -> tuple[IpFamily, ...]:
    return tuple("IPv6" if family == "IPv6" else "IPv4" for family in entry.slice_families)


def generated_entries(s: Scenario, tables: dict[str, pd.DataFrame]) -> tuple[ServiceEntry, ...]:
    """``istio_objects.service_entries``: over the synthetic namespaces (every namespace if none)."""
    params = s.istio_objects.service_entries
    namespaces = tables["namespaces"]
    synthetic = namespaces["name"][namespaces["synthetic"].to_numpy()].tolist()
    names = synthetic or namespaces["name"].tolist()
    return generate_service_entries(names, params, generator(s.seed, "istio.service_entries"))


def add_service_entries(s: Scenario, tables: dict[str, pd.DataFrame], notes: Counter[str]) -> tuple[ServiceEntry, ...]:
    """Append the entries' hosts to ``services`` (ports, selected workloads, namespaces) and build
    the ``service_entries`` table; return the entries in force (pasted, then generated)."""
    entries = (
        *s.service_entries,
        *discovered(generated_entries(s, tables), discovery(s, tables["namespaces"]), "ServiceEntry", notes),
    )
    namespaces = tables["namespaces"]
    ns_id = {name: i for i, name in enumerate(namespaces["name"].tolist())}
    missing = sorted({e.namespace for e in entries} - set(ns_id))
    if missing:
        extra = make_table(
            "namespaces",
            {
                "name": missing,
                "sidecar_injection": np.zeros(len(missing), bool),
                "synthetic": np.zeros(len(missing), bool),
            },
        )
        tables["namespaces"] = pd.concat([namespaces, extra], ignore_index=True).astype(SCHEMA["namespaces"])
        ns_id.update({name: len(namespaces) + i for i, name in enumerate(missing)})

    workloads, pods = tables["workloads"], tables["pods"]
    ns_names = tables["namespaces"]["name"].to_numpy()
    labels = labels_by_workload(tables["workload_labels"])
    workload_ns = ns_names[workloads["namespace"].to_numpy()].tolist()
    # istiod's pod cache, which feeds the entry's registry, holds ready pods not being deleted only.
    ready = (workloads["ready"].to_numpy() & ~workloads["terminating"].to_numpy()).tolist()
    pod_workload = pods["workload"].to_numpy()
    has4 = np.bincount(pod_workload, weights=pods["has_ipv4"].to_numpy(), minlength=len(workloads)) > 0
    has6 = np.bincount(pod_workload, weights=pods["has_ipv6"].to_numpy(), minlength=len(workloads)) > 0

    first = len(tables["services"])
    rows: list[dict[str, object]] = []
    ports: list[tuple[int, str, int, int, str]] = []
    selected: list[tuple[int, int]] = []
    headless_rows: dict[str, int] = {}
    for e, entry in enumerate(entries):
        spec = entry.spec
        chosen: list[int] = []
        if spec.workload_selector is not None:
            # Ready pods only: istiod's Kubernetes controller hands the ServiceEntry controller no
            # unready or terminating pod (its pod handler: IsPodReady, shouldPodBeInEndpoints), so no
            # endpoint, account or family of theirs. A headless Service's slices list them all.
            chosen = [
                w
                for w in range(len(workloads))
                if workload_ns[w] == entry.namespace
                and (ready[w] or entry.headless)
                and selects(spec.workload_selector.labels, labels.get(w, {}))
            ]
        pod_families: list[IpFamily] = []
        if has4[chosen].any():
            pod_families.append("IPv4")
        if has6[chosen].any():
            pod_families.append("IPv6")
        # A headless Service's slices are of its own families (in its order), whatever its pods have.
        families = _families(entry, pod_families) if not entry.headless else _slice_families(entry)
        addresses = entry_addresses(entry)
        if len(addresses) < len(spec.addresses):
            notes["ServiceEntry CIDR address (not a single IP): not modelled, the entry's other addresses kept"] += 1
        vip4 = next((a for f, a in addresses if f == "IPv4"), "")
        vip6 = next((a for f, a in addresses if f == "IPv6"), "")
        for host in spec.hosts:
            service = first + len(rows)
            if entry.headless:
                headless_rows[f"{entry.namespace}/{entry.name}"] = service
            rows.append(
                {
                    "name": host,
                    "namespace": ns_id[entry.namespace],
                    "ip_families": ",".join(families),
                    "has_ipv4": bool(vip4),
                    "has_ipv6": bool(vip6),
                    "primary_ipv6": families[0] == "IPv6",
                    "vip4": int(ipaddress.IPv4Address(vip4)) if vip4 else 0,
                    "vip6": int(ipaddress.IPv6Address(vip6)) if vip6 else 0,
                    "synthetic": False,
                    "entry": e,
                    # Every endpoint of a headless Service's slices, ready or not, gets its listener
                    # (ServiceEndpointsByPort filters no health); it has no endpoint set to send.
                    "publish_not_ready": entry.headless,
                }
            )
            for port in spec.ports:
                target = port.target_port or port.number
                ports.append((service, port.name, port.number, target, canonical_protocol(port.protocol) or "auto"))
            selected.extend((service, w) for w in chosen)
        if "*" in "".join(spec.hosts):
            notes["ServiceEntry wildcard host: built as a host of its own (no dynamic forward proxy)"] += 1
        if any(h.startswith("*.") and host_namespace(h, s.mesh.cluster_domain) in ns_id for h in spec.hosts):
            notes[
                "ServiceEntry wildcard host inside svc.<cluster domain>: its short name `*` left out of its virtual "
                "host for the proxies of the namespace it names; Istio sends it, and Envoy refuses a second `*` "
                "beside the catch-all virtual host (docs/istio-objects.md 1.3)"
            ] += 1

    services = tables["services"][list(SCHEMA["services"])]
    if listing := _listing_cluster_ips(s, services, ns_names.tolist(), entries):
        notes[
            "ServiceEntry listing a Service's ClusterIP among its addresses: the Service keeps its listener "
            "and domain on that address where a proxy sees it (docs/istio-objects.md 3.4)"
        ] += listing
    halves = [split_ipv6(int(str(r["vip6"]))) for r in rows]
    new = make_table(
        "services",
        {
            **{k: [r[k] for r in rows] for k in ("name", "namespace", "ip_families", "has_ipv4", "has_ipv6")},
            "primary_ipv6": [r["primary_ipv6"] for r in rows],
            "vip4": np.array([r["vip4"] for r in rows], dtype=np.uint32),
            "vip6_hi": np.array([h for h, _ in halves], dtype=np.uint64),
            "vip6_lo": np.array([lo for _, lo in halves], dtype=np.uint64),
            "synthetic": np.zeros(len(rows), bool),
            "entry": [r["entry"] for r in rows],
            "prefer_close": np.zeros(len(rows), bool),
            "publish_not_ready": [r["publish_not_ready"] for r in rows],
        },
    )
    tables["services"] = pd.concat([services, new], ignore_index=True).astype(SCHEMA["services"])
    new_ports = make_table(
        "service_ports",
        {
            "service": [p[0] for p in ports],
            "name": [p[1] for p in ports],
            "port": [p[2] for p in ports],
            "target_port": [p[3] for p in ports],
            "protocol": [p[4] for p in ports],
            "istio_protocol": [p[4] for p in ports],  # a ServiceEntry port is served by its own (3.4)
        },
    )
    old_ports = tables["service_ports"]
    as_text = {"protocol": str, "istio_protocol": str}  # categories of different values do not concatenate
    tables["service_ports"] = pd.concat(
        [old_ports.astype(as_text), new_ports.astype(as_text)], ignore_index=True
    ).astype(SCHEMA["service_ports"])
    sw = tables["service_workloads"]
    tables["service_workloads"] = pd.concat(
        [sw, pd.DataFrame({"service": [a for a, _ in selected], "workload": [b for _, b in selected]})],
        ignore_index=True,
    ).astype(SCHEMA["service_workloads"])
    _add_headless_calls(s, tables, headless_rows)
    tables["service_entries"] = make_table(
        "service_entries",
        {
            "name": [e.name for e in entries],
            "namespace": [e.namespace for e in entries],
            "resolution": [e.spec.resolution for e in entries],
            "mesh_external": [e.spec.location == "MESH_EXTERNAL" for e in entries],
            "generated": np.arange(len(entries)) >= len(s.service_entries),
        },
    )
    return entries


def _add_headless_calls(s: Scenario, tables: dict[str, pd.DataFrame], headless_rows: dict[str, int]) -> None:
    """The explicit workloads' calls to headless Services (``<namespace>/<name>`` to the ``services``
    row of its host, ``headless_rows``) as dependencies: the explicit tables left them out."""
    calls = [(w, headless_rows[c]) for w, wl in enumerate(s.workloads) for c in wl.calls if c in headless_rows]
    if not calls:
        return
    deps = tables["dependencies"]
    found = pd.DataFrame({"workload": [w for w, _ in calls], "service": [c for _, c in calls]})
    tables["dependencies"] = (
        pd.concat([deps, found], ignore_index=True).drop_duplicates(ignore_index=True).astype(SCHEMA["dependencies"])
    )
