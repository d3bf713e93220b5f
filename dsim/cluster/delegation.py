"""VirtualService delegation (``docs/istio-objects.md`` 1.10), as istiod merges it before anything
reads a VirtualService (``mergeVirtualServices`` in ``pilot/pkg/model/virtualservice_controller.go``,
``MergeHTTPRoutes`` and ``hasConflict`` in ``pilot/pkg/model/virtualservice.go``):

- A VirtualService without hosts is a *delegate*: never used on its own.
- A root's HTTP route with ``delegate: {name, namespace}`` (the namespace defaulting to the root's)
  is replaced by the delegate's HTTP routes, in order, each merged with it: its matches each
  combined with every root match they do not conflict with (a route with a match conflicting
  with all of them is dropped; with no matches on either side, the other side's stand), its
  name prefixed with the root route's, and where it has none, the root route's timeout, retries,
  headers, rewrite, direct response, mirrors, fault and CORS policy (``mergeHTTPRoute``; not a
  redirect). Its
  destination and mirror hosts are resolved in the delegate's namespace.
- A delegate that does not exist, or is not exported to the root's namespace, leaves the route
  out. Only one level (the scenario refuses a delegate that delegates again).
- Gateway names in matches are compared resolved, each in its own object's namespace
  (``ResolveVirtualServiceShortnames``: ``gw`` and ``./gw`` become ``<namespace>/gw``, a legacy
  ``gw.ns.svc...`` ``ns/gw``; ``mesh`` stays).

A match's ``scheme``, ``authority``, ``withoutHeaders`` and ``statPrefix`` merge and conflict as
its URI, headers and name do (``mergeHTTPMatchRequest``, ``hasConflict``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from dsim.cluster.hostnames import resolve_host
from dsim.cluster.object_views import export_set, visible_from
from dsim.errors import ScenarioError
from dsim.scenario.istio import VirtualService
from dsim.scenario.istio.common import MANY
from dsim.scenario.istio.rules import MESH_GATEWAY
from dsim.scenario.istio.virtual_service import Delegate, Destination, HTTPMatchRequest, HTTPRoute, StringMatch


@dataclasses.dataclass(frozen=True, kw_only=True)
class Delegation:
    """The VirtualServices in force with delegation merged, and which roots each delegate feeds."""

    virtual_services: tuple[VirtualService, ...]
    """Every VirtualService, in the same rows; a root's HTTP routes merged with its delegates'."""
    delegations: tuple[tuple[int, int], ...]
    """(root row, delegate row) for each delegate a root merges, sorted."""


def merge_delegates(virtual_services: Sequence[VirtualService], cluster_domain: str, notes: Counter[str]) -> Delegation:
    """Merge every root's delegates into it (see the module doc); count what is left out."""
    delegates = _delegates(virtual_services)
    out: list[VirtualService] = []
    pairs: set[tuple[int, int]] = set()
    for root, vs in enumerate(virtual_services):
        if not vs.spec.hosts or not any(route.delegate is not None for route in vs.spec.http):
            out.append(vs)
            continue
        merged: list[HTTPRoute] = []
        for route in vs.spec.http:
            if route.delegate is None:
                merged.append(route)
                continue
            d = delegates.get(_delegate_key(route.delegate, vs))
            if d is None:
                notes["http route delegating to a VirtualService that does not exist: left out, as in Istio"] += 1
                continue
            delegate = virtual_services[d]
            if not visible_from(export_set(delegate.spec.export_to, delegate.namespace), vs.namespace):
                notes[
                    "http route delegating to a VirtualService not exported to the root's namespace: left out, "
                    "as in Istio"
                ] += 1
                continue
            pairs.add((root, d))
            top = _gateways_resolved(route, vs.namespace)
            for leaf in delegate.spec.http:
                found = _merged_route(
                    top, _gateways_resolved(_resolved(leaf, delegate.namespace, cluster_domain), delegate.namespace)
                )
                if found is None:
                    notes[
                        "delegate VirtualService http route with a match conflicting with every match of its root "
                        "route: dropped, as in Istio"
                    ] += 1
                else:
                    merged.append(found)
        out.append(dataclasses.replace(vs, spec=dataclasses.replace(vs.spec, http=tuple(merged))))
    return Delegation(virtual_services=tuple(out), delegations=tuple(sorted(pairs)))


