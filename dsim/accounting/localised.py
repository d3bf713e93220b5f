"""Endpoint sets as a proxy in each locality gets them, priced in columns: priorities where a
cluster's rule fails over, weights and emptied groups where it distributes (dsim/xds/failover.py,
docs/istio-objects.md 2.5). The accounting adds what they change per proxy locality
(:mod:`dsim.accounting.failover`'s metrics) to each proxy by its own locality."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from google.protobuf.message import Message

from dsim.accounting.columns import ClusterColumns
from dsim.accounting.failover import (
    FAILOVER_EDS,
    FAILOVER_ENDPOINTS,
    FAILOVER_EXTRA,
    FAILOVER_PRIORITIES,
    failover_metric,
)
from dsim.accounting.shape import Columns, Ragged, serialized_sizes
from dsim.xds.failover import LocalityRule, ProxyLocality, Weights, failover_target, locality_match, locality_rule

NO_TARGET = -1
"""A row whose rule names no failover region for the proxy's region (another named: -2 when no
pod runs there, so no group's region is it)."""


def locality_keys(policies: np.ndarray, prefer_close: np.ndarray) -> np.ndarray:
    """Each row's locality key: its policy id (-1: no rule) and whether its service has a
    ``trafficDistribution``, the two facts its :class:`LocalityRule` follows from, as one number."""
    return (policies.astype(np.int64) + 1) * 2 + prefer_close.astype(np.int64)


def rules_of(cols: ClusterColumns, keys: np.ndarray) -> dict[int, LocalityRule]:
    """The :class:`LocalityRule` of each key of ``keys`` (:func:`locality_keys`) that has one
    (policy -1, no rule: the mesh's setting may still distribute)."""
    policy_list, mesh = cols.objects.policy_list, cols.mesh_defaults
    found = {}
    for key in np.unique(keys).tolist():
        policy, close = key // 2 - 1, bool(key % 2)
        found[key] = locality_rule(policy_list[policy] if policy >= 0 else None, mesh, close)
    return {key: rule for key, rule in found.items() if rule is not None}


@dataclasses.dataclass(frozen=True)
class _Groups:
    """The groups of the localised rows: their row, their ``localities`` row, their own weight."""

    owner: np.ndarray
    locality: np.ndarray
    weight: np.ndarray


