"""Istio's value rules for the fields dsim models, as functions returning a problem or ``None``.

Each function follows one Istio check and names it; the facts come from Istio's
``pkg/config/validation/validation.go``, ``pkg/config/validation/agent/validation.go``,
``pkg/config/labels/instance.go``, ``pkg/config/visibility/visibility.go``,
``pkg/config/protocol/instance.go`` and ``pkg/config/host/name.go``. A problem is one phrase that
quotes the bad value and says what is expected; the caller adds the field path.
"""

from __future__ import annotations

import bisect
import http
import ipaddress
import re
from collections.abc import Sequence

from dsim.errors import quote

DNS1123_LABEL_MAX = 63  # labels.DNS1123LabelMaxLength
DOMAIN_MAX = 255  # agent.CheckDNS1123Preconditions
REGEX_MAX = 1024  # validateStringRegexp: Envoy's RE2 program size, approximated by length
MESH_GATEWAY = "mesh"  # constants.IstioMeshGateway
JWT_CLAIM_HEADER = "@request.auth.claims"  # jwt.HeaderJWTClaim
UNIX_PREFIX = "unix://"

_LABEL = "[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS1123_LABEL = re.compile(_LABEL + r"\Z")
# A wildcard first label: '*', or a label with a leading '*' or '*-' (labels.wildcardPrefix).
_WILDCARD_LABEL = re.compile(r"(\*|(\*|\*-)?" + _LABEL + r")\Z")
_QUALIFIED_NAME = "(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY = re.compile(f"((?:{_LABEL}(?:\\.{_LABEL})*)/)?({_QUALIFIED_NAME})\\Z")
_LABEL_VALUE = re.compile(f"({_QUALIFIED_NAME})?\\Z")
# Kubernetes object names (metadata.name of Istio objects): a lowercase RFC 1123 subdomain.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_TCHARS = re.compile(r"[!#$%&'*+\-.^_`|~A-Za-z0-9]+\Z")  # RFC 7230 header name characters
_PSEUDO_HEADERS = frozenset({":method", ":scheme", ":authority", ":path", ":status"})

# Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on policies Istio accepts (agent.supportedRetryOnPolicies).
RETRY_ON_POLICIES = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
# Protocol names Istio's protocol.Parse knows, compared without case ('' means sniffed).
PROTOCOLS = ("TCP", "UDP", "GRPC", "GRPC-Web", "HTTP", "HTTP_PROXY", "HTTP2", "HTTPS", "TLS", "Mongo", "Redis", "MySQL")
_PROTOCOLS_LOWER = {p.lower(): p for p in PROTOCOLS}
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"})  # Instance.IsHTTP
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})  # Instance.IsTLS
SERVED_AS_TCP = frozenset({*TLS_PROTOCOLS, "Mongo"})
"""A Kubernetes Service port's protocols dsim serves as TCP, the cluster tables' ``protocol`` column
saying ``TCP`` and their ``istio_protocol`` the protocol itself: on TLS ones Istio builds no
VirtualService ``tcp[]`` route, on Mongo ones a ``mongo_proxy`` filter before the ``tcp_proxy``."""
H2_PROTOCOLS = frozenset({"HTTP2", "GRPC", "GRPC-Web"})  # Instance.IsHTTP2
GRPC_WEB = "GRPC-Web"
"""The protocol whose HTTP connection managers carry a ``grpc_web`` filter (``listener_builder.go``);
a Kubernetes Service port of it is served as gRPC otherwise (the cluster tables' ``protocol`` says
``GRPC``, their ``istio_protocol`` this)."""


def served_protocol(protocol: str) -> str:
    """How dsim serves a Kubernetes Service port's protocol (the cluster tables' ``protocol``):
    :data:`SERVED_AS_TCP` ones as TCP, gRPC-Web as gRPC, every other as itself."""
    if protocol in SERVED_AS_TCP:
        return "TCP"
    return "GRPC" if protocol == GRPC_WEB else protocol


def is_dns1123_label(value: str) -> bool:
    """``labels.IsDNS1123Label``: letters (either case), digits and '-', at most 63 characters."""
    return len(value) <= DNS1123_LABEL_MAX and _DNS1123_LABEL.match(value) is not None


def label_problem(value: str, what: str = "name") -> str | None:
    """A field Istio checks with ``labels.IsDNS1123Label`` (subset names, port names, namespaces)."""
    if is_dns1123_label(value):
        return None
    return (
        f"{quote(value)} is not a valid {what} (letters, digits and '-', starting and ending with a "
        "letter or digit, at most 63 characters)"
    )


