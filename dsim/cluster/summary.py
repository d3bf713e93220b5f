"""What is in a cluster, counted: by namespace, by IP family, by protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.cluster.tables import Cluster

FAMILY_ORDER = ["IPv4", "IPv6", "IPv4,IPv6", "IPv6,IPv4"]


def _count_by(index: pd.Index, ids: np.ndarray, name: str) -> pd.Series:
    return pd.Series(np.bincount(ids, minlength=len(index)), index=index, name=name)


def _pod_families(has4: pd.Series, has6: pd.Series) -> np.ndarray:
    return np.select([has4 & has6, has4], ["dual-stack", "IPv4 only"], "IPv6 only")


def by_namespace(c: Cluster) -> pd.DataFrame:
    """Per namespace: services (dual-stack among them), ports, workloads, pods, sidecars."""
    index = pd.Index(c.namespaces["name"], name="namespace")
    svc_ns = c.services["namespace"].to_numpy()
    dual = (c.services["has_ipv4"] & c.services["has_ipv6"]).to_numpy()
    pod_ns = c.workloads["namespace"].to_numpy()[c.pods["workload"].to_numpy()]
    return pd.concat(
        [
            _count_by(index, svc_ns, "services"),
            _count_by(index, svc_ns[dual], "dual_stack_services"),
            _count_by(index, svc_ns[c.service_ports["service"].to_numpy()], "service_ports"),
            _count_by(index, c.workloads["namespace"].to_numpy(), "workloads"),
            _count_by(index, pod_ns, "pods"),
            _count_by(index, c.proxies["namespace"].to_numpy(), "sidecars"),
        ],
        axis=1,
    ).reset_index()


def largest_namespaces(table: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, pd.Series | None]:
    """The ``limit`` namespaces of a :func:`by_namespace` table with the most sidecars (then
    services, then by name), largest first, and the sum of the rest's columns (None when none is
    left out), so a mesh of hundreds of namespaces reads in one screen."""
    ordered = table.sort_values(["sidecars", "services", "namespace"], ascending=[False, False, True], kind="stable")
    shown, rest = ordered.head(limit), ordered.iloc[limit:]
    return shown, (rest.drop(columns="namespace").sum() if len(rest) else None)


def by_ip_family(c: Cluster) -> pd.DataFrame:
    """Services by ``ip_families``; pods and sidecars by the families of their IPs."""
    services = c.services["ip_families"].astype(str).value_counts().reindex(FAMILY_ORDER, fill_value=0)
    rows = [("services", family, int(n)) for family, n in services.items()]
    pod_family = pd.Series(_pod_families(c.pods["has_ipv4"], c.pods["has_ipv6"]))
    for kind, families in (("pods", pod_family), ("sidecars", pod_family.iloc[c.proxies["pod"].to_numpy()])):
        counts = families.value_counts().reindex(["IPv4 only", "IPv6 only", "dual-stack"], fill_value=0)
        rows += [(kind, family, int(n)) for family, n in counts.items()]
    frame = pd.DataFrame(rows, columns=["object", "ip_families", "count"])
    totals = frame.groupby("object", sort=False)["count"].transform("sum")
    frame["share"] = (frame["count"] / totals.where(totals > 0, 1)).round(4)
    return frame


def by_protocol(c: Cluster) -> pd.DataFrame:
    """Service ports by protocol as Istio reads it (a TLS, HTTPS or Mongo port, which a sidecar serves
    as TCP, under its own), with how many distinct port numbers each uses."""
    ports = c.service_ports.assign(protocol=c.service_ports["istio_protocol"].astype(str))
    grouped = ports.groupby("protocol", sort=True)
    frame = pd.DataFrame(
        {"service_ports": grouped.size(), "distinct_port_numbers": grouped["port"].nunique()}
    ).reset_index()
    frame["share"] = (frame["service_ports"] / max(len(ports), 1)).round(4)
    return frame


def totals(c: Cluster) -> pd.DataFrame:
    """One row of object counts."""
    dual_services = int((c.services["has_ipv4"] & c.services["has_ipv6"]).sum())
    dual_proxies = int((c.pods["has_ipv4"] & c.pods["has_ipv6"]).to_numpy()[c.proxies["pod"].to_numpy()].sum())
    return pd.DataFrame(
        [
            {
                "namespaces": len(c.namespaces),
                "services": len(c.services),
                "dual_stack_services": dual_services,
                "service_ports": len(c.service_ports),
                "subsets": len(c.subsets),
                "workloads": len(c.workloads),
                "pods": len(c.pods),
                "sidecars": len(c.proxies),
                "dual_stack_sidecars": dual_proxies,
                "localities": len(c.localities),
                "call_graph_edges": len(c.dependencies),
            }
        ]
    )


def summarize(c: Cluster) -> dict[str, pd.DataFrame]:
    """Every summary table by name."""
    return {
        "totals": totals(c),
        "by_namespace": by_namespace(c),
        "by_ip_family": by_ip_family(c),
        "by_protocol": by_protocol(c),
    }
