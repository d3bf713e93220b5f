"""Which inbound filter chains Istio builds, per protocol and mTLS mode, as data.

Per port (PERMISSIVE: HTTP 2 chains, TCP 3, auto 5; STRICT 1/1/2; DISABLE 1/1/2) and for the
passthrough set (PERMISSIVE 5, STRICT 2, DISABLE 2), after Istio's ``buildInboundFilterChains``
and Istio's own ``virtualInbound`` dump (``tests/data/istio-golden``); ``docs/dual-stack-designs.md``
has the table.
"""

from __future__ import annotations

import dataclasses

MUTUAL_TLS_HTTP_ALPN = ("istio-http/1.0", "istio-http/1.1", "istio-h2")
MUTUAL_TLS_TCP_ALPN = ("istio-peer-exchange", "istio")
PLAINTEXT_HTTP_ALPN = ("http/1.1", "h2c")
ALL_MUTUAL_TLS_ALPN = ("istio", "istio-peer-exchange", *MUTUAL_TLS_HTTP_ALPN)


@dataclasses.dataclass(frozen=True)
class Chain:
    """One filter chain: its match, whether it terminates mutual TLS, what it ends in."""

    tls: bool
    """Matches ``transport_protocol: tls`` rather than ``raw_buffer``."""
    alpn: tuple[str, ...]
    """``application_protocols`` it matches; empty matches any."""
    http: bool
    """HTTP connection manager (else ``tcp_proxy``)."""
    terminate: bool
    """Terminates mutual TLS (a ``DownstreamTlsContext``); a TLS chain that does not passes the
    client's own TLS through untouched."""


_TLS_HTTP = Chain(True, MUTUAL_TLS_HTTP_ALPN, True, True)
_PLAIN_HTTP = Chain(False, PLAINTEXT_HTTP_ALPN, True, False)
_TLS_TCP_ISTIO = Chain(True, MUTUAL_TLS_TCP_ALPN, False, True)
_PLAIN_TCP = Chain(False, (), False, False)
_TLS_TCP = Chain(True, (), False, True)
_TLS_PASSTHROUGH = Chain(True, (), False, False)

PORT_CHAINS: dict[tuple[str, str], tuple[Chain, ...]] = {
    ("http", "PERMISSIVE"): (Chain(True, ALL_MUTUAL_TLS_ALPN, True, True), Chain(False, (), True, False)),
    ("tcp", "PERMISSIVE"): (_TLS_TCP_ISTIO, _PLAIN_TCP, _TLS_PASSTHROUGH),
    ("auto", "PERMISSIVE"): (_TLS_HTTP, _PLAIN_HTTP, _TLS_TCP_ISTIO, _PLAIN_TCP, _TLS_PASSTHROUGH),
    ("http", "STRICT"): (Chain(True, (), True, True),),
    ("tcp", "STRICT"): (_TLS_TCP,),
    ("auto", "STRICT"): (_TLS_HTTP, _TLS_TCP),
    ("http", "DISABLE"): (Chain(False, (), True, False),),
    ("tcp", "DISABLE"): (_PLAIN_TCP,),
    ("auto", "DISABLE"): (_PLAIN_HTTP, _PLAIN_TCP),
}
"""Chains per (port kind, mTLS mode); port kind as :attr:`dsim.xds.view.PortView.kind`."""

PASSTHROUGH_CHAINS: dict[str, tuple[Chain, ...]] = {
    "PERMISSIVE": (_TLS_HTTP, _PLAIN_HTTP, _TLS_TCP_ISTIO, _PLAIN_TCP, _TLS_PASSTHROUGH),
    "STRICT": (_TLS_HTTP, _TLS_TCP),
    "DISABLE": (_PLAIN_HTTP, _PLAIN_TCP),
}