def subset_name_problem(value: str) -> str | None:
    """``validateSubsetName``."""
    return label_problem(value, "subset name")


def namespace_problem(value: str) -> str | None:
    """A namespace written inside a spec (a delegate's, an exportTo entry's)."""
    return label_problem(value, "namespace name")


def optional_namespace_problem(value: str) -> str | None:
    """A namespace a match may name ("": none)."""
    return None if value == "" else namespace_problem(value)


def is_dns1123_subdomain(value: str) -> bool:
    """``IsDNS1123Subdomain``: lowercase labels of letters, digits and '-' joined by dots, at most 253 characters."""
    return len(value) <= 253 and _SUBDOMAIN.match(value) is not None


def object_name_problem(value: str) -> str | None:
    """A Kubernetes object name: a lowercase RFC 1123 subdomain of at most 253 characters."""
    if is_dns1123_subdomain(value):
        return None
    if len(value) > 253:  # the length is what is wrong; the quote already says it
        return f"{quote(value, short=True)} is not a valid object name (at most 253 characters)"
    return (
        f"{quote(value)} is not a valid object name (lowercase letters, digits, '-' and '.', "
        "starting and ending with a letter or digit, at most 253 characters)"
    )


def _domain_precondition(domain: str) -> str | None:
    """``agent.CheckDNS1123Preconditions``."""
    if not domain:
        return "an empty host is not allowed"
    if len(domain) > DOMAIN_MAX:
        return f"{quote(domain)} is too long for a host ({len(domain):,} characters, at most {DOMAIN_MAX})"
    return None


def _labels_problem(domain: str, rest: str) -> str | None:
    """``agent.ValidateDNS1123Labels`` on ``rest`` (the labels after the first), quoting the whole ``domain``."""
    parts = rest.split(".")
    if parts[-1].isascii() and parts[-1].isdigit():
        return f"{quote(domain)} is not a valid host (its top-level domain {quote(parts[-1])} is all digits)"
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and not label:
            return None  # a trailing dot is allowed: 'istio.io.'
        if not is_dns1123_label(label):
            return f"{quote(domain)} is not a valid host (label {quote(label)} is invalid)"
    return None


def fqdn_problem(domain: str) -> str | None:
    """``agent.ValidateFQDN``: DNS labels, no wildcard."""
    return _domain_precondition(domain) or _labels_problem(domain, domain)


def wildcard_domain_problem(domain: str) -> str | None:
    """``agent.ValidateWildcardDomain``: a DNS name whose first label may carry a leading '*'."""
    problem = _domain_precondition(domain)
    if problem:
        return problem
    first, dot, rest = domain.partition(".")
    if len(first) > DNS1123_LABEL_MAX or not _WILDCARD_LABEL.match(first):
        return f"{quote(domain)} is not a valid host (label {quote(first)} is invalid)"
    return _labels_problem(domain, rest) if dot else None


def partial_wildcard_problem(host: str) -> str | None:
    """``agent.ValidatePartialWildCard``: '*' only alone or as a whole first label ('*.example.com')."""
    if "*" in host and host != "*" and not host.startswith("*."):
        return f"{quote(host)} has a partial wildcard; write '*' or '*.<domain>'"
    return None


def is_ip(text: str) -> bool:
    """``netip.ParseAddr`` succeeds (either family)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ip_problem(text: str) -> str | None:
    """``agent.ValidateIPAddress``."""
    return None if is_ip(text) else f"{quote(text)} is not an IP address"


def ip_or_cidr_problem(text: str) -> str | None:
    """``agent.ValidateIPSubnet``: an IP address, or a CIDR block (host bits may be set) of either family."""
    if text.count("/") != 1:
        return None if is_ip(text) else f"{quote(text)} is not an IP address or CIDR block"
    address, _slash, bits = text.partition("/")
    if not (bits.isascii() and bits.isdigit()) or not is_ip(address):
        return f"{quote(text)} is not a valid CIDR block"
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f"{quote(text)} is not a valid CIDR block (the prefix length is too long for its family)"
    return None


def port_problem(number: int) -> str | None:
    """``agent.ValidatePort``."""
    return None if 1 <= number <= 65535 else f"port number {number} must be in the range 1..65535"


def optional_port_problem(number: int) -> str | None:
    """A match's ``port``: 0 means any port, anything else must be a port number."""
    return None if number == 0 else port_problem(number)


