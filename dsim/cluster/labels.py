"""Kubernetes label rules the builders share: selection and Istio's canonical names."""

from __future__ import annotations

from collections.abc import Mapping

# Istio's precedence for telemetry/workload names (pkg/config/labels: CanonicalService).
_SERVICE_LABELS = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
_REVISION_LABELS = ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a label selector matches a label set (every selector pair is present)."""
    return all(labels.get(key) == value for key, value in selector.items())


def canonical_service(labels: Mapping[str, str], workload_name: str) -> str:
    return next((labels[k] for k in _SERVICE_LABELS if k in labels), workload_name)


def canonical_revision(labels: Mapping[str, str]) -> str:
    return next((labels[k] for k in _REVISION_LABELS if k in labels), "latest")