def check_merged_size(virtual_services: Sequence[VirtualService], source: str) -> None:
    """Refuse, before anything is merged, a root whose delegates would give it more than
    :data:`MERGED_MOST` merged HTTP routes or matches: a delegate's routes repeat for every route
    delegating to it, and their matches multiply with the root route's, so a short scenario could
    otherwise ask for more than memory holds."""
    delegates = _delegates(virtual_services)
    for i, vs in enumerate(virtual_services):
        if not vs.spec.hosts or all(route.delegate is None for route in vs.spec.http):
            continue
        routes = matches = 0
        for j, route in enumerate(vs.spec.http):
            if route.delegate is None:  # its own routes: as many as the scenario lists
                continue
            d = delegates.get(_delegate_key(route.delegate, vs))
            leaves = () if d is None else virtual_services[d].spec.http
            routes += len(leaves)
            matches += sum(max(1, len(route.match)) * max(1, len(leaf.match)) for leaf in leaves)
            if routes > MERGED_MOST or matches > MERGED_MOST:
                raise ScenarioError(
                    source,
                    f"virtual_services[{i}].spec.http[{j}].delegate",
                    f"merging its delegates gives VirtualService {vs.namespace}/{vs.name} over {MERGED_MOST:,} merged "
                    f"HTTP routes or matches by this route ({routes:,} routes, {matches:,} matches); expected at most "
                    f"{MERGED_MOST:,} of each: split the root or its delegates",
                )


MERGED_MOST = MANY
"""The most HTTP routes, and matches, a root may have once its delegates are merged: as many as one
VirtualService may list."""


def _delegates(virtual_services: Sequence[VirtualService]) -> dict[tuple[str, str], int]:
    """The delegates (VirtualServices without hosts) by (namespace, name): their rows."""
    return {(vs.namespace, vs.name): d for d, vs in enumerate(virtual_services) if not vs.spec.hosts}


def _delegate_key(delegate: Delegate, root: VirtualService) -> tuple[str, str]:
    """The (namespace, name) a root's ``delegate`` is looked up by (the namespace defaulting to the root's)."""
    return (delegate.namespace or root.namespace, delegate.name)


def _resolved(route: HTTPRoute, namespace: str, cluster_domain: str) -> HTTPRoute:
    """``route`` with its destination and mirror hosts resolved in the delegate's ``namespace``
    (``ResolveVirtualServiceShortnames``)."""

    def resolved(destination: Destination) -> Destination:
        return dataclasses.replace(destination, host=resolve_host(destination.host, namespace, cluster_domain))

    return dataclasses.replace(
        route,
        route=tuple(dataclasses.replace(d, destination=resolved(d.destination)) for d in route.route),
        mirror=None if route.mirror is None else resolved(route.mirror),
        mirrors=tuple(dataclasses.replace(m, destination=resolved(m.destination)) for m in route.mirrors),
    )


def _gateways_resolved(route: HTTPRoute, namespace: str) -> HTTPRoute:
    """``route`` with its matches' gateway names resolved in ``namespace`` (``resolveGatewayName``)."""
    return dataclasses.replace(
        route,
        match=tuple(
            dataclasses.replace(m, gateways=tuple(_gateway(g, namespace) for g in m.gateways)) for m in route.match
        ),
    )


def _gateway(name: str, namespace: str) -> str:
    if name == MESH_GATEWAY:
        return name
    if "/" in name:
        space, _, rest = name.partition("/")
        return f"{namespace}/{rest}" if space == "." else name
    if "." in name:  # legacy <name>.<namespace>[.svc...]
        short, _, rest = name.partition(".")
        return f"{rest.split('.', 1)[0]}/{short}"
    return f"{namespace}/{name}"


def _merged_route(root: HTTPRoute, leaf: HTTPRoute) -> HTTPRoute | None:
    """``mergeHTTPRoute``: the delegate's route under the root's (``None``: a match conflict)."""
    matches = _merged_matches(root.match, leaf.match)
    if matches is None:
        return None
    inherited = {key: getattr(root, key) for key in _INHERITED if getattr(leaf, key) is None}
    if leaf.whole_mirror_percent is None:  # one protobuf field under two names
        inherited.update(mirror_percent=root.mirror_percent, legacy_mirror_percent=root.legacy_mirror_percent)
    return dataclasses.replace(
        leaf,
        match=matches,
        name=_joined(root.name, leaf.name),
        mirrors=leaf.mirrors or root.mirrors,
        **inherited,
    )


