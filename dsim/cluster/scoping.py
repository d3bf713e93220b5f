"""Each namespace's minimal Sidecar, derived from the call graph (issue 16 item 6).

Istio's advice for scoping (``docs/istio-objects.md`` 4.2, the Sidecar reference's "namespace-wide
default"): a Sidecar per namespace whose egress hosts are what its workloads call, its own namespace
(``./*``) and ``istio-system/*``. :func:`minimal_sidecars` writes those Sidecars from the cluster's
``dependencies`` table: every service a workload of the namespace calls becomes ``<its namespace>/<its
FQDN>`` (a ServiceEntry host keeps its own name), through the same generator as
``istio_objects.sidecars`` (:func:`dsim.scenario.istio.generate_sidecars`), so the result is what a
user would paste, and passes Istio's validation.

Passed back as a scenario's ``sidecars`` (:func:`dsim.scenario.istio.as_kubernetes_object`), they scope
each proxy to what its namespace calls (:mod:`dsim.cluster.sidecars`; ``tests/test_sidecars.py``).
"""

from __future__ import annotations

from dsim.cluster.tables import Cluster
from dsim.scenario.istio import Sidecar, generate_sidecars
from dsim.scenario.istio.generator_params import SidecarGen
from dsim.scenario.istio.sidecar import IstioEgressListener, SidecarSpec


def minimal_sidecars(
    cluster: Cluster, extra_hosts: tuple[str, ...] = ("istio-system/*",), *, own_namespace: bool = False
) -> tuple[Sidecar, ...]:
    """A namespace-wide Sidecar ``default`` for every namespace that has a sidecar proxy: egress
    hosts ``extra_hosts`` and ``<namespace>/<host>`` of every service its workloads call (sorted,
    each once); with ``own_namespace``, ``./*`` too (the generator's form: a callee in the own
    namespace is then covered by it)."""
    namespaces = cluster.namespaces["name"].to_numpy()
    hosts = cluster.service_hosts().to_numpy()
    service_ns = namespaces[cluster.services["namespace"].to_numpy()]
    workload_ns = namespaces[cluster.workloads["namespace"].to_numpy()]
    with_proxies = sorted(set(namespaces[cluster.proxies["namespace"].to_numpy()].tolist()))
    calls: dict[str, set[str]] = {ns: set() for ns in with_proxies}
    deps = cluster.dependencies
    for workload, service in zip(deps["workload"].tolist(), deps["service"].tolist(), strict=True):
        caller = str(workload_ns[workload])
        if caller in calls:
            calls[caller].add(f"{service_ns[service]}/{hosts[service]}")
    if own_namespace:
        params = SidecarGen(per_namespace=True, extra_hosts=extra_hosts)
        mine = {ns: sorted(c for c in called if not c.startswith(f"{ns}/")) for ns, called in calls.items()}
        return generate_sidecars(with_proxies, mine, params)
    return tuple(
        Sidecar(
            name="default",
            namespace=ns,
            spec=SidecarSpec(egress=(IstioEgressListener(hosts=tuple(sorted({*extra_hosts, *calls[ns]}))),)),
        )
        for ns in with_proxies
    )