def protocol_problem(name: str) -> str | None:
    """``ValidateProtocol``: one of the names ``protocol.Parse`` knows (any case), or '' for sniffing."""
    if not name or name.lower() in _PROTOCOLS_LOWER:
        return None
    # No protocol name is longer than 9 characters: a long value is described by its length, which
    # keeps the line short beside the list of names.
    shown = quote(name) if len(name) <= 40 else f"a value of {len(name):,} characters"
    return f"{shown} is not a protocol Istio knows ({', '.join(PROTOCOLS)}; any case; empty to sniff)"


def canonical_protocol(name: str) -> str:
    """The protocol as Istio names it after ``protocol.Parse`` ('' stays '': sniffed)."""
    return _PROTOCOLS_LOWER.get(name.lower(), name)


def label_key_problem(key: str) -> str | None:
    """``labels.validateTagKey``: an optional DNS prefix and '/', then a qualified name of at most 63."""
    match = _LABEL_KEY.match(key)
    if match is None:
        return f"{quote(key)} is not a valid label key"
    if match[1] and len(match[1]) - 1 > 253:
        return "not a valid label key: its DNS prefix is longer than 253 characters"
    if len(match[2]) > DNS1123_LABEL_MAX:
        return "not a valid label key: its name is longer than 63 characters"
    return None


def label_value_problem(value: str) -> str | None:
    """``labels.Instance.Validate`` on a value: empty, or letters, digits, '-', '_', '.' inside alphanumerics."""
    return None if _LABEL_VALUE.match(value) else f"{quote(value)} is not a valid label value"


def selector_key_problem(key: str) -> str | None:
    """A workload selector's key (``ValidateAlphaWorkloadSelector``, ``validateWorkloadSelector``)."""
    if not key:
        return "an empty key is not supported in a workload selector"
    return f"{quote(key)}: a wildcard is not supported in a workload selector" if "*" in key else None


def selector_value_problem(value: str) -> str | None:
    """A workload selector's value: no wildcard, at most 63 characters (the CRD's bound)."""
    if "*" in value:
        return f"{quote(value)}: a wildcard is not supported in a workload selector"
    if len(value) > DNS1123_LABEL_MAX:
        return f"{quote(value)} is longer than 63 characters"
    return None


def header_name_problem(name: str) -> str | None:
    """``ValidateHTTPHeaderNameOrJwtClaimRoute``: an RFC 7230 token, a pseudo-header, or a JWT claim."""
    if not name:
        return "a header name cannot be empty"
    if is_jwt_claim_header(name) or name in _PSEUDO_HEADERS or _TCHARS.match(name):
        return None
    return f"{quote(name)} is not a valid header name"


def is_jwt_claim_header(name: str) -> bool:
    """``jwt.ToRoutingClaim(name).Match``: ``@request.auth.claims.<claim>`` or ``...claims[<claim>]``."""
    if not name.lower().startswith(JWT_CLAIM_HEADER):
        return False
    rest = name[len(JWT_CLAIM_HEADER) :]
    return (rest.startswith(".") and len(rest) > 1) or (rest.startswith("[") and rest.endswith("]") and len(rest) > 2)


def regex_problem(pattern: str) -> str | None:
    """``validateStringRegexp``: not empty, at most 1,024 characters, and well formed.

    Istio compiles the pattern with Go's RE2; Python's ``re`` reads another dialect (it refuses
    ``\\z``, ``\\pL``, ``\\Q...\\E`` that RE2 takes), so only what every dialect refuses is checked
    here: unbalanced parentheses and an unclosed character class. Envoy checks the rest when a
    generated config is validated.
    """
    if not pattern:
        return "a regex string match cannot be empty"
    if len(pattern) > REGEX_MAX:
        return f"the regex is too large ({len(pattern):,} characters, at most {REGEX_MAX:,})"
    problem = _bracket_problem(pattern)
    return f"{quote(pattern)} is not a valid RE2 regex ({problem})" if problem else None


def _bracket_problem(pattern: str) -> str | None:
    depth, i, n = 0, 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            if pattern.startswith("\\Q", i):  # a quoted run, up to \E or the end
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            i += 2
            continue
        if char == "[":
            i = _class_end(pattern, i)
            if i < 0:
                return "a character class '[' is not closed"
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return "an unopened ')'"
        i += 1
    return "a '(' is not closed" if depth else None