# What a delegate's route takes from its root's where it sets none (mergeHTTPRoute); not a redirect.
_INHERITED = (
    "timeout",
    "retries",
    "headers",
    "rewrite",
    "direct_response",
    "mirror",
    "mirror_percentage",
    "fault",
    "cors_policy",
)


def _joined(root: str, leaf: str) -> str:
    """A merged name: the root's, the leaf's, or ``<root>-<leaf>``."""
    if not leaf:
        return root
    return f"{root}-{leaf}" if root else leaf


def _merged_matches(
    root: tuple[HTTPMatchRequest, ...], leaf: tuple[HTTPMatchRequest, ...]
) -> tuple[HTTPMatchRequest, ...] | None:
    """``mergeHTTPMatchRequests``: each leaf match combined with every root match it does not
    conflict with; ``None`` where some leaf match conflicts with every one."""
    if not root:
        return leaf
    if not leaf:
        return root
    out: list[HTTPMatchRequest] = []
    for sub in leaf:
        found = [_merged_match(top, sub) for top in root if not _conflict(top, sub)]
        if not found:
            return None
        out.extend(found)
    return tuple(out)


def _merged_match(root: HTTPMatchRequest, leaf: HTTPMatchRequest) -> HTTPMatchRequest:
    """``mergeHTTPMatchRequest``: the leaf's conditions, the root's where the leaf has none; maps
    joined, the leaf's entries winning."""
    return dataclasses.replace(
        leaf,
        name=_joined(root.name, leaf.name),
        uri=leaf.uri or root.uri,
        method=leaf.method or root.method,
        authority=leaf.authority or root.authority,
        scheme=leaf.scheme or root.scheme,
        headers={**root.headers, **leaf.headers},
        without_headers={**root.without_headers, **leaf.without_headers},
        query_params={**root.query_params, **leaf.query_params},
        port=leaf.port or root.port,
        source_labels={**root.source_labels, **leaf.source_labels},
        source_namespace=leaf.source_namespace or root.source_namespace,
        gateways=leaf.gateways or root.gateways,
        stat_prefix=leaf.stat_prefix or root.stat_prefix,
    )


def _conflict(root: HTTPMatchRequest, leaf: HTTPMatchRequest) -> bool:
    """``hasConflict``: whether the leaf match asks for what the root match rules out."""
    singles = (
        (root.uri, leaf.uri),
        (root.scheme, leaf.scheme),
        (root.method, leaf.method),
        (root.authority, leaf.authority),
    )
    if any(_strings_conflict(a, b) for a, b in singles):
        return True
    if any(_strings_conflict(root.headers.get(k), v) for k, v in leaf.headers.items()):
        return True
    if any(_strings_conflict(root.without_headers.get(k), v) for k, v in leaf.without_headers.items()):
        return True
    if any(_strings_conflict(root.query_params.get(k), v) for k, v in leaf.query_params.items()):
        return True
    if root.ignore_uri_case != leaf.ignore_uri_case:
        return True
    if root.port and leaf.port and root.port != leaf.port:
        return True
    if root.source_namespace and leaf.source_namespace != root.source_namespace:
        return True
    if any(k in root.source_labels and root.source_labels[k] != v for k, v in leaf.source_labels.items()):
        return True
    # The root's gateways must hold the leaf's (and be no fewer, counted as written).
    if root.gateways and leaf.gateways:
        return len(root.gateways) < len(leaf.gateways) or not set(leaf.gateways) <= set(root.gateways)
    return False


def _strings_conflict(root: StringMatch | None, leaf: StringMatch | None) -> bool:
    """``stringMatchConflict``: the leaf's match is not within the root's. Read literally: a root
    match of neither an exact value nor a prefix (an empty one) conflicts with any leaf match."""
    if root is None or leaf is None:
        return False
    if root.regex and (leaf.regex or leaf.prefix or leaf.exact):
        return True
    if leaf.regex and (root.regex or root.prefix or root.exact):
        return True
    if root.exact:
        return bool(leaf.prefix) or leaf.exact != root.exact
    if root.prefix:
        if leaf.prefix:
            return not leaf.prefix.startswith(root.prefix)
        if leaf.exact:
            return not leaf.exact.startswith(root.prefix)
    return True
