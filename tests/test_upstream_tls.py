"""A DestinationRule's SIMPLE and MUTUAL TLS (``docs/istio-objects.md`` 2.6), as Istio's
``constructUpstreamTLS`` and ``setAutoSniAndAutoSanValidation`` build it (``cluster_tls.go``;
``ENABLE_AUTO_SNI`` on by default since 1.21, unconditional at HEAD): without an ``sni`` the cluster's
HTTP protocol options say ``auto_sni`` (Envoy sends the request's host), and without
``subjectAltNames`` or ``insecureSkipVerify`` also ``auto_san_validation``; ``insecureSkipVerify``
leaves the certificate unchecked (an empty validation context, or none with a ``credentialName``).
Checked on the protobuf path, byte-exact in the accounting under every design, and in the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.xds.common import HTTP_PROTOCOL_OPTIONS
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of
from tests.rule_helpers import dr

CASES: dict[str, dict[str, Any]] = {
    "plain": {"mode": "SIMPLE"},
    "named": {"mode": "SIMPLE", "sni": "named.example.com"},
    "sans": {"mode": "SIMPLE", "subjectAltNames": ["api.example.com"]},
    "skip": {"mode": "SIMPLE", "insecureSkipVerify": True},
    # A client certificate and nothing to check the server's against (validation refuses SIMPLE's).
    "skip-credential": {"mode": "MUTUAL", "insecureSkipVerify": True, "credentialName": "client"},
    "mutual": {"mode": "MUTUAL", "credentialName": "client"},
    "bundle": {"mode": "SIMPLE", "credentialName": "configmap://ext/bundle"},
    "secret": {"mode": "SIMPLE", "credentialName": "ca"},
    "entry-sans": {"mode": "SIMPLE"},  # its ServiceEntry names the identities to check
    "files": {
        "mode": "MUTUAL",
        "clientCertificate": "/etc/certs/client.pem",
        "privateKey": "/etc/certs/key.pem",
        "caCertificates": "/etc/certs/ca.pem",
        "caCrl": "/etc/certs/ca.crl",
    },
}
SELECTED = frozenset({"skip-credential", "mutual"})
"""Rules with a workloadSelector (the client's): a sidecar takes their Secret credentials."""


def _entry(name: str, protocol: str) -> dict[str, Any]:
    spec = {
        "hosts": [f"{name}.example.com"],
        "ports": [{"number": 443, "name": "p", "protocol": protocol}],
        "resolution": "DNS",
    }
    if name == "entry-sans":
        spec["subjectAltNames"] = ["api.example.com", "spiffe://other/ns/x/sa/y"]
    return {"name": name, "namespace": "ext", "spec": spec}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    names = [*CASES, "h2"]
    spec = {
        "namespaces": [{"name": "client"}, {"name": "ext"}],
        "workloads": [
            {"name": "client", "namespace": "client", "ip_families": ["IPv4", "IPv6"], "labels": {"app": "client"}}
        ],
        "service_entries": [_entry(name, "HTTP2" if name == "h2" else "TLS") for name in names],
        "destination_rules": [
            *(
                dr(
                    name,
                    "client" if name in SELECTED else "ext",
                    f"{name}.example.com",
                    {"app": "client"} if name in SELECTED else None,
                    trafficPolicy={"tls": tls},
                )
                for name, tls in CASES.items()
            ),
            dr("h2", "ext", "h2.example.com", trafficPolicy={"tls": {"mode": "SIMPLE"}}),
        ],
    }
    return build_cluster(scenario_from_dict(spec))


def _cluster(mesh: Cluster, name: str) -> Any:
    clusters = {c.name: c for c in config_of(mesh, "client/client").clusters}
    return clusters[f"outbound|443||{name}.example.com"]


def _auto(cluster: Any) -> tuple[bool, bool] | None:
    """(auto_sni, auto_san_validation) of the cluster's HTTP options (``None``: it has none)."""
    if HTTP_PROTOCOL_OPTIONS not in cluster.typed_extension_protocol_options:
        return None
    options = http_protocol_options_pb2.HttpProtocolOptions()
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(options)
    upstream = options.upstream_http_protocol_options
    return upstream.auto_sni, upstream.auto_san_validation


def _context(cluster: Any) -> tls_pb2.UpstreamTlsContext:
    context = tls_pb2.UpstreamTlsContext()
    cluster.transport_socket.typed_config.Unpack(context)
    return context


@pytest.mark.parametrize(
    ("name", "auto"),
    [
        ("plain", (True, True)),
        ("named", None),  # an sni of its own: nothing automatic
        ("sans", (True, False)),  # names of its own to check
        ("skip", (True, False)),  # nothing checked
        ("skip-credential", (True, False)),
        ("mutual", (True, True)),
        ("bundle", (True, True)),  # a ConfigMap's CA: any sidecar may have it
        ("secret", None),  # a Secret in a rule without a selector: no TLS context at all
        ("entry-sans", (True, True)),  # decided on the rule's own names, before the entry's are taken
        ("files", (True, True)),
    ],
)
def test_auto_sni_and_san_validation_follow_the_rule(mesh: Cluster, name: str, auto: tuple[bool, bool] | None) -> None:
    assert _auto(_cluster(mesh, name)) == auto


def test_a_tls_port_gets_explicit_http1_options_and_an_http2_port_keeps_its_own(mesh: Cluster) -> None:
    """Envoy wants an upstream protocol once any HTTP option is set (``clusterWrapper.build``)."""
    for name, http2 in (("plain", False), ("h2", True)):
        options = http_protocol_options_pb2.HttpProtocolOptions()
        _cluster(mesh, name).typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(options)
        assert options.explicit_http_config.HasField("http2_protocol_options") == http2
        assert options.explicit_http_config.HasField("http_protocol_options") != http2
        assert options.upstream_http_protocol_options.auto_sni


def test_a_rule_without_names_checks_the_service_entry_s(mesh: Cluster) -> None:
    """``constructUpstreamTLS``: for a ServiceEntry host (``provider.External``) the rule's TLS
    without ``subjectAltNames`` checks the entry's; a rule's own names win."""

    def checked(name: str) -> list[str]:
        validation = _context(_cluster(mesh, name)).common_tls_context.combined_validation_context
        # Istio's untyped matchers (StringToExactMatch), which Envoy checks against every SAN type.
        assert not validation.default_validation_context.match_typed_subject_alt_names
        return [m.exact for m in validation.default_validation_context.match_subject_alt_names]

    assert checked("entry-sans") == ["api.example.com", "spiffe://other/ns/x/sa/y"]
    assert checked("sans") == ["api.example.com"]
    assert checked("plain") == []


def test_an_http2_cluster_offers_h2_and_others_no_alpn(mesh: Cluster) -> None:
    """``constructUpstreamTLS`` ends with ``ALPNH2Only`` where the cluster speaks HTTP/2."""
    assert list(_context(_cluster(mesh, "h2")).common_tls_context.alpn_protocols) == ["h2"]
    assert list(_context(_cluster(mesh, "plain")).common_tls_context.alpn_protocols) == []


def test_insecure_skip_verify_checks_nothing(mesh: Cluster) -> None:
    common = _context(_cluster(mesh, "skip")).common_tls_context
    assert common.WhichOneof("validation_context_type") == "validation_context"
    assert common.validation_context.ByteSize() == 0
    assert _context(_cluster(mesh, "skip-credential")).common_tls_context.WhichOneof("validation_context_type") is None
    checked = _context(_cluster(mesh, "plain")).common_tls_context
    assert checked.WhichOneof("validation_context_type") == "combined_validation_context"


def test_credentials_name_their_sds_resources_and_a_secret_needs_a_selector(mesh: Cluster) -> None:
    """``credentials.ToResourceName``; ``buildUpstreamClusterTLSContext`` builds nothing on a
    sidecar for a Secret named in a rule without a workloadSelector (the cluster stays plaintext,
    its ``alpn_override`` metadata kept: ``AddALPNOverrideToMetadata`` reads the mode alone)."""
    roots = {
        name: _context(_cluster(mesh, name)).common_tls_context.combined_validation_context
        for name in ("bundle", "mutual")
    }
    assert roots["bundle"].validation_context_sds_secret_config.name == "configmap://ext/bundle-cacert"
    assert roots["mutual"].validation_context_sds_secret_config.name == "kubernetes://client-cacert"
    mutual = _context(_cluster(mesh, "mutual")).common_tls_context
    assert [c.name for c in mutual.tls_certificate_sds_secret_configs] == ["kubernetes://client"]
    # Fetched from istiod over ADS (ConstructSdsSecretConfigForCredential), not from istio-agent.
    for secret in (roots["mutual"].validation_context_sds_secret_config, *mutual.tls_certificate_sds_secret_configs):
        assert secret.sds_config.WhichOneof("config_source_specifier") == "ads"
        assert not secret.sds_config.HasField("initial_fetch_timeout")
    files = _context(_cluster(mesh, "plain")).common_tls_context.combined_validation_context
    assert files.validation_context_sds_secret_config.name == "file-root:system"
    assert (
        files.validation_context_sds_secret_config.sds_config.WhichOneof("config_source_specifier")
        == "api_config_source"
    )
    # Files in the sidecar, served by istio-agent under names made of their paths (SdsCertificateConfig).
    common = _context(_cluster(mesh, "files")).common_tls_context
    assert [c.name for c in common.tls_certificate_sds_secret_configs] == [
        "file-cert:/etc/certs/client.pem~/etc/certs/key.pem"
    ]
    checked = common.combined_validation_context
    assert checked.validation_context_sds_secret_config.name == "file-root:/etc/certs/ca.pem"
    assert checked.default_validation_context.crl.filename == "/etc/certs/ca.crl"
    secret = _cluster(mesh, "secret")
    assert not secret.HasField("transport_socket")
    assert not secret.transport_socket_matches
    assert secret.metadata.filter_metadata["istio"]["alpn_override"] == "false"


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)
