"""DestinationRule: the fields that shape a sidecar's clusters, validated as Istio validates them.

Rules follow ``ValidateDestinationRule``, ``validateTrafficPolicy``, ``validateConnectionPool``,
``validateOutlierDetection``, ``validateLoadBalancer`` and ``validatePortTrafficPolicies`` in
Istio's ``pkg/config/validation/validation.go``, and ``agent.ValidateTLS`` in
``pkg/config/validation/agent/validation.go``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from dsim.scenario.convert import AtLeast, AtMost, MaxLength, join
from dsim.scenario.istio.common import (
    NOT_MODELLED,
    Checks,
    ExportTo,
    Labels,
    Many,
    NamedObject,
    NonNegativeInt32,
    Percent,
    PortSelector,
    UInt32,
    parse_named,
)
from dsim.scenario.istio.reader import MaxItems, Milliseconds, MillisecondsOrZero, Parsed, Rule
from dsim.scenario.istio.rules import (
    localities_problem,
    selector_key_problem,
    selector_value_problem,
    subset_name_problem,
    wildcard_domain_problem,
)

KIND = "DestinationRule"
TlsMode = Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]
SimpleLb = Literal["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TcpKeepalive:
    """``TCPSettings.TcpKeepalive``: keepalive probes on the sidecar's upstream sockets."""

    probes: UInt32 | None = None
    """Probes without an answer before the connection is dropped (0 or unset: the OS's)."""
    time: Milliseconds | None = None
    """Idle time before the first probe, milliseconds (Envoy takes whole seconds)."""
    interval: Milliseconds | None = None
    """Time between probes, milliseconds (whole seconds too)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TcpSettings:
    """``ConnectionPoolSettings.TCPSettings``: the cluster's TCP limits."""

    max_connections: NonNegativeInt32 | None = None
    """Most connections to the destination (Envoy's ``max_connections`` circuit breaker)."""
    connect_timeout: Milliseconds | None = None
    """TCP connect timeout, milliseconds."""
    max_connection_duration: Milliseconds | None = None
    """Longest life of a connection, milliseconds."""
    idle_timeout: MillisecondsOrZero | None = None
    """Idle time before a connection is closed, milliseconds (``0s``: never), unless the HTTP
    settings give one."""
    tcp_keepalive: TcpKeepalive | None = None
    """Keepalive probes (an empty one turns them on with the OS's settings)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Http2Keepalive:
    """``HTTPSettings.http2KeepAlive``: HTTP/2 PING frames on idle connections (both required)."""

    interval: Milliseconds | None = None
    """Time between PINGs, milliseconds."""
    timeout: Milliseconds | None = None
    """Time to wait for a PING's answer, milliseconds."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpSettings:
    """``ConnectionPoolSettings.HTTPSettings``: the cluster's HTTP limits."""

    http1_max_pending_requests: NonNegativeInt32 | None = None
    """Most requests queued for a connection."""
    http2_max_requests: NonNegativeInt32 | None = None
    """Most concurrent requests to the destination."""
    max_requests_per_connection: NonNegativeInt32 | None = None
    """Requests per connection before it is closed (0: unlimited)."""
    max_retries: NonNegativeInt32 | None = None
    """Most concurrent retries to the destination."""
    idle_timeout: Milliseconds | None = None
    """Idle time before a connection is closed, milliseconds."""
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] = "DEFAULT"
    """Whether the cluster speaks HTTP/2 to the destination (``DEFAULT``: as the mesh's
    ``h2UpgradePolicy`` says, for HTTP ports only; ``UPGRADE``: on any port)."""
    use_client_protocol: bool = False
    """Speak to the destination the protocol the client spoke (no upgrade)."""
    max_concurrent_streams: NonNegativeInt32 | None = None
    """Most concurrent streams on one HTTP/2 connection (0 or unset: Envoy's default)."""
    http2_keep_alive: Http2Keepalive | None = None
    """PINGs on the cluster's HTTP/2 connections (on HTTP/2 clusters only)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConnectionPoolSettings:
    """Connection pool limits (Envoy circuit breakers and protocol options)."""

    tcp: TcpSettings | None = None
    """TCP limits."""
    http: HttpSettings | None = None
    """HTTP limits."""


def pool_problem(pool: ConnectionPoolSettings | None) -> str | None:
    """``validateConnectionPool``: a pool sets tcp or http (its numbers are checked by their types)."""
    if pool is not None and pool.tcp is None and pool.http is None:
        return "a connection pool must set tcp or http"
    http = pool.http if pool is not None else None
    if http is not None and http.h2_upgrade_policy == "UPGRADE" and http.use_client_protocol:
        return "useClientProtocol must not be true when h2UpgradePolicy is UPGRADE"
    keepalive = http.http2_keep_alive if http is not None else None
    if keepalive is not None and (keepalive.interval is None or keepalive.timeout is None):
        return "http2KeepAlive needs both an interval and a timeout"
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class OutlierDetection:
    """Ejection of failing endpoints (Envoy's ``outlier_detection``)."""

    consecutive_5xx_errors: UInt32 | None = None
    """5xx responses in a row that eject an endpoint (0 turns it off)."""
    consecutive_gateway_errors: UInt32 | None = None
    """502/503/504 responses in a row that eject an endpoint."""
    interval: Milliseconds | None = None
    """Time between ejection sweeps, milliseconds."""
    base_ejection_time: Milliseconds | None = None
    """Minimum ejection time, milliseconds."""
    max_ejection_percent: Percent | None = None
    """Most endpoints ejected at once, percent."""

    IGNORED: ClassVar[Mapping[str, str]] = dict.fromkeys(
        (
            "consecutiveErrors",
            "consecutiveLocalOriginFailures",
            "splitExternalLocalOriginErrors",
            "minHealthPercent",
            "outlierDetectionHttpErrorCodes",
        ),
        "an outlier detection option; " + NOT_MODELLED,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpCookie:
    """A cookie that keys consistent hashing."""

    name: str
    """Cookie name."""
    path: str = ""
    """Cookie path."""
    ttl: MillisecondsOrZero | None = None
    """Lifetime of a generated cookie, milliseconds (0: a session cookie)."""

    IGNORED: ClassVar[Mapping[str, str]] = {"attributes": "cookie attributes; " + NOT_MODELLED}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsistentHash:
    """Consistent-hash load balancing (ring hash or Maglev), by one request attribute."""

    http_header_name: str | None = None
    """Hash on this request header."""
    http_cookie: HttpCookie | None = None
    """Hash on this cookie."""
    use_source_ip: bool = False
    """Hash on the source IP."""
    http_query_parameter_name: str | None = None
    """Hash on this query parameter."""

    IGNORED: ClassVar[Mapping[str, str]] = {
        "ringHash": "the ring size of ring-hash balancing; " + NOT_MODELLED,
        "maglev": "the table size of Maglev balancing; " + NOT_MODELLED,
        "minimumRingSize": "the ring size of ring-hash balancing (deprecated); " + NOT_MODELLED,
    }


@dataclasses.dataclass(frozen=True, kw_only=True)
class LocalityFailover:
    """``LocalityLoadBalancerSetting.Failover``: where a proxy in region ``from`` fails over to when
    its own region's endpoints are unhealthy; other regions come after (priority 4, not 3)."""

    source: Annotated[str, MaxLength(253)] = dataclasses.field(metadata={"istio": "from"})
    """The proxy's region (Istio's ``from``)."""
    target: Annotated[str, MaxLength(253)] = dataclasses.field(metadata={"istio": "to"})
    """The region it fails over to first (Istio's ``to``)."""


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class LocalityDistribute:
    """``LocalityLoadBalancerSetting.Distribute``: how a proxy in locality ``from`` spreads its
    traffic over localities, by weight (``region/zone/subzone``, a trailing ``*`` for any)."""

    source: Annotated[str, MaxLength(253)] = dataclasses.field(metadata={"istio": "from"})
    """The proxies' locality (Istio's ``from``)."""
    target: Annotated[
        dict[Annotated[str, MaxLength(253)], Annotated[int, AtLeast(0), AtMost(2**32 - 1)]],
        MaxItems(1_000),
    ] = dataclasses.field(metadata={"istio": "to"})
    """Locality → weight, the weights summing to 100 (Istio's ``to``)."""

    # Equal, and hashed, with the localities in their order: it decides which takes a group where
    # they overlap (a traffic policy is a cache key).
    def _key(self) -> tuple[str, tuple[tuple[str, int], ...]]:
        return self.source, tuple(self.target.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalityDistribute) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclasses.dataclass(frozen=True, kw_only=True)
class LocalityLbSetting:
    """Locality load balancing for this destination, in place of the mesh's (which Istio turns on)."""

    enabled: bool | None = None
    """``false`` turns locality failover off for the destination; unset or ``true`` leaves it on
    (it takes effect where outlier detection is set: dsim/xds/failover.py)."""
    failover: Annotated[tuple[LocalityFailover, ...], MaxItems(1_000)] = ()
    """Region failover targets: the first entry whose ``from`` is a proxy's region names the region
    its endpoint sets fail over to before any other (``applyLocalityFailover``)."""
    distribute: Annotated[tuple[LocalityDistribute, ...], MaxItems(1_000)] = ()
    """Locality weights: the first entry whose ``from`` matches a proxy's locality weights its
    endpoint groups, and empties those no ``to`` matches (``applyLocalityWeights``); no failover
    priorities then."""

    IGNORED: ClassVar[Mapping[str, str]] = {
        "failoverPriority": "failover by proxy labels (Istio then prioritises by labels, by locality only "
        "with a failover list; dsim applies the default failover order); " + NOT_MODELLED,
    }


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoadBalancerSettings:
    """How the cluster picks an endpoint."""

    simple: SimpleLb | None = None
    """A simple policy."""
    consistent_hash: ConsistentHash | None = None
    """Consistent hashing."""
    locality_lb_setting: LocalityLbSetting | None = None
    """Locality load balancing (failover by locality priority)."""

    IGNORED: ClassVar[Mapping[str, str]] = {
        "warmup": "slow start of new endpoints; " + NOT_MODELLED,
        "warmupDurationSecs": "slow start of new endpoints; " + NOT_MODELLED,
        "backendUtilization": "client-side weighted round robin; " + NOT_MODELLED,
    }


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientTLSSettings:
    """How the sidecar connects to the destination over TLS."""

    mode: TlsMode = "DISABLE"
    """DISABLE, SIMPLE (TLS), MUTUAL (TLS with a client certificate) or ISTIO_MUTUAL (mesh mTLS)."""
    sni: str = ""
    """SNI sent in the handshake."""
    subject_alt_names: Many[str] = ()
    """Names the server certificate must carry."""
    credential_name: str = ""
    """Secret holding the client certificate and CA (fetched over SDS)."""
    insecure_skip_verify: bool = False
    """Do not check the server certificate: no CA or names to check it against, and no
    ``auto_san_validation``."""
    client_certificate: Annotated[str, MaxLength(4096)] = ""
    """MUTUAL without a credentialName: the client certificate's file in the sidecar."""
    private_key: Annotated[str, MaxLength(4096)] = ""
    """MUTUAL without a credentialName: the client key's file."""
    ca_certificates: Annotated[str, MaxLength(4096)] = ""
    """The CA file the server certificate is checked against (empty: the system's roots)."""
    ca_crl: Annotated[str, MaxLength(4096)] = ""
    """A certificate revocation list file the check also reads."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PortTrafficPolicy:
    """A traffic policy for one port of the destination."""

    port: PortSelector
    """The port it applies to."""
    connection_pool: ConnectionPoolSettings | None = None
    """Connection pool limits."""
    outlier_detection: OutlierDetection | None = None
    """Outlier detection."""
    tls: ClientTLSSettings | None = None
    """Upstream TLS."""
    load_balancer: LoadBalancerSettings | None = None
    """Load balancing."""


_POLICY_REASONS = {
    "tunnel": "HTTP CONNECT tunnelling to the destination; " + NOT_MODELLED,
    "proxyProtocol": "PROXY protocol to the destination; " + NOT_MODELLED,
    "retryBudget": "a retry budget circuit breaker; " + NOT_MODELLED,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrafficPolicy:
    """Policies applied to the destination's (or a subset's) clusters."""

    connection_pool: ConnectionPoolSettings | None = None
    """Connection pool limits."""
    outlier_detection: OutlierDetection | None = None
    """Outlier detection."""
    tls: ClientTLSSettings | None = None
    """Upstream TLS."""
    load_balancer: LoadBalancerSettings | None = None
    """Load balancing."""
    port_level_settings: Annotated[tuple[PortTrafficPolicy, ...], MaxItems(4096, "the CRD's maxItems")] = ()
    """Per-port overrides."""

    IGNORED: ClassVar[Mapping[str, str]] = _POLICY_REASONS


@dataclasses.dataclass(frozen=True, kw_only=True)
class Subset:
    """A named subset of the destination's endpoints (one more cluster per port)."""

    name: Annotated[str, Rule(subset_name_problem)]
    """Subset name (``outbound|<port>|<name>|<host>``)."""
    labels: Labels = dataclasses.field(default_factory=dict)
    """Endpoint labels that select it."""
    traffic_policy: TrafficPolicy | None = None
    """Overrides of the rule's policy for this subset."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DestinationRuleSelector:
    """``workloadSelector`` of a DestinationRule (Istio's common ``WorkloadSelector``: ``matchLabels``)."""

    match_labels: Annotated[
        dict[
            Annotated[str, Rule(selector_key_problem)],
            Annotated[str, Rule(selector_value_problem)],
        ],
        MaxItems(4096, "the CRD's maxProperties"),
    ] = dataclasses.field(default_factory=dict)
    """Pod labels of the workloads the rule applies to."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DestinationRuleSpec:
    """``DestinationRule.spec``."""

    host: Annotated[str, Rule(wildcard_domain_problem)]
    """The destination host (a service or ServiceEntry host, possibly a wildcard)."""
    traffic_policy: TrafficPolicy | None = None
    """Policies of all its clusters."""
    subsets: Many[Subset] = ()
    """Named subsets."""
    export_to: ExportTo = ()
    """Namespaces that see it."""
    workload_selector: DestinationRuleSelector | None = None
    """Workloads it applies to (then exportTo may only be this namespace)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DestinationRule(NamedObject[DestinationRuleSpec]):
    """A DestinationRule: its place and its spec."""

    KIND: ClassVar[str] = KIND


def parse_destination_rule(raw: Any, *, source: str = "<scenario>", path: str = "") -> Parsed[DestinationRule]:
    """A pasted DestinationRule, validated; raises :class:`~dsim.errors.ScenarioError` at the first problem."""
    return parse_named(DestinationRule, DestinationRuleSpec, _DestinationRuleChecks, raw, source=source, path=path)


def _unset(policy: TrafficPolicy | PortTrafficPolicy) -> bool:
    parts = (policy.connection_pool, policy.outlier_detection, policy.tls, policy.load_balancer)
    return all(part is None for part in parts)


class _DestinationRuleChecks(Checks):
    def run(self, path: str, spec: DestinationRuleSpec) -> None:
        if spec.traffic_policy is not None:
            self.policy(join(path, "trafficPolicy"), spec.traffic_policy)
        first: dict[str, int] = {}
        for i, subset in enumerate(spec.subsets):
            where = join(join(path, "subsets"), i)
            if subset.name in first:
                self.fail(
                    join(where, "name"),
                    f"duplicate subset name {subset.name!r} (first at subsets[{first[subset.name]}])",
                )
            first[subset.name] = i
            if subset.traffic_policy is not None:
                self.policy(join(where, "trafficPolicy"), subset.traffic_policy)
        self.export_to(join(path, "exportTo"), spec.export_to)
        if spec.workload_selector is not None:
            self.selector_export(join(path, "exportTo"), spec.export_to)

    def selector_export(self, path: str, export_to: tuple[str, ...]) -> None:
        """A rule with a workload selector stays in its namespace (``validateExportTo``)."""
        own = {self.namespace if entry == "." else entry for entry in export_to}
        if export_to and own != {self.namespace}:
            self.fail(path, "a DestinationRule with a workloadSelector can only be exported to its own namespace ('.')")

    def policy(self, path: str, policy: TrafficPolicy) -> None:
        """``validateTrafficPolicy``: not empty, and each part valid."""
        unset = _unset(policy) and not policy.port_level_settings
        if unset and not any(self.has(path, key) for key in _POLICY_REASONS):
            self.fail(path, "a traffic policy must set at least one field")
        if self.has(path, "tunnel") and self.has(path, "proxyProtocol"):
            self.fail(join(path, "proxyProtocol"), "tunnel and proxyProtocol must not be set together")
        self.policy_parts(path, policy)
        for i, port_policy in enumerate(policy.port_level_settings):
            where = join(join(path, "portLevelSettings"), i)
            if _unset(port_policy):
                self.fail(where, "a port traffic policy must set at least one field besides port")
            self.policy_parts(where, port_policy)

    def policy_parts(self, path: str, policy: TrafficPolicy | PortTrafficPolicy) -> None:
        self.check(join(path, "connectionPool"), pool_problem(policy.connection_pool))
        if policy.load_balancer is not None:
            self.load_balancer(join(path, "loadBalancer"), policy.load_balancer)
        if policy.tls is not None:
            self.tls(join(path, "tls"), policy.tls)

    def load_balancer(self, path: str, lb: LoadBalancerSettings) -> None:
        """``validateLoadBalancer`` and the API's oneofs."""
        self.one_of(
            path,
            {"simple": lb.simple, "consistentHash": lb.consistent_hash, "backendUtilization": None},
            what="a load balancer",
        )
        if lb.locality_lb_setting is not None:
            self.locality(join(path, "localityLbSetting"), lb.locality_lb_setting)
        hashing = lb.consistent_hash
        if hashing is None:
            return
        where = join(path, "consistentHash")
        self.one_of(
            where,
            {
                "httpHeaderName": hashing.http_header_name,
                "httpCookie": hashing.http_cookie,
                "useSourceIp": hashing.use_source_ip,
                "httpQueryParameterName": hashing.http_query_parameter_name,
            },
            what="consistent hashing",
        )
        if hashing.http_cookie is not None and not hashing.http_cookie.name:
            self.fail(join(join(where, "httpCookie"), "name"), "a hash cookie needs a name")
        if self.has(where, "minimumRingSize") and (self.has(where, "ringHash") or self.has(where, "maglev")):
            self.fail(join(where, "minimumRingSize"), "only one of minimumRingSize or maglev/ringHash can be set")

    def locality(self, path: str, setting: LocalityLbSetting) -> None:
        found = locality_setting_problem(setting, self.given(path, "failoverPriority"))
        if found is not None:
            where, problem = found
            for key in where:
                path = join(path, key)
            self.fail(path, problem)

    def tls(self, path: str, tls: ClientTLSSettings) -> None:
        """``agent.ValidateTLS``: MUTUAL needs a client certificate, from files or a credential;
        ``insecureSkipVerify`` leaves nothing to check a certificate against."""
        given = {
            "clientCertificate": tls.client_certificate,
            "caCertificates": tls.ca_certificates,
            "privateKey": tls.private_key,
            "caCrl": tls.ca_crl,
        }
        files = [key for key, value in given.items() if value]
        if tls.insecure_skip_verify:
            # Nothing is checked, so nothing to check against (Istio 1.19 to HEAD). Under MUTUAL a
            # credentialName is the client's certificate and may stay.
            checks = {"caCertificates": tls.ca_certificates, "subjectAltNames": tls.subject_alt_names}
            if tls.mode == "SIMPLE":
                checks["credentialName"] = tls.credential_name
            for key, value in checks.items():
                if value:
                    self.fail(join(path, key), "cannot be set when insecureSkipVerify is true")
        if tls.mode in ("SIMPLE", "MUTUAL") and tls.credential_name:
            if files:
                self.fail(join(path, files[0]), "cannot be set together with credentialName")
            return
        if tls.mode == "MUTUAL":
            for key in ("clientCertificate", "privateKey"):
                if not given[key]:
                    self.fail(join(path, key), "MUTUAL TLS needs clientCertificate and privateKey, or a credentialName")


TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone")
"""The locality labels a ``failoverPriority`` may not name beside a ``failover`` list."""


def locality_setting_problem(
    setting: LocalityLbSetting, failover_priority: Any = None
) -> tuple[tuple[str | int, ...], str] | None:
    """``agent.ValidateLocalityLbSetting``'s first objection, and the keys of where it lies under
    the setting: ``distribute`` and ``failover`` exclude each other, so do ``failover`` and a
    ``failoverPriority`` naming a locality label (that ignored field's value as given, unread but
    for this rule), each distribution's weights are 1 to 100 and sum to 100 over localities that do
    not overlap, the distributions' sources do not overlap, and a failover entry names two different
    regions (no zone, no wildcard)."""
    if setting.failover and setting.distribute:
        return ("failover",), "can not simultaneously specify 'distribute' and 'failover'"
    if setting.failover and isinstance(failover_priority, list):
        for i, label in enumerate(failover_priority):
            if label in TOPOLOGY_LABELS:
                message = f"can not simultaneously set 'failover' and topology label {label!r} in 'failover_priority'"
                return ("failoverPriority", i), message
    for i, spread in enumerate(setting.distribute):
        for locality, weight in spread.target.items():
            if not 1 <= weight <= 100:
                return ("distribute", i, "to", locality), f"locality weight {weight} must be in range [1, 100]"
        total = sum(spread.target.values())
        if total != 100:
            return ("distribute", i, "to"), f"total locality weight {total} != 100"
        problem = localities_problem(list(spread.target))
        if problem:
            return ("distribute", i, "to"), problem
    problem = localities_problem([spread.source for spread in setting.distribute])
    if problem:
        return ("distribute",), problem
    for i, entry in enumerate(setting.failover):
        for key, region in (("from", entry.source), ("to", entry.target)):
            if "/" in region:
                return ("failover", i, key), f"{region!r}: locality lb failover only specify region"
            if "*" in region:
                return ("failover", i, key), f"{region!r}: locality lb failover region should not contain '*'"
        if entry.source == entry.target:
            return (
                "failover",
                i,
            ), f"{entry.source!r} to itself: locality lb failover settings must specify different regions"
    return None
