"""Workload certificate profiles: how istio-agent's certificate is made and served, by name (no
cryptography here: loading the model needs the names, only measuring makes certificates).

The profiles (scenario setting ``envoy.workload_certificate``; :data:`CERTIFICATE_PROFILES`):

- ``istio-default``: what Istio runs without tuning. istio-agent makes an RSA key of
  ``WORKLOAD_RSA_KEY_SIZE`` bits (default 2048) unless ``ECC_SIGNATURE_ALGORITHM`` is set (default
  unset): ``pilot/cmd/pilot-agent/options/options.go`` (``workloadRSAKeySizeEnv``,
  ``eccSigAlgEnv``) and ``security/pkg/nodeagent/cache/secretcache.go`` (``generateNewSecret``'s
  ``pkiutil.CertOptions``). istiod's CA answers the CSR with the leaf, the CA's chain and the root
  (``security/pkg/server/ca/server.go``, ``CreateCertificate``: ``response.CertChain`` gets the
  root appended), and the agent serves that whole chain as the workload certificate. istiod's
  self-signed CA key is RSA of ``CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE`` bits, default 2048
  (``pilot/pkg/bootstrap/istio_ca.go``). Read at istio/istio 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c.
- ``ecdsa-p256``: ``ECC_SIGNATURE_ALGORITHM=ECDSA`` (``ECC_CURVE`` default P256): an EC P-256
  workload key, still signed by istiod's RSA-2048 root, chain served with the root.
- ``intermediate-ca-N`` (N = 1 to :data:`MAX_INTERMEDIATES`): a plugged-in CA (``cacerts``) N
  levels below the root: RSA-2048 keys throughout, the chain served as leaf, N intermediates,
  root.
- ``ecdsa-p256-leaf-only``: what dsim's calibration served before certificate profiles existed
  (an EC P-256 leaf signed by an EC P-256 root, the chain without the root). Measurements with
  no ``certificate_profile`` column were taken with it, and the calibration shipped before them
  is fitted on it.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from dsim.errors import UnknownNameError

MAX_INTERMEDIATES = 3
"""Deepest intermediate-CA chain a profile has: real plugged-in CAs sit one or two levels below
an offline root; three covers a root, a regional and a cluster CA."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class CertificateProfile:
    """How a workload certificate is made and served."""

    name: str
    leaf_key: Literal["rsa-2048", "ecdsa-p256"]
    ca_key: Literal["rsa-2048", "ecdsa-p256"]
    intermediates: int
    root_in_chain: bool
    description: str


_PROFILES = (
    CertificateProfile(
        name="istio-default",
        leaf_key="rsa-2048",
        ca_key="rsa-2048",
        intermediates=0,
        root_in_chain=True,
        description="Istio's default: RSA-2048 workload key, chain served with istiod's RSA-2048 root",
    ),
    CertificateProfile(
        name="ecdsa-p256",
        leaf_key="ecdsa-p256",
        ca_key="rsa-2048",
        intermediates=0,
        root_in_chain=True,
        description="ECC_SIGNATURE_ALGORITHM=ECDSA: EC P-256 workload key, chain served with istiod's RSA-2048 root",
    ),
    *(
        CertificateProfile(
            name=f"intermediate-ca-{depth}",
            leaf_key="rsa-2048",
            ca_key="rsa-2048",
            intermediates=depth,
            root_in_chain=True,
            description=f"a plugged-in CA {depth} level{'s' if depth > 1 else ''} below the root: RSA-2048, "
            f"chain served as leaf, {depth} intermediate{'s' if depth > 1 else ''}, root",
        )
        for depth in range(1, MAX_INTERMEDIATES + 1)
    ),
    CertificateProfile(
        name="ecdsa-p256-leaf-only",
        leaf_key="ecdsa-p256",
        ca_key="ecdsa-p256",
        intermediates=0,
        root_in_chain=False,
        description="dsim's calibration before certificate profiles: EC P-256 leaf and root, chain without the root",
    ),
)
PROFILES = {p.name: p for p in _PROFILES}
CERTIFICATE_PROFILES = tuple(PROFILES)
DEFAULT_CERTIFICATE_PROFILE = "istio-default"
LEGACY_CERTIFICATE_PROFILE = "ecdsa-p256-leaf-only"
"""The profile of measurements recorded without a ``certificate_profile`` column."""


def certificate_profile(name: str) -> CertificateProfile:
    if name not in PROFILES:
        raise UnknownNameError("certificate profile", name, CERTIFICATE_PROFILES)
    return PROFILES[name]
