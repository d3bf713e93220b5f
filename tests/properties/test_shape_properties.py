"""The template sizing engine equals ``ByteSize()`` of real messages, for every resource shape
dsim builds, with lengths that cross varint boundaries and ragged parts of 0, 1 or many."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsim.accounting.shape import Columns, Number, Ragged, ragged, serialized_sizes, text
from dsim.designs.base import Bind, InboundCluster, PassthroughChains, VirtualInbound
from dsim.scenario.istio.destination_rule import TcpKeepalive
from dsim.scenario.istio.virtual_service import HTTPRetry
from dsim.scenario.model import IpFamily
from dsim.xds import clusters, endpoints, listeners, routes
from dsim.xds.common import tracing
from dsim.xds.mesh_defaults import ISTIO_MESH, MeshDefaults
from dsim.xds.names import cluster_name, sni
from dsim.xds.view import EndpointRows, InboundEndpoint, InboundPort

# String lengths, weighted towards the varint boundaries of the fields that hold them.
length = st.one_of(st.integers(0, 40), st.sampled_from([1, 63, 64, 126, 127, 128, 129, 255, 256, 16383, 16384]))
nonempty = length.filter(lambda n: n > 0)
port = st.integers(1, 65535)
# Istio's mesh defaults, and mesh settings that change every cluster and default route.
meshes = st.sampled_from(
    [
        ISTIO_MESH,
        MeshDefaults(
            h2_upgrade=True,
            connect_timeout=1500,
            tcp_keepalive=TcpKeepalive(probes=3, time=7_200_000, interval=75_000),
            http_retry=HTTPRetry(attempts=0),
        ),
        MeshDefaults(tcp_keepalive=TcpKeepalive(), http_retry=HTTPRetry(attempts=5, retry_on="5xx,503,504")),
    ]
)


def word(n: int, letter: str = "a") -> str:
    return letter * n


def check(template: Any, real: Callable[[dict[str, Any]], Any], rows: list[dict[str, Any]], columns: Columns) -> None:
    expected = [real(row).ByteSize() for row in rows]
    assert serialized_sizes(template, columns).tolist() == expected


def ragged_of(lists: list[list[int]]) -> Ragged:
    """Elements with one string each (field ``value``) of the given lengths, per instance."""
    lengths = np.array([n for items in lists for n in items], dtype=np.int64)
    return Ragged(
        elements=Columns(count=len(lengths), lengths={"value": lengths}),
        owner=np.array([i for i, items in enumerate(lists) for _ in items], dtype=np.int64),
    )


cluster_rows = st.lists(
    st.fixed_dictionaries(
        {
            "host": nonempty,
            "svc": nonempty,
            "ns": nonempty,
            "port": port,
            "subset": nonempty,
            "sans": st.lists(length, max_size=4),
        }
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(
    cluster_rows,
    st.sampled_from(["HTTP", "HTTP2", "GRPC", "TCP", "auto"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["outbound", "outbound6"]),
    meshes,
)
def test_outbound_cluster(
    rows: list[dict[str, Any]], protocol: str, mtls: bool, subset: bool, prefix: str, mesh: MeshDefaults
) -> None:
    p = Number("port")
    sub = text("subset") if subset else ""
    template = clusters.outbound(
        cluster_name(prefix, p, sub, text("host")),
        host=text("host"),
        service=text("svc"),
        namespace=text("ns"),
        port=p,
        protocol=protocol,
        subset=sub,
        identities=[ragged("san", "value")],
        sni=sni(p, sub, text("host")),
        mtls=mtls,
        mesh=mesh,
    )

    def real(r: dict[str, Any]) -> Any:
        s = word(r["subset"], "v") if subset else ""
        host = word(r["host"], "h")
        return clusters.outbound(
            cluster_name(prefix, r["port"], s, host),
            host=host,
            service=word(r["svc"]),
            namespace=word(r["ns"]),
            port=r["port"],
            protocol=protocol,
            subset=s,
            identities=[word(n, "s") for n in r["sans"]],
            sni=sni(r["port"], s, host),
            mtls=mtls,
            mesh=mesh,
        )

    columns = Columns(
        count=len(rows),
        lengths={k: np.array([r[k] for r in rows]) for k in ("host", "svc", "ns", "subset")},
        numbers={"port": np.array([r["port"] for r in rows])},
        ragged={"san": ragged_of([r["sans"] for r in rows])},
    )
    check(template, real, rows, columns)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({"host": nonempty, "port": port, "domains": st.lists(length, max_size=6)}),
        min_size=1,
        max_size=6,
    ),
    meshes,
)
def test_virtual_host(rows: list[dict[str, Any]], mesh: MeshDefaults) -> None:
    p = Number("port")
    template = routes.service_vhost(
        text("host"),
        p,
        [text("host"), ragged("domain", "value")],
        cluster_name("outbound", p, "", text("host")),
        mesh=mesh,
    )

    def real(r: dict[str, Any]) -> Any:
        host = word(r["host"], "h")
        return routes.service_vhost(
            host,
            r["port"],
            [host, *(word(n, "d") for n in r["domains"])],
            cluster_name("outbound", r["port"], "", host),
            mesh=mesh,
        )

    columns = Columns(
        count=len(rows),
        lengths={"host": np.array([r["host"] for r in rows])},
        numbers={"port": np.array([r["port"] for r in rows])},
        ragged={"domain": ragged_of([r["domains"] for r in rows])},
    )
    check(template, real, rows, columns)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({"vip": nonempty, "other": nonempty, "port": port, "host": nonempty}),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_tcp_listener(rows: list[dict[str, Any]], additional: bool) -> None:
    p = Number("port")
    bind = Bind(address=text("vip"), additional=(text("other"),) if additional else ())
    template = listeners.outbound_tcp(bind, p, cluster_name("outbound", p, "", text("host")))

    def real(r: dict[str, Any]) -> Any:
        b = Bind(address=word(r["vip"], "1"), additional=(word(r["other"], "2"),) if additional else ())
        return listeners.outbound_tcp(b, r["port"], cluster_name("outbound", r["port"], "", word(r["host"], "h")))

    columns = Columns(
        count=len(rows),
        lengths={k: np.array([r[k] for r in rows]) for k in ("vip", "other", "host")},
        numbers={"port": np.array([r["port"] for r in rows])},
    )
    check(template, real, rows, columns)


identity = st.fixed_dictionaries({"svc": length, "rev": length, "ns": nonempty, "host": nonempty, "port": port})


def tracing_of(r: dict[str, Any]) -> Any:
    return tracing(word(r["svc"], "s"), word(r["rev"], "r"), "cluster.local", word(r["ns"], "n"))


def identity_columns(rows: list[dict[str, Any]]) -> Columns:
    return Columns(
        count=len(rows),
        lengths={k: np.array([r[k] for r in rows]) for k in ("svc", "rev", "ns", "host")},
        numbers={"port": np.array([r["port"] for r in rows])},
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(identity, min_size=1, max_size=5))
def test_http_and_auto_listeners_with_the_proxys_tracing(rows: list[dict[str, Any]]) -> None:
    p = Number("port")
    trace = tracing(text("svc"), text("rev"), "cluster.local", text("ns"))
    bind = Bind(address="0.0.0.0", additional=("::",))
    http = listeners.outbound_http(bind, p, f"{p}", trace, "PassthroughCluster")
    auto = listeners.outbound_auto(
        Bind(address=text("host")), p, f"{text('host')}:{p}", f"outbound|{p}||{text('host')}", trace
    )
    check(
        http,
        lambda r: listeners.outbound_http(bind, r["port"], f"{r['port']}", tracing_of(r), "PassthroughCluster"),
        rows,
        identity_columns(rows),
    )
    check(
        auto,
        lambda r: listeners.outbound_auto(
            Bind(address=word(r["host"], "h")),
            r["port"],
            f"{word(r['host'], 'h')}:{r['port']}",
            f"outbound|{r['port']}||{word(r['host'], 'h')}",
            tracing_of(r),
        ),
        rows,
        identity_columns(rows),
    )


# ``config`` is a Sidecar's config path (``/apis/networking.istio.io/.../sidecar/<name>``), never
# empty: an empty one would be a chain without the metadata, a shape no proxy has.
inbound_row = st.fixed_dictionaries(
    {
        "svc": length,
        "rev": length,
        "ns": nonempty,
        "host": nonempty,
        "port": port,
        "chain": nonempty,
        "config": nonempty,
    }
)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(inbound_row, min_size=1, max_size=4),
    st.sampled_from(["PERMISSIVE", "STRICT", "DISABLE"]),
    st.sampled_from(["http", "tcp", "auto"]),
    st.sampled_from(["IPv4", "IPv6"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["X", "GRPC"]),
)
def test_virtual_inbound(
    rows: list[dict[str, Any]], mtls: str, kind: str, family: IpFamily, dual: bool, ingress: bool, protocol: str
) -> None:
    """``ingress``: a Sidecar ingress port, its chains named after an address of its own (``chain``,
    the one of the listener's family) and carrying the Sidecar (``config``) as metadata; ``protocol``
    GRPC: an HTTP/2 port, whose HTTP chains' connection manager says so."""
    wildcard = "0.0.0.0" if family == "IPv4" else "::"
    spec = VirtualInbound(
        name="virtualInbound",
        bind=Bind(address=wildcard, additional=("::",) if dual else ()),
        passthrough=(PassthroughChains(cluster="InboundPassthroughClusterIpv4", prefix="0.0.0.0"),),
        chain_address=wildcard,
        family=family,
        inbound_cluster_prefix="inbound",
    )
    p = Number("port")

    def port_of(host: str, chain: str, config: str, number: int) -> InboundPort:
        if not ingress:
            return InboundPort(target_port=number, protocol=protocol, service_port=number, host=host)
        # The other family's address is never the listener's: a fixed text shows it is not read.
        addresses = (chain, "fd00::1") if family == "IPv4" else ("10.0.0.1", chain)
        return InboundPort(
            target_port=number,
            protocol=protocol,
            service_port=number,
            host=host,
            chain_address=addresses,
            config=config,
        )

    template = listeners.virtual_inbound(
        spec,
        [(port_of(text("host"), text("chain"), text("config"), p), kind)],
        mtls,
        tracing(text("svc"), text("rev"), "cluster.local", text("ns")),
        "cluster.local",
    )

    def real(r: dict[str, Any]) -> Any:
        own = port_of(word(r["host"], "h"), word(r["chain"], "c"), word(r["config"], "g"), r["port"])
        return listeners.virtual_inbound(spec, [(own, kind)], mtls, tracing_of(r), "cluster.local")

    columns = identity_columns(rows)
    lengths = {**columns.lengths, **{k: np.array([r[k] for r in rows]) for k in ("chain", "config")}}
    check(template, real, rows, dataclasses.replace(columns, lengths=lengths))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({"port": port, "extra": st.booleans(), "to": port, "address": nonempty}),
        min_size=1,
        max_size=6,
    ),
    meshes,
)
def test_inbound_clusters(rows: list[dict[str, Any]], mesh: MeshDefaults) -> None:
    """The design's inbound clusters, and those a Sidecar ingress ``defaultEndpoint`` makes (to a
    loopback, to the pod's address with a bind, to a unix socket)."""
    p, to = Number("port"), Number("to")
    columns = Columns(
        count=len(rows),
        lengths={"address": np.array([r["address"] for r in rows])},
        numbers={"port": np.array([r["port"] for r in rows]), "to": np.array([r["to"] for r in rows])},
    )
    for spec in (
        InboundCluster(prefix="inbound", source="127.0.0.6", extra_sources=("::6",)),
        InboundCluster(prefix="inbound6", loopback="::1", source="::6"),
    ):
        for protocol in ("", "HTTP2", "auto"):  # how it speaks upstream
            check(
                clusters.inbound(spec, p, None, protocol, mesh=mesh),
                lambda r, spec=spec, protocol=protocol: clusters.inbound(spec, r["port"], None, protocol, mesh=mesh),
                rows,
                columns,
            )
        for target, bound in ((to, False), (to, True), (0, True)):
            endpoint = InboundEndpoint(address=text("address"), port=target, bound=bound)
            template = clusters.inbound(spec, p, endpoint, mesh=mesh)

            def real(r: dict[str, Any], spec: InboundCluster = spec, target: int = target, bound: bool = bound) -> Any:
                endpoint = InboundEndpoint(address=word(r["address"]), port=r["to"] if target else 0, bound=bound)
                return clusters.inbound(spec, r["port"], endpoint, mesh=mesh)

            check(template, real, rows, columns)


