"""A dsim cluster written out as a real cluster's inventory: what ``kubectl get ... -A -o yaml|json`` prints.

``dsim import`` reads the inventories platform teams capture; to test it at any size, and to show
what an imported mesh looks like, dsim must write them too. :func:`inventory_objects` turns a built
:class:`~dsim.cluster.tables.Cluster` into the Kubernetes objects its API server would list, kind by
kind, each kind by namespace and name (as kubectl prints them):

- ``Namespace`` (``istio-injection: enabled`` where it injects, the scenario's labels), ``Node``
  (the localities as topology labels), the ``kube-system/kubeadm-config`` ConfigMap (the pod and
  service CIDRs);
- ``Service`` (ClusterIPs per family, ``ipFamilyPolicy``, ports with ``appProtocol`` where the name
  does not imply the protocol, the selector, the ``networking.istio.io/exportTo`` annotation);
- ``Deployment`` → ``ReplicaSet`` → ``Pod`` (labels, service account, sidecar, readiness, IPs);
- ``EndpointSlice``: per Service and address family, at most 1,000 endpoints a slice, unready pods
  included with ``ready: false`` (``true`` behind ``publishNotReadyAddresses``, ``serving: false``);
- the Istio objects in force (DestinationRule, ServiceEntry, Sidecar, VirtualService, as
  ``networking.istio.io/v1``); a ServiceEntry's hosts are not Services, and a Service's own subsets
  (a synthetic service's versions) become the DestinationRule a real cluster holds them in.

Objects are produced one at a time and :func:`write_inventory` writes them in batches, so a mesh of
200,000 pods is never held as dicts. Metadata (uid, resourceVersion, creationTimestamp) is derived
from names (:mod:`dsim.inventory.export_meta`): the same cluster always gives the same file.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
import yaml

from dsim.cluster.default_exports import rule_private_by_default
from dsim.cluster.headless import kubernetes_rows, telemetry_names
from dsim.cluster.tables import Cluster
from dsim.inventory.assemble import MESH_EXPORT_DEFAULTS
from dsim.inventory.export_meta import metadata
from dsim.inventory.export_workloads import (
    PodColumns,
    SliceService,
    deployments,
    endpoint_slices,
    explicit_rows,
    explicit_selector,
    nodes,
    pods,
    replica_sets,
    service_workloads,
    written_slices,
)
from dsim.scenario.checks import FAMILIES, cidr_of
from dsim.scenario.discovery import INJECTION_LABEL
from dsim.scenario.istio import IstioObject, as_kubernetes_object
from dsim.scenario.mesh_settings import MESHCONFIG_KEYS, mesh_settings_to_istio
from dsim.scenario.model import ExternalNameService, FamilyCidrs, IpFamily, LabelSelector, Service
from dsim.scenario.resolve import names_udp, protocol_from_port_name

InventoryForm = Literal["list-yaml", "yaml-stream", "json"]
_EXPORT_TO = "networking.istio.io/exportTo"
# Objects serialized per call: large enough to amortize the dumper's setup, small enough to hold.
_BATCH = 1000
_DOCUMENT_START = re.compile(r"^---\n", re.MULTILINE)


def inventory_objects(cluster: Cluster) -> Iterator[dict[str, Any]]:
    """Every Kubernetes object of ``cluster`` as ``kubectl get -o json`` shows it, kind by kind."""
    columns = PodColumns.of(cluster)
    yield from _namespaces(cluster)
    yield from nodes(cluster, columns)
    yield _kubeadm_config(cluster)
    yield from _mesh_settings(cluster)
    services = _ServiceColumns.of(cluster)
    yield from (_service(cluster, services, s) for s in services.rows)
    yield from (_external_name_service(alias) for alias in cluster.scenario.external_name_services)
    yield from deployments(columns)
    yield from replica_sets(columns)
    yield from pods(columns)
    selected = service_workloads(cluster)
    for s in services.rows:
        written = services.explicit.get(s)
        if written is not None and written.endpoints is not None:
            yield from written_slices(_slice_service(services, s, []), written.endpoints)
        else:
            yield from endpoint_slices(columns, _slice_service(services, s, selected[s]))
    yield from _istio_objects(cluster)


def write_inventory(cluster: Cluster, path: str | os.PathLike[str], *, form: InventoryForm = "list-yaml") -> int:
    """Write ``cluster``'s inventory to ``path`` as kubectl would print it, and return the number of
    objects: ``list-yaml`` (``-o yaml``: a ``kind: List`` of ``items``), ``yaml-stream`` (documents
    separated by ``---``, as several ``kubectl get`` outputs concatenated) or ``json`` (``-o json``).
    The file appears complete or not at all (written beside it, then renamed)."""
    writers = {"list-yaml": _write_yaml_list, "yaml-stream": _write_yaml_stream, "json": _write_json_list}
    if form not in writers:
        raise ValueError(f"unknown inventory form {form!r}; expected one of {', '.join(writers)}")
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            count = writers[form](inventory_objects(cluster), out)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return count


# --- Namespaces, Services, Istio objects ---------------------------------------------------------


def _namespaces(cluster: Cluster) -> Iterator[dict[str, Any]]:
    table = cluster.namespaces.sort_values("name", kind="stable")
    own = {ns.name: ns.labels for ns in cluster.scenario.namespaces}  # what discovery selectors read
    for name, injection in zip(table["name"].tolist(), table["sidecar_injection"].tolist(), strict=True):
        # No injection label where the namespace does not inject, as the scenario (and the discovery
        # selectors reading it: dsim.scenario.discovery.namespace_labels) has none there.
        injects = {INJECTION_LABEL: "enabled"} if injection else {}
        labels = {**injects, **own.get(name, {}), "kubernetes.io/metadata.name": name}
        yield {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": metadata("Namespace", "", name, labels=labels),
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }


def _kubeadm_config(cluster: Cluster) -> dict[str, Any]:
    """``kube-system/kubeadm-config``: where a real cluster records its pod and service CIDRs (kind's
    and kubeadm's clusters hold it), so an import finds the scenario's ranges rather than assuming kind's."""
    network = cluster.scenario.network
    order = [*network.pod_ip_families, *(f for f in FAMILIES if f not in network.pod_ip_families)]

    def subnets(cidrs: FamilyCidrs) -> str:
        return ",".join(c for c in (cidr_of(cidrs, family) for family in order) if c)

    configuration = {
        "apiVersion": "kubeadm.k8s.io/v1beta3",
        "kind": "ClusterConfiguration",
        "networking": {
            "dnsDomain": cluster.scenario.mesh.cluster_domain,
            "podSubnet": subnets(network.pod_cidrs),
            "serviceSubnet": subnets(network.service_cidrs),
        },
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata("ConfigMap", "kube-system", "kubeadm-config"),
        "data": {"ClusterConfiguration": yaml.safe_dump(configuration, sort_keys=False)},
    }


def _kubernetes_selector(selector: LabelSelector) -> dict[str, Any]:
    """A scenario's discovery selector as the mesh config writes it (camelCase, empty parts left out)."""
    written: dict[str, Any] = {}
    if selector.match_labels:
        written["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        written["matchExpressions"] = [
            {"key": r.key, "operator": r.operator, **({"values": list(r.values)} if r.values else {})}
            for r in selector.match_expressions
        ]
    return written


def _mesh_settings(cluster: Cluster) -> Iterator[dict[str, Any]]:
    """The ``istio`` ConfigMap's mesh config (trust domain, outbound traffic policy, HTTP/2 upgrade, default exportTo
    lists other than Istio's ``["*"]``, access logs, the connect timeout, keepalive and retry policy
    other than Istio's, discovery selectors, Envoy's concurrency)
    and, unless mTLS is Istio's default PERMISSIVE, the root namespace's mesh-wide PeerAuthentication:
    where a real cluster keeps the scenario's ``mesh`` and ``envoy`` settings that change the config."""
    mesh, envoy = cluster.scenario.mesh, cluster.scenario.envoy
    config: dict[str, Any] = {
        "defaultConfig": {"concurrency": envoy.concurrency},
        "outboundTrafficPolicy": {"mode": mesh.outbound_traffic_policy},
        "h2UpgradePolicy": mesh.h2_upgrade_policy,
        "rootNamespace": "istio-system",
        "trustDomain": mesh.trust_domain,
        # Istio's own default ["*"] is left implicit, as a ConfigMap usually leaves it.
        **{
            key: list(values)
            for key, field in MESH_EXPORT_DEFAULTS.items()
            if (values := getattr(mesh, field)) != ("*",)
        },
    }
    if mesh.access_log_file:
        config |= {
            "accessLogFile": mesh.access_log_file,
            "accessLogEncoding": mesh.access_log_encoding,
            **({"accessLogFormat": mesh.access_log_format} if mesh.access_log_format else {}),
            **({"disableEnvoyListenerLog": True} if mesh.disable_envoy_listener_log else {}),
        }
    config |= {MESHCONFIG_KEYS[field]: value for field, value in mesh_settings_to_istio(mesh).items()}
    if mesh.discovery_selectors:
        config["discoverySelectors"] = [_kubernetes_selector(selector) for selector in mesh.discovery_selectors]
    yield {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata("ConfigMap", "istio-system", "istio"),
        "data": {"mesh": yaml.safe_dump(config, sort_keys=True)},
    }
    if mesh.mtls != "PERMISSIVE":
        yield {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": metadata("PeerAuthentication", "istio-system", "default"),
            "spec": {"mtls": {"mode": mesh.mtls}},
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ServiceColumns:
    """The Kubernetes Services' columns as plain lists (a pandas lookup per service would make the
    export quadratic), with each one's ports."""

    rows: list[int]
    """The Services' rows (not a ServiceEntry's hosts; a headless Service's), by namespace and name."""
    namespace: list[str]
    name: list[str]
    families: list[tuple[IpFamily, ...]]
    vip: dict[IpFamily, list[str]]
    ports: list[list[tuple[str, int, int, str | None]]]
    """(name, port, target port, appProtocol) of each port of each service."""
    explicit: dict[int, Service]
    """The scenario's Service behind each explicit row (:func:`explicit_rows`)."""
    prefer_close: list[bool]
    """Whether each has a ``trafficDistribution`` (a synthetic one: ``PreferClose``)."""
    publish_not_ready: list[bool]
    """Whether each sets ``publishNotReadyAddresses``."""

    @staticmethod
    def of(cluster: Cluster) -> _ServiceColumns:
        services = cluster.services
        namespace = cluster.namespaces["name"].to_numpy()[services["namespace"].to_numpy()].tolist()
        entries = cluster.istio.service_entries
        name = telemetry_names(services["name"].tolist(), services["entry"].to_numpy(), entries)
        frame = pd.DataFrame({"ns": namespace, "name": name})[kubernetes_rows(services["entry"].to_numpy(), entries)]
        explicit = explicit_rows(cluster)
        vip = cluster.service_vip_text()
        ports: list[list[tuple[str, int, int, str | None]]] = [[] for _ in range(len(services))]
        table = cluster.service_ports
        written = port_names(table)
        for row in zip(
            table["service"].tolist(),
            written,
            table["port"].tolist(),
            table["target_port"].tolist(),
            table["istio_protocol"].astype(str).tolist(),
            strict=True,
        ):
            ports[row[0]].append((row[1], row[2], row[3], _app_protocol(row[1], row[2], row[4])))
        return _ServiceColumns(
            rows=frame.sort_values(["ns", "name"], kind="stable").index.tolist(),
            namespace=namespace,
            name=name,
            families=[_family_tuple(text) for text in services["ip_families"].astype(str).tolist()],
            vip={"IPv4": vip["ipv4"].tolist(), "IPv6": vip["ipv6"].tolist()},
            ports=ports,
            explicit=explicit,
            prefer_close=services["prefer_close"].tolist(),
            # A headless Service's row lists its unready endpoints whatever it publishes: its own word here.
            publish_not_ready=[
                explicit[row].publish_not_ready_addresses if row in explicit else publish
                for row, publish in enumerate(services["publish_not_ready"].tolist())
            ],
        )


def port_names(table: pd.DataFrame) -> list[str]:
    """Each ``service_ports`` row's name as written out: its own, or, for an unnamed port of a
    Service with several, ``port-<number>`` (with ``-<k>`` where a port is already so named).
    Kubernetes refuses a Service with several ports unless each has a name
    (``ValidateService``); the scenario does not ask for one, and dsim reads an unnamed port as
    Istio does. The name given says no protocol (its prefix ``port`` is none of Istio's), so a
    port's protocol reads back as before: detected, or TCP on a well-known port, or its
    ``appProtocol``, which is written where the name does not imply it."""
    service = table["service"].to_numpy()
    names = table["name"].astype(str).tolist()
    numbers = table["port"].tolist()
    several = np.bincount(service, minlength=int(service.max()) + 1 if len(service) else 0)[service] > 1
    taken: dict[int, set[str]] = {}
    for row, name in enumerate(names):
        taken.setdefault(int(service[row]), set()).add(name)
    for row in np.flatnonzero(several).tolist():
        if names[row]:
            continue
        own = taken[int(service[row])]
        name, k = f"port-{numbers[row]}", 1
        while name in own:
            k += 1
            name = f"port-{numbers[row]}-{k}"
        own.add(name)
        names[row] = name
    return names


def _family_tuple(text: str) -> tuple[IpFamily, ...]:
    """A service's ``ip_families`` column (``IPv6,IPv4``) as the families in order."""
    by_name: dict[str, IpFamily] = {f: f for f in FAMILIES}
    return tuple(by_name[name] for name in text.split(","))


def _app_protocol(name: str, number: int, protocol: str) -> str | None:
    """``appProtocol`` for a port whose protocol (as Istio reads it: the tables' ``istio_protocol``)
    its name and number do not imply (Istio reads it instead of the name); ``auto`` names no
    protocol, so Istio detects it, as the scenario asks. A ``udp`` name always has one: Istio would
    read the name as UDP."""
    if protocol == protocol_from_port_name(name, number) and not names_udp(name):
        return None
    return protocol.lower()


def _selector(cluster: Cluster, columns: _ServiceColumns, service: int) -> dict[str, str] | None:
    """The labels a Service selects by: an explicit one's selector (resolved: ``app: <name>`` unless
    written; None where its endpoints are written by hand), a synthetic one's ``app: <name>`` (its
    workloads' ``app`` label)."""
    written = columns.explicit.get(service)
    if written is not None:
        return explicit_selector(written)
    return {"app": columns.name[service]}


def _service(cluster: Cluster, columns: _ServiceColumns, service: int) -> dict[str, Any]:
    families = columns.families[service]
    ips = [columns.vip[f][service] for f in families]
    ports = []
    for name, port, target, app_protocol in columns.ports[service]:
        entry: dict[str, Any] = {"name": name} if name else {}
        entry["protocol"] = "TCP"
        if app_protocol:
            entry["appProtocol"] = app_protocol
        ports.append(entry | {"port": port, "targetPort": target})
    written = columns.explicit.get(service)
    export_to = written.export_to if written is not None else ()
    annotations = {_EXPORT_TO: ",".join(export_to)} if export_to else None
    # A synthetic service's is PreferClose; a headless one's row carries none (it sends no endpoint set).
    distribution = written.traffic_distribution if written is not None else "PreferClose"
    distributed = written.traffic_distribution is not None if written is not None else columns.prefer_close[service]
    if written is not None and written.headless:  # no cluster IP; its families as the scenario says
        families, ips = written.ip_families, ["None"]
    selector = _selector(cluster, columns, service)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("Service", columns.namespace[service], columns.name[service], annotations=annotations),
        "spec": {
            "ports": ports,
            **({"selector": selector} if selector is not None else {}),
            "clusterIP": ips[0],
            "clusterIPs": ips,
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ipFamilies": list(families),
            "ipFamilyPolicy": "RequireDualStack" if len(families) > 1 else "SingleStack",
            "internalTrafficPolicy": "Cluster",
        }
        | ({"trafficDistribution": distribution} if distributed else {})
        | ({"publishNotReadyAddresses": True} if columns.publish_not_ready[service] else {}),
        "status": {"loadBalancer": {}},
    }


def _external_name_service(alias: ExternalNameService) -> dict[str, Any]:
    """An ExternalName Service as the API server shows it: no ports, selector or ClusterIP."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("Service", alias.namespace, alias.name),
        "spec": {"type": "ExternalName", "externalName": alias.external_name, "sessionAffinity": "None"},
        "status": {"loadBalancer": {}},
    }


def _slice_service(columns: _ServiceColumns, service: int, workloads: list[int]) -> SliceService:
    ports = []
    for name, _, target, app_protocol in columns.ports[service]:
        entry: dict[str, Any] = {"name": name, "protocol": "TCP", "port": target}
        if app_protocol:
            entry["appProtocol"] = app_protocol
        ports.append(entry)
    return SliceService(
        namespace=columns.namespace[service],
        name=columns.name[service],
        families=columns.families[service],
        ports=ports,
        workloads=workloads,
        publish_not_ready=columns.publish_not_ready[service],
    )


def _istio_objects(cluster: Cluster) -> Iterator[dict[str, Any]]:
    """The Istio objects in force (pasted, then generated), kind by kind as kubectl lists CRDs; a
    Service's own subsets become the DestinationRule a real cluster would hold them in."""
    istio = cluster.istio
    mesh = cluster.scenario.mesh
    kinds: tuple[tuple[IstioObject, ...], ...] = (
        istio.destination_rules,
        # A headless Service is written as the Service it is (_service), not as its registry entry.
        tuple(_as_written(obj, mesh.default_service_export_to) for obj in istio.service_entries if not obj.headless),
        istio.sidecars,
        tuple(_as_written(obj, mesh.default_virtual_service_export_to) for obj in istio.virtual_services),
    )
    for kind, objects in enumerate(kinds):
        # Created in scenario order, the order Istio reads them in (docs/import.md 2).
        plain = [_istio_object(obj, order) for order, obj in enumerate(objects)]
        if kind == 0:
            plain += _subset_rules(cluster, {(obj.namespace, obj.name) for obj in objects}, len(objects))
        yield from sorted(plain, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))


