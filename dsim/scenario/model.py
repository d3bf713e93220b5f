"""The typed scenario: what a YAML scenario file says, fully defaulted.

Every record is frozen and keyword-only; the string under each field gives its meaning and
unit. :func:`dsim.scenario.load_scenario` builds these from YAML and validates them once;
everything after it trusts them. Optional fields that mean "derive it" (``None``) are filled
by :func:`dsim.scenario.resolve.resolve`, so a loaded scenario has no ``None`` left where a
value can be derived.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from dsim.scenario import access_log_rules
from dsim.scenario.convert import AtLeast, AtMost, DnsLabel, MaxLength
from dsim.scenario.istio.destination_rule import DestinationRule, LocalityLbSetting, TcpKeepalive
from dsim.scenario.istio.generator_params import IstioObjectsGen
from dsim.scenario.istio.reader import Ignored, Milliseconds
from dsim.scenario.istio.service_entry import ServiceEntry
from dsim.scenario.istio.sidecar import Sidecar
from dsim.scenario.istio.virtual_service import HTTPRetry, VirtualService
from dsim.scenario.quantities import Fraction, Weight

IpFamily = Literal["IPv4", "IPv6"]
Protocol = Literal["TCP", "TLS", "HTTPS", "Mongo", "HTTP", "HTTP2", "GRPC", "GRPC-Web", "auto"]
MtlsMode = Literal["STRICT", "PERMISSIVE", "DISABLE"]
Visibility = Literal["all", "namespace", "dependencies"]
TrafficDistribution = Literal["PreferClose", "PreferSameZone", "PreferSameNode"]

Name = Annotated[str, DnsLabel()]
Count = Annotated[int, AtLeast(0)]
PortNumber = Annotated[int, AtLeast(1), AtMost(65535)]
Seconds = Annotated[float, AtLeast(0)]
PerHour = Annotated[float, AtLeast(0)]
# Text that lands in every proxy's config, held to Kubernetes' limits for it.
DnsName = Annotated[str, MaxLength(253)]
LabelKey = Annotated[str, MaxLength(317)]  # an optional DNS prefix (253), '/', a name (63)
LabelValue = Annotated[str, MaxLength(63)]
Labels = dict[LabelKey, LabelValue]
# Written into every filter chain of every sidecar when access logs are on: held to a path's
# length (PATH_MAX) and to a few times the longest format a real mesh writes.
AccessLogPath = Annotated[str, MaxLength(access_log_rules.PATH_LIMIT)]
AccessLogFormat = Annotated[str, MaxLength(access_log_rules.FORMAT_LIMIT)]

ISTIO_FORM = {"istio_form": True}
"""A mesh field's metadata: its value is written as in Istio's MeshConfig (camelCase keys, durations
as ``"10s"``), read and written by :mod:`dsim.scenario.istio.reader`, so a user pastes it as is."""

ROOT_NAMESPACE = "istio-system"
"""Istio's ``meshConfig.rootNamespace`` default (dsim has no setting for it): its Sidecar,
DestinationRules and PeerAuthentication are the mesh's defaults."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FamilyCidrs:
    """One CIDR per IP family; ``null`` turns the family off."""

    ipv4: str | None = None
    """IPv4 range in CIDR notation."""
    ipv6: str | None = None
    """IPv6 range in CIDR notation."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Network:
    """Address ranges, as on kind's default dual-stack cluster."""

    service_cidrs: FamilyCidrs = FamilyCidrs(ipv4="10.96.0.0/16", ipv6="fd00:10:96::/112")
    """Where ClusterIPs (VIPs) come from, per family."""
    pod_cidrs: FamilyCidrs = FamilyCidrs(ipv4="10.244.0.0/16", ipv6="fd00:10:244::/56")
    """Where pod IPs come from, per family."""
    pod_ip_families: tuple[IpFamily, ...] = ("IPv4", "IPv6")
    """The families every pod gets an IP of, unless its workload says otherwise."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class LabelRequirement:
    """One of a label selector's ``matchExpressions``: Kubernetes' ``key``, ``operator``, ``values``."""

    key: LabelKey
    """The label's key."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """``In``: the label is one of ``values``; ``NotIn``: it is absent or none of them; ``Exists`` and
    ``DoesNotExist``: whether the namespace has the label at all (no ``values``)."""
    values: tuple[LabelValue, ...] = ()
    """What ``In`` and ``NotIn`` compare with (at least one); none for the others."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class LabelSelector:
    """A Kubernetes label selector (``matchLabels`` and ``matchExpressions``): a namespace matches when
    it has every label of ``match_labels`` and meets every requirement. Written out empty, it matches
    every namespace."""

    match_labels: Labels = dataclasses.field(default_factory=dict)
    """Labels the namespace must carry, with these values."""
    match_expressions: tuple[LabelRequirement, ...] = ()
    """Requirements the namespace's labels must all meet."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Mesh:
    """Mesh-wide settings (Istio MeshConfig and PeerAuthentication)."""

    mtls: MtlsMode = "PERMISSIVE"
    """Mesh-wide PeerAuthentication mode; decides the inbound filter chains and transport sockets."""
    outbound_traffic_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY"] = "ALLOW_ANY"
    """Where unknown destinations go: PassthroughCluster (ALLOW_ANY) or BlackHoleCluster."""
    cluster_domain: DnsName = "cluster.local"
    """Kubernetes DNS suffix of service hostnames (``<name>.<ns>.svc.<cluster_domain>``)."""
    trust_domain: DnsName = "cluster.local"
    """SPIFFE trust domain in workload identities (``spiffe://<trust_domain>/ns/<ns>/sa/<sa>``)."""
    revision: LabelValue = "default"
    """Istio revision written into endpoint metadata."""
    h2_upgrade_policy: Literal["DO_NOT_UPGRADE", "UPGRADE"] = "DO_NOT_UPGRADE"
    """``meshConfig.h2UpgradePolicy`` (Istio's default ``DO_NOT_UPGRADE``): ``UPGRADE`` makes every
    outbound cluster of an HTTP port speak HTTP/2 unless its DestinationRule says otherwise."""
    default_service_export_to: tuple[str, ...] = ("*",)
    """``meshConfig.defaultServiceExportTo`` (Istio's default ``["*"]``): the exportTo of Services and
    ServiceEntries that set none (``.`` their own namespace, ``*`` every one, ``~`` none, names)."""
    default_virtual_service_export_to: tuple[str, ...] = ("*",)
    """``meshConfig.defaultVirtualServiceExportTo`` (default ``["*"]``): the exportTo of
    VirtualServices that set none, read as theirs (``.`` their own namespace)."""
    default_destination_rule_export_to: tuple[str, ...] = ("*",)
    """``meshConfig.defaultDestinationRuleExportTo`` (default ``["*"]``): for DestinationRules that set
    no exportTo, Istio honours only ``.`` (then each is private to its namespace); anything else
    leaves them public."""
    access_log_file: AccessLogPath = ""
    """``meshConfig.accessLogFile`` (Istio's default: empty, no access log; its ``demo`` profile sets
    ``/dev/stdout``): where every sidecar writes a line per request and connection. Every HTTP
    connection manager and ``tcp_proxy`` then carries a file access log (the virtual listeners'
    blackhole chains excepted), and both virtual listeners one of their own for connections no chain
    takes (``accesslog.go``, Istio 1.17 to HEAD)."""
    access_log_encoding: Literal["TEXT", "JSON"] = "TEXT"
    """``meshConfig.accessLogEncoding`` (default ``TEXT``): a line of text, or a JSON object."""
    access_log_format: AccessLogFormat = ""
    """``meshConfig.accessLogFormat`` (default empty: Istio's own format of the encoding): Envoy's
    command operators in a line of text (Istio adds the closing newline), or under ``JSON`` a JSON
    object whose values are command operators (strings, numbers, booleans, or objects of them)."""
    disable_envoy_listener_log: bool = False
    """``meshConfig.disableEnvoyListenerLog`` (default false): true leaves the virtual listeners
    without their own access log."""
    connect_timeout: Milliseconds = dataclasses.field(default=Milliseconds(10_000), metadata=ISTIO_FORM)
    """``meshConfig.connectTimeout`` (Istio's default ``10s``; 1 ms to 1 h, as istiod validates it):
    the connect timeout of every cluster istiod builds, unless a DestinationRule sets its own."""
    tcp_keepalive: TcpKeepalive | None = dataclasses.field(default=None, metadata=ISTIO_FORM)
    """``meshConfig.tcpKeepalive`` (default none: the OS's settings, keepalive off): TCP keepalive on
    the upstream sockets of every cluster but the black hole; a DestinationRule's overrides it field
    by field (``applyTCPKeepalive``). Written as a DestinationRule's ``tcpKeepalive``."""
    default_http_retry_policy: HTTPRetry | None = dataclasses.field(default=None, metadata=ISTIO_FORM)
    """``meshConfig.defaultHttpRetryPolicy`` (default none: Istio's own, 2 attempts): the retry policy of
    every HTTP route whose VirtualService sets no ``retries``, and of every service's default route;
    ``attempts: 0`` leaves them without one. Written as a VirtualService's ``retries``."""
    locality_lb_setting: LocalityLbSetting | None = dataclasses.field(default=None, metadata=ISTIO_FORM)
    """``meshConfig.localityLbSetting`` (Istio's default ``{enabled: true}``: endpoints fail over by
    locality where a DestinationRule sets outlier detection): every cluster's whose DestinationRule
    sets no ``localityLbSetting`` of its own. ``enabled: false`` turns failover off; a ``failover``
    list applies where outlier detection is set; a ``distribute`` list to every outbound cluster,
    a rule or not (docs/istio-objects.md 2.5). Written as a DestinationRule's."""
    discovery_selectors: tuple[LabelSelector, ...] = ()
    """``meshConfig.discoverySelectors`` (Istio's default: none, every namespace discovered): istiod
    discovers a namespace whose labels match any selector, and ignores the Services (so their
    endpoints too) and the VirtualServices, DestinationRules, ServiceEntries and Sidecars of every
    other namespace. Its pods still run sidecars (injection does not ask) and get their config.
    Every namespace carries Kubernetes' ``kubernetes.io/metadata.name: <name>`` label, and one that
    injects ``istio-injection: enabled``. ``mtls`` other than PERMISSIVE needs the root namespace
    discovered (istiod ignores its PeerAuthentication otherwise)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Locality:
    """A failure domain (the node's ``topology.kubernetes.io`` labels); empty means unlabeled."""

    region: LabelValue = ""
    """Region name."""
    zone: LabelValue = ""
    """Zone name."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WeightedLocality:
    """A locality and the share of synthetic pods placed in it."""

    region: LabelValue = ""
    """Region name."""
    zone: LabelValue = ""
    """Zone name."""
    weight: Weight = 1.0
    """Relative share of pods (any non-negative scale)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Namespace:
    """A Kubernetes namespace."""

    name: Name
    """Namespace name."""
    sidecar_injection: bool = True
    """Whether workloads here get a sidecar unless they say otherwise (``istio-injection=enabled``)."""
    labels: Labels = dataclasses.field(default_factory=dict)
    """The namespace's labels, for ``mesh.discovery_selectors`` (Kubernetes' own
    ``kubernetes.io/metadata.name`` is added, as the API server adds it)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServicePort:
    """One port of a Service."""

    port: PortNumber
    """The service port clients connect to."""
    name: Annotated[str, DnsLabel(empty=True)] = ""
    """Port name; Istio derives the protocol from its prefix (``http-``, ``tcp-``, ``grpc-``, ...).
    An RFC 1123 label, as Kubernetes requires of a Service port's name."""
    target_port: PortNumber | None = None
    """The container port; defaults to ``port``."""
    protocol: Protocol | None = None
    """Application protocol; defaults to the one the name implies, else ``auto`` (sniffed). ``TLS``,
    ``HTTPS`` and ``Mongo`` are served as TCP, but Istio builds no VirtualService ``tcp[]`` route on
    the first two, and puts a ``mongo_proxy`` filter before the ``tcp_proxy`` on the last.
    ``GRPC-Web`` is served as ``GRPC``, with a ``grpc_web`` filter in its connection managers."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Subset:
    """A DestinationRule subset of a service."""

    name: Name
    """Subset name, as in ``outbound|<port>|<subset>|<host>``."""
    labels: Labels = dataclasses.field(default_factory=dict)
    """Pod labels the subset selects (in addition to the service's selector)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WrittenEndpoint:
    """One address of a Service's endpoints written by hand (an EndpointSlice entry no pod stands behind)."""

    address: str
    """Its IP, of one of the Service's families; no fixed pod IP of the Service's namespace (istiod
    gives an endpoint at a pod's address that pod's metadata, which dsim does not model), and no pod
    is allocated it."""
    ready: bool = True
    """Its ``conditions.ready``: istiod sends an unready one only to a Service with a
    ``traffic_distribution``, as an unhealthy endpoint (docs/istio-objects.md 2.5)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Service:
    """A Kubernetes Service written out explicitly."""

    name: Annotated[str, DnsLabel(letter_first=True)]
    """Service name: an RFC 1035 label (starting with a letter), as Kubernetes requires."""
    namespace: Name
    """Namespace it lives in (must be declared under ``namespaces``)."""
    ip_families: tuple[IpFamily, ...] = ("IPv4",)
    """Its families in order; the first is primary. Two families make it dual-stack."""
    cluster_ips: tuple[str, ...] = ()
    """Fixed ClusterIPs, one per family in ``ip_families`` order; empty means allocate."""
    ports: tuple[ServicePort, ...] = ()
    """Its ports."""
    selector: Labels | None = None
    """Pod labels it selects in its namespace; defaults to ``{app: <name>}``. ``{}`` is refused: Kubernetes
    reads it as no selector (endpoints written by hand), not as every pod."""
    endpoints: tuple[WrittenEndpoint, ...] | None = None
    """Its endpoints written by hand, for a Service without a selector (Kubernetes' own ``kubernetes``
    Service in ``default`` is one): given, even empty, the Service selects no pod. istiod sends each
    address as an endpoint of its own, never merged with another family's, with no ``tlsMode``, no
    locality and workload metadata ``;;;;Kubernetes`` (docs/istio-objects.md 3.12). The endpoint port is
    each port's ``target_port`` (its EndpointSlice's port of that name)."""
    subsets: tuple[Subset, ...] = ()
    """DestinationRule subsets; each adds one outbound cluster per port."""
    export_to: tuple[str, ...] = ()
    """Namespaces it is visible from (its ``networking.istio.io/exportTo`` annotation, as a list or the
    annotation's comma-separated text): ``*`` all, ``.`` its own, ``~`` none, or names; empty: all."""
    traffic_distribution: TrafficDistribution | None = None
    """Its ``spec.trafficDistribution`` (or Istio's ``networking.istio.io/traffic-distribution``
    annotation on it or its namespace): ``PreferClose`` and ``PreferSameZone`` (one meaning in Istio
    1.30) make istiod prioritise its endpoints by zone and region for every proxy, outlier detection
    or not, and zero its clusters' panic threshold (docs/istio-objects.md 2.5); ``PreferSameNode``
    is refused (dsim places pods in zones, not on nodes)."""
    publish_not_ready_addresses: bool = False
    """Its ``spec.publishNotReadyAddresses``: Kubernetes then writes its unready pods' endpoints ready,
    and istiod sends them as healthy ones like any other (docs/istio-objects.md 2.5)."""
    headless: bool = False
    """Its ``spec.clusterIP`` is ``None``: istiod holds it as a passthrough host at ``0.0.0.0``, with an
    ``ORIGINAL_DST`` cluster, no endpoint set, and a listener per endpoint (ready or not) on its TCP,
    TLS and sniffed ports (docs/istio-objects.md 3.11). It has no ``cluster_ips`` and no ``subsets``
    (a DestinationRule's subsets of it are pasted as the rule). ``ip_families`` still says which
    EndpointSlices it has: its endpoints hold its pods' addresses of those families alone."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExternalNameService:
    """A Kubernetes Service of ``type: ExternalName``: a DNS alias, with no address, port or pod.

    istiod builds it nothing of its own. Where its ``external_name`` is the host of a Service of the
    mesh (through other ExternalName Services too), its names join that Service's virtual hosts as
    domains for every sidecar that sees the Service (docs/istio-objects.md 3.13)."""

    name: Annotated[str, DnsLabel(letter_first=True)]
    """Service name: an RFC 1035 label, as Kubernetes requires; unique among the namespace's Services."""
    namespace: Name
    """Namespace it lives in (must be declared under ``namespaces``)."""
    external_name: Annotated[str, MaxLength(254)]  # a DNS name of 253, and a trailing dot
    """Its ``spec.externalName``: a DNS name (lowercase RFC 1123 labels joined by dots; one trailing
    dot allowed, as Kubernetes allows it), compared with the mesh's hosts as written."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Workload:
    """A Deployment: identical pods with the same labels and service account."""

    name: Name
    """Workload (Deployment) name."""
    namespace: Name
    """Namespace it lives in (must be declared under ``namespaces``)."""
    replicas: Count = 1
    """Number of pods."""
    labels: Labels | None = None
    """Pod labels; defaults to ``{app: <name>}``."""
    service_account: DnsName = "default"
    """Kubernetes service account of its pods (their SPIFFE identity)."""
    sidecar: bool | None = None
    """Whether its pods run an Istio sidecar; defaults to the namespace's injection setting."""
    ip_families: tuple[IpFamily, ...] | None = None
    """The families its pods get IPs of; defaults to ``network.pod_ip_families``."""
    pod_ips: tuple[tuple[str, ...], ...] = ()
    """Fixed pod IPs, one list per replica (first replicas first); missing ones are allocated."""
    locality: Locality = Locality()
    """Where its pods run."""
    pod_localities: tuple[Locality, ...] = ()
    """Where each pod runs, first replicas first, for a workload spread over zones (``dsim import`` keeps
    each pod's node's); the pods not listed run in ``locality``."""
    calls: tuple[str, ...] = ()
    """Services it talks to, as ``<namespace>/<name>`` (the call graph's edges)."""
    ready: bool = True
    """Whether its pods' endpoints are ready. Unready pods run and get config (their Services select
    them: the inbound side, the SANs), but no endpoint set holds them: istiod sends no unready
    endpoint (``PILOT_SEND_UNHEALTHY_ENDPOINTS`` off, Istio's default), except to a Service with a
    ``traffic_distribution``, which gets them as unhealthy ones (docs/istio-objects.md 2.5), and a
    Service with ``publish_not_ready_addresses``, which gets them as healthy ones; nor does a
    ServiceEntry's ``workloadSelector`` select them."""
    terminating: bool = False
    """Whether its pods are being deleted (a rollout's old pods, captured mid-way: ``dsim import`` reads
    it). They run and get config like unready pods, but istiod never sends their endpoints, not even
    to a Service with a ``traffic_distribution`` (``Terminating``), except behind
    ``publish_not_ready_addresses``, whose slices still say ready (docs/istio-objects.md 2.5)."""
    pod_names: tuple[DnsName, ...] = ()
    """Its pods' names, first replicas first, as the cluster named them (``dsim import`` keeps them,
    so ``dsim dump <ns>/<pod>`` and ``dsim check`` find a real pod); the others are ``<name>-<ordinal>``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FamilyMix:
    """Shares of synthetic services by IP family policy, as relative weights: each share is its
    weight over their sum (they are normalised, so ``{ipv4: 3, dual_ipv4_primary: 1}`` is 75% / 25%).
    A mix written in part keeps the defaults of the weights it leaves out."""

    ipv4: Weight = 0.5
    """Single-stack IPv4."""
    ipv6: Weight = 0.0
    """Single-stack IPv6."""
    dual_ipv4_primary: Weight = 0.5
    """Dual-stack, ``ip_families: [IPv4, IPv6]``."""
    dual_ipv6_primary: Weight = 0.0
    """Dual-stack, ``ip_families: [IPv6, IPv4]``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProtocolMix:
    """Shares of synthetic service ports by protocol, as relative weights (normalised like
    :class:`FamilyMix`; a mix written in part keeps the defaults it leaves out)."""

    http: Weight = 0.6
    """HTTP/1.1 ports (name ``http``)."""
    http2: Weight = 0.0
    """HTTP/2 ports (name ``http2``)."""
    grpc: Weight = 0.2
    """gRPC ports (name ``grpc``)."""
    tcp: Weight = 0.2
    """Opaque TCP ports (name ``tcp``)."""
    auto: Weight = 0.0
    """Unnamed ports whose protocol Envoy sniffs."""
    grpc_web: Weight = 0.0
    """gRPC-Web ports (name ``grpc-web``, from the gRPC pool): gRPC with a ``grpc_web`` filter in the
    connection managers built for them (``docs/istio-objects.md`` 1.10b). Last, so that a mix
    without it draws as it did before it existed."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PortPools:
    """The port numbers synthetic services draw from, per protocol (HTTP listeners are shared per number)."""

    http: tuple[PortNumber, ...] = (80, 8080, 9080, 8000)
    """HTTP and HTTP/2 ports."""
    grpc: tuple[PortNumber, ...] = (9090, 50051, 8081)
    """gRPC and gRPC-Web ports."""
    tcp: tuple[PortNumber, ...] = (5432, 6379, 3306, 9000, 27017)
    """TCP ports."""
    auto: tuple[PortNumber, ...] = (8443, 7070, 15000)
    """Auto-detected ports."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Replicas:
    """How many pods a synthetic workload runs."""

    distribution: Literal["fixed", "uniform", "geometric", "lognormal"] = "geometric"
    """``fixed`` (always ``mean``), ``uniform`` on [min, max], ``geometric`` or ``lognormal`` with mean ``mean``."""
    mean: Annotated[float, AtLeast(1)] = 2.0
    """Mean pods per workload (before clipping to [min, max])."""
    min: Annotated[int, AtLeast(1)] = 1
    """Fewest pods per workload."""
    max: Annotated[int, AtLeast(1)] = 100
    """Most pods per workload."""
    sigma: Annotated[float, AtLeast(0), AtMost(10)] = 1.0
    """Shape of the lognormal (standard deviation of log replicas); beyond 10 every workload would
    sit at ``min`` or ``max``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubsetMix:
    """Which synthetic services have a DestinationRule with version subsets."""

    fraction: Fraction = 0.0
    """Share of services with subsets."""
    versions: Annotated[int, AtLeast(1)] = 2
    """Subsets (v1..vN) such a service has; each is a workload of its own."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class CallGraph:
    """Which services each synthetic workload talks to."""

    model: Literal["none", "barabasi-albert", "erdos-renyi", "edge-list"] = "barabasi-albert"
    """``barabasi-albert`` (preferential attachment, networkx), ``erdos-renyi``, an ``edge-list``, or ``none``."""
    m: Annotated[int, AtLeast(1)] = 2
    """Barabási–Albert: edges each new service attaches with."""
    mean_degree: Annotated[float, AtLeast(0)] = 3.0
    """Erdős–Rényi: mean number of services a workload calls."""
    edges: tuple[tuple[Count, ...], ...] = ()
    """Edge list: ``[caller, callee]`` pairs of synthetic service indices (0-based)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Synthetic:
    """Generators for a synthetic mesh at scale, added to any explicit objects."""

    namespaces: Annotated[int, AtLeast(1)] = 1
    """Number of synthetic namespaces (``ns-0000``, ...), services spread evenly over them."""
    services: Count = 0
    """Number of synthetic services (``svc-00000``, ...)."""
    families: FamilyMix = FamilyMix()
    """IP family policy mix."""
    ports_per_service: dict[Annotated[int, AtLeast(1)], Weight] = dataclasses.field(
        default_factory=lambda: {1: 0.7, 2: 0.2, 3: 0.1}
    )
    """Relative weight of each port count (normalised: each share is its weight over their sum)."""
    protocols: ProtocolMix = ProtocolMix()
    """Protocol mix of ports."""
    port_pools: PortPools = PortPools()
    """Port numbers per protocol."""
    replicas: Replicas = Replicas()
    """Pods per workload."""
    localities: tuple[WeightedLocality, ...] = ()
    """Where pods run; empty means one unlabeled locality."""
    subsets: SubsetMix = SubsetMix()
    """DestinationRule subsets."""
    prefer_close: Fraction = 0.0
    """Share of services with ``trafficDistribution: PreferClose`` (see :attr:`Service.traffic_distribution`)."""
    sidecar_injection: Fraction = 1.0
    """Share of synthetic namespaces with sidecar injection on."""
    call_graph: CallGraph = CallGraph()
    """The service call graph."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Churn:
    """How the mesh changes over time (used by the push model)."""

    duration_s: Annotated[float, AtLeast(0)] = 3600.0
    """Simulated time, seconds."""
    pod_replacements_per_s: Annotated[float, AtLeast(0)] = 0.0
    """Pods deleted and recreated (new IP), per second, Poisson."""
    rollouts_per_hour: PerHour = 0.0
    """Whole-workload rolling updates, per hour."""
    rollout_surge: Fraction = 0.25
    """maxSurge of a rollout, as a share of replicas."""
    scale_events_per_hour: PerHour = 0.0
    """Workload scale-ups or -downs (even odds), per hour."""
    scale_step: Annotated[int, AtLeast(1)] = 1
    """Pods a scale event adds or removes (a workload never drops below one pod)."""
    pod_startup_s: Seconds = 5.0
    """From a pod's creation (its sidecar connects) to its endpoint becoming ready, seconds."""
    service_creations_per_hour: PerHour = 0.0
    """New services, per hour."""
    service_deletions_per_hour: PerHour = 0.0
    """Deleted services, per hour."""
    virtual_service_changes_per_hour: PerHour = 0.0
    """VirtualService edits, per hour."""
    destination_rule_changes_per_hour: PerHour = 0.0
    """DestinationRule edits, per hour."""
    service_entry_changes_per_hour: PerHour = 0.0
    """ServiceEntry edits, per hour: one of the mesh's ServiceEntries each time, whose hosts' clusters,
    endpoints, listeners and routes istiod regenerates, with a full push to every sidecar that sees
    one of them (Istio's CDS, EDS, LDS and RDS generators all push on a ServiceEntry change). A mesh
    without ServiceEntries refuses a rate above zero."""
    sidecar_changes_per_hour: PerHour = 0.0
    """Sidecar resource edits, per hour."""
    istiod_restarts_s: tuple[Seconds, ...] = ()
    """Times (seconds from start) at which istiod restarts and every proxy reconnects."""

    @property
    def config_edits_per_hour(self) -> float:
        """Edits of Istio objects per hour, every kind together."""
        return (
            self.virtual_service_changes_per_hour
            + self.destination_rule_changes_per_hour
            + self.service_entry_changes_per_hour
            + self.sidecar_changes_per_hour
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Istiod:
    """istiod's push tuning (``pilot/pkg/features/tuning.go``)."""

    gomaxprocs: Annotated[int, AtLeast(1), AtMost(1024)] = 4
    """CPU cores istiod's Go runtime uses."""
    replicas: Annotated[int, AtLeast(1), AtMost(1000)] = 1
    """istiod instances; proxies spread evenly over them."""
    debounce_after_s: Seconds = 0.1
    """PILOT_DEBOUNCE_AFTER: quiet time before a push, seconds."""
    debounce_max_s: Seconds = 10.0
    """PILOT_DEBOUNCE_MAX: longest a batch waits, seconds."""
    eds_debounce: bool = True
    """PILOT_ENABLE_EDS_DEBOUNCE: whether endpoint events are debounced too."""
    push_throttle: Annotated[int, AtLeast(1), AtMost(100_000)] | None = None
    """PILOT_PUSH_THROTTLE: concurrent pushes; defaults to min(15 + 5·gomaxprocs, 100)."""
    max_requests_per_second: Annotated[float, AtLeast(0)] | None = None
    """PILOT_MAX_REQUESTS_PER_SECOND: new connections admitted per second; same default."""
    delta_xds: bool = True
    """Delta xDS (CDS/EDS send only changed resources)."""
    send_bandwidth_mbps: Annotated[float, AtLeast(0.001)] = 1000.0
    """istiod's network egress, megabits per second."""
    max_grpc_message_bytes: Annotated[int, AtLeast(1)] = 4 * 1024 * 1024
    """Largest xDS message a proxy accepts, bytes."""
    push_overhead_ms: Annotated[float, AtLeast(0)] | None = None
    """CPU per push to one proxy besides the bytes it generates, ms; ``null`` takes the calibration's
    fixed cost per pushed proxy (its generator intercept times ``go_cost_scale``)."""
    push_context_us_per_service: Annotated[float, AtLeast(0)] = 20.0
    """Push-context build CPU per service on a full push, microseconds. Not calibrated (no Envoy or
    istiod run measures it here): set it from your istiod's pilot_pushcontext_init_seconds."""
    go_cost_scale: Annotated[float, AtLeast(0)] | None = None
    """istiod (Go) generation cost relative to dsim's own generator; ``null`` takes the calibration's value."""
    send_cost_scale: Annotated[float, AtLeast(0)] = 1.0
    """istiod's (Go: grpc-go, crypto/tls) CPU to send a response relative to what
    ``bench/send_cost.py`` measured with grpcio's C-core and OpenSSL (:mod:`dsim.calibration.istiod_push`);
    1 assumes the two compiled stacks cost the same, 0 leaves sending out."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Envoy:
    """How the sidecars run."""

    stats_profile: Literal["istio", "envoy-default"] = "istio"
    """Stats kept: Istio's sidecar default inclusion list, or Envoy's default (all)."""
    concurrency: Annotated[int, AtLeast(1), AtMost(1024)] = 2
    """Envoy worker threads per sidecar."""
    workload_certificate: Literal[
        "istio-default",
        "ecdsa-p256",
        "intermediate-ca-1",
        "intermediate-ca-2",
        "intermediate-ca-3",
        "ecdsa-p256-leaf-only",
    ] = "istio-default"
    """The workload certificate istio-agent serves over SDS, which every mTLS cluster and inbound
    filter chain builds a TLS context from: ``istio-default`` (RSA-2048 key, chain with the root),
    ``ecdsa-p256`` (ECC_SIGNATURE_ALGORITHM=ECDSA), ``intermediate-ca-N`` (a plugged-in CA N levels
    below the root), ``ecdsa-p256-leaf-only`` (the shipped calibration's); see
    :mod:`dsim.calibration.secrets`."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WhatIf:
    """Comparisons a run adds to the mesh as given (each runs the mesh a second time, changed)."""

    sidecar_scoping: bool = False
    """Also run the mesh with each namespace's minimal Sidecar (``istio_objects.sidecars.per_namespace``
    on: egress hosts what its workloads call) and write what that saves (``scoping_what_if``)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scenario:
    """A whole scenario: the cluster, the mesh, the designs to compare, and how things change."""

    name: Name | None = None
    """Scenario name; defaults to the file's name without ``.yaml``."""
    description: str = ""
    """What the scenario is for, one paragraph."""
    seed: Count = 0
    """Seeds every random choice; same seed, same results."""
    designs: tuple[str, ...] = ()
    """Designs to compare (``dsim designs`` lists them); left out (empty here) means all, and a
    scenario file or dict that lists none (``designs: []``) is refused."""
    visibility: Visibility = "all"
    """What each sidecar sees: ``all`` services, its own ``namespace``, or its call-graph ``dependencies``."""
    mesh: Mesh = Mesh()
    """Mesh-wide settings."""
    network: Network = Network()
    """Address ranges."""
    namespaces: tuple[Namespace, ...] = ()
    """Explicit namespaces."""
    services: tuple[Service, ...] = ()
    """Explicit services."""
    external_name_services: tuple[ExternalNameService, ...] = ()
    """Services of ``type: ExternalName``: aliases of a mesh host, or of a name outside it."""
    workloads: tuple[Workload, ...] = ()
    """Explicit workloads."""
    synthetic: Synthetic = Synthetic()
    """Generated objects, added to the explicit ones."""
    churn: Churn = Churn()
    """Changes over time."""
    istiod: Istiod = Istiod()
    """Control-plane tuning."""
    envoy: Envoy = Envoy()
    """Data-plane settings."""
    virtual_services: tuple[VirtualService, ...] = ()
    """VirtualServices as pasted from a cluster (Istio's field names; read by
    :func:`dsim.scenario.istio.parse_virtual_service`)."""
    destination_rules: tuple[DestinationRule, ...] = ()
    """DestinationRules as pasted from a cluster (read by :func:`dsim.scenario.istio.parse_destination_rule`)."""
    service_entries: tuple[ServiceEntry, ...] = ()
    """ServiceEntries as pasted from a cluster (read by :func:`dsim.scenario.istio.parse_service_entry`)."""
    sidecars: tuple[Sidecar, ...] = ()
    """Sidecars as pasted from a cluster (read by :func:`dsim.scenario.istio.parse_sidecar`); they scope
    what the proxies they select see (``docs/istio-objects.md`` section 4), in place of ``visibility``."""
    istio_objects: IstioObjectsGen = dataclasses.field(default_factory=IstioObjectsGen)
    """Generators of VirtualServices and DestinationRules for the synthetic services, and of ServiceEntries."""
    what_if: WhatIf = WhatIf()
    """Comparisons added to the run: ``sidecar_scoping``."""
    istio_ignored: tuple[Ignored, ...] = dataclasses.field(default=(), compare=False, metadata={"derived": True})
    """Fields of the pasted Istio objects that Istio has and dsim accepted without modelling them
    (filled by the loader, never read from YAML; not part of the scenario's identity)."""