endpoint = st.fixed_dictionaries(
    {"address": nonempty, "other": nonempty, "workload": length, "sidecar": st.booleans(), "port": port}
)


@settings(max_examples=40, deadline=None)
@given(st.lists(endpoint, min_size=1, max_size=6), st.booleans(), st.booleans())
def test_load_assignment(rows: list[dict[str, Any]], additional: bool, sidecar: bool) -> None:
    """One endpoint per assignment: the endpoint, its group and the assignment, all exact."""
    families = ("IPv4", "IPv6") if additional else ("IPv4",)

    def one_pod(address: str, other: str, workload: str) -> EndpointRows:
        return EndpointRows(
            ipv4=(address,),
            ipv6=(other,),
            region=("",),
            zone=("",),
            locality=(0,),
            workload=(workload,),
            sidecar=(sidecar,),
            healthy=(True,),
        )

    p = Number("port")
    template = endpoints.load_assignment(
        text("cluster"), one_pod(text("address"), text("other"), text("workload")), p, families, additional
    )

    def real(r: dict[str, Any]) -> Any:
        pod = one_pod(word(r["address"], "1"), word(r["other"], "2"), word(r["workload"], "w"))
        return endpoints.load_assignment(word(5, "c"), pod, r["port"], families, additional)

    columns = Columns(
        count=len(rows),
        lengths={k: np.array([r[k] for r in rows]) for k in ("address", "other", "workload")}
        | {"cluster": np.full(len(rows), 5)},
        numbers={"port": np.array([r["port"] for r in rows])},
    )
    check(template, real, rows, columns)