def _as_written(obj: Any, default: tuple[str, ...]) -> Any:
    """A ServiceEntry or VirtualService as a cluster would hold it: one whose exportTo is the mesh's
    default for its kind (given it when it set none, ``dsim.cluster.default_exports``) without one,
    since the ``istio`` ConfigMap carries the default, and a default such as ``["*", "."]`` is no
    exportTo an object may hold (``validateExportTo``)."""
    if tuple(obj.spec.export_to) != tuple(default):
        return obj
    return dataclasses.replace(obj, spec=dataclasses.replace(obj.spec, export_to=()))


def _istio_object(obj: IstioObject, order: int) -> dict[str, Any]:
    plain = as_kubernetes_object(obj)
    plain["metadata"] = metadata(obj.KIND, obj.namespace, obj.name, generation=True, order=order)
    return plain


def _own_subsets(cluster: Cluster) -> dict[int, list[tuple[str, dict[str, str]]]]:
    """(name, labels) of the subsets each Service has of its own (not from a DestinationRule): an
    explicit Service's ``subsets``, a synthetic one's versions (``version: v<k>``, its workloads' label)."""
    explicit = explicit_rows(cluster)
    own: dict[int, list[tuple[str, dict[str, str]]]] = {
        s: [(sub.name, dict(sub.labels)) for sub in svc.subsets] for s, svc in explicit.items() if svc.subsets
    }
    table = cluster.subsets
    synthetic_rows = cluster.services["synthetic"].to_numpy()[table["service"].to_numpy()]
    synthetic = table[(table["rule"].to_numpy() < 0) & synthetic_rows]
    for s, name in zip(synthetic["service"].tolist(), synthetic["name"].tolist(), strict=True):
        own.setdefault(s, []).append((name, {"version": name}))
    return own


