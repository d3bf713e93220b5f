"""Small cluster captures for the import tests, and importing one held in memory."""

from __future__ import annotations

from typing import Any

from dsim.inventory.assemble import Imported, ImportOptions, import_objects
from dsim.inventory.read import KubeObject


def imported_from(objects: list[Any], options: ImportOptions | None = None) -> Imported:
    """``dsim import`` of ``objects`` as one capture's items (origins ``items[<n>]``)."""
    return import_objects((KubeObject(body=obj, origin=f"items[{k}]") for k, obj in enumerate(objects)), options)


def web_pod(name: str, ips: list[str], *, labels: dict[str, str] | None = None, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app": "web", "pod-template-hash": "5d8f7", **(labels or {})},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7", "controller": True}
            ],
        },
        "spec": {"serviceAccountName": "web", "containers": [{"name": "web"}, {"name": "istio-proxy"}]},
        "status": {
            "phase": "Running",
            "podIPs": [{"ip": ip} for ip in ips],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def small_inventory() -> list[dict[str, Any]]:
    """A namespace, a dual-stack Service and three pods (one unready), as kubectl prints them."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"istio-injection": "enabled"}},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10", "fd00:10:96::a"],
                "ipFamilies": ["IPv4", "IPv6"],
                "ipFamilyPolicy": "RequireDualStack",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
                "selector": {"app": "web"},
            },
        },
        web_pod("web-5d8f7-aaaaa", ["10.244.0.5", "fd00:10:244::5"]),
        web_pod("web-5d8f7-bbbbb", ["10.244.0.6", "fd00:10:244::6"]),
        web_pod("web-5d8f7-ccccc", ["10.244.0.7", "fd00:10:244::7"], ready=False),
    ]
