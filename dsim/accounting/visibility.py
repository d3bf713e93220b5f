"""Which services each workload sees, as the accounting sums over them: every service (the
``all`` visibility), its namespace's (``namespace``), or pairs (the call graph's ``dependencies``,
by workload, or a Sidecar scope and exportTo: ``cluster.scope``, by scope group)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.accounting.columns import ClusterColumns
from dsim.accounting.holder_sets import HolderSets
from dsim.accounting.holders import holders_of
from dsim.cluster import Cluster


class Visibility:
    """Sums over the services each workload sees. Outside the ``all`` and ``namespace``
    visibilities, what each workload sees is its holder's set, where a holder is a workload (the
    call graph's ``dependencies``) or a scope group (``cluster.scope``: the workloads that see the
    same services), held as a shared base and each holder's differences (:class:`HolderSets`); sums
    are made per holder and read per workload."""

    def __init__(
        self,
        *,
        mode: str,
        namespaces: int,
        workload_ns: np.ndarray,
        service_ns: np.ndarray,
        home_ns: np.ndarray,
        workload_holder: np.ndarray,
        holder_ns: np.ndarray,
        sets: HolderSets,
        destinations: Visibility | None = None,
    ) -> None:
        self.mode = mode
        self.workloads = len(workload_ns)
        self.namespaces = namespaces
        self.workload_ns = workload_ns
        self.service_ns = service_ns
        self.home_ns = home_ns
        """Per service: the namespace whose proxies get its virtual hosts' ``same`` variant
        (:attr:`ClusterColumns.service_home_namespace`; -1: none)."""
        self.workload_holder = workload_holder
        """Per workload: its holder (one past the last holder: it sees nothing)."""
        self.holder_ns = holder_ns
        """Per holder: the namespace of its workloads (a holder's workloads share one)."""
        self.holders = len(holder_ns)
        self.sets = sets
        """What each holder sees (empty under the ``all`` and ``namespace`` visibilities)."""
        self.destinations = destinations
        """The services each workload has clusters for and nothing else (VirtualService destinations
        its Sidecar's egress hosts leave out), by holder; ``None``: none."""

    @classmethod
    def of(cls, cluster: Cluster, cols: ClusterColumns) -> Visibility:
        # A Sidecar scope or exportTo (``cluster.scope``) replaces the visibility: (group, service) pairs.
        holders = holders_of(cluster)
        holder_ns = np.zeros(holders.count, np.int64)
        holder_ns[holders.holder] = cols.workload_namespace

        def visibility(holder_sets: HolderSets, destinations: Visibility | None = None) -> Visibility:
            return cls(
                mode=holders.mode,
                namespaces=len(cluster.namespaces),
                workload_ns=cols.workload_namespace,
                service_ns=cols.service_namespace,
                home_ns=cols.service_home_namespace,
                workload_holder=holders.holder,
                holder_ns=holder_ns,
                sets=holder_sets,
                destinations=destinations,
            )

        return visibility(holders.seen, None if holders.only is None else visibility(holders.only))

    def restricted(self, chosen: np.ndarray) -> Visibility:
        """The same sums for the workloads ``chosen`` alone, renumbered ``0..len(chosen)-1`` in that
        order, with their holders alone (a view group's workloads: its passes then cost what the
        group holds, not the mesh)."""
        used, holder = np.unique(self.workload_holder[chosen], return_inverse=True)
        return Visibility(
            mode=self.mode,
            namespaces=self.namespaces,
            workload_ns=self.workload_ns[chosen],
            service_ns=self.service_ns,
            home_ns=self.home_ns,
            workload_holder=holder.astype(np.int64),
            holder_ns=self.holder_ns[used],
            sets=self.sets.restricted(used),
            destinations=None if self.destinations is None else self.destinations.restricted(chosen),
        )

    def _read(self, per_holder: np.ndarray) -> np.ndarray:
        """Per workload: its holder's value (whole numbers held as floats by the sums)."""
        return per_holder[self.workload_holder].astype(np.int64)

    def _per_workload(self, holder: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Per workload: the sum of ``value`` over the rows of its holder (``holder`` per row)."""
        return self._read(np.bincount(holder, weights=value, minlength=self.holders))

    def who(self) -> np.ndarray:
        """Per workload: a number shared by the workloads that see the same services (all alike
        under ``all``, by namespace under ``namespace``, else by holder): what depends on what a
        workload sees alone is computed once per number."""
        if self.mode == "all":
            return np.zeros(self.workloads, np.int64)
        return (self.workload_ns if self.mode == "namespace" else self.workload_holder).astype(np.int64)

    def whos(self) -> int:
        """How many :meth:`who` numbers there are."""
        return 1 if self.mode == "all" else self.namespaces if self.mode == "namespace" else self.holders

    def pairs_of_workloads(self, by_who: pd.DataFrame) -> pd.DataFrame:
        """``by_who``'s rows (a ``who`` column) for each workload of that number, by workload."""
        members = pd.DataFrame({"workload": np.arange(self.workloads), "who": self.who()})
        return members.merge(by_who, on="who").drop(columns="who")

    def who_pairs(self, services: np.ndarray) -> pd.DataFrame:
        """(who, service) for each of ``services`` and each :meth:`who` number that sees it."""
        if self.mode == "all":
            return pd.DataFrame({"who": np.zeros(len(services), np.int64), "service": services})
        if self.mode == "namespace":
            return pd.DataFrame({"who": self.service_ns[services].astype(np.int64), "service": services})
        return self.holder_pairs(services).rename(columns={"holder": "who"})

    def who_groups(self, service: np.ndarray, keys: pd.DataFrame) -> pd.DataFrame:
        """Distinct (who, *keys) for each :meth:`who` number that sees some row's ``service``
        (rows: service and the ``keys`` columns)."""
        if self.mode in ("all", "namespace"):
            who = np.zeros(len(service), np.int64) if self.mode == "all" else self.service_ns[service].astype(np.int64)
            found = keys.reset_index(drop=True)
            found.insert(0, "who", who)
            return found.drop_duplicates().sort_values(list(found.columns), kind="stable").reset_index(drop=True)
        return self._holder_groups(service, keys).rename(columns={"holder": "who"})

    def first_of_groups(self, service: np.ndarray, keys: pd.DataFrame) -> pd.DataFrame:
        """(who, *keys, service): for each :meth:`who` number and each distinct ``keys`` of rows
        whose ``service`` it sees, the lowest such service (rows: service and the ``keys`` columns,
        each pair once): what comes first in service order, without making every pair."""
        group, distinct = pd.factorize(pd.MultiIndex.from_frame(keys.reset_index(drop=True)))
        service = np.asarray(service, np.int64)
        if self.mode in ("all", "namespace"):
            who = np.zeros(len(service), np.int64) if self.mode == "all" else self.service_ns[service].astype(np.int64)
            first = pd.DataFrame({"who": who, "group": group, "service": service}).groupby(["who", "group"])["service"]
            lowest = first.min()
            who, g, found = (
                lowest.index.get_level_values(0).to_numpy(np.int64),
                lowest.index.get_level_values(1).to_numpy(np.int64),
                lowest.to_numpy(np.int64),
            )
        else:
            who, g, found = self.sets.first_pairs(service, np.asarray(group, np.int64))
        frame = distinct[g].set_names(list(keys.columns)).to_frame(index=False)
        frame.insert(0, "who", who)
        frame["service"] = found
        return frame

    def cluster_total(self, per_service: np.ndarray) -> np.ndarray:
        """Per workload: :meth:`total` of a cluster metric, the services it has clusters for alone included."""
        found = self.total(per_service)
        return found if self.destinations is None else found + self.destinations.total(per_service)

    def total(self, per_service: np.ndarray) -> np.ndarray:
        """Per workload: the sum of ``per_service`` over the services it sees."""
        if self.mode == "all":
            return np.full(self.workloads, per_service.sum(), dtype=np.int64)
        if self.mode == "namespace":
            by_ns = np.bincount(self.service_ns, weights=per_service, minlength=self.namespaces)
            return by_ns[self.workload_ns].astype(np.int64)
        return self._read(self.sets.total(per_service))

    def by_namespace(self, service: np.ndarray, same: np.ndarray, other: np.ndarray) -> np.ndarray:
        """Per workload: the sum over seen rows (of ``service``) of ``same`` for rows whose service's
        home namespace (:attr:`home_ns`) is its own and ``other`` for the rest."""
        if self.mode not in ("all", "namespace"):
            # A service's rows share its home: summed per service, then over what each holder sees.
            services = len(self.service_ns)
            return self._read(
                self.sets.by_namespace(
                    np.bincount(service, weights=same, minlength=services),
                    np.bincount(service, weights=other, minlength=services),
                    self.home_ns,
                    self.holder_ns,
                    self.namespaces,
                )
            )
        home = self.home_ns[service]
        if self.mode == "namespace":  # its own namespace's services, each at home there or not
            ns = self.service_ns[service]
            seen = np.bincount(ns, weights=np.where(home == ns, same, other), minlength=self.namespaces)
            return seen[self.workload_ns].astype(np.int64)
        housed = home >= 0
        extra = np.bincount(home[housed], weights=(same - other)[housed], minlength=self.namespaces)
        return (other.sum() + extra[self.workload_ns]).astype(np.int64)

    def pairs(self, services: np.ndarray) -> pd.DataFrame:
        """(workload, service) for each of ``services`` and each workload that sees it."""
        return self.pairs_of_workloads(self.who_pairs(services))

    def holder_pairs(self, services: np.ndarray) -> pd.DataFrame:
        """(holder, service) for each of ``services`` and each holder that sees it (not in the
        ``all`` and ``namespace`` visibilities): sums made per holder are read per workload through
        :attr:`workload_holder`."""
        holder, service = self.sets.pairs(np.asarray(services, np.int64))
        return pd.DataFrame({"holder": holder, "service": service})

    def _holder_groups(self, service: np.ndarray, keys: pd.DataFrame) -> pd.DataFrame:
        """Distinct (holder, *keys) for each holder that sees some row's ``service`` (rows: service
        and the ``keys`` columns)."""
        group, distinct = pd.factorize(pd.MultiIndex.from_frame(keys))
        holder, g = self.sets.group_pairs(np.asarray(service, np.int64), np.asarray(group, np.int64))
        found = distinct[g].set_names(list(keys.columns)).to_frame(index=False)
        found.insert(0, "holder", holder)
        return found

    def riding(self, riders: pd.DataFrame, openers: pd.DataFrame, columns: list[tuple[str, str]]) -> list[np.ndarray]:
        """Per workload, for each (same, other) pair of ``columns``: the sum over the rows of
        ``riders`` (service, port, suffix; sniffed ports' virtual hosts) it sees whose shared route
        configuration some row of ``openers`` (the same keys; HTTP ports) it sees opens."""
        nothing = [np.zeros(self.workloads, np.int64) for _ in columns]
        if not len(riders):  # the usual case, and a view pass's (it is called once per view group)
            return nothing
        # Riders of a group no opener anywhere opens cost nothing (port numbers that are HTTP for
        # some services and sniffed for others are what makes riders count).
        anywhere = pd.MultiIndex.from_frame(openers[["port", "suffix"]])
        riders = riders[pd.MultiIndex.from_frame(riders[["port", "suffix"]]).isin(anywhere)]
        if not len(riders):
            return nothing
        service = riders["service"].to_numpy()
        if self.mode in ("all", "namespace"):
            # Everyone sees the same services (all), or those of their own namespace: a rider counts
            # where an opener of its namespace (any namespace, for all) opens its configuration.
            def keys(frame: pd.DataFrame) -> pd.MultiIndex:
                ns = self.service_ns[frame["service"].to_numpy()] if self.mode == "namespace" else 0
                return pd.MultiIndex.from_arrays(
                    [np.broadcast_to(ns, len(frame)), frame["port"].to_numpy(), frame["suffix"].to_numpy()]
                )

            mask = keys(riders).isin(keys(openers))
            return [
                self.by_namespace(service, riders[same].to_numpy() * mask, riders[other].to_numpy() * mask)
                for same, other in columns
            ]
        opened = self._holder_groups(openers["service"].to_numpy(), openers[["port", "suffix"]])
        rows = (
            self.holder_pairs(np.unique(service))
            .merge(riders, on="service")
            .merge(opened, on=["holder", "port", "suffix"])
        )
        h = rows["holder"].to_numpy()
        own = self.home_ns[rows["service"].to_numpy()] == self.holder_ns[h]
        return [
            self._per_workload(h, np.where(own, rows[same].to_numpy(), rows[other].to_numpy()))
            for same, other in columns
        ]

    def groups(self, http: pd.DataFrame) -> pd.DataFrame:
        """(workload, group) pairs: the HTTP route groups among the services each workload sees."""
        return self.pairs_of_workloads(self.who_groups(http["service"].to_numpy(), http[["group"]]))