def _subset_rules(cluster: Cluster, taken: set[tuple[str, str]], first: int) -> list[dict[str, Any]]:
    """A DestinationRule (named after its Service, or ``<name>-subsets`` if that is taken) for each
    Service whose subsets no DestinationRule in force holds. A Service that also has a rule keeps its
    own subsets out of the export: a second rule for its host would be merged after the first, where
    dsim holds the Service's own subsets beside it. They are created after the scenario's rules
    (``first``: how many). A Service's own subsets hold in every namespace: under a private
    ``defaultDestinationRuleExportTo`` their rule says ``exportTo: ["*"]``."""
    ruled = set(cluster.base_rules["service"].tolist())
    private_by_default = rule_private_by_default(cluster.scenario.mesh)
    hosts = cluster.service_hosts()
    namespaces = cluster.namespaces["name"].to_numpy()[cluster.services["namespace"].to_numpy()]
    out: list[dict[str, Any]] = []
    for service, subsets in sorted(_own_subsets(cluster).items()):
        if service in ruled:
            continue
        namespace, name = str(namespaces[service]), str(cluster.services.at[service, "name"])
        if (namespace, name) in taken:
            name = f"{name}-subsets"
        spec: dict[str, Any] = {
            "host": hosts[service],
            "subsets": [{"name": n, "labels": labels} for n, labels in subsets],
        }
        if private_by_default:  # dsim's own subsets hold everywhere: say so where the mesh's default would not
            spec["exportTo"] = ["*"]
        out.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": metadata("DestinationRule", namespace, name, generation=True, order=first + len(out)),
                "spec": spec,
            }
        )
    return out


