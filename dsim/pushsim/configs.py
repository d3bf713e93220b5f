"""Every workload's config under one design, kept exact while the mesh churns.

A proxy's config is its own side plus what each service it sees adds (:mod:`dsim.accounting`).
So a change is a difference per service, added to the workloads that see it: a created service
adds its original's contribution (it is a clone), a deleted one takes its own away, and an
endpoint-set change swaps one membership state's endpoint bytes for another's. Membership states
are priced by the accounting's own endpoint pricing, batched so that one call prices many
workloads' states at once (see :func:`price_states`).

Arrays indexed ``[class, service]`` hold one row per proxy family class
(:data:`dsim.accounting.proxies.PROXY_CLASSES`); workloads are rows of ``cluster.workloads``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dsim.accounting.columns import ClusterColumns
from dsim.accounting.proxies import PROXY_CLASSES, DesignAccounting, proxy_classes, workload_tracing_classes
from dsim.cluster import Cluster
from dsim.cluster.grouping import grouped
from dsim.designs import get_design
from dsim.designs.base import Design, ProxyFacts
from dsim.pushsim.churn import ChurnStream
from dsim.pushsim.hotpath import hot_loops
from dsim.pushsim.membership import membership, state_endpoint_prices
from dsim.pushsim.views import Override, state_delta, view_overrides
from dsim.pushsim.visibility import Seers, services_by_workload
from dsim.xds.vocabulary import XDS_TYPES

LDS, CDS, RDS, EDS = (XDS_TYPES.index(t) for t in ("listeners", "clusters", "routes", "endpoints"))
APPLY_TERMS = ("clusters", "listener_additional_addresses", "endpoint_additional_addresses")
K = len(PROXY_CLASSES)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class StateDelta:
    """What one membership state changes, against the cluster's own pods."""

    services: np.ndarray
    """The services whose endpoint sets it changes."""
    eds_bytes: np.ndarray
    """Per class and service: ClusterLoadAssignment bytes added (negative: removed)."""
    endpoint_additional: np.ndarray
    """Per class and service: endpoint additional addresses added."""


def _batches(states: list[tuple[int, tuple[int, ...]]], services_of: list[np.ndarray]) -> list[list[int]]:
    """State ids grouped so that no two states of a group touch the same service."""
    batches: list[list[int]] = []
    used: list[set[int]] = []
    for sid, (workload, _) in enumerate(states):
        touched = set(services_of[workload].tolist())
        for members, seen in zip(batches, used, strict=True):
            if not seen & touched:
                members.append(sid)
                seen |= touched
                break
        else:
            batches.append([sid])
            used.append(set(touched))
    return batches


def price_states(
    cluster: Cluster,
    cols: ClusterColumns,
    design: Design,
    classes: np.ndarray,
    states: list[tuple[int, tuple[int, ...]]],
    base_eds: np.ndarray,
    base_eaa: np.ndarray,
    overrides: dict[int, list[Override]] | None = None,
) -> dict[int, StateDelta]:
    """Each membership state that differs from its workload's own pods, priced exactly (and, for
    the services some namespace sees in its own view, in that view: ``overrides``' state deltas)."""
    pod_workload = cluster.pods["workload"].to_numpy()
    own = {w: tuple(np.flatnonzero(pod_workload == w).tolist()) for w in {w for w, _ in states}}
    changed = [(sid, s) for sid, s in enumerate(states) if tuple(sorted(s[1])) != own[s[0]]]
    services_of = services_by_workload(cluster)
    out: dict[int, StateDelta] = {}
    for batch in _batches([s for _, s in changed], services_of):
        members = [changed[i] for i in batch]
        state = membership(cluster, cols, [s for _, s in members])
        services = np.unique(np.concatenate([services_of[s[0]] for _, s in members]))
        eds = np.zeros((K, len(services)), np.int64)
        eaa = np.zeros((K, len(services)), np.int64)
        for k in classes.tolist():
            priced = state_endpoint_prices(state, state.cols, design, ProxyFacts(families=PROXY_CLASSES[k]), services)
            eds[k] = priced["eds_bytes"].to_numpy() - base_eds[k, services]
            eaa[k] = priced["endpoint_additional_addresses"].to_numpy() - base_eaa[k, services]
        column = {int(s): i for i, s in enumerate(services.tolist())}
        for sid, (workload, _) in members:
            for service in services_of[workload].tolist():
                for override in (overrides or {}).get(int(service), ()):
                    override.state_deltas[sid] = state_delta(state, override, design, classes)
            mine = np.array([column[int(s)] for s in services_of[workload]], dtype=np.int64)
            out[sid] = StateDelta(services=services[mine], eds_bytes=eds[:, mine], endpoint_additional=eaa[:, mine])
    return out


