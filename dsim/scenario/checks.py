"""Cross-field rules of a scenario, checked once after type conversion.

Each check raises :class:`~dsim.errors.ScenarioError` with the field path of the first bad
value, what it is, and what is allowed. Capacity that depends on random draws (pods of a
synthetic mesh) is checked when the cluster is built, with the same kind of message.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Iterable, Sequence

from dsim.addresses import IpNetwork, usable_span
from dsim.errors import QUOTE_LIMIT, ScenarioError, quote
from dsim.scenario.access_log_rules import format_limit_problem, json_object_problem, path_problem
from dsim.scenario.convert import join
from dsim.scenario.discovery import scenario_discovery
from dsim.scenario.istio.rules import default_export_problem, is_dns1123_subdomain
from dsim.scenario.mesh_settings import ISTIO_FORM_FIELDS, setting_path, setting_problem
from dsim.scenario.model import ROOT_NAMESPACE, FamilyCidrs, IpFamily, Scenario, Service
from dsim.scenario.resolve import WELL_KNOWN_PORTS, names_udp
from dsim.scenario.synthetic_names import synthetic_namespace_name

FAMILY_VERSION = {"IPv4": 4, "IPv6": 6}
_SYNTHETIC_NAMESPACE = re.compile(r"ns-(\d+)\Z")
FAMILIES: tuple[IpFamily, ...] = ("IPv4", "IPv6")


def family_key(family: IpFamily) -> str:
    """The YAML key of a family in CIDR sections (``ipv4``, ``ipv6``)."""
    return family.lower()


def cidr_of(cidrs: FamilyCidrs, family: IpFamily) -> str | None:
    return cidrs.ipv4 if family == "IPv4" else cidrs.ipv6


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6) if len(name) < 100 else []
    return f"; did you mean {quote(close[0])}?" if close else ""


def _cidr_problem(text: str, family: IpFamily) -> str:
    """Why ``text`` is no CIDR of ``family``; the common cases in dsim's words, the rest in the parser's."""
    bits = 32 if family == "IPv4" else 128
    _address, slash, prefix = text.partition("/")
    if not slash:
        return "expected <address>/<prefix length>"
    if not prefix.isdigit() or len(prefix) > 3 or int(prefix) > bits:
        return f"the prefix length must be a whole number from 0 to {bits}"
    parse = ipaddress.IPv4Network if family == "IPv4" else ipaddress.IPv6Network
    try:
        parse(text, strict=True)
    except ValueError as e:
        return str(e) if len(str(e)) <= 2 * QUOTE_LIMIT else "not a network"  # the parser's words echo the text
    return "not a network"


def _never_sniffed(what: str, expected: str) -> str:
    """Why a detected (sniffed) protocol on one of Istio's well-known ports is refused."""
    ports = ", ".join(map(str, sorted(WELL_KNOWN_PORTS)))
    return (
        f"{what}: Istio never sniffs ports {ports}, and reads a Kubernetes port there whose name "
        f"names no protocol as TCP; expected {expected}"
    )


MAX_EXPORT_ENTRIES = 1_000
"""The most entries a default exportTo list may have (as a Service's ``export_to``)."""
MAX_SELECTOR_REQUIREMENTS = 100
"""The most discovery selectors, and labels and expressions over them all."""


def _special_endpoint_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """What Kubernetes' ``ValidateEndpointIP`` refuses ``ip`` as, or ''."""
    link_local_multicast = (
        ip in ipaddress.ip_network("224.0.0.0/24")
        if ip.version == 4
        else ip.packed[0] == 0xFF and ip.packed[1] & 0x0F == 0x02
    )
    for what, found in (
        # An IPv6 slice takes no IPv4-mapped address (IsValidIPv6Address), nor a zone (%eth0).
        ("an IPv4-mapped IPv6 address", ip.version == 6 and ip.ipv4_mapped is not None),
        ("an address with a zone", ip.version == 6 and ip.scope_id is not None),
        ("unspecified", ip.is_unspecified),
        ("a loopback address", ip.is_loopback),
        ("a link-local address", ip.is_link_local),
        ("a link-local multicast address", link_local_multicast),
    ):
        if found:
            return what
    return ""


