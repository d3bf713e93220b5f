"""Anonymize a plain scenario dict so it can be shared in a design review or an issue.

Why the rules below: the point of sharing an imported mesh is that others can run dsim on it and get
the *same* numbers. So every name is replaced by a keyed hash **of the same length** (config byte
counts depend on name lengths: cluster names, virtual hosts, SPIFFE identities), the **same name gets
the same hash everywhere** (selectors still select, calls and hosts still resolve, a VirtualService's
``reviews`` still names the service ``reviews``), and addresses are permuted **within their family
and CIDR**, keeping their text length (each IPv4 octet keeps its digit count, each IPv6 group its hex
digit count and zero groups stay zero, so ``::`` compresses alike).

What stays recognisable, on purpose:

- the mesh's shape: counts, replicas, ports and their numbers, IP families, every Istio setting
  (timeouts, retries, weights, policies), the scenario's CIDRs, cluster domain and trust domain;
- Istio's protocol prefixes of port names (``http-``, ``grpc-``, ``tcp-``...; Istio reads them) and
  port names that are only a protocol (``http``);
- well-known label keys (``app``, ``version``, ``app.kubernetes.io/*``, ``topology.kubernetes.io/*``,
  ``kubernetes.io/*`` such as a namespace's ``kubernetes.io/metadata.name``, ``istio.io/*`` and
  ``*.istio.io/*``), though not their values, but for the ones Istio gives every endpoint
  (``topology.istio.io/cluster: Kubernetes``, ``topology.istio.io/network: ""``), which a
  DestinationRule subset may select;
- the namespaces Kubernetes and Istio give meaning to (``default``, ``istio-system`` (the root
  namespace: its Sidecar is mesh-wide), ``kube-system``, ``kube-public``, ``kube-node-lease``), the
  service account ``default``, the gateway ``mesh``, ``*``, ``.`` and ``~``, the revision ``latest``
  (Istio's default, which endpoints' metadata leaves out), and the names dsim's own generator gives
  (``ns-0000``, ``svc-00000``);
- the last label of a host outside the cluster (``com`` in ``api.stripe.com``) and the
  ``svc.<cluster domain>`` suffix of the cluster's hosts;
- the punctuation of header match values and URIs (only their letter-and-digit runs are hashed),
  and regular expressions, which are kept whole (hashing their runs would break escapes and ranges);
- ServiceEntry addresses written as CIDR ranges and ``unix://`` sockets, kept whole.

Short names are the weak spot: a two-letter namespace has only 936 possible hashes, so without a
secret ``key`` anyone could hash a dictionary of likely names and match them. A team that shares
anonymized scenarios should keep one private ``key`` (the same key gives the same hashes, so two
shared scenarios of one mesh still line up).

Addresses: those inside one of the scenario's ``network.service_cidrs``/``pod_cidrs`` stay inside it,
a keyed bijection of their host bits; others (a ServiceEntry's external addresses) stay in their /8
(IPv4) or /32 (IPv6) and out of the scenario's CIDRs (and of the link-local ranges Kubernetes refuses
for an endpoint written by hand). Being bijections, distinct addresses stay
distinct. Text lengths are kept, so endpoint bytes are unchanged too.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dsim.addresses import IpNetwork
from dsim.cluster.labels import WRITTEN_ENDPOINT_LABELS
from dsim.scenario.checks import FAMILIES, cidr_of, family_key
from dsim.scenario.istio.rules import is_ip
from dsim.scenario.model import Mesh, Network

KEPT_NAMES = frozenset(
    {"default", "istio-system", "kube-system", "kube-public", "kube-node-lease", "mesh", "latest", "*", ".", "~", ""}
)
"""Names with a meaning to Kubernetes or Istio, never hashed (``latest``, Istio's default canonical
revision, is left out of endpoints' metadata where another revision is written: hashed, it would
change the config's bytes)."""

GRPC_WEB_PREFIX = "grpc-web"
_GRPC_WEB_TAIL = GRPC_WEB_PREFIX.removeprefix("grpc-")
# Istio's protocol port-name prefixes (dsim.scenario.resolve plus the ones Istio also knows).
PROTOCOL_PREFIXES = (
    GRPC_WEB_PREFIX,
    "http_proxy",
    "http2",
    "https",
    "http",
    "grpc",
    "tcp",
    "tls",
    "mongo",
    "mysql",
    "redis",
    "udp",
)
_KEPT_LABEL_KEYS = frozenset({"app", "version"})
_KEPT_LABEL_PREFIXES = frozenset({"app.kubernetes.io", "topology.kubernetes.io", "kubernetes.io", "istio.io"})
_SYNTHETIC = re.compile(r"(ns-\d{4}|svc-\d{5})\Z")  # dsim.scenario.synthetic_names' forms
_RUN = re.compile(r"[A-Za-z0-9]+")
_ALNUM = re.compile(r"[A-Za-z0-9]")
# In a header value: an escaped '%', an Envoy substitution command (kept), or a run to hash.
_COMMAND_OR_RUN = re.compile(r"%%|%[A-Z][A-Z0-9_]*|[A-Za-z0-9]+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_ALPHABET = _LETTERS + "0123456789"
_EXHAUSTIVE = 26 * 36  # up to two characters, a free hash is searched for exhaustively
_ISTIO_KEYS = ("virtual_services", "destination_rules", "service_entries", "sidecars")


def anonymize(data: Mapping[str, Any], *, key: str = "") -> dict[str, Any]:
    """``data`` (a plain scenario dict) with names hashed and addresses permuted (module docstring).

    Pure and deterministic: the same ``data`` and ``key`` give the same result; ``data`` is not changed.
    Collisions between hashes are resolved by trying the next hash, names taken in sorted order, so
    the result does not depend on where in the scenario a name first appears.
    """
    collector = _Anonymizer(data, _Names(key, table=None))
    collector.scenario()
    names = _Names(key, table=collector.names.assign())
    return _Anonymizer(data, names).scenario()


class _Names:
    """Same-length keyed hashes of names. With ``table=None`` it only collects the names it is asked
    about (the first pass); :meth:`assign` then hashes them all at once, in sorted order."""

    def __init__(self, key: str, table: dict[str, str] | None) -> None:
        self.secret = hashlib.sha256(b"dsim-anonymize\0" + key.encode()).digest()
        self.table = table
        self.seen: set[str] = set()

    @property
    def collecting(self) -> bool:
        return self.table is None

    def __call__(self, name: str) -> str:
        if self.table is None:
            self.seen.add(name)
            return name
        return self.table[name]

    def assign(self) -> dict[str, str]:
        kept = {n for n in self.seen if is_kept_name(n)}
        used = set(KEPT_NAMES) | set(PROTOCOL_PREFIXES) | kept
        table = {n: n for n in kept}
        for name in sorted(self.seen - kept):
            table[name] = self._free_hash(name, used)
            used.add(table[name])
        return table

    def _free_hash(self, name: str, used: set[str]) -> str:
        """The first free hash of ``name``; among few names of its length (one or two characters),
        the free one it hashes closest to; a longer hash only when its length is used up. No hash
        starts with ``web``: after a kept ``grpc-`` it would make ``grpc-web…``, which Istio reads
        as gRPC-Web, not gRPC (every name shares the one table, so no hash anywhere does)."""

        def usable(candidate: str) -> bool:
            return candidate not in used and not candidate.startswith(_GRPC_WEB_TAIL)

        length = max(len(name), 1)
        while True:
            for attempt in range(64):
                candidate = self.hash_text(name, length, attempt)
                if usable(candidate):
                    return candidate
            if 26 * 36 ** (length - 1) <= _EXHAUSTIVE:
                free = [c for c in _all_labels(length) if usable(c)]
                if free:
                    return min(free, key=lambda c: self.mix(name, c))
            length += 1

    def hash_text(self, name: str, length: int, attempt: int) -> str:
        """A DNS label of ``length`` characters: a letter, then letters and digits."""
        digest = hashlib.shake_256(self.secret + f"{attempt}\0{name}".encode()).digest(length)
        return _LETTERS[digest[0] % 26] + "".join(_ALPHABET[b % 36] for b in digest[1:])

    def mix(self, *parts: object) -> int:
        """A keyed 64-bit number of ``parts`` (the round function of the address permutation)."""
        text = "\0".join(map(str, parts)).encode()
        return int.from_bytes(hashlib.blake2b(text, key=self.secret, digest_size=8).digest(), "big")


def _all_labels(length: int) -> list[str]:
    """Every DNS label of ``length`` characters that a hash can be (a letter, then letters and digits)."""
    labels = list(_LETTERS)
    for _ in range(length - 1):
        labels = [label + c for label in labels for c in _ALPHABET]
    return labels


def is_kept_name(name: str) -> bool:
    """Names that stay as they are (module docstring)."""
    return name in KEPT_NAMES or name.lower() in PROTOCOL_PREFIXES or bool(_SYNTHETIC.match(name))


class _Anonymizer:
    """One pass over a scenario dict; every name goes through ``names`` (collect, then rewrite)."""

    def __init__(self, data: Mapping[str, Any], names: _Names) -> None:
        self.data = data
        self.names = names
        mesh = data.get("mesh") or {}
        self.cluster_suffix = ["svc", *str(mesh.get("cluster_domain", Mesh().cluster_domain)).split(".")]
        self.namespaces = {ns.get("name") for ns in data.get("namespaces") or () if isinstance(ns, Mapping)}
        self.addresses = _Addresses(_scenario_networks(data.get("network") or {}), names)

    # --- the scenario's own fields -------------------------------------------------------------

    def scenario(self) -> dict[str, Any]:
        out = copy.deepcopy(dict(self.data))
        if isinstance(out.get("name"), str):
            out["name"] = self.names(out["name"])
        if isinstance(out.get("description"), str):
            out["description"] = self.text(out["description"])
        records: dict[str, Callable[[Any], Any]] = {
            "namespaces": self.namespace,
            "services": self.service,
            "workloads": self.workload,
            "external_name_services": self.external_name_service,
        }
        records |= {key: functools.partial(self.istio_object, sidecar=key == "sidecars") for key in _ISTIO_KEYS}
        for key, rewrite in records.items():
            if isinstance(out.get(key), list):
                out[key] = [rewrite(item) for item in out[key]]
        if isinstance(out.get("mesh"), dict) and isinstance(out["mesh"].get("discovery_selectors"), list):
            out["mesh"]["discovery_selectors"] = [self.selector(item) for item in out["mesh"]["discovery_selectors"]]
        generated = out.get("istio_objects")
        if isinstance(generated, dict) and isinstance(generated.get("sidecars"), dict):
            generated["sidecars"] = _with(generated["sidecars"], extra_hosts=lambda v: _each(v, self.ref))
        return out

    def namespace(self, ns: dict[str, Any]) -> dict[str, Any]:
        return _with(ns, name=self.names, labels=self.labels)

    def selector(self, selector: Any) -> Any:
        """A discovery selector: its labels as namespaces' labels are hashed; a requirement's values
        as names, so that ``kubernetes.io/metadata.name In [shop]`` still names the hashed ``shop``."""
        if not isinstance(selector, dict):
            return selector
        return _with(
            selector,
            match_labels=self.labels,
            match_expressions=lambda items: [
                _with(item, key=lambda key: _each(key, self.label_key), values=lambda values: _each(values, self.names))
                for item in (items if isinstance(items, list) else [])
            ],
        )

    def service(self, svc: dict[str, Any]) -> dict[str, Any]:
        return _with(
            svc,
            name=self.names,
            namespace=self.names,
            cluster_ips=lambda ips: [self.addresses(ip) for ip in ips],
            ports=lambda ports: [_with(p, name=self.port_name) for p in ports],
            selector=self.labels,
            endpoints=lambda endpoints: _items(
                endpoints, lambda e: _with(e, address=lambda a: _each(a, self.addresses))
            ),
            subsets=lambda subsets: [_with(s, name=self.names, labels=self.labels) for s in subsets],
            export_to=self.service_export_to,
        )

    def external_name_service(self, alias: dict[str, Any]) -> dict[str, Any]:
        """Its name as a Service's; the name it aliases as a host, so that an alias of a mesh host
        still names that host, hashed (a trailing dot kept)."""

        def target(text: str) -> str:
            return self.host(text.removesuffix(".")) + ("." if text.endswith(".") and len(text) > 1 else "")

        return _with(alias, name=self.names, namespace=self.names, external_name=lambda v: _each(v, target))

    def workload(self, wl: dict[str, Any]) -> dict[str, Any]:
        return _with(
            wl,
            name=self.names,
            namespace=self.names,
            labels=self.labels,
            service_account=self.names,
            pod_ips=lambda pods: [[self.addresses(ip) for ip in pod] for pod in pods],
            pod_names=lambda pods: [self.names(p) for p in pods],
            locality=lambda loc: _with(loc, region=self.names, zone=self.names),
            calls=lambda calls: [self.ref(c) for c in calls],
        )

    def service_export_to(self, value: Any) -> Any:
        if isinstance(value, str):  # the annotation's comma-separated text
            return ",".join(self.names(part.strip()) for part in value.split(","))
        return [self.names(v) for v in value]

    # --- names in their forms ------------------------------------------------------------------

    def ref(self, text: str) -> str:
        """``<namespace>/<name>``, or a host behind a namespace (``ns/host``, Sidecar egress)."""
        namespace, slash, rest = text.partition("/")
        if not slash:
            return self.names(text)
        return f"{self.names(namespace)}/{self.host(rest)}"

    def host(self, text: str) -> str:
        """A host name, label by label: ``svc.<cluster domain>`` and a foreign TLD stay, ``*`` stays."""
        if is_ip(text):
            return self.addresses(text)
        labels = text.split(".")
        width = len(self.cluster_suffix)
        if len(labels) > width and labels[-width:] == self.cluster_suffix:
            head, tail = labels[:-width], labels[-width:]
        elif len(labels) >= 2 and labels[-1] not in self.namespaces:
            head, tail = labels[:-1], labels[-1:]
        else:
            head, tail = labels, []
        return ".".join([self.names(label) for label in head] + tail)

    def port_name(self, name: str) -> str:
        """Istio's protocol prefix stays (it decides the protocol), the rest is hashed. ``grpc-web``
        is a prefix even without a dash after it: Istio reads ``grpc-webapi`` as gRPC-Web
        (``ConvertProtocol``), which ``grpc-`` and a hash would turn into gRPC."""
        lowered = name.lower()
        for prefix in PROTOCOL_PREFIXES:
            if lowered == prefix:
                return name
            if lowered.startswith(prefix + "-") or (prefix == GRPC_WEB_PREFIX and lowered.startswith(prefix)):
                cut = len(prefix) + (lowered[len(prefix)] == "-")
                return name[:cut] + self.names(name[cut:])
        return self.names(name)

    def labels(self, labels: Mapping[str, Any] | None) -> Any:
        if labels is None:
            return None
        # Istio's own labels keep their values (a subset selecting them holds the endpoints of no pod).
        return {
            self.label_key(k): v if v == "" or WRITTEN_ENDPOINT_LABELS.get(k) == v else self.names(str(v))
            for k, v in labels.items()
        }

    def label_key(self, key: str) -> str:
        prefix, slash, name = key.rpartition("/")
        if not slash:
            return key if key in _KEPT_LABEL_KEYS else self.names(key)
        if prefix in _KEPT_LABEL_PREFIXES or prefix.endswith(".istio.io"):
            return key
        return f"{self.host(prefix)}/{self.names(name)}"

    def text(self, text: str) -> str:
        """Free text (descriptions, header values, URIs): each letter-and-digit run hashed."""
        return _RUN.sub(lambda m: self.names(m.group()), text)

    # --- Istio objects -------------------------------------------------------------------------

    def istio_object(self, obj: Any, *, sidecar: bool) -> Any:
        """One of the scenario's Istio objects (``sidecar``: under ``sidecars``, whose egress hosts
        are ``namespace/host``), in the Kubernetes form or the short one."""
        if not isinstance(obj, Mapping):
            return obj
        # The Kubernetes form's metadata, or the scenario's short form's name and namespace.
        out = _with(obj, name=self.names, namespace=self.names)
        if isinstance(obj.get("metadata"), Mapping):
            out["metadata"] = _with(obj["metadata"], name=self.names, namespace=self.names, labels=self.labels)
        if "spec" in obj:
            out["spec"] = self.spec(obj["spec"], "", sidecar=sidecar)
        return out

    def spec(self, value: Any, parent: str, *, sidecar: bool) -> Any:
        """A spec, field by field: the fields that name something are rewritten, the rest walked."""
        if isinstance(value, list):
            return [self.spec(v, parent, sidecar=sidecar) for v in value]
        if not isinstance(value, Mapping):
            return value
        out = {}
        for key, item in value.items():
            rewrite = self.spec_rewriter(key, parent, sidecar=sidecar)
            out[key] = rewrite(item) if rewrite else self.spec(item, key, sidecar=sidecar)
        return out

    def spec_rewriter(self, key: str, parent: str, *, sidecar: bool) -> Callable[[Any], Any] | None:
        hosts = self.ref if sidecar else self.host
        rewriters: dict[str, Callable[[Any], Any]] = {
            "hosts": lambda v: _each(v, hosts),
            "host": lambda v: _each(v, self.host),
            "sniHosts": lambda v: _each(v, self.host),
            "sni": lambda v: _each(v, self.host),
            "subset": lambda v: _each(v, self.names),
            "namespace": lambda v: _each(v, self.names),
            "sourceNamespace": lambda v: _each(v, self.names),
            "exportTo": lambda v: _each(v, self.names),
            "gateways": lambda v: _each(v, self.ref),
            "labels": self.labels,
            "matchLabels": self.labels,
            "sourceLabels": self.labels,
            "addresses": lambda v: _each(v, self.addresses),
            "address": lambda v: _each(v, self.endpoint_address),
            "subjectAltNames": lambda v: _each(v, self.text),
            "serviceAccount": lambda v: _each(v, self.names),
            **dict.fromkeys(
                ("clientCertificate", "privateKey", "caCertificates", "caCrl"), lambda v: _each(v, self.text)
            ),  # file paths, which may name a team or a service
            "uri": self.string_match,
            "authority": self.string_match,
            "headers": lambda v: _values(v, self.string_match),
            "withoutHeaders": lambda v: _values(v, self.string_match),
            "queryParams": lambda v: _values(v, self.string_match),
            "locality": lambda v: _each(v, lambda t: "/".join(self.names(p) for p in t.split("/"))),
            "allowOrigins": lambda v: [self.string_match(m) for m in v] if isinstance(v, list) else v,
            "allowOrigin": lambda v: _each(v, self.text),
            "statPrefix": lambda v: _each(v, self.text),
            # a redirect's path, a direct response's body (text; bytes as zeros of the same length)
            **dict.fromkeys(("prefixRewrite", "string"), lambda v: _each(v, self.text)),
            "bytes": lambda v: _each(v, _zeroed_base64),
        }
        if key == "name":
            rename = self.port_name if parent in ("ports", "port") else self.names
            return lambda v: _each(v, rename)
        if parent != "match" and key in ("headers", "uri", "authority"):
            # A route's or destination's header operations (names kept, as a match's header names
            # are, values hashed), a rewrite's or redirect's path (free text) and host (a host).
            rewrites = {"headers": self.header_operations, "uri": lambda v: _each(v, self.text)}
            return rewrites.get(key, lambda v: _each(v, self.authority))
        if key == "ports" and parent == "endpoints":  # a WorkloadEntry's {port name: number}
            return lambda v: {self.port_name(k): n for k, n in v.items()} if isinstance(v, Mapping) else v
        return rewriters.get(key)

    def header_operations(self, headers: Any) -> Any:
        """A ``headers`` block of a route or destination: the values ``set`` and ``add`` write hashed."""
        if not isinstance(headers, Mapping):
            return headers
        out = dict(headers)
        for side in ("request", "response"):
            operations = headers.get(side)
            if isinstance(operations, Mapping):
                value = lambda v: _values(v, lambda x: _each(x, self.header_value))  # noqa: E731
                out[side] = _with(operations, set=value, add=value)
        return out

    def authority(self, text: str) -> str:
        """A rewrite's or redirect's authority: a host as hosts are hashed, its port kept; anything
        else as free text."""
        host, colon, port = text.rpartition(":") if ":" in text else (text, "", "")
        if not host or "/" in host or ":" in host or (colon and not port.isdigit()):
            return self.text(text)
        return self.host(host) + colon + port

    def header_value(self, text: str) -> str:
        """A header value hashed as free text but for Envoy's substitution commands (``%HOSTNAME%``,
        ``%REQ(...)%``), which must stay names Envoy knows."""
        return _COMMAND_OR_RUN.sub(lambda m: m.group() if m.group().startswith("%") else self.names(m.group()), text)

    def string_match(self, match: Any) -> Any:
        """Istio's StringMatch: exact and prefix values hashed run by run, regexes kept."""
        if not isinstance(match, Mapping):
            return match
        return {k: self.text(v) if k in ("exact", "prefix") and isinstance(v, str) else v for k, v in match.items()}

    def endpoint_address(self, text: str) -> str:
        if text.startswith("unix://"):
            return text
        return self.addresses(text) if is_ip(text) else self.host(text)


def _with(record: Any, **rewrites: Callable[[Any], Any]) -> Any:
    """``record`` with each named field (when present and not null) passed through its rewrite."""
    if not isinstance(record, Mapping):
        return record
    return {k: rewrites[k](v) if k in rewrites and v is not None else v for k, v in record.items()}


def _zeroed_base64(text: str) -> str:
    """A base64 body as zero bytes of its decoded length (same text length, nothing of the content);
    text that is not base64 keeps its length with every letter and digit a 0, and stays what the
    loader refuses."""
    try:
        return base64.b64encode(bytes(len(base64.b64decode(text, validate=True)))).decode()
    except (binascii.Error, ValueError):
        return _ALNUM.sub("0", text)


def _each(value: Any, rewrite: Callable[[str], str]) -> Any:
    """A string or a list of strings rewritten; anything else (bad input the loader will name) as is."""
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, list):
        return [rewrite(v) if isinstance(v, str) else v for v in value]
    return value


def _items(value: Any, rewrite: Callable[[Any], Any]) -> Any:
    """Each item of a list rewritten; anything else (bad input the loader will name) as is."""
    return [rewrite(item) for item in value] if isinstance(value, list) else value


def _values(value: Any, rewrite: Callable[[Any], Any]) -> Any:
    return {k: rewrite(v) for k, v in value.items()} if isinstance(value, Mapping) else value


def _scenario_networks(network: Mapping[str, Any]) -> list[IpNetwork]:
    """The scenario's service and pod CIDRs (defaults where the dict leaves them out), most specific first."""
    default = Network()
    nets = []
    for field in ("service_cidrs", "pod_cidrs"):
        given = network.get(field)
        for family in FAMILIES:
            if isinstance(given, Mapping) and family_key(family) in given:
                text = given[family_key(family)]
            else:
                text = cidr_of(getattr(default, field), family)
            if isinstance(text, str):
                try:
                    nets.append(ipaddress.ip_network(text, strict=False))
                except ValueError:
                    continue  # the loader names a bad CIDR
    return sorted(set(nets), key=lambda n: (n.version, -n.prefixlen, int(n.network_address)))


_REFUSED_ENDPOINTS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("224.0.0.0/24"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("::ffff:0:0/96"),
)
"""Addresses Kubernetes refuses for an endpoint that share their /8 (IPv4) or /32 (IPv6) with others
(``::5`` could become the loopback ``::1``, ``::ae9b:c000:201`` an IPv4-mapped one; IPv6's link-local
ranges hold whole /32 blocks, so no permutation enters or leaves them)."""


def _address_of(block: IpNetwork, value: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``value`` as an address of ``block``'s family (``ip_address(5)`` would read ``::5`` as 0.0.0.5)."""
    return ipaddress.IPv4Address(value) if block.version == 4 else ipaddress.IPv6Address(value)


class _Addresses:
    """A keyed, length-keeping bijection of addresses within their block (module docstring)."""

    def __init__(self, networks: list[IpNetwork], names: _Names) -> None:
        self.networks = networks
        self.names = names
        self.memo: dict[tuple[IpNetwork, int, int, int], int] = {}

    def __call__(self, text: str) -> str:
        if self.names.collecting or "/" in text or not is_ip(text):
            return text  # CIDR ranges stay; a non-address is the loader's to refuse
        ip = ipaddress.ip_address(text)
        inside = [n for n in self.networks if n.version == ip.version and ip in n]
        block = inside[0] if inside else ipaddress.ip_network((ip, 8 if ip.version == 4 else 32), strict=False)
        # Outside the CIDRs: out of them, and out of what Kubernetes refuses for an endpoint (an
        # endpoint written by hand at 169.1.2.3 must not become link-local 169.254.2.3).
        avoid = () if inside else [n for n in (*self.networks, *_REFUSED_ENDPOINTS) if n.version == ip.version]
        if not self.allowed(int(ip), block, avoid):
            return text
        value = int(ip)
        while True:  # cycle walking: a bijection of the allowed addresses of the block
            value = self.permute(value, block)
            if self.allowed(value, block, avoid):
                return str(_address_of(block, value))

    @staticmethod
    def allowed(value: int, block: IpNetwork, avoid: Iterable[IpNetwork]) -> bool:
        offset = value - int(block.network_address)
        last = block.num_addresses - (2 if block.version == 4 else 1)
        ip = _address_of(block, value)
        return 1 <= offset <= last and not any(ip in n for n in avoid)

    def permute(self, value: int, block: IpNetwork) -> int:
        """Each octet (IPv4) or group (IPv6) holding host bits is permuted among the values of the same
        text length and network bits, keyed by the parts before it (so the whole map is a bijection)."""
        width, part_bits = (32, 8) if block.version == 4 else (128, 16)
        host_bits = width - block.prefixlen
        mask = (1 << part_bits) - 1
        out = value
        for shift in range(width - part_bits, -1, -part_bits):
            free = min(part_bits, host_bits - shift)
            if free <= 0:
                continue
            part = (value >> shift) & mask
            new = self.permute_part(block, shift, free, value >> (shift + part_bits), part)
            out = (out & ~(mask << shift)) | (new << shift)
        return out

    def permute_part(self, block: IpNetwork, shift: int, free: int, before: int, part: int) -> int:
        """One part's new value (memoized: the pods of a mesh share their upper parts)."""
        key = (block, shift, before, part)
        if key not in self.memo:
            low, high = _same_length(part, block.version)
            fixed = part & ~((1 << free) - 1)
            low, high = max(low, fixed), min(high, fixed + (1 << free))
            rounds = self.round_function(block, shift, before)
            self.memo[key] = low + _small_permutation(part - low, high - low, rounds)
        return self.memo[key]

    def round_function(self, block: IpNetwork, shift: int, before: int) -> Callable[[int, int], int]:
        """The Feistel round function of one part, keyed by the address's parts before it."""
        return lambda x, r: self.names.mix(block.version, shift, before, r, x)


def _same_length(part: int, version: int) -> tuple[int, int]:
    """The range of octet (decimal) or group (hex; zero alone) values written with as many digits as ``part``."""
    bounds: tuple[int, ...] = (0, 10, 100, 256) if version == 4 else (0, 1, 16, 256, 4096, 65536)
    for low, high in itertools.pairwise(bounds):
        if low <= part < high:
            return low, high
    raise ValueError(part)


def _small_permutation(x: int, n: int, round_function: Callable[[int, int], int]) -> int:
    """A keyed permutation of ``range(n)``: a 4-round Feistel network on the next even bit width,
    cycle-walked back into range."""
    if n <= 1:
        return x
    bits = max(2, (n - 1).bit_length())
    bits += bits % 2
    half = bits // 2
    half_mask = (1 << half) - 1
    while True:
        left, right = x >> half, x & half_mask
        for r in range(4):
            left, right = right, left ^ (round_function(r, right) & half_mask)
        x = (left << half) | right
        if x < n:
            return x