def _contribution(
    values: dict[str, np.ndarray], auto: np.ndarray, k: np.ndarray, tau: np.ndarray, same: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bytes per xDS type and apply counts a service priced at ``values`` (one per class) and
    ``auto`` (per class and tracing class) adds to workloads of classes ``k``."""
    size = np.zeros((len(k), len(XDS_TYPES)), np.int64)
    size[:, LDS] = values["lds"][k] + auto[k, tau]
    size[:, CDS] = values["cds"][k]
    size[:, RDS] = values["rds"][k] + np.where(same, values["same"][k], values["other"][k])
    size[:, EDS] = values["eds"][k]
    apply = np.stack([values["clusters"][k], values["laa"][k], values["eaa"][k]], axis=1)
    return size, apply


class ConfigModel:
    """Bytes per xDS type, and apply-relevant counts, of every workload's sidecar config under
    one design, updated event by event from the design's accounting of the cluster."""

    def __init__(
        self, cluster: Cluster, cols: ClusterColumns, accounting: DesignAccounting, stream: ChurnStream, seers: Seers
    ) -> None:
        chosen = get_design(accounting.design)
        self.seers = seers
        workloads = len(cluster.workloads)
        proxy_workload = cluster.proxies["workload"].to_numpy()
        proxied, first = np.unique(proxy_workload, return_index=True)
        self.workload_class = np.zeros(workloads, np.int64)
        self.workload_class[proxied] = proxy_classes(cluster)[first]
        self.workload_namespace = cluster.workloads["namespace"].to_numpy()
        links = cluster.service_workloads
        self.targets = grouped(links["service"].to_numpy(), links["workload"].to_numpy(), len(cluster.services))
        """Per original service row: the workloads it selects (its service targets' pods)."""
        by_type = accounting.sizes.pivot(index="proxy", columns="xds_type", values="bytes")
        # Per workload: its whole config's bytes per xDS type and apply counts, but for the
        # endpoint changes kept per class (below); read them through config_bytes / config_apply.
        self._bytes = np.zeros((workloads, len(XDS_TYPES)), np.int64)
        self._bytes[proxied] = by_type[list(XDS_TYPES)].to_numpy()[first]
        self._apply = np.zeros((workloads, len(APPLY_TERMS)), np.int64)
        for i, term in enumerate(APPLY_TERMS):
            self._apply[proxied, i] = accounting.counts[term].to_numpy()[first]
        self._service_contributions(cluster, cols, chosen, accounting, stream, proxied)

    def _service_contributions(
        self,
        cluster: Cluster,
        cols: ClusterColumns,
        design: Design,
        accounting: DesignAccounting,
        stream: ChurnStream,
        proxied: np.ndarray,
    ) -> None:
        n = len(cluster.services)
        tau = workload_tracing_classes(cols)
        taus = np.unique(tau[proxied]).tolist()
        self.tau_index = np.searchsorted(np.asarray(taus), tau).clip(0, max(len(taus) - 1, 0))
        self.classes = np.unique(self.workload_class[proxied])
        zeros = np.zeros((K, n), np.int64)
        c = {name: zeros.copy() for name in ("cds", "clusters", "eds", "lds", "rds", "same", "other", "laa", "eaa")}
        auto = np.zeros((K, max(len(taus), 1), n), np.int64)
        for k in self.classes.tolist():
            prices = accounting.class_prices[k]  # priced for the same tracing classes as ``taus``
            ps = prices.per_service
            for name, column in (
                ("cds", "cds_bytes"),
                ("clusters", "cds_resources"),
                ("eds", "eds_bytes"),
                ("lds", "lds_bytes"),
                ("rds", "rds_bytes"),
                ("laa", "listener_additional_addresses"),
                ("eaa", "endpoint_additional_addresses"),
            ):
                if column in ps:
                    c[name][k] = ps[column].to_numpy()
            for i, t in enumerate(taus):
                auto[k, i] = prices.auto_listener_bytes[t]
            http = prices.http
            for name, column in (("same", "vhost_same"), ("other", "vhost_other")):
                c[name][k] = np.bincount(http["service"].to_numpy(), weights=http[column].to_numpy(), minlength=n)
        source = stream.service_source
        self.source = source
        self.home_namespace = cols.service_home_namespace[source]
        """Per service: whose proxies get its ``same`` virtual hosts (a created copy: its original's)."""
        self.per_service = {name: values[:, source] for name, values in c.items()}
        self.auto_lds = auto[:, :, source]
        self.alive = np.ones(len(source), bool)
        self.alive[n:] = False  # created services join when their event comes
        # Endpoint sets: the current bytes per class and service, and each workload's state.
        self.eds_now = self.per_service["eds"].copy()
        self.eaa_now = self.per_service["eaa"].copy()
        self.originals = n
        self.overrides = view_overrides(cluster, cols, design, self.classes, taus, cluster.workload_viewers())
        """Per original service: what it adds to the viewers that see it in their own view."""
        self.state_deltas = price_states(
            cluster, cols, design, self.classes, stream.states, c["eds"], c["eaa"], self.overrides
        )
        # When every workload sees every service, an endpoint change adds the same to every
        # workload of a class: it is kept per class (endpoint bytes, endpoint additional
        # addresses), not written to every workload's row at every event.
        self.eds_by_class = np.zeros(len(self.eds_now), np.int64)
        self.eaa_by_class = np.zeros(len(self.eds_now), np.int64)
        nothing = np.zeros((len(self.eds_now), 0), np.int64)
        self._no_change = StateDelta(services=np.zeros(0, np.int64), eds_bytes=nothing, endpoint_additional=nothing)
        """The change of the cluster's own pods (the state -1)."""
        self.workload_state = np.full(len(cluster.workloads), -1, np.int64)
        self.services_of = services_by_workload(cluster)
        self._hot = hot_loops()
        self.version = 0
        """Counts the changes so far: equal versions, equal sizes."""
        self.service_stamp = np.zeros(len(source), np.int64)
        """Per service: the version that last changed its endpoint sets or brought it to life or death."""
        self._gated = False
        self._let = False

    # -- who may change it ----------------------------------------------------------------------------
    def gate(self) -> None:
        """From now on every change must be let through (:meth:`let_change`) by the fan-out that
        prices proxy pushes from this model, once it has committed what was dispatched before the
        change (a proxy push computed from changed sizes it was not sent would be wrong)."""
        self._gated = True

    def let_change(self) -> None:
        """The next change may happen (called by the fan-out, after committing)."""
        self._let = True

    def _changing(self) -> None:
        if self._gated and not self._let:
            raise RuntimeError(
                "the config model changed before the push fan-out committed "
                "the proxy pushes dispatched before the change"
            )
        self._let = False

    # -- what a service adds to the workloads that see it ------------------------------------------
    def seers_of(self, service: int) -> np.ndarray:
        return self.seers.of(int(self.source[service]))

    def _priced(self, service: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``service``'s prices in the base view: per name one value per class, and its auto
        listeners' bytes per class and tracing class."""
        values = {name: column[:, service] for name, column in self.per_service.items()}
        values["eds"], values["eaa"] = self.eds_now[:, service], self.eaa_now[:, service]
        return values, self.auto_lds[:, :, service]

    def _overridden(self, override: Override, service: int) -> dict[str, np.ndarray]:
        """``override``'s prices for ``service`` (a created copy keeps its original's own pods)."""
        if service < self.originals:
            return override.values
        return {**override.values, "eds": override.initial[0], "eaa": override.initial[1]}

    def _views_of(self, service: int) -> list[Override]:
        return self.overrides.get(int(self.source[service]), [])

    def contribution(self, service: int, seers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bytes per xDS type and apply counts ``service`` adds to each of ``seers``."""
        same = self.workload_namespace[seers] == self.home_namespace[service]
        values, auto = self._priced(service)
        size, apply = _contribution(values, auto, self.workload_class[seers], self.tau_index[seers], same)
        for override in self._views_of(service):
            hit = override.workloads[seers]
            if hit.any():
                size[hit], apply[hit] = _contribution(
                    self._overridden(override, service),
                    override.auto,
                    self.workload_class[seers[hit]],
                    self.tau_index[seers[hit]],
                    same[hit],
                )
        return size, apply

    def _add(self, service: int, sign: int) -> None:
        self.version += 1
        self.service_stamp[service] = self.version
        seers = self.seers_of(service)
        size, apply = self.contribution(service, seers)
        self._bytes[seers] += sign * size
        self._apply[seers] += sign * apply

    # -- events -----------------------------------------------------------------------------------
    def create_service(self, service: int) -> None:
        self._changing()
        self.alive[service] = True
        self._add(service, +1)

    def delete_service(self, service: int) -> None:
        # What a service shares with others stays: if it was the last one of an HTTP port's
        # route group a proxy sees, that group's route configuration and listener stay counted
        # (a few hundred bytes): route groups are not re-derived under churn. For the same reason a
        # service's sniffed ports' virtual hosts in a shared "P" are added and removed for every
        # proxy that sees it, open "P" or not (docs/istio-objects.md 1.2). Nor is it re-derived which
        # of two services' listeners on one address a proxy gets: deleting the one holding it does
        # not bring the other's back, nor does deleting the other take less (3.4).
        self._changing()
        if self.alive[service]:
            self._add(service, -1)
            self.alive[service] = False

    def set_state(self, workload: int, state: int) -> np.ndarray:
        """The workload's endpoints are now membership state ``state``; returns the services whose
        endpoint sets changed (all the workload's services: new addresses even at equal size)."""
        self._changing()
        self.version += 1
        was_state = int(self.workload_state[workload])
        old = self.state_deltas.get(was_state)
        new = self.state_deltas.get(state)
        self.workload_state[workload] = state
        for delta in (old, new):
            if delta is not None:
                self.service_stamp[delta.services] = self.version
        if self.seers.mode == "all":  # every workload: whole columns, no index
            was, now = old or self._no_change, new or self._no_change
            self._hot.endpoint_change(
                was.services, was.eds_bytes, was.endpoint_additional, now.services, now.eds_bytes,
                now.endpoint_additional, self.alive, self.eds_now, self.eaa_now, self.eds_by_class,
                self.eaa_by_class,
            )  # fmt: skip
        else:
            for delta, sign in ((old, -1), (new, +1)):
                if delta is not None:
                    self._change_seers(delta, sign)
        for sid, delta, sign in ((was_state, old, -1), (state, new, +1)):
            if delta is not None:
                self._change_views(sid, delta, sign)
        services = self.services_of[workload]
        return services[self.alive[services]]

    def config_bytes(self, workloads: np.ndarray) -> np.ndarray:
        """Per workload of ``workloads``: its whole config's bytes per xDS type, as they are now."""
        found = self._bytes[workloads]
        found[:, EDS] += self.eds_by_class[self.workload_class[workloads]]
        return found

    def config_apply(self, workloads: np.ndarray) -> np.ndarray:
        """Per workload of ``workloads``: its whole config's apply counts (:data:`APPLY_TERMS`), as they are now."""
        found = self._apply[workloads]
        found[:, 2] += self.eaa_by_class[self.workload_class[workloads]]
        return found

    @property
    def bytes(self) -> np.ndarray:
        """Per workload: its whole config's bytes per xDS type, as they are now."""
        return self.config_bytes(np.arange(len(self._bytes)))

    def _change_seers(self, delta: StateDelta, sign: int) -> None:
        """Add ``sign`` times ``delta`` to the endpoint sets and to the configs of the workloads
        that see each service."""
        for i, service in enumerate(delta.services.tolist()):
            change = sign * delta.eds_bytes[:, i]
            extra = sign * delta.endpoint_additional[:, i]
            self.eds_now[:, service] += change
            self.eaa_now[:, service] += extra
            if self.alive[service]:
                seers = self.seers_of(service)
                k = self.workload_class[seers]
                self._bytes[seers, EDS] += change[k]
                self._apply[seers, 2] += extra[k]

    def _change_views(self, sid: int, delta: StateDelta, sign: int) -> None:
        """Add ``sign`` times state ``sid``'s change to the overridden endpoint sets, and to the
        workloads that see them in their own view, in place of the base change already added."""
        for i, service in enumerate(delta.services.tolist()):
            for override in self.overrides.get(service, ()):
                eds, eaa = (sign * part for part in override.state_deltas[sid])
                override.values["eds"] = override.values["eds"] + eds
                override.values["eaa"] = override.values["eaa"] + eaa
                if self.alive[service]:
                    seers = self.seers_of(service)
                    seers = seers[override.workloads[seers]]
                    k = self.workload_class[seers]
                    self._bytes[seers, EDS] += (eds - sign * delta.eds_bytes[:, i])[k]
                    self._apply[seers, 2] += (eaa - sign * delta.endpoint_additional[:, i])[k]

    # -- what a push carries -------------------------------------------------------------------------
    def changes_seen(self, services: np.ndarray, workloads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``workloads``: bytes per xDS type of the clusters and endpoint sets of
        ``services`` (distinct, alive) it sees, as they are now, and their apply counts. Listeners
        and routes are left at zero (a push carrying them resends them whole)."""
        services = services[self.alive[services]]
        size = np.zeros((len(workloads), len(XDS_TYPES)), np.int64)
        apply = np.zeros((len(workloads), len(APPLY_TERMS)), np.int64)
        if len(services) == 0:
            return size, apply
        p = self.per_service
        columns = (
            (size, CDS, p["cds"]),
            (size, EDS, self.eds_now),
            (apply, 0, p["clusters"]),
            (apply, 2, self.eaa_now),
        )
        k = self.workload_class[workloads]
        if self.seers.mode == "all":
            for target, column, values in columns:
                target[:, column] = values[:, services].sum(axis=1)[k]
        else:  # summed per holder (the workloads that see the same: a namespace, a scope group)
            source, theirs = self.source[services], self.seers.holder[workloads]
            for target, column, values in columns:
                by_original = [
                    np.bincount(source, weights=row, minlength=self.originals) for row in values[:, services]
                ]
                per_holder = np.stack([self.seers.per_holder(row) for row in by_original], axis=1)
                target[:, column] += per_holder[theirs, k].astype(np.int64)
        for service in services.tolist() if self.overrides else ():  # namespaces that see it in their own view
            for override in self._views_of(service):
                sees = override.workloads[workloads] & self.seers.sees(int(self.source[service]), workloads)
                own = self._overridden(override, service)
                kk = k[sees]
                for (target, column, values), name in zip(columns, ("cds", "eds", "clusters", "eaa"), strict=True):
                    target[sees, column] += own[name][kk] - values[kk, service]
        return size, apply

    def sees_any(self, services: np.ndarray) -> np.ndarray:
        """Per workload: whether it sees any of ``services``."""
        return self.seers.sees_any(self.source[services])

    def targets_any(self, services: np.ndarray) -> np.ndarray:
        """Per workload: whether its pods are targets of any of ``services`` (a created copy's are
        its original's): istiod pushes a proxy every change keyed by one of its own services, seen
        or not (``filterRelevantUpdates``; ``docs/istio-objects.md`` 5.1)."""
        out = np.zeros(len(self.workload_class), bool)
        for service in np.unique(self.source[services]).tolist():
            out[self.targets[service]] = True
        return out

    def generated_once(self, services: np.ndarray, types: tuple[int, ...]) -> int:
        """Bytes istiod generates once per push for the changed ``services``' resources of
        ``types`` (cached for every proxy after; the largest class's version)."""
        services = services[self.alive[services]]
        if len(services) == 0:
            return 0
        per_type = {
            EDS: self.eds_now,
            CDS: self.per_service["cds"],
            RDS: self.per_service["other"],
        }
        return sum(int(per_type[t][:, services].max(axis=0).sum()) for t in types)
