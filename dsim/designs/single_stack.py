"""The baseline: dual-stack support off (``ISTIO_DUAL_STACK`` unset)."""

from dsim.designs.base import Design


class SingleStack(Design):
    name = "single-stack"
    description = (
        "Baseline, dual-stack off: every object uses the service's primary address only; "
        "pods' secondary IPs are ignored."
    )
    order = 0