def _class_end(pattern: str, start: int) -> int:
    """Index after the ']' closing the class that opens at ``start``, or -1."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):  # a leading ']' is a literal
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
        elif pattern.startswith("[:", i) and (close := pattern.find(":]", i + 2)) >= 0:
            i = close + 2  # a POSIX class such as [:alpha:]
        elif pattern[i] == "]":
            return i + 1
        else:
            i += 1
    return -1


def retry_on_problem(retry_on: str) -> str | None:
    """``agent.ValidateHTTPRetry``: comma-separated Envoy retry policies or HTTP status codes."""
    for policy in retry_on.split(","):
        if policy in RETRY_ON_POLICIES or _is_http_status(policy):
            continue
        return (
            f"{quote(policy)} is not a valid retryOn policy (an HTTP status code, or one of "
            f"{', '.join(sorted(RETRY_ON_POLICIES))})"
        )
    return None


def _is_http_status(text: str) -> bool:
    """Go's ``http.StatusText(strconv.Atoi(text)) != ""``: a status code with a standard name."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 5:
        return False
    try:
        http.HTTPStatus(int(text))
    except ValueError:
        return False
    return True


def gateway_name_problem(name: str) -> str | None:
    """``validateGatewayNames``: ``<namespace>/<name>`` of DNS labels, or a bare (legacy) FQDN like ``mesh``."""
    namespace, slash, gateway = name.partition("/")
    if not slash:
        return fqdn_problem(name)
    if not namespace or not gateway:
        return f"{quote(name)}: the namespace and gateway name cannot be empty"
    if not is_dns1123_label(namespace):
        return f"{quote(name)}: {quote(namespace)} is not a valid namespace"
    if not is_dns1123_label(gateway):
        return f"{quote(name)}: {quote(gateway)} is not a valid gateway name"
    return None


def sidecar_host_problem(host: str) -> str | None:
    """``agent.ValidateNamespaceSlashWildcardHostname`` for a Sidecar: ``<namespace>/<dnsName>``.

    The namespace is ``.`` (the Sidecar's own), ``*`` (any), ``~`` (none) or a namespace name,
    optionally after a ``~`` that excludes it; the dnsName is ``*``, ``*.<suffix>`` or an FQDN.
    """
    namespace, slash, dns_name = host.partition("/")
    if not slash:
        return f"{quote(host)} must be of the form <namespace>/<dnsName> ('./*', '*/*', 'ns/*.example.com')"
    if not namespace or not dns_name:
        return f"{quote(host)}: the namespace and dnsName cannot be empty"
    bare = namespace.removeprefix("~")
    if bare not in ("", "*", ".") and not is_dns1123_label(bare):
        return f"{quote(host)}: {quote(namespace)} is not a namespace ('.', '*', '~' or a namespace name)"
    if dns_name != "*" and "." not in dns_name:
        return f"{quote(host)}: short names are not allowed; write an FQDN, '*' or '*.<suffix>'"
    return wildcard_domain_problem(dns_name) or partial_wildcard_problem(dns_name)


def export_to_problem(values: Sequence[str], namespace: str, *, service: bool) -> tuple[int, str] | None:
    """``validateExportTo``: the first bad entry's index and why.

    Entries are ``.`` (this namespace), ``*`` (everyone) or namespace names; ``~`` (no one) only
    for services and ServiceEntries (``service``). ``*`` and ``~`` stand alone.
    """
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        key = namespace if value == "." else value
        if key in seen:
            also = f" ('.' means this namespace, {namespace!r})" if "." in (value, values[seen[key]]) else ""
            return i, f"{quote(value)} repeats exportTo[{seen[key]}]{also}"
        seen[key] = i
        if value == "~" and not service:
            return i, "exportTo '~' (no one) is allowed only for services and ServiceEntries"
        if problem := _not_an_entry(value):
            return i, problem
    for lone in ("*", "~"):
        if lone in seen and len(values) > 1:
            return seen[lone], f"{quote(lone)} cannot be combined with other exportTo entries"
    return None


def default_export_problem(values: Sequence[str]) -> tuple[int, str] | None:
    """A mesh default exportTo list's first bad entry and why. Istio reads these lists as sets
    without checking them (``PushContext.initDefaultExportMaps``), ``*`` winning over every other
    entry and ``~`` over names, so combinations and repeats are read as it reads them; only an
    entry no namespace could ever match is refused, as a typo rather than a meaning."""
    for i, value in enumerate(values):
        if problem := _not_an_entry(value):
            return i, problem
    return None


def _not_an_entry(value: str) -> str:
    """Why ``value`` is no exportTo entry ('' when it is one)."""
    if value in (".", "*", "~") or is_dns1123_label(value):
        return ""
    return f"{quote(value)} is not '.', '*', '~' or a namespace name"


def matches(a: str, b: str) -> bool:
    """``host.Name.Matches``: ``a`` and ``b`` share a host (one wildcard may cover the other)."""
    if a.startswith("*") and b.startswith("*"):
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if a.startswith("*"):
        return b.endswith(a[1:])
    if b.startswith("*"):
        return a.endswith(b[1:])
    return a == b


