"""The alias domains each proxy's virtual host of a service holds: its ExternalName Services that
its scope keeps, named as its namespace names them (:mod:`dsim.cluster.service_aliases`).

A proxy's scope (:mod:`dsim.cluster.import_scopes`: its Sidecar, or the one its ``visibility``
stands for, or Istio's default scope) decides which aliases it keeps (``matchingAliasService``), and
its namespace which short names each gets. Both paths share this: the generator asks per proxy, the
accounting per scope.
"""

from __future__ import annotations

from dsim.cluster.import_scopes import import_scopes
from dsim.cluster.service_aliases import kept_aliases
from dsim.cluster.tables import Cluster


class AliasScopes:
    """The alias domains of a cluster's services, per import scope and route configuration port."""

    def __init__(self, cluster: Cluster) -> None:
        self.aliases = cluster.istio.service_aliases
        self.scopes = import_scopes(cluster)
        self.sidecars = cluster.istio.sidecars
        self.namespace_names = cluster.namespaces["name"].tolist()
        services = cluster.services
        self.hosts = cluster.service_hosts().tolist()
        self.service_namespace = [self.namespace_names[n] for n in services["namespace"].tolist()]
        self._egress: dict[tuple[int, int], tuple[tuple[str | None, str], ...] | None] = {}
        self._homes: dict[int, frozenset[str]] = {}
        self._memo: dict[tuple[int, tuple[tuple[str | None, str], ...] | None, str], tuple[str, ...]] = {}

    @property
    def any(self) -> bool:
        """Whether some service has an alias."""
        return bool(self.aliases.of_service)

    def has_aliases(self, service: int) -> bool:
        return service in self.aliases.of_service

    def for_scope(self, scope: int, service: int, port: int) -> tuple[str, ...]:
        """The domains ``service``'s aliases add to its virtual host in ``"<port>"`` for the proxies
        of import scope ``scope``. They depend on the scope's egress hosts for that port and on its
        namespace only where that is an alias's own (its short name): scopes alike share them."""
        if not self.has_aliases(service):
            return ()
        if (scope, port) not in self._egress:
            found = self.scopes.egress(self.sidecars, self.namespace_names, scope, port)
            self._egress[(scope, port)] = None if found is None else tuple(found)
        egress = self._egress[(scope, port)]
        if service not in self._homes:
            self._homes[service] = frozenset(a.namespace for a in self.aliases.of_service[service])
        namespace = self.namespace_names[int(self.scopes.namespace[scope])]
        key = (service, egress, namespace if namespace in self._homes[service] else "")
        if key not in self._memo:
            kept = kept_aliases(
                self.aliases.of_service[service], self.hosts[service], self.service_namespace[service], egress
            )
            self._memo[key] = tuple(self.aliases.domains(service, key[2], kept))
        return self._memo[key]

    def for_workload(self, workload: int, service: int, port: int) -> tuple[str, ...]:
        """:meth:`for_scope` for the scope of ``workload`` (a ``workloads`` row)."""
        return self.for_scope(int(self.scopes.of_workload[workload]), service, port)


def alias_scopes(cluster: Cluster) -> AliasScopes:
    """The (cached) :class:`AliasScopes` of ``cluster``."""
    return cluster.keep("alias_scopes", lambda: AliasScopes(cluster))
