"""The certificates istio-agent would serve over SDS: a root CA and a workload certificate it signs.

A live Envoy does not finish warming a cluster or listener whose TLS context waits for a
secret, so calibration serves real ones. Keys are EC P-256, like Istio's default workload keys;
the SPIFFE identity is the measured proxy's service account form.
"""

from __future__ import annotations

import dataclasses
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from dsim.xds.common import ROOT_CERT, WORKLOAD_CERT

_VALIDITY = datetime.timedelta(days=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeshCertificates:
    """PEM text of a root certificate, and of a workload certificate chain and its key."""

    root_pem: bytes
    workload_chain_pem: bytes
    workload_key_pem: bytes

    def secrets(self) -> dict[str, secret_pb2.Secret]:
        """The two SDS secrets a sidecar's TLS contexts name, by name."""
        workload = secret_pb2.Secret(
            name=WORKLOAD_CERT,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain={"inline_bytes": self.workload_chain_pem},
                private_key={"inline_bytes": self.workload_key_pem},
            ),
        )
        root = secret_pb2.Secret(
            name=ROOT_CERT,
            validation_context=common_pb2.CertificateValidationContext(trusted_ca={"inline_bytes": self.root_pem}),
        )
        return {WORKLOAD_CERT: workload, ROOT_CERT: root}


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def mesh_certificates(
    spiffe_id: str = "spiffe://cluster.local/ns/default/sa/default", *, host: str | None = None
) -> MeshCertificates:
    """A fresh root CA and a workload certificate for ``spiffe_id`` signed by it (and for the DNS
    name ``host`` too, when given: a gRPC client checks the server's host name, not its identity)."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dsim calibration root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    workload = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(spiffe_id), *([x509.DNSName(host)] if host else [])]
            ),
            critical=True,
        )
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return MeshCertificates(root_pem=_pem(root), workload_chain_pem=_pem(workload), workload_key_pem=key_pem)
