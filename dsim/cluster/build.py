"""Build a :class:`Cluster` from a resolved scenario: explicit objects, then synthetic ones,
then addresses for everything that has none, then one proxy per pod with a sidecar — once the
size guard (:mod:`dsim.sizing`) has found that it fits in memory."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dsim.addresses import (
    FIRST_USABLE_OFFSET,
    IpNetwork,
    allocate_random,
    allocate_sequential,
    ipv4_from_offsets,
    ipv6_from_offsets,
    usable_span,
)
from dsim.cluster.delegation import check_merged_size
from dsim.cluster.discovery import UNDISCOVERED_SERVICES, drop_undiscovered_services
from dsim.cluster.explicit import explicit_tables
from dsim.cluster.headless import service_entry_rows
from dsim.cluster.istio import generated_objects, istio_tables
from dsim.cluster.synthetic import synthetic_tables
from dsim.cluster.tables import LATE_TABLES, REFERENCES, SCHEMA, Cluster, make_table
from dsim.errors import ScenarioError
from dsim.randomness import generator
from dsim.scenario import Scenario
from dsim.scenario.checks import FAMILIES, cidr_of, family_key
from dsim.scenario.istio import ServiceEntry
from dsim.scenario.load import source_name
from dsim.sizing import check_fits

_PARTS = [name for name in SCHEMA if name not in LATE_TABLES]


def _concat(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Stack the parts' tables, shifting each part's ids past the rows of the parts before it."""
    shifted: list[dict[str, pd.DataFrame]] = []
    offsets = dict.fromkeys(_PARTS, 0)
    for part in parts:
        shifted.append(
            {
                name: frame.assign(
                    **{column: frame[column] + offsets[target] for column, target in REFERENCES.get(name, {}).items()}
                )
                for name, frame in part.items()
            }
        )
        for name in _PARTS:
            offsets[name] += len(part[name])
    return {name: pd.concat([p[name] for p in shifted], ignore_index=True).astype(SCHEMA[name]) for name in _PARTS}


def _dedupe_localities(tables: dict[str, pd.DataFrame]) -> None:
    localities = tables["localities"]
    codes, _ = pd.factorize(localities["region"] + "\x00" + localities["zone"])
    _, first = np.unique(codes, return_index=True)
    tables["localities"] = localities.iloc[first].reset_index(drop=True)
    tables["pods"]["locality"] = codes[tables["pods"]["locality"].to_numpy()].astype(np.int32)


def _fixed_offsets(network: IpNetwork, frame: pd.DataFrame, column: str) -> np.ndarray:
    """Offsets into ``network`` of the rows' fixed addresses (scratch column ``<column>_fixed``)."""
    fixed = frame[f"{column}_fixed"].to_numpy()
    base = int(network.network_address)
    if network.version == 4:
        return frame[column].to_numpy()[fixed].astype(np.uint64) - np.uint64(base)
    low = frame[f"{column}_lo"].to_numpy()[fixed]
    return low - np.uint64(base & ((1 << 64) - 1))  # offsets fit in 64 bits; wrap-around is exact


def _written_offsets(written: pd.DataFrame, key: str, network: IpNetwork) -> np.ndarray:
    """Offsets into ``network`` of the endpoints written by hand of its family that lie in it,
    counted as :func:`_fixed_offsets` counts a row's fixed address."""
    rows = written[written[f"has_{key}"].to_numpy()]
    addresses: list[ipaddress.IPv4Address] | list[ipaddress.IPv6Address]
    if key == "ipv4":
        addresses = [ipaddress.IPv4Address(v) for v in rows["ipv4"].tolist()]
    else:
        pairs = zip(rows["ipv6_hi"].tolist(), rows["ipv6_lo"].tolist(), strict=True)
        addresses = [ipaddress.IPv6Address((int(hi) << 64) | int(lo)) for hi, lo in pairs]
    inside = np.array([ip in network for ip in addresses], dtype=bool)
    return np.unique(_fixed_offsets(network, rows.assign(**{f"{key}_fixed": inside}), key))


def _allocate(
    frame: pd.DataFrame,
    column: str,
    has: str,
    network: IpNetwork,
    rng: np.random.Generator | None,
    error: tuple[str, str, str],
    reserved: np.ndarray | None = None,
) -> None:
    """Give every row with ``has`` and no fixed address one from ``network`` (random if ``rng``),
    clear of the rows' fixed ones and of the ``reserved`` offsets into it."""
    need = frame[has].to_numpy() & ~frame[f"{column}_fixed"].to_numpy()
    taken = _fixed_offsets(network, frame, column)
    span = usable_span(network)
    if reserved is not None and reserved.size:
        # Only those the allocator could hand out take room from it.
        usable = (reserved >= FIRST_USABLE_OFFSET) & (reserved < FIRST_USABLE_OFFSET + span)
        taken = np.union1d(taken, reserved[usable])
    count = int(need.sum())
    if count + taken.size > span:
        source, path, what = error
        raise ScenarioError(
            source,
            path,
            f"{network} has room for {span:,} {what} but the cluster needs {count + taken.size:,}; "
            "use a larger range or fewer objects",
        )
    offsets = allocate_random(rng, count, taken, span) if rng else allocate_sequential(count, taken, span)
    if network.version == 4:
        values = frame[column].to_numpy().copy()
        values[need] = ipv4_from_offsets(network, offsets)
        frame[column] = values
    else:
        high, low = ipv6_from_offsets(network, offsets)
        for suffix, part in (("_hi", high), ("_lo", low)):
            values = frame[column + suffix].to_numpy().copy()
            values[need] = part
            frame[column + suffix] = values


