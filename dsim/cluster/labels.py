"""Kubernetes label rules the builders share: selection and Istio's canonical names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from dsim.scenario.model import Service

# Istio's precedence for telemetry/workload names (pkg/config/labels: CanonicalService).
_SERVICE_LABELS = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
_REVISION_LABELS = ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")


def labels_by_workload(table: pd.DataFrame) -> dict[int, dict[str, str]]:
    """The ``workload_labels`` table as each workload's labels (workloads without one are absent)."""
    out: dict[int, dict[str, str]] = {}
    for w, key, value in zip(table["workload"].tolist(), table["key"].tolist(), table["value"].tolist(), strict=True):
        out.setdefault(w, {})[key] = value
    return out


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a label selector matches a label set (every selector pair is present)."""
    return all(labels.get(key) == value for key, value in selector.items())


def pod_selector(service: Service) -> Mapping[str, str] | None:
    """The pod labels a resolved Service selects; None for one whose endpoints are written by hand
    (Kubernetes' Service without a selector), which selects no pod, not every pod as ``{}`` would."""
    return None if service.endpoints is not None else service.selector or {}


CLUSTER_LABEL = "topology.istio.io/cluster"
NETWORK_LABEL = "topology.istio.io/network"


def endpoint_labels(pod_labels: Mapping[str, str]) -> dict[str, str]:
    """The labels istiod gives an endpoint of a pod with ``pod_labels`` ({} for one written by hand),
    which a DestinationRule subset's labels must be a subset of (``SubsetOf``): the pod's, with
    Istio's cluster ID (``AugmentLabels``, the default ``Kubernetes``, over any the pod has) and its
    network, none unless the pod's label says one (``buildIstioEndpoint``). ``AugmentLabels``' zone,
    region and node labels are left out: dsim places pods in zones per pod and on no node, where a
    subset selects whole workloads."""
    return {**pod_labels, CLUSTER_LABEL: "Kubernetes", NETWORK_LABEL: pod_labels.get(NETWORK_LABEL, "")}


WRITTEN_ENDPOINT_LABELS = endpoint_labels({})
"""The labels of an endpoint written by hand, with no pod behind it: Istio's own alone."""


def takes_written(subset_labels: Mapping[str, str]) -> bool:
    """Whether a DestinationRule subset of these labels holds a Service's endpoints written by hand:
    one without labels, or with Istio's own alone."""
    return selects(subset_labels, WRITTEN_ENDPOINT_LABELS)


def canonical_service(labels: Mapping[str, str], workload_name: str) -> str:
    return next((labels[k] for k in _SERVICE_LABELS if k in labels), workload_name)


def canonical_revision(labels: Mapping[str, str]) -> str:
    return next((labels[k] for k in _REVISION_LABELS if k in labels), DEFAULT_REVISION)


DEFAULT_REVISION = "latest"
"""The canonical revision of a workload without a revision label (``CanonicalService``)."""


def endpoint_revision(revision: str) -> str:
    """A canonical revision as an endpoint's ``istio.workload`` metadata carries it: the default
    ``latest`` is left out (``AppendLbEndpointMetadata``, Istio 1.18 and later, istio/istio#43422:
    "don't bother sending the default value"); the proxy's own tracing tags keep it."""
    return "" if revision == DEFAULT_REVISION else revision


class WorkloadIndex:
    """Workloads by namespace and label pair, so a selector is tried on the workloads that carry one
    of its pairs rather than on every workload of the mesh."""

    def __init__(self, workloads: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """``workloads``: (namespace, pod labels) per workload, in id order."""
        self.labels = [labels for _, labels in workloads]
        self.by_namespace: dict[str, list[int]] = {}
        self.by_pair: dict[tuple[str, str, str], list[int]] = {}
        for w, (namespace, labels) in enumerate(workloads):
            self.by_namespace.setdefault(namespace, []).append(w)
            for key, value in labels.items():
                self.by_pair.setdefault((namespace, key, value), []).append(w)

    def matches(self, namespace: str, selector: Mapping[str, str]) -> list[int]:
        """The workloads of ``namespace`` that ``selector`` selects, in id order."""
        if not selector:
            return list(self.by_namespace.get(namespace, []))
        candidates = min((self.by_pair.get((namespace, k, v), []) for k, v in selector.items()), key=len)
        return [w for w in candidates if selects(selector, self.labels[w])]