# --- Writers -------------------------------------------------------------------------------------


_STR, _INT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool", "null"))
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


@functools.lru_cache(maxsize=1 << 16)
def _detected_tag(value: str) -> str:
    """The tag the safe resolver reads a plain scalar as (``str`` unless it looks like a number, bool,
    null, timestamp...). Keys and label values repeat on every object, so each text is resolved once;
    the safe resolver has no path rules, so nothing but the text decides."""
    tag: str = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))
    return tag


class _Dumper(yaml.CSafeDumper):
    """libyaml's emitter behind a representer for the plain JSON-like data objects are made of.

    It prints every shared sub-dict in full (kubectl has no anchors), sorts keys (as kubectl does),
    and skips the general representer's bookkeeping, which costs more than emitting."""

    def represent_data(self, data: Any) -> yaml.Node:
        kind = type(data)
        if kind is str:
            return yaml.ScalarNode(_STR, data)
        if kind is dict:
            pairs = [(self.represent_data(k), self.represent_data(v)) for k, v in sorted(data.items())]
            return yaml.MappingNode(_MAP, pairs, flow_style=False)
        if kind is list:
            return yaml.SequenceNode(_SEQ, [self.represent_data(v) for v in data], flow_style=False)
        if kind is bool:
            return yaml.ScalarNode(_BOOL, "true" if data else "false")
        if kind is int:
            return yaml.ScalarNode(_INT, str(data))
        if data is None:
            return yaml.ScalarNode(_NULL, "null")
        return super().represent_data(data)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is not yaml.ScalarNode:  # a collection: its default tag
            return _MAP if kind is yaml.MappingNode else _SEQ
        # The emitter asks twice per scalar: how the text reads plain (``implicit[0]``), and the default.
        return _detected_tag(value) if implicit[0] else _STR