def _assign_addresses(s: Scenario, tables: dict[str, pd.DataFrame], source: str) -> None:
    for family in FAMILIES:
        key = family_key(family)
        services_net = cidr_of(s.network.service_cidrs, family)
        if services_net:
            _allocate(
                tables["services"],
                "vip4" if family == "IPv4" else "vip6",
                f"has_{key}",
                ipaddress.ip_network(services_net),
                generator(s.seed, f"service-ips-{key}"),
                (source, f"network.service_cidrs.{key}", "ClusterIPs"),
            )
        pods_net = cidr_of(s.network.pod_cidrs, family)
        if pods_net:
            network = ipaddress.ip_network(pods_net)
            _allocate(
                tables["pods"],
                key,
                f"has_{key}",
                network,
                None,
                (source, f"network.pod_cidrs.{key}", "pod IPs"),
                # No pod at an endpoint written by hand: istiod would give the endpoint its metadata.
                reserved=_written_offsets(tables["written_endpoints"], key, network),
            )


def build_cluster(scenario: Scenario, *, source: str | None = None) -> Cluster:
    """The cluster ``scenario`` describes, as tables; ``source`` names the scenario in errors."""
    source = source_name(scenario, source)
    check_fits(scenario, source=source)  # before anything is allocated
    check_merged_size(scenario.virtual_services, source)  # generated ones never delegate
    parts = [explicit_tables(scenario)]
    if scenario.synthetic.services:
        parts.append(synthetic_tables(scenario))
    tables = _concat(parts)
    _dedupe_localities(tables)
    _assign_addresses(scenario, tables, source)
    # After the addresses and the generated objects' draws: the services istiod discovers keep the
    # VIPs and objects they have without selectors.
    generated = generated_objects(scenario, tables)
    undiscovered = drop_undiscovered_services(scenario, tables)
    istio = istio_tables(scenario, tables, generated)
    if undiscovered:
        noted = dict(istio.notes)
        noted[UNDISCOVERED_SERVICES] = undiscovered
        istio = dataclasses.replace(istio, notes=tuple(sorted(noted.items())))

    pods, workloads = tables["pods"], tables["workloads"]
    pod_workload = pods["workload"].to_numpy()
    with_sidecar = np.flatnonzero(workloads["sidecar"].to_numpy()[pod_workload])
    tables["proxies"] = make_table(
        "proxies",
        {
            "pod": with_sidecar,
            "workload": pod_workload[with_sidecar],
            "namespace": workloads["namespace"].to_numpy()[pod_workload[with_sidecar]],
        },
    )
    _check_service_entry_churn(scenario, tables["services"], istio.service_entries, source)
    return Cluster(scenario=scenario, istio=istio, **{name: tables[name][list(SCHEMA[name])] for name in SCHEMA})


def _check_service_entry_churn(
    scenario: Scenario, services: pd.DataFrame, entries: Sequence[ServiceEntry], source: str
) -> None:
    """ServiceEntry edits need a ServiceEntry to edit: a rate above zero without one is refused
    (a VirtualService or DestinationRule edit falls back to a service's own config; a ServiceEntry
    edit has nothing to stand in for it)."""
    rate = scenario.churn.service_entry_changes_per_hour
    if rate > 0 and not len(service_entry_rows(services["entry"].to_numpy(), entries)):
        raise ScenarioError(
            source,
            "churn.service_entry_changes_per_hour",
            f"{rate:g} edits per hour, but the mesh has no ServiceEntry host for them to edit; "
            "add service_entries (or a ServiceEntry generator), or set it to 0",
        )


def require_sidecars(cluster: Cluster, source: str | None = None) -> None:
    """Refuse a cluster without sidecars where their configs are what is compared (``dsim run``)."""
    if len(cluster.proxies):
        return
    pods = len(cluster.pods)
    if pods == 0:
        why = "has no pods (no workload with replicas, and synthetic.services is 0)"
    else:
        why = f"has {pods:,} pods but none runs an Istio sidecar (sidecar: false, or no sidecar_injection)"
    raise ScenarioError(
        source_name(cluster.scenario, source),
        "workloads",
        f"the cluster {why}, so there is no sidecar config to compare; give some pods a sidecar",
    )