pod = st.fixed_dictionaries(
    {"v4": length, "v6": length, "workload": length, "sidecar": st.booleans(), "locality": st.integers(0, 3)}
)
# Two zones of one region, so a proxy's priorities reach 2 (its region) as well as 3 (elsewhere).
regions = [("", ""), ("us-central1", "us-central1-a"), ("r" * 130, "z" * 3), ("us-central1", "us-central1-b")]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({"port": port, "cluster": nonempty, "pods": st.lists(pod, min_size=1, max_size=7)}),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 3)),
)
def test_load_assignment_with_groups_and_endpoint_kinds(
    assignments: list[dict[str, Any]], additional: bool, proxy: int | None
) -> None:
    """Endpoint sets, as every proxy gets them or (``proxy``: a locality) prioritised for a proxy there."""
    from dsim.accounting.templates import endpoint_kinds, load_assignment_template
    from dsim.xds.failover import compacted, lb_priority, prioritised

    families = ("IPv4", "IPv6") if additional else ("IPv4",)

    def real(a: dict[str, Any]) -> Any:
        pods = a["pods"]
        rows = EndpointRows(
            ipv4=tuple(word(p["v4"] + 1, "1") for p in pods),  # every pod has its first address
            ipv6=tuple(word(p["v6"], "2") for p in pods),  # length 0: the pod has no second family
            region=tuple(regions[p["locality"]][0] for p in pods),
            zone=tuple(regions[p["locality"]][1] for p in pods),
            locality=tuple(p["locality"] for p in pods),
            workload=tuple(word(p["workload"], "w") for p in pods),
            sidecar=tuple(p["sidecar"] for p in pods),
            healthy=tuple(True for _ in pods),
        )
        built = endpoints.load_assignment(word(a["cluster"], "c"), rows, a["port"], families, additional)
        return built if proxy is None else prioritised(built, (*regions[proxy], ""))

    # Columns: groups are (assignment, locality) pairs; endpoints belong to groups, by kind.
    group_keys = sorted({(i, p["locality"]) for i, a in enumerate(assignments) for p in a["pods"]})
    group_of = {key: g for g, key in enumerate(group_keys)}
    kinds = {k.family: k for k in endpoint_kinds(additional)}
    endpoints_by_kind: dict[str, list[tuple[int, int, int, int]]] = {name: [] for name in kinds}
    counts = [0] * len(group_keys)
    for i, a in enumerate(assignments):
        for p in a["pods"]:
            g = group_of[(i, p["locality"])]
            if additional:
                extra = p["v6"] > 0
                endpoints_by_kind[f"lb_{int(p['sidecar'])}_{int(extra)}"].append(
                    (g, p["v4"] + 1, p["v6"], p["workload"])
                )
                counts[g] += 1
            else:
                for address in (p["v4"] + 1,):
                    endpoints_by_kind[f"lb_{int(p['sidecar'])}_0"].append((g, address, 0, p["workload"]))
                    counts[g] += 1
    priorities = [0] * len(group_keys)
    if proxy is not None:
        for i in range(len(assignments)):
            mine = [g for g, (owner, _) in enumerate(group_keys) if owner == i]
            raw = [lb_priority((*regions[proxy], ""), (*regions[group_keys[g][1]], "")) for g in mine]
            for g, priority in zip(mine, compacted(raw), strict=True):
                priorities[g] = priority
    group_columns = Columns(
        count=len(group_keys),
        lengths={
            "region": np.array([len(regions[loc][0]) for _, loc in group_keys]),
            "zone": np.array([len(regions[loc][1]) for _, loc in group_keys]),
        },
        numbers={"weight": np.array(counts), "priority": np.array(priorities, dtype=np.int64)},
        ragged={
            name: Ragged(
                elements=Columns(
                    count=len(rows),
                    lengths={
                        "address": np.array([r[1] for r in rows], dtype=np.int64),
                        "other": np.array([r[2] for r in rows], dtype=np.int64),
                        "workload": np.array([r[3] for r in rows], dtype=np.int64),
                    },
                ),
                owner=np.array([r[0] for r in rows], dtype=np.int64),
            )
            for name, rows in endpoints_by_kind.items()
        },
    )
    columns = Columns(
        count=len(assignments),
        lengths={"cluster": np.array([a["cluster"] for a in assignments])},
        numbers={"port": np.array([a["port"] for a in assignments])},
        ragged={"group": Ragged(elements=group_columns, owner=np.array([i for i, _ in group_keys]))},
    )
    check(load_assignment_template(additional), real, assignments, columns)
