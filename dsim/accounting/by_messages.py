"""Proxies whose outbound side the accounting takes from real messages: those with an egress layout
(:mod:`dsim.cluster.egress_ports`): their Sidecar has egress listeners on ports, or trims the
VirtualService destinations it imports to the ports they name.

Such a listener imports services on one port and owns that port's route configurations, and a
trimmed destination has clusters for some of its ports: the per-service prices of :mod:`.outbound`
(every port of a seen service) cannot express either. Every
proxy of one (Sidecar, namespace, family class, tracing class, outbound traffic policy) gets the
same outbound config, so one proxy of each group is built by :func:`dsim.xds.generate.proxy_config`
and sized with ``ByteSize()``; its own side, which the vectorized accounting prices per proxy, is
taken off and each member's own side added: exact by construction, at the cost of one proxy's
messages per group.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dsim.cluster import Cluster
from dsim.designs.base import Design
from dsim.xds.generate import proxy_config
from dsim.xds.sizes import config_count_row
from dsim.xds.view import index_for
from dsim.xds.vocabulary import COUNT_COLUMNS, XDS_SHORT


def message_metrics(cluster: Cluster, proxy: int, design: Design, count_source: Mapping[str, str]) -> dict[str, int]:
    """One proxy's sizes and counts from its real messages, under the accounting's metric names."""
    config = proxy_config(index_for(cluster), proxy, design)
    found: dict[str, int] = {}
    for name, short in XDS_SHORT.items():
        found[f"{short}_resources"] = len(config.resources(name))
        found[f"{short}_bytes"] = sum(message.ByteSize() for message in config.resources(name))
    counts = config_count_row(config)
    for column in COUNT_COLUMNS:
        found.setdefault(count_source.get(column, column), int(counts[column]))  # type: ignore[call-overload]
    return found


def replace_message_priced_proxies(
    cluster: Cluster,
    design: Design,
    metrics: dict[str, np.ndarray],
    own: Mapping[str, np.ndarray],
    groups: Mapping[tuple[int, ...], list[int]],
    count_source: Mapping[str, str],
) -> None:
    """Set ``metrics`` (per proxy) of every proxy in ``groups`` (key → proxies, the first one
    built) to its group's outbound side from messages plus its own side ``own`` (per proxy)."""
    proxies = len(cluster.proxies)
    for members in groups.values():
        chosen = np.asarray(members)
        built = message_metrics(cluster, members[0], design, count_source)
        for metric, value in built.items():
            mine = own.get(metric, np.zeros(proxies, np.int64))
            target = metrics.setdefault(metric, np.zeros(proxies, np.int64))
            target[chosen] = value - mine[members[0]] + mine[chosen]