class _Checker:
    def __init__(self, scenario: Scenario, source: str, known_designs: Sequence[str], designs_given: bool) -> None:
        self.s = scenario
        self.source = source
        self.known_designs = known_designs
        self.designs_given = designs_given

    def fail(self, path: str, message: str) -> None:
        raise ScenarioError(self.source, path, message)

    def run(self) -> None:
        self.designs()
        self.cluster_domain()
        self.export_defaults()
        self.discovery_selectors()
        self.access_log()
        self.mesh_settings()
        service_nets = self.cidrs("network.service_cidrs", self.s.network.service_cidrs)
        pod_nets = self.cidrs("network.pod_cidrs", self.s.network.pod_cidrs)
        self.families("network.pod_ip_families", self.s.network.pod_ip_families, pod_nets, "pod")
        namespaces = self.namespaces()
        services = self.services(namespaces, service_nets)
        self.external_name_services(namespaces)
        self.workloads(namespaces, services, pod_nets)
        self.written_at_pods()
        self.synthetic(service_nets)
        self.service_capacity(service_nets)
        if self.s.istiod.debounce_after_s > self.s.istiod.debounce_max_s:
            self.fail(
                "istiod.debounce_after_s",
                f"must be <= istiod.debounce_max_s ({self.s.istiod.debounce_max_s}) "
                f"(got {self.s.istiod.debounce_after_s})",
            )

    def mesh_settings(self) -> None:
        """The settings in Istio's form, as the loader checks them (for scenarios built in Python)."""
        for name in ISTIO_FORM_FIELDS:
            problem = setting_problem(name, getattr(self.s.mesh, name))
            if problem is not None:
                keys, message = problem
                self.fail(setting_path(f"mesh.{name}", keys), message)

    def cluster_domain(self) -> None:
        """Service hosts end in it, and VirtualService hosts are looked up against them: it is what
        Kubernetes takes as a cluster domain (the kubelet's ``--cluster-domain``, a lowercase RFC 1123
        subdomain)."""
        domain = self.s.mesh.cluster_domain
        if not is_dns1123_subdomain(domain):
            self.fail(
                "mesh.cluster_domain",
                f"{quote(domain)} is not a cluster domain (a lowercase DNS name: letters, digits, '-' and '.', "
                "each label starting and ending with a letter or digit, such as cluster.local)",
            )

    def export_defaults(self) -> None:
        """The mesh's default exportTo lists. Istio does not check these fields and reads each as a
        set, ``*`` before ``~`` before names (``.`` each object's own namespace), so dsim takes any
        combination of those and refuses only an entry that could name no namespace, or a list of
        more than 1,000 entries. An empty list is Istio's unset field: its default, public."""
        mesh = self.s.mesh
        for field, values in (
            ("default_service_export_to", mesh.default_service_export_to),
            ("default_virtual_service_export_to", mesh.default_virtual_service_export_to),
            ("default_destination_rule_export_to", mesh.default_destination_rule_export_to),
        ):
            path = join("mesh", field)
            if len(values) > MAX_EXPORT_ENTRIES:
                self.fail(path, f"has {len(values):,} entries; at most {MAX_EXPORT_ENTRIES:,}")
            problem = default_export_problem(values)
            if problem:
                self.fail(join(path, problem[0]), problem[1])

    def discovery_selectors(self) -> None:
        """Kubernetes' rules for a selector's requirements (``LabelSelectorAsSelector``, which istiod
        runs on each): ``In`` and ``NotIn`` compare with at least one value, ``Exists`` and
        ``DoesNotExist`` with none. istiod logs a bad selector and keeps its old namespaces; dsim
        refuses it."""
        selectors = self.s.mesh.discovery_selectors
        path = join("mesh", "discovery_selectors")
        # Every namespace is matched against every requirement: bounded so that no input makes that
        # long (a real mesh writes a handful).
        if len(selectors) > MAX_SELECTOR_REQUIREMENTS:
            self.fail(path, f"has {len(selectors):,} selectors; at most {MAX_SELECTOR_REQUIREMENTS}")
        requirements = sum(len(s.match_labels) + len(s.match_expressions) for s in selectors)
        if requirements > MAX_SELECTOR_REQUIREMENTS:
            self.fail(
                path,
                f"has {requirements:,} labels and expressions over its selectors; at most {MAX_SELECTOR_REQUIREMENTS}",
            )
        for i, selector in enumerate(selectors):
            for j, requirement in enumerate(selector.match_expressions):
                where = join(join(join(path, i), "match_expressions"), j)
                listed = requirement.operator in ("In", "NotIn")
                if listed and not requirement.values:
                    self.fail(join(where, "values"), f"{requirement.operator} needs at least one value")
                if not listed and requirement.values:
                    self.fail(
                        join(where, "values"),
                        f"{requirement.operator} takes no values (got {len(requirement.values)}); leave values out",
                    )
        mtls = self.s.mesh.mtls
        if selectors and mtls != "PERMISSIVE" and not scenario_discovery(self.s).discovers(ROOT_NAMESPACE):
            self.fail(
                "mesh.mtls",
                f"{mtls} is the root namespace's PeerAuthentication, but mesh.discovery_selectors leave "
                f"{ROOT_NAMESPACE} out, so istiod ignores it (the mesh is PERMISSIVE): declare {ROOT_NAMESPACE} "
                "in namespaces with labels a selector matches, or leave mtls out",
            )

    def access_log(self) -> None:
        """Envoy opens ``access_log_file`` when it loads the config; a JSON format is a JSON object
        (istiod falls back to its default format on anything else, which a pasted format almost
        never means); both are held to :mod:`dsim.scenario.access_log_rules`' limits. Envoy checks
        the command operators themselves (``dsim run --mode validate``)."""
        mesh = self.s.mesh
        problem = path_problem(mesh.access_log_file)
        if problem:
            self.fail("mesh.access_log_file", f"{quote(mesh.access_log_file)} {problem}")
        text, encoding = mesh.access_log_format, mesh.access_log_encoding
        problem = format_limit_problem(text, encoding) or (
            json_object_problem(text) if encoding == "JSON" and text else None
        )
        if problem:
            self.fail("mesh.access_log_format", f"{quote(text)} {problem}")

    def designs(self) -> None:
        # Left out, designs means all of them; an empty list written out is more likely a mistake
        # (a list emptied while editing) than a way to say "all", so it is refused.
        if self.designs_given and not self.s.designs:
            self.fail(
                "designs",
                f"must name at least one design (valid designs: {', '.join(self.known_designs)}); "
                "leave it out to compare them all",
            )
        seen: set[str] = set()
        for i, design in enumerate(self.s.designs):
            path = join("designs", i)
            if design not in self.known_designs:
                self.fail(
                    path,
                    f"{quote(design)} is not a known design{_did_you_mean(design, self.known_designs)} "
                    f"(valid designs: {', '.join(self.known_designs)})",
                )
            if design in seen:
                self.fail(path, f"{quote(design)} is listed twice")
            seen.add(design)

    def cidrs(self, path: str, cidrs: FamilyCidrs) -> dict[str, IpNetwork]:
        nets: dict[str, IpNetwork] = {}
        for family in FAMILIES:
            text = cidr_of(cidrs, family)
            if text is None:
                continue
            where = join(path, family_key(family))
            try:
                if "/" not in text:  # ip_network would read a bare address as a /32 or /128
                    raise ValueError(text)
                net = ipaddress.ip_network(text, strict=True)
            except ValueError:
                self.fail(where, f"{quote(text)} is not a valid {family} CIDR ({_cidr_problem(text, family)})")
            if net.version != FAMILY_VERSION[family]:
                self.fail(where, f"{quote(text)} is an IPv{net.version} CIDR, expected {family}")
            if usable_span(net) < 1:
                self.fail(where, f"{quote(text)} is too small to hold any address")
            nets[family] = net
        return nets

    def families(self, path: str, families: Sequence[str], nets: dict[str, IpNetwork], what: str) -> None:
        if not families:
            self.fail(path, "must name at least one IP family (IPv4, IPv6)")
        if len(set(families)) != len(families):
            self.fail(path, f"lists a family twice ({', '.join(families)})")
        for i, family in enumerate(families):
            if family not in nets:
                self.fail(
                    join(path, i),
                    f"{family} needs a {what} CIDR, but network.{what}_cidrs.{family.lower()} is not set",
                )

    def address(self, path: str, text: str, family: str, net: IpNetwork, what: str) -> int:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            self.fail(path, f"{quote(text)} is not an IP address")
        if ip.version != FAMILY_VERSION[family]:
            self.fail(path, f"{quote(text)} is an IPv{ip.version} address, expected {family}")
        # A fixed address may be any host address (10.96.0.1 is the kubernetes Service's);
        # only the allocator keeps clear of the first two.
        offset = int(ip) - int(net.network_address)
        last = net.num_addresses - (2 if net.version == 4 else 1)
        if ip not in net or not 1 <= offset <= last:
            self.fail(path, f"{quote(text)} is outside the usable {what} CIDR {net} ({family})")
        return int(ip)

    def namespaces(self) -> set[str]:
        first: dict[str, int] = {}
        for i, ns in enumerate(self.s.namespaces):
            if ns.name in first:
                self.fail(
                    join(join("namespaces", i), "name"),
                    f"duplicate namespace {ns.name!r} (first at namespaces[{first[ns.name]}])",
                )
            first[ns.name] = i
        return set(first)

    def namespace_ref(self, path: str, name: str, namespaces: set[str]) -> None:
        if name not in namespaces:
            self.fail(
                path,
                f"{quote(name)} is not a declared namespace{_did_you_mean(name, namespaces)} "
                f"(declared: {', '.join(sorted(namespaces)) or 'none'})",
            )

    def service_name(self, path: str, namespace: str, name: str, namespaces: set[str], first: dict[str, str]) -> None:
        """A Service's namespace is declared and no Service before it (``first``: where each
        ``<namespace>/<name>`` is, filled here) has its name there: Kubernetes holds one object of a name."""
        self.namespace_ref(join(path, "namespace"), namespace, namespaces)
        ref = f"{namespace}/{name}"
        if ref in first:
            self.fail(
                join(path, "name"), f"duplicate service {name!r} in namespace {namespace!r} (first at {first[ref]})"
            )
        first[ref] = path

    def services(self, namespaces: set[str], nets: dict[str, IpNetwork]) -> set[str]:
        first: dict[str, str] = {}
        ips: dict[int, str] = {}
        for i, svc in enumerate(self.s.services):
            path = join("services", i)
            self.service_name(path, svc.namespace, svc.name, namespaces, first)
            self.families(join(path, "ip_families"), svc.ip_families, nets, "service")
            if svc.headless:
                self.headless(path, svc)
            if svc.selector == {}:
                self.fail(
                    join(path, "selector"),
                    "{} is no selector in Kubernetes (the Service's endpoints are then written by hand: list them "
                    "under endpoints), not one selecting every pod; give the labels it selects, or leave "
                    "selector out for {app: <name>}",
                )
            if svc.endpoints is not None:
                self.written_endpoints(path, svc)
            if svc.cluster_ips and len(svc.cluster_ips) != len(svc.ip_families):
                self.fail(
                    join(path, "cluster_ips"),
                    f"has {len(svc.cluster_ips)} address(es) but ip_families has "
                    f"{len(svc.ip_families)}; give one per family, in the same order",
                )
            for k, (text, family) in enumerate(zip(svc.cluster_ips, svc.ip_families, strict=False)):
                where = join(join(path, "cluster_ips"), k)
                ip = self.address(where, text, family, nets[family], "service")
                if ip in ips:
                    self.fail(where, f"{quote(text)} is already the ClusterIP of {ips[ip]}")
                ips[ip] = f"services[{i}]"
            self.ports(path, svc.ports)
            self.unique(join(path, "subsets"), [s.name for s in svc.subsets], "subset")
            if svc.traffic_distribution == "PreferSameNode":
                self.fail(
                    join(path, "traffic_distribution"),
                    "'PreferSameNode' is not modelled: it splits locality groups by node, and dsim places "
                    "pods in zones, not on nodes; expected PreferClose or PreferSameZone, or none",
                )
        return set(first)

    def external_name_services(self, namespaces: set[str]) -> None:
        """ExternalName Services: in a declared namespace, each a name no other Service of its
        namespace has, aliasing a name Kubernetes takes (``ValidateService``: an RFC 1123 subdomain,
        one trailing dot allowed)."""
        first = {f"{svc.namespace}/{svc.name}": join("services", i) for i, svc in enumerate(self.s.services)}
        for i, alias in enumerate(self.s.external_name_services):
            path = join("external_name_services", i)
            self.service_name(path, alias.namespace, alias.name, namespaces, first)
            name = alias.external_name
            if not is_dns1123_subdomain(name.removesuffix(".")):
                self.fail(
                    join(path, "external_name"),
                    f"{quote(name)} is not a DNS name Kubernetes takes for externalName (lowercase letters, "
                    "digits, '-' and '.', each label starting and ending with a letter or digit, at most "
                    "253 characters, one trailing '.' allowed)",
                )

    def written_endpoints(self, path: str, svc: Service) -> None:
        """A Service's endpoints written by hand: no selector beside them, each address one of the
        Service's families, an address Kubernetes takes for an endpoint, and no pod's."""
        if svc.selector is not None:
            self.fail(
                join(path, "selector"),
                "a Service with endpoints written by hand has no selector (Kubernetes' endpoint controllers "
                "would write its slices from the pods); give one or the other",
            )
        if svc.headless:
            self.fail(
                join(path, "endpoints"),
                "a headless Service's endpoints written by hand are not modelled (istiod builds a listener "
                "per endpoint from its pods); give it a selector, or a ServiceEntry of resolution NONE",
            )
        seen: dict[tuple[int, int], int] = {}
        for k, endpoint in enumerate(svc.endpoints or ()):
            where = join(join(join(path, "endpoints"), k), "address")
            try:
                ip = ipaddress.ip_address(endpoint.address)
            except ValueError:
                self.fail(where, f"{quote(endpoint.address)} is not an IP address")
            family = f"IPv{ip.version}"
            if family not in svc.ip_families:
                self.fail(
                    where,
                    f"{quote(endpoint.address)} is {family}, but the Service's families are "
                    f"{', '.join(svc.ip_families)}",
                )
            special = _special_endpoint_ip(ip)
            if special:
                self.fail(where, f"{quote(endpoint.address)} is {special}, which Kubernetes refuses as an endpoint")
            key = (ip.version, int(ip))
            if key in seen:
                self.fail(where, f"duplicate address {quote(endpoint.address)} (first at endpoints[{seen[key]}])")
            seen[key] = k

    def written_at_pods(self) -> None:
        """No endpoint written by hand at a fixed pod IP of its namespace: istiod would find that pod
        by the address (``getPod``) and give the endpoint its metadata, which dsim does not model. (An
        allocated pod IP never lands on one: the allocator keeps clear of them.)"""
        pods: dict[tuple[str, int, int], str] = {}
        for i, wl in enumerate(self.s.workloads):
            for r, pod in enumerate(wl.pod_ips):
                for text in pod:
                    ip = ipaddress.ip_address(text)
                    pods.setdefault((wl.namespace, ip.version, int(ip)), f"workloads[{i}].pod_ips[{r}]")
        for i, svc in enumerate(self.s.services):
            for k, endpoint in enumerate(svc.endpoints or ()):
                ip = ipaddress.ip_address(endpoint.address)
                owner = pods.get((svc.namespace, ip.version, int(ip)))
                if owner is not None:
                    self.fail(
                        join(join(join(join("services", i), "endpoints"), k), "address"),
                        f"{quote(endpoint.address)} is the address of a pod of its namespace ({owner}): istiod "
                        "gives such an endpoint that pod's metadata, which dsim does not model; expected an "
                        "address no pod of the namespace has",
                    )

    def headless(self, path: str, svc: Service) -> None:
        """What a headless Service cannot have: a cluster IP, or dsim's subset shorthand (its subsets'
        clusters carry no endpoints to select, so a pasted DestinationRule says them)."""
        if svc.cluster_ips:
            self.fail(
                join(path, "cluster_ips"), "a headless Service (headless: true) has no cluster IP; leave it empty"
            )
        if svc.subsets:
            self.fail(
                join(path, "subsets"),
                "a headless Service's subsets are not given here: its clusters are ORIGINAL_DST ones; "
                "paste a DestinationRule under destination_rules instead",
            )

    def ports(self, path: str, ports: Sequence) -> None:
        if not ports:
            self.fail(join(path, "ports"), "must list at least one port")
        self.unique(join(path, "ports"), [p.port for p in ports], "port", attr="port")
        self.unique(join(path, "ports"), [p.name for p in ports if p.name], "port name", attr="name")
        for k, port in enumerate(ports):
            if port.protocol is None and names_udp(port.name):
                self.fail(
                    join(join(join(path, "ports"), k), "name"),
                    f"Istio reads a port named {quote(port.name)} as UDP: no outbound listener or cluster, "
                    "only inbound chains on its pods, which dsim does not model; expected another name, or "
                    "the port's protocol (as an appProtocol would give it; dsim import writes it so)",
                )
            if port.protocol == "auto" and port.port in WELL_KNOWN_PORTS:
                self.fail(
                    join(join(join(path, "ports"), k), "protocol"),
                    _never_sniffed(
                        f"'auto' (detected) is not possible on port {port.port}",
                        "another protocol (TCP is what Istio makes of it)",
                    ),
                )

    def unique(self, path: str, values: Sequence, what: str, attr: str = "name") -> None:
        first: dict[object, int] = {}
        for k, value in enumerate(values):
            if value in first:
                self.fail(
                    join(join(path, k), attr) if attr else join(path, k),
                    f"duplicate {what} {quote(value)} (first at {path}[{first[value]}])",
                )
            first[value] = k

    def workloads(self, namespaces: set[str], services: set[str], nets: dict[str, IpNetwork]) -> None:
        first: dict[str, int] = {}
        ips: dict[int, str] = {}
        pod_names: dict[str, set[str]] = {}
        for i, wl in enumerate(self.s.workloads):
            path = join("workloads", i)
            self.namespace_ref(join(path, "namespace"), wl.namespace, namespaces)
            ref = f"{wl.namespace}/{wl.name}"
            if ref in first:
                self.fail(
                    join(path, "name"),
                    f"duplicate workload {wl.name!r} in namespace {wl.namespace!r} (first at workloads[{first[ref]}])",
                )
            first[ref] = i
            families = wl.ip_families or self.s.network.pod_ip_families
            if wl.ip_families is not None:
                self.families(join(path, "ip_families"), wl.ip_families, nets, "pod")
            if len(wl.pod_ips) > wl.replicas:
                self.fail(
                    join(path, "pod_ips"),
                    f"lists {len(wl.pod_ips)} pods but replicas is {wl.replicas}",
                )
            for r, pod in enumerate(wl.pod_ips):
                self.pod_ips(join(join(path, "pod_ips"), r), pod, families, nets, ips, ref)
            if len(wl.pod_localities) > wl.replicas:
                self.fail(
                    join(path, "pod_localities"), f"lists {len(wl.pod_localities)} pods but replicas is {wl.replicas}"
                )
            if len(wl.pod_names) > wl.replicas:
                self.fail(join(path, "pod_names"), f"lists {len(wl.pod_names)} pods but replicas is {wl.replicas}")
            for r, pod_name in enumerate(wl.pod_names):
                if pod_name in pod_names.setdefault(wl.namespace, set()):
                    where = join(join(path, "pod_names"), r)
                    self.fail(where, f"duplicate pod {pod_name!r} in namespace {wl.namespace!r}")
                pod_names[wl.namespace].add(pod_name)
            for k, call in enumerate(wl.calls):
                if call not in services:
                    self.fail(
                        join(join(path, "calls"), k),
                        f"{quote(call)} is not a declared service{_did_you_mean(call, services)} "
                        "(write <namespace>/<name>)",
                    )

    def pod_ips(
        self,
        path: str,
        pod: Sequence[str],
        families: Sequence[str],
        nets: dict[str, IpNetwork],
        taken: dict[int, str],
        owner: str,
    ) -> None:
        if not 1 <= len(pod) <= len(families):
            self.fail(path, f"expected 1 to {len(families)} addresses (got {len(pod)})")
        seen: set[str] = set()
        for k, text in enumerate(pod):
            where = join(path, k)
            try:
                version = ipaddress.ip_address(text).version
            except ValueError:
                self.fail(where, f"{quote(text)} is not an IP address")
            family = f"IPv{version}"
            if family not in families:
                self.fail(where, f"{quote(text)} is {family}, but the workload's pods are {', '.join(families)}")
            if family in seen:
                self.fail(where, f"a second {family} address for the same pod ({quote(text)})")
            seen.add(family)
            ip = self.address(where, text, family, nets[family], "pod")
            if ip in taken:
                self.fail(where, f"{quote(text)} is already a pod IP of {taken[ip]}")
            taken[ip] = owner

    def synthetic(self, nets: dict[str, IpNetwork]) -> None:
        syn = self.s.synthetic
        if syn.services == 0:
            return
        mix = syn.families
        shares = {
            "ipv4": (mix.ipv4, ("IPv4",)),
            "ipv6": (mix.ipv6, ("IPv6",)),
            "dual_ipv4_primary": (mix.dual_ipv4_primary, ("IPv4", "IPv6")),
            "dual_ipv6_primary": (mix.dual_ipv6_primary, ("IPv6", "IPv4")),
        }
        self.weights("synthetic.families", [w for w, _ in shares.values()])
        for key, (weight, families) in shares.items():
            for family in families:
                if weight > 0 and family not in nets:
                    self.fail(
                        join("synthetic.families", key),
                        f"needs a {family} service CIDR, but network.service_cidrs.{family.lower()} is not set",
                    )
        self.weights("synthetic.ports_per_service", syn.ports_per_service.values())
        protocols = vars(syn.protocols)
        self.weights("synthetic.protocols", protocols.values())
        pools = {"http": "http", "http2": "http", "grpc": "grpc", "tcp": "tcp", "auto": "auto", "grpc_web": "grpc"}
        owner: dict[int, str] = {}
        for pool_name in ("http", "grpc", "tcp", "auto"):
            where = join("synthetic.port_pools", pool_name)
            self.unique(where, getattr(syn.port_pools, pool_name), "port", attr="")
            for k, port in enumerate(getattr(syn.port_pools, pool_name)):
                if owner.setdefault(port, pool_name) != pool_name:
                    self.fail(join(where, k), f"port {port} is also in synthetic.port_pools.{owner[port]}")
                if pool_name == "auto" and port in WELL_KNOWN_PORTS:
                    self.fail(
                        join(where, k),
                        _never_sniffed(f"port {port} cannot be detected (sniffed)", "it in synthetic.port_pools.tcp"),
                    )
        # A service's ports of one pool are distinct numbers drawn from that pool, so every
        # pool in use must hold as many ports as the widest service could draw from it.
        widest = max(c for c, w in syn.ports_per_service.items() if w > 0)
        for protocol, weight in protocols.items():
            pool = getattr(syn.port_pools, pools[protocol])
            if weight > 0 and len(pool) < widest:
                self.fail(
                    join("synthetic.port_pools", pools[protocol]),
                    f"holds {len(pool)} port(s), but synthetic.ports_per_service allows services "
                    f"with {widest} ports, which may all be {protocol}; list at least {widest}",
                )
        rep = syn.replicas
        if rep.min > rep.max:
            self.fail("synthetic.replicas.min", f"must be <= synthetic.replicas.max ({rep.max}) (got {rep.min})")
        if syn.localities:
            self.weights("synthetic.localities", [loc.weight for loc in syn.localities])
        for k, edge in enumerate(syn.call_graph.edges):
            where = join("synthetic.call_graph.edges", k)
            if len(edge) != 2:
                self.fail(where, f"expected a [caller, callee] pair (got {list(edge)})")
            for end in edge:
                if end >= syn.services:
                    self.fail(where, f"service index {end} is out of range (0 to {syn.services - 1})")
        # Only an explicit name of the generator's form can clash: look at those, not at every index.
        for ns in self.s.namespaces:
            number = _SYNTHETIC_NAMESPACE.match(ns.name)
            if number and int(number[1]) < syn.namespaces and synthetic_namespace_name(int(number[1])) == ns.name:
                self.fail(
                    "synthetic.namespaces",
                    f"synthetic namespace {ns.name!r} clashes with an explicit one",
                )

    def weights(self, path: str, values: Iterable[float]) -> None:
        """Relative weights (each already finite and >= 0) must add up to a positive, finite total."""
        total = sum(values)
        if total <= 0:
            self.fail(path, "the weights add up to 0; give at least one a positive weight")
        if not math.isfinite(total):
            self.fail(path, "the weights add up to more than the largest number (about 1.8e308); use smaller ones")

    def service_capacity(self, nets: dict[str, IpNetwork]) -> None:
        """Worst case: every synthetic service could draw a family whose weight is positive."""
        mix = self.s.synthetic.families
        wants = {
            "IPv4": mix.ipv4 + mix.dual_ipv4_primary + mix.dual_ipv6_primary > 0,
            "IPv6": mix.ipv6 + mix.dual_ipv4_primary + mix.dual_ipv6_primary > 0,
        }
        for family, net in nets.items():
            explicit = sum(family in s.ip_families for s in self.s.services if not s.headless)  # no ClusterIP
            synthetic = self.s.synthetic.services if wants[family] else 0
            room = usable_span(net)
            if explicit + synthetic > room:
                self.fail(
                    f"network.service_cidrs.{family.lower()}",
                    f"{net} has room for {room:,} ClusterIPs but the scenario may need "
                    f"{explicit + synthetic:,}; use a larger range",
                )


def check(scenario: Scenario, source: str, known_designs: Sequence[str], *, designs_given: bool = False) -> None:
    """Raise :class:`ScenarioError` at the first rule ``scenario`` breaks.

    ``designs_given``: the scenario's data had a ``designs`` entry (then it must name one at least).
    """
    _Checker(scenario, source, known_designs, designs_given).run()
