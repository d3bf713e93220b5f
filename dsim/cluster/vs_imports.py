"""Which VirtualServices a proxy's scope imports, by namespace and egress hosts, without walking
every VirtualService for each scope (``docs/istio-objects.md`` 4.2 and 5.2).

Istio's ``SelectVirtualServices`` (a host of the VirtualService matching an egress host of the
VirtualService's own namespace or of ``*``, either way; its readable twin is in
``tests/test_vs_imports.py``), on an index: VirtualServices by
namespace, their exact hosts by name. A scope without egress hosts (``None``) is Istio's default
scope: every VirtualService exported to the namespace. The result is in the namespace's walk
order (:func:`dsim.cluster.object_views.vs_chain`'s): private, exported to it by name, public,
each in scenario order.
"""

from __future__ import annotations

from collections.abc import Sequence

from dsim.cluster.egress_ports import Egress
from dsim.cluster.hostnames import either_matches, resolve_host
from dsim.cluster.object_views import export_set
from dsim.cluster.port80_hosts import bound_to_mesh
from dsim.scenario.istio import VirtualService


class VirtualServiceImports:
    """The VirtualServices bound to the mesh (those with hosts, or a subset the caller chooses),
    indexed for :meth:`imported`."""

    def __init__(
        self, virtual_services: Sequence[VirtualService], cluster_domain: str, only: Sequence[int] | None = None
    ) -> None:
        """``only``: the rows to index (default: every one bound to the mesh)."""
        rows = [v for v, vs in enumerate(virtual_services) if bound_to_mesh(vs)] if only is None else list(only)
        self._namespace = {v: virtual_services[v].namespace for v in rows}
        self._exports = {v: export_set(virtual_services[v].spec.export_to, virtual_services[v].namespace) for v in rows}
        # As written: Istio's VSMatches compares a VirtualService's hosts with the egress hosts case-sensitively.
        self._hosts = {
            v: [resolve_host(h, virtual_services[v].namespace, cluster_domain) for h in virtual_services[v].spec.hosts]
            for v in rows
        }
        self._public: list[int] = []
        self._private: dict[str, list[int]] = {}
        self._exported: dict[str, list[int]] = {}
        self._by_namespace: dict[str, list[int]] = {}
        self._exact: dict[tuple[str, str], list[int]] = {}  # (its namespace, exact host) -> rows
        self._wildcard: dict[str, list[int]] = {}  # its namespace -> rows with a wildcard host
        for v in rows:
            vs = virtual_services[v]
            exports = self._exports[v]
            if exports is None:
                self._public.append(v)
            else:
                for namespace in sorted(exports):
                    (self._private if namespace == vs.namespace else self._exported).setdefault(namespace, []).append(v)
            self._by_namespace.setdefault(vs.namespace, []).append(v)
            for h in self._hosts[v]:
                if h.startswith("*"):
                    self._wildcard.setdefault(vs.namespace, []).append(v)
                else:
                    self._exact.setdefault((vs.namespace, h), []).append(v)

    def candidates(self, namespace: str) -> tuple[int, ...]:
        """The VirtualServices exported to ``namespace``, in its walk order."""
        return (*self._private.get(namespace, ()), *self._exported.get(namespace, ()), *self._public)

    def imported(self, namespace: str, egress: Egress | None) -> tuple[int, ...]:
        """Of :meth:`candidates`, those egress hosts ``egress`` import (``None``: all), in walk order."""
        found = self.candidates(namespace)
        if egress is None:
            return found
        matched: set[int] = set()
        if (None, "*") in egress:  # */*: every VirtualService exported to it
            return found
        for ns, dns in egress:
            if ns is None:  # */host: a VirtualService of any namespace
                matched.update(v for v in found if v not in matched and self._matches(v, dns))
            elif dns == "*":
                matched.update(self._by_namespace.get(ns, ()))
            elif dns.startswith("*"):
                matched.update(v for v in self._by_namespace.get(ns, ()) if self._matches(v, dns))
            else:
                matched.update(self._exact.get((ns, dns), ()))
                matched.update(v for v in self._wildcard.get(ns, ()) if self._matches(v, dns))
        # Walk order: private, exported to it by name, public; each list in scenario order.
        ranked = []
        for v in matched:
            exports = self._exports[v]
            if exports is None:
                ranked.append((2, v))
            elif namespace in exports:
                ranked.append((0 if self._namespace[v] == namespace else 1, v))
        return tuple(v for _, v in sorted(ranked))

    def imports(self, v: int, egress: Egress) -> bool:
        """Whether egress hosts ``egress`` import VirtualService ``v``, one exported to the proxy's
        namespace (what :meth:`imported` asks of each, for a caller with a few to ask about)."""
        own = self._namespace.get(v)
        if own is None:  # not bound to the mesh (or not among ``only``): nothing imports it
            return False
        return any(self._matches(v, dns) for ns, dns in egress if ns is None or ns == own)

    def _matches(self, v: int, dns: str) -> bool:
        return any(either_matches(dns, h) for h in self._hosts[v])
