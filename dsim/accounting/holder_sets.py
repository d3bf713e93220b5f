"""The services each holder sees (a scope group, or a workload under the call graph), stored as a
common base plus each holder's differences from it.

Under a scope, most holders see nearly the same services: one object exported to its own namespace
gives every namespace's group the mesh's public services, and 2,000 namespaces of 20,000 services
make 40 million (group, service) rows that differ from one group to the next by a handful. Sums
over the rows cost their number; sums over a base seen by most holders, plus each holder's
differences, cost the base once and the differences. The base is the services more than half the
holders see, and a holder uses it only where its differences are fewer than its rows: each sum then
touches no more rows than the pairs themselves, and far fewer where the scopes agree."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Cells of the missing-pairs bitmap built at once (a byte each): bounds the transient memory.
_BITMAP_CHUNK = 1 << 26


class HolderSets:
    """(holder, service) pairs as ``base`` services (seen by every ``based`` holder) plus signed
    differences: ``+1`` a service a holder sees beside (or without) the base, ``-1`` a base service
    a based holder does not see."""

    def __init__(
        self,
        *,
        services: int,
        base: np.ndarray,
        based: np.ndarray,
        delta_holder: np.ndarray,
        delta_service: np.ndarray,
        delta_sign: np.ndarray,
    ) -> None:
        self.services = services
        self.base = base
        """Mask over services: the base."""
        self.based = based
        """Per holder: whether it sees the base (less its ``-1`` differences)."""
        self.holders = len(based)
        self.delta_holder = delta_holder
        self.delta_service = delta_service
        self.delta_sign = delta_sign

    @classmethod
    def of_pairs(cls, holder: np.ndarray, service: np.ndarray, holders: int, services: int) -> HolderSets:
        """The sets of distinct (holder, service) pairs, ``holders`` holders over ``services`` services."""
        holder = holder.astype(np.int64, copy=False)
        service = service.astype(np.int64, copy=False)
        base = 2 * np.bincount(service, minlength=services) > holders
        in_base = base[service]
        inside = np.bincount(holder, weights=in_base, minlength=holders).astype(np.int64)
        size = np.bincount(holder, minlength=holders)
        # A based holder's differences: its rows outside the base and the base services it lacks.
        based = (size - inside) + (int(base.sum()) - inside) < size
        extra = ~(based[holder] & in_base)
        missing_holder, missing_service = _missing(holder[~extra], service[~extra], based, base, inside)
        return cls(
            services=services,
            base=base,
            based=based,
            delta_holder=np.concatenate([holder[extra], missing_holder]),
            delta_service=np.concatenate([service[extra], missing_service]),
            delta_sign=np.concatenate([np.ones(int(extra.sum()), np.int64), -np.ones(len(missing_holder), np.int64)]),
        )

    def restricted(self, used: np.ndarray) -> HolderSets:
        """The sets of the holders ``used`` alone, renumbered ``0..len(used)-1`` in that order."""
        renumber = np.full(self.holders, -1, np.int64)
        renumber[used] = np.arange(len(used))
        new = renumber[self.delta_holder]
        keep = new >= 0
        return HolderSets(
            services=self.services,
            base=self.base,
            based=self.based[used],
            delta_holder=new[keep],
            delta_service=self.delta_service[keep],
            delta_sign=self.delta_sign[keep],
        )

    def total(self, per_service: np.ndarray) -> np.ndarray:
        """Per holder: the sum of ``per_service`` over the services it sees (float64, whole numbers)."""
        values = np.asarray(per_service, np.float64)
        differences = np.bincount(
            self.delta_holder, weights=self.delta_sign * values[self.delta_service], minlength=self.holders
        )
        return np.where(self.based, values[self.base].sum(), 0.0) + differences

    def by_namespace(
        self, same: np.ndarray, other: np.ndarray, home_ns: np.ndarray, holder_ns: np.ndarray, namespaces: int
    ) -> np.ndarray:
        """Per holder: the sum over the services it sees of ``same`` (per service) for those whose
        home namespace (``home_ns``, of ``namespaces``; -1: none) is its own (``holder_ns``) and
        ``other`` for the rest (float64, whole numbers)."""
        same = np.asarray(same, np.float64)
        other = np.asarray(other, np.float64)
        housed = self.base & (home_ns >= 0)
        own_extra = np.bincount(home_ns[housed], weights=(same - other)[housed], minlength=namespaces)
        from_base = other[self.base].sum() + own_extra[holder_ns]
        s = self.delta_service
        own = home_ns[s] == holder_ns[self.delta_holder]
        value = self.delta_sign * np.where(own, same[s], other[s])
        differences = np.bincount(self.delta_holder, weights=value, minlength=self.holders)
        return np.where(self.based, from_base, 0.0) + differences

    def pairs(self, services: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(holder, service) for each of ``services`` and each holder that sees it, by holder then service."""
        wanted = np.zeros(self.services, bool)
        wanted[services] = True
        s, sign = self.delta_service, self.delta_sign
        added = (sign > 0) & wanted[s]
        lacking = (sign < 0) & wanted[s]
        from_base = np.flatnonzero(self.base & wanted)
        based = np.flatnonzero(self.based)
        holder = np.repeat(based, len(from_base))
        service = np.tile(from_base, len(based))
        if lacking.any():
            gone = np.isin(holder * self.services + service, self.delta_holder[lacking] * self.services + s[lacking])
            holder, service = holder[~gone], service[~gone]
        holder = np.concatenate([holder, self.delta_holder[added]])
        service = np.concatenate([service, s[added]])
        order = np.lexsort((service, holder))
        return holder[order], service[order]

    def group_pairs(self, service: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (holder, group) for each holder that sees some row's ``service`` (rows: service,
        ``group`` a non-negative number), by holder then group."""
        groups = max(int(group.max(initial=-1)) + 1, 1)
        # A holder sees a group where it sees some of its rows: the base's rows of the group (for a
        # based holder) plus its differences' (signed) is above zero.
        from_base = np.bincount(group, weights=self.base[service], minlength=groups).astype(np.int64)
        differences = (
            pd.DataFrame({"holder": self.delta_holder, "service": self.delta_service, "sign": self.delta_sign})
            .merge(pd.DataFrame({"service": service, "group": group}), on="service")
            .groupby(["holder", "group"], sort=True)["sign"]
            .sum()
        )
        keys = differences.index.get_level_values(0).to_numpy() * groups + differences.index.get_level_values(1)
        keys = np.asarray(keys, np.int64)
        base_groups = np.flatnonzero(from_base > 0)
        based = np.flatnonzero(self.based)
        candidates = np.union1d(np.repeat(based, len(base_groups)) * groups + np.tile(base_groups, len(based)), keys)
        holder, g = candidates // groups, candidates % groups
        found = np.where(self.based[holder], from_base[g], 0)
        found[np.searchsorted(candidates, keys)] += differences.to_numpy(np.int64)
        return holder[found > 0], g[found > 0]

    def first_pairs(self, service: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(holder, group, service) for each holder that sees some row's ``service`` (rows: distinct
        (service, group) pairs, ``group`` a non-negative number): the lowest such service, by holder
        then group. A based holder's first is its group's first base service it does not lack,
        unless one of its additions comes before; the pairs themselves are never made."""
        service = np.asarray(service, np.int64)
        group = np.asarray(group, np.int64)
        order = np.lexsort((service, group))
        service, group = service[order], group[order]
        groups = max(int(group.max(initial=-1)) + 1, 1)
        in_base = self.base[service]
        base_service, base_group = service[in_base], group[in_base]  # by group, then service
        base_start = np.searchsorted(base_group, np.arange(groups))
        base_count = np.bincount(base_group, minlength=groups)
        rows = pd.DataFrame({"service": service, "group": group, "base": in_base})
        rows["position"] = -1
        rows.loc[in_base, "position"] = np.arange(len(base_service)) - base_start[base_group]
        deltas = pd.DataFrame({"holder": self.delta_holder, "service": self.delta_service, "sign": self.delta_sign})
        touched = deltas.merge(rows, on="service")
        keys = ["holder", "group"]
        # A based holder lacking base services of a group: its first is the first position it keeps.
        lacking = touched[(touched["sign"] < 0).to_numpy()].sort_values([*keys, "position"])
        rank = lacking.groupby(keys).cumcount().to_numpy()
        gap = (
            lacking.assign(kept=np.where(lacking["position"].to_numpy() != rank, rank, len(base_service)))
            .groupby(keys)
            .agg(kept=("kept", "min"), lacks=("position", "size"))
        )
        skip = np.minimum(gap["kept"].to_numpy(), gap["lacks"].to_numpy())
        base_groups = np.flatnonzero(base_count > 0)
        based = np.flatnonzero(self.based)
        holder = np.repeat(based, len(base_groups))
        g = np.tile(base_groups, len(based))
        offset = pd.Series(0, index=pd.MultiIndex.from_arrays([holder, g], names=keys), dtype=np.int64)
        if len(gap):
            offset.loc[gap.index.intersection(offset.index)] = pd.Series(skip, index=gap.index)
        at = offset.to_numpy()
        kept = at < base_count[g]
        from_base = pd.DataFrame(
            {"holder": holder[kept], "group": g[kept], "service": base_service[base_start[g[kept]] + at[kept]]}
        )
        added = touched.loc[(touched["sign"] > 0).to_numpy(), ["holder", "group", "service"]]
        first = pd.concat([from_base, added], ignore_index=True).groupby(keys, sort=True)["service"].min()
        return (
            first.index.get_level_values(0).to_numpy(np.int64),
            first.index.get_level_values(1).to_numpy(np.int64),
            first.to_numpy(np.int64),
        )


