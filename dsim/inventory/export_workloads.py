"""The pod side of an exported inventory: Nodes, Deployments, ReplicaSets, Pods and EndpointSlices.

A cluster holds pods as columns; these generators turn them into the objects the API server would
list, one at a time, so an inventory of 200,000 pods is written without ever holding them as
dicts. :class:`PodColumns` reads the columns once (names, IP texts, owners, nodes) and every kind
is drawn from it. What only exists in a real cluster (node names, container images, the injector's
marks on a pod) is made up plausibly and deterministically; what dsim models (labels, service
accounts, sidecars, readiness, IPs of each family, which pods back which Service) is exact.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dsim.cluster.headless import kubernetes_rows, telemetry_names
from dsim.cluster.labels import pod_selector
from dsim.cluster.tables import Cluster
from dsim.inventory.export_meta import generated_name, metadata, object_uid, owner_reference, safe_suffix
from dsim.scenario.model import IpFamily, Service, WrittenEndpoint

#: Endpoints the EndpointSlice controller puts in one slice (``--max-endpoints-per-slice``'s default).
MAX_ENDPOINTS_PER_SLICE = 1000
#: Pods a node runs at most (the kubelet's ``maxPods`` default), which decides how many Nodes there are.
PODS_PER_NODE = 110
PROXY_IMAGE = "docker.io/istio/proxyv2:1.24.0"
_SIDECAR_INJECT = "sidecar.istio.io/inject"
_TEMPLATE_HASH = "pod-template-hash"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PodColumns:
    """The cluster's workloads and pods as plain lists, read once for every kind drawn from them
    (a pandas row lookup per pod would cost more than writing the pod)."""

    name: list[str]
    """Each workload's (Deployment's) name."""
    namespace: list[str]
    """Namespace name of each workload."""
    replicas: list[int]
    service_account: list[str]
    sidecar: list[bool]
    canonical: list[tuple[str, str]]
    """Each workload's canonical service and revision (Istio's telemetry names)."""
    labels: list[dict[str, str]]
    """Pod labels of each workload (as the Deployment's template carries them)."""
    template_hash: list[str]
    """Each workload's ``pod-template-hash`` (its ReplicaSet's name suffix)."""
    ready: list[bool]
    """Whether each workload's pods are ready (only explicit workloads can be unready)."""
    terminating: list[bool]
    """Whether each workload's pods are being deleted (only explicit workloads can be)."""
    injection_annotation: list[dict[str, str]]
    """``sidecar.istio.io/inject`` where a workload's sidecar differs from its namespace's injection."""
    first_pod: list[int]
    """Row of each workload's first pod (pods are grouped by workload)."""
    ip_order: tuple[IpFamily, ...]
    """The order of a pod's IPs: the cluster's family order (the node's pod CIDRs), whatever a workload
    names first; on kind's IPv4-primary cluster an IPv6 workload's pod still lists its IPv4 first."""
    pod_name: list[str]
    pod_uid: list[str]
    pod_ip: dict[IpFamily, list[str]]
    """Each pod's address of each family ("" where it has none)."""
    pod_node: list[str]
    pod_zone: list[str]
    revision: str
    """The Istio revision that injected the sidecars."""

    @staticmethod
    def of(cluster: Cluster) -> PodColumns:
        workloads, pods = cluster.workloads, cluster.pods
        ns_names = cluster.namespaces["name"].to_numpy()
        namespace = ns_names[workloads["namespace"].to_numpy()].tolist()
        names = workloads["name"].tolist()
        pod_name = cluster.pod_names().tolist()
        pod_namespace = np.asarray(namespace, dtype=object)[pods["workload"].to_numpy()].tolist()
        ip_text = cluster.pod_ip_text()
        node, zone = _pod_nodes(cluster)
        replicas = workloads["replicas"].to_numpy().astype(np.int64)
        injection = cluster.namespaces["sidecar_injection"].to_numpy()[workloads["namespace"].to_numpy()]
        sidecar = workloads["sidecar"].tolist()
        order = cluster.scenario.network.pod_ip_families
        return PodColumns(
            name=names,
            namespace=namespace,
            replicas=replicas.tolist(),
            service_account=workloads["service_account"].tolist(),
            sidecar=sidecar,
            canonical=list(
                zip(workloads["canonical_service"].tolist(), workloads["canonical_revision"].tolist(), strict=True)
            ),
            labels=_workload_labels(cluster),
            template_hash=[safe_suffix(f"{ns}/{name}", 10) for ns, name in zip(namespace, names, strict=True)],
            ready=workloads["ready"].tolist(),
            terminating=workloads["terminating"].tolist(),
            injection_annotation=[
                {} if has == injected else {_SIDECAR_INJECT: str(has).lower()}
                for has, injected in zip(sidecar, injection.tolist(), strict=True)
            ],
            first_pod=(np.cumsum(replicas) - replicas).tolist(),
            ip_order=tuple(order) + tuple(f for f in ("IPv4", "IPv6") if f not in order),
            pod_name=pod_name,
            pod_uid=[object_uid("Pod", ns, name) for ns, name in zip(pod_namespace, pod_name, strict=True)],
            pod_ip={"IPv4": ip_text["ipv4"].tolist(), "IPv6": ip_text["ipv6"].tolist()},
            pod_node=node,
            pod_zone=zone,
            revision=cluster.scenario.mesh.revision,
        )

    def pods_of(self, workload: int) -> range:
        start = self.first_pod[workload]
        return range(start, start + self.replicas[workload])


def _workload_labels(cluster: Cluster) -> list[dict[str, str]]:
    labels: list[dict[str, str]] = [{} for _ in range(len(cluster.workloads))]
    table = cluster.workload_labels
    for w, key, value in zip(table["workload"].tolist(), table["key"].tolist(), table["value"].tolist(), strict=True):
        labels[w][key] = value
    return labels


def _node_base(zone: str) -> str:
    """A node name prefix from a zone (lower case, DNS characters), kind's ``kind-worker`` without one."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", zone.lower()).strip("-")
    return f"{cleaned}-worker" if cleaned else "kind-worker"


def _pod_nodes(cluster: Cluster) -> tuple[list[str], list[str]]:
    """Each pod's node and zone: the pods of a locality filled onto its nodes in order, at most
    :data:`PODS_PER_NODE` a node (dsim knows localities, not nodes)."""
    locality = cluster.pods["locality"].to_numpy()
    rank = pd.Series(locality).groupby(locality).cumcount().to_numpy()
    zones = cluster.localities["zone"].tolist()
    bases = [_node_base(z) for z in zones]
    if len(set(bases)) < len(bases):  # zones that differ only in case or punctuation keep their own nodes
        bases = [f"{base}-l{i}" for i, base in enumerate(bases)]
    nodes = [f"{bases[loc]}-{k}" for loc, k in zip(locality.tolist(), (rank // PODS_PER_NODE).tolist(), strict=True)]
    return nodes, [zones[loc] for loc in locality.tolist()]


def nodes(cluster: Cluster, columns: PodColumns) -> Iterator[dict[str, Any]]:
    """One Node per node the pods run on, labeled with its locality (how istiod learns a pod's
    region and zone), sorted by name."""
    localities = cluster.localities
    locality_of = dict(zip(columns.pod_node, cluster.pods["locality"].tolist(), strict=True))
    for name in sorted(locality_of):
        locality = locality_of[name]
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        region, zone = str(localities.at[locality, "region"]), str(localities.at[locality, "zone"])
        if region:
            labels["topology.kubernetes.io/region"] = region
        if zone:
            labels["topology.kubernetes.io/zone"] = zone
        yield {"apiVersion": "v1", "kind": "Node", "metadata": metadata("Node", "", name, labels=labels)}


def _workload_order(columns: PodColumns) -> list[int]:
    """Workload rows in the order the API server lists them (by namespace, then name)."""
    frame = pd.DataFrame({"ns": columns.namespace, "name": columns.name})
    return frame.sort_values(["ns", "name"], kind="stable").index.tolist()


def _containers(columns: PodColumns, workload: int, injected: bool) -> list[dict[str, Any]]:
    """A pod's containers: the application's, and ``istio-proxy`` once injected (Istio's webhook adds
    it to the pod as it is created; the Deployment's template never has it)."""
    app_name = columns.canonical[workload][0]
    app = {"name": app_name, "image": f"registry.example/{app_name}:latest"}
    if not injected:
        return [app]
    return [app, {"name": "istio-proxy", "image": PROXY_IMAGE}]


def _template(columns: PodColumns, workload: int, labels: dict[str, str]) -> dict[str, Any]:
    """A pod template (Deployment's and ReplicaSet's): labels, the injection opt-out or opt-in, the spec."""
    meta: dict[str, Any] = {"labels": labels}
    if columns.injection_annotation[workload]:
        meta["annotations"] = columns.injection_annotation[workload]
    return {
        "metadata": meta,
        "spec": {
            "containers": _containers(columns, workload, injected=False),
            "serviceAccountName": columns.service_account[workload],
        },
    }


def _replica_status(replicas: int, ready: bool) -> dict[str, Any]:
    shown = replicas if ready else 0
    status: dict[str, Any] = {"observedGeneration": 1, "replicas": replicas}
    if shown:
        status |= {"readyReplicas": shown, "availableReplicas": shown}
    return status


def _desired_replicas(columns: PodColumns, workload: int) -> int:
    """A workload's replicas as its controllers count them: none for terminating pods, which a
    ReplicaSet no longer counts (they are what a scale-down or a rollout is removing)."""
    return 0 if columns.terminating[workload] else columns.replicas[workload]


def deployments(columns: PodColumns) -> Iterator[dict[str, Any]]:
    """One Deployment per workload, its replicas and pod labels as dsim has them."""
    for w in _workload_order(columns):
        ns, labels, replicas = columns.namespace[w], columns.labels[w], _desired_replicas(columns, w)
        yield {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(
                "Deployment",
                ns,
                columns.name[w],
                labels=labels,
                annotations={"deployment.kubernetes.io/revision": "1"},
                generation=True,
            ),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": _template(columns, w, labels),
            },
            "status": _replica_status(replicas, columns.ready[w]) | {"updatedReplicas": replicas},
        }


def _hashed_labels(columns: PodColumns, workload: int) -> dict[str, str]:
    return columns.labels[workload] | {_TEMPLATE_HASH: columns.template_hash[workload]}


def _replica_set_name(columns: PodColumns, workload: int) -> str:
    return f"{columns.name[workload]}-{columns.template_hash[workload]}"


def replica_sets(columns: PodColumns) -> Iterator[dict[str, Any]]:
    """The ReplicaSet each Deployment owns (its one revision), selecting its pods by ``pod-template-hash``."""
    for w in _workload_order(columns):
        ns, labels, replicas = columns.namespace[w], _hashed_labels(columns, w), _desired_replicas(columns, w)
        annotations = {
            "deployment.kubernetes.io/desired-replicas": str(replicas),
            "deployment.kubernetes.io/max-replicas": str(replicas + (replicas + 3) // 4),  # maxSurge 25%
            "deployment.kubernetes.io/revision": "1",
        }
        yield {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": metadata(
                "ReplicaSet",
                ns,
                _replica_set_name(columns, w),
                labels=labels,
                annotations=annotations,
                owner=owner_reference("apps/v1", "Deployment", ns, columns.name[w]),
                generation=True,
            ),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": _template(columns, w, labels),
            },
            "status": _replica_status(replicas, columns.ready[w]) | {"fullyLabeledReplicas": replicas},
        }