def _yaml(data: Any, **options: Any) -> str:
    # kubectl sorts keys and never folds long lines.
    text: str = yaml.dump_all(
        data, Dumper=_Dumper, default_flow_style=False, width=1 << 30, allow_unicode=True, **options
    )
    return text


def _batches(objects: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(objects)
    while batch := list(itertools.islice(iterator, _BATCH)):
        yield batch


def _write_yaml_list(objects: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """``kind: List`` with the items at column 0 under ``items:``. Each item is dumped as a document of
    its own holding a one-item sequence, its ``---`` then dropped: libyaml slows down several times
    over on one document of thousands of objects, never on many small ones. Inside a document whose
    root is a sequence every line starts with ``-`` or a space, so a ``---`` line is only a marker."""
    out.write("apiVersion: v1\n")
    count = 0
    for batch in _batches(objects):
        out.write("items:\n" if not count else "")
        out.write(_DOCUMENT_START.sub("", _yaml([[obj] for obj in batch], explicit_start=True)))
        count += len(batch)
    out.write("" if count else "items: []\n")
    out.write('kind: List\nmetadata:\n  resourceVersion: ""\n')
    return count


def _write_yaml_stream(objects: Iterable[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for batch in _batches(objects):
        out.write(_yaml(batch, explicit_start=True))
        count += len(batch)
    return count


def _write_json_list(objects: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """``kubectl -o json``'s List: four-space indents, the items in their struct field order."""
    out.write('{\n    "apiVersion": "v1",\n    "items": [')
    count = 0
    for batch in _batches(objects):
        for obj in batch:
            text = json.dumps(obj, indent=4, ensure_ascii=False).replace("\n", "\n        ")
            out.write(("\n        " if not count else ",\n        ") + text)
            count += 1
    out.write("\n    ]" if count else "]")
    out.write(',\n    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n')
    return count
