"""The review's scenario section: the mesh as built, counted from the cluster's tables (a
scenario's description is its author's words and may round; the counts here never do), and
the settings that shape its costs."""

from __future__ import annotations

import pandas as pd

from dsim.report.document import Block, Heading, Paragraph, Table
from dsim.report.numbers import percent
from dsim.results import RunResult
from dsim.scenario.model import Churn


def _churn_rates(churn: Churn) -> tuple[float, ...]:
    return (
        churn.pod_replacements_per_s,
        churn.rollouts_per_hour,
        churn.scale_events_per_hour,
        churn.service_creations_per_hour + churn.service_deletions_per_hour,
        churn.config_edits_per_hour,
        len(churn.istiod_restarts_s),
    )


def has_churn(churn: Churn) -> bool:
    """Whether the scenario asks for any change at all (its draw may still hold none)."""
    return any(_churn_rates(churn))


def _churn_words(churn: Churn) -> str:
    rates = _churn_rates(churn)
    if not any(rates):
        return "none (nothing changes, so the push model has no events)"
    return (
        f"{churn.duration_s:g} s: {churn.pod_replacements_per_s:g} pod replacements/s, "
        f"{churn.rollouts_per_hour:g} rollouts/h, {churn.scale_events_per_hour:g} scale events/h, "
        f"{rates[3]:g} service changes/h, {rates[4]:g} config edits/h, {rates[5]} istiod restarts"
    )


def _visibility_words(visibility: str) -> str:
    return "every service" if visibility == "all" else f"what its Sidecar scope ({visibility}) admits"


def _count(families: pd.DataFrame, kind: str, family: str) -> int:
    rows = families[(families["object"] == kind) & (families["ip_families"] == family)]
    return int(rows["count"].sum())


def _counted(n: int, one: str, many: str = "") -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def _mesh_words(result: RunResult) -> str:
    """The mesh in one sentence, every count from the built cluster."""
    totals = result.tables["cluster_totals"].iloc[0]
    families = result.tables["cluster_by_ip_family"]
    sidecars, dual_sidecars = int(totals["sidecars"]), int(totals["dual_stack_sidecars"])
    both = (
        "every one with both IP families"
        if dual_sidecars == sidecars
        else f"{dual_sidecars:,} of them with both IP families"
    )
    return (
        f"The mesh as built: {_counted(int(totals['services']), 'service')} in "
        f"{_counted(int(totals['namespaces']), 'namespace')}, "
        f"{int(totals['dual_stack_services']):,} of them dual-stack ({_count(families, 'services', 'IPv4,IPv6'):,} "
        f"IPv4-primary, {_count(families, 'services', 'IPv6,IPv4'):,} IPv6-primary); "
        f"{_counted(int(totals['workloads']), 'workload')} with {_counted(int(totals['pods']), 'pod')} in "
        f"{_counted(int(totals['localities']), 'locality', 'localities')} and {_counted(sidecars, 'sidecar')}, "
        f"{both}; every sidecar sees "
        f"{_visibility_words(result.scenario.visibility)}. "
        f"Designs compared: {', '.join(f'`{d}`' for d in result.scenario.designs)}."
    )


def scenario_blocks(result: RunResult) -> list[Block]:
    """Heading, the mesh in words, its settings, its services and pods by IP family, and its
    service ports by protocol."""
    s = result.scenario
    totals = result.tables["cluster_totals"].iloc[0]
    istiod = s.istiod
    text = _mesh_words(result)
    if s.description.strip():
        text += f' The scenario file describes it as: "{s.description.strip()}"'
    rows = [
        ("namespaces", f"{int(totals['namespaces']):,}"),
        ("services (dual-stack)", f"{int(totals['services']):,} ({int(totals['dual_stack_services']):,})"),
        ("service ports", f"{int(totals['service_ports']):,}"),
        ("workloads", f"{int(totals['workloads']):,}"),
        ("pods / sidecars", f"{int(totals['pods']):,} / {int(totals['sidecars']):,}"),
        ("localities", f"{int(totals['localities']):,}"),
        ("visibility (Sidecar scope)", s.visibility),
        ("mTLS", s.mesh.mtls),
        ("Envoy stats profile", s.envoy.stats_profile),
        ("Envoy workload certificate", s.envoy.workload_certificate),
        (
            "istiod",
            f"{istiod.replicas} × {istiod.gomaxprocs} cores, throttle {istiod.push_throttle}, "
            f"debounce {istiod.debounce_after_s:g}/{istiod.debounce_max_s:g} s, "
            f"{'delta' if istiod.delta_xds else 'SotW'} xDS, {istiod.send_bandwidth_mbps:g} Mbit/s",
        ),
        ("churn", _churn_words(s.churn)),
        ("seed", str(s.seed)),
    ]
    families = result.tables["cluster_by_ip_family"]
    return [
        Heading(text="Scenario"),
        Paragraph(text=text),
        Table(header=("", "value"), rows=tuple(rows)),
        Table(
            header=("objects", "IP families", "count", "share"),
            rows=tuple(
                (str(kind), str(ip_families), f"{int(count):,}", percent(float(share)))
                for kind, ip_families, count, share in families[["object", "ip_families", "count", "share"]].to_numpy()
            ),
            align_right=(False, False, True, True),
            caption="Services and pods by IP family (the first family is the primary one).",
        ),
        *_protocol_table(result),
    ]


def _protocol_table(result: RunResult) -> list[Block]:
    """Service ports by protocol, as Istio reads it: what shapes each port's listeners and routes
    (none for a run saved before the table was kept)."""
    protocols = result.tables.get("cluster_by_protocol")
    if protocols is None or not len(protocols):
        return []
    return [
        Table(
            header=("protocol", "service ports", "distinct port numbers", "share"),
            rows=tuple(
                (str(protocol), f"{int(ports):,}", f"{int(numbers):,}", percent(float(share)))
                for protocol, ports, numbers, share in protocols[
                    ["protocol", "service_ports", "distinct_port_numbers", "share"]
                ].to_numpy()
            ),
            align_right=(False, True, True, True),
            caption=(
                "Service ports (ServiceEntry ports too) by protocol as Istio reads it, which decides each "
                "port's chains: HTTP ones (HTTP, HTTP2, GRPC, GRPC-Web) share a listener per port number "
                "and its route configuration; TCP, TLS, HTTPS and Mongo ones get TCP chains; auto ones "
                "are detected (sniffed), with both."
            ),
        )
    ]