def localised_deltas(
    cols: ClusterColumns,
    keys: np.ndarray,
    columns: Columns,
    locality: np.ndarray,
    elements: pd.DataFrame,
    template: Message,
    base: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per proxy locality, for each row (endpoint set; ``keys``: its :func:`locality_keys`, each one
    localising): what it gains in bytes over ``base``,
    its priorities past the first, and the endpoints and endpoint additional addresses it loses.
    ``columns`` are the rows' load-assignment columns (groups ragged under ``group``), ``locality``
    each group's ``localities`` row, ``elements`` each endpoint's (row, group, extra)."""
    rules = rules_of(cols, keys)
    ragged = columns.ragged["group"]
    groups = _Groups(owner=ragged.owner, locality=locality, weight=np.asarray(ragged.elements.numbers["weight"]))
    spreading = np.isin(keys, [p for p, rule in rules.items() if rule.distribute])
    targets = _failover_targets(cols, keys, rules)
    element_group = elements["group"].to_numpy()
    n = len(keys)
    out: dict[str, np.ndarray] = {}
    for at in cols.proxy_localities.tolist():
        priority = _priorities(cols, at, groups, targets)
        priority[spreading[groups.owner]] = 0
        weight, dropped = _distributed(cols, at, keys, groups, rules)
        kept = ~dropped
        numbers = {**ragged.elements.numbers, "priority": priority, "weight": weight}
        endpoints = {kind: _kept(part, kept) for kind, part in ragged.elements.ragged.items()}
        group_columns = dataclasses.replace(ragged.elements, numbers=numbers, ragged=endpoints)
        localised = dataclasses.replace(columns, ragged={"group": Ragged(elements=group_columns, owner=groups.owner)})
        gone = dropped[element_group]
        out[failover_metric(FAILOVER_EDS, at)] = serialized_sizes(template, localised) - base
        # Priorities are 0..N per set: N more host sets.
        out[failover_metric(FAILOVER_PRIORITIES, at)] = _per_row_max(groups.owner, priority, n)
        out[failover_metric(FAILOVER_ENDPOINTS, at)] = -np.bincount(elements["row"].to_numpy()[gone], minlength=n)
        out[failover_metric(FAILOVER_EXTRA, at)] = -np.bincount(
            elements["row"].to_numpy()[gone], weights=elements["extra"].to_numpy()[gone], minlength=n
        ).astype(np.int64)
    return out


def _kept(part: Ragged, kept: np.ndarray) -> Ragged:
    """``part``'s elements of the groups ``kept``."""
    mine = kept[part.owner]
    own = part.elements
    return Ragged(
        elements=Columns(
            count=int(mine.sum()),
            lengths={k: np.asarray(v)[mine] for k, v in own.lengths.items()},
            numbers={k: np.asarray(v)[mine] for k, v in own.numbers.items()},
        ),
        owner=part.owner[mine],
    )


def _per_row_max(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.int64)
    np.maximum.at(out, owner, values)
    return out


def _priorities(cols: ClusterColumns, at: int, groups: _Groups, targets: dict[int, np.ndarray]) -> np.ndarray:
    """Each group's priority for a proxy in locality ``at`` (``applyLocalityFailover``: 0 its
    locality, 2 its region, 3 elsewhere, 4 another region than its rule's ``failover`` names for
    the proxy's; renumbered 0..N per set; pods carry no subzone)."""
    region = cols.locality_region
    there = groups.locality
    raw = np.where(there == at, 0, np.where(region[there] == region[at], 2, 3))
    if targets:  # another region than the proxy's region fails over to comes last
        target = targets[int(region[at])][groups.owner]
        raw = np.where((raw == 3) & (target != NO_TARGET) & (region[there] != target), 4, raw)
    return pd.Series(raw).groupby(groups.owner).rank(method="dense").to_numpy(np.int64) - 1


def _failover_targets(cols: ClusterColumns, keys: np.ndarray, rules: dict[int, LocalityRule]) -> dict[int, np.ndarray]:
    """Per region code proxies may run in, per row of ``keys``: the region code its rule's
    ``failover`` list names for a proxy there (:data:`NO_TARGET` where none); empty where no
    rule of them has a list."""
    lists = {p: rule.failover for p, rule in rules.items() if rule.failover}
    if not lists:
        return {}
    names = cols.objects.cluster.localities["region"].to_numpy()
    code = {str(names[i]): int(cols.locality_region[i]) for i in range(len(names))}
    out = {}
    for region in np.unique(cols.locality_region[cols.proxy_localities]).tolist():
        name = str(names[np.flatnonzero(cols.locality_region == region)[0]])
        out[region] = np.full(len(keys), NO_TARGET, np.int64)
        # One pass over the rows per target region, not per rule: rules that name the same share it.
        by_target: dict[int, list[int]] = {}
        for key, failover in lists.items():
            target = failover_target(failover, name)
            if target is not None:
                by_target.setdefault(code.get(target, -2), []).append(key)
        for target_code, members in by_target.items():
            out[region][np.isin(keys, members)] = target_code
    return out


def _locality(cols: ClusterColumns, row: int) -> ProxyLocality:
    table = cols.objects.cluster.localities
    return (str(table["region"].iat[row]), str(table["zone"].iat[row]), "")


def _distributed(
    cols: ClusterColumns, at: int, keys: np.ndarray, groups: _Groups, rules: dict[int, LocalityRule]
) -> tuple[np.ndarray, np.ndarray]:
    """Each group's weight, and whether it loses its endpoints, for a proxy in locality ``at``
    (``applyLocalityWeights``: the first entry from the proxy's locality gives each ``to``
    locality's weight to the groups it takes first, shared by their own weights, rounded up)."""
    weight, dropped = groups.weight.copy(), np.zeros(len(groups.owner), bool)
    proxy = _locality(cols, at)
    group_key = keys[groups.owner]
    localities = range(len(cols.objects.cluster.localities))
    # One pass over the groups per distribution the proxy gets, not per rule: rules share them.
    by_weights: dict[Weights, list[int]] = {}
    for key, rule in rules.items():
        to = next((to for source, to in rule.distribute if locality_match(proxy, source)), None)
        if to is not None:
            by_weights.setdefault(to, []).append(key)
    for to, members in by_weights.items():
        mine = np.isin(group_key, members)
        taker = np.full(len(groups.owner), -1)
        for k, (pattern, _) in enumerate(to):
            matches = np.array([locality_match(_locality(cols, row), pattern) for row in localities], dtype=bool)
            taker[mine & (taker < 0) & matches[groups.locality]] = k
        taken = np.flatnonzero(mine & (taker >= 0))
        share = np.array([w for _, w in to], dtype=np.int64)[taker[taken]]
        # Each (set, to-locality)'s groups share its weight by their own.
        _, bucket = np.unique(groups.owner[taken] * len(to) + taker[taken], return_inverse=True)
        total = np.bincount(bucket, weights=weight[taken]).astype(np.int64)[bucket]
        weight[taken] = -(-weight[taken] * share // total)
        dropped |= mine & (taker < 0)
    return weight, dropped
