"""Which namespace's services a proxy gets for a host that several namespaces define
(``docs/istio-objects.md`` 4.8), as Istio 1.30's sidecar scope picks one (``selectServices`` under
``PILOT_UNIFIED_SIDECAR_SCOPE``, 1.24 on, on by default; ``collectImportedServices`` with
``appendSidecarServices`` and ``pickBestVisibleNamespace``, ``PILOT_SIDECAR_PICK_BEST_SERVICE_NAMESPACE``,
1.30 on, on by default; HEAD orders an all-exact listener's services by creation alone).

A ServiceEntry may name any host, so two teams' entries for ``api.example.com`` in two namespaces,
or an entry in one namespace for another namespace's Kubernetes Service, are two services of one
host. istiod keeps them apart by namespace (``ServiceIndex.HostnameAndNamespace``) and gives each
proxy one namespace's:

- **Imported by an egress listener's hosts** (every proxy: without a Sidecar the egress host is
  ``*/*``), among the host's services the listener takes, in Istio's order (those exported to the
  proxy's namespace by name or ``.`` first, then the public ones; each in creation order): the
  proxy's own namespace's, else a Kubernetes Service's, else the first's.
- **Clusters**, over a Sidecar's listeners in order: the first listener's pick, unless a later one
  brings a Kubernetes Service where an entry came first.
- **A VirtualService's destination** that no egress host imports: the proxy's namespace's service
  of the host (exported there or not), else a Kubernetes Service visible from it, else the oldest
  visible one.

The scenario carries no creation times: its order stands for theirs *(inferred)*, Kubernetes
Services before ServiceEntries, entries in scenario order. Services of one host in one namespace
are one service (the first; :func:`dsim.cluster.service_entries.registry_rows`); this module
chooses only between namespaces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsim.cluster.object_views import Exports, visible_from


class HostOwners:
    """The services of hosts defined in two namespaces or more, and the choice between them."""

    def __init__(
        self, hosts: Sequence[str], service_ns: Sequence[str], kubernetes: Sequence[bool], exports: Sequence[Exports]
    ) -> None:
        self.service_ns = list(service_ns)
        self.kubernetes = list(kubernetes)
        self.exports = list(exports)
        rows_of: dict[str, list[int]] = {}
        for row, host in enumerate(hosts):
            rows_of.setdefault(host, []).append(row)
        self.rows_of = rows_of
        self.contested = {
            host: np.asarray(rows, np.int64)
            for host, rows in rows_of.items()
            if len({self.service_ns[r] for r in rows}) > 1
        }
        """Per host with services in two namespaces or more: its rows, in scenario order."""
        self._contested_rows = (
            np.concatenate(list(self.contested.values())) if self.contested else np.empty(0, np.int64)
        )
        self._dropped: dict[tuple[str, bytes], np.ndarray] = {}
        """Per (namespace, which contested rows a mask holds): the rows :meth:`keep` drops. Proxies of
        one namespace mostly import the same ones, so the walk runs once per namespace."""

    def __bool__(self) -> bool:
        return bool(self.contested)

    def keep(self, mask: np.ndarray, namespace: str) -> np.ndarray:
        """Of ``mask`` (services a proxy of ``namespace`` imports, each exported to it), each host's
        services of one namespace: the one ``selectServices`` keeps."""
        if not self.contested:
            return mask
        key = (namespace, mask[self._contested_rows].tobytes())
        if key not in self._dropped:
            dropped: list[int] = []
            for rows in self.contested.values():
                taken = rows[mask[rows]].tolist()
                if len(taken) > 1:
                    owner = self._imported_owner(taken, namespace)
                    dropped.extend(row for row in taken if self.service_ns[row] != owner)
            self._dropped[key] = np.asarray(dropped, np.int64)
        kept = mask.copy()
        kept[self._dropped[key]] = False
        return kept

    def _imported_owner(self, rows: list[int], namespace: str) -> str:
        # Istio's order: exported to the namespace by name (or private to it), then public.
        ordered = sorted(rows, key=lambda r: (self.exports[r] is None, r))
        owner = self.service_ns[ordered[0]]
        owner_kube = self.kubernetes[ordered[0]]
        for row in ordered[1:]:
            ns, kube = self.service_ns[row], self.kubernetes[row]
            # The proxy's namespace wins; else a Kubernetes Service wins over an entry.
            if ns == namespace or (kube and not owner_kube and owner != namespace):
                owner, owner_kube = ns, kube
        return owner

    def merged(self, listeners: Sequence[np.ndarray]) -> np.ndarray:
        """The services a Sidecar's clusters come from, given each egress listener's (in order, each
        holding one namespace's services of a host): their union, a host's first listener's namespace
        kept, unless a later one brings a Kubernetes Service where an entry came first
        (``collectImportedServices`` through ``appendSidecarServices``)."""
        union = np.zeros_like(listeners[0]) if listeners else np.zeros(0, bool)
        for mask in listeners:
            union |= mask
        if not self.contested:
            return union
        for rows in self.contested.values():
            if len({self.service_ns[r] for r in rows[union[rows]].tolist()}) < 2:
                continue
            owner: str | None = None
            owner_kube = False
            for mask in listeners:
                taken = rows[mask[rows]].tolist()
                if not taken:
                    continue
                kube = any(self.kubernetes[r] for r in taken)
                if owner is None or (kube and not owner_kube):
                    owner, owner_kube = self.service_ns[taken[0]], kube
            union[[r for r in rows.tolist() if self.service_ns[r] != owner]] = False
        return union

    def destination(self, host: str, namespace: str) -> int | None:
        """The service a VirtualService destination ``host`` names for a proxy of ``namespace``
        (``None``: none there or visible from it)."""
        rows = self.rows_of.get(host)
        if not rows:
            return None
        # One service per namespace, its first (Kubernetes Services come first): HostnameAndNamespace.
        first: dict[str, int] = {}
        for row in rows:
            first.setdefault(self.service_ns[row], row)
        if namespace in first:
            return first[namespace]
        visible = [r for r in first.values() if visible_from(self.exports[r], namespace)]
        kube = [r for r in visible if self.kubernetes[r]]
        chosen = kube or visible
        return chosen[0] if chosen else None

    def same_host(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` with every service sharing a host with one of its services: a host already
        imported, whichever namespace's service it is, takes no destination of that host."""
        if not self.contested:
            return mask
        out = mask.copy()
        for rows in self.contested.values():
            if mask[rows].any():
                out[rows] = True
        return out