def subset_of(a: str, b: str) -> bool:
    """``host.Name.SubsetOf``: every host ``a`` names is also one of ``b``'s."""
    if a.startswith("*"):
        return b.startswith("*") and len(a) >= len(b) and a[1:].endswith(b[1:])
    return a.endswith(b[1:]) if b.startswith("*") else a == b


def first_overlap(hosts: Sequence[str]) -> tuple[int, int] | None:
    """A pair ``(i, j)``, ``i < j``, of hosts that :func:`matches`, the same for the same hosts.

    Istio compares every pair; for thousands of hosts that is millions of comparisons, so this
    finds the same pairs through the hosts' reversed bodies, sorted: ``*s`` overlaps every host
    whose body (without its '*') ends with ``s``, a prefix range of the reversed order.
    """
    pairs: list[tuple[int, int]] = []
    first_seen: dict[str, int] = {}
    for j, host in enumerate(hosts):
        if host in first_seen:
            pairs.append((first_seen[host], j))
        first_seen.setdefault(host, j)
    order = sorted((host.removeprefix("*")[::-1], k) for k, host in enumerate(hosts))
    keys = [key for key, _ in order]
    for i, host in enumerate(hosts):
        if not host.startswith("*"):
            continue
        suffix = host[1:][::-1]
        start = bisect.bisect_left(keys, suffix)
        stop = bisect.bisect_left(keys, suffix + "\U0010ffff")
        others = [k for _, k in order[start:stop] if k != i and hosts[k] != host]
        pairs.extend((min(i, k), max(i, k)) for k in others[:1])
    return min(pairs, key=lambda pair: (pair[1], pair[0])) if pairs else None


def unix_address_problem(address: str) -> str | None:
    """``ValidateUnixAddress`` on what follows ``unix://``: an abstract ``@name`` or an absolute file path."""
    if not address:
        return "a unix socket address must not be empty"
    if address.startswith("@") or (address.startswith("/") and not address.endswith("/")):
        return None
    return f"{quote(address)} is not an absolute path to a file"


_LOCAL_HOSTS = ("", "127.0.0.1", "0.0.0.0", "::1", "::")


def default_endpoint_problem(endpoint: str) -> str | None:
    """A Sidecar ingress ``defaultEndpoint``: ``127.0.0.1:<port>``, ``0.0.0.0:<port>``, ``[::1]:<port>``,
    ``[::]:<port>``, ``:<port>`` or ``unix://<path>``; empty means unset (``ValidateSidecar``)."""
    if not endpoint:
        return None
    if endpoint.startswith(UNIX_PREFIX):
        return unix_address_problem(endpoint.removeprefix(UNIX_PREFIX))
    host, colon, port = endpoint.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        colon = ""  # an IPv6 address without brackets: Go's SplitHostPort refuses it
    expected = "expected 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port>, :<port> or unix://<path>"
    if not colon or host not in _LOCAL_HOSTS:
        return f"{quote(endpoint)}: {expected}"
    if not (port.isascii() and port.isdigit()) or len(port) > 5:
        return f"{quote(endpoint)}: the port is not a number"
    return port_problem(int(port))


def localities_problem(localities: Sequence[str]) -> str | None:
    """``validateLocalities`` (``agent``): each ``region[/zone[/subzone]]`` without an empty part,
    one trailing ``*`` at most, and none overlapping one before it (taken in the order given: Istio
    reads a distribution's ``to`` from a Go map, in no fixed order, so an overlap it may miss one
    time it may refuse another)."""
    seen: dict[str, dict[str, set[str]]] = {}
    for locality in localities:
        overlap = f"locality {quote(locality)} overlaps with one specified before it"
        stars = locality.count("*")
        if stars and (stars > 1 or not locality.endswith("*")):
            return f"locality {quote(locality)}: a wildcard '*' may appear once, at the end"
        if "*" in seen:
            return overlap
        items = locality.split("/", 2)
        if "" in items:
            return f"locality {quote(locality)} must not contain empty region/zone/subzone info"
        region, zone, subzone = (*items, "", "")[:3]
        zones = seen.get(region)
        if zones is None:
            seen[region] = {"*": {"*"}} if len(items) == 1 else {zone: {"*" if len(items) == 2 else subzone}}
            continue
        if len(items) == 1 or "*" in zones:
            return overlap
        if len(items) == 2:
            if zone in zones:
                return overlap
            zones[zone] = {"*"}
        elif zone in zones:
            if "*" in zones[zone] or subzone in zones[zone]:
                return overlap
            zones[zone].add(subzone)
        else:
            zones[zone] = {subzone}
    return None
