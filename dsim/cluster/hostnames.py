"""Hosts as istiod reads them: a short name resolved against the object's namespace, matched
against another, wildcards either way, and the short names a proxy's virtual hosts give one."""

from __future__ import annotations

from dsim.scenario.istio.rules import is_ip


def resolve_host(host: str, namespace: str, cluster_domain: str) -> str:
    """A host as istiod resolves it against the object's namespace (``ResolveShortnameToFQDN``):
    ``*``, an IP and a name with a dot as written; any other name, a wildcard one such as ``*foo``
    too, becomes ``<name>.<namespace>.svc.<cluster domain>``."""
    if host == "*" or "." in host or is_ip(host):
        return host
    return f"{host}.{namespace}.svc.{cluster_domain}"


def host_matches(pattern: str, host: str) -> bool:
    """Whether an egress ``dnsName`` (``*``, a wildcard ``*<suffix>`` such as ``*.ns.svc`` or
    ``*-api.ns.svc``, or exact) covers ``host`` (itself possibly a wildcard: covered when it lies
    under the pattern's suffix), as Istio's ``host.Name.Matches``: case-sensitive."""
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return pattern == host


def either_matches(a: str, b: str) -> bool:
    """Istio's bidirectional wildcard match of two hosts (``host.Name.Matches``)."""
    return host_matches(a, b) or host_matches(b, a)


def host_namespace(host: str, cluster_domain: str) -> str | None:
    """The namespace whose proxies reach ``host`` by its shortest name, read off the host as
    ``generateAltVirtualHostsForKubernetesService`` reads it (Istio 1.30, ``httproute.go``): the
    label after the first, for a host ending in ``.svc.<cluster domain>`` whose first ``.svc.``
    comes after that label; ``None``, no short names, otherwise (``api.example.com``)."""
    if not host.endswith(f".svc.{cluster_domain}"):
        return None
    first, svc = host.find("."), host.find(".svc.")
    return host[first + 1 : svc] if first + 1 < svc else None


def short_names(host: str, proxy_namespace: str, cluster_domain: str) -> list[str]:
    """The short names ``GenerateAltVirtualHosts`` gives ``host`` for a sidecar of ``proxy_namespace``
    (ports not appended): in the host's namespace (:func:`host_namespace`) its first label, then
    the host up to ``.svc`` with and without it; elsewhere the last two. A Service's, and a
    ServiceEntry host's written inside ``svc.<cluster domain>``, alike: Istio reads the text."""
    namespace = host_namespace(host, cluster_domain)
    if namespace is None:
        return []
    short = host[: host.find(".svc.")]
    if namespace == proxy_namespace:
        return [host[: host.find(".")], f"{short}.svc", short]
    return [short, f"{short}.svc"]


def route_host(host: str) -> str:
    """A registry host as Istio's route builder spells it: lower-cased (``BuildSidecarOutboundVirtualHosts``
    keys the services of a numbered port's route configuration by their lower-cased host since Istio
    1.27, istio/istio#56090; an ``HTTP_PROXY`` port's, which dsim serves as HTTP, keeps them as written).
    Its virtual host's name, domains and default route's cluster follow, while the host's clusters keep
    its case: a ServiceEntry host with a capital letter gets a default route to a cluster no proxy has
    (docs/istio-objects.md 1.3). A Kubernetes host is lower-case already."""
    return host.lower()
