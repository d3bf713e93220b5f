"""A cluster's objects, read one by one, assembled into a scenario with every object explicit.

The mapping (``docs/import.md`` says why for each):

- Namespaces keep their injection labels; system namespaces (``kube-system``, ``kube-public``,
  ``kube-node-lease``, the Istio root namespace) are left out, but Istio's objects in the root
  namespace are kept: its Sidecar and PeerAuthentication are the mesh's defaults.
- A Service is a scenario service with its families, ClusterIPs, TCP ports (``appProtocol`` where it
  says more than the name) and selector; a headless one (``clusterIP: None``) is one with
  ``headless: true`` and no ClusterIPs; ExternalName and selector-less ones, and headless ones
  without ports, are counted and left out.
- Pods become workloads: the pods of one controller (a ReplicaSet's Deployment, a StatefulSet...)
  with the same labels, service account, sidecar, families and readiness are one workload whose
  replicas keep their names, addresses and zones. A pod is unready when its Ready condition or an
  endpoint naming it says so; an unready workload is in no endpoint set, as istiod sends none, but
  behind a Service with a traffic distribution (unhealthy) or ``publishNotReadyAddresses`` (healthy).
  A pod with a ``deletionTimestamp``, or an endpoint naming it terminating, is terminating: in no
  endpoint set, distribution or not, but behind ``publishNotReadyAddresses``.
- Istio's VirtualServices, DestinationRules, ServiceEntries and Sidecars are kept as written (their
  ``status`` and bookkeeping dropped) after dsim's own reader accepts them; a mesh-wide
  PeerAuthentication sets ``mesh.mtls``; the ``istio`` ConfigMap's mesh config sets the trust
  domain, outbound traffic policy and discovery selectors (the namespaces keeping the labels they
  read: :mod:`dsim.inventory.discovery`); kubeadm's ``ClusterConfiguration`` gives the CIDRs.

Everything else is counted by kind and reason in :attr:`Imported.counts`; nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import ipaddress
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from dsim.errors import InventoryError, ScenarioError, quote
from dsim.inventory import kube
from dsim.inventory.access_logs import mesh_access_log, telemetry_access_log
from dsim.inventory.cidrs import ClusterCidrs, choose_cidrs
from dsim.inventory.discovery import discovers, read_keys, scenario_selectors
from dsim.inventory.mesh_defaults import mesh_defaults
from dsim.inventory.read import KubeObject
from dsim.inventory.traffic_distribution import (
    SAME_NODE_NOTE,
    known,
    modelled,
    traffic_distribution,
    unmodelled_notes,
)
from dsim.inventory.written_endpoints import WrittenService, pod_addresses, read_written
from dsim.scenario.block_yaml import dump_block
from dsim.scenario.istio import API_GROUP, parse_istio_object
from dsim.scenario.istio.rules import is_dns1123_subdomain
from dsim.scenario.load import scenario_from_dict
from dsim.scenario.model import ROOT_NAMESPACE, Mesh, Scenario
from dsim.scenario.resolve import names_udp, protocol_from_port_name
from dsim.scenario.yaml_reader import CaptureLoader

SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
"""Namespaces whose workloads are the platform's, not the mesh's (pilot-load skips them too)."""
IMPORTED = "imported"
MODELLED_ISTIO_KINDS = ("VirtualService", "DestinationRule", "ServiceEntry", "Sidecar")
MESH_EXPORT_DEFAULTS = {
    "defaultServiceExportTo": "default_service_export_to",
    "defaultVirtualServiceExportTo": "default_virtual_service_export_to",
    "defaultDestinationRuleExportTo": "default_destination_rule_export_to",
}
"""The ``istio`` ConfigMap's default exportTo lists and the scenario's ``mesh`` fields they become."""
_ISTIO_LISTS = {
    "VirtualService": "virtual_services",
    "DestinationRule": "destination_rules",
    "ServiceEntry": "service_entries",
    "Sidecar": "sidecars",
}
# Kinds read only to name workloads (their pods carry what matters).
_CONTROLLERS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob")
# Why each Istio or Gateway API kind dsim does not model is left out.
_NOT_MODELLED = {
    "Gateway": "gateway proxies are not modelled (dsim models sidecars)",
    "EnvoyFilter": "patches Envoy's config in ways dsim does not replay",
    "WorkloadEntry": "VM workloads are not modelled",
    "WorkloadGroup": "VM workloads are not modelled",
    "ProxyConfig": "per-workload proxy settings are not modelled",
    "AuthorizationPolicy": "RBAC filters are not modelled",
    "RequestAuthentication": "JWT filters are not modelled",
    "PeerAuthentication": "only the root namespace's selector-less one (mesh-wide mTLS) is modelled",
    "Telemetry": "its metrics and tracing are not modelled (its mesh-wide access logging is read: the notes say)",
    "WasmPlugin": "WASM filters are not modelled",
    "HTTPRoute": "Gateway API routes are not modelled",
    "GRPCRoute": "Gateway API routes are not modelled",
    "TCPRoute": "Gateway API routes are not modelled",
    "TLSRoute": "Gateway API routes are not modelled",
    "GatewayClass": "Gateway API is not modelled",
    "ReferenceGrant": "Gateway API is not modelled",
}
NODE_LOCAL_NOTE = (
    "internalTrafficPolicy Local is not modelled: istiod sends each proxy only the endpoints on its own "
    "node (filterIstioEndpoint), and dsim, which places pods in zones, not on nodes, sends them all, so "
    "these Services' endpoint sets are larger than Istio's"
)
# Istio object metadata dsim's reader understands; the rest is the cluster's bookkeeping.
_KEPT_METADATA = ("name", "namespace")
CLUSTER_SCOPED = frozenset({"Namespace", "Node"})
"""The kinds read here that live in no namespace."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImportOptions:
    """How to read an inventory where the inventory itself does not say."""

    name: str = "imported"
    """The scenario's name."""
    pod_cidrs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Pod CIDR per family (``ipv4``/``ipv6``), over what the inventory says (kubeadm's ClusterConfiguration)."""
    service_cidrs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Service CIDR per family, the same way."""
    sources: tuple[str, ...] = ()
    """What was read, as the user named it (for the scenario's description)."""


@dataclasses.dataclass
class Imported:
    """An imported mesh: the scenario (plain data, as a scenario file holds it) and what was left out."""

    scenario: dict[str, Any]
    counts: Counter[tuple[str, str]]
    """(kind, ``imported`` or why it was skipped) → objects."""
    notes: list[str]
    """What the import decided that a reader should know (CIDRs assumed, objects refused...)."""

    def skipped(self) -> dict[tuple[str, str], int]:
        return {key: n for key, n in sorted(self.counts.items()) if key[1] != IMPORTED}

    def summary(self) -> list[str]:
        """The counts as lines: imported per kind, then skipped per kind and reason."""
        imported = sorted((kind, n) for (kind, why), n in self.counts.items() if why == IMPORTED)
        lines = ["imported: " + (", ".join(f"{n:,} {kind}" for kind, n in imported) or "nothing")]
        skipped = self.skipped()
        if skipped:
            lines.append(f"skipped ({sum(skipped.values()):,} objects or parts dsim does not model):")
            lines += [f"  {kind}: {why}: {n:,}" for (kind, why), n in skipped.items()]
        return lines + self.notes

    def load(self) -> Scenario:
        """The scenario, loaded and checked as ``dsim run`` would load its file."""
        return scenario_from_dict(self.scenario, source=f"imported scenario {self.scenario['name']!r}")

    def yaml(self) -> str:
        """The scenario file: what was imported and skipped as comments, then the scenario."""
        header = [f"# {line}" for line in self.summary()]
        body = dump_block(self.scenario)
        return "\n".join(header) + "\n" + body


class _Inventory:
    """The records of one inventory, gathered as its objects stream by."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.notes: list[str] = []
        self.namespaces: dict[str, kube.NamespaceRecord] = {}
        self.services: list[kube.ServiceRecord] = []
        self.aliases: list[kube.AliasRecord] = []
        self.slices: list[kube.SliceRecord] = []
        self.legacy_endpoints: list[kube.EndpointRecord] = []
        self.pods: list[kube.PodRecord] = []
        self.host_network_ips: dict[str, set[str]] = defaultdict(set)
        """The addresses of the host-network pods left out, by namespace (istiod finds them by address)."""
        self.controllers: dict[tuple[str, str, str], tuple[str, str] | None] = {}
        self.nodes: dict[str, kube.NodeRecord] = {}
        self.istio: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self.created: dict[tuple[str, str, str], datetime.datetime] = {}
        """(kind, namespace, name) of each Istio object taken → its creation time."""
        self.mesh: dict[str, Any] = {}
        self.mesh_config: dict[str, Any] = {}
        self.kubeadm_cidrs: dict[str, dict[str, str]] = {}
        self.peer_authentications: list[tuple[str, dict[str, Any]]] = []
        self.telemetries: list[tuple[str, str, dict[str, Any]]] = []
        """Telemetry objects (namespace, name, body): their access logging is read at assembly."""
        self.system_labels: dict[str, dict[str, str]] = {}

    @functools.cached_property
    def seen(self) -> set[tuple[str, str, str, str]]:
        """(API group, kind, namespace, name) of every object taken."""
        return set()

    def skip(self, kind: str, reason: str) -> None:
        self.counts[(kind, reason)] += 1

    def take(self, obj: KubeObject) -> None:
        body = obj.body
        if not isinstance(body, dict) or not isinstance(body.get("kind"), str) or not body.get("kind"):
            raise InventoryError(obj.origin, "", _not_an_object(body))
        field = kube.Field(obj)
        if not field.name:
            raise field.fail("metadata.name", "missing")
        group = str(body.get("apiVersion", "")).rpartition("/")[0]
        kind = obj.kind
        identity = (group, kind, field.namespace, field.name)
        if identity in self.seen:  # captures that overlap (`get all` and `get pods`): the first one counts
            self.skip(kind, "in the capture twice (the first copy is read)")
            return
        self.seen.add(identity)
        if group.endswith("istio.io") or group.startswith("gateway.networking.k8s.io"):
            self.take_istio(obj, field, group, kind)
        elif field.namespace in SYSTEM_NAMESPACES or field.namespace == ROOT_NAMESPACE:
            self.take_system(obj, field, kind)
        else:
            self.take_kubernetes(obj, field, kind)

    def take_system(self, obj: KubeObject, field: kube.Field, kind: str) -> None:
        if kind == "ConfigMap" and (field.namespace, field.name) == ("kube-system", "kubeadm-config"):
            self.read_kubeadm(field)
            self.counts[(kind, IMPORTED)] += 1
        elif kind == "ConfigMap" and field.namespace == ROOT_NAMESPACE and field.name == "istio":
            self.read_mesh_config(field)
            self.counts[(kind, IMPORTED)] += 1
        else:
            self.skip(kind, f"in a system namespace ({', '.join((*SYSTEM_NAMESPACES, ROOT_NAMESPACE))})")

    def take_kubernetes(self, obj: KubeObject, field: kube.Field, kind: str) -> None:
        if kind == "Namespace" and (field.name in SYSTEM_NAMESPACES or field.name == ROOT_NAMESPACE):
            # Left out, but the discovery selectors may read the root namespace's labels.
            self.system_labels[field.name] = field.mapping("metadata.labels")
            self.skip(kind, "a system namespace")
        elif kind in self.readers:
            if not field.namespace and kind not in CLUSTER_SCOPED:
                raise _missing_namespace(field)
            record = self.readers[kind](obj)
            if isinstance(record, kube.Skip):
                self.skip(*record)
            else:
                self.counts[(kind, IMPORTED)] += 1
        else:
            self.skip(kind, "not part of what istiod sends a sidecar")

    @functools.cached_property
    def readers(self) -> dict[str, Callable[[KubeObject], object]]:
        """Per kind, what reads an object of it into this inventory (a Skip when it is left out)."""

        def keep(read: Callable[[KubeObject], Any], add: Callable[[Any], None]) -> Callable[[KubeObject], object]:
            def take(obj: KubeObject) -> object:
                record = read(obj)
                if not isinstance(record, kube.Skip):
                    add(record)
                return record

            return take

        readers: dict[str, Callable[[KubeObject], object]] = {
            "Namespace": keep(kube.read_namespace, lambda r: self.namespaces.__setitem__(r.name, r)),
            "Service": self.take_service,
            "EndpointSlice": keep(kube.read_endpoint_slice, self.slices.append),
            "Endpoints": keep(kube.read_endpoints, self.legacy_endpoints.extend),
            "Pod": self.take_pod,
            "Node": keep(kube.read_node, lambda r: self.nodes.__setitem__(r.name, r)),
        }
        owner = keep(kube.read_owner, lambda r: self.controllers.__setitem__(*r))
        return readers | dict.fromkeys(_CONTROLLERS, owner)

    def take_pod(self, obj: KubeObject) -> object:
        record = kube.read_pod(obj)
        if isinstance(record, kube.PodRecord):
            self.pods.append(record)
        elif record == kube.HOST_NETWORK:  # left out, but an endpoint written at its address is its
            self.host_network_ips[str(obj.body["metadata"].get("namespace", ""))].update(kube.pod_addresses(obj))
        return record

    def take_service(self, obj: KubeObject) -> object:
        record = kube.read_service(obj)
        if isinstance(record, kube.AliasRecord):
            self.aliases.append(record)
            for _ in range(record.ports):
                self.skip("Service port", kube.EXTERNAL_NAME_PORT)
        if isinstance(record, kube.ServiceRecord):
            self.services.append(record)
        return record

    def take_istio(self, obj: KubeObject, field: kube.Field, group: str, kind: str) -> None:
        if kind in MODELLED_ISTIO_KINDS and group == API_GROUP:
            if not field.namespace:  # every Istio kind dsim reads is namespaced
                raise _missing_namespace(field)
            clean = {
                "apiVersion": obj.body.get("apiVersion"),
                "kind": kind,
                "metadata": {k: obj.body["metadata"][k] for k in _KEPT_METADATA if k in obj.body["metadata"]},
                "spec": obj.body.get("spec", {}),
            }
            try:
                parse_istio_object(clean, source=obj.origin)
            except ScenarioError as e:
                self.skip(kind, "refused by dsim's reader (see the notes)")
                if len(self.notes) < 20:
                    self.notes.append(f"refused: {e}")
                return
            self.istio[kind].append((obj.origin, clean))
            self.created[(kind, field.namespace, field.name)] = kube.creation_time(field)
            self.counts[(kind, IMPORTED)] += 1
        elif kind == "PeerAuthentication" and self.mesh_wide_mtls(field):
            self.counts[(kind, IMPORTED)] += 1
        else:
            if kind == "Telemetry" and isinstance(obj.body, dict):
                self.telemetries.append((field.namespace, field.name, obj.body))
            self.skip(kind, _NOT_MODELLED.get(kind, "not read by dsim"))

    def mesh_wide_mtls(self, field: kube.Field) -> bool:
        """A root-namespace PeerAuthentication without a selector sets the mesh's mTLS mode."""
        self.peer_authentications.append((field.namespace, field.obj.body))
        if field.namespace != self.mesh_config.get("rootNamespace", ROOT_NAMESPACE) or field.get("spec.selector"):
            return False
        mode = field.get("spec.mtls.mode", "PERMISSIVE")
        if mode not in ("STRICT", "PERMISSIVE", "DISABLE", "UNSET"):
            raise field.fail("spec.mtls.mode", f"{quote(mode)} is not STRICT, PERMISSIVE, DISABLE or UNSET")
        self.mesh["mtls"] = "PERMISSIVE" if mode == "UNSET" else mode
        return True

    def read_kubeadm(self, field: kube.Field) -> None:
        config = _embedded_yaml(field, "data.ClusterConfiguration")
        networking = config.get("networking")
        if not isinstance(networking, dict):
            return  # no subnets or domain stated
        domain = networking.get("dnsDomain")
        if domain is not None:
            # The kubelet's cluster domain, which Service hosts end in (Istio is installed with it).
            if not isinstance(domain, str) or not is_dns1123_subdomain(domain):
                raise field.fail(
                    "data.ClusterConfiguration: networking.dnsDomain",
                    f"{quote(domain)} is not a cluster domain (a lowercase DNS name, such as cluster.local)",
                )
            if domain != Mesh().cluster_domain:
                self.mesh["cluster_domain"] = domain
        for key, target in (("podSubnet", "pod_cidrs"), ("serviceSubnet", "service_cidrs")):
            for text_cidr in str(networking.get(key) or "").split(","):
                if text_cidr.strip():
                    network = _network(field, f"data.ClusterConfiguration: networking.{key}", text_cidr.strip())
                    self.kubeadm_cidrs.setdefault(target, {})[f"ipv{network.version}"] = str(network)

    def read_mesh_config(self, field: kube.Field) -> None:
        self.mesh_config = _embedded_yaml(field, "data.mesh")


_KEYS_SHOWN = 6
_KEYS_TEXT = 80
"""The most keys, and about the most characters of them, a refusal of a mapping that is no
Kubernetes object names."""


def _named_note(services: list[str], note: str) -> str:
    """``note`` after the first three ``services`` it is about, and how many there are in all."""
    more = f", ... ({len(services):,} Services)" if len(services) > 3 else ""
    return f"{', '.join(services[:3])}{more}: {note}"


def _not_an_object(body: Any) -> str:
    scenario_keys = {"services", "workloads", "namespaces", "synthetic", "churn"}
    if isinstance(body, dict) and scenario_keys & set(body):
        return "a dsim scenario, not a cluster capture (keep scenarios out of the files and folders you import)"
    if isinstance(body, dict):  # name what is wrong, not the whole object (a pod is kilobytes)
        kind = body.get("kind")
        problem = "no kind" if kind is None else f"kind {quote(kind, short=True)}, not a name"
        keys: list[str] = []
        for key in list(body)[:_KEYS_SHOWN]:
            if sum(map(len, keys)) > _KEYS_TEXT:
                break
            keys.append(quote(key, short=True))
        more = f", ... ({len(body)} keys)" if len(body) > len(keys) else ""
        return (
            f"not a Kubernetes object ({problem}; expected one with apiVersion, kind and metadata; "
            f"its keys: {', '.join(keys) or 'none'}{more})"
        )
    return f"not a Kubernetes object (expected one with apiVersion, kind and metadata; got {quote(body)})"


def _embedded_yaml(field: kube.Field, path: str) -> dict[str, Any]:
    """The mapping a ConfigMap holds as YAML text at ``path`` (kubeadm's and Istio's configs); empty when
    it holds none or something else."""
    try:
        config = yaml.load(field.get(path, "", expect=str), Loader=CaptureLoader)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None)
        raise field.fail(path, f"not valid YAML ({problem})" if problem else "not valid YAML") from None
    except RecursionError:
        raise field.fail(path, "not valid YAML (nested too deeply)") from None
    return config if isinstance(config, dict) else {}


def _network(field: kube.Field, path: str, text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise field.fail(path, f"{quote(text)} is not a CIDR") from None


def import_objects(objects: Iterable[KubeObject], options: ImportOptions | None = None) -> Imported:
    """The scenario of a cluster's objects (read with :func:`dsim.inventory.read.read_objects`)."""
    options = options or ImportOptions()
    inventory = _Inventory()
    for obj in objects:
        inventory.take(obj)
    return _Assembler(inventory, options).imported()


class _Assembler:
    """Turns the gathered records into scenario data."""

    def __init__(self, inventory: _Inventory, options: ImportOptions) -> None:
        self.inv = inventory
        self.options = options
        self.network = self.cidrs()
        self.origins: dict[str, list[str]] = defaultdict(list)

    def cidrs(self) -> ClusterCidrs:
        chosen = choose_cidrs(
            given={"pod_cidrs": self.options.pod_cidrs, "service_cidrs": self.options.service_cidrs},
            kubeadm=self.inv.kubeadm_cidrs,
            node_ranges=[cidr for node in self.inv.nodes.values() for cidr in node.pod_cidrs],
            addresses={
                "pod_cidrs": [ip for pod in self.inv.pods for ip, _ in pod.ips],
                "service_cidrs": [ip for service in self.inv.services for ip in service.cluster_ips],
            },
        )
        self.inv.notes.extend(chosen.notes())
        return chosen

    def imported(self) -> Imported:
        namespaces = self.namespaces()
        services = self.services(namespaces)
        workloads = self.workloads(namespaces)
        if not any(w["sidecar"] for w in workloads):
            read = sum(self.inv.counts.values())
            raise InventoryError(
                ", ".join(self.options.sources) or "the capture",
                "",
                f"holds no pod with a sidecar ({read:,} objects read, {len(self.inv.pods):,} pods): nothing to model; "
                "did kubectl fail on a kind the cluster lacks (it then prints nothing), or capture other namespaces?",
            )
        data: dict[str, Any] = {
            "name": self.options.name,
            "description": self.description(),
            "seed": 0,
            "visibility": "all",
            "mesh": self.mesh(),
            "network": {
                "service_cidrs": self.network.ranges["service_cidrs"],
                "pod_cidrs": self.network.ranges["pod_cidrs"],
            },
            "namespaces": self.namespace_entries(namespaces),
            "services": services,
            "workloads": workloads,
        }
        aliases = sorted(self.inv.aliases, key=lambda a: (a.namespace, a.name))
        if aliases:  # istiod adds their names to the virtual hosts of the hosts they name (docs/import.md 2)
            data["external_name_services"] = [
                {"name": a.name, "namespace": a.namespace, "external_name": a.target} for a in aliases
            ]
            self.origins["external_name_services"] = [a.origin for a in aliases]
        envoy = self.envoy()
        if envoy:
            data["envoy"] = envoy
        annotated = [name for name, ns in self.inv.namespaces.items() if known(ns.traffic_annotation)]
        entries = [obj["metadata"]["namespace"] for _, obj in self.inv.istio.get("ServiceEntry", [])]
        self.inv.notes.extend(unmodelled_notes(annotated, entries))
        for kind, key in _ISTIO_LISTS.items():
            # The scenario's order stands for the creation order (docs/import.md 2).
            objects = sorted(self.inv.istio.get(kind, []), key=functools.partial(self.creation_order, kind))
            if objects:
                data[key] = [obj for _, obj in objects]
                self.origins[key] = [origin for origin, _ in objects]
        imported = Imported(data, self.inv.counts, self.inv.notes)
        self.check(imported)
        return imported

    def creation_order(self, kind: str, item: tuple[str, dict[str, Any]]) -> tuple[datetime.datetime, str, str, str]:
        """Where an Istio object of ``kind`` stands among its kind: Istio's order
        (``sortConfigByCreationTime``): by creation time, then name, then namespace. A ServiceEntry's
        hosts join the registry's services, which go by creation time, then hostname, then namespace
        (``SortServicesByCreationTime``): entries of one second go by their first host *(the hosts of
        two such entries interleave there; dsim keeps each entry's together)*."""
        namespace, name = item[1]["metadata"]["namespace"], item[1]["metadata"]["name"]
        created = self.inv.created[(kind, namespace, name)]
        if kind == "ServiceEntry":
            return created, min(item[1]["spec"]["hosts"], default=""), namespace, name
        return created, name, namespace, ""

    def description(self) -> str:
        """Where the mesh came from and what was left out of it: every run's report carries it."""
        sources = ", ".join(self.options.sources) or "an inventory"
        left_out: Counter[str] = Counter()
        for (kind, why), n in self.inv.counts.items():
            if why != IMPORTED and not why.startswith(
                ("in a system namespace", "a system namespace", "in the capture twice")
            ):
                left_out[kind] += n
        text = f"Imported by dsim import from {sources}."
        if left_out:
            listed = ", ".join(f"{n:,} {kind}" for kind, n in sorted(left_out.items()))
            text += f" Left out as not modelled (the file's header says why): {listed}."
        return text

    def mesh(self) -> dict[str, Any]:
        mesh = dict(self.inv.mesh)
        config = self.inv.mesh_config
        if isinstance(config.get("trustDomain"), str) and config["trustDomain"]:
            mesh["trust_domain"] = config["trustDomain"]
        policy = config.get("outboundTrafficPolicy")
        if isinstance(policy, dict) and policy.get("mode") in ("ALLOW_ANY", "REGISTRY_ONLY"):
            mesh["outbound_traffic_policy"] = policy["mode"]
        if config.get("h2UpgradePolicy") in ("DO_NOT_UPGRADE", "UPGRADE"):
            mesh["h2_upgrade_policy"] = config["h2UpgradePolicy"]
        mesh.update(mesh_defaults(config, self.inv.notes))
        found = mesh_access_log(config, self.inv.notes)
        mesh.update(telemetry_access_log(config, self.inv.telemetries, self.root_namespace(), found, self.inv.notes))
        for key, field in MESH_EXPORT_DEFAULTS.items():
            values = config.get(key)
            if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
                mesh[field] = values  # the scenario's checks refuse a bad entry, naming it
        selectors = scenario_selectors(config)
        written = config.get("discoverySelectors")
        if written is not None and not isinstance(written, list):
            self.inv.notes.append(
                f"meshConfig.discoverySelectors is {type(written).__name__} {quote(str(written))}, not a list of "
                "label selectors: istiod cannot read such a mesh config; left out (every namespace discovered)"
            )
        if selectors:
            mesh["discovery_selectors"] = selectors
            root = self.root_namespace()
            if "mtls" in mesh and discovers(selectors, root, self.root_labels()) is False:
                del mesh["mtls"]  # istiod ignores the PeerAuthentication of a namespace it does not discover
                self.inv.notes.append(
                    f"the mesh-wide PeerAuthentication in {root} is ignored, as istiod ignores it: "
                    "meshConfig.discoverySelectors does not select that namespace"
                )
        return mesh

    def root_namespace(self) -> str:
        root = self.inv.mesh_config.get("rootNamespace")
        return root if isinstance(root, str) and root else ROOT_NAMESPACE

    def root_labels(self) -> dict[str, str]:
        root = self.root_namespace()
        record = self.inv.namespaces.get(root)
        return record.labels if record is not None else self.inv.system_labels.get(root, {})

    def namespace_entries(self, namespaces: Mapping[str, bool]) -> list[dict[str, Any]]:
        """The scenario's ``namespaces``, each with the labels the discovery selectors read; the
        root namespace too when its labels decide whether its objects count."""
        selectors = scenario_selectors(self.inv.mesh_config)
        keys = read_keys(selectors)
        unknown = sorted(name for name in namespaces if name not in self.inv.namespaces)
        if selectors and unknown:
            self.inv.notes.append(
                f"the capture has no Namespace object for {len(unknown):,} namespaces ({', '.join(unknown[:3])}"
                f"{', ...' if len(unknown) > 3 else ''}): their labels are unknown, so the discovery selectors see "
                "their names alone; capture `kubectl get namespaces` too"
            )
        entries = []
        for name, injection in namespaces.items():
            entry: dict[str, Any] = {"name": name, "sidecar_injection": injection}
            record = self.inv.namespaces.get(name)
            found = record.labels if record is not None else self.inv.system_labels.get(name, {})
            labels = {k: v for k, v in found.items() if k in keys}
            if labels:
                entry["labels"] = labels
            entries.append(entry)
        root = self.root_namespace()
        root_labels = {k: v for k, v in self.root_labels().items() if k in keys}
        if root_labels and root not in namespaces:
            entries.append({"name": root, "sidecar_injection": False, "labels": root_labels})
        return entries

    def envoy(self) -> dict[str, Any]:
        default_config = self.inv.mesh_config.get("defaultConfig")
        concurrency = default_config.get("concurrency") if isinstance(default_config, dict) else None
        if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency > 0:
            return {"concurrency": concurrency}
        return {}

    # namespaces

    def namespaces(self) -> dict[str, bool]:
        """Every namespace the mesh's objects live in, with its injection default, by name."""
        used = {s.namespace for s in self.inv.services} | {p.namespace for p in self.inv.pods}
        used |= {a.namespace for a in self.inv.aliases}
        used |= {obj["metadata"]["namespace"] for items in self.inv.istio.values() for _, obj in items}
        used |= set(self.inv.namespaces)
        return {
            name: bool(self.inv.namespaces[name].injection) if name in self.inv.namespaces else False
            for name in sorted(used)
            if name not in SYSTEM_NAMESPACES
        }

    # services

    def services(self, namespaces: Mapping[str, bool]) -> list[dict[str, Any]]:
        slice_ports: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        slices_of: dict[tuple[str, str], list[kube.SliceRecord]] = defaultdict(list)
        for s in self.inv.slices:
            slice_ports[(s.namespace, s.service)].update(s.ports)
            slices_of[(s.namespace, s.service)].append(s)
        written_of = self.written_services(slices_of)
        out = []
        same_node: list[str] = []
        node_local: list[str] = []
        for record in sorted(self.inv.services, key=lambda r: (r.namespace, r.name)):
            written = written_of.get((record.namespace, record.name))
            if isinstance(written, str):
                self.inv.skip("Service", written)
                self.inv.counts[("Service", IMPORTED)] -= 1
                continue
            for why in record.skipped_ports:
                self.inv.skip("Service port", why)
            for k, ip in enumerate(record.cluster_ips):
                self.inside(
                    record.origin,
                    f"Service {record.namespace}/{record.name}: spec.clusterIPs[{k}]",
                    ip,
                    "service_cidrs",
                )
            service: dict[str, Any] = {
                "name": record.name,
                "namespace": record.namespace,
                "ip_families": list(record.ip_families),
                **({"headless": True} if record.headless else {"cluster_ips": list(record.cluster_ips)}),
                "ports": [self.port(p, slice_ports[(record.namespace, record.name)]) for p in record.ports],
                **({"selector": record.selector} if written is None else {"endpoints": written.endpoints}),
            }
            if written is not None:  # the endpoint port is its slices' port of the name, not targetPort
                for port, out_port in zip(record.ports, service["ports"], strict=True):
                    target = written.target_ports.get(port.name, out_port.get("target_port", port.port))
                    out_port.pop("target_port", None)
                    if target != port.port:
                        out_port["target_port"] = target
            if record.export_to is not None:
                service["export_to"] = record.export_to
            distribution = self.traffic_distribution(record, same_node)
            if distribution is not None:
                service["traffic_distribution"] = distribution
            if record.publish_not_ready:
                service["publish_not_ready_addresses"] = True
            if record.node_local:
                node_local.append(f"{record.namespace}/{record.name}")
            out.append(service)
            self.origins["services"].append(record.origin)
        self.inv.notes.extend(
            _named_note(names, note)
            for names, note in ((same_node, SAME_NODE_NOTE), (node_local, NODE_LOCAL_NOTE))
            if names
        )
        return out

    def written_services(
        self, slices_of: Mapping[tuple[str, str], list[kube.SliceRecord]]
    ) -> dict[tuple[str, str], WrittenService | str]:
        """Each Service without a selector, by (namespace, name): its endpoints written by hand, or
        why it is left out."""
        selectorless = [r for r in self.inv.services if r.selector is None]
        if not selectorless:
            return {}
        legacy: dict[tuple[str, str], list[kube.EndpointRecord]] = defaultdict(list)
        for e in self.inv.legacy_endpoints:
            legacy[(e.namespace, e.service)].append(e)
        pods = pod_addresses(self.inv.pods, self.inv.host_network_ips)

        def is_pod_address(namespace: str, address: str) -> bool:
            return address in pods.get(namespace, ())

        return {
            (r.namespace, r.name): read_written(
                r,
                slices_of.get((r.namespace, r.name), []),
                legacy[(r.namespace, r.name)],
                is_pod_address,
                self.inv.skip,
            )
            for r in selectorless
        }

    def traffic_distribution(self, record: kube.ServiceRecord, changed: list[str]) -> str | None:
        """The Service's distribution as istiod reads it, as dsim models it (its name added to
        ``changed`` where they differ)."""
        namespace = self.inv.namespaces.get(record.namespace)
        found = traffic_distribution(
            record.traffic_distribution,
            record.traffic_annotation,
            namespace.traffic_annotation if namespace is not None else None,
        )
        value = modelled(found)
        if value != found:
            changed.append(f"{record.namespace}/{record.name}")
        return value

    def port(self, port: kube.PortRecord, slice_ports: Mapping[str, int]) -> dict[str, Any]:
        out: dict[str, Any] = {"port": port.port}
        if port.name:
            out["name"] = port.name
        target = port.target_port
        if isinstance(target, str):
            # A named targetPort: the EndpointSlice's port of the same name holds its number.
            resolved = slice_ports.get(port.name)
            if resolved is None:
                self.inv.skip("Service port", "named targetPort with no EndpointSlice port to resolve it (port used)")
                resolved = port.port
            target = resolved
        if target != port.port:
            out["target_port"] = target
        # A udp name needs its protocol said even where it matches: without one the scenario reads UDP.
        implied = None if names_udp(port.name) else protocol_from_port_name(port.name, port.port)
        if port.protocol is not None and port.protocol != implied:
            out["protocol"] = port.protocol
        return out

    def inside(self, origin: str, where: str, ip: str, kind: str) -> None:
        """Refuse an address outside the cluster's stated range for it (:mod:`dsim.inventory.cidrs`)."""
        address = ipaddress.ip_address(ip)
        family = f"ipv{address.version}"
        if not self.network.enforced(kind, family) or self.network.holds(kind, address):
            return
        what = "pod" if kind == "pod_cidrs" else "service"
        raise InventoryError(
            origin,
            where,
            f"{ip} is outside every {what} CIDR [{self.network.describe(kind)}]; "
            f"give the cluster's with {self.network.option(kind)}",
        )

    # workloads

    def workloads(self, namespaces: Mapping[str, bool]) -> list[dict[str, Any]]:
        # A terminating endpoint is written not ready whatever its pod's readiness: the pod says that.
        unready = {
            (e.namespace, e.pod)
            for s in self.inv.slices
            for e in s.endpoints
            if e.pod and not (e.ready or e.terminating)
        }
        unready |= {(e.namespace, e.pod) for e in self.inv.legacy_endpoints if e.pod and not e.ready}
        terminating = {(e.namespace, e.pod) for s in self.inv.slices for e in s.endpoints if e.pod and e.terminating}
        groups: dict[tuple[Any, ...], list[kube.PodRecord]] = defaultdict(list)
        for pod in self.inv.pods:
            for k, (ip, _) in enumerate(pod.ips):
                self.inside(pod.origin, f"Pod {pod.namespace}/{pod.name}: status.podIPs[{k}].ip", ip, "pod_cidrs")
            sidecar = pod.sidecar if pod.sidecar is not None else namespaces.get(pod.namespace, False)
            ready = pod.ready and (pod.namespace, pod.name) not in unready
            ending = pod.deleting or (pod.namespace, pod.name) in terminating
            key = (
                pod.namespace,
                self.controller_name(pod),
                tuple(sorted(pod.labels.items())),
                pod.service_account,
                sidecar,
                tuple(family for _, family in pod.ips),
                ready,
                ending,
            )
            groups[key].append(pod)
        # Every controller's own name is its first group's; a suffix never takes another's (web-2).
        names = _WorkloadNames(own={(k[0], k[1]) for k in groups})
        out = []
        # Ready groups first, terminating ones last, so a controller's ready pods keep its name and the
        # others get a suffix.
        for key in sorted(groups, key=lambda k: (k[0], k[1], k[7], not k[6], -len(groups[k]), k)):
            out.append(self.workload(key, sorted(groups[key], key=lambda p: p.name), names.take(key[0], key[1])))
        return out

    def locality(self, node_name: str) -> tuple[str, str]:
        node = self.inv.nodes.get(node_name)
        return (node.region, node.zone) if node is not None else ("", "")

    def controller_name(self, pod: kube.PodRecord) -> str:
        if pod.owner is None:
            return pod.name
        kind, name = pod.owner
        if kind == "ReplicaSet":
            parent = self.inv.controllers.get(("ReplicaSet", pod.namespace, name))
            if parent is not None:
                return parent[1]
            if pod.template_hash and name.endswith("-" + pod.template_hash):
                return name[: -len(pod.template_hash) - 1]
        return name

    def workload(self, key: tuple[Any, ...], pods: list[kube.PodRecord], name: str) -> dict[str, Any]:
        namespace, _, labels, service_account, sidecar, families, ready, ending = key
        workload: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "replicas": len(pods),
            "labels": dict(labels),
            "service_account": service_account,
            "sidecar": sidecar,
            "ip_families": list(families),
            "pod_ips": [[ip for ip, _ in pod.ips] for pod in pods],
            "pod_names": [pod.name for pod in pods],
        }
        if not ready:
            workload["ready"] = False
        if ending:
            workload["terminating"] = True
        localities = [self.locality(pod.node) for pod in pods]
        if len(set(localities)) > 1:  # spread over zones: each pod's own, one workload as Istio sees it
            workload["pod_localities"] = [{"region": region, "zone": zone} for region, zone in localities]
        elif localities[0] != ("", ""):
            workload["locality"] = {"region": localities[0][0], "zone": localities[0][1]}
        self.origins["workloads"].append(pods[0].origin)
        return workload

    # the result, checked

    def check(self, imported: Imported) -> None:
        """Load the scenario as ``dsim run`` will; a refusal names the inventory object behind it."""
        try:
            imported.load()
        except ScenarioError as e:
            head = e.path.partition(".")[0]
            key, _, index = head.partition("[")
            origins = self.origins.get(key, [])
            position = int(index.rstrip("]")) if index.rstrip("]").isdigit() else -1
            if 0 <= position < len(origins):
                raise InventoryError(origins[position], f"as the scenario's {e.path}", e.message) from None
            raise


@dataclasses.dataclass
class _WorkloadNames:
    """Names for the workloads a namespace's pods group into: a controller's first group takes its
    name, the others ``<name>-2``, ``<name>-3``... skipping any name another controller owns."""

    own: set[tuple[str, str]]
    """(namespace, name) of every controller (or bare pod) behind a group."""
    taken: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    def take(self, namespace: str, base: str) -> str:
        name, n = base, 1
        while (namespace, name) in self.taken or (name != base and (namespace, name) in self.own):
            n += 1
            name = f"{base}-{n}"
        self.taken.add((namespace, name))
        return name


def _missing_namespace(field: kube.Field) -> InventoryError:
    return field.fail(
        "metadata.namespace",
        "missing: a namespaced object needs its namespace, as `kubectl get -o yaml` writes it "
        "(a manifest without one is not a capture of the cluster)",
    )