def _injected_marks(columns: PodColumns, workload: int) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotation Istio's injector adds to a pod it gives a sidecar."""
    service, revision = columns.canonical[workload]
    labels = {
        "security.istio.io/tlsMode": "istio",
        "service.istio.io/canonical-name": service,
        "service.istio.io/canonical-revision": revision,
    }
    status = {
        "initContainers": ["istio-init"],
        "containers": ["istio-proxy"],
        "volumes": ["istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"],
        "imagePullSecrets": None,
        "revision": columns.revision,
    }
    return labels, {"sidecar.istio.io/status": json.dumps(status, separators=(",", ":"))}


def _pod_status(columns: PodColumns, workload: int, pod: int) -> dict[str, Any]:
    ready = "True" if columns.ready[workload] else "False"
    ips = [columns.pod_ip[f][pod] for f in columns.ip_order if columns.pod_ip[f][pod]]
    status: dict[str, Any] = {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": ready},
            {"type": "Ready", "status": ready},
        ],
    }
    if ips:
        status |= {"podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]}
    return status


def pods(columns: PodColumns) -> Iterator[dict[str, Any]]:
    """Every pod, owned by its workload's ReplicaSet, with its node, IPs of each family and readiness."""
    for w in _workload_order(columns):
        ns = columns.namespace[w]
        labels, annotations = _hashed_labels(columns, w), dict(columns.injection_annotation[w])
        if columns.sidecar[w]:
            marks, status = _injected_marks(columns, w)
            labels, annotations = labels | marks, annotations | status
        owner = owner_reference("apps/v1", "ReplicaSet", ns, _replica_set_name(columns, w))
        spec = _template(columns, w, labels)["spec"] | {"containers": _containers(columns, w, columns.sidecar[w])}
        for pod in sorted(columns.pods_of(w), key=columns.pod_name.__getitem__):
            meta = metadata("Pod", ns, columns.pod_name[pod], labels=labels, annotations=annotations, owner=owner)
            yield {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": _deleting(meta) if columns.terminating[w] else meta,
                "spec": spec | {"nodeName": columns.pod_node[pod]},
                "status": _pod_status(columns, w, pod),
            }


@dataclasses.dataclass(frozen=True)
class SliceService:
    """What an EndpointSlice needs of its Service."""

    namespace: str
    name: str
    families: tuple[IpFamily, ...]
    ports: list[dict[str, Any]]
    """The slice's ``ports``: each Service port's name, target port and appProtocol."""
    workloads: list[int]
    """The workloads it selects, ready or not."""
    publish_not_ready: bool = False
    """Its ``spec.publishNotReadyAddresses``: every endpoint is written ready."""


def endpoint_slices(columns: PodColumns, service: SliceService) -> Iterator[dict[str, Any]]:
    """The EndpointSlices of one Service: per address family, its pods' endpoints in slices of at
    most :data:`MAX_ENDPOINTS_PER_SLICE` (a family without endpoints still has one, empty)."""
    owner = owner_reference("v1", "Service", service.namespace, service.name)
    labels = {
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "kubernetes.io/service-name": service.name,
    }
    for family in service.families:
        addresses = columns.pod_ip[family]
        endpoints = [
            _endpoint(columns, w, pod, addresses[pod], service.publish_not_ready)
            for w in service.workloads
            for pod in columns.pods_of(w)
            if addresses[pod]
        ]
        yield from _family_slices(
            service, family, endpoints, labels, owner, f"{service.namespace}/{service.name}/{family}"
        )


def _family_slices(
    service: SliceService,
    family: IpFamily,
    endpoints: list[dict[str, Any]],
    labels: dict[str, str],
    owner: dict[str, Any] | None,
    seed: str,
) -> Iterator[dict[str, Any]]:
    """One family's ``endpoints`` of ``service`` in slices of at most :data:`MAX_ENDPOINTS_PER_SLICE`
    (one, empty, where there are none), named from ``seed`` and the chunk's number."""
    for chunk, start in enumerate(range(0, max(len(endpoints), 1), MAX_ENDPOINTS_PER_SLICE)):
        generate, name = generated_name(service.name, f"{seed}/{chunk}")
        yield {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": metadata(
                "EndpointSlice",
                service.namespace,
                name,
                labels=labels,
                owner=owner,
                generate_name=generate,
                generation=True,
            ),
            "addressType": family,
            # The API server prints a slice without endpoints as ``endpoints: null``.
            "endpoints": endpoints[start : start + MAX_ENDPOINTS_PER_SLICE] or None,
            "ports": service.ports,
        }


