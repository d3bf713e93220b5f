"""Hosts as istiod reads them: a short name resolved against the object's namespace, and matched
against another, wildcards either way."""

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
    under the pattern's suffix), as Istio's ``host.Name.Matches``."""
    pattern, host = pattern.lower(), host.lower()
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return pattern == host


def either_matches(a: str, b: str) -> bool:
    """Istio's bidirectional wildcard match of two hosts (``host.Name.Matches``)."""
    return host_matches(a, b) or host_matches(b, a)
