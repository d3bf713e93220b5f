"""The certificates istio-agent would serve over SDS: a root CA, maybe intermediate CAs, and a
workload certificate, in one of a few certificate profiles.

A live Envoy does not finish warming a cluster or listener whose TLS context waits for a
secret, so calibration serves real ones; and since every cluster and inbound filter chain with an
mTLS transport socket builds its own TLS context from them, the key type and the chain length
are part of what a sidecar's memory and apply CPU cost. The profiles, and the Istio source each
follows, are :mod:`dsim.calibration.certificate_profiles`'s. The SPIFFE identity is the measured
proxy's service account form.
"""

from __future__ import annotations

import dataclasses
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from dsim.calibration.certificate_profiles import LEGACY_CERTIFICATE_PROFILE, certificate_profile
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


_Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _key(kind: str) -> _Key:
    if kind == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _ca(
    name: str, key: _Key, issuer: x509.Name | None, signer: _Key, now: datetime.datetime
) -> tuple[x509.Name, x509.Certificate]:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(signer, hashes.SHA256())
    )
    return subject, certificate


def mesh_certificates(
    spiffe_id: str = "spiffe://cluster.local/ns/default/sa/default",
    *,
    host: str | None = None,
    profile: str = LEGACY_CERTIFICATE_PROFILE,
) -> MeshCertificates:
    """A fresh root CA (and the profile's intermediate CAs) and a workload certificate for
    ``spiffe_id`` signed by the last of them (and for the DNS name ``host`` too, when given: a
    gRPC client checks the server's host name, not its identity), made and chained as
    ``profile`` says."""
    chosen = certificate_profile(profile)
    now = datetime.datetime.now(datetime.UTC)
    root_key = _key(chosen.ca_key)
    root_name, root = _ca("dsim calibration root", root_key, None, root_key, now)
    issuer_name, issuer_key = root_name, root_key
    intermediates = []
    for level in range(chosen.intermediates):
        key = _key(chosen.ca_key)
        issuer_name, certificate = _ca(f"dsim calibration intermediate {level + 1}", key, issuer_name, issuer_key, now)
        issuer_key = key
        intermediates.append(certificate)
    leaf_key = _key(chosen.leaf_key)
    workload = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer_name)
        .public_key(leaf_key.public_key())
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
        .sign(issuer_key, hashes.SHA256())
    )
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Leaf first, then each issuer up to the root: the order istiod's CA answers a CSR in.
    chain = [workload, *reversed(intermediates), *([root] if chosen.root_in_chain else [])]
    return MeshCertificates(
        root_pem=_pem(root), workload_chain_pem=b"".join(_pem(c) for c in chain), workload_key_pem=key_pem
    )