def written_slices(service: SliceService, endpoints: Sequence[WrittenEndpoint]) -> Iterator[dict[str, Any]]:
    """The EndpointSlices written by hand for a Service without a selector: per family of it, the
    endpoints of that family in slices of at most :data:`MAX_ENDPOINTS_PER_SLICE` (one, empty, where
    it has none), no pod behind any (no ``targetRef``, no node), and no controller's label or owner.
    An unready one says it is not terminating, as istiod needs to send it (an unready endpoint that
    does not say so is a terminating one to istiod)."""
    for family in service.families:
        version = 4 if family == "IPv4" else 6
        mine = [
            {
                "addresses": [e.address],
                "conditions": {"ready": True} if e.ready else {"ready": False, "terminating": False},
            }
            for e in endpoints
            if ipaddress.ip_address(e.address).version == version
        ]
        labels = {"kubernetes.io/service-name": service.name}
        yield from _family_slices(
            service, family, mine, labels, None, f"{service.namespace}/{service.name}/{family}/written"
        )


def _deleting(meta: dict[str, Any]) -> dict[str, Any]:
    """A terminating pod's ``metadata``: deleted an hour after its creation, with the default grace
    period, in ObjectMeta's field order."""
    created = datetime.datetime.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    deleted = (created + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: dict[str, Any] = {}
    for key, value in meta.items():
        out[key] = value
        if key == "creationTimestamp":
            out |= {"deletionTimestamp": deleted, "deletionGracePeriodSeconds": 30}
    return out


def _endpoint(columns: PodColumns, workload: int, pod: int, address: str, publish: bool) -> dict[str, Any]:
    serving = columns.ready[workload]
    terminating = columns.terminating[workload]
    endpoint: dict[str, Any] = {
        "addresses": [address],
        # The EndpointSlice controller writes ready as serving and not terminating, or as
        # publishNotReadyAddresses (podToEndpoint).
        "conditions": {
            "ready": (serving and not terminating) or publish,
            "serving": serving,
            "terminating": terminating,
        },
        "targetRef": {
            "kind": "Pod",
            "namespace": columns.namespace[workload],
            "name": columns.pod_name[pod],
            "uid": columns.pod_uid[pod],
        },
        "nodeName": columns.pod_node[pod],
    }
    if columns.pod_zone[pod]:
        endpoint["zone"] = columns.pod_zone[pod]
    return endpoint


def service_workloads(cluster: Cluster) -> list[list[int]]:
    """The workloads each service selects, the unready ones included (their slices list them,
    ``ready: false``), in workload order."""
    selected: list[list[int]] = [[] for _ in range(len(cluster.services))]
    table = cluster.service_workloads
    for s, w in zip(table["service"].tolist(), table["workload"].tolist(), strict=True):
        selected[s].append(w)
    return [sorted(workloads) for workloads in selected]


def explicit_rows(cluster: Cluster) -> dict[int, Service]:
    """The scenario's Service behind each row of ``cluster.services`` that one wrote out, by
    namespace and name: not by position, since the Services of namespaces istiod does not
    discover have no row (``mesh.discovery_selectors``)."""
    by_key = {(svc.namespace, svc.name): svc for svc in cluster.scenario.services}
    services = cluster.services
    namespaces = cluster.namespaces["name"].to_numpy()[services["namespace"].to_numpy()].tolist()
    entries = cluster.istio.service_entries
    names = telemetry_names(services["name"].tolist(), services["entry"].to_numpy(), entries)
    written = (~services["synthetic"].to_numpy() & kubernetes_rows(services["entry"].to_numpy(), entries)).tolist()
    return {row: by_key[(namespaces[row], names[row])] for row, kept in enumerate(written) if kept}


def explicit_selector(service: Service) -> dict[str, str] | None:
    """A resolved explicit Service's selector (``app: <name>`` unless written; never ``{}``, which the
    scenario refuses: Kubernetes reads it as no selector); None for one with endpoints written by hand."""
    selector = pod_selector(service)
    return None if selector is None else dict(selector)