def _missing(
    holder: np.ndarray, service: np.ndarray, based: np.ndarray, base: np.ndarray, inside: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(holder, service): the base services each based holder lacks, from its rows in the base
    (``holder``, ``service``). A bitmap of based holders by base services, a chunk of holders at a
    time; it holds fewer cells than twice the rows, for a based holder sees over half the base."""
    base_services = np.flatnonzero(base)
    width = len(base_services)
    based_holders = np.flatnonzero(based)
    lacking = width - inside[based_holders]
    if not width or not lacking.any():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    position = np.full(len(based), -1, np.int64)
    position[based_holders] = np.arange(len(based_holders))
    rank = np.cumsum(base) - 1
    row_position = position[holder]
    order = np.argsort(row_position, kind="stable") if np.any(np.diff(row_position) < 0) else None
    if order is not None:
        row_position, service = row_position[order], service[order]
    step = max(1, _BITMAP_CHUNK // width)
    found_holder: list[np.ndarray] = []
    found_service: list[np.ndarray] = []
    for first in range(0, len(based_holders), step):
        last = min(first + step, len(based_holders))
        if not lacking[first:last].any():
            continue
        lo, hi = np.searchsorted(row_position, [first, last])
        bitmap = np.zeros((last - first) * width, bool)
        bitmap[(row_position[lo:hi] - first) * width + rank[service[lo:hi]]] = True
        cells = np.flatnonzero(~bitmap)
        found_holder.append(based_holders[first + cells // width])
        found_service.append(base_services[cells % width])
    if not found_holder:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(found_holder), np.concatenate(found_service)
